"""Traces: the OpenTelemetry collector, its X-Ray role, and the OTEL environment of every app.

Sources: the upstream chart open-telemetry/opentelemetry-helm-charts
charts/opentelemetry-collector (Chart.yaml: version 0.170.0, appVersion 0.158.0; values.yaml:
`mode`, `image.repository` required, `command.name`, `alternateConfig` replacing `config`
unmerged, `ports.<name>.enabled`, the `health_check` extension the probes need); the `awsxray`
exporter is a component of the contrib distribution (otel/opentelemetry-collector-contrib,
binary `otelcol-contrib`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import pytest

from components import versions
from components.config import ConfigError
from components.core import network_policies, tracing
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from tests.conftest import make_project, one, policy_statements, shipped_plan, stack_config
from tests.irsa import assert_irsa_trust

TRACING = "paved-road:core:Tracing"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
WORKLOADS = (
    "kubernetes:argoproj.io/v1alpha1:Rollout",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:batch/v1:CronJob",
)


def under(urn: str, component_type: str = TRACING) -> bool:
    return component_type in urn.split("::")[2].split("$")


def collector(plan: PlanRun) -> RecordedResource:
    return one(r for r in plan.by_type(RELEASE) if r.inputs["chart"] == "opentelemetry-collector")


def app_containers(plan: PlanRun) -> Iterator[tuple[RecordedResource, dict[str, Any]]]:
    for kind in WORKLOADS:
        for workload in plan.by_type(kind):
            if "paved-road:tenants:Tenant" not in workload.urn:
                continue
            spec = workload.inputs["spec"]
            pod = (
                spec["jobTemplate"]["spec"]["template"]
                if "jobTemplate" in spec
                else spec["template"]
            )
            for container in pod["spec"]["containers"]:
                yield workload, container


def test_the_collector_is_the_pinned_upstream_chart_in_deployment_mode_with_xray() -> None:
    release = collector(shipped_plan("dev"))
    chart = versions.CHARTS["opentelemetry-collector"]
    assert (chart.version, chart.app_version) == ("0.170.0", "0.158.0")
    assert release.inputs["version"] == chart.version
    assert release.inputs["namespace"] == "tracing"
    values = release.inputs["values"]
    assert values["mode"] == "deployment"
    assert values["image"] == {
        "repository": "otel/opentelemetry-collector-contrib",
        "tag": chart.app_version,
    }
    assert values["command"] == {"name": "otelcol-contrib"}
    config = values["alternateConfig"]
    assert set(config["receivers"]) == {"otlp"}
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    assert config["exporters"] == {"awsxray": {"region": "eu-west-1"}}
    assert "batch" in config["processors"]
    assert config["service"]["pipelines"] == {
        "traces": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "batch"],
            "exporters": ["awsxray"],
        }
    }
    assert config["service"]["extensions"] == ["health_check"], "the chart's probes need it"
    assert not any(values["ports"][p]["enabled"] for p in values["ports"])
    assert values["securityContext"]["allowPrivilegeEscalation"] is False
    assert values["podSecurityContext"]["runAsNonRoot"] is True


def test_the_collector_writes_to_xray_as_its_own_role() -> None:
    plan = shipped_plan("dev")
    role = one(r for r in plan.by_type(ROLE) if under(r.urn))
    (statement,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert_irsa_trust(statement, "tracing", tracing.SERVICE_ACCOUNT)
    account = collector(plan).inputs["values"]["serviceAccount"]
    assert account["name"] == tracing.SERVICE_ACCOUNT
    assert account["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/{role.inputs['name']}"
    )
    policy = one(r for r in plan.by_type(ROLE_POLICY) if under(r.urn))
    (grant,) = policy_statements(policy.inputs["policy"])
    assert sorted(grant["Action"]) == sorted(tracing.XRAY_ACTIONS)
    assert all(action.startswith("xray:") and "*" not in action for action in grant["Action"])


def test_every_app_container_gets_the_opentelemetry_environment() -> None:
    plan = shipped_plan("dev")
    found = list(app_containers(plan))
    assert len(found) >= 4
    for workload, container in found:
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        tenant = workload.inputs["metadata"]["labels"]["paved-road/tenant"]
        app = workload.inputs["metadata"]["labels"]["app.kubernetes.io/name"]
        version = container["image"].rsplit(":", 1)[1]
        assert env["OTEL_SERVICE_NAME"] == app, workload.urn
        attributes = dict(pair.split("=", 1) for pair in env["OTEL_RESOURCE_ATTRIBUTES"].split(","))
        assert {k: attributes[k] for k in ("tenant", "app", "version")} == {
            "tenant": tenant,
            "app": app,
            "version": version,
        }
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
            "http://opentelemetry-collector.tracing.svc.cluster.local:4318"
        )


def test_tenants_may_reach_the_collector_and_the_collector_admits_only_otlp() -> None:
    plan = shipped_plan("dev")
    policies = plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    tenant_rules = [p for p in policies if p.urn.endswith("-allow-tracing")]
    assert {p.inputs["metadata"]["namespace"] for p in tenant_rules} >= {"payments", "search"}
    (rule,) = tenant_rules[0].inputs["spec"]["egress"]
    assert [p["port"] for p in rule["ports"]] == [4317, 4318]
    opening = network_policies.OPENINGS["tracing"]
    (ingress,) = opening.ingress.values()
    assert [p["port"] for p in ingress["ports"]] == [4317, 4318]
    assert opening.internet_ports == (443,)


def _dev(enabled: bool) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("dev"))
    config.setdefault("paved-road:core", {})["tracing"] = {"enabled": enabled}
    return config


def test_tracing_off_removes_the_collector_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "off").mkdir()
    off = PlanEngine("dev", make_project(tmp_path / "off", _dev(False), "dev")).run()
    assert not [r for r in off.resources if under(r.urn)]
    assert "tracing" not in off.outputs["platformNamespaces"]
    for _, container in app_containers(off):
        assert not any(e["name"].startswith("OTEL_") for e in container.get("env", []))


@pytest.mark.parametrize("section", [{"enabled": "sometimes"}, {"enabled": True, "sampler": 1}])
def test_a_bad_tracing_section_names_file_and_field_and_registers_nothing(
    tmp_path: Path, section: dict[str, Any]
) -> None:
    config = _dev(True)
    config["paved-road:core"]["tracing"] = section
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert "stacks/Pulumi.dev.yaml: paved-road:core.tracing." in str(raised.value)
    assert engine.recorded == []
