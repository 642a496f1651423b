"""Observability: kube-prometheus-stack and Fluent Bit as the real program registers them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import kubernetes_validate
import pytest
import yaml

from components import versions
from components.config import ConfigError
from pavedroad.engine import SECRET, PlanEngine, PlanRun, RecordedResource
from pavedroad.mocks import digest
from pavedroad.plan import kubernetes_objects, render_kubernetes_yaml, render_plan_json
from tests.conftest import as_list, make_project, one, policy_statements, stack_config
from tests.crds import CRD_DIR, crd_errors, has_crd, require_crds
from tests.irsa import assert_irsa_trust

OBSERVABILITY = "paved-road:core:Observability"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"
SECRET_TYPE = "kubernetes:core/v1:Secret"
NAMESPACE = "kubernetes:core/v1:Namespace"
FLUENT_BIT_SA = "system:serviceaccount:logging:aws-for-fluent-bit"


# --------------------------------------------------------------------------------------------------
# Helpers


def under(urn: str, component_type: str = OBSERVABILITY) -> bool:
    """Whether `urn` is the component or one of its descendants (its type chain names it)."""
    return component_type in urn.split("::")[2].split("$")


def ours(plan: PlanRun) -> list[RecordedResource]:
    return [r for r in plan.resources if under(r.urn) and r.type != OBSERVABILITY]


def release(plan: PlanRun, chart: str) -> RecordedResource:
    return one(r for r in plan.by_type(RELEASE) if r.inputs["chart"] == chart)


def stack_values(plan: PlanRun) -> dict[str, Any]:
    return release(plan, "kube-prometheus-stack").inputs["values"]


def fluent_bit_role(plan: PlanRun) -> RecordedResource:
    return one(r for r in plan.by_type(ROLE) if under(r.urn) and "fluent-bit" in r.name)


def namespace_labels(plan: PlanRun, name: str) -> dict[str, str]:
    found = one(r for r in plan.by_type(NAMESPACE) if r.inputs["metadata"]["name"] == name)
    return found.inputs["metadata"]["labels"]


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) pair of a values tree, depth first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}" if path else key)


def config_with(observability: dict[str, Any]) -> dict[str, Any]:
    """The dev stack's configuration with `paved-road:core.observability` replaced (without its
    tenants, whose files live beside the shipped stacks, not in the variant's project)."""
    config = copy.deepcopy(stack_config("dev"))
    config.pop("paved-road:tenants", None)
    config.setdefault("paved-road:core", {})["observability"] = observability
    if observability.get("enabled") is False:
        # Delivery's analysis queries this Prometheus, OpenCost reads it: switching it off
        # means all three.
        config.setdefault("paved-road:delivery", {})["enabled"] = False
        config["paved-road:core"]["cost"] = {"enabled": False}
    return config


@pytest.fixture(scope="module")
def plan_with(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, Any]], PlanRun]:
    """Plans of variant observability configs, each planned once per module."""
    cache: dict[str, PlanRun] = {}

    def run(observability: dict[str, Any]) -> PlanRun:
        key = json.dumps(observability, sort_keys=True)
        if key not in cache:
            root = make_project(tmp_path_factory.mktemp("obs"), config_with(observability))
            cache[key] = PlanEngine("test", root).run()
        return cache[key]

    return run


# --------------------------------------------------------------------------------------------------
# Charts


@pytest.mark.parametrize(
    ("chart", "namespace"),
    [("kube-prometheus-stack", "monitoring"), ("aws-for-fluent-bit", "logging")],
)
def test_charts_are_pinned_and_installed_in_their_namespaces(
    plan: PlanRun, chart: str, namespace: str
) -> None:
    pinned = versions.CHARTS[chart]
    found = release(plan, chart)
    assert found.inputs["chart"] == pinned.name
    assert found.inputs["version"] == pinned.version
    assert found.inputs["repositoryOpts"]["repo"] == pinned.repository
    assert found.inputs["namespace"] == namespace
    assert found.inputs["name"] == chart
    assert under(found.urn) and found.parent.endswith(f"{OBSERVABILITY}::observability")
    provider = one(plan.by_type("pulumi:providers:kubernetes"))
    assert found.provider.startswith(provider.urn + "::")
    ns = one(r for r in plan.by_type(NAMESPACE) if r.inputs["metadata"]["name"] == namespace)
    assert ns.urn in found.dependencies, "the release waits for its namespace"


def test_the_operator_is_the_one_whose_crds_the_platform_validates_against() -> None:
    """Tenants' ServiceMonitors and PrometheusRules are checked against ../shared/crds; the chart
    must install that operator version, or the checks would vouch for the wrong schema."""
    require_crds()
    crd = yaml.safe_load(
        (CRD_DIR / "prometheus-operator" / "servicemonitors.monitoring.coreos.com.yaml").read_text()
    )
    operator = crd["metadata"]["annotations"]["operator.prometheus.io/version"]
    assert versions.CHARTS["kube-prometheus-stack"].app_version == f"v{operator}"


def test_objects_are_labelled_and_valid_and_custom_resources_match_upstream_crds(
    plan: PlanRun, stack: str
) -> None:
    version = stack_config(stack)["paved-road:cluster"].get(
        "version", versions.DEFAULT_KUBERNETES_VERSION
    )
    manifests = kubernetes_objects(ours(plan))
    assert {m["kind"] for m in manifests} == {"Namespace", "NetworkPolicy", "Secret"}
    for manifest in manifests:
        assert manifest["metadata"]["name"]
        assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "paved-road"
        if has_crd(manifest):
            assert crd_errors(manifest) == [], manifest["metadata"]["name"]
        else:
            kubernetes_validate.validate(manifest, f"{version}.0", strict=True)


def test_monitoring_and_logging_namespaces_admit_the_host_level_agents(plan: PlanRun) -> None:
    for name in ("monitoring", "logging"):
        labels = namespace_labels(plan, name)
        assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["paved-road/platform"] == "true"


# --------------------------------------------------------------------------------------------------
# Prometheus, Alertmanager and the exported address


def test_prometheus_follows_the_stack_config(plan: PlanRun, stack: str) -> None:
    observability = stack_config(stack).get("paved-road:core", {}).get("observability", {})
    configured = observability.get("prometheus", {})
    spec = stack_values(plan)["prometheus"]["prometheusSpec"]
    assert spec["retention"] == configured.get("retention", "15d")
    assert spec["replicas"] == configured.get("replicas", 1)
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == configured.get("storageSize", "50Gi")
    assert claim["storageClassName"] == "gp3"
    alertmanager = stack_values(plan)["alertmanager"]
    assert alertmanager["alertmanagerSpec"]["replicas"] == observability.get(
        "alertmanagerReplicas", 1
    )


def test_a_variant_config_changes_retention_storage_replicas_and_disruption_budgets(
    plan_with: Callable[[dict[str, Any]], PlanRun],
) -> None:
    small = stack_values(plan_with({}))
    big = stack_values(
        plan_with(
            {
                "prometheus": {"retention": "90d", "storageSize": "500Gi", "replicas": 3},
                "alertmanagerReplicas": 2,
            }
        )
    )
    spec = big["prometheus"]["prometheusSpec"]
    assert (spec["retention"], spec["replicas"]) == ("90d", 3)
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "500Gi"
    assert big["alertmanager"]["alertmanagerSpec"]["replicas"] == 2
    assert big["prometheus"]["podDisruptionBudget"]["enabled"] is True
    assert big["alertmanager"]["podDisruptionBudget"]["enabled"] is True
    assert small["prometheus"]["podDisruptionBudget"]["enabled"] is False
    assert small["alertmanager"]["podDisruptionBudget"]["enabled"] is False
    assert small["prometheus"]["prometheusSpec"]["retention"] == "15d"


def test_monitors_and_rules_from_every_namespace_are_selected(plan: PlanRun) -> None:
    spec = stack_values(plan)["prometheus"]["prometheusSpec"]
    for selector in ("rule", "serviceMonitor", "podMonitor", "probe"):
        assert spec[f"{selector}SelectorNilUsesHelmValues"] is False, selector
        assert f"{selector}NamespaceSelector" not in spec, "the chart's {} means every namespace"


def test_prometheus_url_is_exported_and_matches_the_charts_service_name(plan: PlanRun) -> None:
    values = stack_values(plan)
    fullname = values["fullnameOverride"]
    assert fullname == "kube-prometheus-stack"
    # templates/prometheus/service.yaml names the Service `<fullname>-prometheus`; the fullname
    # helper truncates the override to 26 characters.
    assert len(fullname) <= 26
    expected = f"http://{fullname}-prometheus.monitoring.svc.cluster.local:9090"
    assert plan.outputs["prometheusUrl"] == expected
    assert release(plan, "kube-prometheus-stack").inputs["namespace"] == "monitoring"


WORKLOADS = {
    "kube-prometheus-stack": {
        "prometheusOperator.resources",
        "prometheusOperator.admissionWebhooks.patch.resources",
        "prometheusOperator.prometheusConfigReloader.resources",
        "prometheus.prometheusSpec.resources",
        "alertmanager.alertmanagerSpec.resources",
        "grafana.resources",
        "grafana.sidecar.resources",
        "kube-state-metrics.resources",
        "prometheus-node-exporter.resources",
    },
    "aws-for-fluent-bit": {"resources"},
}


@pytest.mark.parametrize("chart", sorted(WORKLOADS))
def test_every_workload_has_requests_and_limits(plan: PlanRun, chart: str) -> None:
    found = {
        path: value
        for path, value in walk(release(plan, chart).inputs["values"])
        if path.endswith("resources") and "volumeClaimTemplate" not in path
    }
    assert set(found) == WORKLOADS[chart]
    for path, value in found.items():
        assert set(value) == {"requests", "limits"}, path
        for kind in ("requests", "limits"):
            assert set(value[kind]) == {"cpu", "memory"}, path
        assert value["limits"]["memory"] == value["requests"]["memory"], path


def test_every_workload_runs_unprivileged_where_the_chart_allows(plan: PlanRun) -> None:
    values = stack_values(plan)
    for path in (
        "prometheusOperator.securityContext",
        "prometheus.prometheusSpec.securityContext",
        "alertmanager.alertmanagerSpec.securityContext",
        "grafana.securityContext",
        "kube-state-metrics.securityContext",
        "prometheus-node-exporter.securityContext",
    ):
        context = dict(walk(values))[path]
        assert context["runAsNonRoot"] is True, path
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, path
    for path in (
        "prometheusOperator.containerSecurityContext",
        "grafana.containerSecurityContext",
        "kube-state-metrics.containerSecurityContext",
        "prometheus-node-exporter.containerSecurityContext",
    ):
        context = dict(walk(values))[path]
        assert context["allowPrivilegeEscalation"] is False, path
        assert context["capabilities"] == {"drop": ["ALL"]}, path
    assert values["grafana"]["initChownData"] == {"enabled": False}, "it runs as root"


# --------------------------------------------------------------------------------------------------
# Grafana's admin password


def test_grafana_password_is_generated_and_never_written_anywhere(plan: PlanRun) -> None:
    password = one(r for r in plan.by_type(PASSWORD) if under(r.urn))
    assert password.inputs["length"] >= 24
    # What the mock runtime answers for the generated password (pavedroad/mocks.py).
    generated = f"plan-only-password-{digest(PASSWORD, password.name, length=24)}"
    text = render_plan_json(plan) + render_kubernetes_yaml(plan)
    assert generated not in text
    assert "prom-operator" not in text, "the chart's default password is never used"
    secret = one(r for r in plan.by_type(SECRET_TYPE) if under(r.urn))
    assert secret.inputs["stringData"] == {"admin-user": SECRET, "admin-password": SECRET}
    assert secret.inputs["metadata"]["namespace"] == "monitoring"
    monitoring = one(
        r for r in plan.by_type(NAMESPACE) if r.inputs["metadata"]["name"] == "monitoring"
    )
    assert monitoring.urn in secret.dependencies, "created once its namespace exists"


def test_the_chart_reads_the_admin_credentials_from_the_generated_secret(plan: PlanRun) -> None:
    secret = one(r for r in plan.by_type(SECRET_TYPE) if under(r.urn))
    grafana = stack_values(plan)["grafana"]
    assert grafana["enabled"] is True
    assert grafana["admin"] == {
        "existingSecret": secret.inputs["metadata"]["name"],
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert set(secret.inputs["stringData"]) == {"admin-user", "admin-password"}
    assert "adminPassword" not in grafana
    stack = release(plan, "kube-prometheus-stack")
    assert secret.urn in stack.dependencies, "the Secret exists before Grafana starts"


def test_grafana_off_creates_no_password(plan_with: Callable[[dict[str, Any]], PlanRun]) -> None:
    run = plan_with({"grafana": False})
    assert stack_values(run)["grafana"] == {"enabled": False}
    assert not [r for r in run.by_type(PASSWORD) + run.by_type(SECRET_TYPE) if under(r.urn)]


# --------------------------------------------------------------------------------------------------
# Container logs


def test_container_logs_go_to_a_log_group_created_with_retention(plan: PlanRun, stack: str) -> None:
    logs = stack_config(stack).get("paved-road:core", {}).get("observability", {}).get("logs", {})
    cluster = one(plan.by_type("eks:index:Cluster")).inputs["name"]
    group = one(r for r in plan.by_type(LOG_GROUP) if under(r.urn))
    assert group.inputs["name"] == f"/aws/eks/{cluster}/containers"
    assert group.inputs["retentionInDays"] == logs.get("retentionDays", 30)
    assert group.inputs["tags"]["paved-road:environment"]
    values = release(plan, "aws-for-fluent-bit").inputs["values"]
    output = values["cloudWatchLogs"]
    assert output["enabled"] is True
    assert output["logGroupName"] == group.inputs["name"]
    assert output["autoCreateGroup"] is False
    assert output["region"] == stack_config(stack)["aws:region"]
    assert "logGroupTemplate" not in output, "one log group, the one with the retention"
    for other in ("cloudWatch", "firehose", "kinesis", "elasticsearch"):
        assert values[other] == {"enabled": False}, other
    assert group.urn in release(plan, "aws-for-fluent-bit").dependencies


def test_fluent_bit_role_trusts_only_its_service_account(plan: PlanRun) -> None:
    role = fluent_bit_role(plan)
    assert (
        role.inputs["name"] == f"{one(plan.by_type('eks:index:Cluster')).inputs['name']}-fluent-bit"
    )
    assert len(role.inputs["name"]) <= 64
    (statement,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert_irsa_trust(statement, *FLUENT_BIT_SA.split(":")[2:])
    account = release(plan, "aws-for-fluent-bit").inputs["values"]["serviceAccount"]
    assert f"system:serviceaccount:logging:{account['name']}" == FLUENT_BIT_SA
    assert account["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/{role.inputs['name']}"
    )


def test_fluent_bit_may_write_only_to_the_container_log_group(plan: PlanRun) -> None:
    group = one(r for r in plan.by_type(LOG_GROUP) if under(r.urn))
    arn = f"arn:aws:logs:eu-west-1:123456789012:log-group:{group.inputs['name']}"
    policy = one(r for r in plan.by_type(ROLE_POLICY) if under(r.urn) and "fluent-bit" in r.name)
    statements = policy_statements(policy.inputs["policy"])
    resources = {resource for s in statements for resource in as_list(s["Resource"])}
    assert resources == {arn, f"{arn}:*"}
    actions = {action for s in statements for action in as_list(s["Action"])}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"}
    assert all(s["Effect"] == "Allow" for s in statements)


def test_no_observability_policy_allows_every_action_on_every_resource(plan: PlanRun) -> None:
    policies = [
        r for r in plan.by_type(ROLE_POLICY) + plan.by_type("aws:iam/policy:Policy") if under(r.urn)
    ]
    assert policies
    for policy in policies:
        for statement in policy_statements(policy.inputs["policy"]):
            actions, targets = as_list(statement["Action"]), as_list(statement["Resource"])
            assert not ("*" in actions and "*" in targets), policy.urn
            assert not any(a.endswith(":*") for a in actions), policy.urn


def test_logs_off_removes_exactly_the_fluent_bit_resources(
    plan_with: Callable[[dict[str, Any]], PlanRun],
) -> None:
    on, off = plan_with({}), plan_with({"logs": {"enabled": False}})
    removed = {r.urn for r in on.resources} - {r.urn for r in off.resources}
    assert {r.urn for r in off.resources} <= {r.urn for r in on.resources}
    fluent_bit = {
        release(on, "aws-for-fluent-bit").urn,
        one(r for r in on.by_type(LOG_GROUP) if under(r.urn)).urn,
        fluent_bit_role(on).urn,
        one(r for r in on.by_type(ROLE_POLICY) if under(r.urn) and "fluent-bit" in r.name).urn,
    }
    assert removed == fluent_bit
    # The namespace stays reserved for the platform, now at `restricted`.
    assert namespace_labels(off, "logging")["pod-security.kubernetes.io/enforce"] == "restricted"
    assert off.outputs["prometheusUrl"] == on.outputs["prometheusUrl"]


def test_observability_off_removes_exactly_its_resources(
    plan_with: Callable[[dict[str, Any]], PlanRun],
) -> None:
    on, off = plan_with({}), plan_with({"enabled": False})
    on_urns, off_urns = {r.urn for r in on.resources}, {r.urn for r in off.resources}
    assert off_urns <= on_urns
    # The platform's insight rules (components/insight/platform_rules.py) need its CRDs, each
    # tenant's Grafana dashboard goes with Grafana, and alert routing builds on the operator
    # (components/insight/routing.py).
    platform_rules = "$kubernetes:monitoring.coreos.com/v1:PrometheusRule::platform-insight-rules"
    routing = {
        r.urn
        for r in on.resources
        if "paved-road:insight:PlatformAlerts" in r.urn
        or r.type == "kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig"
        or (r.name.endswith("-alert-receivers") and "Tenant" in r.urn)
    }
    assert (
        on_urns - off_urns
        == {
            urn
            for urn in on_urns
            if under(urn)
            or under(urn, "paved-road:delivery:Delivery")
            or under(urn, "paved-road:core:OpenCost")
            or urn.endswith(
                "$kubernetes:monitoring.coreos.com/v1:PrometheusRule::cost-allocation-rules"
            )
            or urn.endswith(platform_rules)
            or (urn.endswith("-dashboard") and "$kubernetes:core/v1:ConfigMap::" in urn)
        }
        | routing
    )
    assert off.outputs["prometheusUrl"] is None


# --------------------------------------------------------------------------------------------------
# Configuration errors


@pytest.mark.parametrize(
    ("prometheus", "field", "expected"),
    [
        ({"retention": "15 days"}, "retention", "'15 days' is not a Prometheus duration"),
        ({"storageSize": "50GB"}, "storageSize", "'50GB' is not a Kubernetes quantity"),
        ({"replicas": 0}, "replicas", "greater than or equal to 1"),
    ],
)
def test_bad_prometheus_settings_name_file_and_field_and_register_nothing(
    tmp_path: Path, prometheus: dict[str, Any], field: str, expected: str
) -> None:
    engine = PlanEngine("test", make_project(tmp_path, config_with({"prometheus": prometheus})))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    message = str(raised.value)
    assert (
        f"stacks/Pulumi.test.yaml: paved-road:core.observability.prometheus.{field}: " in message
    ), message
    assert expected in message, message
    assert engine.recorded == []


def test_a_bad_log_retention_is_refused(tmp_path: Path) -> None:
    engine = PlanEngine(
        "test", make_project(tmp_path, config_with({"logs": {"retentionDays": 10}}))
    )
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert "stacks/Pulumi.test.yaml: paved-road:core.observability.logs.retentionDays: " in str(
        raised.value
    )
    assert engine.recorded == []
