"""Tenant isolation, asserted for every tenant of every shipped stack — including the negatives."""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError
from components.tenants_config import TenantConfig
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import kubernetes_objects
from tests.conftest import (
    project_with_tenant_bad,
    pavedroad,
    ROOT,
    make_project,
    one,
    policy_statements,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors, require_crds
from tests.irsa import assert_irsa_trust

TENANT = "paved-road:tenants:Tenant"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def tenants_of(stack: str) -> list[TenantConfig]:
    """The stack's tenants as the program sees them: file plus the stack's overrides."""
    tenants = []
    for entry in stack_config(stack).get("paved-road:tenants", []):
        name, overrides = (entry, {}) if isinstance(entry, str) else (entry["name"], entry)
        document = yaml.safe_load((ROOT / "tenants" / f"{name}.yaml").read_text())
        for key, value in overrides.items():
            if isinstance(value, dict):
                document[key] = {**document.get(key, {}), **value}
            elif key != "name":
                document[key] = value
        tenants.append(TenantConfig.model_validate(document))
    return tenants


def owned_by(plan: PlanRun, tenant: str) -> list[RecordedResource]:
    component = one(r for r in plan.by_type(TENANT) if r.name == tenant)
    return [r for r in plan.resources if r.parent == component.urn]


def in_namespace(resources: list[RecordedResource], namespace: str) -> list[RecordedResource]:
    return [r for r in resources if (r.inputs.get("metadata") or {}).get("namespace") == namespace]


@pytest.fixture(params=["dev", "staging", "prod"])
def tenant_stack(request: pytest.FixtureRequest) -> str:
    assert stack_config(request.param).get("paved-road:tenants"), "every stack runs tenants"
    return request.param


def test_each_namespace_is_restricted_labelled_and_protected_in_production(
    tenant_stack: str,
) -> None:
    plan = shipped_plan(tenant_stack)
    production = bool(stack_config(tenant_stack).get("paved-road:production"))
    for tenant in tenants_of(tenant_stack):
        for namespace in tenant.namespace_names:
            ns = one(
                r for r in plan.by_type(NAMESPACE) if r.inputs["metadata"]["name"] == namespace
            )
            labels = ns.inputs["metadata"]["labels"]
            for mode in ("enforce", "audit", "warn"):
                assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
            assert labels["paved-road/tenant"] == tenant.name
            assert labels["paved-road/cost-center"] == tenant.cost_center
            assert ns.protect is production


def test_quota_limits_and_service_accounts(tenant_stack: str) -> None:
    plan = shipped_plan(tenant_stack)
    for tenant in tenants_of(tenant_stack):
        resources = owned_by(plan, tenant.name)
        for namespace in tenant.namespace_names:
            objects = in_namespace(resources, namespace)
            quota = one(r for r in objects if r.type == "kubernetes:core/v1:ResourceQuota")
            hard = quota.inputs["spec"]["hard"]
            assert hard["requests.cpu"] == tenant.quota.cpu == hard["limits.cpu"]
            assert hard["requests.memory"] == tenant.quota.memory
            assert hard["pods"] == str(tenant.quota.pods)
            assert hard["services.loadbalancers"] == str(tenant.quota.load_balancers)
            assert hard["services.nodeports"] == "0"
            one(r for r in objects if r.type == "kubernetes:core/v1:LimitRange")
            default_sa = one(
                r for r in objects if r.type == "kubernetes:core/v1:ServiceAccountPatch"
            )
            assert default_sa.inputs["metadata"]["name"] == "default"
            assert default_sa.inputs["automountServiceAccountToken"] is False


def test_production_overrides_reach_the_quota() -> None:
    plan = shipped_plan("prod")
    quota = one(
        r
        for r in plan.by_type("kubernetes:core/v1:ResourceQuota")
        if r.inputs["metadata"]["namespace"] == "storefront"
    )
    assert quota.inputs["spec"]["hard"]["requests.cpu"] == "48"


def _selected_tenants(peer: dict[str, Any]) -> set[str]:
    selector = peer.get("namespaceSelector", {})
    names = set()
    if "paved-road/tenant" in selector.get("matchLabels", {}):
        names.add(selector["matchLabels"]["paved-road/tenant"])
    for expression in selector.get("matchExpressions", []):
        if expression["key"] == "paved-road/tenant":
            names |= set(expression["values"])
    return names


def test_network_policies_deny_by_default_and_admit_only_named_tenants(tenant_stack: str) -> None:
    plan = shipped_plan(tenant_stack)
    tenants = tenants_of(tenant_stack)
    for tenant in tenants:
        callers = {tenant.name, *tenant.network.allow_from}
        callees = {tenant.name} | {t.name for t in tenants if tenant.name in t.network.allow_from}
        for namespace in tenant.namespace_names:
            policies = {
                r.inputs["metadata"]["name"]: r.inputs["spec"]
                for r in in_namespace(plan.by_type(NETWORK_POLICY), namespace)
            }
            deny = policies["default-deny"]
            assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
            assert "allow-dns" in policies and "allow-same-tenant" in policies
            assert ("allow-from-tenants" in policies) is bool(tenant.network.allow_from)
            for spec in policies.values():
                for rule in spec.get("ingress", []):
                    for peer in rule["from"]:
                        assert _selected_tenants(peer) <= callers, (namespace, peer)
                        if "ipBlock" in peer:
                            assert peer["ipBlock"]["cidr"] != "0.0.0.0/0"
                for rule in spec.get("egress", []):
                    for peer in rule["to"]:
                        assert _selected_tenants(peer) <= callees, (namespace, peer)


def test_load_balancer_opening_is_the_public_subnets_only(tenant_stack: str) -> None:
    from components.config import NetworkConfig

    plan = shipped_plan(tenant_stack)
    network = NetworkConfig.model_validate(stack_config(tenant_stack)["paved-road:network"])
    public = set(network.subnet_plan()[1])
    private = set(network.subnet_plan()[0])
    for policy in plan.by_type(NETWORK_POLICY):
        if policy.inputs["metadata"]["name"] != "allow-load-balancers":
            continue
        cidrs = {p["ipBlock"]["cidr"] for r in policy.inputs["spec"]["ingress"] for p in r["from"]}
        assert cidrs == public and not cidrs & private, "pods live in the private subnets"


def test_rbac_is_namespaced_to_the_tenant_and_never_cluster_wide(tenant_stack: str) -> None:
    plan = shipped_plan(tenant_stack)
    assert not [
        r
        for r in plan.by_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
        if any("paved-road:" in s.get("name", "") for s in r.inputs.get("subjects", []))
    ]
    expected_role = {"owners": "admin", "developers": "edit", "viewers": "view"}
    for tenant in tenants_of(tenant_stack):
        bindings = [
            r
            for r in owned_by(plan, tenant.name)
            if r.type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
        ]
        for binding in bindings:
            assert binding.inputs["metadata"]["namespace"] in tenant.namespace_names
            (subject,) = binding.inputs["subjects"]
            group_tenant, role = subject["name"].split(":")[1:]
            assert group_tenant == tenant.name
            assert binding.inputs["roleRef"]["name"] == expected_role[role]
        roles_with_people = [r for r in expected_role if getattr(tenant, r)]
        assert len(bindings) == len(roles_with_people) * len(tenant.namespace_names)


def test_access_entries_map_principals_to_the_tenant_namespaces_only(tenant_stack: str) -> None:
    plan = shipped_plan(tenant_stack)
    for tenant in tenants_of(tenant_stack):
        resources = owned_by(plan, tenant.name)
        entries = [r for r in resources if r.type == "aws:eks/accessEntry:AccessEntry"]
        associations = [
            r
            for r in resources
            if r.type == "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
        ]
        principals = tenant.owners + tenant.developers + tenant.viewers
        assert sorted(e.inputs["principalArn"] for e in entries) == sorted(principals)
        for entry in entries:
            (group,) = entry.inputs["kubernetesGroups"]
            assert group.startswith(f"paved-road:{tenant.name}:")
            assert entry.inputs["tags"]["paved-road:tenant"] == tenant.name
        for association in associations:
            scope = association.inputs["accessScope"]
            assert scope == {"type": "namespace", "namespaces": tenant.namespace_names}
            assert "ClusterAdmin" not in association.inputs["policyArn"]


def _secret_arn(stack: str, tenant: str, secret: str = "db-password-AbCdEf") -> str:
    return (
        f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:paved-road/{stack}/tenants/"
        f"{tenant}/{secret}"
    )


def _readable(policy: RecordedResource, arn: str) -> bool:
    for statement in policy_statements(policy.inputs["policy"]):
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        if statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase(arn, r) for r in resources):
            return True
    return False


def test_workload_role_reads_only_its_own_secrets(tenant_stack: str) -> None:
    plan = shipped_plan(tenant_stack)
    tenants = tenants_of(tenant_stack)
    for tenant in tenants:
        resources = owned_by(plan, tenant.name)
        role = one(r for r in resources if r.type == "aws:iam/role:Role")
        policy = one(r for r in resources if r.type == "aws:iam/rolePolicy:RolePolicy")
        assert _readable(policy, _secret_arn(tenant_stack, tenant.name))
        for other in tenants:
            if other.name != tenant.name:
                assert not _readable(policy, _secret_arn(tenant_stack, other.name)), other.name
        assert not _readable(
            policy, _secret_arn(tenant_stack, "x").replace("tenants/x", "platform")
        )
        statements = policy_statements(role.inputs["assumeRolePolicy"])
        # A tenant with an event consumer also trusts KEDA's operator role, to read its queue's
        # depth (tests/test_resources.py); nothing else.
        keda = [s for s in statements if s.get("Sid") == "KedaReadsQueueDepth"]
        consumers = any(r.consumer for r in tenant.resources if r.type == "events")
        assert len(keda) == (1 if consumers else 0)
        assert [s["Principal"] for s in keda] == [
            {"AWS": f"arn:aws:iam::123456789012:role/paved-road-{tenant_stack}-keda"}
        ] * len(keda)
        statements = [s for s in statements if s not in keda]
        assert len(statements) == len(tenant.namespace_names)
        for statement, namespace in zip(statements, tenant.namespace_names):
            assert_irsa_trust(statement, namespace, "workload")


def test_a_tenant_named_like_the_prefix_of_another_cannot_read_its_secrets(
    tmp_path: Path,
) -> None:
    root = make_project(
        tmp_path,
        {
            "aws:region": "eu-west-1",
            # The shipped tenants' api-services are served at hosts in the stack's zone.
            "paved-road:core": {"dns": {"zones": [{"id": "Z0TEST", "domain": "test.example"}]}},
            # The storefront reads feature flags (README, "Feature flags").
            "paved-road:delivery": {"flags": "openfeature"},
            "paved-road:tenants": ["pay", "payments", "storefront"],
        },
    )
    (root / "tenants" / "pay.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "pay",
                "costCenter": "cc-1",
                "domain": "commerce",
                "owners": ["arn:aws:iam::123456789012:role/pay"],
            }
        )
    )
    plan = PlanEngine("test", root).run()
    pay_policy = one(r for r in owned_by(plan, "pay") if r.type == "aws:iam/rolePolicy:RolePolicy")
    assert _readable(pay_policy, _secret_arn("test", "pay"))
    assert not _readable(pay_policy, _secret_arn("test", "payments"))


def test_secret_stores_and_app_projects_validate_and_stay_in_their_lane(tenant_stack: str) -> None:
    require_crds()
    plan = shipped_plan(tenant_stack)
    manifests = kubernetes_objects(plan.resources)
    for tenant in tenants_of(tenant_stack):
        stores = [
            m
            for m in manifests
            if m["kind"] == "SecretStore"
            and m["metadata"]["labels"].get("paved-road/tenant") == tenant.name
        ]
        assert sorted(s["metadata"]["namespace"] for s in stores) == sorted(tenant.namespace_names)
        for store in stores:
            assert crd_errors(store) == []
            auth = store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]
            assert auth == {"name": "workload"}
        (project,) = [
            m
            for m in manifests
            if m["kind"] == "AppProject" and m["metadata"]["name"] == tenant.name
        ]
        assert crd_errors(project) == []
        spec = project["spec"]
        assert sorted(d["namespace"] for d in spec["destinations"]) == sorted(
            tenant.namespace_names
        )
        assert spec["sourceRepos"] == tenant.repositories
        assert spec["clusterResourceWhitelist"] == []
        assert {"group": "", "kind": "ResourceQuota"} in spec["namespaceResourceBlacklist"]


def test_decommission_lifts_protection_in_production(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("prod"))
    root = make_project(tmp_path, config, "prod")
    search = yaml.safe_load((root / "tenants" / "search.yaml").read_text())
    (root / "tenants" / "search.yaml").write_text(yaml.safe_dump({**search, "decommission": True}))
    plan = PlanEngine("prod", root).run()
    namespaces = {r.inputs["metadata"]["name"]: r.protect for r in plan.by_type(NAMESPACE)}
    assert namespaces["search"] is False
    assert namespaces["payments"] is True and namespaces["storefront"] is True


def _plan_file(root: Path, stack: str) -> Path:
    result = pavedroad("plan", stack, "-C", str(root))
    assert result.returncode == 0, result.stderr
    return root / "build" / stack / "plan.json"


def test_adding_or_removing_a_tenant_changes_exactly_its_resources(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    base = make_project(tmp_path / "base", stack_config("dev"), "dev")
    head_config = copy.deepcopy(stack_config("dev"))
    head_config["paved-road:tenants"].append("analytics")
    (tmp_path / "head").mkdir()
    head = make_project(tmp_path / "head", head_config, "dev")
    (head / "tenants" / "analytics.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "analytics",
                "costCenter": "cc-9000",
                "domain": "commerce",
                "owners": ["arn:aws:iam::123456789012:role/analytics-admins"],
            }
        )
    )
    result = pavedroad("diff", str(_plan_file(base, "dev")), str(_plan_file(head, "dev")))
    assert result.returncode == 0, result.stderr
    base_plan = json.loads((base / "build/dev/plan.json").read_text())
    head_plan = json.loads((head / "build/dev/plan.json").read_text())
    base_urns = {r["urn"]: r for r in base_plan["resources"]}
    head_urns = {r["urn"]: r for r in head_plan["resources"]}
    added = set(head_urns) - set(base_urns)
    assert set(base_urns) <= set(head_urns)
    # Its own resources, and its domain squad's binding in its namespace.
    squad = "paved-road:domains:Domain::commerce"
    assert added and all(
        urn.endswith("::analytics")
        or head_urns[urn]["parent"].endswith("::analytics")
        or (head_urns[urn]["parent"].endswith(squad) and urn.endswith("::analytics-squad"))
        for urn in added
    )
    assert [u for u in added if u.endswith("::analytics-squad")]
    # Besides its own resources, only the admission rule holding its Ingresses to its hosts, and
    # what its domain squad gets: the access scope and Argo CD project now include its namespace,
    # and the squad's alert route its name.
    changed = sorted(u.rsplit("::", 1)[1] for u in base_urns if base_urns[u] != head_urns[u])
    assert changed == [
        "commerce-app-project",
        "commerce-squad-0-access-policy",
        "platform-alerts-alertmanager-config",
        "policy-restrict-ingress-hosts",
    ]
    assert f"+{len(added)} to add, ~4 to change, -0 to remove" in result.stdout
    # And taking the tenant out again removes exactly those resources.
    removal = pavedroad(
        "diff", str(head / "build/dev/plan.json"), str(base / "build/dev/plan.json")
    )
    assert f"+0 to add, ~4 to change, -{len(added)} to remove" in removal.stdout


BAD_TENANTS = {
    "invalid name": ({"name": "Payments_Team"}, "tenants/bad.yaml", "name"),
    "unknown field": ({"quotas": {"cpu": "4"}}, "tenants/bad.yaml", "quotas"),
    "bad quantity": ({"quota": {"cpu": "4x"}}, "tenants/bad.yaml", "quota.cpu"),
    "bad ARN": ({"owners": ["arn:aws:iam::123:role/x"]}, "tenants/bad.yaml", "owners"),
    "reserved namespace": ({"namespaces": ["kube-system"]}, "tenants/bad.yaml", "namespaces[0]"),
    "platform namespace": ({"namespaces": ["argocd"]}, "tenants/bad.yaml", "namespaces[0]"),
    "namespace of another tenant": (
        {"namespaces": ["bad", "payments-jobs"]},
        "tenants/bad.yaml",
        "namespaces[1]",
    ),
    "allowFrom unknown tenant": (
        {"network": {"allowFrom": ["nobody"]}},
        "tenants/bad.yaml",
        "network.allowFrom[0]",
    ),
    "principal of another tenant": (
        {"owners": ["arn:aws:iam::123456789012:role/payments-admins"]},
        "tenants/bad.yaml",
        "owners[0]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TENANTS))
def test_bad_tenant_input_names_file_and_field(case: str, tmp_path: Path) -> None:
    changes, file, field = BAD_TENANTS[case]
    engine = PlanEngine("dev", project_with_tenant_bad(tmp_path, changes)[0])
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert any(i.file == file and i.field.startswith(field) for i in raised.value.issues), str(
        raised.value
    )
    assert engine.recorded == []


def test_stack_errors_name_the_stack_file(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:tenants"] = [
        "payments",
        "search",
        {"name": "storefront", "quota": {"cpu": "lots"}},
        "search",
        "ghost",
    ]
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    messages = {(i.file, i.field): i.message for i in raised.value.issues}
    file = "stacks/Pulumi.dev.yaml"
    assert "is not a Kubernetes quantity" in messages[(file, "paved-road:tenants[2].quota.cpu")]
    assert "listed twice" in messages[(file, "paved-road:tenants[3]")]
    assert "no file tenants/ghost.yaml" in messages[(file, "paved-road:tenants[4]")]
    assert engine.recorded == []


def test_cli_rejects_a_bad_tenant_with_exit_2(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(tmp_path, {"quota": {"cpu": "4x"}})
    result = pavedroad("plan", "dev", "-C", str(root))
    assert result.returncode == 2
    assert "tenants/bad.yaml: quota.cpu: '4x' is not a Kubernetes quantity" in result.stderr
    assert "Traceback" not in result.stderr
