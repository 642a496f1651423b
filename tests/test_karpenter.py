"""Karpenter as the node autoscaler (`paved-road:cluster.autoscaling: karpenter`).

Upstream facts are those of aws/karpenter-provider-aws at tag v1.14.1: the chart's
`charts/karpenter/values.yaml` (the value paths below), the CRDs of `pkg/apis/crds` (identical to
../shared/crds/karpenter), and the getting-started `cloudformation.yaml` (controller policy,
interruption queue, its EventBridge rules).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from components import versions
from components.core.karpenter import DISCOVERY_TAG, INTERRUPTION_EVENTS, SPOT_TAINT
from pavedroad.check import resources_from_plan
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from policies.paved_road_policies import registry
from policies.paved_road_policies.runner import evaluate
from tests.conftest import (
    PRODUCTION_CLUSTER,
    as_list,
    assert_refused,
    make_project,
    one,
    policy_statements,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors, require_crds

FILE = "stacks/Pulumi.dev.yaml"
RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
KARPENTER: dict[str, Any] = {
    "karpenter": {
        "onDemand": {"cpu": "48", "memory": "192Gi"},
        "spotLimits": {"cpu": "96", "memory": "384Gi"},
        "consolidateAfter": "2m",
    },
}
# Value paths the platform sets, each present in the chart's values.yaml (v1.14.1).
CHART_KEYS = {
    "fullnameOverride",
    "serviceAccount.create",
    "serviceAccount.name",
    "serviceAccount.annotations",
    "replicas",
    "podDisruptionBudget.name",
    "podDisruptionBudget.maxUnavailable",
    "affinity",
    "controller.resources",
    "settings.clusterName",
    "settings.interruptionQueue",
}


def karpenter_config(autoscaling: dict[str, Any] = KARPENTER) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:cluster"]["autoscaling"] = "karpenter"
    config["paved-road:core"]["autoscaling"] = copy.deepcopy(autoscaling)
    return config


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> PlanRun:
    root = make_project(tmp_path_factory.mktemp("karpenter"), karpenter_config(), "dev")
    return PlanEngine("dev", root).run()


def named(plan: PlanRun, type_: str, suffix: str) -> RecordedResource:
    return one(r for r in plan.by_type(type_) if r.name.endswith(suffix))


def manifest(resource: RecordedResource) -> dict[str, Any]:
    inputs = dict(resource.inputs)
    return {"apiVersion": inputs.pop("apiVersion"), "kind": inputs.pop("kind"), **inputs}


def paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    found = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in CHART_KEYS:
            found |= paths(value, f"{path}.")
        else:
            found.add(path)
    return found


def test_cluster_autoscaler_stays_the_default() -> None:
    dev = shipped_plan("dev")
    assert not [r for r in dev.resources if "karpenter" in r.name]
    assert [r for r in dev.by_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler"]


def test_karpenter_replaces_the_cluster_autoscaler_and_node_groups_keep_their_size(
    plan: PlanRun,
) -> None:
    charts = {r.inputs["chart"] for r in plan.by_type(RELEASE)}
    assert "cluster-autoscaler" not in charts
    # Nothing else resizes node groups: the stack file's size is applied again.
    for group in plan.by_type("aws:eks/nodeGroup:NodeGroup"):
        assert "ignoreChanges" not in group.options


def test_the_pinned_chart_runs_in_the_autoscaling_namespace_off_its_own_nodes(
    plan: PlanRun,
) -> None:
    chart = versions.CHARTS["karpenter"]
    release = named(plan, RELEASE, "karpenter-release")
    assert release.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert release.inputs["version"] == chart.version == "1.14.1"
    assert "repositoryOpts" not in release.inputs
    assert release.inputs["namespace"] == "autoscaling"
    values = release.inputs["values"]
    assert paths(values) <= CHART_KEYS
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expressions = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"} in expressions
    assert {"key": "eks.amazonaws.com/nodegroup", "operator": "Exists"} in expressions
    queue = named(plan, "aws:sqs/queue:Queue", "karpenter-interruption")
    assert values["settings"] == {
        "clusterName": "paved-road-dev",
        "interruptionQueue": queue.inputs["name"],
    }
    role = named(plan, "aws:iam/role:Role", "karpenter-controller")
    assert values["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{role.inputs['name']}"
    }
    trust = policy_statements(role.inputs["assumeRolePolicy"])[0]
    subjects = [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == ["system:serviceaccount:autoscaling:karpenter"]


def test_custom_resources_validate_against_the_crds(plan: PlanRun) -> None:
    require_crds()
    objects = [manifest(r) for r in [*plan.by_type(NODE_POOL), *plan.by_type(NODE_CLASS)]]
    assert sorted(o["metadata"]["name"] for o in objects) == ["default", "on-demand", "spot"]
    for obj in objects:
        assert crd_errors(obj) == [], obj["metadata"]["name"]
    broken = copy.deepcopy(objects[0])
    broken["spec"]["disruption"]["consolidationPolicy"] = "WhenIdle"
    assert crd_errors(broken)


def test_node_pools_consolidate_and_stop_at_their_limits(plan: PlanRun) -> None:
    pools = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in plan.by_type(NODE_POOL)}
    assert pools["on-demand"]["limits"] == {"cpu": "48", "memory": "192Gi"}
    assert pools["spot"]["limits"] == {"cpu": "96", "memory": "384Gi"}
    for name, spec in pools.items():
        assert spec["disruption"] == {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": "2m",
        }
        capacity = one(
            r
            for r in spec["template"]["spec"]["requirements"]
            if r["key"].endswith("capacity-type")
        )
        assert capacity["values"] == [name]
        # Pod security groups need a trunk interface: Nitro only, never the t family.
        requirements = {r["key"]: r for r in spec["template"]["spec"]["requirements"]}
        assert requirements["karpenter.k8s.aws/instance-hypervisor"]["values"] == ["nitro"]
        assert requirements["karpenter.k8s.aws/instance-category"]["values"] == ["c", "m", "r"]
    # Only pods that tolerate the taint land on spot; on-demand has none.
    assert pools["spot"]["template"]["spec"]["taints"] == [SPOT_TAINT]
    assert "taints" not in pools["on-demand"]["template"]["spec"]


def test_node_class_is_hardened_and_finds_tagged_subnets_and_group(plan: PlanRun) -> None:
    spec = one(plan.by_type(NODE_CLASS)).inputs["spec"]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (volume,) = spec["blockDeviceMappings"]
    assert volume["ebs"]["volumeType"] == "gp3" and volume["ebs"]["encrypted"] is True
    node_role = named(plan, "aws:iam/role:Role", "karpenter-node-role")
    assert spec["role"] == node_role.inputs["name"]
    selector = [{"tags": {DISCOVERY_TAG: "paved-road-dev"}}]
    assert spec["subnetSelectorTerms"] == selector == spec["securityGroupSelectorTerms"]
    subnets = plan.by_type("aws:ec2/subnet:Subnet")
    private = [s for s in subnets if "private" in s.name]
    assert private and all(s.inputs["tags"][DISCOVERY_TAG] == "paved-road-dev" for s in private)
    assert all(DISCOVERY_TAG not in s.inputs["tags"] for s in subnets if s not in private)
    tag = named(plan, "aws:ec2/tag:Tag", "karpenter-cluster-sg-discovery")
    assert (tag.inputs["key"], tag.inputs["value"]) == (DISCOVERY_TAG, "paved-road-dev")


def test_nodes_boot_the_pinned_ami_release_of_the_clusters_minor(plan: PlanRun) -> None:
    spec = one(plan.by_type(NODE_CLASS)).inputs["spec"]
    (term,) = spec["amiSelectorTerms"]
    minor = stack_config("dev")["paved-road:cluster"]["version"]
    # The node groups' pin and Karpenter's alias name one AWS release: same date, same minor.
    release = versions.NODE_AMI_RELEASE_VERSIONS[minor]
    assert release.startswith(f"{minor}.")
    assert term == {"alias": f"al2023@v{release.rsplit('-', 1)[1]}"}
    assert "latest" not in term["alias"]


@pytest.mark.parametrize("minor", versions.SUPPORTED_KUBERNETES_VERSIONS)
def test_every_supported_minor_has_a_dated_karpenter_alias(minor: str) -> None:
    alias = versions.karpenter_ami_alias(minor)
    family, _, version = alias.partition("@")
    assert family == "al2023" and len(alias) <= 30
    assert version[0] == "v" and len(version) == 9 and version[1:].isdigit()


def test_nodes_join_through_an_ec2_linux_access_entry(plan: PlanRun) -> None:
    entry = named(plan, "aws:eks/accessEntry:AccessEntry", "karpenter-node-access")
    role = named(plan, "aws:iam/role:Role", "karpenter-node-role")
    assert entry.inputs["type"] == "EC2_LINUX"
    assert entry.inputs["principalArn"].endswith(f":role/{role.inputs['name']}")
    attached = {
        r.inputs["policyArn"].rsplit("/", 1)[-1]
        for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("autoscaling-karpenter-node-role")
    }
    assert attached == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonSSMManagedInstanceCore",
    }


def test_controller_iam_is_scoped(plan: PlanRun) -> None:
    document = named(plan, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller-policy")
    statements = policy_statements(document.inputs["policy"])
    node_role = named(plan, "aws:iam/role:Role", "karpenter-node-role").inputs["name"]
    for statement in statements:
        actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement
        writes = [a for a in actions if not a.split(":")[1].startswith(("Describe", "Get", "List"))]
        if "*" in resources:
            assert not writes, statement
        if "iam:PassRole" in actions:
            assert resources == [f"arn:aws:iam::123456789012:role/{node_role}"]
            assert actions == ["iam:PassRole"]
    passing = [s for s in statements if "iam:PassRole" in as_list(s["Action"])]
    assert len(passing) == 1
    # Every write to EC2 instances or instance profiles is held to this cluster's tag.
    owned = "kubernetes.io/cluster/paved-road-dev"
    for statement in statements:
        actions = as_list(statement["Action"])
        if any(a in actions for a in ("ec2:TerminateInstances", "iam:DeleteInstanceProfile")):
            assert statement["Condition"]["StringEquals"][f"aws:ResourceTag/{owned}"] == "owned"


def test_interruption_queue_is_encrypted_and_fed_by_the_rules(plan: PlanRun) -> None:
    queue = named(plan, "aws:sqs/queue:Queue", "karpenter-interruption")
    assert queue.inputs["sqsManagedSseEnabled"] is True
    assert queue.inputs["messageRetentionSeconds"] == 300
    rules = [r for r in plan.by_type("aws:cloudwatch/eventRule:EventRule") if "karpenter" in r.name]
    patterns = sorted(json.loads(r.inputs["eventPattern"])["detail-type"][0] for r in rules)
    assert patterns == sorted(d for _, d in INTERRUPTION_EVENTS.values())
    assert {
        "EC2 Spot Instance Interruption Warning",
        "EC2 Instance Rebalance Recommendation",
        "EC2 Instance State-change Notification",
        "AWS Health Event",
    } <= set(patterns)
    queue_arn = f"arn:aws:sqs:eu-west-1:123456789012:{queue.inputs['name']}"
    targets = [r for r in plan.by_type("aws:cloudwatch/eventTarget:EventTarget")]
    karpenter_targets = [t for t in targets if "karpenter" in t.name]
    assert len(karpenter_targets) == len(rules)
    assert {t.inputs["arn"] for t in karpenter_targets} == {queue_arn}
    policy = named(plan, "aws:sqs/queuePolicy:QueuePolicy", "karpenter-interruption-policy").inputs[
        "policy"
    ]
    allow, deny = policy_statements(policy)
    assert allow["Action"] == "sqs:SendMessage" and allow["Resource"] == queue_arn
    assert len(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == len(rules)
    assert deny["Effect"] == "Deny" and deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_spot_can_be_left_out(tmp_path: Path) -> None:
    config = karpenter_config({"karpenter": {"spot": False}})
    plan = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    assert [r.inputs["metadata"]["name"] for r in plan.by_type(NODE_POOL)] == ["on-demand"]


@pytest.mark.parametrize(
    "karpenter, field, message",
    [
        ({"onDemand": {"cpu": "lots"}}, "karpenter.onDemand.cpu", "Kubernetes quantity"),
        ({"consolidateAfter": "Never"}, "karpenter.consolidateAfter", "duration"),
        ({"instanceCategories": ["t"]}, "karpenter.instanceCategories[0]", "'c'"),
    ],
)
def test_bad_karpenter_config_is_refused(
    tmp_path: Path, karpenter: dict[str, Any], field: str, message: str
) -> None:
    config = karpenter_config({"karpenter": karpenter})
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    assert_refused(engine, FILE, f"paved-road:core.autoscaling.{field}", message)


def test_karpenter_needs_the_autoscaling_service(tmp_path: Path) -> None:
    config = karpenter_config({"enabled": False})
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    assert_refused(engine, FILE, "paved-road:cluster.autoscaling", "core.autoscaling.enabled")


def test_an_unknown_node_autoscaler_is_refused(tmp_path: Path) -> None:
    config = karpenter_config()
    config["paved-road:cluster"]["autoscaling"] = "keda"
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    assert_refused(engine, FILE, "paved-road:cluster.autoscaling", "'karpenter'")


@pytest.mark.parametrize("field", ["labels", "taints"])
def test_the_capacity_key_is_the_platforms(tmp_path: Path, field: str) -> None:
    config = copy.deepcopy(stack_config("dev"))
    value: Any = {"paved-road/capacity-type": "spot"}
    if field == "taints":
        value = [{"key": "paved-road/capacity-type", "value": "spot", "effect": "NO_SCHEDULE"}]
    config["paved-road:cluster"]["nodeGroups"][0][field] = value
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    where = "nodeGroups[0].labels" if field == "labels" else "nodeGroups[0].taints[0].key"
    assert_refused(engine, FILE, f"paved-road:cluster.{where}", "set by the platform")


# Policy rules ---------------------------------------------------------------------------------


def rule_messages(rule: str, resources: list[Any]) -> list[str]:
    return [v.message for v in evaluate([registry.BY_NAME[rule]], resources, None, False)]


def views(plan: PlanRun) -> list[Any]:
    return resources_from_plan({"resources": [r.to_json() for r in plan.resources]})


def test_node_pools_without_limits_are_found(plan: PlanRun) -> None:
    resources = views(plan)
    assert rule_messages("nodes-karpenter-pool-limits", resources) == []
    pool = next(r for r in resources if r.type == NODE_POOL)
    spec = copy.deepcopy(pool.inputs["spec"])
    del spec["limits"]["memory"]
    unbounded = type(pool)(**{**pool.__dict__, "inputs": {**pool.inputs, "spec": spec}})
    assert rule_messages("nodes-karpenter-pool-limits", [unbounded]) == [
        "spec.limits.memory is not set: the pool can grow without bound"
    ]
    del spec["limits"]
    assert len(rule_messages("nodes-karpenter-pool-limits", [unbounded])) == 2


def test_spot_system_node_group_is_found(plan: PlanRun) -> None:
    resources = views(plan)
    assert rule_messages("nodes-system-on-demand", resources) == []
    group = next(r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup")
    spot = type(group)(**{**group.__dict__, "inputs": {**group.inputs, "capacityType": "SPOT"}})
    assert rule_messages("nodes-system-on-demand", [spot]) == [
        "node group 'paved-road-dev-system' is a system node group on SPOT capacity"
    ]
    other = type(group)(
        **{
            **spot.__dict__,
            "inputs": {**spot.inputs, "nodeGroupNamePrefix": "paved-road-dev-batch-"},
        }
    )
    assert rule_messages("nodes-system-on-demand", [other]) == []


def test_every_rule_passes_the_karpenter_plan(plan: PlanRun) -> None:
    found = evaluate(list(registry.BY_NAME.values()), views(plan), None, False)
    assert [(v.rule, v.urn) for v in found] == []


def test_production_runs_two_controllers_and_the_custom_resources_wait_for_the_chart(
    tmp_path: Path, plan: PlanRun
) -> None:
    assert named(plan, RELEASE, "karpenter-release").inputs["values"]["replicas"] == 1
    release = named(plan, RELEASE, "karpenter-release")
    entry = named(plan, "aws:eks/accessEntry:AccessEntry", "karpenter-node-access")
    for resource in [*plan.by_type(NODE_POOL), *plan.by_type(NODE_CLASS)]:
        assert {release.urn, entry.urn} <= set(resource.dependencies)
    config = karpenter_config()
    config["paved-road:production"] = True
    config["paved-road:cluster"].update(PRODUCTION_CLUSTER)
    config["paved-road:core"]["policy"].pop("mode", None)
    production = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    values = named(production, RELEASE, "karpenter-release").inputs["values"]
    assert values["replicas"] == 2
    assert values["podDisruptionBudget"] == {"name": "karpenter", "maxUnavailable": 1}


def test_physical_names_fit_aws_limits_at_the_longest_prefix_a_stack_can_have(
    tmp_path: Path,
) -> None:
    """The node group name check (components/config.py) caps `<project>-<environment>`: a
    one-letter group leaves it NODE_GROUP_NAME_MAX - NAME_PREFIX_SUFFIX - 3 characters. At that
    length every name Karpenter's resources get still fits AWS's limits."""
    from components.config import NAME_PREFIX_SUFFIX, NODE_GROUP_NAME_MAX

    longest = NODE_GROUP_NAME_MAX - NAME_PREFIX_SUFFIX - 3
    project = "paved-road-platform-team"
    config = karpenter_config()
    config["paved-road:environment"] = "e" * (longest - len(project) - 1)
    config["paved-road:cluster"]["nodeGroups"][0]["name"] = "s"
    config["paved-road:tenants"] = []
    make_project(tmp_path, config, "dev")
    manifest = tmp_path / "Pulumi.yaml"
    manifest.write_text(manifest.read_text().replace("name: paved-road", f"name: {project}"))
    plan = PlanEngine("dev", tmp_path).run()
    ours = [r for r in plan.resources if "karpenter" in r.name]
    names = {r.type: [] for r in ours}
    for resource in ours:
        if isinstance(resource.inputs.get("name"), str):
            names[resource.type].append(resource.inputs["name"])
    limits = {
        "aws:cloudwatch/eventRule:EventRule": 64,
        "aws:sqs/queue:Queue": 80,
        "aws:iam/role:Role": 64,
    }
    for type_, limit in limits.items():
        assert all(n.startswith(f"{project}-eee") for n in names[type_])
        assert names[type_] and max(map(len, names[type_])) <= limit, (type_, names[type_])
    document = named(plan, "aws:iam/rolePolicy:RolePolicy", "karpenter-controller-policy")
    # IAM counts an inline policy without whitespace; a role's inline policies share 10,240.
    compact = json.dumps(json.loads(document.inputs["policy"]), separators=(",", ":"))
    assert len(compact) < 10240
