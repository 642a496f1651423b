"""Kubernetes conventions every layer follows: the labels that say who manages an object."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Sequence

MANAGED_BY = "paved-road"
MANAGED_BY_LABELS: Mapping[str, str] = MappingProxyType(
    {"app.kubernetes.io/managed-by": MANAGED_BY}
)

# Every object that belongs to a tenant carries its name under this label; network policies and
# admission policies select tenants by it.
TENANT_LABEL = "paved-road/tenant"
# The product domain a tenant belongs to (domains/<domain>.yaml): the policy pack reads it to
# apply the stricter levels a domain sets, and queries group by it.
DOMAIN_LABEL = "paved-road/domain"
DOMAIN_TAG = "paved-road:domain"

# external-dns publishes only Ingresses carrying this annotation (its `--annotation-filter`); the
# platform sets it on the Ingresses it renders. A tenant can write it too, so it is a filter, not
# a guard: Kyverno's `restrict-ingress-hosts` holds a tenant's Ingresses to its approved names.
DNS_PUBLISH_ANNOTATION = "paved-road/external-dns"
DNS_PUBLISH: Mapping[str, str] = MappingProxyType({DNS_PUBLISH_ANNOTATION: "publish"})

# Spot capacity (Karpenter's spot NodePool, components/core/karpenter.py) is tainted with this:
# only pods that tolerate interruption land there, and a pod asks for it by tolerating the taint
# (a tenant app's `capacity: spot`). Its nodes carry the same key as a label.
CAPACITY_TYPE_KEY = "paved-road/capacity-type"
SPOT_TAINT: Mapping[str, str] = MappingProxyType(
    {"key": CAPACITY_TYPE_KEY, "value": "spot", "effect": "NoSchedule"}
)


# External Secrets' served API (only v1 is, from 2.x on).
EXTERNAL_SECRET_API_VERSION = "external-secrets.io/v1"


def external_secret(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    *,
    store_name: str,
    data: Sequence[Mapping[str, Any]],
    store_kind: str = "SecretStore",
) -> dict[str, Any]:
    """An ExternalSecret as the platform writes them: the Secret `name` in `namespace`, owned by
    it and labelled like it, filled hourly from `store_name` with `data` (secretKey/remoteRef
    pairs). The value never passes through the plan or the state."""
    return {
        "apiVersion": EXTERNAL_SECRET_API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"name": store_name, "kind": store_kind},
            "target": {
                "name": name,
                "creationPolicy": "Owner",
                "template": {"metadata": {"labels": dict(labels)}},
            },
            "data": [dict(entry) for entry in data],
        },
    }
