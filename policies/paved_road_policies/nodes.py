"""Worker nodes: IMDSv2 with a short hop limit, encrypted disks, private subnets only.

A pod that can reach the instance metadata service with IMDSv1, or through a hop limit above 1,
can take the node's IAM credentials; an unencrypted root volume leaks whatever pods wrote to it; a
node in a public subnet is one security group mistake away from the internet.
"""

from __future__ import annotations

from typing import Any, Iterator

from .core import (
    ADVISORY,
    HIGH,
    MEDIUM,
    Context,
    Finding,
    Resource,
    Stack,
    as_list,
    is_unknown,
    resource_rule,
    stack_rule,
)

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


def _metadata(resource: Resource) -> Any:
    options = resource.get("metadataOptions")
    if isinstance(options, list):  # older provider schemas model it as a one-item list
        options = options[0] if options else None
    return options


@resource_rule(
    name="nodes-imdsv2-required",
    description="Launch templates require IMDSv2 tokens with a hop limit of at most 2.",
    remediation=(
        "Set `metadata_options` with `http_tokens='required'` and "
        "`http_put_response_hop_limit` 1 (2 only for pods that must reach IMDS)."
    ),
    severity=HIGH,
    types=(LAUNCH_TEMPLATE,),
    options={
        "maxHopLimit": {
            "type": "integer",
            "default": 2,
            "description": "The highest IMDS hop limit allowed.",
        }
    },
)
def imdsv2_required(resource: Resource, context: Context) -> Iterator[str]:
    options = _metadata(resource)
    if is_unknown(options):
        return
    if not options:
        yield "no metadataOptions: instances accept IMDSv1 (httpTokens defaults to 'optional')"
        return
    if options.get("httpEndpoint") == "disabled":
        return  # no metadata service at all
    tokens = options.get("httpTokens")
    if not is_unknown(tokens) and tokens != "required":
        yield f"metadataOptions.httpTokens is {tokens!r}: IMDSv2 must be 'required'"
    hops = options.get("httpPutResponseHopLimit")
    limit = context.option("maxHopLimit")
    if isinstance(hops, (int, float)) and not isinstance(hops, bool) and hops > limit:
        yield f"metadataOptions.httpPutResponseHopLimit is {hops:g}: at most {limit} is allowed"


@resource_rule(
    name="nodes-imds-hop-limit-one",
    description="Launch templates keep the IMDS hop limit at 1 unless pods must reach IMDS.",
    remediation=(
        "Leave `metadataHopLimit` at 1 in the node group config; raise it to 2 only for a node "
        "group whose pods need the node's metadata (and accept this advisory there)."
    ),
    severity=MEDIUM,
    level=ADVISORY,
    types=(LAUNCH_TEMPLATE,),
)
def imds_hop_limit_one(resource: Resource, context: Context) -> Iterator[str]:
    options = _metadata(resource)
    if not isinstance(options, dict):
        return
    hops = options.get("httpPutResponseHopLimit")
    if isinstance(hops, (int, float)) and not isinstance(hops, bool) and hops > 1:
        yield f"metadataOptions.httpPutResponseHopLimit is {hops:g}: pods can reach node credentials"


def _truthy(value: Any) -> bool:
    # LaunchTemplate's `ebs.encrypted` is a string in the provider schema ("true"/"false").
    return value is True or (isinstance(value, str) and value.lower() == "true")


@resource_rule(
    name="nodes-volumes-encrypted",
    description="Node volumes are encrypted: every launch template EBS mapping, no bare node group.",
    remediation=(
        "Give every block device mapping `ebs.encrypted='true'`, and give managed node groups a "
        "launch template (`launch_template`) instead of EKS's default disks."
    ),
    severity=HIGH,
    types=(LAUNCH_TEMPLATE, NODE_GROUP),
)
def volumes_encrypted(resource: Resource, context: Context) -> Iterator[str]:
    if resource.type == NODE_GROUP:
        template = resource.get("launchTemplate")
        if not is_unknown(template) and not template:
            yield "the node group has no launch template: its disks are EKS defaults, unencrypted"
        return
    mappings = resource.get("blockDeviceMappings")
    if is_unknown(mappings):
        return
    if not mappings:
        yield "no blockDeviceMappings: the root volume follows the AMI and is not encrypted"
        return
    for index, mapping in enumerate(as_list(mappings)):
        if not isinstance(mapping, dict) or mapping.get("noDevice") or mapping.get("virtualName"):
            continue  # suppressed devices and instance-store volumes carry no EBS data
        encrypted = (mapping.get("ebs") or {}).get("encrypted")
        if not is_unknown(encrypted) and not _truthy(encrypted):
            device = mapping.get("deviceName", index)
            yield f"blockDeviceMappings[{index}] ({device}): ebs.encrypted is {encrypted!r}"


@resource_rule(
    name="nodes-group-replaceable",
    description=(
        "A managed node group can be replaced: named by prefix, or deleted before its replacement."
    ),
    remediation=(
        "Use `node_group_name_prefix` (the new group is created before the old one is deleted, so "
        "capacity stays) rather than a fixed `node_group_name`; or set `delete_before_replace`."
    ),
    severity=MEDIUM,
    types=(NODE_GROUP,),
)
def group_replaceable(resource: Resource, context: Context) -> Iterator[str]:
    """Instance types, capacity type, AMI type and subnets change only by replacement. Pulumi
    creates the replacement first, and EKS refuses a second group with the same name."""
    name = resource.get("nodeGroupName")
    if isinstance(name, str) and not resource.options.get("deleteBeforeReplace"):
        yield (
            f"fixed name {name!r} without deleteBeforeReplace: replacing the group (a change of "
            "instance types, say) would create a second group with the same name, which EKS "
            "refuses"
        )


def _public_reason(subnet: Resource) -> str:
    tags = subnet.tags if isinstance(subnet.tags, dict) else {}
    if subnet.get("mapPublicIpOnLaunch") is True:
        return "maps public IPs on launch"
    if PUBLIC_ELB_TAG in tags:
        return f"is tagged {PUBLIC_ELB_TAG} (internet-facing load balancers)"
    if INTERNAL_ELB_TAG not in tags:
        return f"is not tagged {INTERNAL_ELB_TAG}, the platform's mark of a private subnet"
    return ""


@stack_rule(
    name="nodes-private-subnets",
    description="Managed node groups run in private subnets only.",
    remediation=(
        "Pass only the network's private subnets (`private_subnet_ids`) to node groups; private "
        f"subnets carry `{INTERNAL_ELB_TAG}` and never map public IPs."
    ),
    severity=HIGH,
)
def private_subnets(stack: Stack, context: Context) -> Iterator[Finding]:
    """Subnets are matched by id where the engine knows it, else through the node group's
    dependencies on them; a subnet the stack does not manage (an existing VPC) cannot be seen and
    is not judged."""
    for group in stack.of_type(NODE_GROUP):
        ids = group.get("subnetIds")
        values = [ids] if is_unknown(ids) else as_list(ids)
        subnets, _ = stack.referenced(group, "subnetIds", values, (SUBNET,))
        for subnet in subnets:
            reason = _public_reason(subnet)
            if reason:
                yield Finding(group.urn, f"node group subnet {subnet.name} {reason}")


def _group_name(resource: Resource) -> Any:
    """The node group's name as the stack file gave it: EKS appends a suffix to the prefix."""
    name = resource.get("nodeGroupName")
    if isinstance(name, str):
        return name
    prefix = resource.get("nodeGroupNamePrefix")
    return prefix.rstrip("-") if isinstance(prefix, str) else prefix


@resource_rule(
    name="nodes-system-on-demand",
    description="The system node group never runs on spot capacity.",
    remediation=(
        "Set `capacityType: ON_DEMAND` on the system node group; put interruptible work on a "
        "separate node group or Karpenter's spot NodePool."
    ),
    severity=HIGH,
    types=(NODE_GROUP,),
    options={
        "systemGroups": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["system"],
            "description": "Names of the node groups that carry the platform's own pods.",
        }
    },
)
def system_on_demand(resource: Resource, context: Context) -> Iterator[str]:
    """CoreDNS, the admission webhooks and the node autoscaler itself run there: a spot
    reclaim would take them all away at once, and with them the means to recover."""
    name, capacity = _group_name(resource), resource.get("capacityType")
    if is_unknown(name) or is_unknown(capacity) or not isinstance(name, str):
        return
    system = any(
        name == group or name.endswith(f"-{group}") for group in context.option("systemGroups")
    )
    if system and capacity == "SPOT":
        yield f"node group {name!r} is a system node group on SPOT capacity"


NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


@resource_rule(
    name="nodes-karpenter-pool-limits",
    description="Every Karpenter NodePool has CPU and memory limits.",
    remediation=(
        "Set `spec.limits.cpu` and `spec.limits.memory` (paved-road:core.autoscaling.karpenter "
        "onDemand / spotLimits)."
    ),
    severity=HIGH,
    types=(NODE_POOL,),
)
def nodepool_limits(resource: Resource, context: Context) -> Iterator[str]:
    """Without limits a runaway Deployment (or a bad HPA) makes Karpenter launch nodes until
    the account's quota stops it: the bill has no ceiling."""
    spec = resource.get("spec")
    if is_unknown(spec):
        return
    limits = spec.get("limits") if isinstance(spec, dict) else None
    if is_unknown(limits):
        return
    limits = limits if isinstance(limits, dict) else {}
    for resource_name in ("cpu", "memory"):
        value = limits.get(resource_name)
        if not is_unknown(value) and value in (None, ""):
            yield f"spec.limits.{resource_name} is not set: the pool can grow without bound"
