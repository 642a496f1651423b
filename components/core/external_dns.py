"""PLACEHOLDER — being implemented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import ExternalDnsConfig, HostedZoneConfig
from components.core.base import ClusterContext

NAMESPACES = ("external-dns",)


@dataclass(frozen=True)
class ExternalDnsArgs:
    context: ClusterContext
    config: ExternalDnsConfig
    zones: list[HostedZoneConfig]


class ExternalDns(pulumi.ComponentResource):

    def __init__(
        self, name: str, args: ExternalDnsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:ExternalDns", name, None, opts)
        self.register_outputs({})
