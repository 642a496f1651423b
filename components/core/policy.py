"""Policy in the cluster: Kyverno, and a baseline every team's workloads are held to.

The baseline catches what reviews miss and what breaks at 3 a.m.: mutable image tags, containers
without resource bounds, images from registries nobody scans, tenant workloads without their tenant
label (cost allocation and ownership), and workloads dropped into the `default` namespace. It
enforces unless a development stack says `paved-road:core.policy.mode: Audit` (violations then land
in policy reports and nothing is blocked); production refuses `Audit`.

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
class PlatformIdentities:
    """Who may change what the platform put in tenants' namespaces, as plain data.

    `principals` are the IAM ARNs with a cluster-admin access entry: the deploy role (the
    Kubernetes provider logs in as it, so every `pulumi up` is it) and `cluster.admins`.
    Deliberately absent: Argo CD's application controller. It applies *tenants'* repositories,
    never the platform's objects (Pulumi creates those), so exempting it would hand every tenant
    a way around the guards through its own GitOps project.
    """

    principals: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyArgs:
    context: ClusterContext
    config: PolicyConfig
    platform_namespaces: list[str]
    # Each tenant's namespaces and approved host names (restrict-ingress-hosts).
    tenant_hosts: Sequence[TenantHosts] = ()
    identities: PlatformIdentities = PlatformIdentities()
    # The External Secrets release: the SecretStore and generator CRDs the tenant-store guard
    # matches (None: the secrets service is off, and so is that guard).
    external_secrets: Optional[pulumi.Resource] = None
    # Images the platform itself injects into tenants' pods (the flagd sidecar), admitted by
    # the registry rule exactly as pinned, never their whole registry.
    injected_images: Sequence[str] = ()


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
        self.release = release = helm_release(
            f"{name}-kyverno",
            CHARTS["kyverno"],
            namespace=namespace.metadata.name,
            values=chart_values(context.production),
            parent=self,
            provider=context.provider,
            depends_on=ordered_after(opts),
        )

        rules = RuleSettings(
            failure_action=config.mode,
            excluded_namespaces=excluded_namespaces(args.platform_namespaces),
        )
        registries = pulumi.Output.all(context.account_id).apply(
            lambda values: [ecr_registry(values[0], context.region), *config.allowed_registries]
        )
        baseline = [
            disallow_latest_tag(rules),
            require_requests_limits(rules),
            restrict_image_registries(rules, registries, args.injected_images),
            require_tenant_label(rules),
            disallow_default_namespace(rules),
            restrict_ingress_group(rules),
        ]
        # The isolation guardrails: always Enforce, whatever `mode` says (see their docstrings).
        # Each waits for the release that brings the kinds it matches as well: Kyverno admits a
        # policy for an unknown kind only as not ready. The delivery layer adds its own,
        # `restrict-tenant-analysis`, after the Argo Rollouts release.
        guardrails: list[tuple[BaselinePolicy, list[pulumi.Resource]]] = [
            (protect_platform_objects(args.identities), [])
        ]
        if args.external_secrets is not None:
            guardrails.append((restrict_tenant_secret_stores(), [args.external_secrets]))
        if args.tenant_hosts:
            # A foreign host on a tenant's Ingress is a name taken from another team or the
            # platform (external-dns would publish it): isolation, so enforced like the rest.
            enforced = RuleSettings(GUARDRAIL_ACTION, rules.excluded_namespaces)
            guardrails.append((restrict_ingress_hosts(enforced, args.tenant_hosts), []))
        self.policies = [
            cluster_policy(name, policy, release, parent=self, provider=context.provider)
            for policy in baseline
        ] + [
            cluster_policy(
                name, policy, release, parent=self, provider=context.provider, also_after=after
            )
            for policy, after in guardrails
        ]
        self.cluster_policies = [p.name for p in [*baseline, *(g for g, _ in guardrails)]]
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
    # False for policies about the request (who sends it, which operation): Kyverno refuses
    # `subjects` and `request.operation` in background scans, which have no request.
    background: bool = True


def excluded_namespaces(platform_namespaces: Sequence[str]) -> list[str]:
    return sorted({*platform_namespaces, *SYSTEM_NAMESPACES})


def cluster_policy(
    component: str,
    policy: BaselinePolicy,
    release: k8s.helm.v3.Release,
    *,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    also_after: Sequence[pulumi.Resource] = (),
) -> k8s.apiextensions.CustomResource:
    """A ClusterPolicy after the release that brings its CRD and the webhook that enforces it
    (and after `also_after`, the releases bringing the kinds it matches)."""
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
        spec=rules.apply(lambda items: {"background": policy.background, "rules": items}),
        opts=pulumi.ResourceOptions(
            parent=parent, provider=provider, depends_on=[release, *also_after]
        ),
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
    rules: RuleSettings, registries: pulumi.Output[list[str]], injected: Sequence[str] = ()
) -> BaselinePolicy:
    """kyverno/policies best-practices/restrict-image-registries: one pattern of `|` alternatives
    over containers, and init and ephemeral containers where present; `injected` images (the
    platform's own sidecars) are alternatives as they are, without a wildcard."""

    def rule(prefixes: list[str]) -> list[dict[str, Any]]:
        allowed = " | ".join([*(registry_wildcard(prefix) for prefix in prefixes), *injected])
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
        background=False,
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


# --------------------------------------------------------------------------------------------------
# Isolation guardrails
#
# The baseline above is about good practice and follows `mode`; these are about isolation and
# always enforce, in every environment: a tenant that can delete its own default-deny
# NetworkPolicy, or make the secrets controller read the platform's secrets, has no isolation
# left to audit. They are admission-only (`background: false`): each judges a request.

GUARDRAIL_ACTION = "Enforce"
GUARDRAIL_POLICIES = (
    "protect-platform-objects",
    "restrict-ingress-hosts",
    "restrict-tenant-secret-stores",
    "restrict-tenant-analysis",
    # Built by the delivery layer with the OpenFeature operator (components/delivery/flags.py).
    "restrict-tenant-flags",
)
MANAGED_BY = "app.kubernetes.io/managed-by"
# What the platform creates in every tenant namespace and a tenant's `edit`/`admin` could change
# or delete: its network policies, quota and limits, the RoleBindings that give the team its
# access, the `workload` service account (the identity the IAM role trusts) and the SecretStore.
# (ConfigMaps are guarded by name: the operator of feature flags updates the flags' ConfigMap.)
GUARDED_KINDS = (
    "LimitRange",
    "NetworkPolicy",
    "ResourceQuota",
    "Role",
    "RoleBinding",
    "SecretStore",
    "ServiceAccount",
)
# Kubernetes' own controllers that delete a namespace's contents after the platform deletes the
# namespace (and cascade deletions through owner references).
KUBERNETES_CONTROLLERS = (
    ("kube-system", "namespace-controller"),
    ("kube-system", "generic-garbage-collector"),
)
# External Secrets generators that mint credentials or call out from the controller (with the
# controller's network position): ECR/STS tokens from the controller's AWS identity, other
# clouds' and registries' tokens, Vault leases, arbitrary webhooks. The platform creates none; a
# team that needs an ECR token gets one with its own workload role. Password, UUID, SSHKey and
# MFA generate locally and stay allowed. (external-secrets apis/generators/v1alpha1.)
CREDENTIAL_GENERATORS = (
    "ACRAccessToken",
    "CloudsmithAccessToken",
    "ECRAuthorizationToken",
    "GCRAccessToken",
    "GithubAccessToken",
    "Grafana",
    "QuayAccessToken",
    "STSSessionToken",
    "VaultDynamicSecret",
    "Webhook",
)
WORKLOAD_SERVICE_ACCOUNT = "workload"
# The rollout controller's fixed name for a namespace's notification configuration: where the
# platform writes it (a tenant with a Slack receiver), an edited one would make the controller
# post wherever the team pointed it, so it is guarded like the other platform objects.
RELEASE_NOTIFICATION_CONFIG_MAP = "argo-rollouts-notification-configmap"
# Analysis providers whose endpoint is not in the metric itself (Datadog's and New Relic's come
# from the controller's own configuration Secret, in its namespace). `web` and `job` call or run
# anything from the controller; other providers carry their own address.
ENDPOINTLESS_PROVIDERS = ("datadog", "newrelic")
# Characters an analysis argument may hold: names and numbers. Arguments are pasted into queries
# as text, so a quote or brace would let one escape its matcher (`x"} or up{namespace="other`).
SAFE_ARGUMENT = "^[-A-Za-z0-9._:]*$"


def tenant_namespaces() -> dict[str, Any]:
    """Namespaces labelled with a tenant. Only the platform sets that label: namespaces are
    cluster-scoped, and `protect-namespace-labels` refuses tenants a relabelling."""
    return {
        "namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]}
    }


def kubernetes_username(principal: str) -> str:
    """The user an IAM principal is in Kubernetes under an EKS access entry without a username:
    `arn:aws:sts::<account>:assumed-role/<role name>/{{SessionName}}` for a role (any session:
    `*`; the role's path is not part of it), the ARN itself for a user (EKS user guide, "Create
    access entries", `--username`)."""
    _, partition, _, _, account, resource = principal.split(":", 5)
    kind, _, path = resource.partition("/")
    if kind == "role":
        return f"arn:{partition}:sts::{account}:assumed-role/{path.rsplit('/', 1)[-1]}/*"
    return principal


def platform_subjects(identities: PlatformIdentities) -> list[dict[str, Any]]:
    """Kyverno `subjects` for the platform's identities; names match with `*` wildcards
    (kyverno/kyverno pkg/utils/match/subjects.go)."""
    users = sorted({kubernetes_username(p) for p in identities.principals})
    return [
        *({"kind": "User", "name": user} for user in users),
        # Whoever holds it bypasses RBAC and could delete the policy itself.
        {"kind": "Group", "name": "system:masters"},
        *(
            {"kind": "ServiceAccount", "namespace": namespace, "name": name}
            for namespace, name in KUBERNETES_CONTROLLERS
        ),
    ]


def guardrail_rule(
    name: str,
    kinds: Sequence[str],
    operations: Sequence[str],
    message: str,
    check: dict[str, Any],
    *,
    exclude: Sequence[dict[str, Any]] = (),
    namespaced: bool = True,
    names: Sequence[str] = (),
) -> dict[str, Any]:
    """A validate rule on `operations` of `kinds` (in tenants' namespaces; only those `names`
    when given), always enforced."""
    resources: dict[str, Any] = {"kinds": list(kinds), "operations": list(operations)}
    if names:
        resources["names"] = list(names)
    if namespaced:
        resources.update(tenant_namespaces())
    found: dict[str, Any] = {
        "name": name,
        "match": {"any": [{"resources": resources}]},
        "validate": {"failureAction": GUARDRAIL_ACTION, "message": message, **check},
    }
    if exclude:
        found["exclude"] = {"any": list(exclude)}
    return found


def condition(key: str, operator: str, value: Any) -> dict[str, Any]:
    return {"key": key, "operator": operator, "value": value}


def protect_platform_objects(identities: PlatformIdentities) -> BaselinePolicy:
    """Tenants cannot change or delete what the platform put in their namespaces, nor relabel
    or delete the namespaces themselves.

    Kubernetes' `edit` and `admin` roles, which tenants hold in their namespaces, may delete
    NetworkPolicies, RoleBindings and ServiceAccounts (and `admin` quotas' neighbours); without
    this a team could drop its own default-deny policy. An object is the platform's when its
    *old* version carries `app.kubernetes.io/managed-by: paved-road` — read from
    `request.oldObject`, so removing the label is itself an UPDATE of a managed object, and
    denied. Only the platform's identities (`PlatformIdentities`) and Kubernetes' namespace and
    garbage collectors are exempt. Without a deploy role (development only) whoever runs
    `pulumi up` must be in `cluster.admins` to update these objects.
    """
    exempt = [{"subjects": platform_subjects(identities)}]
    managed = condition(
        f"{{{{ request.oldObject.metadata.labels.\"{MANAGED_BY}\" || '' }}}}",
        "Equals",
        "paved-road",
    )
    ask = "Ask the platform team, or change it in your tenant file through a pull request."
    return BaselinePolicy(
        name="protect-platform-objects",
        title="Protect Platform Objects",
        category="Multi-Tenancy",
        severity="high",
        description=(
            "Network policies, quotas, limit ranges, role bindings, the workload service account, "
            "the SecretStore and the release-notification configuration the platform created in a "
            "tenant's namespaces, and the "
            "namespaces' own labels, can be changed or deleted only by the platform's identities; "
            "only they write NetworkPolicies there."
        ),
        annotations={
            "policies.kyverno.io/subject": ", ".join([*GUARDED_KINDS, "ConfigMap", "Namespace"])
        },
        background=False,
        rules=[
            guardrail_rule(
                "protect-guardrails",
                GUARDED_KINDS,
                ["UPDATE", "DELETE"],
                "{{ request.oldObject.kind }} '{{ request.oldObject.metadata.name }}' is managed "
                f"by the platform ({MANAGED_BY}: paved-road) and cannot be changed or deleted by "
                f"tenants. {ask}",
                {"deny": {"conditions": {"any": [managed]}}},
                exclude=exempt,
            ),
            guardrail_rule(
                "protect-release-notifications",
                ["ConfigMap"],
                ["UPDATE", "DELETE"],
                "ConfigMap '{{ request.oldObject.metadata.name }}' is the platform's release-"
                "notification configuration and cannot be changed or deleted by tenants; set "
                f"your Slack receiver in your tenant file. {ask}",
                {"deny": {"conditions": {"any": [managed]}}},
                exclude=exempt,
                names=[RELEASE_NOTIFICATION_CONFIG_MAP],
            ),
            # NetworkPolicies are additive: one allow-all policy of the tenant's would undo the
            # default deny and every egress limit of its tenant file. Its openings come from
            # the tenant file (and Argo CD projects may not deploy NetworkPolicies either).
            guardrail_rule(
                "platform-owns-network-policies",
                ["NetworkPolicy"],
                ["CREATE", "UPDATE"],
                "NetworkPolicies in tenant namespaces are the platform's: ask for openings in "
                "your tenant file (allowFrom, egressCidrs) instead of writing a NetworkPolicy.",
                {"deny": {}},
                exclude=exempt,
            ),
            guardrail_rule(
                "protect-tenant-namespaces",
                ["Namespace"],
                ["DELETE"],
                f"Namespace '{{{{ request.oldObject.metadata.name }}}}' is managed by the "
                f"platform and cannot be deleted by tenants. {ask}",
                {"deny": {"conditions": {"any": [managed]}}},
                exclude=exempt,
                namespaced=False,
            ),
            guardrail_rule(
                "protect-namespace-labels",
                ["Namespace"],
                ["UPDATE"],
                f"The labels of namespace '{{{{ request.oldObject.metadata.name }}}}' (tenant, "
                f"Pod Security, {MANAGED_BY}) are the platform's and cannot be changed by "
                f"tenants. {ask}",
                {
                    "deny": {
                        "conditions": {
                            "all": [
                                managed,
                                condition(
                                    "{{ request.object.metadata.labels }}",
                                    "NotEquals",
                                    "{{ request.oldObject.metadata.labels }}",
                                ),
                            ]
                        }
                    }
                },
                exclude=exempt,
                namespaced=False,
            ),
        ],
    )


def restrict_tenant_secret_stores() -> BaselinePolicy:
    """A SecretStore in a tenant namespace reads AWS Secrets Manager as the tenant's `workload`
    service account, and nothing else; credential-minting generators are refused there.

    External Secrets' chart aggregates SecretStores, ExternalSecrets and generators into `edit`
    and `admin` (`rbac.aggregateToEdit`/`aggregateToAdmin`). A store without `auth` would run
    with the controller's own AWS identity, another provider with whatever it names; with this,
    the worst a team's store can read is what its own workload role can (its secrets prefix).
    The controller itself holds no AWS identity (components/core/secrets.py). No exclusions: the
    platform's own tenant stores conform.
    """
    aws_auth = "request.object.spec.provider.aws.auth"
    namespace = "{{ request.object.metadata.namespace }}"
    return BaselinePolicy(
        name="restrict-tenant-secret-stores",
        title="Restrict Tenant Secret Stores",
        category="Multi-Tenancy",
        severity="high",
        description=(
            "In a tenant's namespaces, a SecretStore must use the AWS provider authenticated as "
            f"the tenant's '{WORKLOAD_SERVICE_ACCOUNT}' service account, and External Secrets "
            "generators that mint credentials or call out are refused."
        ),
        annotations={"policies.kyverno.io/subject": "SecretStore, generators"},
        background=False,
        rules=[
            guardrail_rule(
                "require-workload-identity",
                ["SecretStore"],
                ["CREATE", "UPDATE"],
                "A SecretStore in a tenant namespace must read AWS Secrets Manager as the "
                f"'{WORKLOAD_SERVICE_ACCOUNT}' service account: spec.provider.aws.auth: "
                f"{{jwt: {{serviceAccountRef: {{name: {WORKLOAD_SERVICE_ACCOUNT}}}}}}} and no "
                "other provider or auth method.",
                {
                    "deny": {
                        "conditions": {
                            "any": [
                                condition(
                                    "{{ keys(request.object.spec.provider || `{}`) }}",
                                    "AnyNotIn",
                                    ["aws"],
                                ),
                                condition(
                                    f"{{{{ keys({aws_auth} || `{{}}`) }}}}", "AnyNotIn", ["jwt"]
                                ),
                                condition(
                                    f"{{{{ {aws_auth}.jwt.serviceAccountRef.name || '' }}}}",
                                    "NotEquals",
                                    WORKLOAD_SERVICE_ACCOUNT,
                                ),
                                condition(
                                    f"{{{{ {aws_auth}.jwt.serviceAccountRef.namespace || "
                                    "request.object.metadata.namespace }}",
                                    "NotEquals",
                                    namespace,
                                ),
                            ]
                        }
                    }
                },
            ),
            guardrail_rule(
                "refuse-credential-generators",
                CREDENTIAL_GENERATORS,
                ["CREATE", "UPDATE"],
                "External Secrets generators that mint credentials or call out "
                f"({', '.join(CREDENTIAL_GENERATORS)}) are not allowed in tenant namespaces: "
                "use your workload role for AWS tokens, or ask the platform team.",
                {"deny": {}},
            ),
        ],
    )


def restrict_tenant_analysis(
    controller: tuple[str, str], prometheus_url: Optional[str]
) -> BaselinePolicy:
    """Tenant analysis runs only the platform's ClusterAnalysisTemplates, against the tenant's own
    namespace. Built by the delivery layer (components/delivery), which knows its controller's
    service account (`controller`: namespace, name) and brings the Argo Rollouts CRDs.

    Argo Rollouts' chart aggregates AnalysisTemplates and AnalysisRuns into `edit`; their `web`
    and `job` providers make the controller call any address or run any Job from its own
    namespace (past every NetworkPolicy of the tenant), and `prometheus` names its own address.
    The platform's apps reference ClusterAnalysisTemplates only (components/apps.py,
    `clusterScope: true`), so namespaced AnalysisTemplates are refused outright; AnalysisRuns are
    admitted from the controller only, and then only with the platform's providers (the
    platform's Prometheus address) and with a `namespace` argument equal to their own namespace
    and arguments that cannot escape a PromQL matcher — a Rollout naming another team's
    namespace would otherwise read that team's series.
    """
    allowed = sorted([*(["prometheus"] if prometheus_url else []), *ENDPOINTLESS_PROVIDERS])
    runs = ["AnalysisRun"]
    metric_checks = [
        condition("{{ keys(element.provider || `{}`) }}", "AnyNotIn", allowed),
        condition(
            "{{ element.provider.prometheus.address || '' }}",
            "NotIn",
            ["", prometheus_url] if prometheus_url else [""],
        ),
    ]
    namespace = "{{ request.object.metadata.namespace }}"
    # An Experiment's analyses may take an argument from a Secret of the tenant's, whose text
    # would reach the query unchecked; the platform's templates take none that way.
    from_secret = condition("{{ element.valueFrom.secretKeyRef.name || '' }}", "NotEquals", "")
    unsafe_value = condition(
        f"{{{{ regex_match('{SAFE_ARGUMENT}', element.value || '') }}}}", "Equals", False
    )
    return BaselinePolicy(
        name="restrict-tenant-analysis",
        title="Restrict Tenant Analysis",
        category="Multi-Tenancy",
        severity="high",
        description=(
            "In a tenant's namespaces, analysis uses the platform's ClusterAnalysisTemplates: "
            "namespaced AnalysisTemplates are refused, AnalysisRuns come from the Argo Rollouts "
            "controller only, use the platform's providers and query only their own namespace."
        ),
        annotations={"policies.kyverno.io/subject": "AnalysisTemplate, AnalysisRun"},
        background=False,
        rules=[
            guardrail_rule(
                "refuse-analysis-templates",
                ["AnalysisTemplate"],
                ["CREATE", "UPDATE"],
                "AnalysisTemplates are not allowed in tenant namespaces: reference the "
                "platform's ClusterAnalysisTemplates (templateName: success-rate, clusterScope: "
                "true) from your Rollout.",
                {"deny": {}},
            ),
            guardrail_rule(
                "analysis-runs-from-the-controller",
                runs,
                ["CREATE", "UPDATE"],
                "AnalysisRuns in tenant namespaces are created by the Argo Rollouts controller "
                "from a Rollout's analysis; abort or retry the Rollout instead.",
                {"deny": {}},
                exclude=[
                    {
                        "subjects": [
                            {
                                "kind": "ServiceAccount",
                                "namespace": controller[0],
                                "name": controller[1],
                            }
                        ]
                    }
                ],
            ),
            guardrail_rule(
                "analysis-runs-use-platform-providers",
                runs,
                ["CREATE", "UPDATE"],
                f"Every metric of an AnalysisRun in a tenant namespace uses one of the "
                f"platform's providers ({', '.join(allowed)})"
                + (f", Prometheus only at {prometheus_url}" if prometheus_url else "")
                + "; 'web' and 'job' metrics are not allowed.",
                {
                    "foreach": [
                        {
                            "list": "request.object.spec.metrics || `[]`",
                            "deny": {"conditions": {"any": metric_checks}},
                        }
                    ]
                },
            ),
            guardrail_rule(
                "analysis-runs-query-own-namespace",
                runs,
                ["CREATE", "UPDATE"],
                "An AnalysisRun's 'namespace' argument must be its own namespace, given as a "
                "value; every argument is a value (not from a Secret) of letters, digits and "
                "'-._:' only.",
                {
                    "foreach": [
                        {
                            "list": "request.object.spec.args || `[]`",
                            "deny": {"conditions": {"any": [unsafe_value, from_secret]}},
                        },
                        {
                            "list": "request.object.spec.args[?name == 'namespace'] || `[]`",
                            "deny": {
                                "conditions": {
                                    "any": [
                                        condition(
                                            "{{ element.value || '' }}", "NotEquals", namespace
                                        )
                                    ]
                                }
                            },
                        },
                    ]
                },
            ),
        ],
    )
