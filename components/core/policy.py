"""Policy in the cluster: Kyverno, and a baseline every team's workloads are held to.

The baseline catches what reviews miss and what breaks at 3 a.m.: mutable image tags, containers
without resource bounds, images from registries nobody scans, tenant workloads without their tenant
label (cost allocation and ownership), and workloads dropped into the `default` namespace. It audits
in development (violations land in policy reports, nothing is blocked) and enforces in production;
`paved-road:core.policy.mode` says which.

Rules are written once, for Pods: Kyverno's rule auto-generation extends them to Deployments,
StatefulSets, DaemonSets, Jobs and CronJobs, so a bad Deployment is rejected at `kubectl apply`, not
when its ReplicaSet fails to create Pods. Platform namespaces and Kubernetes' own are excluded in
every rule: the platform's charts pull public images and are pinned and reviewed in `versions.py`,
and a webhook that can block `kube-system` can take the cluster down with it. The chart's own
webhook and resource-filter exclusions are left at their defaults for the same reason.

Chart values are the kyverno chart's own keys (chart README "Values" tables, kyverno/kyverno
charts/kyverno; confirmed against a chart 3.9.0 consumer's values). The rule shapes follow the
upstream kyverno/policies `best-practices/*` policies, written with the per-rule
`validate.failureAction` that Kyverno 1.13+ prefers over the deprecated
`spec.validationFailureAction`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.alb import GROUP_ANNOTATION, ingress_group
from components.config import PolicyConfig
from components.core import ingress_hosts
from components.core.ingress_hosts import TenantHosts
from components.core.base import (
    ordered_after,
    ClusterContext,
    helm_release,
    platform_namespace,
    resources,
)
from components.kubernetes import MANAGED_BY_LABELS, TENANT_LABEL
from components.versions import CHARTS

NAMESPACES = ("kyverno",)
# Every workload in a tenant's namespaces carries it; namespaces carrying it are tenants'.
# Kubernetes' own namespaces: never subject to tenant policy (the chart filters them out too).
SYSTEM_NAMESPACES = ("kube-node-lease", "kube-public", "kube-system")
POLICY_API_VERSION = "kyverno.io/v1"
# Objects Kubernetes itself keeps in `default`: the API server's Service, the root CA ConfigMap.
KUBERNETES_OWNED_IN_DEFAULT = {"Service": "kubernetes", "ConfigMap": "kube-root-ca.crt"}
AUTOGEN_CONTROLLERS = "pod-policies.kyverno.io/autogen-controllers"

# The chart's default container security context, which already meets Pod Security `restricted`;
# repeated here so a chart upgrade that loosened it would show in the plan diff.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class PolicyArgs:
    context: ClusterContext
    config: PolicyConfig
    platform_namespaces: list[str]
    # Each tenant's namespaces and approved host names (restrict-ingress-hosts).
    tenant_hosts: Sequence[TenantHosts] = ()


class PolicyEngine(pulumi.ComponentResource):
    namespace: str
    cluster_policies: list[str]
    # The baseline as created: workloads admitted after these exist are held to them.
    policies: list[k8s.apiextensions.CustomResource]

    def __init__(
        self, name: str, args: PolicyArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Policy", name, None, opts)
        context, config = args.context, args.config
        self.namespace = NAMESPACES[0]
        namespace = platform_namespace(
            f"{name}-namespace", self.namespace, parent=self, provider=context.provider
        )
        release = helm_release(
            f"{name}-kyverno",
            CHARTS["kyverno"],
            namespace=namespace.metadata.name,
            values=chart_values(context.production),
            parent=self,
            provider=context.provider,
            depends_on=ordered_after(opts),
        )

        rules = RuleSettings(
            # Resolved by CoreConfig.resolved; the fallback repeats its rule for a caller that did not.
            failure_action=config.mode or ("Enforce" if context.production else "Audit"),
            excluded_namespaces=excluded_namespaces(args.platform_namespaces),
        )
        registries = pulumi.Output.all(context.account_id).apply(
            lambda values: [ecr_registry(values[0], context.region), *config.allowed_registries]
        )
        baseline = [
            disallow_latest_tag(rules),
            require_requests_limits(rules),
            restrict_image_registries(rules, registries),
            require_tenant_label(rules),
            disallow_default_namespace(rules),
            restrict_ingress_group(rules),
        ]
        if args.tenant_hosts:
            baseline.append(restrict_ingress_hosts(rules, args.tenant_hosts))
        self.policies = [
            cluster_policy(name, policy, release, parent=self, provider=context.provider)
            for policy in baseline
        ]
        self.cluster_policies = [policy.name for policy in baseline]
        self.register_outputs(
            {
                "namespace": self.namespace,
                "chartVersion": CHARTS["kyverno"].version,
                "clusterPolicies": self.cluster_policies,
                "failureAction": rules.failure_action,
            }
        )


# --------------------------------------------------------------------------------------------------
# The Kyverno chart


def chart_values(production: bool) -> dict[str, Any]:
    """Kyverno's four controllers, bounded and non-root, highly available in production.

    The admission controller sits on the API server's write path, so production runs the three
    replicas Kyverno's high-availability guidance asks for; the other controllers elect a leader,
    and a second replica is a warm standby. CRDs come with the chart (`crds.install`), so the
    ClusterPolicies below wait for the release.
    """
    admission = 3 if production else 1
    controllers = 2 if production else 1
    return {
        "crds": {
            "install": True,
            # The post-upgrade hook that migrates stored policies to the new CRD versions.
            "migration": {
                "podResources": resources("10m", "128Mi", "100m"),
                "securityContext": RESTRICTED_CONTAINER,
            },
        },
        "admissionController": {
            "replicas": admission,
            "podDisruptionBudget": disruption_budget(admission),
            "initContainer": {
                "resources": resources("10m", "128Mi", "100m"),
                "securityContext": RESTRICTED_CONTAINER,
            },
            "container": {
                "resources": resources("100m", "512Mi", "1"),
                "securityContext": RESTRICTED_CONTAINER,
            },
        },
        "backgroundController": controller_values(controllers, resources("100m", "256Mi", "500m")),
        "cleanupController": controller_values(controllers, resources("50m", "128Mi", "250m")),
        "reportsController": controller_values(controllers, resources("100m", "256Mi", "500m")),
        # The pre-delete hook that removes Kyverno's webhooks when the release is uninstalled.
        "webhooksCleanup": {
            "resources": resources("10m", "128Mi", "100m"),
            "securityContext": RESTRICTED_CONTAINER,
        },
    }


def controller_values(replicas: int, container_resources: dict[str, Any]) -> dict[str, Any]:
    """The background, cleanup and reports controllers share one values shape in the chart."""
    return {
        "replicas": replicas,
        "podDisruptionBudget": disruption_budget(replicas),
        "resources": container_resources,
        "securityContext": RESTRICTED_CONTAINER,
    }


def disruption_budget(replicas: int) -> dict[str, Any]:
    """The chart's PDB switch: on with more than one replica, letting one pod go at a time."""
    if replicas <= 1:
        return {"enabled": False}
    return {"enabled": True, "minAvailable": replicas - 1}


# --------------------------------------------------------------------------------------------------
# The baseline ClusterPolicies


@dataclass(frozen=True)
class RuleSettings:
    """What every rule of the baseline shares: how it fails, and which namespaces it never sees."""

    failure_action: str
    excluded_namespaces: list[str]

    def rule(
        self,
        name: str,
        kinds: Sequence[str],
        message: str,
        check: dict[str, Any],
        *,
        match: Optional[dict[str, Any]] = None,
        also_exclude: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A validate rule for `kinds`, with `check` being its `pattern` or `foreach`."""
        return {
            "name": name,
            "match": {"any": [{"resources": {"kinds": list(kinds), **(match or {})}}]},
            "exclude": {
                "any": [{"resources": {"namespaces": self.excluded_namespaces}}, *also_exclude]
            },
            "validate": {"failureAction": self.failure_action, "message": message, **check},
        }


@dataclass(frozen=True)
class BaselinePolicy:
    name: str
    title: str
    category: str
    severity: str
    description: str
    rules: pulumi.Input[list[dict[str, Any]]]
    annotations: dict[str, str] = field(default_factory=dict)


def excluded_namespaces(platform_namespaces: Sequence[str]) -> list[str]:
    return sorted({*platform_namespaces, *SYSTEM_NAMESPACES})


def cluster_policy(
    component: str,
    policy: BaselinePolicy,
    release: k8s.helm.v3.Release,
    *,
    parent: pulumi.Resource,
    provider: k8s.Provider,
) -> k8s.apiextensions.CustomResource:
    """A ClusterPolicy after the release that brings its CRD and the webhook that enforces it."""
    rules = pulumi.Output.from_input(policy.rules)
    return k8s.apiextensions.CustomResource(
        f"{component}-{policy.name}",
        api_version=POLICY_API_VERSION,
        kind="ClusterPolicy",
        metadata={
            "name": policy.name,
            "labels": dict(MANAGED_BY_LABELS),
            "annotations": {
                "policies.kyverno.io/title": policy.title,
                "policies.kyverno.io/category": policy.category,
                "policies.kyverno.io/severity": policy.severity,
                "policies.kyverno.io/subject": "Pod",
                "policies.kyverno.io/description": policy.description,
                **policy.annotations,
            },
        },
        spec=rules.apply(lambda items: {"background": True, "rules": items}),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[release]),
    )


def disallow_latest_tag(rules: RuleSettings) -> BaselinePolicy:
    """kyverno/policies best-practices/disallow-latest-tag: a tag on every image, never `latest`.

    A digest (`app@sha256:…`) has a colon too, so digest-pinned images pass both rules.
    """

    def each_container(pattern: str) -> dict[str, Any]:
        return {
            "foreach": [
                {"list": f"request.object.spec.{containers}", "pattern": {"image": pattern}}
                for containers in ("containers", "initContainers", "ephemeralContainers")
            ]
        }

    return BaselinePolicy(
        name="disallow-latest-tag",
        title="Disallow Latest Tag",
        category="Best Practices",
        severity="medium",
        description=(
            "A mutable tag such as ':latest' means a restart can run different code than was "
            "reviewed. Every image, in containers, init containers and ephemeral containers, must "
            "name a version tag or a digest, and the tag must not be 'latest'."
        ),
        rules=[
            rules.rule(
                "require-image-tag",
                ["Pod"],
                "Every image needs a version tag or a digest: write 'registry/app:1.4.2' or "
                "'registry/app@sha256:<digest>' instead of 'registry/app'.",
                each_container("*:*"),
            ),
            rules.rule(
                "validate-image-tag",
                ["Pod"],
                "The mutable tag ':latest' is not allowed: pin the image to a release tag "
                "(e.g. ':1.4.2') or a digest ('@sha256:<digest>').",
                each_container("!*:latest"),
            ),
        ],
    )


def require_requests_limits(rules: RuleSettings) -> BaselinePolicy:
    """kyverno/policies best-practices/require-pod-requests-limits, plus a CPU limit and init
    containers, which the platform's quotas count too."""
    bounded = {
        "resources": {
            "requests": {"cpu": "?*", "memory": "?*"},
            "limits": {"cpu": "?*", "memory": "?*"},
        }
    }
    return BaselinePolicy(
        name="require-requests-limits",
        title="Require Limits and Requests",
        category="Best Practices",
        severity="medium",
        description=(
            "Workloads share nodes: without requests the scheduler overcommits them, without "
            "limits one container can starve its neighbours. Every container and init container "
            "must set CPU and memory requests and limits."
        ),
        rules=[
            rules.rule(
                "validate-resources",
                ["Pod"],
                "Every container and init container must set resources.requests.cpu, "
                "resources.requests.memory, resources.limits.cpu and resources.limits.memory, "
                "e.g. 'resources: {requests: {cpu: 100m, memory: 256Mi}, limits: {cpu: 500m, "
                "memory: 256Mi}}'.",
                {"pattern": {"spec": {"containers": [bounded], "=(initContainers)": [bounded]}}},
            )
        ],
    )


def restrict_image_registries(
    rules: RuleSettings, registries: pulumi.Output[list[str]]
) -> BaselinePolicy:
    """kyverno/policies best-practices/restrict-image-registries: one pattern of `|` alternatives
    over containers, and init and ephemeral containers where present."""

    def rule(prefixes: list[str]) -> list[dict[str, Any]]:
        allowed = " | ".join(registry_wildcard(prefix) for prefix in prefixes)
        image = [{"image": allowed}]
        listed = ", ".join(prefixes)
        return [
            rules.rule(
                "validate-registries",
                ["Pod"],
                f"Images must come from an approved registry ({listed}). Push the image to your "
                "team's ECR repository, or ask the platform team to add its registry to "
                "paved-road:core.policy.allowedRegistries.",
                {
                    "pattern": {
                        "spec": {
                            "=(ephemeralContainers)": image,
                            "=(initContainers)": image,
                            "containers": image,
                        }
                    }
                },
            )
        ]

    return BaselinePolicy(
        name="restrict-image-registries",
        title="Restrict Image Registries",
        category="Best Practices, EKS Best Practices",
        severity="medium",
        description=(
            "Images from unknown registries may be unscanned and unpatched. Images must come from "
            "the account's own ECR registry in the cluster's region or from a registry or "
            "repository prefix the platform has approved."
        ),
        rules=registries.apply(rule),
    )


def require_tenant_label(rules: RuleSettings) -> BaselinePolicy:
    """Workloads in a tenant's namespaces carry the tenant label: costs and alerts find owners."""
    return BaselinePolicy(
        name="require-tenant-label",
        title="Require Tenant Label",
        category="Multi-Tenancy",
        severity="medium",
        description=(
            f"Cost allocation, alert routing and ownership follow the '{TENANT_LABEL}' label. In "
            f"namespaces labelled '{TENANT_LABEL}', every workload must carry that label too."
        ),
        rules=[
            rules.rule(
                "require-tenant-label",
                ["Pod"],
                f"Workloads in a tenant namespace must carry the label '{TENANT_LABEL}: <team>' "
                "in metadata.labels of the Pod (for a Deployment, StatefulSet, Job or CronJob: "
                "in the labels of its Pod template).",
                {"pattern": {"metadata": {"labels": {TENANT_LABEL: "?*"}}}},
                match={
                    "namespaceSelector": {
                        "matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]
                    }
                },
            )
        ],
    )


def disallow_default_namespace(rules: RuleSettings) -> BaselinePolicy:
    """kyverno/policies best-practices/disallow-default-namespace, widened to ReplicaSets,
    CronJobs, Services, ConfigMaps and Secrets.

    Auto-generation is off, as upstream: a controller's namespace is in its own metadata, not its
    Pod template's, so the controllers are matched by name instead.
    """
    move = "Set metadata.namespace to your team's namespace (e.g. '<team>-dev')."
    return BaselinePolicy(
        name="disallow-default-namespace",
        title="Disallow Default Namespace",
        category="Multi-Tenancy",
        severity="medium",
        description=(
            "The 'default' namespace has no owner, quota or network policy. Workloads and their "
            "Services, ConfigMaps and Secrets must live in a team's namespace."
        ),
        annotations={AUTOGEN_CONTROLLERS: "none"},
        rules=[
            rules.rule(
                "validate-namespace",
                ["Pod"],
                f"Pods must not run in the 'default' namespace. {move}",
                {"pattern": {"metadata": {"namespace": "!default"}}},
            ),
            rules.rule(
                "validate-podcontroller-namespace",
                ["CronJob", "DaemonSet", "Deployment", "Job", "ReplicaSet", "StatefulSet"],
                f"Workloads must not be created in the 'default' namespace. {move}",
                {"pattern": {"metadata": {"namespace": "!default"}}},
            ),
            rules.rule(
                "validate-config-namespace",
                ["ConfigMap", "Secret", "Service"],
                f"Services, ConfigMaps and Secrets must not be created in the 'default' "
                f"namespace. {move}",
                {"pattern": {"metadata": {"namespace": "!default"}}},
                also_exclude=[
                    {"resources": {"kinds": [kind], "names": [name]}}
                    for kind, name in sorted(KUBERNETES_OWNED_IN_DEFAULT.items())
                ],
            ),
        ],
    )


def restrict_ingress_group(rules: RuleSettings) -> BaselinePolicy:
    """An Ingress in a tenant's namespace joins its own tenant's ALB group or none.

    The AWS Load Balancer Controller adds any Ingress naming a group to that group's ALB
    (docs/guide/ingress/annotations.md, `group.name`, "Security Risk"), so without this a team
    could add rules to another team's load balancer. The tenant is read from the namespace's
    label, the one the platform sets (tenants cannot label namespaces).
    """
    group = f"request.object.metadata.annotations.\"{GROUP_ANNOTATION}\" || ''"
    rule = rules.rule(
        "validate-ingress-group",
        ["Ingress"],
        f"An Ingress in a tenant namespace may only join its tenant's load balancer: set "
        f"'{GROUP_ANNOTATION}' to '{ingress_group('<team>')}' (your team's name), or leave it "
        "out for a load balancer of the Ingress's own.",
        {
            "deny": {
                "conditions": {
                    "all": [
                        {"key": f"{{{{ {group} }}}}", "operator": "NotEquals", "value": ""},
                        {
                            "key": f"{{{{ {group} }}}}",
                            "operator": "NotEquals",
                            "value": ingress_group("{{ tenant }}"),
                        },
                    ]
                }
            }
        },
        match={
            "namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]}
        },
    )
    rule["context"] = [
        {
            "name": "tenant",
            "apiCall": {
                "urlPath": "/api/v1/namespaces/{{ request.object.metadata.namespace }}",
                "jmesPath": f'metadata.labels."{TENANT_LABEL}"',
            },
        }
    ]
    return BaselinePolicy(
        name="restrict-ingress-group",
        title="Restrict Ingress Group",
        category="Multi-Tenancy",
        severity="high",
        description=(
            "Ingresses naming the same alb.ingress.kubernetes.io/group.name share one ALB and "
            "can add rules to it. In a tenant's namespaces, only the tenant's own group is allowed."
        ),
        annotations={"policies.kyverno.io/subject": "Ingress"},
        rules=[rule],
    )


def restrict_ingress_hosts(rules: RuleSettings, tenants: Sequence[TenantHosts]) -> BaselinePolicy:
    """Tenants' Ingresses name only their approved hosts (components/core/ingress_hosts.py)."""
    host_rules = [
        rules.rule(
            ingress_hosts.rule_name(tenant.tenant),
            ["Ingress"],
            ingress_hosts.message(tenant),
            ingress_hosts.deny(tenant),
            match=ingress_hosts.match(tenant),
        )
        for tenant in sorted(tenants, key=lambda t: t.tenant)
    ]
    return BaselinePolicy(
        name=ingress_hosts.POLICY_NAME,
        title="Restrict Ingress Hosts",
        category="Multi-Tenancy",
        severity="high",
        description=ingress_hosts.DESCRIPTION,
        annotations={"policies.kyverno.io/subject": "Ingress"},
        rules=host_rules,
    )


# --------------------------------------------------------------------------------------------------
# Registries


def ecr_registry(account_id: str, region: str) -> str:
    """The account's private ECR registry in `region`, as an image prefix."""
    suffix = ".cn" if region.startswith("cn-") else ""
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com{suffix}/"


def registry_wildcard(prefix: str) -> str:
    """`quay.io` and `quay.io/` both allow `quay.io/*`, never `quay.io.evil.example/*`."""
    return f"{prefix.rstrip('/')}/*"
