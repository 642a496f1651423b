"""Tenant-file fragments (components/tenant_fragments.py): an app in `tenants/<team>/apps/<app>.yaml`
or a resource in `tenants/<team>/resources/<name>.yaml` plans exactly as the same item written in
the tenant file, obeys the same rules, and every problem names the fragment and its own field."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.tenant_fragments import MAX_FRAGMENTS
from components.tenants_config import load_tenants
from pavedroad.engine import PlanEngine
from pavedroad.plan import plan_document
from tests.conftest import assert_refused, make_project, shipped_plan, stack_config

TENANT = "tenants/payments.yaml"
APPS = "tenants/payments/apps"
RESOURCES = "tenants/payments/resources"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/extra:1.0.0"
EXTRA = {"name": "extra", "template": "api-service", "image": IMAGE}


def write(root: Path, relative: str, content: Any) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def payments(root: Path) -> dict[str, Any]:
    return yaml.safe_load((root / TENANT).read_text())


def split(root: Path, apps_kept: int, resources_kept: int) -> None:
    """Move payments' apps and resources after the first `*_kept` into fragment files."""
    document = payments(root)
    for kind, kept, folder in (("apps", apps_kept, APPS), ("resources", resources_kept, RESOURCES)):
        for item in document[kind][kept:]:
            write(root, f"{folder}/{item['name']}.yaml", item)
        document[kind] = document[kind][:kept]
        if not document[kind]:
            del document[kind]
    write(root, TENANT, document)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_project(tmp_path, stack_config("dev"), "dev")


# --------------------------------------------------------------------------------------------------
# Same plan, same catalog


def test_a_split_tenant_plans_exactly_as_the_shipped_single_file(root: Path) -> None:
    # The items moved out are in file-name order already, as fragments are appended.
    document = payments(root)
    assert [a["name"] for a in document["apps"][1:]] == ["ledger-consumer", "settlement"]
    assert [r["name"] for r in document["resources"][2:]] == ["checkout", "order-events"]
    split(root, 1, 2)
    # A folder of a tenant the stack does not list is never read, like its tenant file.
    write(root, "tenants/nobody/apps/broken.yaml", "[unclosed\n")
    (root / "tenants" / "nobody" / "stray.txt").write_text("x")
    assert plan_document(PlanEngine("dev", root).run()) == plan_document(shipped_plan("dev"))


def test_a_tenant_of_fragments_only_plans_as_one_file_in_file_name_order(tmp_path: Path) -> None:
    (tmp_path / "split").mkdir()
    (tmp_path / "single").mkdir()
    split_root = make_project(tmp_path / "split", stack_config("prod"), "prod")
    split(split_root, 0, 0)
    single = make_project(tmp_path / "single", stack_config("prod"), "prod")
    document = payments(single)
    for kind in ("apps", "resources"):
        document[kind] = sorted(document[kind], key=lambda item: item["name"])
    write(single, TENANT, document)
    assert not (single / "tenants" / "payments").exists()
    assert plan_document(PlanEngine("prod", split_root).run()) == plan_document(
        PlanEngine("prod", single).run()
    )


def test_the_catalog_points_at_the_fragment(root: Path) -> None:
    from pavedroad.catalog import render

    split(root, 1, 2)
    entities = {
        (entity["kind"], entity["metadata"]["name"]): entity
        for entity in yaml.safe_load_all(render(root)["tenants/payments.yaml"])
    }

    def location(kind: str, name: str) -> str:
        return entities[(kind, name)]["metadata"]["annotations"]["backstage.io/source-location"]

    assert location("Component", "payments-settlement").endswith(f"/{APPS}/settlement.yaml")
    assert location("Component", "payments-checkout-api").endswith(f"/{TENANT}")
    assert location("Resource", "payments-checkout").endswith(f"/{RESOURCES}/checkout.yaml")
    assert location("Resource", "payments-sessions").endswith(f"/{TENANT}")
    assert location("Group", "payments").endswith(f"/{TENANT}")


# --------------------------------------------------------------------------------------------------
# Stack-file overrides merge onto the combined document


def _load(root: Path, entry: Any) -> Any:
    """The dev stack's tenants with payments listed as `entry`: payments and the issues."""
    tenants, issues = load_tenants(
        [entry, "search", "storefront"],
        root=root,
        stack_file="stacks/Pulumi.dev.yaml",
        key="paved-road:tenants",
        reserved_namespaces=[],
        admins=[],
    )
    return [t for t in tenants if t.name == "payments"], issues


def test_a_list_override_replaces_the_fragments_too(root: Path) -> None:
    split(root, 1, 2)
    only = {"name": "only", "template": "batch-job", "image": IMAGE, "schedule": "0 1 * * *"}
    tenants, issues = _load(root, {"name": "payments", "apps": [only], "resources": []})
    assert issues == []
    [tenant] = tenants
    assert [app.name for app in tenant.apps] == ["only"] and tenant.resources == []
    assert tenant.source("apps[0].schedule") == (
        "stacks/Pulumi.dev.yaml",
        "paved-road:tenants[0].apps[0].schedule",
    )
    assert tenant.item_file("apps", 0) == TENANT


def test_a_mapping_override_keeps_the_fragments(root: Path) -> None:
    split(root, 1, 2)
    entry = {"name": "payments", "quota": {"cpu": "32"}, "resources": []}
    tenants, issues = _load(root, entry)
    assert issues == []
    [tenant] = tenants
    assert tenant.quota.cpu == "32"
    assert [app.name for app in tenant.apps] == ["checkout-api", "ledger-consumer", "settlement"]
    assert tenant.source("apps[2].schedule") == (f"{APPS}/settlement.yaml", "schedule")
    assert tenant.source("apps[2]") == (f"{APPS}/settlement.yaml", "(file)")
    assert tenant.source("apps[0].port") == (TENANT, "apps[0].port")
    assert tenant.source("quota.cpu") == (
        "stacks/Pulumi.dev.yaml",
        "paved-road:tenants[0].quota.cpu",
    )
    assert tenant.item_file("apps", 1) == f"{APPS}/ledger-consumer.yaml"


def test_an_override_naming_a_fragment_app_is_checked_against_it(root: Path) -> None:
    """The stack's `resources` may name an app that lives in a fragment."""
    split(root, 1, 2)
    entry = {
        "name": "payments",
        "resources": [{"name": "jobs", "type": "dns", "app": "settlement"}],
    }
    tenants, issues = _load(root, entry)
    assert tenants == []
    assert [(i.file, i.field) for i in issues] == [
        ("stacks/Pulumi.dev.yaml", "paved-road:tenants[0].resources[0].app")
    ], issues


# --------------------------------------------------------------------------------------------------
# Every problem names the fragment and its field, exits 2 and registers nothing


def refused(root: Path, file: str, field: str, message: str) -> None:
    assert_refused(PlanEngine("dev", root), file, field, message)


FIELD_CASES = {
    "privileged port": (f"{APPS}/extra.yaml", {**EXTRA, "port": 80}, "port", "unprivileged"),
    "unknown field": (f"{APPS}/extra.yaml", {**EXTRA, "colour": "red"}, "colour", "unknown field"),
    "missing image": (
        f"{APPS}/extra.yaml",
        {"name": "extra", "template": "api-service"},
        "image",
        "required",
    ),
    "nested field": (
        f"{APPS}/extra.yaml",
        {**EXTRA, "release": {"strategy": "yolo"}},
        "release.strategy",
        "yolo",
    ),
    "name not the file's": (
        f"{APPS}/extra.yaml",
        {**EXTRA, "name": "other"},
        "name",
        "does not match the file name 'extra'",
    ),
    "namespace not the tenant's": (
        f"{APPS}/extra.yaml",
        {**EXTRA, "namespace": "search"},
        "namespace",
        "not a namespace of this tenant",
    ),
    "template's foreign field": (
        f"{APPS}/extra.yaml",
        {**EXTRA, "schedule": "0 1 * * *"},
        "schedule",
        "",
    ),
    "app named twice": (
        f"{APPS}/checkout-api.yaml",
        {**EXTRA, "name": "checkout-api"},
        "name",
        f"already the name of apps[0] of {TENANT}",
    ),
    "host outside the tenant": (
        f"{APPS}/extra.yaml",
        {**EXTRA, "host": "extra.search.dev.paved-road.example"},
        "host",
        "under tenant 'search'",
    ),
    "dns for an unknown app": (
        f"{RESOURCES}/www.yaml",
        {"name": "www", "type": "dns", "app": "nope"},
        "app",
        "'nope' is not an app of this tenant",
    ),
    "consumer not a worker": (
        f"{RESOURCES}/jobs.yaml",
        {"name": "jobs", "type": "events", "source": {"schedule": "rate(5 minutes)"},
         "consumer": "checkout-api"},
        "consumer",
        "a consumer is a long-running worker",
    ),  # fmt: skip
    "resource named twice": (
        f"{RESOURCES}/sessions.yaml",
        {"name": "sessions", "type": "postgres"},
        "name",
        f"already the name of resources[1] of {TENANT}",
    ),
    "resource's foreign field": (
        f"{RESOURCES}/db.yaml",
        {"name": "db", "type": "postgres", "app": "checkout-api"},
        "app",
        "is not a field of postgres",
    ),
    "physical name too long": (
        f"{RESOURCES}/a-cache-with-a-very-long-name.yaml",
        {"name": "a-cache-with-a-very-long-name", "type": "redis"},
        "name",
        "longer than the 40 characters",
    ),
    "not a mapping": (f"{APPS}/extra.yaml", [EXTRA], "(file)", "expected a mapping of app fields"),
    "empty": (f"{RESOURCES}/db.yaml", "", "(file)", "expected a mapping of resource fields"),
    "not YAML": (f"{APPS}/extra.yaml", "name: [extra\n", "line 2, column 1", "not valid YAML"),
    "duplicate key": (
        f"{APPS}/extra.yaml",
        "name: extra\nname: extra\n",
        "name (line 2, column 1)",
        "duplicate key",
    ),
    "not .yaml": (f"{APPS}/extra.yml", EXTRA, "(file)", "does not end in .yaml"),
    "unknown folder": (
        "tenants/payments/secrets/x.yaml",
        EXTRA,
        "(directory)",
        "holds only apps/ (one file per app) and resources/",
    ),
    "unknown file": ("tenants/payments/notes.md", "hi", "(file)", "not part of a tenant's layout"),
    "file too large": (
        f"{APPS}/extra.yaml",
        yaml.safe_dump(EXTRA) + "#" * (65 * 1024) + "\n",
        "(file)",
        "larger than 64 KiB",
    ),
}


@pytest.mark.parametrize("case", sorted(FIELD_CASES))
def test_a_bad_fragment_is_refused_naming_it(root: Path, case: str) -> None:
    file, content, field, message = FIELD_CASES[case]
    write(root, file, content)
    where = "tenants/payments/secrets" if case == "unknown folder" else file
    refused(root, where, field, message)


def test_fragments_across_files_with_one_name_name_each_other(root: Path) -> None:
    write(root, f"{APPS}/a.yaml", {**EXTRA, "name": "b"})
    write(root, f"{APPS}/b.yaml", {**EXTRA, "name": "b"})
    refused(root, f"{APPS}/b.yaml", "name", f"'b' is already the name of {APPS}/a.yaml")


def test_more_resources_than_allowed_counts_the_fragments(root: Path) -> None:
    for index in range(20):
        write(root, f"{RESOURCES}/r{index:02}.yaml", {"name": f"r{index:02}", "type": "redis"})
    refused(root, TENANT, "resources", f"counting the 20 files in {RESOURCES}/")


def test_too_many_fragments_are_refused_before_any_is_read(root: Path) -> None:
    for index in range(MAX_FRAGMENTS + 1):
        write(root, f"{APPS}/a{index:03}.yaml", "[not read\n")
    refused(root, APPS, "(directory)", f"more than {MAX_FRAGMENTS} entries")


def test_a_folder_inside_apps_is_refused(root: Path) -> None:
    write(root, f"{APPS}/nested/extra.yaml", EXTRA)
    refused(root, f"{APPS}/nested", "(file)", "is a folder")


def test_a_symbolic_link_to_a_fragment_is_refused(root: Path) -> None:
    write(root, "elsewhere/extra.yaml", EXTRA)
    (root / APPS).mkdir(parents=True)
    os.symlink(root / "elsewhere" / "extra.yaml", root / APPS / "extra.yaml")
    refused(root, f"{APPS}/extra.yaml", "(file)", "symbolic link")


@pytest.mark.parametrize("linked", [APPS, "tenants/payments"])
def test_a_symbolic_link_to_a_folder_is_refused(root: Path, linked: str) -> None:
    write(root, "elsewhere/apps/extra.yaml", EXTRA)
    target = root / "elsewhere" / ("apps" if linked == APPS else "")
    (root / linked).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, root / linked)
    refused(root, linked, "(directory)", "symbolic link")


def test_a_file_where_the_folder_belongs_is_refused(root: Path) -> None:
    write(root, "tenants/payments", "apps: []\n")
    refused(root, "tenants/payments", "(directory)", "a file, not a folder")


def test_a_folder_without_its_tenant_file_is_the_missing_file(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:tenants"].append("ghost")
    root = make_project(tmp_path, config, "dev")
    write(root, "tenants/ghost/apps/extra.yaml", "[never read\n")
    from components.config import ConfigError

    engine = PlanEngine("dev", root)
    with pytest.raises(ConfigError) as raised:
        engine.run()
    ghost = len(config["paved-road:tenants"]) - 1
    assert [(i.file, i.field) for i in raised.value.issues] == [
        ("stacks/Pulumi.dev.yaml", f"paved-road:tenants[{ghost}]")
    ], str(raised.value)
    assert "has no file tenants/ghost.yaml" in str(raised.value)
    assert engine.recorded == []


def test_the_command_line_exits_2_naming_the_fragment(root: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    write(root, f"{APPS}/extra.yaml", {**EXTRA, "port": 80})
    result = subprocess.run(
        [sys.executable, "-m", "pavedroad", "plan", "dev", "-C", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{APPS}/extra.yaml: port: 80 is not an unprivileged port" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "build").exists()
