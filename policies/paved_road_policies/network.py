"""Network: the internet reaches only load balancers, and only on HTTP and HTTPS.

Nodes and pods sit in private subnets; anything open to the internet that is not a load
balancer's security group, or that opens more than ports 80 and 443, is a hole around the
platform's ingress path. "Open to the internet" is computed, not matched: `0.0.0.0/0`, `::/0`, two
`/1` halves or many ranges that add up to the internet (cidrs.py says exactly when), over all the
blocks one opening lists. Egress to the internet is normal (NAT, AWS APIs) and not judged here.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from .cidrs import covers_internet, public_blocks
from .core import HIGH, Context, Finding, Resource, Stack, as_list, is_unknown, stack_rule

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
GROUPS = (SECURITY_GROUP, DEFAULT_SECURITY_GROUP)
GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LOAD_BALANCERS = (
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:alb/loadBalancer:LoadBalancer",
    "aws:elb/loadBalancer:LoadBalancer",
)
TCP = ("tcp", "6")


def _openings(resource: Resource) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, {fromPort, toPort, protocol, cidrs}) for every ingress opening a resource makes."""
    if resource.type in GROUPS:
        for index, rule in enumerate(as_list(resource.get("ingress"))):
            if isinstance(rule, Mapping):
                cidrs = as_list(rule.get("cidrBlocks")) + as_list(rule.get("ipv6CidrBlocks"))
                yield f"ingress[{index}]", {**rule, "cidrs": cidrs}
    elif resource.type == GROUP_RULE and resource.get("type") == "ingress":
        cidrs = as_list(resource.get("cidrBlocks")) + as_list(resource.get("ipv6CidrBlocks"))
        yield "rule", {**resource.inputs, "cidrs": cidrs}
    elif resource.type == INGRESS_RULE:
        cidrs = [resource.get("cidrIpv4"), resource.get("cidrIpv6")]
        yield "rule", {
            "fromPort": resource.get("fromPort"),
            "toPort": resource.get("toPort"),
            "protocol": resource.get("ipProtocol"),
            "cidrs": [c for c in cidrs if c is not None],
        }


def _group_of(stack: Stack, resource: Resource) -> list[Resource]:
    if resource.type in GROUPS:
        return [resource]
    group_id = resource.get("securityGroupId")
    groups, _ = stack.referenced(resource, "securityGroupId", [group_id], GROUPS)
    return groups


def _load_balancer_groups(stack: Stack) -> set[str]:
    urns: set[str] = set()
    for balancer in stack.of_type(*LOAD_BALANCERS):
        ids = balancer.get("securityGroups")
        values = [ids] if is_unknown(ids) else as_list(ids)
        groups, _ = stack.referenced(balancer, "securityGroups", values, GROUPS)
        urns.update(g.urn for g in groups)
    return urns


@stack_rule(
    name="network-public-ingress",
    description=(
        "Security groups are open to the internet (0.0.0.0/0, ::/0 or any set of ranges adding up "
        "to it) only on ports 80/443, and only for load balancers."
    ),
    remediation=(
        "Open internet ingress only on a load balancer's security group (one a load balancer in "
        "the stack uses), TCP 80 or 443; reach everything else through the load balancer."
    ),
    severity=HIGH,
    options={
        "publicPorts": {
            "type": "array",
            "items": {"type": "integer"},
            "default": [80, 443],
            "description": "TCP ports a load balancer may open to the internet.",
        }
    },
)
def public_ingress(stack: Stack, context: Context) -> Iterator[Finding]:
    allowed = set(as_list(context.option("publicPorts")))
    balancer_groups = _load_balancer_groups(stack)
    for resource in stack.of_type(*GROUPS, GROUP_RULE, INGRESS_RULE):
        for where, opening in _openings(resource):
            cidrs = [c for c in opening["cidrs"] if not is_unknown(c)]
            if not covers_internet(cidrs):
                continue
            world = public_blocks(cidrs)
            first, last = opening.get("fromPort"), opening.get("toPort")
            protocol = str(opening.get("protocol")).lower()
            ports = "all ports" if protocol in ("-1", "all") else f"{protocol} {first}-{last}"
            if protocol not in TCP or first != last or first not in allowed:
                yield Finding(
                    resource.urn,
                    f"{where} opens {ports} to {', '.join(world)}: only TCP "
                    f"{'/'.join(str(p) for p in sorted(allowed))} may be public",
                )
            elif not any(g.urn in balancer_groups for g in _group_of(stack, resource)):
                yield Finding(
                    resource.urn,
                    f"{where} opens {ports} to {', '.join(world)} on a security group no load "
                    "balancer of the stack uses",
                )
