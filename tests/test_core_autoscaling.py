"""Autoscaling core service: metrics-server for HPAs, the cluster autoscaler for node groups.

Value keys are checked against the charts' own `values.yaml` at the pinned versions:
kubernetes-sigs/metrics-server `charts/metrics-server/values.yaml` (tag
metrics-server-helm-chart-3.13.1) and kubernetes/autoscaler
`cluster-autoscaler/charts/cluster-autoscaler/values.yaml` (tag cluster-autoscaler-chart-9.59.0),
whose templates pass `extraArgs` as `--<key>=<value>` and `--namespace={{ .Release.Namespace }}`.
The autoscaler's flags are those of `cluster-autoscaler/config/flags/flags.go`, its IAM the
"Full Cluster Autoscaler Features Policy" of `cluster-autoscaler/cloudprovider/aws/README.md`
(tags cluster-autoscaler-1.34.5 … 1.36.1), with the write actions conditioned on the tag EKS puts
on every managed node group's Auto Scaling group (`k8s.io/cluster-autoscaler/<cluster>`: `owned`,
next to `k8s.io/cluster-autoscaler/enabled`: `true`; EKS user guide, "Managed node groups").
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from components import versions
from components.config import ConfigError
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from tests.conftest import (
    PRODUCTION_CLUSTER,
    as_list,
    make_project,
    one,
    policy_statements,
    shipped_plan,
)

FILE = "stacks/Pulumi.test.yaml"
COMPONENT = "paved-road:core:Autoscaling"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CONFIG: dict[str, Any] = {"aws:region": "eu-central-1"}

# The value paths the platform sets, each present in the chart's values.yaml at the pinned version.
# Below a free-form entry (a map the chart copies into the manifest as is) nothing is checked.
CHART_KEYS = {
    "metrics-server": {
        "replicas",
        "podDisruptionBudget.enabled",
        "podDisruptionBudget.maxUnavailable",
        "serviceAccount.create",
        "serviceAccount.name",
        "resources",
        "securityContext",
    },
    "cluster-autoscaler": {
        "cloudProvider",
        "awsRegion",
        "autoDiscovery.clusterName",
        "autoDiscovery.tags",
        "image.repository",
        "image.tag",
        "fullnameOverride",
        "rbac.create",
        "rbac.serviceAccount.create",
        "rbac.serviceAccount.name",
        "rbac.serviceAccount.annotations",
        "replicaCount",
        "podDisruptionBudget.maxUnavailable",
        "resources",
        "securityContext",
        "containerSecurityContext",
        "extraArgs",
    },
}
FREE_FORM = {"resources", "securityContext", "containerSecurityContext", "extraArgs", "annotations"}
# Flags of cluster-autoscaler 1.34–1.36 (config/flags/flags.go) the platform passes.
AUTOSCALER_FLAGS = {
    "expander",
    "balance-similar-node-groups",
    "skip-nodes-with-system-pods",
    "skip-nodes-with-local-storage",
    # the chart's own defaults, merged in by Helm
    "logtostderr",
    "stderrthreshold",
    "v",
}
README_DESCRIBE_ACTIONS = {
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
}


def plan_of(tmp_path: Path, **sections: Any) -> PlanRun:
    config = copy.deepcopy(CONFIG)
    for key, value in sections.items():
        config[f"paved-road:{key}"] = value
    return PlanEngine("test", make_project(tmp_path, config)).run()


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> PlanRun:
    return plan_of(tmp_path_factory.mktemp("autoscaling"))


def ours(plan: PlanRun, type_: str) -> list[RecordedResource]:
    return [r for r in plan.by_type(type_) if COMPONENT in r.urn.split("::")[2].split("$")]


def release(plan: PlanRun, chart: str) -> RecordedResource:
    return one(r for r in ours(plan, RELEASE) if r.inputs["chart"] == chart)


def values(plan: PlanRun, chart: str) -> dict[str, Any]:
    return release(plan, chart).inputs["values"]


def cluster_name(plan: PlanRun) -> str:
    """The name EKS knows the cluster by, as the node groups name it."""
    (name,) = {group.inputs["clusterName"] for group in plan.by_type(NODE_GROUP)}
    return name


def paths(tree: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key not in FREE_FORM:
            found |= paths(value, path + ".")
        else:
            found.add(path)
    return found


# --------------------------------------------------------------------------------------------------
# Both charts


@pytest.mark.parametrize("chart", ["metrics-server", "cluster-autoscaler"])
def test_charts_are_pinned_in_the_platform_autoscaling_namespace(plan: PlanRun, chart: str) -> None:
    found = release(plan, chart)
    pinned = versions.CHARTS[chart]
    assert (found.inputs["chart"], found.inputs["version"]) == (chart, pinned.version)
    assert found.inputs["repositoryOpts"]["repo"] == pinned.repository
    assert found.inputs["namespace"] == "autoscaling"
    namespace = one(ours(plan, "kubernetes:core/v1:Namespace"))
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["paved-road/platform"] == "true"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace.urn in found.dependencies
    assert "autoscaling" in plan.outputs["platformNamespaces"]


@pytest.mark.parametrize("chart", sorted(CHART_KEYS))
def test_every_value_set_is_a_key_of_the_pinned_charts_values(plan: PlanRun, chart: str) -> None:
    assert paths(values(plan, chart)) <= CHART_KEYS[chart]


def test_metrics_server_is_in_every_shipped_stack(stack: str) -> None:
    """The apps' HPAs read the Metrics API: without metrics-server they never scale."""
    run = shipped_plan(stack)
    assert one(r for r in ours(run, RELEASE) if r.inputs["chart"] == "metrics-server")
    assert run.by_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")


def test_workloads_are_bounded_and_run_restricted(plan: PlanRun) -> None:
    metrics = values(plan, "metrics-server")
    container = metrics["securityContext"]
    assert container["runAsNonRoot"] is True and container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}
    autoscaler = values(plan, "cluster-autoscaler")
    pod, container = autoscaler["securityContext"], autoscaler["containerSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    for chart in values(plan, "metrics-server"), autoscaler:
        assert set(chart["resources"]) == {"requests", "limits"}
        assert chart["resources"]["limits"]["memory"] == chart["resources"]["requests"]["memory"]


def test_production_runs_both_twice_behind_disruption_budgets(tmp_path: Path) -> None:
    dev = shipped_plan("dev")
    assert values(dev, "metrics-server")["replicas"] == 1
    assert values(dev, "cluster-autoscaler")["replicaCount"] == 1
    production = plan_of(tmp_path, production=True, cluster=PRODUCTION_CLUSTER)
    metrics = values(production, "metrics-server")
    assert metrics["replicas"] == 2
    assert metrics["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    autoscaler = values(production, "cluster-autoscaler")
    assert autoscaler["replicaCount"] == 2
    assert autoscaler["podDisruptionBudget"] == {"maxUnavailable": 1}


# --------------------------------------------------------------------------------------------------
# The cluster autoscaler


def test_autoscaler_discovers_this_clusters_node_groups_in_its_region(plan: PlanRun) -> None:
    found = values(plan, "cluster-autoscaler")
    name = cluster_name(plan)
    assert found["cloudProvider"] == "aws"
    assert found["awsRegion"] == "eu-central-1"
    assert found["autoDiscovery"]["clusterName"] == name
    assert found["autoDiscovery"]["tags"] == [
        "k8s.io/cluster-autoscaler/enabled",
        f"k8s.io/cluster-autoscaler/{name}",
    ]


def test_scale_down_and_expander_choices_are_upstream_flags(plan: PlanRun) -> None:
    args = values(plan, "cluster-autoscaler")["extraArgs"]
    assert set(args) <= AUTOSCALER_FLAGS
    assert args == {
        "expander": "least-waste",
        "balance-similar-node-groups": True,
        "skip-nodes-with-system-pods": False,
        "skip-nodes-with-local-storage": False,
    }


@pytest.mark.parametrize("minor", ["1.34", "1.35", "1.36"])
def test_the_image_is_the_autoscaler_of_the_clusters_minor(tmp_path: Path, minor: str) -> None:
    """Each cluster-autoscaler release supports the Kubernetes minor of its own number."""
    run = plan_of(tmp_path, cluster={"version": minor})
    image = values(run, "cluster-autoscaler")["image"]
    assert image["repository"] == "registry.k8s.io/autoscaling/cluster-autoscaler"
    assert image["tag"].startswith(f"v{minor}.")
    assert image["tag"] == versions.CLUSTER_AUTOSCALER[minor]


def test_every_supported_minor_has_an_autoscaler_of_that_minor() -> None:
    assert set(versions.CLUSTER_AUTOSCALER) == set(versions.SUPPORTED_KUBERNETES_VERSIONS)
    for minor, tag in versions.CLUSTER_AUTOSCALER.items():
        assert tag.startswith(f"v{minor}."), (minor, tag)


def test_the_role_trusts_exactly_the_autoscalers_service_account(plan: PlanRun) -> None:
    # The component also holds KEDA's role (tests/test_resources.py).
    role = one(r for r in ours(plan, ROLE) if r.name == "autoscaling-cluster-autoscaler")
    assert role.inputs["name"] == "paved-road-test-cluster-autoscaler"
    (statement,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    provider_arn = plan.outputs["oidcProviderArn"]
    assert statement["Principal"]["Federated"] == provider_arn
    issuer = provider_arn.split(":oidc-provider/", 1)[1]
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:autoscaling:cluster-autoscaler",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    account = values(plan, "cluster-autoscaler")["rbac"]["serviceAccount"]
    assert account["create"] is True and account["name"] == "cluster-autoscaler"
    assert account["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{role.inputs['name']}"
    }


def test_the_role_may_resize_only_this_clusters_node_groups(plan: PlanRun) -> None:
    statements = policy_statements(
        one(
            r for r in ours(plan, ROLE_POLICY) if r.name == "autoscaling-cluster-autoscaler-policy"
        ).inputs["policy"]
    )
    name = cluster_name(plan)
    scaling = {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    granted: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = set(as_list(statement["Action"]))
        granted |= actions
        assert not any("*" in action for action in actions), statement
        if actions & scaling:
            assert actions == scaling
            assert statement["Condition"] == {
                "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{name}": "owned"}
            }
        else:
            assert actions <= README_DESCRIBE_ACTIONS
            assert all(action.split(":")[1].startswith(("Describe", "Get")) for action in actions)
    assert granted == README_DESCRIBE_ACTIONS | scaling


# --------------------------------------------------------------------------------------------------
# Switches and bad config


def test_autoscaler_off_removes_exactly_its_role_and_release(tmp_path: Path, plan: PlanRun) -> None:
    variant = plan_of(tmp_path, core={"autoscaling": {"clusterAutoscaler": {"enabled": False}}})
    removed = {r.urn for r in plan.resources} - {r.urn for r in variant.resources}
    assert {r.urn for r in variant.resources} <= {r.urn for r in plan.resources}
    assert removed == {
        r.urn
        for r in plan.resources
        if r.type in (ROLE, ROLE_POLICY, RELEASE)
        and COMPONENT in r.urn
        and "cluster-autoscaler" in r.urn.rsplit("::", 1)[1]
    }
    assert len(removed) == 3
    assert release(variant, "metrics-server")


def test_node_group_size_is_ignored_only_while_the_autoscaler_owns_it(
    tmp_path: Path, plan: PlanRun
) -> None:
    """With the autoscaler on, re-applying the stack file's `desiredSize` would drop nodes under
    load; with it off, nothing else sizes the group, so a changed `desiredSize` must be applied."""
    groups = plan.by_type("aws:eks/nodeGroup:NodeGroup")
    assert groups and all(
        g.options.get("ignoreChanges") == ["scalingConfig.desiredSize"] for g in groups
    )
    for index, off in enumerate(({"enabled": False}, {"clusterAutoscaler": {"enabled": False}})):
        project = tmp_path / str(index)
        project.mkdir()
        variant = plan_of(project, core={"autoscaling": off})
        groups = variant.by_type("aws:eks/nodeGroup:NodeGroup")
        assert groups and all("ignoreChanges" not in g.options for g in groups), off


def test_a_bad_expander_names_file_and_field_and_registers_nothing(tmp_path: Path) -> None:
    config = {
        **CONFIG,
        "paved-road:core": {"autoscaling": {"clusterAutoscaler": {"expander": "x"}}},
    }
    engine = PlanEngine("test", make_project(tmp_path, config))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    field = "paved-road:core.autoscaling.clusterAutoscaler.expander"
    assert f"{FILE}: {field}: " in str(raised.value)
    assert engine.recorded == []
