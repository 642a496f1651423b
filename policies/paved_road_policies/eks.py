"""EKS control plane: encrypted secrets, full audit logs, a private API, access entries, a
supported version.

Two views of one cluster. `pulumi preview` shows the `aws:eks/cluster:Cluster` that pulumi-eks
creates inside its component (`encryptionConfig.provider.keyArn`, `vpcConfig.*`,
`accessConfig.authenticationMode`, …, as pulumi-eks' `createCore` builds them); the offline plan
records the `eks:index:Cluster` component's own inputs (`encryptionConfigKeyArn`,
`endpointPublicAccess`, …). Each rule reads both through `cluster_settings`, so it holds for what a
real preview sees and for the plan. A component whose inputs the engine does not show (a real
preview registers remote components without them) is left to its child cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional

from components.versions import SUPPORTED_KUBERNETES_VERSIONS

from .cidrs import covers_internet, public_blocks
from .core import CRITICAL, HIGH, Context, Resource, as_list, dig, is_unknown, resource_rule

AWS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_COMPONENT = "eks:index:Cluster"
CLUSTER_TYPES = (AWS_CLUSTER, EKS_COMPONENT)
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


@dataclass(frozen=True)
class ClusterSettings:
    """The settings every EKS rule judges, read from either view, with AWS's defaults applied
    where a setting is absent (so an omission is judged as what AWS would do)."""

    key_arn: Any
    encrypted_resources: Any
    log_types: Any
    public_access: Any
    public_cidrs: Any
    authentication_mode: Any
    version: Any


def cluster_settings(resource: Resource) -> Optional[ClusterSettings]:
    inputs = resource.inputs
    if resource.type == EKS_COMPONENT:
        if not inputs:
            return None
        public = inputs.get("endpointPublicAccess", True)
        return ClusterSettings(
            key_arn=inputs.get("encryptionConfigKeyArn"),
            # pulumi-eks always encrypts "secrets" with the key it is given.
            encrypted_resources=["secrets"] if inputs.get("encryptionConfigKeyArn") else [],
            log_types=inputs.get("enabledClusterLogTypes"),
            public_access=public,
            public_cidrs=inputs.get("publicAccessCidrs"),
            # pulumi-eks leaves the mode unset when not given: EKS then uses CONFIG_MAP.
            authentication_mode=inputs.get("authenticationMode", "CONFIG_MAP"),
            version=inputs.get("version"),
        )
    encryption = inputs.get("encryptionConfig")
    if isinstance(encryption, list):  # older provider schemas model it as a one-item list
        encryption = encryption[0] if encryption else None
    return ClusterSettings(
        key_arn=dig(encryption, "provider", "keyArn"),
        encrypted_resources=dig(encryption, "resources"),
        log_types=inputs.get("enabledClusterLogTypes"),
        public_access=dig(inputs, "vpcConfig", "endpointPublicAccess"),
        public_cidrs=dig(inputs, "vpcConfig", "publicAccessCidrs"),
        authentication_mode=dig(inputs, "accessConfig", "authenticationMode") or "CONFIG_MAP",
        version=inputs.get("version"),
    )


@resource_rule(
    name="eks-secrets-encryption",
    description="Kubernetes secrets in EKS are envelope-encrypted with a customer-managed KMS key.",
    remediation=(
        "Pass a customer-managed key's ARN as `encryption_config_key_arn` (pulumi-eks) or "
        "`encryption_config.provider.key_arn` with resources ['secrets']."
    ),
    severity=CRITICAL,
    types=CLUSTER_TYPES,
)
def secrets_encryption(resource: Resource, context: Context) -> Iterator[str]:
    settings = cluster_settings(resource)
    if settings is None or is_unknown(settings.key_arn):
        return
    if not settings.key_arn:
        yield "secrets are not envelope-encrypted: no KMS key is configured"
        return
    if isinstance(settings.key_arn, str) and (
        "alias/aws/" in settings.key_arn or not settings.key_arn.startswith("arn:")
    ):
        yield f"secrets key {settings.key_arn!r} is not a customer-managed KMS key ARN"
    resources = settings.encrypted_resources
    if not is_unknown(resources) and "secrets" not in as_list(resources):
        yield f"encryptionConfig.resources is {resources!r}: it must include 'secrets'"


@resource_rule(
    name="eks-control-plane-logging",
    description="All five EKS control-plane log types go to CloudWatch.",
    remediation=f"Set `enabled_cluster_log_types` to {list(LOG_TYPES)}.",
    severity=HIGH,
    types=CLUSTER_TYPES,
)
def control_plane_logging(resource: Resource, context: Context) -> Iterator[str]:
    settings = cluster_settings(resource)
    if settings is None or is_unknown(settings.log_types):
        return
    missing = [t for t in LOG_TYPES if t not in as_list(settings.log_types)]
    if missing:
        yield f"control-plane log types not enabled: {', '.join(missing)}"


@resource_rule(
    name="eks-endpoint-access",
    description=(
        "The EKS API endpoint is private, or public only from listed CIDRs, never from anywhere."
    ),
    remediation=(
        "Set `endpoint_public_access=False`, or list the networks allowed in "
        "(`paved-road:cluster.publicAccessCidrs`); never 0.0.0.0/0."
    ),
    severity=CRITICAL,
    types=CLUSTER_TYPES,
)
def endpoint_access(resource: Resource, context: Context) -> Iterator[str]:
    settings = cluster_settings(resource)
    if settings is None or is_unknown(settings.public_access):
        return
    # AWS's defaults: the endpoint is public unless turned off, and open to 0.0.0.0/0 unless
    # CIDRs are listed.
    if settings.public_access is False:
        return
    if is_unknown(settings.public_cidrs):
        return
    cidrs = as_list(settings.public_cidrs)
    if not cidrs:
        yield "the API endpoint is public with no CIDRs listed: AWS opens it to 0.0.0.0/0"
        return
    known = [c for c in cidrs if not is_unknown(c)]
    if covers_internet(known):
        # The union, not each entry: two /1s open the endpoint as wide as one /0.
        yield f"the public API endpoint is open to the internet: {', '.join(public_blocks(known))}"


@resource_rule(
    name="eks-authentication-mode",
    description="EKS authenticates with access entries only (authentication mode API).",
    remediation="Set `authentication_mode=eks.AuthenticationMode.API` and grant access entries.",
    severity=HIGH,
    types=CLUSTER_TYPES,
)
def authentication_mode(resource: Resource, context: Context) -> Iterator[str]:
    settings = cluster_settings(resource)
    if settings is None or is_unknown(settings.authentication_mode):
        return
    if settings.authentication_mode != "API":
        yield (
            f"authentication mode is {settings.authentication_mode!r}: the aws-auth ConfigMap "
            "can grant access outside access entries"
        )


@resource_rule(
    name="eks-supported-version",
    description="EKS runs a Kubernetes minor this platform supports (components/versions.py).",
    remediation=(
        "Set `paved-road:cluster.version` to one of "
        f"{', '.join(SUPPORTED_KUBERNETES_VERSIONS)}; add a minor to components/versions.py first."
    ),
    severity=HIGH,
    types=CLUSTER_TYPES,
    options={
        "supportedVersions": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(SUPPORTED_KUBERNETES_VERSIONS),
            "description": "Kubernetes minors the platform is tested against.",
        }
    },
)
def supported_version(resource: Resource, context: Context) -> Iterator[str]:
    settings = cluster_settings(resource)
    if settings is None or is_unknown(settings.version):
        return
    supported = [str(v) for v in as_list(context.option("supportedVersions"))]
    if not settings.version:
        yield "no Kubernetes version is pinned: EKS would pick its default and upgrades float"
    elif str(settings.version) not in supported:
        yield (
            f"Kubernetes {settings.version} is not supported "
            f"(supported: {', '.join(supported)})"
        )
