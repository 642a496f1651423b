"""Kubernetes conventions every layer follows: the labels that say who manages an object."""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

MANAGED_BY = "paved-road"
MANAGED_BY_LABELS: Mapping[str, str] = MappingProxyType(
    {"app.kubernetes.io/managed-by": MANAGED_BY}
)

# Every object that belongs to a tenant carries its name under this label; network policies and
# admission policies select tenants by it.
TENANT_LABEL = "paved-road/tenant"
