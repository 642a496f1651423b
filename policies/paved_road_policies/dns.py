"""DNS: a tenant's self-service names stay under its own subdomain.

A tenant's `dns` resource (components/resources/dns.py) is `<name>.<tenant>.<zone>`; records made
for it (its certificate's validation) are inside that subdomain, never at a zone apex or under
another tenant's name.
"""

from __future__ import annotations

from typing import Any, Iterator

from .core import HIGH, Context, Finding, Resource, Stack, is_unknown, stack_rule

RECORD = "aws:route53/record:Record"
DNS_NAME_COMPONENT = "paved-road:resources:DnsName"
TENANT_COMPONENT = "paved-road:tenants:Tenant"


def _tenant_of(stack: Stack, resource: Resource) -> Any:
    """The name of the Tenant component a resource was created under, or None."""
    current = stack.get(resource.parent)
    while current is not None:
        if current.type == TENANT_COMPONENT:
            return current.name
        current = stack.get(current.parent)
    return None


@stack_rule(
    name="dns-tenant-subdomain",
    description=(
        "A tenant's self-service DNS names and their records lie inside the tenant's own "
        "subdomain (`<name>.<tenant>.<zone>`), never at a zone apex or under another tenant."
    ),
    remediation="Build the name as `<name>.<tenant>.<zone>` (components/resources/dns.py).",
    severity=HIGH,
)
def tenant_subdomain(stack: Stack, context: Context) -> Iterator[Finding]:
    for record in stack.of_type(RECORD):
        if DNS_NAME_COMPONENT not in record.ancestor_types:
            continue
        name, tenant = record.get("name"), _tenant_of(stack, record)
        if is_unknown(name) or not isinstance(name, str):
            continue
        labels = name.rstrip(".").split(".")
        # <…>.<name>.<tenant>.<zone…>: the tenant's label with a name before it and a zone after.
        inside = any(
            label == tenant and 1 <= index < len(labels) - 1 for index, label in enumerate(labels)
        )
        if tenant is None or not inside:
            yield Finding(
                record.urn,
                f"{name!r} is outside tenant {tenant!r}'s subdomain (<name>.{tenant}.<zone>)",
            )
