"""Every version the platform installs, pinned in one place.

Nothing floats: an upgrade is a one-line change here that a reviewer sees in the plan diff, never a
side effect of re-running `pulumi up` on a later day. EKS add-on builds are tied to a Kubernetes
minor, so they are pinned per supported minor; moving the cluster to a new minor moves its add-ons
with it, in the same reviewed change.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

# Kubernetes minors this release of Paved Road is tested against: EKS standard support.
DEFAULT_KUBERNETES_VERSION = "1.35"


def _addons(**builds: str) -> Mapping[str, str]:
    return MappingProxyType({name.replace("_", "-"): build for name, build in builds.items()})


# EKS managed add-ons, as `aws eks describe-addon-versions` names their builds, per minor.
EKS_ADDONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "1.34": _addons(
            vpc_cni="v1.21.1-eksbuild.3",
            coredns="v1.13.2-eksbuild.1",
            kube_proxy="v1.34.3-eksbuild.5",
            aws_ebs_csi_driver="v1.56.0-eksbuild.1",
            eks_pod_identity_agent="v1.3.10-eksbuild.2",
        ),
        "1.35": _addons(
            vpc_cni="v1.21.1-eksbuild.3",
            coredns="v1.13.2-eksbuild.1",
            kube_proxy="v1.35.0-eksbuild.2",
            aws_ebs_csi_driver="v1.57.1-eksbuild.1",
            eks_pod_identity_agent="v1.3.10-eksbuild.3",
        ),
        "1.36": _addons(
            vpc_cni="v1.22.4-eksbuild.3",
            coredns="v1.14.3-eksbuild.16",
            kube_proxy="v1.36.0-eksbuild.21",
            aws_ebs_csi_driver="v1.63.1-eksbuild.1",
            eks_pod_identity_agent="v1.3.10-eksbuild.3",
        ),
    }
)

SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = tuple(sorted(EKS_ADDONS))

# The EKS-optimized AMI family for managed node groups (AL2 is retired from 1.33 on).
NODE_AMI_TYPE = "AL2023_x86_64_STANDARD"
