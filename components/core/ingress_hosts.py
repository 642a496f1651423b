"""Names in tenants' hands: a tenant's Ingresses may carry only the host names approved for it.

config.py approves a tenant's names (its apps' hosts, each under `*.<tenant>.<zone>` or granted by
the stack, none shared) and external-dns publishes only Ingresses carrying the platform's
`paved-road/external-dns` annotation. But a tenant with the built-in `edit` role can create any
Ingress with any annotation, so neither is a guard on its own: this ClusterPolicy is. In each
tenant's namespaces it admits an Ingress only when every host of its rules and TLS section is one
of that tenant's approved names, and never a wildcard host.

The wildcard rule is needed because Kyverno's `AnyNotIn` matches wildcards in both directions
(kyverno/kyverno pkg/engine/variables/operator/anyin.go, `isAnyNotIn`): a host `*.example.com`
would otherwise match any approved name under it, and external-dns would publish the wildcard.

It fails like the rest of the baseline (`core.policy.mode`): where Kyverno only audits (dev by
default), a tenant's Ingress naming a foreign host is reported, not refused, and external-dns
publishes it if the tenant also writes the annotation; staging and production enforce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

POLICY_NAME = "restrict-ingress-hosts"
# Every host an Ingress names, in its rules and its TLS section; `[]` when it names none. Each
# part defaults to `[]` on its own: flattening a null would leave a null element in go-jmespath.
INGRESS_HOSTS = "(request.object.spec.[rules[].host || `[]`, tls[].hosts[] || `[]`][] || `[]`)"


@dataclass(frozen=True)
class TenantHosts:
    """One tenant's namespaces and the host names approved for it, as plain data."""

    tenant: str
    namespaces: tuple[str, ...]
    hosts: tuple[str, ...]


def rule_name(tenant: str) -> str:
    return f"ingress-hosts-{tenant}"


def message(tenant: TenantHosts) -> str:
    approved = ", ".join(tenant.hosts) or "none: the tenant serves no app"
    return (
        f"An Ingress of tenant {tenant.tenant} may only name the hosts approved for it "
        f"({approved}), and no wildcard host: declare the app in the tenant file, or ask the "
        "platform team to grant the name in the stack file."
    )


def match(tenant: TenantHosts) -> dict[str, Any]:
    """The `match.any[].resources` besides `kinds`: the tenant's namespaces, on admission."""
    return {"namespaces": list(tenant.namespaces), "operations": ["CREATE", "UPDATE"]}


def deny(tenant: TenantHosts) -> dict[str, Any]:
    """Deny when some host is not approved, or any host is a wildcard."""
    return {
        "deny": {
            "conditions": {
                "any": [
                    {
                        "key": f"{{{{ {INGRESS_HOSTS} }}}}",
                        "operator": "AnyNotIn",
                        "value": list(tenant.hosts),
                    },
                    {
                        "key": f"{{{{ contains(join(' ', {INGRESS_HOSTS}), '*') }}}}",
                        "operator": "Equals",
                        "value": True,
                    },
                ]
            }
        }
    }


DESCRIPTION = (
    "external-dns publishes the hosts of annotated Ingresses, and a tenant can write both the "
    "annotation and any host. In a tenant's namespaces an Ingress may name only the hosts the "
    "platform approved for that tenant (its apps' hosts, or names the stack grants it)."
)
