"""`pavedroad catalog`: Backstage entities for every tenant, app and resource the files declare,
byte-identical across runs, `--check` for staleness, and Backstage's own validators on the output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, pavedroad, project_with_tenant_bad

BACKSTAGE = ROOT / "tests" / "backstage"


def copy_project(tmp_path: Path) -> Path:
    """The checkout's inputs of the catalog (and its committed catalog) in a scratch directory:
    the tenant and stack files, and the pack config (the templates' image rules read it)."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "pyproject.toml", "governance.yaml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("stacks", "tenants", "domains", "catalog", "policies/config"):
        shutil.copytree(ROOT / name, root / name)
    return root


def entities(directory: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.rglob("*.yaml")):
        found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def by_kind(found: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {e["metadata"]["name"]: e for e in found if e["kind"] == kind}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalog")
    result = pavedroad("catalog", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_committed_catalog_is_current() -> None:
    result = pavedroad("catalog", "--check")
    assert result.returncode == 0, result.stderr
    assert "is current" in result.stdout


def test_every_shipped_tenant_app_and_resource_has_an_entity(generated: Path) -> None:
    found = entities(generated)
    groups, systems = by_kind(found, "Group"), by_kind(found, "System")
    components, resources = by_kind(found, "Component"), by_kind(found, "Resource")
    tenant_files = sorted((ROOT / "tenants").glob("*.yaml"))
    assert tenant_files
    for path in tenant_files:
        tenant = yaml.safe_load(path.read_text())
        name = tenant["name"]
        assert groups[name]["spec"] == {"type": "team", "children": []}
        assert systems[name]["spec"]["owner"] == f"group:default/{name}"
        # The federated model: the team's domain and GitHub team.
        assert systems[name]["spec"]["domain"] == f"domain:default/{tenant['domain']}"
        team = groups[name]["metadata"]["annotations"]["github.com/team-slug"]
        assert f"@{team}" == tenant["github"]["team"]
        source = f"url:https://github.com/acme/paved-road/blob/main/tenants/{name}.yaml"
        for app in tenant.get("apps", []):
            component = components[f"{name}-{app['name']}"]
            expected_type = {"api-service": "service", "batch-job": "job"}.get(
                app["template"], "consumer"
            )
            assert component["spec"]["type"] == expected_type
            assert component["spec"]["owner"] == f"group:default/{name}"
            annotations = component["metadata"]["annotations"]
            assert annotations["backstage.io/kubernetes-id"] == app["name"]
            namespaces = tenant.get("namespaces") or [name]
            assert annotations["backstage.io/kubernetes-namespace"] == app.get(
                "namespace", namespaces[0]
            )
            assert annotations["backstage.io/source-location"] == source
            assert annotations["argocd/app-name"] == f"{name}-{app['name']}"
            assert annotations["pulumi.com/project-slug"] == "acme/paved-road/prod"
        apps = [app["name"] for app in tenant.get("apps", [])]
        for entry in tenant.get("resources", []):
            ref = f"resource:default/{name}-{entry['name']}"
            resource = resources[f"{name}-{entry['name']}"]
            assert (
                resource["spec"]["type"]
                == {
                    "postgres": "database",
                    "redis": "cache",
                    "dns": "dns-record",
                    "events": "queue",
                }[entry["type"]]
            )
            users = {
                "dns": [entry.get("app")],
                "events": [entry.get("consumer")],
            }.get(entry["type"], apps)
            for app in apps:
                depends = components[f"{name}-{app}"]["spec"].get("dependsOn", [])
                assert (ref in depends) == (app in users), (app, ref)
    platform = systems["paved-road"]
    assert platform["spec"]["owner"] == "group:default/platform"
    core = [c for c in components.values() if c["spec"]["system"] == "system:default/paved-road"]
    assert {"argocd", "kyverno", "cert-manager", "argo-rollouts"} <= {
        c["metadata"]["name"] for c in core
    }
    (location,) = by_kind(found, "Location").values()
    templates = sorted(by_kind(found, "Template"))
    assert location["spec"]["targets"] == [
        "./domains.yaml",
        "./platform.yaml",
        *(f"./templates/{name}/template.yaml" for name in templates),
        *(f"./tenants/{p.name}" for p in tenant_files),
    ]


def test_each_domain_is_owned_by_its_platform_squad(generated: Path) -> None:
    found = entities(generated)
    domains, groups = by_kind(found, "Domain"), by_kind(found, "Group")
    files = sorted((ROOT / "domains").glob("*.yaml"))
    assert files and sorted(domains) == sorted(p.stem for p in files)
    for path in files:
        document = yaml.safe_load(path.read_text())
        squad = groups[f"{document['name']}-platform-squad"]
        assert domains[document["name"]]["spec"] == {
            "owner": f"group:default/{squad['metadata']['name']}"
        }
        slug = squad["metadata"]["annotations"]["github.com/team-slug"]
        assert f"@{slug}" == document["squad"]["github"]


def test_shipped_apps_all_run_in_production(generated: Path) -> None:
    """Every shipped tenant is listed in the production stack, so every app is in production."""
    components = by_kind(entities(generated), "Component")
    apps = [c for c in components.values() if c["spec"]["system"] != "system:default/paved-road"]
    assert apps and {c["spec"]["lifecycle"] for c in apps} == {"production"}


def test_an_app_outside_production_is_experimental(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    prod = root / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(prod.read_text())
    document["config"]["paved-road:tenants"].remove("search")
    prod.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    result = pavedroad("catalog", "-C", str(root), "--out", str(out))
    assert result.returncode == 0, result.stderr
    components = by_kind(entities(out), "Component")
    assert components["search-search-api"]["spec"]["lifecycle"] == "experimental"
    slug = components["search-search-api"]["metadata"]["annotations"]["pulumi.com/project-slug"]
    assert slug == "acme/paved-road/dev"
    assert components["payments-checkout-api"]["spec"]["lifecycle"] == "production"


def test_runs_are_byte_identical(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    result = pavedroad("catalog", "--out", str(again))
    assert result.returncode == 0, result.stderr
    first = {
        str(p.relative_to(generated)): p.read_bytes() for p in generated.rglob("*") if p.is_file()
    }
    second = {str(p.relative_to(again)): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first == second
    committed = {
        str(p.relative_to(ROOT / "catalog")): p.read_bytes()
        for p in (ROOT / "catalog").rglob("*")
        if p.is_file()
    }
    assert first == committed


def test_check_fails_on_a_stale_catalog_and_passes_once_regenerated(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    assert pavedroad("catalog", "-C", str(root), "--check").returncode == 0
    tenant = root / "tenants" / "search.yaml"
    tenant.write_text(tenant.read_text().replace("displayName: ", "displayName: New "))
    stale = pavedroad("catalog", "-C", str(root), "--check")
    assert stale.returncode == 1
    assert "tenants/search.yaml" in stale.stderr and "is stale" in stale.stderr
    assert "python -m pavedroad catalog" in stale.stderr
    (root / "catalog" / "tenants" / "gone.yaml").write_text("---\n")
    assert pavedroad("catalog", "-C", str(root)).returncode == 0
    assert not (root / "catalog" / "tenants" / "gone.yaml").exists()
    assert pavedroad("catalog", "-C", str(root), "--check").returncode == 0


def test_a_bad_tenant_file_exits_2_like_the_plan(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(tmp_path, {"quota": {"cpu": "4x"}})
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    out = tmp_path / "out"
    catalog = pavedroad("catalog", "-C", str(root), "--out", str(out))
    plan = pavedroad("plan", "dev", "-C", str(root), "--out", str(tmp_path / "plan"))
    assert catalog.returncode == plan.returncode == 2
    message = "tenants/bad.yaml: quota.cpu"
    assert message in catalog.stderr
    error_lines = [line for line in plan.stderr.splitlines() if "tenants/bad.yaml" in line]
    assert error_lines and all(line in catalog.stderr.splitlines() for line in error_lines)
    assert not out.exists()


def run_validator(directory: Path) -> subprocess.CompletedProcess[str]:
    if not (BACKSTAGE / "node_modules" / "@backstage" / "catalog-model").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("tests/backstage/node_modules is missing: .ci/run installs it (npm ci)")
        pytest.skip("Backstage's validators not installed: run `npm ci` in tests/backstage")
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    return subprocess.run(
        ["node", str(BACKSTAGE / "validate.js"), str(directory)], capture_output=True, text=True
    )


def test_backstage_validators_accept_every_generated_file(generated: Path) -> None:
    result = run_validator(generated)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["problems"] == []
    found = entities(generated)
    assert sum(report["kinds"].values()) == len(found)
    assert set(report["files"]) == {
        str(p.relative_to(generated)) for p in generated.rglob("*.yaml")
    }


def test_backstage_validators_refuse_a_broken_entity(generated: Path, tmp_path: Path) -> None:
    """The validation can fail: a bad name, an unknown field and a dangling owner are refused."""
    broken = tmp_path / "broken"
    shutil.copytree(generated, broken)
    path = broken / "tenants" / "payments.yaml"
    text = path.read_text()
    text = text.replace("name: payments-settlement", "name: payments settlement!", 1)
    text = text.replace("owner: group:default/payments\n", "owner: group:default/nobody\n", 1)
    path.write_text(text + "---\nkind: Resource\napiVersion: backstage.io/v1alpha1\n")
    result = run_validator(broken)
    assert result.returncode == 1, result.stdout
    problems = json.loads(result.stdout)["problems"]
    assert any("payments settlement!" in p for p in problems), problems
    assert any("group:default/nobody not in catalog" in p for p in problems), problems
    assert any("Resource ?" in p or "metadata" in p for p in problems), problems
