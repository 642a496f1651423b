"""PLACEHOLDER — being implemented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import CertManagerConfig, HostedZoneConfig
from components.core.base import ClusterContext

NAMESPACES = ("cert-manager",)


@dataclass(frozen=True)
class CertManagerArgs:
    context: ClusterContext
    config: CertManagerConfig
    zones: list[HostedZoneConfig]


class CertManager(pulumi.ComponentResource):
    cluster_issuer_name: Optional[str]

    def __init__(
        self, name: str, args: CertManagerArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:CertManager", name, None, opts)
        self.cluster_issuer_name = None  # type: ignore[assignment]
        self.register_outputs({})
