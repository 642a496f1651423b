"""Kubernetes: every namespace Pod Security `restricted` bar a listed few, tenant namespaces
isolated, feature flags read from their own namespace, no privileged pods, pinned images, no
public Services
outside the platform, progressive delivery with analysis in production, and (advised) redundant
serving workloads.

Rules read objects as the Kubernetes provider receives them (`apiVersion`, `kind`, `metadata`,
`spec` in wire names), so they hold for any object of the right kind — the tenants', the delivery
layer's, or a future layer's. Objects rendered inside Helm releases are not Pulumi resources and
are left to admission control (Pod Security, Kyverno) in the cluster.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Mapping, Optional

from .core import (
    ADVISORY,
    CRITICAL,
    HIGH,
    MEDIUM,
    PLATFORM_LABEL,
    TENANT_LABEL,
    Context,
    Finding,
    Resource,
    UNKNOWN,
    Stack,
    as_list,
    dig,
    is_unknown,
    resource_rule,
    stack_rule,
)

NAMESPACE = "kubernetes:core/v1:Namespace"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"
CLUSTER_ROLE_BINDINGS = (
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBindingPatch",
)
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
CANARY = "kubernetes:flagger.app/v1beta1:Canary"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
# The AWS Load Balancer Controller's annotations (docs/guide/ingress/annotations.md, v2.13).
ALB = "alb.ingress.kubernetes.io/"
POD_SECURITY_MODES = ("enforce", "audit", "warn")
# Kubernetes groups of tenant roles: `paved-road:<tenant>:<role>` (components/tenant.py).
TENANT_GROUP = re.compile(r"^paved-road:[^:]+:[^:]+$")

# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    ROLLOUT: ("spec", "template", "spec"),
}
WORKLOADS = tuple(POD_SPEC_PATHS) + tuple(f"{t}Patch" for t in POD_SPEC_PATHS if t != ROLLOUT)
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def _tenant_namespaces(stack: Stack) -> list[Resource]:
    return [ns for ns in stack.of_type(NAMESPACE) if ns.labels.get(TENANT_LABEL)]


@resource_rule(
    name="k8s-tenant-pod-security",
    description="Tenant namespaces enforce, audit and warn at Pod Security `restricted`.",
    remediation=(
        "Label the namespace pod-security.kubernetes.io/enforce, /audit and /warn = restricted "
        "(components/tenant.py does for every tenant namespace)."
    ),
    severity=HIGH,
    types=(NAMESPACE,),
)
def tenant_pod_security(resource: Resource, context: Context) -> Iterator[str]:
    labels = resource.labels
    if not labels.get(TENANT_LABEL):
        return
    for mode in POD_SECURITY_MODES:
        value = labels.get(f"pod-security.kubernetes.io/{mode}")
        if not is_unknown(value) and value != "restricted":
            yield f"tenant namespace label pod-security.kubernetes.io/{mode} is {value!r}"


# Namespaces whose pods may run beyond Pod Security `restricted`, and why. Each entry is a hole
# in the cluster's isolation, so it names the workload that needs it; adding one is a reviewed
# change here, not a label someone sets on a namespace. Audit and warn stay at `restricted`
# everywhere, so what runs beyond it keeps showing up.
POD_SECURITY_EXCEPTIONS: Mapping[str, str] = {
    # node-exporter shares the node's network and PID namespaces and mounts its root filesystem
    # (hostNetwork, hostPID, hostPath): what it measures is the node (components/core/
    # observability.py).
    "monitoring": "node-exporter (hostNetwork, hostPID, hostPath)",
    # Fluent Bit reads every container's log files from the node's /var/log (hostPath).
    "logging": "Fluent Bit (hostPath /var/log)",
    # No host access, but not `restricted` either: the OpenFeature operator's chart (v0.9.2)
    # states neither a seccomp profile nor dropped capabilities for its manager and has no
    # values to add them, so its namespace enforces `baseline` (components/delivery/flags.py).
    "open-feature": "the OpenFeature operator's manager (no seccomp profile or dropped "
    "capabilities in its chart)",
}
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"


@resource_rule(
    name="k8s-namespace-pod-security",
    description=(
        "Every namespace enforces Pod Security `restricted` (and audits and warns at it), except "
        "the few listed with the workload that needs more."
    ),
    remediation=(
        "Label the namespace pod-security.kubernetes.io/enforce=restricted (platform_namespace "
        "and the Tenant component do). A platform workload that truly needs host access gets its "
        "namespace added to POD_SECURITY_EXCEPTIONS in policies/paved_road_policies/"
        "kubernetes.py, with the reason, in a reviewed change."
    ),
    severity=HIGH,
    types=(NAMESPACE, NAMESPACE_PATCH),
    options={
        "exceptions": {
            "type": "array",
            "items": {"type": "string"},
            "default": sorted(POD_SECURITY_EXCEPTIONS),
            "description": "Namespaces that may enforce a level other than `restricted`.",
        }
    },
)
def namespace_pod_security(resource: Resource, context: Context) -> Iterator[str]:
    name = resource.object_name
    if is_unknown(name) or is_unknown(resource.get("metadata", "labels")):
        return
    labels = resource.labels
    excepted = name in as_list(context.option("exceptions"))
    for mode in POD_SECURITY_MODES:
        key = f"pod-security.kubernetes.io/{mode}"
        value = labels.get(key)
        if is_unknown(value) or value == "restricted":
            continue
        if mode == "enforce" and excepted and value is not None:
            continue
        if value is None and resource.type == NAMESPACE_PATCH:
            continue  # a patch that does not set the label leaves it as it is
        if value is None:
            yield (
                f"namespace {name} has no {key} label: the cluster's default level "
                "(privileged) applies"
            )
        else:
            yield f"namespace {name} sets {key}={value}; only `restricted` is allowed here"


def _denies(policy: Resource, direction: str) -> bool:
    """Whether a NetworkPolicy selects every pod and allows nothing in `direction`."""
    spec = policy.get("spec") or {}
    selector = spec.get("podSelector")
    if not isinstance(selector, Mapping) or any(selector.get(k) for k in selector):
        return False
    # Without policyTypes, Ingress always applies and Egress only when egress rules exist.
    types = spec.get("policyTypes") or ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    return direction in types and not spec.get(direction.lower())


@stack_rule(
    name="k8s-tenant-guardrails",
    description=(
        "Every tenant namespace has a ResourceQuota, a LimitRange and a default-deny "
        "NetworkPolicy (ingress and egress)."
    ),
    remediation=(
        "Create tenant namespaces through the Tenant component, which adds `tenant-quota`, "
        "`tenant-limits` and the `default-deny` NetworkPolicy to each."
    ),
    severity=HIGH,
)
def tenant_guardrails(stack: Stack, context: Context) -> Iterator[Finding]:
    # Indexed once by namespace: scanning every object per namespace made the rule quadratic
    # (most of a 200-tenant plan's checking time).
    by_namespace: dict[tuple[str, Any], list[Resource]] = {}
    for type_ in (RESOURCE_QUOTA, LIMIT_RANGE, NETWORK_POLICY):
        for resource in stack.of_type(type_):
            namespace = resource.namespace
            if isinstance(namespace, str):  # what a namespace's name can equal
                by_namespace.setdefault((type_, namespace), []).append(resource)

    def in_namespace(type_: str, namespace: Any) -> list[Resource]:
        return by_namespace.get((type_, namespace), [])

    for ns in _tenant_namespaces(stack):
        name = ns.object_name
        if is_unknown(name):
            continue
        if not in_namespace(RESOURCE_QUOTA, name):
            yield Finding(ns.urn, f"tenant namespace {name} has no ResourceQuota")
        if not in_namespace(LIMIT_RANGE, name):
            yield Finding(ns.urn, f"tenant namespace {name} has no LimitRange")
        policies = in_namespace(NETWORK_POLICY, name)
        missing = [d for d in ("Ingress", "Egress") if not any(_denies(p, d) for p in policies)]
        if missing:
            yield Finding(
                ns.urn,
                f"tenant namespace {name} has no default-deny NetworkPolicy for "
                f"{' and '.join(missing).lower()}",
            )


@stack_rule(
    name="k8s-platform-default-deny",
    description=(
        "Every platform namespace has a default-deny NetworkPolicy (ingress and egress), like a "
        "tenant's."
    ),
    remediation=(
        "Create platform namespaces with `platform_namespace` (components/core/base.py), which "
        "adds `default-deny` and the openings listed for the namespace in "
        "components/core/network_policies.py."
    ),
    severity=HIGH,
)
def platform_default_deny(stack: Stack, context: Context) -> Iterator[Finding]:
    policies = stack.of_type(NETWORK_POLICY)
    for ns in stack.of_type(NAMESPACE):
        name = ns.object_name
        if is_unknown(name) or ns.labels.get(PLATFORM_LABEL) != "true":
            continue
        own = [p for p in policies if p.namespace == name]
        missing = [d for d in ("Ingress", "Egress") if not any(_denies(p, d) for p in own)]
        if missing:
            yield Finding(
                ns.urn,
                f"platform namespace {name} has no default-deny NetworkPolicy for "
                f"{' and '.join(missing).lower()}",
            )


@resource_rule(
    name="k8s-no-tenant-cluster-role-binding",
    description="No ClusterRoleBinding grants a tenant group (`paved-road:<tenant>:<role>`).",
    remediation=(
        "Bind tenant groups with RoleBindings in the tenant's own namespaces; cluster-wide "
        "rights belong to the platform."
    ),
    severity=HIGH,
    types=CLUSTER_ROLE_BINDINGS,
)
def no_tenant_cluster_role_binding(resource: Resource, context: Context) -> Iterator[str]:
    for subject in as_list(resource.get("subjects")):
        if not isinstance(subject, Mapping) or subject.get("kind") != "Group":
            continue
        group = subject.get("name")
        if isinstance(group, str) and TENANT_GROUP.match(group):
            role = dig(resource.inputs, "roleRef", "name")
            yield f"binds tenant group {group} cluster-wide to {role!r}"


FEATURE_FLAG_SOURCE = "kubernetes:core.openfeature.dev/v1beta1:FeatureFlagSource"


@resource_rule(
    name="k8s-flag-sources-own-namespace",
    description=(
        "Every FeatureFlagSource reads flags with flagd's `file` sync from its own namespace, "
        "never through the API server or another namespace."
    ),
    remediation=(
        "Give every source `provider: file` and a source name without '<namespace>/' (and no "
        "other defaultSyncProvider), as components/flags.py renders them: the `kubernetes` sync "
        "binds the pod's service account to the OpenFeature operator's cluster-wide reader of "
        "every tenant's flags."
    ),
    severity=HIGH,
    types=(FEATURE_FLAG_SOURCE,),
)
def flag_sources_own_namespace(resource: Resource, context: Context) -> Iterator[str]:
    spec = resource.get("spec")
    if is_unknown(spec) or not isinstance(spec, Mapping):
        return
    default = spec.get("defaultSyncProvider")
    if default not in (None, "file") and not is_unknown(default):
        yield f"defaultSyncProvider is {default!r}, not 'file'"
    for index, source in enumerate(as_list(spec.get("sources"))):
        if not isinstance(source, Mapping) or is_unknown(source):
            continue
        provider, name = source.get("provider"), source.get("source")
        if not is_unknown(provider) and provider != "file":
            yield f"sources[{index}] uses provider {provider!r}, not 'file'"
        if isinstance(name, str) and "/" in name:
            yield f"sources[{index}] reads {name!r}, outside its own namespace"


def pod_spec(resource: Resource) -> Optional[Mapping[str, Any]]:
    path = POD_SPEC_PATHS.get(resource.type.removesuffix("Patch"))
    spec = resource.get(*path) if path else None
    return spec if isinstance(spec, Mapping) else None


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in CONTAINER_LISTS:
        for container in as_list(spec.get(key)):
            if isinstance(container, Mapping):
                yield f"{key}[{container.get('name')}]", container


@resource_rule(
    name="k8s-no-privileged-pods",
    description="No pod template is privileged or shares the node's network, PID or IPC namespace.",
    remediation=(
        "Remove `privileged: true` and `hostNetwork`/`hostPID`/`hostIPC`; workloads that need "
        "the node belong to the platform, in a Helm chart under Pod Security admission."
    ),
    severity=CRITICAL,
    types=WORKLOADS,
)
def no_privileged_pods(resource: Resource, context: Context) -> Iterator[str]:
    spec = pod_spec(resource)
    if spec is None:
        return
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host) is True:
            yield f"pod spec sets {host}: true"
    for where, container in _containers(spec):
        if dig(container, "securityContext", "privileged") is True:
            yield f"{where} is privileged"


def image_problem(image: Any) -> Optional[str]:
    """Why an image reference is not pinned, or None when it names a fixed tag or a digest."""
    if is_unknown(image):
        return None
    if not isinstance(image, str) or not image:
        return "has no image"
    if "@" in image:
        return None  # a digest pins the bytes, whatever the tag says
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (it means :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image {image!r} uses the floating tag 'latest'"
    return None


@resource_rule(
    name="k8s-images-pinned",
    description="Every container image is pinned to a tag other than `latest`, or a digest.",
    remediation="Reference images as `<repository>:<version>` or `<repository>@sha256:<digest>`.",
    severity=MEDIUM,
    types=WORKLOADS,
)
def images_pinned(resource: Resource, context: Context) -> Iterator[str]:
    spec = pod_spec(resource)
    if spec is None:
        return
    for where, container in _containers(spec):
        problem = image_problem(container.get("image"))
        if problem:
            yield f"{where} {problem}"


ECR_REPOSITORY = "aws:ecr/repository:Repository"
# A private ECR registry's host (the partition's `.cn` suffix included).
ECR_IMAGE = re.compile(
    r"(?P<registry>[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?)/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::[\w][\w.-]*)?\Z"
)


def _listed(image_or_repository: str, entries: Any) -> bool:
    """True when `entries` (a pack option) names it exactly or by a prefix ending in `/`."""
    return any(
        isinstance(entry, str)
        and entry
        and (
            image_or_repository == entry
            or (entry.endswith("/") and image_or_repository.startswith(entry))
        )
        for entry in as_list(entries)
    )


@stack_rule(
    name="k8s-images-immutable-in-production",
    description=(
        "In production every workload image is pinned by digest or comes from an ECR repository "
        "whose tags are immutable."
    ),
    remediation=(
        "Reference the image as `<repository>@sha256:<digest>`, or push it to an ECR repository "
        "with `imageTagMutability: IMMUTABLE` (in this stack, or listed in the pack config's "
        "`immutableRepositories`). An exception is explicit: the image's prefix in `exemptImages`."
    ),
    severity=HIGH,
    options={
        "production": {
            "type": "boolean",
            "description": (
                "Whether this stack is production; unset, the stack's paved-road:production."
            ),
        },
        "immutableRepositories": {
            "type": "array",
            "default": [],
            "description": (
                "ECR repositories (`<registry>/<repository>`, or a prefix ending in `/`) created "
                "outside this stack with `imageTagMutability: IMMUTABLE`."
            ),
        },
        "exemptImages": {
            "type": "array",
            "default": [],
            "description": (
                "The explicit opt-out: images (exact, or a prefix ending in `/`) that may run by a "
                "mutable tag in production."
            ),
        },
    },
)
def images_immutable_in_production(stack: Stack, context: Context) -> Iterator[Finding]:
    """A tag, even a version, can be pushed again: in production only a digest, or a tag in a
    repository that refuses overwrites, names the bytes that were reviewed. Helm releases' images
    are pinned in components/versions.py and are not Pulumi resources, so not judged here."""
    if not context.production:
        return
    immutable = {
        str(repo.get("name"))
        for repo in stack.of_type(ECR_REPOSITORY)
        if repo.get("imageTagMutability") == "IMMUTABLE"
    }
    for workload in stack.of_type(*WORKLOADS):
        spec = pod_spec(workload)
        if spec is None:
            continue
        for where, container in _containers(spec):
            image = container.get("image")
            if is_unknown(image) or not isinstance(image, str) or "@sha256:" in image:
                continue
            if _listed(image, context.option("exemptImages")):
                continue
            ecr = ECR_IMAGE.match(image)
            if ecr is not None:
                repository = ecr.group("repository")
                if repository in immutable or _listed(
                    f"{ecr.group('registry')}/{repository}", context.option("immutableRepositories")
                ):
                    continue
                why = f"ECR repository {repository!r} is not known to have immutable tags"
            else:
                why = "it is neither pinned by digest nor in an ECR repository"
            yield Finding(
                workload.urn,
                f"{where} runs {image!r} by a mutable tag in production: {why}",
            )


@stack_rule(
    name="k8s-load-balancer-platform-only",
    description=(
        "Services of type LoadBalancer live only in platform namespaces "
        f'(labelled `{PLATFORM_LABEL}: "true"`).'
    ),
    remediation=(
        "Expose tenant workloads through an Ingress on the platform's load balancer (or a "
        "ClusterIP Service behind it), never through their own LoadBalancer Service."
    ),
    severity=HIGH,
)
def load_balancer_platform_only(stack: Stack, context: Context) -> Iterator[Finding]:
    platform = {
        ns.object_name
        for ns in stack.of_type(NAMESPACE)
        if str(ns.labels.get(PLATFORM_LABEL)).lower() == "true"
    }
    for service in stack.of_type(SERVICE):
        if dig(service.inputs, "spec", "type") != "LoadBalancer":
            continue
        namespace = service.namespace or "default"
        if is_unknown(namespace) or namespace in platform:
            continue
        yield Finding(
            service.urn,
            f"Service {service.object_name} of type LoadBalancer is in namespace {namespace}, "
            "which is not a platform namespace",
        )


def _has_templates(analysis: Any) -> bool:
    return isinstance(analysis, Mapping) and bool(as_list(analysis.get("templates")))


@resource_rule(
    name="k8s-rollout-analysis-in-production",
    description=(
        "In production every Argo Rollout (or Flagger Canary) runs analysis before it promotes."
    ),
    remediation=(
        "Give the canary strategy `analysis` (background) or `analysis` steps, or the blue-green "
        "strategy `prePromotionAnalysis`/`postPromotionAnalysis`, with at least one template; "
        "give a Flagger Canary at least one `analysis.metrics` entry."
    ),
    severity=HIGH,
    types=(ROLLOUT, CANARY),
    options={
        "production": {
            "type": "boolean",
            "description": (
                "Whether this stack is production; unset, the stack's paved-road:production."
            ),
        }
    },
)
def rollout_analysis_in_production(resource: Resource, context: Context) -> Iterator[str]:
    if not context.production:
        return
    if resource.type == CANARY:
        metrics = resource.get("spec", "analysis", "metrics")
        if is_unknown(metrics):
            return
        checks = [m for m in as_list(metrics) if isinstance(m, Mapping)]
        if not any(m.get("templateRef") or m.get("query") for m in checks):
            yield "the Canary's analysis has no metrics, so nothing gates a promotion"
        return
    strategy = resource.get("spec", "strategy")
    if is_unknown(strategy):
        return
    strategy = strategy if isinstance(strategy, Mapping) else {}
    canary, blue_green = strategy.get("canary"), strategy.get("blueGreen")
    if isinstance(canary, Mapping):
        steps = [s for s in as_list(canary.get("steps")) if isinstance(s, Mapping)]
        if _has_templates(canary.get("analysis")) or any(
            _has_templates(s.get("analysis")) for s in steps
        ):
            return
        yield "canary strategy runs no analysis (no background analysis, no analysis step)"
    elif isinstance(blue_green, Mapping):
        if _has_templates(blue_green.get("prePromotionAnalysis")) or _has_templates(
            blue_green.get("postPromotionAnalysis")
        ):
            return
        yield "blueGreen strategy runs no pre- or post-promotion analysis"
    else:
        yield "the Rollout has no canary or blueGreen strategy, so nothing gates a promotion"


def _listen_protocols(annotations: Mapping[str, Any]) -> Any:
    """The protocols of the ALB's listeners (`listen-ports`), or the controller's default: HTTPS
    when a certificate ARN is annotated, HTTP otherwise. UNKNOWN while unknown; None if
    malformed."""
    raw = annotations.get(f"{ALB}listen-ports")
    if is_unknown(raw):
        return UNKNOWN
    if raw is None:
        return {"HTTPS"} if annotations.get(f"{ALB}certificate-arn") else {"HTTP"}
    try:
        ports = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(ports, list) or not all(isinstance(p, Mapping) for p in ports):
        return None
    return {str(protocol).upper() for port in ports for protocol in port}


@resource_rule(
    name="k8s-ingress-https",
    description=(
        "An internet-facing ALB Ingress listens on HTTPS with a certificate and redirects HTTP "
        "to HTTPS."
    ),
    remediation=(
        "Annotate the Ingress with alb.ingress.kubernetes.io/listen-ports "
        "'[{\"HTTP\": 80}, {\"HTTPS\": 443}]', ssl-redirect '443', and a certificate: "
        "certificate-arn, or spec.tls hosts for the controller to discover an ACM certificate "
        "by (the platform's app templates and Argo CD do all of this)."
    ),
    severity=HIGH,
    types=(INGRESS, f"{INGRESS}Patch"),
)
def ingress_https(resource: Resource, context: Context) -> Iterator[str]:
    annotations = resource.get("metadata", "annotations")
    if not isinstance(annotations, Mapping):
        return
    if annotations.get(f"{ALB}scheme") != "internet-facing":
        return
    protocols = _listen_protocols(annotations)
    if is_unknown(protocols):
        return
    if protocols is None:
        yield f"{ALB}listen-ports is not a JSON list of {{protocol: port}} objects"
        return
    if "HTTPS" not in protocols:
        yield "internet-facing, but no HTTPS listener (listen-ports)"
    certificate = annotations.get(f"{ALB}certificate-arn")
    tls_hosts = [
        host
        for entry in as_list(resource.get("spec", "tls"))
        if isinstance(entry, Mapping)
        for host in as_list(entry.get("hosts"))
    ]
    if not certificate and not tls_hosts:
        yield (
            "internet-facing without a certificate (no certificate-arn annotation, no spec.tls "
            "hosts to discover one by)"
        )
    if "HTTP" in protocols and not annotations.get(f"{ALB}ssl-redirect"):
        yield "internet-facing on plain HTTP: an HTTP listener without ssl-redirect to HTTPS"


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
SERVING_WORKLOADS = (DEPLOYMENT, STATEFUL_SET, ROLLOUT)
AUTOSCALERS = (
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
)
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DISRUPTION_BUDGET = "kubernetes:policy/v1:PodDisruptionBudget"
# Two pods: one can be drained, rescheduled or crash while the other serves.
MIN_SERVING_REPLICAS = 2


def selects(selector: Any, labels: Mapping[str, Any]) -> Any:
    """Whether a LabelSelector (matchLabels, matchExpressions) selects pods labelled `labels`;
    an empty selector selects every pod, None none. UNKNOWN when the engine does not know."""
    if selector is None:
        return False
    if is_unknown(selector) or not isinstance(selector, Mapping):
        return UNKNOWN if is_unknown(selector) else False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if is_unknown(match_labels) or is_unknown(expressions):
        return UNKNOWN
    if not isinstance(match_labels, Mapping) or any(
        labels.get(key) != value for key, value in match_labels.items()
    ):
        return False
    for expression in as_list(expressions):
        if not isinstance(expression, Mapping):
            return False
        key, operator = expression.get("key"), expression.get("operator")
        values = as_list(expression.get("values"))
        present = key in labels
        if not {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(operator), False):
            return False
    return True


def _in_namespace(resource: Resource) -> Any:
    namespace = resource.namespace
    return "default" if namespace is None else namespace


def _fewest_pods(workload: Resource, kind: str, stack: Stack) -> Optional[tuple[int, str]]:
    """The fewest pods a workload runs and what says so: its autoscalers' floor (an HPA's
    `minReplicas`, default 1; a KEDA ScaledObject's `minReplicaCount`, default 0), else its own
    `replicas` (default 1). None when a value is unknown during a preview."""
    name, namespace = workload.object_name, _in_namespace(workload)
    floors: list[tuple[int, str]] = []
    for scaler in stack.of_type(*AUTOSCALERS, SCALED_OBJECT):
        target = scaler.get("spec", "scaleTargetRef")
        if not isinstance(target, Mapping) or _in_namespace(scaler) != namespace:
            continue
        keda = scaler.type == SCALED_OBJECT
        if target.get("name") != name or target.get("kind", "Deployment" if keda else None) != kind:
            continue
        field_name, default = ("minReplicaCount", 0) if keda else ("minReplicas", 1)
        floor = scaler.get("spec", field_name)
        if is_unknown(floor):
            return None
        floor = default if floor is None else floor
        floors.append((floor, f"{scaler.get('kind')} {scaler.object_name} {field_name} {floor}"))
    if floors:
        return min(floors, key=lambda f: f[0])
    replicas = workload.get("spec", "replicas")
    if is_unknown(replicas):
        return None
    if replicas is None:
        return 1, "no replicas set and no autoscaler: Kubernetes runs 1"
    return replicas, f"replicas {replicas}"


@stack_rule(
    name="k8s-serving-redundant",
    description=(
        "A workload behind a Service runs at least two pods (at its autoscaler's floor) and a "
        "PodDisruptionBudget covers them."
    ),
    remediation=(
        "Set the app's `replicas` to 2 or more in the tenant file (it is also the autoscaler's "
        "floor); the platform's app templates add the PodDisruptionBudget. A hand-written "
        "workload sets `replicas` (or its HorizontalPodAutoscaler's `minReplicas`) to 2 or more "
        "and gets a PodDisruptionBudget selecting its pods."
    ),
    severity=MEDIUM,
    level=ADVISORY,
)
def serving_redundant(stack: Stack, context: Context) -> Iterator[Finding]:
    """One pod behind a Service is an outage at every node drain, upgrade or crash; pods that a
    drain may evict all at once are the same outage, planned."""
    services = [
        s for s in stack.of_type(SERVICE) if dig(s.inputs, "spec", "type") != "ExternalName"
    ]
    budgets = stack.of_type(DISRUPTION_BUDGET)
    for workload in stack.of_type(*SERVING_WORKLOADS):
        labels = workload.get("spec", "template", "metadata", "labels")
        name, namespace = workload.object_name, _in_namespace(workload)
        if not isinstance(labels, Mapping) or is_unknown(name) or is_unknown(namespace):
            continue
        serving = [
            s
            for s in services
            if _in_namespace(s) == namespace
            and isinstance(dig(s.inputs, "spec", "selector"), Mapping)
            and dig(s.inputs, "spec", "selector")
            and selects({"matchLabels": dig(s.inputs, "spec", "selector")}, labels) is True
        ]
        if not serving:
            continue
        kind = workload.get("kind") or workload.type.rsplit(":", 1)[-1]
        where = f"{kind} {name} serves Service {serving[0].object_name}"
        fewest = _fewest_pods(workload, kind, stack)
        if fewest is not None and fewest[0] < MIN_SERVING_REPLICAS:
            yield Finding(
                workload.urn,
                f"{where} with {fewest[0]} pod(s) at the fewest ({fewest[1]}): run at least "
                f"{MIN_SERVING_REPLICAS}, or one pod's restart is an outage",
            )
        covered = [
            selects(b.get("spec", "selector"), labels)
            for b in budgets
            if _in_namespace(b) == namespace
        ]
        if not any(c is True or is_unknown(c) for c in covered):
            yield Finding(
                workload.urn,
                f"{where} and no PodDisruptionBudget selects its pods: a node drain may evict "
                "them all at once",
            )
