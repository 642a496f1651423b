"""Offline enforcement as a user meets it: `pavedroad check PLAN` and the policy step of
`pavedroad plan` — the shipped stacks pass, a plan edited to break a rule fails naming the rule
and the resource, advisory findings print without failing, and levels change per environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import yaml

from pavedroad.check import check_resources, pack_config
from pavedroad.plan import render_plan_json
from tests.conftest import pavedroad, ROOT, make_project, shipped_plan, stack_config

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
QUOTA = "kubernetes:core/v1:ResourceQuota"


def plan_file(tmp_path: Path, stack: str, edit: Callable[[dict[str, Any]], None] = print) -> Path:
    """The shipped stack's plan.json as `pavedroad plan` writes it, optionally edited."""
    document = json.loads(render_plan_json(shipped_plan(stack)))
    if edit is not print:
        edit(document)
    path = tmp_path / stack / "plan.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


def optional_tokens(document: dict[str, Any]) -> None:
    template = next(r for r in document["resources"] if r["type"] == LAUNCH_TEMPLATE)
    template["inputs"]["metadataOptions"]["httpTokens"] = "optional"


def urn_of(path: Path, type_: str) -> str:
    return next(r["urn"] for r in json.loads(path.read_text())["resources"] if r["type"] == type_)


def test_shipped_stacks_pass_every_mandatory_rule(stack: str) -> None:
    resources = [r.to_json() for r in shipped_plan(stack).resources]
    report = check_resources(resources, stack, ROOT, pack_config(ROOT, stack))
    assert report.production is bool(stack_config(stack).get("paved-road:production"))
    found = [f"{v.rule} {v.urn}: {v.message}" for v in report.mandatory]
    assert found == [], "\n".join(found)


def test_check_passes_the_shipped_plans(stack: str, tmp_path: Path) -> None:
    result = pavedroad("check", str(plan_file(tmp_path, stack)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"of stack '{stack}'" in result.stdout
    assert "mandatory" not in result.stdout


def test_check_fails_a_node_group_template_allowing_imdsv1(tmp_path: Path) -> None:
    path = plan_file(tmp_path, "dev", optional_tokens)
    result = pavedroad("check", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if "nodes-imdsv2-required" in line)
    assert lines[index].split() == [
        "mandatory",
        "nodes-imdsv2-required",
        urn_of(path, LAUNCH_TEMPLATE),
    ]
    assert "httpTokens is 'optional'" in lines[index + 1]
    assert "1 mandatory policy violation(s)" in result.stderr


def test_check_fails_a_tenant_namespace_without_its_quota(tmp_path: Path) -> None:
    def drop_search_quota(document: dict[str, Any]) -> None:
        document["resources"] = [
            r
            for r in document["resources"]
            if not (r["type"] == QUOTA and r["inputs"]["metadata"]["namespace"] == "search")
        ]

    path = plan_file(tmp_path, "prod", drop_search_quota)
    result = pavedroad("check", str(path))
    assert result.returncode == 1
    namespace = next(
        r["urn"]
        for r in json.loads(path.read_text())["resources"]
        if r["type"] == "kubernetes:core/v1:Namespace" and r["name"] == "search-namespace"
    )
    assert f"mandatory k8s-tenant-guardrails  {namespace}" in result.stdout
    assert "tenant namespace search has no ResourceQuota" in result.stdout


def test_a_level_is_overridden_per_environment(tmp_path: Path) -> None:
    """The same file `pulumi preview --policy-pack-config` takes: given explicitly, or found as
    policies/config/<stack>.json in the project."""
    path = plan_file(tmp_path, "dev", optional_tokens)
    override = tmp_path / "relaxed.json"
    override.write_text(json.dumps({"nodes-imdsv2-required": {"enforcementLevel": "advisory"}}))
    result = pavedroad("check", str(path), "--policy-config", str(override))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "advisory  nodes-imdsv2-required" in result.stdout

    (tmp_path / "project").mkdir()
    project = make_project(tmp_path / "project", stack_config("dev"), "dev")
    (project / "policies" / "config").mkdir(parents=True)
    (project / "policies" / "config" / "dev.json").write_text(override.read_text())
    result = pavedroad("check", str(path), "-C", str(project))
    assert result.returncode == 0 and "advisory  nodes-imdsv2-required" in result.stdout
    assert "policies/config/dev.json" in result.stdout
    # The shipped project has no dev override: the same plan fails there.
    assert pavedroad("check", str(path)).returncode == 1


def test_check_rejects_bad_input(tmp_path: Path) -> None:
    missing = pavedroad("check", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "nope.json: cannot read" in missing.stderr
    not_a_plan = tmp_path / "other.json"
    not_a_plan.write_text(json.dumps({"resources": []}))
    assert pavedroad("check", str(not_a_plan)).returncode == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nodes-imdsv2": "advisory"}))
    result = pavedroad("check", str(plan_file(tmp_path, "dev")), "--policy-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}: nodes-imdsv2: no such rule" in result.stderr


def hop_limit_two(tmp_path: Path) -> Path:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    config["paved-road:cluster"]["nodeGroups"][0]["metadataHopLimit"] = 2
    return make_project(tmp_path, config, "test")


def test_plan_prints_advisory_findings_and_passes(tmp_path: Path) -> None:
    project = hop_limit_two(tmp_path)
    result = pavedroad("plan", "test", "-C", str(project))
    assert result.returncode == 0, result.stderr
    assert "advisory  nodes-imds-hop-limit-one" in result.stdout
    assert "httpPutResponseHopLimit is 2" in result.stdout


def test_plan_fails_on_a_mandatory_violation(tmp_path: Path) -> None:
    project = hop_limit_two(tmp_path)
    (project / "policies" / "config").mkdir(parents=True)
    config = project / "policies" / "config" / "test.json"
    config.write_text(json.dumps({"nodes-imds-hop-limit-one": "mandatory"}))
    result = pavedroad("plan", "test", "-C", str(project))
    assert result.returncode == 1
    assert "mandatory nodes-imds-hop-limit-one" in result.stdout
    assert (project / "build" / "test" / "plan.json").is_file(), "the plan is written to review"


def test_plan_with_a_bad_pack_config_plans_nothing(tmp_path: Path) -> None:
    project = hop_limit_two(tmp_path)
    (project / "policies" / "config").mkdir(parents=True)
    (project / "policies" / "config" / "test.json").write_text('{"all": "strict"}')
    result = pavedroad("plan", "test", "-C", str(project))
    assert result.returncode == 2
    assert "test.json: all: 'strict' is not an enforcement level" in result.stderr
    assert not (project / "build").exists()
