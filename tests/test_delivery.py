"""Delivery: the Argo Rollouts controller and the platform's analysis templates, on the plan."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Callable

import kubernetes_validate
import pytest
import yaml

from components import versions
from components.config import ConfigError
from components.delivery import analysis
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import kubernetes_objects
from tests.conftest import (
    SHIPPED_STACKS,
    as_list,
    make_project,
    one,
    policy_statements,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors, require_crds
from tests.irsa import assert_irsa_trust

DELIVERY = "paved-road:delivery:Delivery"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:ClusterAnalysisTemplate"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore"
CLUSTER_POLICY = "kubernetes:kyverno.io/v1:ClusterPolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
FILE = "stacks/Pulumi.test.yaml"
K8S_VERSION = f"{versions.DEFAULT_KUBERNETES_VERSION}.0"

# The contract the app templates (tenants' Rollouts) are written against.
CONTRACT = {
    "success-rate": ["service-name", "namespace", "threshold"],
    "latency-p99": ["service-name", "namespace", "threshold-ms"],
    "kafka-consumer-lag": ["consumer-group", "topic", "max-lag"],
    "burn-rate": ["service-name", "namespace", "objective", "max-burn-rate"],
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


# --------------------------------------------------------------------------------------------------
# Helpers


def dev_with(**sections: Any) -> dict[str, Any]:
    """The dev stack without tenants, with `paved-road:<section>` values merged in
    (`core={"ingress": {...}}` replaces core.ingress; `delivery={...}` replaces delivery)."""
    config = copy.deepcopy(stack_config("dev"))
    config.pop("paved-road:tenants", None)
    for section, value in sections.items():
        key = f"paved-road:{section}"
        if section == "core":
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    return config


@pytest.fixture(scope="module")
def plan_with(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., PlanRun]:
    """Plans of dev variants, each planned once per module (plans are deterministic)."""
    plans: dict[str, PlanRun] = {}

    def run(**sections: Any) -> PlanRun:
        key = json.dumps(sections, sort_keys=True)
        if key not in plans:
            root = tmp_path_factory.mktemp("delivery")
            plans[key] = PlanEngine("dev", make_project(root, dev_with(**sections), "dev")).run()
        return plans[key]

    return run


def under(run: PlanRun, resource: RecordedResource, component_type: str = DELIVERY) -> bool:
    return component_type in resource.urn.split("::")[2].split("$")


def ours(run: PlanRun, type_: str) -> list[RecordedResource]:
    return [r for r in run.by_type(type_) if under(run, r)]


def release(run: PlanRun) -> RecordedResource:
    return one(r for r in run.by_type(RELEASE) if r.inputs["chart"] == "argo-rollouts")


def values(run: PlanRun) -> dict[str, Any]:
    return release(run).inputs["values"]


def manifests(run: PlanRun, type_: str) -> list[dict[str, Any]]:
    return kubernetes_objects(ours(run, type_))


def templates(run: PlanRun) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests(run, TEMPLATE)}


def kubernetes_provider(run: PlanRun) -> RecordedResource:
    return one(run.by_type("pulumi:providers:kubernetes"))


def config_error(tmp_path: Path, config: dict[str, Any]) -> tuple[ConfigError, PlanEngine]:
    engine = PlanEngine("test", make_project(tmp_path, config))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    return raised.value, engine


# --------------------------------------------------------------------------------------------------
# The chart


def test_chart_is_pinned_and_installed_in_its_own_namespace(plan: PlanRun) -> None:
    pinned = versions.CHARTS["argo-rollouts"]
    found = release(plan)
    assert under(plan, found)
    assert (found.inputs["chart"], found.inputs["version"]) == ("argo-rollouts", pinned.version)
    assert found.inputs["repositoryOpts"]["repo"] == "https://argoproj.github.io/argo-helm"
    assert found.inputs["namespace"] == "argo-rollouts" and found.inputs["name"] == "argo-rollouts"
    assert found.inputs["atomic"] is True
    assert found.provider.startswith(kubernetes_provider(plan).urn + "::")


def test_chart_pin_matches_the_crds_the_templates_are_validated_against() -> None:
    readme = (require_crds() / "README.md").read_text()
    row = one(line for line in readme.splitlines() if line.startswith("| argo-rollouts |"))
    pinned = versions.CHARTS["argo-rollouts"]
    assert f"chart argo-rollouts {pinned.version}" in row
    assert f"appVersion {pinned.app_version}" in row


def test_the_chart_waits_for_the_core_services(plan: PlanRun) -> None:
    """Its Service needs the ALB controller's webhook, its ServiceMonitor the Prometheus CRDs."""
    dependencies = set(release(plan).dependencies)
    for chart in ("aws-load-balancer-controller", "kube-prometheus-stack"):
        core = one(r for r in plan.by_type(RELEASE) if r.inputs["chart"] == chart)
        assert core.urn in dependencies, chart


def test_namespace_is_a_restricted_platform_namespace(plan: PlanRun) -> None:
    namespace = one(ours(plan, NAMESPACE))
    (manifest,) = kubernetes_objects([namespace])
    labels = manifest["metadata"]["labels"]
    assert manifest["metadata"]["name"] == "argo-rollouts"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["paved-road/platform"] == "true"
    assert labels["app.kubernetes.io/managed-by"] == "paved-road"
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert "argo-rollouts" in plan.outputs["platformNamespaces"]


GUARDRAILS = {
    "protect-platform-objects",
    "restrict-tenant-analysis",
    "restrict-tenant-secret-stores",
    "restrict-tenant-flags",
}


def test_the_platform_store_serves_it_and_the_baseline_policies_skip_it(plan: PlanRun) -> None:
    """A platform namespace: its chart pulls a public image the registry policy would block."""
    (condition,) = one(plan.by_type(STORE)).inputs["spec"]["conditions"]
    assert "argo-rollouts" in condition["namespaces"]
    for policy in plan.by_type(CLUSTER_POLICY):
        if policy.inputs["metadata"]["name"] in GUARDRAILS:
            continue  # they match only tenant namespaces (tests/test_core_guardrails.py)
        for rule in policy.inputs["spec"]["rules"]:
            excluded = rule["exclude"]["any"][0]["resources"]["namespaces"]
            assert "argo-rollouts" in excluded, (policy.name, rule["name"])


def test_crds_come_with_the_chart_and_stay_on_uninstall(plan: PlanRun) -> None:
    found = values(plan)
    assert found["installCRDs"] is True and found["keepCRDs"] is True
    assert found["clusterInstall"] is True
    assert found["fullnameOverride"] == "argo-rollouts"
    # Tenants hold `edit`/`view` in their namespaces: Rollout verbs must aggregate into them.
    assert found["createClusterAggregateRoles"] is True


def test_controller_is_bounded_and_restricted(plan: PlanRun) -> None:
    found = values(plan)
    resources = found["controller"]["resources"]
    assert set(resources) == {"requests", "limits"}
    assert all(resources[kind]["cpu"] and resources[kind]["memory"] for kind in resources)
    assert resources["limits"]["memory"] == resources["requests"]["memory"]
    pod = found["podSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 999
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert found["containerSecurityContext"] == RESTRICTED_CONTAINER


@pytest.mark.parametrize("stack_name, replicas", [("dev", 1), ("staging", 1), ("prod", 2)])
def test_production_runs_two_controllers_behind_a_disruption_budget(
    stack_name: str, replicas: int
) -> None:
    controller = values(shipped_plan(stack_name))["controller"]
    assert controller["replicas"] == replicas
    if replicas > 1:
        assert controller["pdb"] == {"enabled": True, "minAvailable": 1}
    else:
        assert controller["pdb"] == {"enabled": False}


def test_controller_metrics_are_scraped_by_the_platform_prometheus(plan: PlanRun) -> None:
    metrics = values(plan)["controller"]["metrics"]
    assert metrics == {"enabled": True, "serviceMonitor": {"enabled": True}}


def test_without_the_platform_prometheus_there_is_no_service_monitor(
    plan_with: Callable[..., PlanRun],
) -> None:
    run = plan_with(
        core={"observability": {"enabled": False}}, delivery={"analysisProvider": "datadog"}
    )
    metrics = values(run)["controller"]["metrics"]
    assert metrics == {"enabled": False, "serviceMonitor": {"enabled": False}}


def test_dashboard_is_off_by_default(plan: PlanRun) -> None:
    assert values(plan)["dashboard"] == {"enabled": False}


def test_dashboard_when_asked_for_is_read_only_internal_and_restricted(
    plan_with: Callable[..., PlanRun],
) -> None:
    dashboard = values(plan_with(delivery={"dashboard": True}))["dashboard"]
    assert dashboard["enabled"] is True and dashboard["readonly"] is True
    assert dashboard["service"] == {"type": "ClusterIP"}
    assert dashboard["ingress"] == {"enabled": False}
    assert set(dashboard["resources"]) == {"requests", "limits"}
    assert dashboard["podSecurityContext"]["runAsNonRoot"] is True
    assert dashboard["containerSecurityContext"] == RESTRICTED_CONTAINER


# --------------------------------------------------------------------------------------------------
# ALB target-group verification


def test_behind_the_alb_the_controller_verifies_target_groups(plan: PlanRun, stack: str) -> None:
    controller = values(plan)["controller"]
    assert "--aws-verify-target-group" in controller["extraArgs"]
    class_name = stack_config(stack).get("paved-road:core", {}).get("ingress", {})
    assert f"--alb-ingress-classes={class_name.get('className', 'alb')}" in controller["extraArgs"]
    region = stack_config(stack)["aws:region"]
    assert {"name": "AWS_REGION", "value": region} in controller["extraEnv"]


def test_the_verification_role_trusts_exactly_the_controller(plan: PlanRun) -> None:
    role = one(ours(plan, ROLE))
    (statement,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert_irsa_trust(statement, "argo-rollouts", "argo-rollouts")
    account = values(plan)["serviceAccount"]
    assert account["name"] == "argo-rollouts" and account["create"] is True
    assert account["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/{role.inputs['name']}"
    )
    assert role.inputs["tags"]["paved-road:environment"]


def test_the_verification_role_only_reads_load_balancers(plan: PlanRun) -> None:
    statements = policy_statements(one(ours(plan, ROLE_POLICY)).inputs["policy"])
    actions = [a for s in statements for a in as_list(s["Action"])]
    # The policy Argo Rollouts documents for AWS TargetGroup verification
    # (argoproj/argo-rollouts docs/features/traffic-management/alb.md at v1.9.0).
    assert sorted(actions) == [
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    ]
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert action.startswith("elasticloadbalancing:Describe") and "*" not in action
    assert not any(
        "*" in as_list(s["Action"]) and "*" in as_list(s["Resource"]) for s in statements
    )


def test_without_an_alb_ingress_there_is_no_verification_and_no_role(
    plan_with: Callable[..., PlanRun],
) -> None:
    # The portal is served through the ALB: it goes with the controller.
    run = plan_with(core={"ingress": {"enabled": False}, "portal": {"enabled": False}})
    assert ours(run, ROLE) == [] and ours(run, ROLE_POLICY) == []
    controller = values(run)["controller"]
    assert "extraArgs" not in controller and "extraEnv" not in controller
    assert values(run)["serviceAccount"]["annotations"] == {}


def test_a_custom_ingress_class_is_the_one_the_controller_watches(
    plan_with: Callable[..., PlanRun],
) -> None:
    run = plan_with(core={"ingress": {"className": "public-alb"}})
    assert "--alb-ingress-classes=public-alb" in values(run)["controller"]["extraArgs"]


# --------------------------------------------------------------------------------------------------
# The analysis templates


def test_templates_keep_the_contract_apps_are_written_against(plan: PlanRun) -> None:
    found = templates(plan)
    assert sorted(found) == sorted(CONTRACT)
    for name, manifest in found.items():
        spec = manifest["spec"]
        assert [a["name"] for a in spec["args"]] == CONTRACT[name]
        # No defaults: a Rollout that forgets an argument is refused, never half-configured.
        assert all(set(a) == {"name"} for a in spec["args"]), name
        (metric,) = spec["metrics"]
        assert metric["name"] == name, "metric names must not collide when templates merge"
    # Templates merged into one analysis share arguments by name: a name means one thing.
    thresholds = [args[-1] for args in CONTRACT.values()]
    assert len(set(thresholds)) == len(thresholds)


@pytest.mark.parametrize("provider", ["prometheus", "datadog", "newrelic"])
def test_every_placeholder_is_a_declared_argument_and_every_argument_is_used(
    plan_with: Callable[..., PlanRun], provider: str
) -> None:
    """The controller fails a metric with `failed to resolve {{…}}` for any unknown tag."""
    run = plan_with(delivery={"analysisProvider": provider})
    for name, manifest in templates(run).items():
        text = json.dumps(manifest["spec"]["metrics"])
        tags = {tag.strip() for tag in re.findall(r"\{\{(.*?)\}\}", text)}
        assert tags == {f"args.{arg}" for arg in CONTRACT[name]}, (provider, name)


@pytest.mark.parametrize("provider", ["prometheus", "datadog", "newrelic"])
def test_templates_validate_against_the_upstream_crd(
    plan_with: Callable[..., PlanRun], provider: str
) -> None:
    require_crds()
    run = plan_with(delivery={"analysisProvider": provider})
    found = templates(run)
    assert len(found) == 4
    for manifest in found.values():
        assert crd_errors(manifest) == [], manifest["metadata"]["name"]
        (metric,) = manifest["spec"]["metrics"]
        assert set(metric["provider"]) == {
            {"prometheus": "prometheus", "datadog": "datadog", "newrelic": "newRelic"}[provider]
        }


def test_shipped_templates_validate_against_the_upstream_crd(plan: PlanRun) -> None:
    require_crds()
    for manifest in templates(plan).values():
        assert crd_errors(manifest) == []


def test_templates_are_platform_owned_cluster_objects_after_the_chart(plan: PlanRun) -> None:
    chart = release(plan)
    for resource in ours(plan, TEMPLATE):
        metadata = resource.inputs["metadata"]
        assert "namespace" not in metadata, "cluster-scoped: every team's Rollout can use it"
        assert metadata["labels"] == {"app.kubernetes.io/managed-by": "paved-road"}
        assert chart.urn in resource.dependencies, "the chart brings the CRD"
        assert resource.provider.startswith(kubernetes_provider(plan).urn + "::")


def test_prometheus_templates_query_the_core_prometheus(plan: PlanRun) -> None:
    for name, manifest in templates(plan).items():
        (metric,) = manifest["spec"]["metrics"]
        assert metric["provider"]["prometheus"]["address"] == plan.outputs["prometheusUrl"]
        assert metric["provider"]["prometheus"]["query"] == analysis.prometheus_queries()[name]


def test_measurements_are_finite_and_silence_cannot_add_up_to_a_pass(plan: PlanRun) -> None:
    for name, manifest in templates(plan).items():
        (metric,) = manifest["spec"]["metrics"]
        count = metric["count"]
        assert metric["interval"] and count > 1, "finite: usable before a blue/green promotion"
        assert count >= metric["failureLimit"] and count >= metric["inconclusiveLimit"]
        # A pass needs most measurements to pass, not just to be quiet.
        assert metric["inconclusiveLimit"] + metric["failureLimit"] < count / 2, name
        assert metric["consecutiveErrorLimit"] <= 4, "errors abort, they do not wait forever"


@pytest.mark.parametrize("provider", ["prometheus", "datadog", "newrelic"])
def test_every_condition_guards_against_missing_data_and_empty_arguments(
    plan_with: Callable[..., PlanRun], provider: str
) -> None:
    """Both conditions must stay false without data (Inconclusive); the behaviour is evaluated
    in tests/test_analysis_promtool.py, this checks that every template and provider has it."""
    no_data = {
        "prometheus": "len(result) > 0 && !isNaN(result[0])",
        "datadog": "!isNil(result)",
        "newrelic": "!= nil",
    }[provider]
    run = plan_with(delivery={"analysisProvider": provider})
    for name, manifest in templates(run).items():
        (metric,) = manifest["spec"]["metrics"]
        first, second, *_ = CONTRACT[name]
        for condition in (metric["successCondition"], metric["failureCondition"]):
            assert no_data in condition, (provider, name)
            assert condition.startswith(f'"{{{{args.{first}}}}}" != "" && "{{{{args.{second}}}}}"')


# --------------------------------------------------------------------------------------------------
# Datadog and New Relic credentials

CREDENTIAL_KEYS = {
    "datadog": ["address", "api-key", "app-key"],
    "newrelic": ["personal-api-key", "account-id"],
}


@pytest.mark.parametrize("provider", sorted(CREDENTIAL_KEYS))
def test_provider_credentials_come_from_the_platform_store(
    plan_with: Callable[..., PlanRun], provider: str
) -> None:
    run = plan_with(delivery={"analysisProvider": provider})
    secret = one(ours(run, EXTERNAL_SECRET))
    (manifest,) = kubernetes_objects([secret])
    assert manifest["metadata"] == {
        "name": provider,
        "namespace": "argo-rollouts",
        "labels": {"app.kubernetes.io/managed-by": "paved-road"},
    }
    spec = manifest["spec"]
    store = one(run.by_type(STORE))
    assert spec["secretStoreRef"] == {
        "name": store.inputs["metadata"]["name"],
        "kind": "ClusterSecretStore",
    }
    assert spec["target"]["name"] == provider and spec["target"]["creationPolicy"] == "Owner"
    assert [item["secretKey"] for item in spec["data"]] == CREDENTIAL_KEYS[provider]
    for item in spec["data"]:
        assert item["remoteRef"] == {
            "key": f"paved-road/dev/platform/{provider}",
            "property": item["secretKey"],
        }
    require_crds()
    assert crd_errors(manifest) == []
    assert store.urn in secret.dependencies, "the store (and its CRD) exists first"
    (condition,) = store.inputs["spec"]["conditions"]
    assert "argo-rollouts" in condition["namespaces"], "the store serves the secret's namespace"


def test_prometheus_needs_no_credentials(plan: PlanRun) -> None:
    assert ours(plan, EXTERNAL_SECRET) == []


@pytest.mark.parametrize("provider", sorted(CREDENTIAL_KEYS))
def test_no_credential_value_reaches_the_plan(
    plan_with: Callable[..., PlanRun], provider: str
) -> None:
    """Only a reference is planned: no Secret object, no key in the chart's values."""
    run = plan_with(delivery={"analysisProvider": provider})
    assert [r for r in run.resources if under(run, r) and r.type.endswith(":Secret")] == []
    chart_values = json.dumps(values(run))
    for key in CREDENTIAL_KEYS[provider]:
        assert key not in chart_values


# --------------------------------------------------------------------------------------------------
# Switching delivery off


def test_switching_delivery_off_removes_exactly_its_resources(
    plan_with: Callable[..., PlanRun],
) -> None:
    # Feature flags stay as dev has them: their operator is not the rollout controller's.
    flags = stack_config("dev")["paved-road:delivery"]["flags"]
    on, off = plan_with(), plan_with(delivery={"enabled": False, "flags": flags})
    on_urns, off_urns = {r.urn for r in on.resources}, {r.urn for r in off.resources}
    assert off_urns <= on_urns
    removed = on_urns - off_urns
    assert removed and removed == {r.urn for r in on.resources if under(on, r)}
    assert "argo-rollouts" not in off.outputs["platformNamespaces"]
    (condition,) = one(off.by_type(STORE)).inputs["spec"]["conditions"]
    assert "argo-rollouts" not in condition["namespaces"]


def test_delivery_is_on_in_every_shipped_stack() -> None:
    for stack in SHIPPED_STACKS:
        assert one(shipped_plan(stack).by_type(DELIVERY)).name == "delivery"


# --------------------------------------------------------------------------------------------------
# Configuration errors

VALID: dict[str, Any] = {
    "aws:region": "eu-west-1",
    "paved-road:cluster": {"admins": ["arn:aws:iam::123456789012:role/platform-admins"]},
}


@pytest.mark.parametrize(
    "delivery, core, field, expected",
    [
        (
            {"analysisProvider": "splunk"},
            {},
            "paved-road:delivery.analysisProvider",
            "'splunk'",
        ),
        ({"canary": True}, {}, "paved-road:delivery.canary", "unknown field"),
        ({"dashboard": "yes please"}, {}, "paved-road:delivery.dashboard", "'yes please'"),
        (
            {"analysisProvider": "datadog"},
            {"secrets": {"enabled": False}},
            "paved-road:delivery.analysisProvider",
            "'datadog' reads its API credentials through the secrets service",
        ),
        (
            {"analysisProvider": "newrelic"},
            {"secrets": {"enabled": False}},
            "paved-road:delivery.analysisProvider",
            "enable paved-road:core.secrets",
        ),
        (
            {},
            {"observability": {"enabled": False}},
            "paved-road:delivery.analysisProvider",
            "'prometheus' queries the in-cluster Prometheus",
        ),
    ],
)
def test_bad_delivery_config_names_file_and_field_and_registers_nothing(
    tmp_path: Path, delivery: dict[str, Any], core: dict[str, Any], field: str, expected: str
) -> None:
    config = {**VALID, "paved-road:delivery": delivery, "paved-road:core": core}
    error, engine = config_error(tmp_path, config)
    assert any(i.file == FILE and i.field == field for i in error.issues), str(error)
    assert expected in str(error), str(error)
    assert engine.recorded == []


def test_a_provider_without_its_backend_is_fine_while_delivery_is_off(tmp_path: Path) -> None:
    config = {
        **VALID,
        "paved-road:core": {"observability": {"enabled": False}},
        "paved-road:delivery": {"enabled": False},
    }
    run = PlanEngine("test", make_project(tmp_path, config)).run()
    assert run.by_type(DELIVERY) == []


@pytest.mark.parametrize("delivery", [{}, {"enabled": False}])
def test_a_tenant_cannot_claim_the_controller_namespace(
    tmp_path: Path, delivery: dict[str, Any]
) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:delivery"] = delivery
    config["paved-road:tenants"].append("squatter")
    root = make_project(tmp_path, config, "dev")
    document = {
        "name": "squatter",
        "costCenter": "cc-1",
        "domain": "commerce",
        "owners": ["arn:aws:iam::123456789012:role/squatter-admins"],
        "namespaces": ["argo-rollouts"],
    }
    (root / "tenants" / "squatter.yaml").write_text(yaml.safe_dump(document))
    engine = PlanEngine("dev", root)
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert any(
        i.file == "tenants/squatter.yaml"
        and i.field == "namespaces[0]"
        and "'argo-rollouts' is reserved for the platform" in i.message
        for i in raised.value.issues
    ), str(raised.value)
    assert engine.recorded == []
