"""Issue 10: the platform's own namespaces — default-deny networks with the openings their
components need, Pod Security `restricted` bar a commented allowlist, and a Prometheus that keeps
each tenant's monitors and rules inside its namespace."""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import replace
from typing import Any, Mapping, Optional

import kubernetes_validate
import pytest

from components import versions
from components.config import CoreConfig
from components.core import platform_namespaces
from components.core.network_policies import OPENINGS, openings_for
from components.delivery import NAMESPACES as DELIVERY_NAMESPACES
from pavedroad.engine import PlanRun
from policies.paved_road_policies.config import PackConfig
from policies.paved_road_policies import registry
from tests.conftest import SHIPPED_STACKS, shipped_plan
from tests.test_policies_aws import edited, messages, views

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
PLATFORM_LABEL = "paved-road/platform"
# An address of the EKS control plane's interfaces in the VPC (the API endpoint, webhook calls).
CONTROL_PLANE = "10.10.1.20"
PROMETHEUS = {"namespace": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}}


# --------------------------------------------------------------------------------------------------
# A small NetworkPolicy evaluator: enough for the policies the platform writes (every one selects
# all pods of its namespace), following the NetworkPolicy API's semantics: traffic is allowed in a
# direction when a policy of that type has a rule whose peers and ports all match.


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        if (
            expression["operator"] == "In"
            and labels.get(expression["key"]) not in expression["values"]
        ):
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], own_namespace: str, other: Mapping[str, Any]) -> bool:
    if "ipBlock" in peer:
        if "ip" not in other:
            return False
        address = ipaddress.ip_address(other["ip"])
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if "namespace" not in other:
        return False
    namespace_labels = {"kubernetes.io/metadata.name": other["namespace"]}
    if "namespaceSelector" in peer:
        if not _selector_matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif other["namespace"] != own_namespace:
        return False
    return _selector_matches(peer.get("podSelector") or {}, other.get("labels") or {})


def allowed(
    plan: PlanRun,
    namespace: str,
    direction: str,
    other: Mapping[str, Any],
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether pods of `namespace` may send to (Egress) or receive from (Ingress) `other`: a
    dict with `ip`, or `namespace` and pod `labels`."""
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in plan.by_type(NETWORK_POLICY):
        if policy.inputs["metadata"]["namespace"] != namespace:
            continue
        spec = policy.inputs["spec"]
        assert spec["podSelector"] == {}, "the platform's policies select every pod"
        if direction not in spec["policyTypes"]:
            continue
        for rule in spec.get(rules_key, []):
            peers = rule.get(peers_key)
            ports = rule.get("ports")
            if peers is not None and not any(_peer_matches(p, namespace, other) for p in peers):
                continue
            if ports is not None and not any(
                p.get("protocol", "TCP") == protocol and p.get("port") in (None, port)
                for p in ports
            ):
                continue
            return True
    return False


def platform_namespace_names(plan: PlanRun) -> list[str]:
    return sorted(
        r.inputs["metadata"]["name"]
        for r in plan.by_type(NAMESPACE)
        if r.inputs["metadata"]["labels"].get(PLATFORM_LABEL) == "true"
    )


@pytest.fixture(params=SHIPPED_STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return request.param


# --------------------------------------------------------------------------------------------------
# Default-deny everywhere


def test_every_platform_namespace_is_default_deny_with_dns_and_the_api(stack: str) -> None:
    plan = shipped_plan(stack)
    names = platform_namespace_names(plan)
    assert set(names) >= {"monitoring", "kyverno", "argocd", "external-secrets", "cert-manager"}
    for namespace in names:
        policies = {
            r.inputs["metadata"]["name"]: r.inputs["spec"]
            for r in plan.by_type(NETWORK_POLICY)
            if r.inputs["metadata"]["namespace"] == namespace
        }
        assert policies["default-deny"] == {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
        }, namespace
        dns = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}
        assert allowed(plan, namespace, "Egress", dns, 53, "UDP"), namespace
        assert allowed(plan, namespace, "Egress", {"ip": CONTROL_PLANE}, 443), namespace
        # Nothing else inside the VPC (the portal reaches its own database's port, 5432:
        # tests/test_portal.py), and nobody from another namespace but Prometheus.
        inside = 6379 if namespace == "backstage" else 5432
        assert not allowed(plan, namespace, "Egress", {"ip": "10.10.2.30"}, inside), namespace
        stranger = {"namespace": "payments", "labels": {"app": "checkout-api"}}
        assert not allowed(plan, namespace, "Ingress", stranger, 8080), namespace
        assert allowed(plan, namespace, "Ingress", PROMETHEUS, 8080), namespace
        # Components of one service talk to each other.
        peer = {"namespace": namespace, "labels": {"app": "anything"}}
        assert allowed(plan, namespace, "Ingress", peer, 6379), namespace


def test_the_pack_requires_default_deny_in_platform_namespaces(stack: str) -> None:
    resources = views(stack)
    assert messages("k8s-platform-default-deny", resources) == []
    loosened = [
        r
        for r in resources
        if not (
            r.type == NETWORK_POLICY
            and r.namespace == "cert-manager"
            and r.object_name == "default-deny"
        )
    ]
    assert messages("k8s-platform-default-deny", loosened) == [
        "platform namespace cert-manager has no default-deny NetworkPolicy for ingress and egress"
    ]


def test_the_policies_are_valid_kubernetes_objects(stack: str) -> None:
    plan = shipped_plan(stack)
    version = f"{versions.DEFAULT_KUBERNETES_VERSION}.0"
    platform = set(platform_namespace_names(plan))
    policies = [
        r for r in plan.by_type(NETWORK_POLICY) if r.inputs["metadata"]["namespace"] in platform
    ]
    assert policies
    for policy in policies:
        manifest = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            **{k: v for k, v in policy.inputs.items() if k in ("metadata", "spec")},
        }
        kubernetes_validate.validate(manifest, version, strict=True)
        assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "paved-road"
        assert any(policy.parent == p.parent for p in plan.by_type(NAMESPACE)), policy.name


# Webhook and aggregated-API ports the control plane calls, from each chart's defaults at the
# pinned versions: aws-load-balancer-controller `webhookBindPort` 9443; cert-manager
# `webhook.securePort` 10250; external-secrets `webhook.port` 10250; Kyverno's serving port 9443;
# kube-prometheus-stack `prometheusOperator.tls.internalPort` 10250
# (prometheus-community/helm-charts charts/kube-prometheus-stack/values.yaml); metrics-server
# `containerPort` 10250.
CONTROL_PLANE_PORTS = {
    "aws-load-balancer-controller": 9443,
    "cert-manager": 10250,
    "external-secrets": 10250,
    "kyverno": 9443,
    "monitoring": 10250,
    "autoscaling": 10250,
}


def test_the_control_plane_reaches_webhooks_on_their_ports_only() -> None:
    plan = shipped_plan("dev")
    for namespace in platform_namespace_names(plan):
        port = CONTROL_PLANE_PORTS.get(namespace)
        if port is not None:
            assert allowed(plan, namespace, "Ingress", {"ip": CONTROL_PLANE}, port), namespace
        assert not allowed(plan, namespace, "Ingress", {"ip": CONTROL_PLANE}, 22), namespace
    # Nothing from the internet reaches a webhook.
    assert not allowed(plan, "kyverno", "Ingress", {"ip": "203.0.113.9"}, 9443)


def test_controllers_reach_the_internet_only_on_the_ports_they_need() -> None:
    plan = shipped_plan("dev")
    internet = {"ip": "52.95.110.1"}  # an AWS public endpoint's address
    for namespace in ("aws-load-balancer-controller", "cert-manager", "external-secrets"):
        assert allowed(plan, namespace, "Egress", internet, 443), namespace
        assert not allowed(plan, namespace, "Egress", internet, 80), namespace
    assert allowed(plan, "argocd", "Egress", internet, 22), "Git over SSH"
    assert allowed(plan, "cert-manager", "Egress", internet, 53, "UDP"), "DNS-01 self-check"
    assert not allowed(plan, "external-dns", "Egress", internet, 53, "UDP")


def test_argo_cd_is_reached_through_the_alb_and_prometheus_by_rollouts() -> None:
    plan = shipped_plan("dev")
    alb = {"ip": "10.10.96.10"}  # an ALB interface in a public subnet of the VPC
    assert allowed(plan, "argocd", "Ingress", alb, 8080)
    assert not allowed(plan, "argocd", "Ingress", alb, 8081), "repo server stays internal"
    rollouts = {"namespace": "argo-rollouts", "labels": {"app.kubernetes.io/name": "argo-rollouts"}}
    prometheus = {**PROMETHEUS}
    assert allowed(plan, "argo-rollouts", "Egress", prometheus, 9090)
    assert allowed(plan, "monitoring", "Ingress", rollouts, 9090)
    tenant = {"namespace": "payments", "labels": {"app": "checkout-api"}}
    assert not allowed(plan, "monitoring", "Ingress", tenant, 9090), "tenants query via analysis"
    # Prometheus scrapes pods in tenant namespaces and the nodes.
    assert allowed(plan, "monitoring", "Egress", tenant, 8080)
    assert allowed(plan, "monitoring", "Egress", {"ip": "10.10.3.4"}, 9100)


def test_every_namespace_the_platform_can_create_has_its_openings() -> None:
    everything = CoreConfig().resolved(production=True)
    for namespace in [*platform_namespaces(everything), *DELIVERY_NAMESPACES]:
        assert namespace in OPENINGS, namespace
    with pytest.raises(KeyError, match="has no entry"):
        openings_for("new-platform-service")


# --------------------------------------------------------------------------------------------------
# Pod Security for every namespace


def _namespace(name: str) -> Any:
    return next(r for r in views("dev") if r.type == NAMESPACE and r.object_name == name)


def _with_labels(resource: Any, **labels: Optional[str]) -> Any:
    metadata = copy.deepcopy(resource.inputs["metadata"])
    for key, value in labels.items():
        label = f"pod-security.kubernetes.io/{key}"
        if value is None:
            metadata["labels"].pop(label, None)
        else:
            metadata["labels"][label] = value
    return edited(resource, metadata=metadata)


def test_shipped_namespaces_pass_the_pod_security_rule(stack: str) -> None:
    assert messages("k8s-namespace-pod-security", views(stack)) == []


def test_a_privileged_platform_namespace_is_refused() -> None:
    """Before this rule only tenant namespaces were checked: cert-manager could be privileged."""
    cert_manager = _with_labels(_namespace("cert-manager"), enforce="privileged")
    assert messages("k8s-namespace-pod-security", [cert_manager]) == [
        "namespace cert-manager sets pod-security.kubernetes.io/enforce=privileged; only "
        "`restricted` is allowed here"
    ]
    unlabelled = _with_labels(_namespace("kyverno"), enforce=None)
    assert messages("k8s-namespace-pod-security", [unlabelled]) == [
        "namespace kyverno has no pod-security.kubernetes.io/enforce label: the cluster's "
        "default level (privileged) applies"
    ]
    quiet = _with_labels(_namespace("monitoring"), audit="privileged")
    assert messages("k8s-namespace-pod-security", [quiet]) == [
        "namespace monitoring sets pod-security.kubernetes.io/audit=privileged; only "
        "`restricted` is allowed here"
    ]


def test_a_namespace_patch_that_lowers_the_level_is_refused() -> None:
    namespace = _namespace("argocd")
    patch = edited(
        namespace,
        metadata={
            "name": "argocd",
            "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
        },
    )
    patch = replace(patch, type="kubernetes:core/v1:NamespacePatch")
    assert len(messages("k8s-namespace-pod-security", [patch])) == 1
    untouched = replace(
        edited(namespace, metadata={"name": "argocd", "labels": {}}),
        type="kubernetes:core/v1:NamespacePatch",
    )
    assert messages("k8s-namespace-pod-security", [untouched]) == []


def test_the_allowlist_is_the_only_way_past_restricted() -> None:
    monitoring = _namespace("monitoring")
    assert monitoring.labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert messages("k8s-namespace-pod-security", [monitoring]) == []
    strict = PackConfig.parse(
        {"k8s-namespace-pod-security": {"exceptions": []}}, "strict.json", registry.RULES
    )
    assert messages("k8s-namespace-pod-security", [monitoring], config=strict) == [
        "namespace monitoring sets pod-security.kubernetes.io/enforce=privileged; only "
        "`restricted` is allowed here"
    ]


# --------------------------------------------------------------------------------------------------
# Prometheus: a tenant's monitors and rules stay in its namespace


def _stack_values(plan: PlanRun) -> dict[str, Any]:
    (release,) = [r for r in plan.by_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]
    return release.inputs["values"]


def test_tenant_monitors_and_rules_are_scoped_to_their_namespace(stack: str) -> None:
    """Value names from kube-prometheus-stack's values.yaml (prometheus.prometheusSpec.
    ignoreNamespaceSelectors, enforcedNamespaceLabel, excludedFromEnforcement) and the
    Prometheus CRD's ObjectReference (group, resource, namespace; no name: every object of the
    namespace) in prometheus-operator pkg/apis/monitoring/v1/prometheus_types.go."""
    plan = shipped_plan(stack)
    values = _stack_values(plan)
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["ignoreNamespaceSelectors"] is True
    assert spec["enforcedNamespaceLabel"] == "namespace"
    excluded: dict[str, set[str]] = {}
    for reference in spec["excludedFromEnforcement"]:
        assert set(reference) == {"group", "resource", "namespace"}
        assert reference["group"] == "monitoring.coreos.com"
        excluded.setdefault(reference["namespace"], set()).add(reference["resource"])
    platform = set(plan.outputs["platformNamespaces"])
    assert set(excluded) == platform | {"kube-system", "default"}
    assert all(
        kinds == {"servicemonitors", "podmonitors", "probes", "prometheusrules"}
        for kinds in excluded.values()
    )
    tenants = {
        r.inputs["metadata"]["name"]
        for r in plan.by_type(NAMESPACE)
        if "paved-road/tenant" in r.inputs["metadata"]["labels"]
    }
    assert tenants and not tenants & set(excluded), "tenant namespaces stay enforced"
    # With namespace selectors ignored, the kubelet's Service and its monitor share a namespace.
    assert values["kubelet"]["namespace"] == "monitoring"
    assert values["prometheusOperator"]["kubeletService"]["namespace"] == "monitoring"
    assert values["coreDns"] == {"enabled": False} and values["kubeProxy"] == {"enabled": False}
