"""The federated model: governance.yaml, domains/, a tenant's domain and team, squads' access.

A squad is held to its domain the way a tenant is held to its namespaces: every binding, access
entry and Argo CD destination it gets names only its own teams' namespaces, and bad ownership
input is refused with file and field before anything is registered.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.domain import squad_group
from components.governance_config import DomainConfig, load_domains
from components.kubernetes import DOMAIN_LABEL
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import kubernetes_objects
from tests.conftest import (
    ROOT,
    assert_refused,
    make_project,
    one,
    pavedroad,
    project_with_tenant_bad,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors, require_crds

DOMAIN = "paved-road:domains:Domain"
TENANT = "paved-road:tenants:Tenant"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
STACKS = ("dev", "staging", "prod")


def shipped_domains() -> list[DomainConfig]:
    domains, issues = load_domains(ROOT)
    assert issues == []
    return domains


def tenant_files() -> dict[str, dict[str, Any]]:
    return {
        path.stem: yaml.safe_load(path.read_text()) for path in (ROOT / "tenants").glob("*.yaml")
    }


def namespaces_of(domain: str, stack: str) -> set[str]:
    """The namespaces of the domain's teams that run in `stack`, from the files themselves."""
    files = tenant_files()
    listed = [
        entry if isinstance(entry, str) else entry["name"]
        for entry in stack_config(stack)["paved-road:tenants"]
    ]
    return {
        namespace
        for name in listed
        if files[name].get("domain") == domain
        for namespace in files[name].get("namespaces") or [name]
    }


def children(plan: PlanRun, component_type: str, name: str) -> list[RecordedResource]:
    component = one(r for r in plan.by_type(component_type) if r.name == name)
    return [r for r in plan.resources if r.parent == component.urn]


@pytest.mark.parametrize("stack", STACKS)
def test_each_squad_is_bound_in_its_domain_namespaces_and_nowhere_else(stack: str) -> None:
    plan = shipped_plan(stack)
    seen: set[str] = set()
    for domain in shipped_domains():
        mine = namespaces_of(domain.name, stack)
        assert mine, f"every shipped domain has a team in {stack}"
        group = squad_group(domain.name, domain.squad.access)
        resources = children(plan, DOMAIN, domain.name)
        bindings = [r for r in resources if r.type == ROLE_BINDING]
        assert {b.inputs["metadata"]["namespace"] for b in bindings} == mine
        for binding in bindings:
            assert binding.inputs["roleRef"] == {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": domain.squad.access,
            }
            assert binding.inputs["subjects"] == [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
            ]
        # The squad's group is bound nowhere but in its own teams' namespaces.
        everywhere = [
            r
            for r in plan.resources
            if r.type.startswith("kubernetes:rbac.authorization.k8s.io/v1:")
            and any(s.get("name") == group for s in r.inputs.get("subjects", []))
        ]
        assert sorted(r.urn for r in everywhere) == sorted(b.urn for b in bindings)
        assert not seen & mine, "two domains share a namespace"
        seen |= mine


@pytest.mark.parametrize("stack", STACKS)
def test_squad_access_entries_are_scoped_to_the_domain_namespaces(stack: str) -> None:
    plan = shipped_plan(stack)
    policies = {"view": "AmazonEKSViewPolicy", "edit": "AmazonEKSEditPolicy"}
    for domain in shipped_domains():
        resources = children(plan, DOMAIN, domain.name)
        entries = [r for r in resources if r.type == ACCESS_ENTRY]
        associations = [r for r in resources if r.type == ASSOCIATION]
        assert sorted(e.inputs["principalArn"] for e in entries) == sorted(domain.squad.principals)
        for entry in entries:
            assert entry.inputs["kubernetesGroups"] == [
                squad_group(domain.name, domain.squad.access)
            ]
            assert entry.inputs["tags"]["paved-road:domain"] == domain.name
        assert len(associations) == len(entries)
        for association in associations:
            assert association.inputs["policyArn"].endswith(policies[domain.squad.access])
            scope = association.inputs["accessScope"]
            assert scope["type"] == "namespace"
            assert set(scope["namespaces"]) == namespaces_of(domain.name, stack)


@pytest.mark.parametrize("stack", STACKS)
def test_squad_app_project_deploys_only_to_its_teams(stack: str) -> None:
    require_crds()
    plan = shipped_plan(stack)
    projects = {
        m["metadata"]["name"]: m
        for m in kubernetes_objects(plan.resources)
        if m["kind"] == "AppProject"
    }
    files = tenant_files()
    for domain in shipped_domains():
        project = projects[f"domain-{domain.name}"]
        assert crd_errors(project) == []
        spec = project["spec"]
        assert {d["namespace"] for d in spec["destinations"]} == namespaces_of(domain.name, stack)
        repositories = {
            repo
            for name, document in files.items()
            if document.get("domain") == domain.name
            and name
            in {
                t if isinstance(t, str) else t["name"]
                for t in stack_config(stack)["paved-road:tenants"]
            }
            for repo in document.get("repositories", [])
        }
        assert set(spec["sourceRepos"]) == repositories
        assert spec["clusterResourceWhitelist"] == []
        roles = spec.get("roles", [])
        assert [role.get("groups") for role in roles] == (
            [domain.squad.sso_groups] if domain.squad.sso_groups else []
        )
        for role in roles:
            for policy in role["policies"]:
                # Only its own project's applications.
                assert f", domain-{domain.name}/*, allow" in policy
                assert policy.startswith(f"p, proj:domain-{domain.name}:squad, applications, ")


def test_tenant_objects_and_resources_carry_their_domain() -> None:
    plan = shipped_plan("dev")
    files = tenant_files()
    for name in ("payments", "search", "storefront"):
        domain = files[name]["domain"]
        resources = children(plan, TENANT, name)
        labelled = [r for r in resources if isinstance(r.inputs.get("metadata"), dict)]
        assert labelled
        for resource in labelled:
            assert resource.inputs["metadata"]["labels"][DOMAIN_LABEL] == domain, resource.urn
        tagged = [r for r in resources if isinstance(r.inputs.get("tags"), dict)]
        assert tagged
        for resource in tagged:
            assert resource.inputs["tags"]["paved-road:domain"] == domain, resource.urn


def _platform_alerts(plan: PlanRun) -> tuple[dict[str, Any], dict[str, Any]]:
    objects = kubernetes_objects(plan.resources)
    (config,) = [
        m
        for m in objects
        if m["kind"] == "AlertmanagerConfig" and m["metadata"]["name"] == "platform-alerts"
    ]
    (secret,) = [
        m
        for m in objects
        if m["kind"] == "ExternalSecret"
        and m["metadata"]["namespace"] == "monitoring"
        and m["metadata"]["name"] == "alert-receivers"
    ]
    return config, secret


def test_a_squad_gets_its_teams_alerts_as_a_second_receiver() -> None:
    require_crds()
    config, secret = _platform_alerts(shipped_plan("dev"))
    assert crd_errors(config) == []
    routes = config["spec"]["route"]["routes"]
    (commerce,) = [r for r in routes if r["receiver"] == "domain-commerce-ticket"]
    matcher = commerce["matchers"][0]
    assert matcher == {"name": "tenant", "value": "payments|storefront", "matchType": "=~"}
    assert commerce["routes"][0]["receiver"] == "domain-commerce-page"
    # Before the route that drops tenants' alerts (their own routes delivered them).
    drop = next(
        i
        for i, r in enumerate(routes)
        if r["matchers"][0]["name"] == "tenant" and r["receiver"] == "null"
    )
    assert routes.index(commerce) < drop
    # discovery's squad has no receivers: no route, so search's alerts reach only its own team.
    assert not [r for r in routes if r["receiver"].startswith("domain-discovery")]
    receivers = {r["name"]: r for r in config["spec"]["receivers"]}
    slack = receivers["domain-commerce-ticket"]["slackConfigs"][0]
    assert slack["apiURL"] == {"name": "alert-receivers", "key": "domain-commerce-slack"}
    assert slack["channel"] == "#commerce-platform"
    data = {d["secretKey"]: d["remoteRef"] for d in secret["spec"]["data"]}
    assert data["domain-commerce-slack"] == {
        "key": "paved-road/dev/platform/domains/commerce/alerts/slack",
        "property": "webhookUrl",
    }


def test_governance_principals_get_cluster_access_once_each() -> None:
    plan = shipped_plan("prod")
    (cluster,) = [r for r in plan.resources if r.type == "eks:index:Cluster"]
    entries = cluster.inputs["accessEntries"]
    by_principal = {e["principalArn"]: e for e in entries.values()}
    assert len(by_principal) == len(entries), "one access entry per principal"
    audit = by_principal["arn:aws:iam::123456789012:role/security-audit"]
    (policy,) = audit["accessPolicies"].values()
    assert policy["policyArn"].endswith("/AmazonEKSViewPolicy")
    assert policy["accessScope"] == {"type": "cluster"}
    # The core team's principal is the stack's admin already: no second entry.
    core = [e for k, e in entries.items() if k.startswith("core-")]
    assert core == []


# --------------------------------------------------------------------------------------------------
# Bad input


def _with_domain(root: Path, name: str, document: dict[str, Any]) -> None:
    (root / "domains" / f"{name}.yaml").write_text(yaml.safe_dump(document))


def _squad(**extra: Any) -> dict[str, Any]:
    return {"github": "@acme/new-platform", **extra}


BAD_TENANT_OWNERSHIP = {
    "unknown domain": ({"domain": "nowhere"}, "domain", "'nowhere' is not a domain"),
    "domain missing": ({"domain": None}, "domain", "is required"),
    "handle without org": ({"github": {"team": "payments"}}, "github.team", "'@org/team'"),
    "handle of another org": (
        {"github": {"team": "@other/payments"}},
        "github.team",
        "not in the organisation",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TENANT_OWNERSHIP))
def test_bad_tenant_ownership_is_refused_with_file_and_field(case: str, tmp_path: Path) -> None:
    changes, field, message = BAD_TENANT_OWNERSHIP[case]
    root, _ = project_with_tenant_bad(tmp_path, changes)
    if changes.get("domain", "") is None:
        document = yaml.safe_load((root / "tenants" / "bad.yaml").read_text())
        del document["domain"]
        (root / "tenants" / "bad.yaml").write_text(yaml.safe_dump(document))
    assert_refused(PlanEngine("dev", root), "tenants/bad.yaml", field, message)


def test_a_stack_cannot_move_a_team_to_another_domain(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(tmp_path, {}, {"name": "bad", "domain": "discovery"})
    index = len(stack_config("dev")["paved-road:tenants"])
    assert_refused(
        PlanEngine("dev", root),
        "stacks/Pulumi.dev.yaml",
        f"paved-road:tenants[{index}].domain",
        "the same in every environment",
    )


BAD_DOMAINS = {
    "squad handle": ({"squad": _squad(github="new-platform")}, "squad.github", "'@org/team'"),
    "access level": ({"squad": _squad(access="admin")}, "squad.access", "view"),
    "name mismatch": ({"name": "other"}, "name", "does not match the file name"),
    "tenant principal": (
        {"squad": _squad(principals=["arn:aws:iam::123456789012:role/payments-admins"])},
        "squad.principals[0]",
        "already has cluster access through tenant 'payments'",
    ),
    "admin principal": (
        {"squad": _squad(principals=["arn:aws:iam::123456789012:role/platform-admins"])},
        "squad.principals[0]",
        "through the platform admins",
    ),
    "another squad's principal": (
        {"squad": _squad(principals=["arn:aws:iam::123456789012:role/commerce-platform-squad"])},
        "squad.principals[0]",
        "through the 'commerce' squad",
    ),
    "unknown field": ({"owner": "x"}, "owner", "unknown field"),
    "sso group with a comma": ({"squad": _squad(ssoGroups=["a,b"])}, "squad.ssoGroups", "SSO"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOMAINS))
def test_bad_domain_files_are_refused_with_file_and_field(case: str, tmp_path: Path) -> None:
    changes, field, message = BAD_DOMAINS[case]
    root = make_project(tmp_path, copy.deepcopy(stack_config("dev")), "dev")
    _with_domain(root, "zeta", {"name": "zeta", "squad": _squad(), **changes})
    assert_refused(PlanEngine("dev", root), "domains/zeta.yaml", field, message)


def test_a_security_principal_that_is_a_stack_admin_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path, copy.deepcopy(stack_config("dev")), "dev")
    governance = yaml.safe_load((root / "governance.yaml").read_text())
    governance["security"]["principals"] = ["arn:aws:iam::123456789012:role/platform-admins"]
    (root / "governance.yaml").write_text(yaml.safe_dump(governance))
    assert_refused(
        PlanEngine("dev", root),
        "governance.yaml",
        "security.principals[0]",
        "already has cluster access through the platform admins",
    )


def test_domain_folder_entries_are_files_only(tmp_path: Path) -> None:
    root = make_project(tmp_path, copy.deepcopy(stack_config("dev")), "dev")
    (root / "domains" / "notes.txt").write_text("hello")
    (root / "domains" / "linked.yaml").symlink_to(root / "domains" / "commerce.yaml")
    engine = PlanEngine("dev", root)
    assert_refused(engine, "domains/notes.txt", "(file)", "<domain>.yaml files only")
    engine = PlanEngine("dev", root)
    assert_refused(engine, "domains/linked.yaml", "(file)", "a symbolic link, not a regular file")


def test_cli_refuses_a_bad_domain_with_exit_2(tmp_path: Path) -> None:
    root = make_project(tmp_path, copy.deepcopy(stack_config("dev")), "dev")
    _with_domain(root, "zeta", {"name": "zeta", "squad": _squad(github="@acme")})
    result = pavedroad("plan", "dev", "-C", str(root))
    assert result.returncode == 2, result.stderr
    assert "domains/zeta.yaml: squad.github:" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------------------------------
# CODEOWNERS


def test_committed_codeowners_is_current() -> None:
    result = pavedroad("codeowners", "--check")
    assert result.returncode == 0, result.stderr


def _codeowners_project(tmp_path: Path) -> Path:
    root = make_project(tmp_path, copy.deepcopy(stack_config("dev")), "dev")
    (root / ".github").mkdir()
    (root / ".github" / "CODEOWNERS").write_text((ROOT / ".github" / "CODEOWNERS").read_text())
    return root


def owners_of(text: str) -> dict[str, list[str]]:
    rows = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    return {row[0]: row[1:] for row in rows}


def test_codeowners_gives_each_path_its_owners() -> None:
    owners = owners_of((ROOT / ".github" / "CODEOWNERS").read_text())
    governance = yaml.safe_load((ROOT / "governance.yaml").read_text())
    core, security = governance["core"]["github"], governance["security"]["github"]
    for path in ("*", "/components/", "/stacks/", "/__main__.py", "/governance.yaml", "/domains/"):
        assert owners[path] == [core], path
    assert owners["/policies/"] == [security, core]
    squads = {d.name: d.squad.github for d in shipped_domains()}
    for name, document in tenant_files().items():
        expected = [document["github"]["team"], squads[document["domain"]]]
        assert owners[f"/tenants/{name}.yaml"] == expected
        assert owners[f"/tenants/{name}/"] == expected
    # GitHub applies the last match: the general lines come before the tenants'.
    paths = list(owners)
    assert paths.index("*") == 0
    assert max(paths.index(p) for p in ("/policies/", "/domains/")) < min(
        i for i, p in enumerate(paths) if p.startswith("/tenants/")
    )


def test_codeowners_check_fails_on_a_stale_file_and_the_command_fixes_it(tmp_path: Path) -> None:
    root = _codeowners_project(tmp_path)
    document = yaml.safe_load((root / "tenants" / "search.yaml").read_text())
    document["github"] = {"team": "@acme/search-engineers"}
    (root / "tenants" / "search.yaml").write_text(yaml.safe_dump(document))
    stale = pavedroad("codeowners", "--check", "-C", str(root))
    assert stale.returncode == 1
    assert "stale" in stale.stderr
    assert pavedroad("codeowners", "-C", str(root)).returncode == 0
    text = (root / ".github" / "CODEOWNERS").read_text()
    assert owners_of(text)["/tenants/search.yaml"] == [
        "@acme/search-engineers",
        "@acme/discovery-platform",
    ]
    assert pavedroad("codeowners", "--check", "-C", str(root)).returncode == 0
    # Byte-identical on a second run.
    assert pavedroad("codeowners", "-C", str(root)).returncode == 0
    assert (root / ".github" / "CODEOWNERS").read_text() == text


@pytest.mark.parametrize(
    "breakage, file, expected",
    [
        ("no governance", "governance.yaml", "is missing"),
        ("bad tenant handle", "tenants/search.yaml", "github.team"),
        ("unknown domain", "tenants/search.yaml", "'nowhere' is not a domain"),
    ],
)
def test_codeowners_refuses_bad_input_with_exit_2(
    breakage: str, file: str, expected: str, tmp_path: Path
) -> None:
    root = _codeowners_project(tmp_path)
    before = (root / ".github" / "CODEOWNERS").read_text()
    if breakage == "no governance":
        (root / "governance.yaml").unlink()
    else:
        document = yaml.safe_load((root / "tenants" / "search.yaml").read_text())
        if breakage == "bad tenant handle":
            document["github"] = {"team": "search"}
        else:
            document["domain"] = "nowhere"
        (root / "tenants" / "search.yaml").write_text(yaml.safe_dump(document))
    result = pavedroad("codeowners", "-C", str(root))
    assert result.returncode == 2
    assert file in result.stderr and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert (root / ".github" / "CODEOWNERS").read_text() == before
