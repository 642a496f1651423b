"""Feature flags with OpenFeature: the operator that injects flagd, and what keeps flags private.

`paved-road:delivery.flags: openfeature` installs the OpenFeature operator (chart
`open-feature-operator`, values of chart/open-feature-operator/values.yaml at the pinned version)
in its own platform namespace. A tenant's flags become a `FeatureFlag` in its namespace
(components/flags.py); pods of its apps that set `flags: true` carry the operator's annotations,
and its webhook adds flagd as a sidecar that evaluates them on localhost.

Isolation. flagd's `kubernetes` sync reads FeatureFlags through the API server, and for it the
operator's webhook adds the pod's service account to the ClusterRoleBinding
`open-feature-operator-flagd-kubernetes-sync`, whose ClusterRole reads *every* FeatureFlag and
FeatureFlagSource in the cluster (internal/common/flagdinjector, `EnableClusterRoleBinding`);
the chart has no value to turn that binding off (the operator reads FeatureFlags through it
too). So tenants' flags never use that sync: the platform's FeatureFlagSource for a tenant uses
the `file` sync — the flags as a ConfigMap in the tenant's own namespace, mounted into the pod —
and a tenant's service account holds no permission on FeatureFlags at all. A pod can mount a
ConfigMap of its own namespace only, so tenant B's pods cannot read tenant A's flags. The
guardrail below keeps it that way against a team's own objects (it may write any object of its
namespace through Argo CD): every source `file` and in its own namespace, no flagd servers or
in-process configurations of its own, and no service account outside the operator's namespace
ever in the cluster-wide binding.

The operator serves its webhooks with a certificate from cert-manager (the chart's `Issuer` and
`Certificate`), so the release waits for cert-manager's; its manager container states neither a
seccomp profile nor dropped capabilities and the chart offers no values for them, so its
namespace enforces Pod Security `baseline` (warned and audited at `restricted`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from components.core.base import ClusterContext, helm_release, platform_namespace, resources
from components.core.network_policies import Openings
from components.core.policy import (
    BaselinePolicy,
    cluster_policy,
    condition,
    guardrail_rule,
)
from components.versions import CHARTS, FLAGD_IMAGE, FLAGD_VERSION

NAMESPACES = ("open-feature",)
NAMESPACE = NAMESPACES[0]
RELEASE_NAME = "open-feature-operator"
CHART = CHARTS["open-feature-operator"]
# The chart's manager webhook port (managerConfig.controllerManagerConfigYaml.webhook.port).
WEBHOOK_PORT = 9443
OPENINGS = Openings(
    control_plane_ports=(WEBHOOK_PORT,),
    why="its admission webhooks (flagd injection into pods, FeatureFlag validation)",
)
# The binding the operator adds the service accounts of `kubernetes`-sync pods to
# (internal/common/common.go, ClusterRoleBindingName).
SYNC_BINDING = "open-feature-operator-flagd-kubernetes-sync"
# Pods the operator's webhook looks at: only those of apps that set `flags: true` carry it.
FLAGS_LABEL = "paved-road/flags"
# The operator's pod annotations (internal/common/common.go: prefix `openfeature.dev`).
ENABLED_ANNOTATION = "openfeature.dev/enabled"
SOURCE_ANNOTATION = "openfeature.dev/featureflagsource"
IN_PROCESS_ANNOTATION = "openfeature.dev/inprocessconfiguration"
KUBERNETES_SYNC_ANNOTATION = "openfeature.dev/allowkubernetessync"
# The sidecar's image, as pinned: the registry rule admits exactly this (components/platform.py).
FLAGD_SIDECAR = f"{FLAGD_IMAGE}:{FLAGD_VERSION}"
# flagd's evaluation port in the sidecar (values `sidecarConfiguration.port`).
FLAGD_PORT = 8013
FLAGD_MANAGEMENT_PORT = 8014


@dataclass(frozen=True)
class FeatureFlagOperatorArgs:
    context: ClusterContext
    # cert-manager's release: the chart's Issuer and Certificates need its CRDs and webhook.
    cert_manager: pulumi.Resource
    # The AWS Load Balancer Controller's release (its Service webhook fails closed; None: off).
    load_balancer_controller: Optional[pulumi.Resource] = None
    # Kyverno's release (None: off): the guardrail that keeps tenants' flag sources their own.
    admission_engine: Optional[pulumi.Resource] = None


class FeatureFlagOperator(pulumi.ComponentResource):
    """The OpenFeature operator and the guardrail of tenants' flag sources."""

    namespace: str
    # What a tenant's FeatureFlag, FeatureFlagSource and flag-reading pods wait for: the release
    # (CRDs, webhooks) and the guardrail that admits them.
    dependencies: list[pulumi.Resource]

    def __init__(
        self,
        name: str,
        args: FeatureFlagOperatorArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("paved-road:delivery:FeatureFlagOperator", name, None, opts)
        context = args.context
        self.namespace = NAMESPACE
        namespace = platform_namespace(
            f"{name}-namespace",
            NAMESPACE,
            parent=self,
            provider=context.provider,
            enforce="baseline",
            openings=OPENINGS,
        )
        release = helm_release(
            f"{name}-release",
            CHART,
            namespace=namespace.metadata.name,
            values=chart_values(production=context.production),
            parent=self,
            provider=context.provider,
            depends_on=[
                namespace,
                args.cert_manager,
                *filter(None, [args.load_balancer_controller]),
            ],
            release_name=RELEASE_NAME,
        )
        self.dependencies = [release]
        if args.admission_engine is not None:
            self.dependencies.append(
                cluster_policy(
                    name,
                    restrict_tenant_flags(),
                    args.admission_engine,
                    parent=self,
                    provider=context.provider,
                    also_after=[release],
                )
            )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "chartVersion": CHART.version,
                "flagdImage": FLAGD_SIDECAR,
            }
        )


def chart_values(*, production: bool) -> dict[str, Any]:
    """Values of the `open-feature-operator` chart.

    The platform creates the namespace (labelled, default-deny), so the chart does not. The pod
    webhook sees only pods labelled `paved-road/flags` and fails closed for them: a flag-reading
    pod started without its sidecar would silently serve every flag's in-code default. The
    sidecar's default sync is `file` (see the module's docstring); its image is pinned.
    Production runs two managers: the webhook is on the write path of those pods.
    """
    return {
        "namespace": {"create": False},
        "mutatingWebhook": {
            "failurePolicy": "Fail",
            "objectSelector": {"matchLabels": {FLAGS_LABEL: "true"}},
        },
        "sidecarConfiguration": {
            "port": FLAGD_PORT,
            "managementPort": FLAGD_MANAGEMENT_PORT,
            "image": {"repository": FLAGD_IMAGE, "tag": FLAGD_VERSION},
            "defaultSyncProvider": "file",
            "logFormat": "json",
            "probesEnabled": True,
            "resources": resources("50m", "64Mi", "200m"),
        },
        "controllerManager": {
            "replicas": 2 if production else 1,
            "manager": {"resources": resources("10m", "128Mi", "500m")},
        },
        # The operator's validating webhook checks every FeatureFlag against flagd's schema.
        "managerConfig": {"flagsValidationEnabled": "true"},
    }


def restrict_tenant_flags() -> BaselinePolicy:
    """In tenants' namespaces, flags come from the namespace's own ConfigMap through flagd's
    `file` sync, never through the API server; and no tenant service account is ever bound to
    the operator's cluster-wide flag reader."""
    sources = "request.object.spec.sources || `[]`"
    annotations = "request.object.metadata.annotations"
    return BaselinePolicy(
        name="restrict-tenant-flags",
        title="Restrict Tenant Feature Flags",
        category="Multi-Tenancy",
        severity="high",
        description=(
            "A tenant's flags are readable by its own apps only: in tenant namespaces a "
            "FeatureFlagSource reads its own namespace's flags with the 'file' sync, pods name "
            "flag sources of their own namespace, flagd servers and in-process configurations "
            "are the platform's, and the operator's cluster-wide flag-reading binding holds "
            "only the operator's own service accounts."
        ),
        annotations={
            "policies.kyverno.io/subject": (
                "FeatureFlagSource, Flagd, InProcessConfiguration, Pod, ClusterRoleBinding"
            )
        },
        background=False,
        rules=[
            guardrail_rule(
                "file-sources-of-own-namespace",
                ["FeatureFlagSource"],
                ["CREATE", "UPDATE"],
                "A FeatureFlagSource in a tenant namespace reads flags with provider 'file' from "
                "a FeatureFlag of its own namespace (source: <name>, no '<namespace>/'); other "
                "sync providers read through the API server or a shared service.",
                {
                    "foreach": [
                        {
                            "list": sources,
                            "deny": {
                                "conditions": {
                                    "any": [
                                        condition(
                                            "{{ element.provider || '' }}", "NotEquals", "file"
                                        ),
                                        condition(
                                            "{{ contains(element.source || '', '/') }}",
                                            "Equals",
                                            True,
                                        ),
                                    ]
                                }
                            },
                        }
                    ]
                },
            ),
            guardrail_rule(
                "file-sync-by-default",
                ["FeatureFlagSource"],
                ["CREATE", "UPDATE"],
                "A FeatureFlagSource in a tenant namespace keeps 'file' as its default sync "
                "provider.",
                {
                    "deny": {
                        "conditions": {
                            "any": [
                                condition(
                                    "{{ request.object.spec.defaultSyncProvider || 'file' }}",
                                    "NotEquals",
                                    "file",
                                )
                            ]
                        }
                    }
                },
            ),
            guardrail_rule(
                "no-flag-servers",
                ["Flagd", "InProcessConfiguration"],
                ["CREATE", "UPDATE"],
                "Flagd servers and in-process configurations are not allowed in tenant "
                "namespaces: set `flags: true` on the app in your tenant file.",
                {"deny": {}},
            ),
            guardrail_rule(
                "pods-read-own-flags",
                ["Pod"],
                ["CREATE", "UPDATE"],
                f"A pod in a tenant namespace names flag sources of its own namespace "
                f"({SOURCE_ANNOTATION}: <name>) and no {IN_PROCESS_ANNOTATION} or "
                f"{KUBERNETES_SYNC_ANNOTATION} annotation.",
                {
                    "deny": {
                        "conditions": {
                            "any": [
                                condition(
                                    f'{{{{ contains({annotations}."{SOURCE_ANNOTATION}" '
                                    "|| '', '/') }}",
                                    "Equals",
                                    True,
                                ),
                                condition(
                                    f"{{{{ {annotations}.\"{IN_PROCESS_ANNOTATION}\" || '' }}}}",
                                    "NotEquals",
                                    "",
                                ),
                                condition(
                                    f'{{{{ {annotations}."{KUBERNETES_SYNC_ANNOTATION}" '
                                    "|| '' }}",
                                    "NotEquals",
                                    "",
                                ),
                            ]
                        }
                    }
                },
            ),
            _sync_binding_rule(),
        ],
    )


def _sync_binding_rule() -> dict[str, Any]:
    """The cluster-wide binding may hold the operator's own service accounts only (the chart's
    `controller-manager` and `flagd-proxy`): the operator adds any `kubernetes`-sync pod's
    account to it, which would let that pod read every tenant's flags."""
    rule = guardrail_rule(
        "sync-binding-holds-the-operator-only",
        ["ClusterRoleBinding"],
        ["CREATE", "UPDATE"],
        f"{SYNC_BINDING} grants reading every FeatureFlag in the cluster: only service accounts "
        f"of the {NAMESPACE} namespace may hold it.",
        {
            "foreach": [
                {
                    "list": "request.object.subjects || `[]`",
                    "deny": {
                        "conditions": {
                            "any": [
                                condition("{{ element.namespace || '' }}", "NotEquals", NAMESPACE)
                            ]
                        }
                    },
                }
            ]
        },
        namespaced=False,
    )
    rule["match"]["any"][0]["resources"]["names"] = [SYNC_BINDING]
    return rule
