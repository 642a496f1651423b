"""PLACEHOLDER — being implemented."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import IngressConfig
from components.core.base import ClusterContext

NAMESPACES = ("aws-load-balancer-controller",)


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    context: ClusterContext
    config: IngressConfig


class LoadBalancerController(pulumi.ComponentResource):
    ingress_class_name: str

    def __init__(
        self,
        name: str,
        args: LoadBalancerControllerArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("paved-road:core:LoadBalancerController", name, None, opts)
        self.ingress_class_name = None  # type: ignore[assignment]
        self.register_outputs({})
