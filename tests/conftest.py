"""Shared harness: every test runs the real program through the same plan engine as `pavedroad plan`."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pavedroad.engine import PlanEngine, PlanRun, RecordedResource  # noqa: E402

SHIPPED_STACKS = sorted(
    p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
)
# What a production stack needs besides defaults: a deploy role and a way to reach its private
# API endpoint (components/config.py refuses production stacks without them).
PRODUCTION_CLUSTER: dict[str, Any] = {
    "deployRoleArn": "arn:aws:iam::123456789012:role/paved-road-deploy",
    "runnerSecurityGroupIds": ["sg-0123456789abcdef0"],
}


@lru_cache(maxsize=None)
def shipped_plan(stack: str) -> PlanRun:
    """Plans are deterministic, so each shipped stack is planned once per test session."""
    return PlanEngine(stack, ROOT).run()


def pavedroad(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line exactly as a user runs it: a fresh process, from the checkout."""
    return subprocess.run(
        [sys.executable, "-m", "pavedroad", *args], cwd=ROOT, capture_output=True, text=True
    )


def stack_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return document["config"]


@pytest.fixture(params=SHIPPED_STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def plan(stack: str) -> PlanRun:
    return shipped_plan(stack)


def copy_ownership(root: Path) -> None:
    """governance.yaml and domains/ beside a copy of tenants/: the shipped tenants name domains."""
    if not (root / "governance.yaml").exists():
        shutil.copy(ROOT / "governance.yaml", root / "governance.yaml")
    if not (root / "domains").exists():
        shutil.copytree(ROOT / "domains", root / "domains")


def make_project(tmp_path: Path, config: dict[str, Any], stack: str = "test") -> Path:
    """A project directory holding one stack file with `config`, planned with the real program."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    if not (tmp_path / "tenants").exists():
        shutil.copytree(ROOT / "tenants", tmp_path / "tenants")
    copy_ownership(tmp_path)
    (tmp_path / "stacks").mkdir(exist_ok=True)
    (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    return lambda config, stack="test": make_project(tmp_path, config, stack)


def one(resources: Iterable[RecordedResource]) -> RecordedResource:
    found = list(resources)
    assert len(found) == 1, f"expected exactly one, found {[r.urn for r in found]}"
    return found[0]


def policy_statements(document: str | dict) -> list[dict[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else document
    statements = parsed["Statement"]
    return statements if isinstance(statements, list) else [statements]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def project_with_tenant_bad(
    tmp_path: Path, changes: dict[str, Any], stack_entry: Any = "bad"
) -> tuple[Path, dict[str, Any]]:
    """The dev stack plus a tenant `bad` whose file carries `changes`, listed as `stack_entry`
    (a name, or a mapping with stack overrides): the project and its stack config."""
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:tenants"].append(stack_entry)
    root = make_project(tmp_path, config, "dev")
    document = {
        "name": "bad",
        "costCenter": "cc-1",
        "owners": ["arn:aws:iam::123456789012:role/bad-admins"],
        # The shipped project has domains, so a tenant names one.
        "domain": "commerce",
        **changes,
    }
    (root / "tenants" / "bad.yaml").write_text(yaml.safe_dump(document))
    return root, config


def assert_refused(engine: PlanEngine, file: str, field: str, message: str) -> None:
    """The run fails with a config error naming `file` and `field` (its message containing
    `message`), and nothing was registered."""
    from components.config import ConfigError

    with pytest.raises(ConfigError) as raised:
        engine.run()
    matching = [i for i in raised.value.issues if i.file == file and i.field == field]
    assert matching, str(raised.value)
    assert any(message in i.message for i in matching), str(raised.value)
    assert engine.recorded == []
