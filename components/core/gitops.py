"""PLACEHOLDER — being implemented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import GitOpsConfig
from components.core.base import ClusterContext

NAMESPACES = ("argocd",)


@dataclass(frozen=True)
class GitOpsArgs:
    context: ClusterContext
    config: GitOpsConfig
    secret_store_name: Optional[str]


class GitOps(pulumi.ComponentResource):

    def __init__(
        self, name: str, args: GitOpsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:GitOps", name, None, opts)
        self.register_outputs({})
