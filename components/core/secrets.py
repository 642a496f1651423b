"""Secrets: the External Secrets Operator, syncing AWS Secrets Manager into Kubernetes Secrets.

No secret value ever passes through config, plan or Git: a value lives in Secrets Manager and an
`ExternalSecret` names it. The operator's controller holds no AWS identity of its own: its
service account carries no IRSA role, so a store that names no `auth` gets no AWS credentials
(nodes answer instance metadata with a hop limit of 1, out of a pod's reach). The platform's
`ClusterSecretStore` authenticates as a dedicated service account, `platform-secrets`, whose IRSA
role (trusting exactly that account) reads only the platform's own secrets
(`<project>/<env>/platform/…`); the controller requests that account's tokens (the chart's
ClusterRole grants `serviceaccounts/token` create). The store serves only the platform's
namespaces, listed by name in its `conditions`. Tenants get namespaced SecretStores that
authenticate as their own `workload` service account (components/tenant.py), and Kyverno admits
no other kind of SecretStore in a tenant namespace (components/core/policy.py,
`restrict-tenant-secret-stores`): the chart aggregates SecretStores into `edit` and `admin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config import SecretsConfig
from components.core.base import (
    service_role,
    ordered_after,
    ClusterContext,
    helm_release,
    irsa_annotation,
    platform_namespace,
    resources,
)
from components.iam import allow, policy_document
from components.kubernetes import MANAGED_BY_LABELS
from components.versions import CHARTS

NAMESPACES = ("external-secrets",)
NAMESPACE = NAMESPACES[0]
SERVICE_ACCOUNT = "external-secrets"
# The identity of the platform's ClusterSecretStore, and the only one its IRSA role trusts.
STORE_SERVICE_ACCOUNT = "platform-secrets"
CLUSTER_SECRET_STORE = "platform-secrets-manager"
STORE_API_VERSION = "external-secrets.io/v1"

# What ESO's AWS Secrets Manager guide lists for reading secrets by name. Deliberately absent:
# GetResourcePolicy (only for PushSecret's resource policies), ListSecrets and BatchGetSecretValue
# (only for `dataFrom.find`, and they cannot be scoped to a prefix), and every write action.
READ_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecretVersionIds",
)

# The chart's own defaults, restated so the plan shows every container is `restricted`-compliant.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "enabled": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def platform_secret_prefix(project: str, environment: str) -> str:
    """Where the platform's own secrets live in Secrets Manager, e.g. `paved-road/dev/platform/`."""
    return f"{project}/{environment}/platform/"


def secrets_arn(region: str, account_id: str, prefix: str) -> str:
    """Every secret under `prefix`; the `*` also covers the random suffix AWS appends to names."""
    return f"arn:aws:secretsmanager:{region}:{account_id}:secret:{prefix}*"


@dataclass(frozen=True)
class SecretsArgs:
    context: ClusterContext
    config: SecretsConfig
    platform_namespaces: list[str]


class SecretsService(pulumi.ComponentResource):
    cluster_secret_store_name: str
    platform_secret_prefix: str
    # Brings the SecretStore and ExternalSecret CRDs and the webhook that admits them.
    release: k8s.helm.v3.Release
    cluster_secret_store: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: SecretsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Secrets", name, None, opts)
        context = args.context
        after = ordered_after(opts)
        self.platform_secret_prefix = platform_secret_prefix(context.project, context.environment)
        self.cluster_secret_store_name = CLUSTER_SECRET_STORE

        namespace = platform_namespace(
            f"{name}-namespace", NAMESPACE, parent=self, provider=context.provider
        )
        # The logical name stays `-controller` so the role is updated in place, not replaced.
        role = service_role(
            f"{name}-controller",
            context,
            role_suffix="external-secrets",
            namespace=NAMESPACE,
            service_account=STORE_SERVICE_ACCOUNT,
            policy=self._read_platform_secrets(context),
            parent=self,
        )
        store_account = k8s.core.v1.ServiceAccount(
            f"{name}-store-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=STORE_SERVICE_ACCOUNT,
                namespace=namespace.metadata.name,
                labels=dict(MANAGED_BY_LABELS),
                annotations=irsa_annotation(role.arn),
            ),
            # Only the controller's token requests use it; no pod runs as it.
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self, provider=context.provider),
        )
        self.release = release = helm_release(
            f"{name}-operator",
            CHARTS["external-secrets"],
            namespace=namespace.metadata.name,
            values=chart_values(replicas=2 if context.production else 1),
            parent=self,
            provider=context.provider,
            depends_on=after,
        )
        self.cluster_secret_store = self._cluster_secret_store(
            name, context, args.platform_namespaces, [release, store_account]
        )
        self.register_outputs(
            {
                "clusterSecretStoreName": self.cluster_secret_store_name,
                "platformSecretPrefix": self.platform_secret_prefix,
                "storeRoleArn": role.arn,
            }
        )

    def _read_platform_secrets(self, context: ClusterContext) -> pulumi.Output[str]:
        """Read-only, and only the platform prefix: never `*`, never a tenant's secrets."""
        return context.account_id.apply(
            lambda account_id: policy_document(
                allow(
                    READ_ACTIONS,
                    [secrets_arn(context.region, account_id, self.platform_secret_prefix)],
                    Sid="ReadPlatformSecrets",
                )
            )
        )

    def _cluster_secret_store(
        self,
        name: str,
        context: ClusterContext,
        platform_namespaces: list[str],
        after: list[pulumi.Resource],
    ) -> k8s.apiextensions.CustomResource:
        """One store for the platform's namespaces only. It authenticates with a token of the
        `platform-secrets` service account (`auth.jwt.serviceAccountRef`, ESO v1 AWS provider;
        the role comes from that account's IRSA annotation), so it can read exactly what that
        role can: the platform prefix. It waits for the release (the chart brings the CRD and the
        validating webhook that admits it) and for the service account."""
        return k8s.apiextensions.CustomResource(
            f"{name}-cluster-secret-store",
            api_version=STORE_API_VERSION,
            kind="ClusterSecretStore",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CLUSTER_SECRET_STORE, labels=dict(MANAGED_BY_LABELS)
            ),
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": context.region,
                        "auth": {
                            "jwt": {
                                "serviceAccountRef": {
                                    "name": STORE_SERVICE_ACCOUNT,
                                    "namespace": NAMESPACE,
                                }
                            }
                        },
                    }
                },
                "conditions": [{"namespaces": sorted(platform_namespaces)}],
            },
            opts=pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=after),
        )


def chart_values(replicas: int) -> dict[str, Any]:
    """Values of the `external-secrets` chart. With more than one replica each Deployment gets a
    PodDisruptionBudget; leader election is always on, so a rolling update never has two
    controllers writing the same Secret.

    The controller's service account has no annotations: no IRSA role, so no AWS identity a
    store without `auth` could borrow. The chart's `rbac.aggregateToEdit`/`aggregateToAdmin` stay
    on (teams write their own ExternalSecrets); what a team's SecretStore may be is Kyverno's
    `restrict-tenant-secret-stores`."""

    def deployment(cpu: str, memory: str, cpu_limit: str) -> dict[str, Any]:
        return {
            "resources": resources(cpu, memory, cpu_limit),
            "securityContext": RESTRICTED_CONTAINER,
            "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
        }

    return {
        "installCRDs": True,
        "replicaCount": replicas,
        "leaderElect": True,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": {},
        },
        # Restated (the chart's defaults) so the plan shows what teams' roles gain: edit (and
        # admin, which aggregates edit) may write SecretStores, ExternalSecrets and generators.
        "rbac": {"create": True, "aggregateToView": True, "aggregateToEdit": True},
        **deployment("50m", "128Mi", "200m"),
        "webhook": {"replicaCount": replicas, **deployment("25m", "64Mi", "100m")},
        "certController": {
            "replicaCount": replicas,
            "extraArgs": {"enable-leader-election": True},
            **deployment("25m", "64Mi", "100m"),
        },
    }
