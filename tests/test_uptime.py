"""The modelled `pulumi up` time: the critical path through a plan's dependency graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pavedroad.uptime import (
    CREATE_TIMES,
    HELM_RELEASE_NOT_WAITING,
    HELM_RELEASE_WAITING,
    KUBERNETES_OBJECT,
    MINUTE,
    UNKNOWN_TYPE,
    create_time,
    format_duration,
    modelled_up_time,
    provider_urn,
    summary_lines,
)

PREFIX = "urn:pulumi:test::proj::"
RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass(frozen=True)
class Planned:
    """A recorded resource as the model reads it (the fields of plan.json it uses)."""

    urn: str
    type: str
    custom: bool = True
    provider: str = ""
    dependencies: tuple[str, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)


def urn(type_: str, name: str) -> str:
    return f"{PREFIX}{type_}::{name}"


def make(type_: str, name: str, *after: Planned, **fields: Any) -> Planned:
    return Planned(urn(type_, name), type_, dependencies=tuple(a.urn for a in after), **fields)


def test_the_critical_path_follows_dependencies_providers_and_components() -> None:
    """vpc → cluster (remote) → node group → provider ⇒ namespace → release → object.

    The namespace names no dependency: only its provider reference (`urn::id`) orders it after
    the provider. The local component takes no time but passes its dependencies on. A NAT gateway
    beside the cluster is shorter and stays off the path."""
    vpc = make("aws:ec2/vpc:Vpc", "vpc")
    nat = make("aws:ec2/natGateway:NatGateway", "nat", vpc)
    cluster = make("eks:index:Cluster", "eks", vpc, custom=False)
    nodes = make("aws:eks/nodeGroup:NodeGroup", "nodes", cluster)
    provider = make("pulumi:providers:kubernetes", "k8s", cluster, nodes)
    on_provider = {"provider": f"{provider.urn}::0a1b2c"}
    namespace = make("kubernetes:core/v1:Namespace", "ns", **on_provider)
    release = make(RELEASE, "chart", namespace, inputs={"atomic": True}, **on_provider)
    layer = make("paved-road:core:Layer", "layer", release, custom=False)
    issuer = make("kubernetes:cert-manager.io/v1:ClusterIssuer", "issuer", layer, **on_provider)

    up = modelled_up_time([issuer, nat, layer, release, namespace, provider, nodes, cluster, vpc])

    expected = [
        (vpc, CREATE_TIMES["aws:ec2/vpc:Vpc"]),
        (cluster, CREATE_TIMES["eks:index:Cluster"]),
        (nodes, CREATE_TIMES["aws:eks/nodeGroup:NodeGroup"]),
        (provider, CREATE_TIMES["pulumi:providers:kubernetes"]),
        (namespace, KUBERNETES_OBJECT),
        (release, HELM_RELEASE_WAITING),
        (layer, 0.0),
        (issuer, KUBERNETES_OBJECT),
    ]
    assert [step.urn for step in up.chain] == [r.urn for r, _ in expected]
    assert [step.seconds for step in up.chain] == [seconds for _, seconds in expected]
    assert up.seconds == pytest.approx(sum(seconds for _, seconds in expected))
    assert up.chain[-1].done_at == up.seconds
    assert nat.urn not in {step.urn for step in up.chain}


def test_without_the_provider_edge_the_namespace_would_start_at_once() -> None:
    """The same namespace with a default provider (empty reference) starts at zero."""
    namespace = make("kubernetes:core/v1:Namespace", "ns")
    assert modelled_up_time([namespace]).seconds == KUBERNETES_OBJECT
    assert provider_urn("") is None
    assert provider_urn(f"{urn('pulumi:providers:aws', 'p')}::id-1") == urn(
        "pulumi:providers:aws", "p"
    )


def test_a_component_takes_no_time_and_a_dependency_outside_the_plan_is_ignored() -> None:
    component = make("paved-road:tenants:Tenant", "team", custom=False)
    role = Planned(urn("aws:iam/role:Role", "r"), "aws:iam/role:Role", dependencies=("missing",))
    assert create_time(component) == 0.0
    assert modelled_up_time([component, role]).seconds == CREATE_TIMES["aws:iam/role:Role"]


def test_ties_are_broken_by_urn_so_the_chain_is_deterministic() -> None:
    a = make("aws:iam/role:Role", "a")
    b = make("aws:iam/role:Role", "b")
    top = make("aws:iam/rolePolicy:RolePolicy", "top", b, a)
    for order in ([a, b, top], [top, b, a]):
        assert [step.urn for step in modelled_up_time(order).chain] == [a.urn, top.urn]


def test_a_cycle_is_an_error_not_a_number() -> None:
    a = Planned(urn("aws:iam/role:Role", "a"), "aws:iam/role:Role", dependencies=(urn("x", "b"),))
    b = Planned(urn("x", "b"), "x", dependencies=(a.urn,))
    with pytest.raises(ValueError, match="cycle"):
        modelled_up_time([a, b])


def test_waiting_kinds_take_their_await_time_unless_told_to_skip_it() -> None:
    service = "kubernetes:core/v1:Service"
    skip = {"metadata": {"annotations": {"pulumi.com/skipAwait": "true"}}}
    assert create_time(make(service, "s")) == MINUTE
    assert create_time(make(service, "s", inputs=skip)) == KUBERNETES_OBJECT
    assert create_time(make("kubernetes:core/v1:ConfigMap", "c")) == KUBERNETES_OBJECT
    assert create_time(make(RELEASE, "r", inputs={"atomic": True})) == HELM_RELEASE_WAITING
    assert create_time(make(RELEASE, "r", inputs={})) == HELM_RELEASE_WAITING
    assert create_time(make(RELEASE, "r", inputs={"skipAwait": True})) == HELM_RELEASE_NOT_WAITING
    assert create_time(make("aws:sqs/queue:Queue", "q")) == UNKNOWN_TYPE


def test_the_summary_lists_each_timed_step_with_its_cumulative_time() -> None:
    vpc = make("aws:ec2/vpc:Vpc", "vpc")
    layer = make("paved-road:core:Layer", "layer", vpc, custom=False)
    nat = make("aws:ec2/natGateway:NatGateway", "nat", layer)
    lines = summary_lines(modelled_up_time([vpc, layer, nat]))
    assert lines[0].startswith("Modelled `pulumi up` from an empty account: 2m 03s")
    assert lines[1] == "Critical path (2 steps):"
    assert lines[3].split() == ["vpc", "aws:ec2/vpc:Vpc", "3s", "3s"]
    assert lines[4].split() == ["nat", "aws:ec2/natGateway:NatGateway", "2m", "00s", "2m", "03s"]
    assert not any("layer" in line for line in lines), "a component adds nothing to the listing"
    assert format_duration(0) == "0s" and format_duration(845) == "14m 05s"
