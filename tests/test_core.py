"""Core services across the board: pinned charts, clean switches, valid objects, no secrets."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components import versions
from pavedroad.engine import PlanEngine, PlanRun
from pavedroad.plan import kubernetes_objects, render_kubernetes_yaml, render_plan_json
from tests.conftest import ROOT, make_project, pavedroad, shipped_plan, stack_config
from tests.crds import awaiting_shared_crd, crd_errors, has_crd, require_crds

RELEASE = "kubernetes:helm.sh/v3:Release"

# config key under paved-road:core → the component that key switches
SERVICES = {
    "ingress": "paved-road:core:LoadBalancerController",
    "certManager": "paved-road:core:CertManager",
    "externalDns": "paved-road:core:ExternalDns",
    "observability": "paved-road:core:Observability",
    "secrets": "paved-road:core:Secrets",
    "policy": "paved-road:core:Policy",
    "gitops": "paved-road:core:GitOps",
    "autoscaling": "paved-road:core:Autoscaling",
    "tracing": "paved-road:core:Tracing",
    "portal": "paved-road:core:Portal",
    "cost": "paved-road:core:OpenCost",
}
COST_RULES = "$kubernetes:monitoring.coreos.com/v1:PrometheusRule::cost-allocation-rules"
# Services the portal needs: switching one off is compared on a base without the portal.
PORTAL_NEEDS = ("ingress", "secrets")


# What tenants build on a service, and so lose with it: the custom resources whose CRDs the
# service brings, and the network openings for it.
TENANT_DEPENDENTS = {
    "secrets": ("kubernetes:external-secrets.io/v1:SecretStore",),
    "gitops": ("kubernetes:argoproj.io/v1alpha1:AppProject",),
    "observability": ("kubernetes:networking.k8s.io/v1:NetworkPolicy::", "-allow-prometheus"),
    "tracing": ("kubernetes:networking.k8s.io/v1:NetworkPolicy::", "-allow-tracing"),
}


DASHBOARD_TYPE = "$kubernetes:core/v1:ConfigMap::"

# What tenants' apps build on a service: Ingresses need the load balancer controller,
# ServiceMonitors the Prometheus Operator's CRDs.
APP_DEPENDENTS = {
    # A tenant's `dns` resource is one more host of an app's Ingress, with its certificate.
    "ingress": ("kubernetes:networking.k8s.io/v1:Ingress", "paved-road:resources:DnsName"),
    # Event consumers scale with KEDA (components/resources/keda.py).
    "autoscaling": (
        "kubernetes:keda.sh/v1alpha1:ScaledObject",
        "kubernetes:keda.sh/v1alpha1:TriggerAuthentication",
    ),
    # Apps' monitors and their SLO rules (components/insight/slo.py) need Prometheus' CRDs.
    "observability": (
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    ),
}

# What goes with the load balancer controller besides the Ingresses: the ACM certificates (and their
# validation) of the hosts served over HTTPS, tenants' apps and Argo CD alike.
CERTIFICATE_TYPES = (
    "aws:acm/certificate:Certificate",
    "aws:acm/certificateValidation:CertificateValidation",
    "aws:route53/record:Record",
)


def certificate_dependent(urn: str, service: str) -> bool:
    return service == "ingress" and any(f"${type_}::" in urn for type_ in CERTIFICATE_TYPES)


# What the delivery layer builds on a service: the rollout controller's ALB check role (ingress).
DELIVERY = "paved-road:delivery:Delivery"
FLAG_OPERATOR = "paved-road:delivery:FeatureFlagOperator"


def delivery_dependent(urn: str, service: str) -> bool:
    """The rollout controller's ALB check role and its opening to the AWS APIs on the internet
    (ingress: without ALBs no target-group weights are verified); its Kyverno policy (policy)."""
    if service == "policy":
        # The guardrails the delivery layer adds: on analysis templates, and on flag sources.
        return (under(urn, DELIVERY) and urn.endswith("::delivery-restrict-tenant-analysis")) or (
            under(urn, FLAG_OPERATOR) and urn.endswith("::feature-flags-restrict-tenant-flags")
        )
    return (
        under(urn, DELIVERY)
        and service == "ingress"
        and ("$aws:iam/" in urn or urn.endswith("::delivery-namespace-allow-internet"))
    )


def policy_dependent(urn: str, service: str) -> bool:
    """The Kyverno guard on tenants' SecretStores matches the secrets service's kinds."""
    return service == "secrets" and urn.endswith("::policy-restrict-tenant-secret-stores")


def rule_dependent(urn: str, service: str) -> bool:
    """Insight's PrometheusRules (tenants' and the platform's) need the Prometheus Operator."""
    rule = "$kubernetes:monitoring.coreos.com/v1:PrometheusRule::"
    return service == "observability" and rule in urn


# Alert routing (components/insight/routing.py) builds on two services: AlertmanagerConfigs (and the
# platform's routing component) on the Prometheus Operator, receivers' ExternalSecrets on the
# secrets service.
PLATFORM_ALERTS = "paved-road:insight:PlatformAlerts"


def routing_dependent(urn: str, service: str) -> bool:
    receiver_secret = "$kubernetes:external-secrets.io/v1:ExternalSecret::" in urn and (
        urn.endswith("-alert-receivers") or urn.endswith("::platform-alerts-receivers")
    )
    if service == "secrets":
        return receiver_secret
    return service == "observability" and (
        under(urn, PLATFORM_ALERTS)
        or "$kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig::" in urn
        or receiver_secret
    )


def notifications_dependent(urn: str, service: str) -> bool:
    """Release notifications (components/insight/release_notifications.py) need External
    Secrets for the teams' webhooks: their ConfigMaps and ExternalSecrets, and the controller's
    opening to Slack, go with the secrets service."""
    return service == "secrets" and (
        urn.endswith("-release-notifications")
        or urn.endswith("-release-notification-secret")
        or urn.endswith("::delivery-namespace-allow-release-notifications")
    )


def tenant_dependent(urn: str, service: str) -> bool:
    if "paved-road:domains:Domain" in urn:  # a squad's AppProject, like its teams'
        return service == "gitops" and TENANT_DEPENDENTS["gitops"][0] in urn
    if "paved-road:tenants:Tenant" not in urn:
        return False
    if any(f"${kind}::" in urn for kind in APP_DEPENDENTS.get(service, ())):
        return True
    if service == "observability" and urn.endswith("-dashboard") and DASHBOARD_TYPE in urn:
        return True  # each tenant's Grafana dashboard goes with Grafana
    if service == "secrets" and "$paved-road:resources:" in urn and "ExternalSecret::" in urn:
        return True  # a resource's connection Secret is delivered by the secrets service
    return service in TENANT_DEPENDENTS and all(part in urn for part in TENANT_DEPENDENTS[service])


def _dev_with(service: str) -> dict[str, Any]:
    """The dev stack as the base for switching `service` off. For observability, releases are
    analysed with Datadog, so Prometheus can go without the delivery layer (and every tenant's
    Rollout) going with it."""
    config = copy.deepcopy(stack_config("dev"))
    if service == "observability":
        config.setdefault("paved-road:delivery", {})["analysisProvider"] = "datadog"
    if service == "certManager":
        # The OpenFeature operator's webhooks need cert-manager's certificates: the base runs no
        # flag system (and its tenants declare no flags, see _project).
        config.setdefault("paved-road:delivery", {})["flags"] = "none"
    if service in PORTAL_NEEDS:
        config["paved-road:core"]["portal"]["enabled"] = False
    return config


def under(urn: str, component_type: str) -> bool:
    """Whether `urn` is the component or one of its descendants (its type chain names it)."""
    return component_type in urn.split("::")[2].split("$")


def test_every_release_is_a_pinned_chart_in_its_namespace(plan: PlanRun) -> None:
    releases = plan.by_type(RELEASE)
    assert len(releases) >= 7
    for release in releases:
        chart = versions.CHARTS[release.inputs["chart"]]
        assert release.inputs["version"] == chart.version
        assert release.inputs["repositoryOpts"]["repo"] == chart.repository
        assert release.inputs["namespace"], "every release names its namespace"
        assert release.inputs["atomic"] is True


# What each chart's own Chart.yaml says at the pinned version (its `appVersion`, leading "v"
# ignored): aws/eks-charts stable/aws-load-balancer-controller and stable/aws-for-fluent-bit,
# cert-manager deploy/charts/cert-manager (released with the chart version as the app's),
# kubernetes-sigs/external-dns charts/external-dns (tag external-dns-helm-chart-1.21.1),
# external-secrets deploy/charts/external-secrets (tag helm-chart-2.9.0), kyverno charts/kyverno
# (tag v1.19.0), argoproj/argo-helm charts/argo-rollouts (tag argo-rollouts-2.41.0),
# kubernetes-sigs/metrics-server (tag metrics-server-helm-chart-3.13.1), kubernetes/autoscaler
# cluster-autoscaler/charts/cluster-autoscaler (tag cluster-autoscaler-chart-9.59.0).
# kube-prometheus-stack and argo-cd are checked against the CRDs they install instead
# (tests/test_core_observability.py, tests/test_core_secrets_gitops.py).
UPSTREAM_APP_VERSIONS = {
    "aws-load-balancer-controller": ("1.13.2", "2.13.2"),
    "aws-for-fluent-bit": ("0.2.0", "3.2.1"),
    "cert-manager": ("v1.21.1", "1.21.1"),
    "external-dns": ("1.21.1", "0.21.0"),
    "external-secrets": ("2.9.0", "2.9.0"),
    "kyverno": ("3.9.0", "1.19.0"),
    "argo-rollouts": ("2.41.0", "1.9.0"),
    "metrics-server": ("3.13.1", "0.8.1"),
    "cluster-autoscaler": ("9.59.0", "1.35.0"),
    # kedacore/charts keda/Chart.yaml at 2.20.2 (chart and app versions move together).
    "keda": ("2.20.2", "2.20.2"),
}


@pytest.mark.parametrize("name", sorted(UPSTREAM_APP_VERSIONS))
def test_each_pin_names_the_app_version_its_chart_ships(name: str) -> None:
    """A chart bumped in versions.py without its app version (which picks the CRDs the tests
    validate against) fails here until the pair is read again from the chart's Chart.yaml."""
    chart = versions.CHARTS[name]
    version, app_version = UPSTREAM_APP_VERSIONS[name]
    assert chart.version == version, f"record the appVersion of {name} {chart.version} here"
    assert chart.app_version.removeprefix("v") == app_version


def test_every_namespace_a_core_service_creates_is_reserved(plan: PlanRun) -> None:
    """Tenants are refused the reserved platform namespaces: a service creating a namespace
    outside that list would leave it open for a team to claim."""
    created = {
        r.inputs["metadata"]["name"]
        for r in plan.by_type("kubernetes:core/v1:Namespace")
        if any(under(r.urn, service) for service in SERVICES.values())
    }
    assert created
    assert created <= set(plan.outputs["platformNamespaces"])


def test_the_summary_names_each_service_with_version_and_namespace(tmp_path: Path) -> None:
    result = pavedroad("plan", "dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for release in shipped_plan("dev").by_type(RELEASE):
        line = f"{release.inputs['chart']} {release.inputs['version']} in {release.inputs['namespace']}"
        assert line in result.stdout


def _project(root: Path, service: str) -> Path:
    """Without cert-manager no flag system runs: the base's tenants declare no flags either."""
    if service == "certManager":
        for path in sorted((root / "tenants").glob("*.yaml")):
            document = yaml.safe_load(path.read_text())
            if document.pop("flags", None) is not None:
                for app in document.get("apps", []):
                    app.pop("flags", None)
                path.write_text(yaml.safe_dump(document, sort_keys=False))
    return root


def _dev_without(service: str) -> dict[str, Any]:
    config = _dev_with(service)
    section = config.setdefault("paved-road:core", {}).setdefault(service, {})
    section["enabled"] = False
    if service == "certManager":
        section["issuer"] = "none"  # an issuer needs cert-manager: switching off means both
    if service == "observability":
        # OpenCost reads and is scraped by Prometheus: switching off means both.
        config["paved-road:core"].setdefault("cost", {})["enabled"] = False
    return config


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_switching_a_service_off_removes_exactly_its_resources(
    service: str, tmp_path: Path
) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "variant").mkdir()
    base_root = _project(make_project(tmp_path / "base", _dev_with(service), "dev"), service)
    variant_root = _project(
        make_project(tmp_path / "variant", _dev_without(service), "dev"), service
    )
    base = {r.urn for r in PlanEngine("dev", base_root).run().resources}
    variant = {r.urn for r in PlanEngine("dev", variant_root).run().resources}
    removed = base - variant
    assert variant <= base, f"switching {service} off added {sorted(variant - base)}"
    assert removed, f"{service} had no resources to remove"
    assert removed == {
        urn
        for urn in base
        if under(urn, SERVICES[service])
        or (service == "observability" and under(urn, SERVICES["cost"]))
        # The cost records (components/insight/cost.py) read OpenCost's series.
        or (service in ("observability", "cost") and urn.endswith(COST_RULES))
        or tenant_dependent(urn, service)
        or delivery_dependent(urn, service)
        or certificate_dependent(urn, service)
        or policy_dependent(urn, service)
        or rule_dependent(urn, service)
        or routing_dependent(urn, service)
        or notifications_dependent(urn, service)
    }


def test_platform_namespaces_are_exported_and_created(plan: PlanRun) -> None:
    created = {
        r.inputs["metadata"]["name"]
        for r in plan.by_type("kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["labels"].get("paved-road/platform") == "true"
    }
    assert plan.outputs["platformNamespaces"] == sorted(created)
    for release in plan.by_type(RELEASE):
        assert release.inputs["namespace"] in created


def test_custom_resources_validate_against_upstream_crds(plan: PlanRun) -> None:
    require_crds()
    custom = [m for m in kubernetes_objects(plan.resources) if "." in m["apiVersion"].split("/")[0]]
    custom = [
        m
        for m in custom
        if not m["apiVersion"].startswith(
            ("storage.k8s.io", "networking.k8s.io", "policy/", "rbac.authorization.k8s.io")
        )
    ]
    assert custom, "the core services create custom resources (ClusterPolicy, ClusterSecretStore…)"
    for manifest in custom:
        if awaiting_shared_crd(manifest):
            continue
        assert has_crd(
            manifest
        ), f"no upstream CRD to validate {manifest['apiVersion']} {manifest['kind']}"
        assert crd_errors(manifest) == [], manifest["metadata"]["name"]


def test_core_objects_validate_for_the_cluster_version(plan: PlanRun, stack: str) -> None:
    version = stack_config(stack)["paved-road:cluster"].get(
        "version", versions.DEFAULT_KUBERNETES_VERSION
    )
    for manifest in kubernetes_objects(plan.resources):
        try:
            kubernetes_validate.validate(manifest, f"{version}.0", strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert has_crd(manifest) or awaiting_shared_crd(
                manifest
            ), f"{manifest['kind']} is neither core nor a known CRD"


def test_no_secret_value_in_plan_manifests_or_stack_files(plan: PlanRun, stack: str) -> None:
    manifests = kubernetes_objects(plan.resources)
    for secret in (m for m in manifests if m["kind"] == "Secret"):
        for field in ("data", "stringData"):
            assert all(value == "[secret]" for value in secret.get(field, {}).values())
    text = render_plan_json(plan) + render_kubernetes_yaml(plan)
    # What the mocks generate for random passwords: it must only ever travel as a secret.
    assert "plan-only-password-" not in text
    stack_text = (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    assert not re.search(r"(?i)(password|secret|token)\s*:", stack_text)
