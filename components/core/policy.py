"""PLACEHOLDER — being implemented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import PolicyConfig
from components.core.base import ClusterContext

NAMESPACES = ("kyverno",)


@dataclass(frozen=True)
class PolicyArgs:
    context: ClusterContext
    config: PolicyConfig
    platform_namespaces: list[str]


class PolicyEngine(pulumi.ComponentResource):

    def __init__(
        self, name: str, args: PolicyArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Policy", name, None, opts)
        self.register_outputs({})
