"""PLACEHOLDER — being implemented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import SecretsConfig
from components.core.base import ClusterContext

NAMESPACES = ("external-secrets",)


@dataclass(frozen=True)
class SecretsArgs:
    context: ClusterContext
    config: SecretsConfig
    platform_namespaces: list[str]


class SecretsService(pulumi.ComponentResource):
    cluster_secret_store_name: str

    def __init__(
        self, name: str, args: SecretsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Secrets", name, None, opts)
        self.cluster_secret_store_name = None  # type: ignore[assignment]
        self.register_outputs({})
