"""Domains raise rules for their own tenants: one pack for all, a domain's file
(`domains/<domain>.yaml`, `policies:`) makes an advisory rule mandatory for its tenants only —
never for another domain's tenants or the platform — and can never lower a rule. Both engines
(the offline runner behind `pavedroad plan`/`check`, and CrossGuard) report the same findings."""

from __future__ import annotations

import copy
from dataclasses import replace
import json
import os
import runpy
import shutil
from pathlib import Path
from typing import Any, Optional
from unittest import mock

import pulumi_policy
import pytest
import yaml
from pulumi.runtime import proto
from pulumi.runtime.config import set_all_config
from pulumi_policy.policy import _PolicyAnalyzerServicer

from components import kubernetes as program
from pavedroad.check import check_resources
from pavedroad.plan import render_plan_json
from policies.paved_road_policies import crossguard, domains, registry
from policies.paved_road_policies.config import PackConfig, PolicyConfigError
from policies.paved_road_policies.core import (
    DOMAIN_LABEL,
    DOMAIN_TAG,
    TENANT_COMPONENT,
    Resource,
    Stack,
)
from policies.paved_road_policies.domains import (
    META_RULE,
    Ownership,
    level_issues,
    load_domain_levels,
)
from policies.paved_road_policies.runner import evaluate
from pavedroad.engine import PlanEngine
from tests.conftest import (
    ROOT,
    assert_refused,
    make_project,
    pavedroad,
    shipped_plan,
    stack_config,
)
from tests.test_policies_pack import analyze_stack

RULE = "k8s-serving-redundant"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NAMESPACE = "kubernetes:core/v1:Namespace"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
# Each tenant's domain, from its tenant file: payments and storefront are commerce's, search is
# discovery's.
TENANT_DOMAINS = {
    path.stem: yaml.safe_load(path.read_text()).get("domain")
    for path in (ROOT / "tenants").glob("*.yaml")
}


def write_domain(root: Path, name: str, policies: Any, **extra: Any) -> Path:
    path = root / "domains" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    # A whole domain file, as the program reads it too (its squad is the program's business).
    document = {
        "name": name,
        "displayName": name.title(),
        "squad": {"github": f"@acme/{name}-platform"},
        **extra,
    }
    if policies is not None:
        document["policies"] = policies
    path.write_text(yaml.safe_dump(document))
    return path


def tenant_name(resources: list[dict[str, Any]], resource: dict[str, Any]) -> Optional[str]:
    by_urn = {r["urn"]: r for r in resources}
    parent = by_urn.get(resource.get("parent") or "")
    while parent is not None:
        if parent["type"] == TENANT_COMPONENT:
            return parent["name"]
        parent = by_urn.get(parent.get("parent") or "")
    return None


def planned(stack: str = "dev") -> list[dict[str, Any]]:
    """The shipped plan's resources (a copy to edit), with the domains the Tenant component
    writes on its tenants' objects and tagged AWS resources."""
    return [copy.deepcopy(r.to_json()) for r in shipped_plan(stack).resources]


def unmark(resources: list[dict[str, Any]], keep: Any = lambda resource: False) -> None:
    """Remove the domain label and tag from every resource but those `keep` accepts."""
    for resource in resources:
        if keep(resource):
            continue
        resource["inputs"].get("metadata", {}).get("labels", {}).pop(DOMAIN_LABEL, None)
        tags = resource["inputs"].get("tags")
        if isinstance(tags, dict):
            tags.pop(DOMAIN_TAG, None)


def named(resources: list[dict[str, Any]], type_: str, name: str) -> dict[str, Any]:
    return next(
        r
        for r in resources
        if r["type"] == type_ and r["inputs"].get("metadata", {}).get("name") == name
    )


def one_pod_apps(resources: list[dict[str, Any]]) -> dict[str, str]:
    """The same violation in every tenant: payments and storefront (commerce) and search
    (discovery) each let an app scale down to one pod. Their workloads' urns."""
    urns = {}
    for tenant, workload in (
        ("payments", "checkout-api"),
        ("search", "search-api-green"),  # the active color, the one its Service selects
        ("storefront", "recommendations"),
    ):
        named(resources, HPA, workload)["inputs"]["spec"]["minReplicas"] = 1
        urns[tenant] = next(
            r["urn"]
            for r in resources
            if r["type"]
            in ("kubernetes:argoproj.io/v1alpha1:Rollout", "kubernetes:apps/v1:Deployment")
            and r["inputs"]["metadata"]["name"] == workload
        )
    return urns


def views(resources: list[dict[str, Any]]) -> list[Resource]:
    from pavedroad.check import resources_from_plan

    return resources_from_plan({"resources": resources})


def found(violations: Any, rule: str) -> dict[str, tuple[str, str]]:
    return {v.urn: (v.level, v.message) for v in violations if v.rule == rule}


# The rule a domain raises -----------------------------------------------------------------------


def test_an_app_down_to_one_pod_is_advised_against_in_every_tenant() -> None:
    """What a tenant file does to break the rule: `replicas: 1` (the autoscaler's floor), or a
    budget that no longer selects the app's pods. Without a domain, advice only."""
    resources = planned()
    urns = one_pod_apps(resources)
    named(resources, PDB, "search-api")["inputs"]["spec"]["selector"] = {
        "matchLabels": {"app.kubernetes.io/name": "other"}
    }
    reports = found(evaluate(registry.RULES, views(resources)), RULE)
    assert set(reports) == set(urns.values())
    level, message = reports[urns["payments"]]
    assert level == "advisory"
    assert message == (
        "Rollout checkout-api serves Service checkout-api with 1 pod(s) at the fewest "
        "(HorizontalPodAutoscaler checkout-api minReplicas 1): run at least 2, or one pod's "
        "restart is an outage"
    )
    search = [v for v in evaluate(registry.RULES, views(resources)) if v.urn == urns["search"]]
    assert sorted(v.message.split(":")[0] for v in search) == [
        "Deployment search-api-green serves Service search-api and no PodDisruptionBudget selects "
        "its pods",
        "Deployment search-api-green serves Service search-api with 1 pod(s) at the fewest (Horiz"
        "ontalPodAutoscaler search-api-green minReplicas 1)",
    ]


# Raising, and isolation -------------------------------------------------------------------------


def test_the_tenants_resources_name_their_domain_where_the_pack_looks() -> None:
    """The program's contract with the pack: every Kubernetes object and tagged AWS resource a
    Tenant creates names the tenant's domain, with the pack's own label and tag."""
    assert (DOMAIN_LABEL, DOMAIN_TAG) == (program.DOMAIN_LABEL, program.DOMAIN_TAG)
    assert set(TENANT_DOMAINS.values()) == {"commerce", "discovery"}
    resources = planned()
    ownership = Ownership(Stack(views(resources)))
    tenant_resources = 0
    for resource, view in zip(resources, views(resources)):
        tenant = tenant_name(resources, resource)
        if tenant and resource["type"].startswith("kubernetes:") and resource.get("custom", True):
            named = resource["inputs"].get("metadata", {}).get("labels", {}).get(DOMAIN_LABEL)
            assert named == TENANT_DOMAINS[tenant], resource["urn"]
        # The platform's resources, a domain's own (its squad's AppProject) included, are no
        # tenant's: a domain's levels are for its tenants.
        expected = {TENANT_DOMAINS[tenant]} if tenant and view.in_tenant else set()
        assert ownership.domains_of(view) == expected, resource["urn"]
        tenant_resources += bool(expected)
    assert tenant_resources > 100


def test_a_domain_makes_the_rule_mandatory_for_its_tenants_only() -> None:
    resources = planned()
    urns = one_pod_apps(resources)
    levels = {"commerce": {RULE: "mandatory"}, "discovery": {}}
    violations = evaluate(registry.RULES, views(resources), domains=levels)
    # The base rule keeps its level and reports every tenant's app, as before.
    assert {u: level for u, (level, _) in found(violations, RULE).items()} == {
        u: "advisory" for u in urns.values()
    }
    # Only commerce's tenants (payments, storefront) are held to it, not discovery's (search).
    raised = found(violations, META_RULE)
    assert sorted(raised) == sorted([urns["payments"], urns["storefront"]])
    level, message = raised[urns["payments"]]
    assert level == "mandatory"
    assert message.startswith(
        "domain commerce makes k8s-serving-redundant mandatory: Rollout checkout-api serves "
        "Service checkout-api with 1 pod(s) at the fewest"
    )
    # Raised by discovery too: each domain's own tenant, each named by its domain.
    levels["discovery"] = {RULE: "mandatory"}
    raised = found(evaluate(registry.RULES, views(resources), domains=levels), META_RULE)
    assert sorted(raised) == sorted(urns.values())
    assert raised[urns["search"]][1].startswith("domain discovery makes k8s-serving-redundant")
    # A tenant whose resources name no domain is held to no domain's levels.
    unmark(resources, keep=lambda r: tenant_name(resources, r) != "storefront")
    raised = found(evaluate(registry.RULES, views(resources), domains=levels), META_RULE)
    assert sorted(raised) == sorted([urns["payments"], urns["search"]])


def test_a_platform_resource_stays_advisory_whatever_it_carries() -> None:
    """A domain raising a rule the platform breaks changes nothing for the platform, even for a
    platform resource that names the domain."""
    resources = planned()
    template = next(r for r in resources if r["type"] == LAUNCH_TEMPLATE)
    template["inputs"]["metadataOptions"]["httpPutResponseHopLimit"] = 2
    template["inputs"]["tags"][DOMAIN_TAG] = "commerce"
    levels = {"commerce": {"nodes-imds-hop-limit-one": "mandatory"}}
    violations = evaluate(registry.RULES, views(resources), domains=levels)
    assert found(violations, "nodes-imds-hop-limit-one")[template["urn"]][0] == "advisory"
    assert found(violations, META_RULE) == {}


def test_a_resource_without_the_label_inherits_its_tenants_domain() -> None:
    """Only the tenant's namespaces keep the label here: the app's workload is attributed through
    its Tenant component (components have no inputs to carry it)."""
    resources = planned()
    urns = one_pod_apps(resources)
    unmark(resources, keep=lambda r: r["type"] == NAMESPACE)
    stack = Stack(views(resources))
    ownership = Ownership(stack)
    rollout = stack.get(urns["payments"])
    assert rollout is not None and DOMAIN_LABEL not in rollout.labels
    assert ownership.domains_of(rollout) == {"commerce"}
    raised = found(
        evaluate(registry.RULES, views(resources), domains={"discovery": {RULE: "mandatory"}}),
        META_RULE,
    )
    assert list(raised) == [urns["search"]]
    # A resource's own label counts too, and only under a Tenant.
    unmark(resources)
    stack = Stack(views(resources))
    search = stack.get(urns["search"])
    assert search is not None and Ownership(stack).domains_of(search) == set()
    itself = replace(search, inputs={"metadata": {"labels": {DOMAIN_LABEL: "discovery"}}})
    assert Ownership(stack).domains_of(itself) == {"discovery"}


def test_raising_what_is_already_mandatory_or_advisory_adds_nothing() -> None:
    resources = planned()
    one_pod_apps(resources)
    plain = evaluate(registry.RULES, views(resources))
    same = {"commerce": {RULE: "advisory", "k8s-images-pinned": "mandatory"}}
    assert evaluate(registry.RULES, views(resources), domains=same) == plain


def test_the_environment_pack_config_governs_the_domain_rule_itself() -> None:
    resources = planned()
    urns = one_pod_apps(resources)
    config = PackConfig.parse({META_RULE: "advisory"}, "policies/config/dev.json", registry.RULES)
    levels = {"commerce": {RULE: "mandatory"}}
    raised = found(evaluate(registry.RULES, views(resources), config, domains=levels), META_RULE)
    assert raised[urns["payments"]][0] == "advisory"


# The offline engine: `pavedroad check` and `pavedroad plan` --------------------------------------


def plan_with_one_pod_apps(tmp_path: Path) -> Path:
    document = json.loads(render_plan_json(shipped_plan("dev")))
    document["resources"] = planned()
    one_pod_apps(document["resources"])
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    return path


def test_check_fails_a_tenant_of_a_domain_that_raised_the_rule(tmp_path: Path) -> None:
    plan = plan_with_one_pod_apps(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    passed = pavedroad("check", str(plan), "-C", str(project))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert f"advisory  {RULE}" in passed.stdout and META_RULE not in passed.stdout
    write_domain(project, "commerce", {RULE: "mandatory"}, squad={"github": "@acme/commerce"})
    write_domain(project, "discovery", None)
    failed = pavedroad("check", str(plan), "-C", str(project))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"\nMandatory for a domain's tenants: commerce ({RULE})\n" in failed.stdout
    lines = failed.stdout.splitlines()
    index = lines.index(
        f"  mandatory {META_RULE}  "
        "urn:pulumi:dev::paved-road::paved-road:index:Platform$paved-road:tenants:Tenant"
        "$kubernetes:argoproj.io/v1alpha1:Rollout::payments/checkout-api/rollout"
    )
    assert lines[index + 1].strip().startswith("domain commerce makes k8s-serving-redundant")
    assert sum(line.startswith(f"  mandatory {META_RULE}") for line in lines) == 2
    assert "2 mandatory policy violation(s)" in failed.stderr


@pytest.mark.parametrize(
    "policies, field, message",
    [
        (
            {"k8s-images-pinned": "advisory"},
            "policies.k8s-images-pinned",
            "k8s-images-pinned is mandatory for every tenant; a domain may raise a rule, never "
            "lower one",
        ),
        (
            {"k8s-serving-spread": "mandatory"},
            "policies.k8s-serving-spread",
            "k8s-serving-spread is not a rule of the pack",
        ),
        (
            {RULE: "strict"},
            f"policies.{RULE}",
            "'strict' is not a level a domain may set (advisory or mandatory)",
        ),
    ],
)
def test_check_refuses_a_domain_lowering_or_misnaming_a_rule(
    tmp_path: Path, policies: dict[str, str], field: str, message: str
) -> None:
    write_domain(tmp_path, "commerce", policies)
    result = pavedroad("check", str(plan_with_one_pod_apps(tmp_path)), "-C", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"domains/commerce.yaml: {field}: {message}" in result.stderr
    assert result.stdout == ""


def test_plan_with_a_domain_lowering_a_rule_plans_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path, stack_config("dev"), "test")
    write_domain(project, "commerce", {"k8s-no-privileged-pods": "disabled"})
    result = pavedroad("plan", "test", "-C", str(project))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "domains/commerce.yaml: policies.k8s-no-privileged-pods: 'disabled' is not a level a "
        "domain may set (advisory or mandatory)"
    ) in result.stderr
    assert not (project / "build").exists()


def test_plan_holds_a_tenant_to_its_domains_levels(tmp_path: Path) -> None:
    """End to end through the real program: the tenant file says `replicas: 1`, the Tenant
    labels its objects with its domain, and the domain's file makes the advice mandatory."""
    project = make_project(tmp_path, stack_config("dev"), "test")
    shutil.copy(ROOT / "governance.yaml", project / "governance.yaml")
    shutil.copytree(ROOT / "domains", project / "domains", dirs_exist_ok=True)
    payments = project / "tenants" / "payments.yaml"
    payments.write_text(payments.read_text().replace("    replicas: 3\n", "    replicas: 1\n", 1))
    search = project / "tenants" / "search.yaml"
    search.write_text(
        search.read_text().replace(
            "    template: api-service\n", "    template: api-service\n" "    replicas: 1\n", 1
        )
    )
    # The shipped commerce domain already raises the rule: start from a commerce that does not.
    commerce = project / "domains" / "commerce.yaml"
    document = yaml.safe_load(commerce.read_text())
    document.pop("policies", None)
    commerce.write_text(yaml.safe_dump(document))
    advised = pavedroad("plan", "test", "-C", str(project))
    assert advised.returncode == 0, advised.stdout + advised.stderr
    advice = [line for line in advised.stdout.splitlines() if line.startswith("  advisory ")]
    assert advice == [
        f"  advisory  {RULE}  {urn}"
        for urn in sorted(
            "urn:pulumi:test::paved-road::paved-road:index:Platform$paved-road:tenants:Tenant$"
            + workload
            for workload in (
                # The active color only: the idle one serves nothing until the switch.
                "kubernetes:apps/v1:Deployment::search/search-api/green-deployment",
                "kubernetes:argoproj.io/v1alpha1:Rollout::payments/checkout-api/rollout",
            )
        )
    ]
    commerce.write_text(commerce.read_text() + f"policies:\n  {RULE}: mandatory\n")
    held = pavedroad("plan", "test", "-C", str(project))
    assert held.returncode == 1, held.stdout + held.stderr
    mandatory = [line for line in held.stdout.splitlines() if line.startswith("  mandatory ")]
    assert mandatory == [
        f"  mandatory {META_RULE}  urn:pulumi:test::paved-road::paved-road:index:Platform"
        "$paved-road:tenants:Tenant$kubernetes:argoproj.io/v1alpha1:Rollout::payments/"
        "checkout-api/rollout"
    ]
    assert "domain commerce makes k8s-serving-redundant mandatory: Rollout checkout-api" in (
        held.stdout
    )
    assert [line for line in held.stdout.splitlines() if line.startswith("  advisory ")] == advice


def test_the_program_refuses_the_domain_file_the_pack_refuses(tmp_path: Path) -> None:
    """`pulumi up` reads the same domain files: the program's config asks the pack's own
    `level_issues`, so it refuses a lowered rule with the same file, field and words."""
    project = make_project(tmp_path, stack_config("dev"), "dev")
    shutil.copy(ROOT / "governance.yaml", project / "governance.yaml")
    shutil.copytree(ROOT / "domains", project / "domains", dirs_exist_ok=True)
    commerce = project / "domains" / "commerce.yaml"
    document = yaml.safe_load(commerce.read_text())
    document["policies"] = {"k8s-images-pinned": "advisory"}
    commerce.write_text(yaml.safe_dump(document))
    assert_refused(
        PlanEngine("dev", project),
        "domains/commerce.yaml",
        "policies.k8s-images-pinned",
        "k8s-images-pinned is mandatory for every tenant; a domain may raise a rule, never "
        "lower one",
    )


# CrossGuard -------------------------------------------------------------------------------------


@pytest.fixture
def analyzer_for() -> Any:
    def build(root: Path) -> _PolicyAnalyzerServicer:
        set_all_config({}, [])
        return _PolicyAnalyzerServicer(
            "paved-road",
            "1.0.0",
            crossguard.policies(registry.RULES, root),
            pulumi_policy.EnforcementLevel.MANDATORY,
        )

    yield build
    set_all_config({}, [])


def test_crossguard_reports_what_the_offline_engine_reports(
    tmp_path: Path, analyzer_for: Any
) -> None:
    write_domain(tmp_path, "commerce", {RULE: "mandatory"})
    write_domain(tmp_path, "discovery", {"nodes-imds-hop-limit-one": "mandatory"})
    resources = planned()
    urns = one_pod_apps(resources)
    diagnostics = [
        d for d in analyze_stack(analyzer_for(tmp_path), resources) if d.policyName == META_RULE
    ]
    assert sorted(d.urn for d in diagnostics) == sorted([urns["payments"], urns["storefront"]])
    assert diagnostics[0].enforcementLevel == proto.MANDATORY
    offline = check_resources(resources, "dev", tmp_path)
    # CrossGuard prefixes each message with the rule's description.
    description = registry.BY_NAME[META_RULE].description
    assert [
        (v.urn, f"{description}\n{v.message}") for v in offline.violations if v.rule == META_RULE
    ] == [(d.urn, d.message) for d in diagnostics]
    assert offline.exit_code == 1
    levels = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory"}
    both = (META_RULE, RULE)
    assert sorted(
        (d.policyName, d.urn, levels[d.enforcementLevel])
        for d in analyze_stack(analyzer_for(tmp_path), resources)
        if d.policyName in both
    ) == sorted((v.rule, v.urn, v.level) for v in offline.violations if v.rule in both)
    # Without the domains, the same stack passes in both engines.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [
        d for d in analyze_stack(analyzer_for(empty), resources) if d.policyName == META_RULE
    ] == []
    assert check_resources(resources, "dev", empty).exit_code == 0


def test_crossguard_refuses_a_bad_domain_file_naming_file_and_field(tmp_path: Path) -> None:
    write_domain(tmp_path, "commerce", {"k8s-images-pinned": "advisory"})
    with pytest.raises(PolicyConfigError, match=r"domains/commerce\.yaml: policies\.k8s-images"):
        crossguard.policies(registry.RULES, tmp_path)


def test_the_pack_reads_domains_beside_it_and_stops_on_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pulumi preview --policy-pack policies` runs policies/__main__.py from the checkout: it
    reads `domains/` one level up, and a broken domain file stops it with exit 2."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies", ignore=shutil.ignore_patterns("venv"))
    write_domain(tmp_path, "commerce", {RULE: "mandatory"})
    with mock.patch.object(pulumi_policy, "PolicyPack") as pack:
        runpy.run_path(str(tmp_path / "policies"), run_name="__main__")
    served = {p.name: p for p in pack.call_args.kwargs["policies"]}
    assert served[META_RULE].enforcement_level == pulumi_policy.EnforcementLevel.MANDATORY
    write_domain(tmp_path, "commerce", {RULE: "remediate"})
    with mock.patch.object(pulumi_policy, "PolicyPack") as pack:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(tmp_path / "policies"), run_name="__main__")
    assert exit_.value.code == 2 and not pack.called
    assert f"domains/commerce.yaml: policies.{RULE}: 'remediate' is not a level" in (
        capsys.readouterr().err
    )


# The files --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policies, issues",
    [
        (None, []),
        ({}, []),
        ({RULE: "mandatory", "nodes-imds-hop-limit-one": "advisory"}, []),
        ({"k8s-images-pinned": "mandatory"}, []),
        (
            ["k8s-serving-redundant"],
            [
                (
                    "policies",
                    "expected a mapping of rule name to level (advisory or mandatory), got list",
                )
            ],
        ),
        (
            {"tags-tenant": "advisory"},
            [
                (
                    "policies.tags-tenant",
                    "tags-tenant is mandatory for every tenant; a domain may raise a rule, "
                    "never lower one",
                )
            ],
        ),
        (
            {RULE: "disabled"},
            [
                (
                    f"policies.{RULE}",
                    "'disabled' is not a level a domain may set (advisory or mandatory); a "
                    "domain may raise a rule, never lower or switch one off",
                )
            ],
        ),
        ({RULE: "remediate"}, [(f"policies.{RULE}", "'remediate' is not a level")]),
        ({RULE: True}, [(f"policies.{RULE}", "True is not a level")]),
        ({"nope": "mandatory"}, [("policies.nope", "nope is not a rule of the pack")]),
        (
            {META_RULE: "mandatory"},
            [(f"policies.{META_RULE}", f"{META_RULE} is the rule that applies domains' levels")],
        ),
        ({3: "mandatory"}, [("policies", "3: a rule name is text")]),
        # Text from the file is printed on one line, escaped.
        ({"a\nb": "mandatory"}, [("policies.a\\nb", "a\\nb is not a rule of the pack")]),
    ],
)
def test_level_issues(policies: Any, issues: list[tuple[str, str]]) -> None:
    found = level_issues(policies)
    assert [field for field, _ in found] == [field for field, _ in issues]
    for (_, message), (_, expected) in zip(found, issues):
        assert message.startswith(expected), message


def test_load_domain_levels_reads_every_domain(tmp_path: Path) -> None:
    assert load_domain_levels(tmp_path) == {}
    write_domain(tmp_path, "commerce", {RULE: "mandatory"}, squad={"github": "@acme/commerce"})
    write_domain(tmp_path, "discovery", None)
    (tmp_path / "domains" / "README.md").write_text("not a domain")
    assert load_domain_levels(tmp_path) == {"commerce": {RULE: "mandatory"}, "discovery": {}}


def test_load_domain_levels_lists_every_problem_of_every_file(tmp_path: Path) -> None:
    write_domain(tmp_path, "commerce", {"k8s-images-pinned": "advisory", "x": "mandatory"})
    (tmp_path / "domains" / "data.yaml").write_text("name: data\npolicies: [\n")
    (tmp_path / "domains" / "list.yaml").write_text("- name: list\n")
    write_domain(tmp_path, "ops", None)
    (tmp_path / "domains" / "ops.yaml").write_text("name: operations\n")
    (tmp_path / "domains" / "Bad_Name.yaml").write_text("name: Bad_Name\n")
    (tmp_path / "domains" / "twice.yaml").write_text(
        f"name: twice\npolicies:\n  {RULE}: mandatory\n  {RULE}: advisory\n"
    )
    with pytest.raises(PolicyConfigError) as error:
        load_domain_levels(tmp_path)
    lines = str(error.value).splitlines()
    assert lines[0] == "domains/Bad_Name.yaml: name: 'Bad_Name' is not a DNS label"
    assert lines[1] == (
        "domains/commerce.yaml: policies.k8s-images-pinned: k8s-images-pinned is mandatory for "
        "every tenant; a domain may raise a rule, never lower one"
    )
    assert lines[2].startswith("domains/commerce.yaml: policies.x: x is not a rule of the pack")
    assert lines[3].startswith("domains/data.yaml: line 3, column 1: not valid YAML")
    assert lines[4] == "domains/list.yaml: expected a mapping (name, policies, …)"
    assert lines[5] == "domains/ops.yaml: name: must equal the file name, 'ops'"
    assert lines[6] == (
        f"domains/twice.yaml: line 4, column 3: not valid YAML (duplicate key '{RULE}')"
    )
    assert len(lines) == 7


def test_load_domain_levels_reads_only_bounded_regular_files_inside_the_project(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    (project / "domains").mkdir(parents=True)
    secret = tmp_path / "secret.yaml"
    secret.write_text("name: secret\n")
    os.symlink(secret, project / "domains" / "secret.yaml")
    (project / "domains" / "dir.yaml").mkdir()
    (project / "domains" / "big.yaml").write_text("name: big\n" + "#" * domains.MAX_BYTES)
    (project / "domains" / "latin.yaml").write_bytes(b"name: latin\ndisplayName: caf\xe9\n")
    with pytest.raises(PolicyConfigError) as error:
        load_domain_levels(project)
    assert str(error.value).splitlines() == [
        "domains/big.yaml: larger than 64 KiB",
        "domains/dir.yaml: not a regular file",
        "domains/latin.yaml: not UTF-8 text",
        "domains/secret.yaml: a symbolic link out of the project",
    ]
    shutil.rmtree(project / "domains")
    (project / "domains").write_text("")
    with pytest.raises(PolicyConfigError, match="^domains: not a directory$"):
        load_domain_levels(project)
