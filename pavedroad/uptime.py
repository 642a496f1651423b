"""A model of how long the first `pulumi up` of a stack takes, from an empty account.

Pulumi creates a resource as soon as everything it depends on exists, and runs the rest in
parallel, so the time of an `up` is the longest chain through the dependency graph (its
critical path), not the sum of the resources' times. The graph is the plan's own: each
resource's recorded `dependencies`, plus its provider resource (the `provider` field,
`<urn>::<id>`), which must exist before the resource can be created.

Each resource is charged a typical create time for its type (`CREATE_TIMES`, documented with
sources in the README, "Modelled `pulumi up` time"). Component resources take no time
themselves: a local component only groups its children, and the SDK sends a dependency on one
as a dependency on each of its custom descendants. A remote component (`eks:index:Cluster`) is
the exception: the SDK sends it as one node whose construction "always waits on the
construction of its children" (pulumi `runtime/rpc.py`, `_add_dependency`), children the plan
cannot see, so it is charged the time of those children (above all the EKS control plane).

It is a model, not a measurement: real times vary by region, chart and image pulls. It is
meant for comparing plans — a dependency that serialises the graph shows up as minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Protocol, Sequence

SECOND = 1.0
MINUTE = 60.0

# Typical create times, in seconds, by resource type (README, "Modelled `pulumi up` time").
CREATE_TIMES: dict[str, float] = {
    # Remote component: role and security groups, the control plane, then the OIDC provider and
    # access entries (seconds each). Control plane 8.5-10 min in published apply logs.
    "eks:index:Cluster": 11 * MINUTE,
    "aws:eks/cluster:Cluster": 10 * MINUTE,
    "aws:eks/nodeGroup:NodeGroup": 4 * MINUTE,
    "aws:eks/addon:Addon": 1.5 * MINUTE,
    "aws:eks/accessEntry:AccessEntry": 2 * SECOND,
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": 2 * SECOND,
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": 2 * SECOND,
    "aws:ec2/natGateway:NatGateway": 2 * MINUTE,
    "aws:ec2/vpc:Vpc": 3 * SECOND,
    "aws:ec2/subnet:Subnet": 2 * SECOND,
    "aws:ec2/internetGateway:InternetGateway": 2 * SECOND,
    "aws:ec2/eip:Eip": 2 * SECOND,
    "aws:ec2/routeTable:RouteTable": 2 * SECOND,
    "aws:ec2/route:Route": 2 * SECOND,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": 1 * SECOND,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 2 * SECOND,
    "aws:ec2/securityGroup:SecurityGroup": 3 * SECOND,
    "aws:ec2/securityGroupRule:SecurityGroupRule": 1 * SECOND,
    "aws:ec2/launchTemplate:LaunchTemplate": 2 * SECOND,
    "aws:ec2/flowLog:FlowLog": 3 * SECOND,
    "aws:iam/role:Role": 2 * SECOND,
    "aws:iam/rolePolicy:RolePolicy": 1 * SECOND,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 1 * SECOND,
    "aws:iam/policy:Policy": 2 * SECOND,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": 1 * SECOND,
    "aws:kms/key:Key": 3 * SECOND,
    "aws:kms/alias:Alias": 1 * SECOND,
    "aws:cloudwatch/logGroup:LogGroup": 1 * SECOND,
    "aws:acm/certificate:Certificate": 5 * SECOND,
    # DNS validation: the record must be seen by ACM's resolvers; minutes, not seconds.
    "aws:acm/certificateValidation:CertificateValidation": 3 * MINUTE,
    # Terraform's provider waits for the change to be INSYNC (typically within 60 s).
    "aws:route53/record:Record": 45 * SECOND,
    "aws:secretsmanager/secret:Secret": 1 * SECOND,
    "random:index/randomPassword:RandomPassword": 0.0,
    "pulumi:providers:kubernetes": 1 * SECOND,
}

# A Helm release that waits (`atomic` or the provider's default wait) returns once its
# workloads are ready: image pulls, pod start, readiness probes, hooks.
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_RELEASE_WAITING = 2 * MINUTE
HELM_RELEASE_NOT_WAITING = 10 * SECOND

# Kubernetes objects the provider awaits until ready (pods running, endpoints, an address),
# unless annotated `pulumi.com/skipAwait: "true"`; any other object is one API call.
AWAITED_KUBERNETES_KINDS: dict[str, float] = {
    "kubernetes:apps/v1:Deployment": 1 * MINUTE,
    "kubernetes:apps/v1:StatefulSet": 1.5 * MINUTE,
    "kubernetes:apps/v1:DaemonSet": 1 * MINUTE,
    "kubernetes:batch/v1:Job": 1 * MINUTE,
    # A Service with a selector waits for endpoints, i.e. for a ready pod it targets.
    "kubernetes:core/v1:Service": 1 * MINUTE,
    # An Ingress waits for the controller to publish the load balancer's address.
    "kubernetes:networking.k8s.io/v1:Ingress": 1 * MINUTE,
    "kubernetes:core/v1:PersistentVolumeClaim": 30 * SECOND,
}
KUBERNETES_OBJECT = 2 * SECOND
SKIP_AWAIT = "pulumi.com/skipAwait"

# Types the table does not know: an AWS API call and a short wait.
UNKNOWN_TYPE = 5 * SECOND


class PlannedResource(Protocol):
    """What the model reads of a recorded resource (`pavedroad.engine.RecordedResource`)."""

    urn: str
    type: str
    custom: bool
    provider: str
    dependencies: Sequence[str]
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    """One resource on the critical path: its own modelled time and when it is done."""

    urn: str
    name: str
    type: str
    seconds: float
    done_at: float


@dataclass(frozen=True)
class UpTime:
    seconds: float
    chain: tuple[Step, ...]


def create_time(resource: PlannedResource) -> float:
    """The typical time Pulumi spends creating `resource` (see `CREATE_TIMES`)."""
    if resource.type in CREATE_TIMES:
        return CREATE_TIMES[resource.type]
    if not resource.custom:
        return 0.0
    if resource.type == HELM_RELEASE:
        inputs = resource.inputs
        waits = inputs.get("atomic") is True or not inputs.get("skipAwait")
        return HELM_RELEASE_WAITING if waits else HELM_RELEASE_NOT_WAITING
    if resource.type.startswith("kubernetes:"):
        if resource.type in AWAITED_KUBERNETES_KINDS and not _skips_await(resource):
            return AWAITED_KUBERNETES_KINDS[resource.type]
        return KUBERNETES_OBJECT
    return UNKNOWN_TYPE


def _skips_await(resource: PlannedResource) -> bool:
    metadata = resource.inputs.get("metadata") or {}
    annotations = (metadata.get("annotations") or {}) if isinstance(metadata, Mapping) else {}
    return annotations.get(SKIP_AWAIT) == "true"


def provider_urn(reference: str) -> Optional[str]:
    """The URN of a provider reference `<urn>::<id>` (empty for a default provider)."""
    if not reference:
        return None
    return reference.rsplit("::", 1)[0]


def modelled_up_time(resources: Iterable[PlannedResource]) -> UpTime:
    """The critical path of creating every resource from nothing: its length and its chain.

    A resource starts when the last of its dependencies (and its provider) is done; ties are
    broken by URN, so the chain is deterministic. Dependencies outside the plan (a default
    provider) are taken to exist already.
    """
    by_urn = {r.urn: r for r in resources}
    done_at: dict[str, float] = {}
    previous: dict[str, Optional[str]] = {}
    waits_for: dict[str, list[str]] = {}

    def predecessors(resource: PlannedResource) -> list[str]:
        found = set(resource.dependencies)
        provider = provider_urn(resource.provider)
        if provider is not None:
            found.add(provider)
        return sorted(urn for urn in found if urn in by_urn and urn != resource.urn)

    # Iterative depth-first evaluation: stacks of thousands of resources stay off the C stack.
    for root in sorted(by_urn):
        stack: list[tuple[str, bool]] = [(root, False)]
        visiting: set[str] = set()
        while stack:
            urn, expanded = stack.pop()
            if urn in done_at:
                continue
            resource = by_urn[urn]
            if urn not in waits_for:
                waits_for[urn] = predecessors(resource)
            before = waits_for[urn]
            if not expanded:
                if urn in visiting:
                    raise ValueError(f"dependency cycle through {urn}")
                visiting.add(urn)
                stack.append((urn, True))
                stack.extend((d, False) for d in reversed(before) if d not in done_at)
                continue
            start, latest = 0.0, None
            for dependency in before:
                if done_at[dependency] > start:
                    start, latest = done_at[dependency], dependency
            done_at[urn] = start + create_time(resource)
            previous[urn] = latest
            visiting.discard(urn)

    if not done_at:
        return UpTime(0.0, ())
    last = max(sorted(done_at), key=lambda urn: done_at[urn])
    chain: list[Step] = []
    current: Optional[str] = last
    while current is not None:
        resource = by_urn[current]
        chain.append(
            Step(
                urn=current,
                name=current.rsplit("::", 1)[-1],
                type=resource.type,
                seconds=create_time(resource),
                done_at=done_at[current],
            )
        )
        current = previous[current]
    return UpTime(done_at[last], tuple(reversed(chain)))


def format_duration(seconds: float) -> str:
    """`14m 05s`, `45s`, `0s`."""
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def summary_lines(up: UpTime) -> list[str]:
    """The modelled time and its critical chain, for the plan summary. Steps that take no time
    (components, generated passwords) are left out of the listing: they add nothing."""
    steps = [step for step in up.chain if step.seconds > 0]
    rows = [("resource", "type", "time", "done at")] + [
        (step.name, step.type, format_duration(step.seconds), format_duration(step.done_at))
        for step in steps
    ]
    name_width = max(len(row[0]) for row in rows)
    type_width = max(len(row[1]) for row in rows)
    return [
        f"Modelled `pulumi up` from an empty account: {format_duration(up.seconds)} "
        "(a model from typical create times: README, 'Modelled `pulumi up` time')",
        f"Critical path ({len(steps)} steps):",
        *(
            f"  {name:<{name_width}}  {type_:<{type_width}}  {time:>7}  {done:>7}".rstrip()
            for name, type_, time, done in rows
        ),
    ]
