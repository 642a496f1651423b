"""PLACEHOLDER — being implemented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import ObservabilityConfig
from components.core.base import ClusterContext

NAMESPACES = ("monitoring", "logging")


@dataclass(frozen=True)
class ObservabilityArgs:
    context: ClusterContext
    config: ObservabilityConfig


class Observability(pulumi.ComponentResource):
    prometheus_url: str

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Observability", name, None, opts)
        self.prometheus_url = None  # type: ignore[assignment]
        self.register_outputs({})
