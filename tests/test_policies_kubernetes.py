"""The Kubernetes rules, each passing on the shipped stacks' objects and failing on a realistic
object that breaks it. Objects the program does not create yet (a ClusterRoleBinding, a
LoadBalancer Service, a DaemonSet) are written as a layer would, and checked against the
Kubernetes schema (or the upstream CRD) first, so a rule is never tested on an impossible object.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import kubernetes_validate
import pytest

from components import versions
from policies.paved_road_policies.config import PackConfig
from policies.paved_road_policies import registry
from policies.paved_road_policies.core import Resource
from policies.paved_road_policies.kubernetes import POD_SPEC_PATHS
from tests.conftest import ROOT
from tests.crds import crd_errors
from tests.test_policies_aws import edited, messages, swapped, views, violations

DEV, PROD = "dev", "prod"
NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def valid(manifest: dict[str, Any]) -> dict[str, Any]:
    kubernetes_validate.validate(manifest, f"{versions.DEFAULT_KUBERNETES_VERSION}.0", strict=True)
    return manifest


def k8s_object(
    resources: list[Resource], type_: str, name: str, manifest: dict[str, Any]
) -> Resource:
    """A Kubernetes resource registered under a tenant, as the Tenant component registers its own."""
    tenant = next(r for r in resources if r.type == "paved-road:tenants:Tenant")
    return Resource(
        type=type_,
        urn=f"{tenant.urn.rsplit('::', 1)[0]}${type_}::{name}",
        name=name,
        inputs=manifest,
        parent=tenant.urn,
    )


def tenant_namespace(resources: list[Resource], name: str) -> Resource:
    return next(r for r in resources if r.type == NAMESPACE and r.object_name == name)


# Tenant namespaces ----------------------------------------------------------------------------


def test_tenant_namespaces_are_pod_security_restricted() -> None:
    resources = views(DEV)
    assert messages("k8s-tenant-pod-security", resources) == []
    namespace = tenant_namespace(resources, "payments")
    metadata = copy.deepcopy(namespace.inputs["metadata"])
    metadata["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"
    del metadata["labels"]["pod-security.kubernetes.io/warn"]
    assert messages("k8s-tenant-pod-security", [edited(namespace, metadata=metadata)]) == [
        "tenant namespace label pod-security.kubernetes.io/enforce is 'baseline'",
        "tenant namespace label pod-security.kubernetes.io/warn is None",
    ]
    monitoring = next(r for r in resources if r.type == NAMESPACE and r.object_name == "monitoring")
    assert monitoring.labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert messages("k8s-tenant-pod-security", [monitoring]) == [], "platform namespaces differ"


def without(
    resources: list[Resource], type_: str, namespace: str, name: str = ""
) -> list[Resource]:
    return [
        r
        for r in resources
        if not (r.type == type_ and r.namespace == namespace and name in (r.object_name, ""))
    ]


def test_every_tenant_namespace_has_quota_limits_and_default_deny() -> None:
    resources = views(DEV)
    assert messages("k8s-tenant-guardrails", resources) == []
    namespace = tenant_namespace(resources, "payments-jobs")
    (violation,) = violations("k8s-tenant-guardrails", without(resources, QUOTA, "payments-jobs"))
    assert (violation.urn, violation.message) == (
        namespace.urn,
        "tenant namespace payments-jobs has no ResourceQuota",
    )
    assert messages("k8s-tenant-guardrails", without(resources, LIMITS, "search")) == [
        "tenant namespace search has no LimitRange"
    ]
    no_deny = without(resources, NETWORK_POLICY, "storefront", "default-deny")
    assert messages("k8s-tenant-guardrails", no_deny) == [
        "tenant namespace storefront has no default-deny NetworkPolicy for ingress and egress"
    ]


def test_default_deny_must_deny_both_directions() -> None:
    resources = views(DEV)
    deny = next(
        r
        for r in resources
        if r.type == NETWORK_POLICY and r.namespace == "search" and r.object_name == "default-deny"
    )
    ingress_only = edited(deny, spec={"podSelector": {}, "policyTypes": ["Ingress"]})
    assert messages("k8s-tenant-guardrails", swapped(resources, deny, ingress_only)) == [
        "tenant namespace search has no default-deny NetworkPolicy for egress"
    ]
    selective = edited(
        deny,
        spec={"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress", "Egress"]},
    )
    assert len(messages("k8s-tenant-guardrails", swapped(resources, deny, selective))) == 1


# RBAC -----------------------------------------------------------------------------------------


def cluster_role_binding(group: str) -> dict[str, Any]:
    return valid(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "read-nodes", "labels": {"app.kubernetes.io/managed-by": "x"}},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
        }
    )


def test_no_cluster_role_binding_to_a_tenant_group() -> None:
    resources = views(DEV)
    crb = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
    tenant = k8s_object(
        resources, crb, "read-nodes", cluster_role_binding("paved-road:search:viewers")
    )
    assert messages("k8s-no-tenant-cluster-role-binding", [tenant]) == [
        "binds tenant group paved-road:search:viewers cluster-wide to 'view'"
    ]
    platform = k8s_object(resources, crb, "read-nodes", cluster_role_binding("platform-admins"))
    assert messages("k8s-no-tenant-cluster-role-binding", [platform, *resources]) == []


# Pods -----------------------------------------------------------------------------------------


def workload(resources: list[Resource]) -> Resource:
    """A shipped tenant workload (the delivery layer's Rollout or Deployment), else one written
    as that layer writes them."""
    shipped = [r for r in resources if r.type in (ROLLOUT, DEPLOYMENT) and r.in_tenant]
    if shipped:
        return shipped[0]
    deployment = valid(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "payments"},
            "spec": {
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "api", "image": "public.ecr.aws/a/api:1.0"}]},
                },
            },
        }
    )
    return k8s_object(resources, DEPLOYMENT, "payments/api/deployment", deployment)


def with_pod(resource: Resource, **changes: Any) -> Resource:
    inputs = copy.deepcopy(dict(resource.inputs))
    pod = inputs["spec"]["template"]["spec"]
    for key, value in changes.items():
        if key == "container":
            pod["containers"][0].update(value)
        else:
            pod[key] = value
    return replace(resource, inputs=inputs)


def daemon_set(**pod: Any) -> dict[str, Any]:
    return valid(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "node-agent", "namespace": "payments"},
            "spec": {
                "selector": {"matchLabels": {"app": "node-agent"}},
                "template": {
                    "metadata": {"labels": {"app": "node-agent"}},
                    "spec": {
                        "containers": [{"name": "agent", "image": "public.ecr.aws/acme/agent:1.0"}],
                        **pod,
                    },
                },
            },
        }
    )


def test_workloads_are_neither_privileged_nor_on_host_namespaces() -> None:
    resources = views(DEV)
    assert messages("k8s-no-privileged-pods", resources) == []
    app = workload(resources)
    privileged = with_pod(app, container={"securityContext": {"privileged": True}})
    name = app.get("spec", "template", "spec", "containers", 0, "name")
    assert messages("k8s-no-privileged-pods", [privileged]) == [f"containers[{name}] is privileged"]
    host = k8s_object(
        resources,
        "kubernetes:apps/v1:DaemonSet",
        "node-agent",
        daemon_set(hostNetwork=True, hostPID=True),
    )
    assert messages("k8s-no-privileged-pods", [host]) == [
        "pod spec sets hostNetwork: true",
        "pod spec sets hostPID: true",
    ]


def test_cron_jobs_are_judged_through_their_job_template() -> None:
    resources = views(DEV)
    pod = {
        "restartPolicy": "Never",
        "hostIPC": True,
        "containers": [{"name": "report", "image": "public.ecr.aws/acme/report"}],
    }
    cron = valid(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "payments-jobs"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}},
        }
    )
    job = k8s_object(resources, "kubernetes:batch/v1:CronJob", "nightly", cron)
    assert messages("k8s-no-privileged-pods", [job]) == ["pod spec sets hostIPC: true"]
    assert messages("k8s-images-pinned", [job]) == [
        "containers[report] image 'public.ecr.aws/acme/report' has no tag (it means :latest)"
    ]


@pytest.mark.parametrize(
    "image, problem",
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api:1.4.2", None),
        ("public.ecr.aws/acme/api@sha256:" + "a" * 64, None),
        ("registry.acme.example:5000/api:2.0", None),
        ("public.ecr.aws/acme/api:latest", "uses the floating tag 'latest'"),
        ("registry.acme.example:5000/api", "has no tag"),
        ("nginx", "has no tag"),
    ],
)
def test_images_are_pinned(image: str, problem: str) -> None:
    resources = views(DEV)
    app = with_pod(workload(resources), container={"image": image})
    found = messages("k8s-images-pinned", [app])
    if problem is None:
        assert found == []
    else:
        (message,) = found
        assert message.startswith("containers[") and problem in message


@pytest.mark.parametrize("stack", [DEV, "staging", PROD])
def test_shipped_workloads_pin_their_images(stack: str) -> None:
    assert messages("k8s-images-pinned", views(stack)) == []


# Services -------------------------------------------------------------------------------------


def service(namespace: str, type_: str) -> dict[str, Any]:
    return valid(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "public-api", "namespace": namespace},
            "spec": {"type": type_, "selector": {"app": "api"}, "ports": [{"port": 443}]},
        }
    )


def test_load_balancer_services_only_in_platform_namespaces() -> None:
    resources = views(DEV)
    assert messages("k8s-load-balancer-platform-only", resources) == []
    svc = "kubernetes:core/v1:Service"
    tenant = k8s_object(resources, svc, "public-api", service("storefront", "LoadBalancer"))
    (violation,) = violations("k8s-load-balancer-platform-only", [*resources, tenant])
    assert violation.urn == tenant.urn
    assert violation.message == (
        "Service public-api of type LoadBalancer is in namespace storefront, which is not a "
        "platform namespace"
    )
    internal = k8s_object(resources, svc, "public-api", service("storefront", "ClusterIP"))
    platform = k8s_object(
        resources, svc, "ingress", service("aws-load-balancer-controller", "LoadBalancer")
    )
    assert messages("k8s-load-balancer-platform-only", [*resources, internal, platform]) == []


# Rollouts -------------------------------------------------------------------------------------


def rollout(strategy: dict[str, Any]) -> dict[str, Any]:
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "payments"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {
                "metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{"name": "api", "image": "public.ecr.aws/acme/api:1.0"}]},
            },
            "strategy": strategy,
        },
    }
    assert crd_errors(manifest) == []
    return manifest


SUCCESS_RATE = {"templates": [{"templateName": "success-rate", "clusterScope": True}]}
STEPS = [{"setWeight": 20}, {"pause": {"duration": "5m"}}, {"setWeight": 100}]


@pytest.mark.parametrize(
    "strategy, analysed",
    [
        ({"canary": {"steps": STEPS, "analysis": {**SUCCESS_RATE, "startingStep": 1}}}, True),
        ({"canary": {"steps": [*STEPS[:2], {"analysis": SUCCESS_RATE}, STEPS[2]]}}, True),
        ({"blueGreen": {"activeService": "a", "prePromotionAnalysis": SUCCESS_RATE}}, True),
        ({"blueGreen": {"activeService": "a", "postPromotionAnalysis": SUCCESS_RATE}}, True),
        ({"canary": {"steps": STEPS}}, False),
        ({"canary": {"steps": STEPS, "analysis": {"templates": []}}}, False),
        ({"blueGreen": {"activeService": "a", "autoPromotionEnabled": False}}, False),
    ],
)
def test_production_rollouts_run_analysis(strategy: dict[str, Any], analysed: bool) -> None:
    resources = views(PROD)
    candidate = k8s_object(resources, ROLLOUT, "payments/checkout/rollout", rollout(strategy))
    found = messages("k8s-rollout-analysis-in-production", [candidate], production=True)
    assert (found == []) is analysed, found
    assert messages("k8s-rollout-analysis-in-production", [candidate], production=False) == []


def test_shipped_production_rollouts_pass_and_fail_without_analysis() -> None:
    resources = views(PROD)
    analysed = {"canary": {"steps": STEPS, "analysis": SUCCESS_RATE}}
    rollouts = [r for r in resources if r.type == ROLLOUT] or [
        k8s_object(resources, ROLLOUT, "checkout", rollout(analysed))
    ]
    resources = list({r.urn: r for r in [*resources, *rollouts]}.values())
    assert messages("k8s-rollout-analysis-in-production", resources, production=True) == []
    first = rollouts[0]
    strategy = copy.deepcopy(first.inputs["spec"]["strategy"])
    for kind in strategy.values():
        for key in ("analysis", "prePromotionAnalysis", "postPromotionAnalysis", "steps"):
            kind.pop(key, None)
    spec = {**first.inputs["spec"], "strategy": strategy}
    broken = swapped(resources, first, edited(first, spec=spec))
    (violation,) = violations("k8s-rollout-analysis-in-production", broken, production=True)
    assert violation.urn == first.urn and violation.mandatory


CANARY = "kubernetes:flagger.app/v1beta1:Canary"
SUCCESS_METRIC = {
    "name": "success-rate",
    "templateRef": {"name": "success-rate"},
    "thresholdRange": {"min": 0.99},
}


@pytest.mark.parametrize(
    "analysis, analysed",
    [
        ({"interval": "10m", "stepWeights": [20, 50], "metrics": [SUCCESS_METRIC]}, True),
        ({"interval": "1m", "iterations": 10, "metrics": [SUCCESS_METRIC]}, True),
        ({"interval": "10m", "stepWeights": [20, 50]}, False),
        ({"interval": "10m", "stepWeights": [20, 50], "metrics": []}, False),
    ],
)
def test_production_flagger_canaries_run_analysis(analysis: dict[str, Any], analysed: bool) -> None:
    """Under the Flagger engine the same rule holds the Canary: a promotion is gated by checks."""
    manifest = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "checkout", "namespace": "payments"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
            "service": {"port": 80},
            "analysis": {"threshold": 3, **analysis},
        },
    }
    assert crd_errors(manifest) == []
    candidate = k8s_object(views(PROD), CANARY, "payments/checkout/canary", manifest)
    found = messages("k8s-rollout-analysis-in-production", [candidate], production=True)
    assert (found == []) is analysed, found
    assert messages("k8s-rollout-analysis-in-production", [candidate], production=False) == []


def test_the_pack_config_can_declare_a_stack_production() -> None:
    resources = views(DEV)
    candidate = k8s_object(resources, ROLLOUT, "checkout", rollout({"canary": {"steps": STEPS}}))
    config = PackConfig.parse(
        {"k8s-rollout-analysis-in-production": {"production": True}}, "dev.json", registry.RULES
    )
    assert messages("k8s-rollout-analysis-in-production", [candidate], config=config)


# Ingresses: HTTPS wherever the internet connects ---------------------------------------------

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
ALB = "alb.ingress.kubernetes.io"


def with_annotations(ingress: Resource, **changes: Any) -> Resource:
    """The Ingress with annotations set (a value) or removed (None), by name after `alb.…/`."""
    metadata = copy.deepcopy(ingress.inputs["metadata"])
    for key, value in changes.items():
        name = f"{ALB}/{key.replace('_', '-')}"
        if value is None:
            metadata["annotations"].pop(name, None)
        else:
            metadata["annotations"][name] = value
    return edited(ingress, metadata=metadata)


def test_shipped_ingresses_serve_https() -> None:
    for stack in (DEV, PROD):
        resources = views(stack)
        assert [r for r in resources if r.type == INGRESS], stack
        assert messages("k8s-ingress-https", resources) == []


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"listen_ports": '[{"HTTP": 80}]'},
            ["internet-facing, but no HTTPS listener (listen-ports)"],
        ),
        (
            {"ssl_redirect": None},
            ["internet-facing on plain HTTP: an HTTP listener without ssl-redirect to HTTPS"],
        ),
        (
            {"certificate_arn": None, "tls": None},
            [
                "internet-facing without a certificate (no certificate-arn annotation, no "
                "spec.tls hosts to discover one by)"
            ],
        ),
        # The controller's default listener is HTTP :80 when no certificate ARN is annotated.
        (
            {"listen_ports": None, "certificate_arn": None, "tls": None, "ssl_redirect": None},
            [
                "internet-facing, but no HTTPS listener (listen-ports)",
                "internet-facing without a certificate (no certificate-arn annotation, no "
                "spec.tls hosts to discover one by)",
                "internet-facing on plain HTTP: an HTTP listener without ssl-redirect to HTTPS",
            ],
        ),
        (
            {"listen_ports": "443"},
            [f"{ALB}/listen-ports is not a JSON list of {{protocol: port}} objects"],
        ),
        # HTTPS only: nothing listens in clear text, so nothing needs redirecting.
        ({"listen_ports": '[{"HTTPS": 443}]', "ssl_redirect": None}, []),
        # A certificate discovered by the controller from spec.tls hosts.
        ({"certificate_arn": None}, []),
        # Internal load balancers are not judged by this rule.
        ({"scheme": "internal", "listen_ports": '[{"HTTP": 80}]', "ssl_redirect": None}, []),
    ],
)
def test_internet_facing_ingresses_need_https_a_certificate_and_a_redirect(
    changes: dict[str, Any], expected: list[str]
) -> None:
    resources = views(DEV)
    ingress = next(r for r in resources if r.type == INGRESS)
    tls = changes.pop("tls", "keep")
    candidate = with_annotations(ingress, **changes)
    if tls is None:
        candidate = edited(
            candidate, spec={k: v for k, v in ingress.inputs["spec"].items() if k != "tls"}
        )
    manifest = copy.deepcopy(dict(candidate.inputs))
    valid(manifest)
    assert sorted(messages("k8s-ingress-https", [candidate])) == sorted(expected)
    if expected:
        found = violations("k8s-ingress-https", swapped(resources, ingress, candidate))
        assert len(found) == len(expected)
        assert all(v.urn == ingress.urn and v.mandatory for v in found)


# Production images: digest or immutable ECR tags ----------------------------------------------

IMMUTABLE_RULE = "k8s-images-immutable-in-production"
WORKLOAD_TYPES = tuple(POD_SPEC_PATHS)
ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def ecr_repository(resources: list[Resource], name: str, mutability: str) -> Resource:
    """An `aws:ecr/repository:Repository` in the stack, with the inputs pulumi-aws takes."""
    return Resource(
        type="aws:ecr/repository:Repository",
        urn=f"urn:pulumi:prod::paved-road::aws:ecr/repository:Repository::{name}",
        name=name,
        inputs={"name": name, "imageTagMutability": mutability},
    )


def image_config(**options: Any) -> PackConfig:
    return PackConfig.parse({IMMUTABLE_RULE: options}, "prod.json", registry.RULES)


@pytest.mark.parametrize(
    "image, repositories, options, passes",
    [
        ("public.ecr.aws/acme/api@sha256:" + "a" * 64, [], {}, True),
        (f"{ECR_HOST}/team/api@sha256:" + "b" * 64, [], {}, True),
        (f"{ECR_HOST}/team/api:1.2.3", [("team/api", "IMMUTABLE")], {}, True),
        (f"{ECR_HOST}/team/api:1.2.3", [("team/api", "MUTABLE")], {}, False),
        (f"{ECR_HOST}/team/api:1.2.3", [("team/api", "IMMUTABLE_WITH_EXCLUSION")], {}, False),
        (f"{ECR_HOST}/team/api:1.2.3", [], {}, False),
        (
            f"{ECR_HOST}/team/api:1.2.3",
            [],
            {"immutableRepositories": [f"{ECR_HOST}/team/api"]},
            True,
        ),
        (f"{ECR_HOST}/team/api:1.2.3", [], {"immutableRepositories": [f"{ECR_HOST}/team/"]}, True),
        (f"{ECR_HOST}/team/api:1.2.3", [], {"immutableRepositories": [f"{ECR_HOST}/team"]}, False),
        (
            f"{ECR_HOST}/team/api:1.2.3",
            [],
            {"immutableRepositories": [f"{ECR_HOST}/team/ap"]},
            False,
        ),
        ("quay.io/acme/api:2.0", [], {}, False),
        ("quay.io/acme/api:2.0", [], {"immutableRepositories": ["quay.io/acme/"]}, False),
        ("quay.io/acme/api:2.0", [], {"exemptImages": ["quay.io/acme/"]}, True),
        ("quay.io/acme/api:2.0", [], {"exemptImages": ["quay.io/acme/api:2.0"]}, True),
        (f"{ECR_HOST}.evil.example/team/api:1.2.3", [("team/api", "IMMUTABLE")], {}, False),
    ],
)
def test_production_images_are_digests_or_immutable_ecr_tags(
    image: str, repositories: list[tuple[str, str]], options: dict[str, Any], passes: bool
) -> None:
    resources = views(PROD)
    app = with_pod(workload(resources), container={"image": image})
    stack = [app, *(ecr_repository(resources, n, m) for n, m in repositories)]
    found = messages(IMMUTABLE_RULE, stack, production=True, config=image_config(**options))
    assert (found == []) is passes, found
    if not passes:
        (message,) = found
        assert image in message and "mutable tag in production" in message
    assert messages(IMMUTABLE_RULE, stack, production=False, config=image_config(**options)) == []


def test_every_workload_kind_and_container_list_is_judged() -> None:
    resources = views(PROD)
    mutable = "quay.io/acme/api:2.0"
    agent = k8s_object(resources, "kubernetes:apps/v1:DaemonSet", "agent", daemon_set())
    kinds = [r for r in [*resources, agent] if r.type in WORKLOAD_TYPES]
    assert {r.type.rsplit(":", 1)[1] for r in kinds} >= {
        "Deployment",
        "Rollout",
        "CronJob",
        "DaemonSet",
    }
    for workload_resource in kinds:
        spec_path = POD_SPEC_PATHS[workload_resource.type]
        inputs = copy.deepcopy(dict(workload_resource.inputs))
        spec = inputs
        for key in spec_path:
            spec = spec[key]
        spec.setdefault("initContainers", []).append({"name": "init", "image": mutable})
        changed = replace(workload_resource, inputs=inputs)
        found = messages(IMMUTABLE_RULE, [changed], production=True)
        assert any(m.startswith("initContainers[init]") for m in found), workload_resource.type


def test_shipped_production_passes_only_with_its_declared_repositories() -> None:
    """prod.json lists the teams' repositories (created outside this program, immutable); without
    that list every shipped production workload fails."""
    resources = views(PROD)
    shipped = PackConfig.load(ROOT / "policies" / "config" / "prod.json", registry.RULES)
    assert messages(IMMUTABLE_RULE, resources, config=shipped) == []
    assert shipped.options(registry.BY_NAME[IMMUTABLE_RULE])["exemptImages"] == []
    bare = messages(IMMUTABLE_RULE, resources, production=True)
    workloads = [r for r in resources if r.type in WORKLOAD_TYPES]
    assert len(bare) >= len(workloads) >= 5
    assert messages(IMMUTABLE_RULE, views(DEV)) == [], "dev and staging are not production"


# Serving workloads --------------------------------------------------------------------------------

SERVING = "k8s-serving-redundant"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"


def stateful_set(replicas: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceName": "ledger",
        "selector": {"matchLabels": {"app": "ledger"}},
        "template": {
            "metadata": {"labels": {"app": "ledger", "tier": "data"}},
            "spec": {"containers": [{"name": "ledger", "image": "ledger:1.0.0"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return valid(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "ledger", "namespace": "payments"},
            "spec": spec,
        }
    )


def ledger_service(namespace: str = "payments", type_: str = "ClusterIP") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "selector": {"app": "ledger"}, "ports": [{"port": 80}]}
    if type_ == "ExternalName":
        spec = {"type": type_, "externalName": "ledger.example.com"}
    return valid(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "ledger", "namespace": namespace},
            "spec": spec,
        }
    )


def budget(selector: dict[str, Any]) -> dict[str, Any]:
    return valid(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "ledger", "namespace": "payments"},
            "spec": {"maxUnavailable": 1, "selector": selector},
        }
    )


def scaled_object(**spec: Any) -> dict[str, Any]:
    manifest = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "ledger", "namespace": "payments"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "ledger"},
            "triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}],
            **spec,
        },
    }
    assert crd_errors(manifest) == []
    return manifest


def test_shipped_serving_workloads_are_redundant() -> None:
    for stack in (DEV, "staging", PROD):
        assert messages(SERVING, views(stack)) == [], stack


def test_a_served_workload_runs_two_pods_under_a_disruption_budget() -> None:
    resources = views(DEV)

    def objects(*manifests: tuple[str, dict[str, Any]]) -> list[Resource]:
        return [k8s_object(resources, t, f"ledger-{i}", m) for i, (t, m) in enumerate(manifests)]

    svc, pdb = "kubernetes:core/v1:Service", "kubernetes:policy/v1:PodDisruptionBudget"
    single = objects((STATEFUL_SET, stateful_set()), (svc, ledger_service()))
    assert messages(SERVING, [*resources, *single]) == [
        "StatefulSet ledger serves Service ledger and no PodDisruptionBudget selects its pods: a "
        "node drain may evict them all at once",
        "StatefulSet ledger serves Service ledger with 1 pod(s) at the fewest (no replicas set "
        "and no autoscaler: Kubernetes runs 1): run at least 2, or one pod's restart is an outage",
    ]
    violation, _ = violations(SERVING, [*resources, *single])
    assert violation.level == "advisory" and violation.urn == single[0].urn
    covered = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["data"]}]}
    redundant = objects(
        (STATEFUL_SET, stateful_set(3)), (svc, ledger_service()), (pdb, budget(covered))
    )
    assert messages(SERVING, [*resources, *redundant]) == []
    # Not behind a Service (another namespace's, or an ExternalName one): not judged.
    for unserved in (ledger_service("search"), ledger_service(type_="ExternalName")):
        assert (
            messages(
                SERVING, [*resources, *objects((STATEFUL_SET, stateful_set()), (svc, unserved))]
            )
            == []
        )
    # A budget that selects other pods covers nothing.
    elsewhere = {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["data"]}]}
    uncovered = objects(
        (STATEFUL_SET, stateful_set(2)), (svc, ledger_service()), (pdb, budget(elsewhere))
    )
    assert [m.split(":")[0] for m in messages(SERVING, [*resources, *uncovered])] == [
        "StatefulSet ledger serves Service ledger and no PodDisruptionBudget selects its pods"
    ]


def test_an_autoscaler_floor_is_the_fewest_pods() -> None:
    resources = views(DEV)
    scaler = "kubernetes:keda.sh/v1alpha1:ScaledObject"
    svc, pdb = "kubernetes:core/v1:Service", "kubernetes:policy/v1:PodDisruptionBudget"
    base = [
        k8s_object(resources, STATEFUL_SET, "ledger", stateful_set(4)),
        k8s_object(resources, svc, "ledger-svc", ledger_service()),
        k8s_object(resources, pdb, "ledger-pdb", budget({"matchLabels": {"app": "ledger"}})),
    ]
    assert messages(SERVING, [*resources, *base]) == []
    # KEDA scales to zero unless told otherwise: its floor, not `replicas`, is what runs.
    keda = k8s_object(resources, scaler, "ledger-keda", scaled_object())
    assert messages(SERVING, [*resources, *base, keda]) == [
        "StatefulSet ledger serves Service ledger with 0 pod(s) at the fewest (ScaledObject "
        "ledger minReplicaCount 0): run at least 2, or one pod's restart is an outage"
    ]
    floor = k8s_object(resources, scaler, "ledger-keda", scaled_object(minReplicaCount=2))
    assert messages(SERVING, [*resources, *base, floor]) == []
