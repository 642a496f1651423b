"""Issue 10: network openings. A tenant's egress never covers the internet unless the stack says so
(and the plan shows it); "open to the world" is computed, whatever the spelling."""

from __future__ import annotations

import ast
import ipaddress
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError
from pavedroad.engine import PlanEngine
from pavedroad.plan import summary
from policies.paved_road_policies import cidrs as cidrs_module
from policies.paved_road_policies.cidrs import covers_internet, public_addresses
from tests.conftest import pavedroad, project_with_tenant_bad

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
STACK = "stacks/Pulumi.dev.yaml"

# --------------------------------------------------------------------------------------------------
# What "covers the internet" means


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/0"],
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["::/0"],
        ["0.0.0.0/00"],  # ipaddress reads "/00" as /0
        ["2000::/3"],
        ["::ffff:0:0/96"],  # all of IPv4, written in IPv6
        ["64:ff9b::/96"],  # NAT64's well-known prefix: all of IPv4 again
        ["1.0.0.0/8"],
        # 4096 /20s adding up to a /8's worth of public space.
        [f"{a}.{b}.{c}.0/20" for a in (20, 21) for b in range(128) for c in range(0, 256, 16)],
    ],
)
def test_covers_the_internet(cidrs: list[str]) -> None:
    assert covers_internet(cidrs)


@pytest.mark.parametrize(
    "cidrs",
    [
        [],
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"],
        ["203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32"],  # documentation ranges
        ["52.94.0.0/16", "3.5.140.0/22"],  # a partner's or AWS's published ranges
        ["1.0.0.0/9", "fc00::/7", "fe80::/10"],
        ["not a cidr", 42, None],
    ],
)
def test_does_not_cover_the_internet(cidrs: list[Any]) -> None:
    assert not covers_internet(cidrs)


def test_the_union_is_counted_once_and_private_space_never() -> None:
    # Overlapping blocks are merged before counting; 10/8 adds nothing public.
    v4, v6 = public_addresses(["1.0.0.0/9", "1.0.0.0/10", "10.0.0.0/8"])
    assert (v4, v6) == (2**23, 0)
    # Everything minus the special-purpose registry is what remains public.
    v4, _ = public_addresses(["0.0.0.0/0"])
    assert v4 == 2**32 - sum(
        ipaddress.ip_network(n).num_addresses
        for n in (
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.0.0.0/24",
            "192.0.2.0/24",
            "192.88.99.0/24",
            "192.168.0.0/16",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "224.0.0.0/4",
            "240.0.0.0/4",
        )
    )


def test_the_coverage_helper_needs_nothing_but_the_standard_library() -> None:
    """The policy pack runs in its own environment (policies/requirements.txt) and the config
    imports the helper from the pack: it may import the standard library only."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(Path(cidrs_module.__file__).read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or ".").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    from components import config_base

    assert config_base.covers_internet is covers_internet, "one implementation, not a copy"


# --------------------------------------------------------------------------------------------------
# Tenants' egressCidrs


INTERNET_EGRESS = {
    "the whole space": (["0.0.0.0/0"], "covers the internet"),
    "two halves": (["0.0.0.0/1", "128.0.0.0/1"], "covers the internet"),
    "many ranges": ([f"{n}.0.0.0/8" for n in (1, 2, 3)], "covers the internet"),
    "IPv6 everywhere": (["::/0"], "is not a valid IPv4 CIDR block"),
    "the whole space spelled /00": (["0.0.0.0/00"], "is not written as a CIDR block"),
}


@pytest.mark.parametrize("case", sorted(INTERNET_EGRESS))
def test_tenant_egress_covering_the_internet_is_refused(case: str, tmp_path: Path) -> None:
    cidrs, expected = INTERNET_EGRESS[case]
    root, _ = project_with_tenant_bad(tmp_path, {"network": {"egressCidrs": cidrs}})
    engine = PlanEngine("dev", root)
    with pytest.raises(ConfigError) as raised:
        engine.run()
    issues = [i for i in raised.value.issues if i.file == "tenants/bad.yaml"]
    assert any(
        i.field.startswith("network.egressCidrs") and expected in i.message for i in issues
    ), str(raised.value)
    assert engine.recorded == []


def test_a_stack_override_covering_the_internet_is_the_stack_files_error(tmp_path: Path) -> None:
    entry = {"name": "bad", "network": {"egressCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}}
    root, config = project_with_tenant_bad(tmp_path, {}, entry)
    index = config["paved-road:tenants"].index(entry)
    engine = PlanEngine("dev", root)
    with pytest.raises(ConfigError) as raised:
        engine.run()
    (issue,) = raised.value.issues
    assert (issue.file, issue.field) == (STACK, f"paved-road:tenants[{index}].network.egressCidrs")
    assert "covers the internet" in issue.message


def test_a_tenant_cannot_grant_itself_internet_egress(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(
        tmp_path, {"allowInternetEgress": True, "network": {"egressCidrs": ["0.0.0.0/0"]}}
    )
    result = pavedroad("plan", "dev", "-C", str(root))
    assert result.returncode == 2, result.stdout
    assert "tenants/bad.yaml: allowInternetEgress: is granted by the stack file only" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert not (root / "build").exists()


def test_the_stack_grant_admits_it_and_the_plan_shows_it(tmp_path: Path) -> None:
    entry = {"name": "bad", "allowInternetEgress": True}
    root, _ = project_with_tenant_bad(tmp_path, {"network": {"egressCidrs": ["0.0.0.0/0"]}}, entry)
    run = PlanEngine("dev", root).run()
    policies = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]
        for r in run.by_type(NETWORK_POLICY)
        if r.inputs["metadata"]["namespace"] == "bad"
    }
    egress = policies["allow-egress-cidrs"]
    assert egress["annotations"] == {
        "paved-road/internet-egress": "allowed by the stack file (allowInternetEgress)"
    }
    assert "annotations" not in policies["default-deny"]
    assert "Internet egress allowed by the stack (1):\n  bad/allow-egress-cidrs" in summary(run)
    (tenant,) = [r for r in run.resources if r.type.endswith(":Tenant") and r.name == "bad"]
    # Other tenants' policies carry no grant.
    others = [
        r
        for r in run.by_type(NETWORK_POLICY)
        if r.inputs["metadata"]["namespace"] != "bad"
        and "annotations" in r.inputs["metadata"]
        and "paved-road/internet-egress" in r.inputs["metadata"]["annotations"]
    ]
    assert others == [] and tenant is not None


def test_partner_ranges_need_no_grant(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(
        tmp_path, {"network": {"egressCidrs": ["52.94.0.0/16", "1.2.3.0/24"]}}
    )
    run = PlanEngine("dev", root).run()
    (egress,) = [
        r
        for r in run.by_type(NETWORK_POLICY)
        if r.inputs["metadata"] == {**r.inputs["metadata"], "namespace": "bad"}
        and r.inputs["metadata"]["name"] == "allow-egress-cidrs"
    ]
    assert "annotations" not in egress.inputs["metadata"]
    assert "Internet egress allowed" not in summary(run)
