"""Kubernetes conventions every layer follows: the labels that say who manages an object."""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

MANAGED_BY = "paved-road"
MANAGED_BY_LABELS: Mapping[str, str] = MappingProxyType(
    {"app.kubernetes.io/managed-by": MANAGED_BY}
)
