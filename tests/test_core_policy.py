"""Policy in the cluster: Kyverno pinned and hardened, and a baseline of ClusterPolicies that audits
in development, enforces in production and never touches the platform's own namespaces.

Kyverno's CLI cannot be installed here (it downloads a binary), so the rules are not evaluated;
instead their shapes are compared with the upstream kyverno/policies versions they follow:

- best-practices/disallow-latest-tag/disallow-latest-tag.yaml @ 9204f5fcc9245b5742b959b33129ff2be0ba1fb6
- best-practices/restrict-image-registries/restrict-image-registries.yaml
  @ 5751aded4dbcb5d7bcf729d74f7bed27467c2b50
- best-practices/require-pod-requests-limits/require-pod-requests-limits.yaml
  @ bd59cf2e0f4cb7f53eba86a1c555b8964371a018
- best-practices/disallow-default-namespace/disallow-default-namespace.yaml
  @ 6cc2de21e612840fe303d283361c5440cafd30ea

`restrict-ingress-group` has no upstream sample; it reads the namespace's tenant label with an
`apiCall` context (Kyverno docs, "External Data Sources"), and its JMESPath is evaluated here with
the jmespath library on the plan's own Ingresses.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jmespath
import kubernetes_validate
import pytest

from components.core.network_policies import openings_for, policy_specs

from components import versions
from components.config import ConfigError
from components.core import policy
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import kubernetes_objects
from tests.conftest import make_project, one, shipped_plan, stack_config
from tests.crds import CRD_DIR, crd_errors, require_crds

COMPONENT = "paved-road:core:Policy"
RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER_POLICY = "kubernetes:kyverno.io/v1:ClusterPolicy"
BASELINE = {
    "disallow-default-namespace",
    "disallow-latest-tag",
    "require-requests-limits",
    "require-tenant-label",
    "restrict-image-registries",
    "restrict-ingress-group",
}
# The isolation guardrails: always enforced, admission-only.
GUARDRAILS = {
    "protect-platform-objects",
    "restrict-ingress-hosts",
    "restrict-tenant-analysis",
    "restrict-tenant-secret-stores",
    "restrict-tenant-flags",
}
ACCOUNT = "123456789012"
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease"}
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


# --------------------------------------------------------------------------------------------------
# Helpers


def plan_with(
    tmp_path: Path, stack: str, region: str | None = None, **policy_config: Any
) -> PlanRun:
    """A shipped stack with `paved-road:core.policy` (and optionally the region) changed."""
    config = copy.deepcopy(stack_config(stack))
    config.setdefault("paved-road:core", {}).setdefault("policy", {}).update(policy_config)
    if region:
        config["aws:region"] = region
    return PlanEngine(stack, make_project(tmp_path, config, stack)).run()


def cluster_policies(run: PlanRun) -> dict[str, dict[str, Any]]:
    return {
        m["metadata"]["name"]: m
        for m in kubernetes_objects(run.resources)
        if m["kind"] == "ClusterPolicy"
    }


def rules_of(run: PlanRun) -> list[tuple[str, dict[str, Any]]]:
    """The baseline's rules (the guardrails have tests of their own)."""
    return [
        (name, rule)
        for name, m in cluster_policies(run).items()
        if name in BASELINE
        for rule in m["spec"]["rules"]
    ]


def rule(run: PlanRun, policy_name: str, rule_name: str) -> dict[str, Any]:
    (found,) = [
        r for r in cluster_policies(run)[policy_name]["spec"]["rules"] if r["name"] == rule_name
    ]
    return found


def release_of(run: PlanRun) -> RecordedResource:
    return one(r for r in run.by_type(RELEASE) if r.inputs["chart"] == "kyverno")


def in_component(run: PlanRun) -> set[str]:
    return {r.urn for r in run.resources if COMPONENT in r.urn.split("::")[2].split("$")}


def is_production(stack: str) -> bool:
    return bool(stack_config(stack).get("paved-road:production"))


# --------------------------------------------------------------------------------------------------
# The chart


def test_kyverno_chart_is_pinned_and_installs_its_crds(plan: PlanRun) -> None:
    chart = versions.CHARTS["kyverno"]
    release = release_of(plan).inputs
    assert release["chart"] == chart.name == "kyverno"
    assert release["version"] == chart.version
    assert release["repositoryOpts"]["repo"] == "https://kyverno.github.io/kyverno/"
    assert release["namespace"] == "kyverno" == policy.NAMESPACES[0]
    assert release["values"]["crds"]["install"] is True, "ClusterPolicy CRDs come with the chart"


def test_chart_app_version_matches_the_crds_the_tests_validate_against() -> None:
    readme = (require_crds() / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith("| kyverno ")]
    assert versions.CHARTS["kyverno"].app_version in row


def test_namespace_is_platform_owned_restricted_and_valid(plan: PlanRun) -> None:
    (namespace,) = [
        m
        for m in kubernetes_objects(plan.resources)
        if m["kind"] == "Namespace" and m["metadata"]["name"] == "kyverno"
    ]
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/managed-by"] == "paved-road"
    kubernetes_validate.validate(namespace, "1.35.0", strict=True)
    assert "kyverno" in plan.outputs["platformNamespaces"]


def test_admission_controller_is_highly_available_in_production(plan: PlanRun, stack: str) -> None:
    values = release_of(plan).inputs["values"]
    admission = values["admissionController"]
    expected = 3 if is_production(stack) else 1
    assert admission["replicas"] == expected
    assert admission["podDisruptionBudget"]["enabled"] is (expected > 1)
    if expected > 1:
        assert admission["podDisruptionBudget"]["minAvailable"] == expected - 1
    for controller in ("backgroundController", "cleanupController", "reportsController"):
        replicas = values[controller]["replicas"]
        assert replicas == (2 if is_production(stack) else 1), controller
        assert values[controller]["podDisruptionBudget"]["enabled"] is (replicas > 1), controller


def _workloads(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every container the chart runs, as (resources, securityContext) values blocks."""
    admission = values["admissionController"]
    return {
        "admission": admission["container"],
        "admission-init": admission["initContainer"],
        "background": values["backgroundController"],
        "cleanup": values["cleanupController"],
        "reports": values["reportsController"],
        "webhooks-cleanup-hook": values["webhooksCleanup"],
        "crd-migration-hook": {
            "resources": values["crds"]["migration"]["podResources"],
            "securityContext": values["crds"]["migration"]["securityContext"],
        },
    }


def test_every_kyverno_container_is_bounded_and_runs_restricted(plan: PlanRun) -> None:
    for name, workload in _workloads(release_of(plan).inputs["values"]).items():
        requests, limits = workload["resources"]["requests"], workload["resources"]["limits"]
        assert set(requests) == set(limits) == {"cpu", "memory"}, name
        assert limits["memory"] == requests["memory"], name
        context = workload["securityContext"]
        assert {k: context.get(k) for k in RESTRICTED} == RESTRICTED, name
        assert context.get("privileged") is False, name


# --------------------------------------------------------------------------------------------------
# The baseline: shape and schema


def test_the_baseline_validates_against_kyvernos_crd(plan: PlanRun) -> None:
    require_crds()
    policies = cluster_policies(plan)
    assert set(policies) == BASELINE | GUARDRAILS
    for name, manifest in policies.items():
        assert manifest["apiVersion"] == "kyverno.io/v1"
        assert crd_errors(manifest) == [], name
    assert (CRD_DIR / "kyverno" / "clusterpolicies.kyverno.io.yaml").is_file()


def test_policies_are_annotated_background_and_use_per_rule_failure_action(
    plan: PlanRun,
) -> None:
    for name, manifest in cluster_policies(plan).items():
        annotations = manifest["metadata"]["annotations"]
        for key in ("title", "category", "severity", "description"):
            assert annotations[f"policies.kyverno.io/{key}"].strip(), (name, key)
        assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "paved-road"
        spec = manifest["spec"]
        assert spec["background"] is (name not in GUARDRAILS), name
        assert "validationFailureAction" not in spec, "deprecated since Kyverno 1.13"
        for item in spec["rules"]:
            assert item["validate"]["failureAction"] in ("Audit", "Enforce"), (name, item["name"])
            assert len(item["validate"]["message"]) > 40, "the message says how to fix it"


def test_autogen_stays_on_except_where_upstream_turns_it_off(plan: PlanRun) -> None:
    for name, manifest in cluster_policies(plan).items():
        autogen = manifest["metadata"]["annotations"].get(policy.AUTOGEN_CONTROLLERS)
        assert autogen == ("none" if name == "disallow-default-namespace" else None), name


def test_failure_action_is_enforce_unless_a_dev_stack_says_audit(plan: PlanRun, stack: str) -> None:
    """Staging behaves like production: only dev's stack file asks for Audit, explicitly."""
    configured = stack_config(stack)["paved-road:core"].get("policy", {}).get("mode")
    assert configured == ("Audit" if stack == "dev" else None)
    expected = configured or "Enforce"
    actions = {item["validate"]["failureAction"] for _, item in rules_of(plan)}
    assert actions == {expected}


def test_staging_enforces_the_baseline() -> None:
    assert not is_production("staging")
    actions = {item["validate"]["failureAction"] for _, item in rules_of(shipped_plan("staging"))}
    assert actions == {"Enforce"}


def test_a_stack_without_a_mode_enforces(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    del config["paved-road:core"]["policy"]["mode"]
    run = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    assert {item["validate"]["failureAction"] for _, item in rules_of(run)} == {"Enforce"}


def test_production_refuses_audit(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:core"]["policy"] = {"mode": "Audit"}
    engine = PlanEngine("prod", make_project(tmp_path, config, "prod"))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert "stacks/Pulumi.prod.yaml: paved-road:core.policy.mode: 'Audit' is not allowed" in str(
        raised.value
    )
    assert engine.recorded == []


def test_platform_and_system_namespaces_are_excluded_in_every_rule(plan: PlanRun) -> None:
    expected = sorted(set(plan.outputs["platformNamespaces"]) | SYSTEM_NAMESPACES)
    assert "kyverno" in expected and "default" not in expected
    for name, item in rules_of(plan):
        excluded = [
            clause["resources"]["namespaces"]
            for clause in item["exclude"]["any"]
            if "namespaces" in clause["resources"]
        ]
        assert excluded == [expected], (name, item["name"])


def test_exclusions_follow_the_enabled_services(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["gitops"] = {"enabled": False}
    run = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    for name, item in rules_of(run):
        assert "argocd" not in item["exclude"]["any"][0]["resources"]["namespaces"], name


# --------------------------------------------------------------------------------------------------
# The baseline: each policy


def _registry_patterns(run: PlanRun) -> dict[str, str]:
    spec = rule(run, "restrict-image-registries", "validate-registries")["validate"]["pattern"][
        "spec"
    ]
    return {key: images[0]["image"] for key, images in spec.items()}


def test_registry_rule_allows_the_accounts_ecr_and_the_shipped_allowlist(
    plan: PlanRun, stack: str
) -> None:
    allowlist = (
        stack_config(stack)
        .get("paved-road:core", {})
        .get("policy", {})
        .get("allowedRegistries", [])
    )
    # Every shipped stack runs OpenFeature, whose flagd sidecar is admitted as pinned.
    expected = " | ".join(
        [
            f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/*",
            *(f"{p.rstrip('/')}/*" for p in allowlist),
            "ghcr.io/open-feature/flagd:v0.15.4",
        ]
    )
    assert _registry_patterns(plan) == {
        "=(ephemeralContainers)": expected,
        "=(initContainers)": expected,
        "containers": expected,
    }


def test_registry_rule_uses_the_stacks_region_and_configured_prefixes(tmp_path: Path) -> None:
    run = plan_with(
        tmp_path, "staging", region="us-east-2", allowedRegistries=["public.ecr.aws/acme/"]
    )
    # Staging runs OpenFeature: the flagd sidecar it injects is admitted as pinned, exactly.
    expected = (
        f"{ACCOUNT}.dkr.ecr.us-east-2.amazonaws.com/* | public.ecr.aws/acme/* | "
        "ghcr.io/open-feature/flagd:v0.15.4"
    )
    assert set(_registry_patterns(run).values()) == {expected}
    message = rule(run, "restrict-image-registries", "validate-registries")["validate"]["message"]
    assert "public.ecr.aws/acme/" in message and "allowedRegistries" in message


def test_a_registry_prefix_ends_at_a_path_boundary() -> None:
    assert policy.registry_wildcard("quay.io") == "quay.io/*"
    assert policy.registry_wildcard("public.ecr.aws/acme/") == "public.ecr.aws/acme/*"
    assert policy.ecr_registry(ACCOUNT, "cn-north-1").endswith(".amazonaws.com.cn/")


def test_disallow_latest_tag_is_upstreams_rules_for_all_container_lists(plan: PlanRun) -> None:
    upstream = {"require-image-tag": "*:*", "validate-image-tag": "!*:latest"}
    for rule_name, image in upstream.items():
        found = rule(plan, "disallow-latest-tag", rule_name)
        assert found["match"] == {"any": [{"resources": {"kinds": ["Pod"]}}]}
        assert found["validate"]["foreach"] == [
            {"list": f"request.object.spec.{containers}", "pattern": {"image": image}}
            for containers in CONTAINER_LISTS
        ]


def test_require_requests_limits_extends_upstream_with_cpu_limits_and_init_containers(
    plan: PlanRun,
) -> None:
    upstream = {"requests": {"memory": "?*", "cpu": "?*"}, "limits": {"memory": "?*"}}
    ours = {"requests": {"memory": "?*", "cpu": "?*"}, "limits": {"memory": "?*", "cpu": "?*"}}
    spec = rule(plan, "require-requests-limits", "validate-resources")["validate"]["pattern"][
        "spec"
    ]
    assert spec == {"containers": [{"resources": ours}], "=(initContainers)": [{"resources": ours}]}
    for kind, wanted in upstream.items():
        assert wanted.items() <= spec["containers"][0]["resources"][kind].items()


def test_tenant_label_is_required_only_in_tenant_namespaces(plan: PlanRun) -> None:
    """The rule selects by the label the plan's tenant namespaces carry (valued with the team's
    name) and platform namespaces never do, and asks pods for that same label, which every tenant
    workload's pod template in the plan carries."""
    found = rule(plan, "require-tenant-label", "require-tenant-label")
    (match,) = found["match"]["any"]
    assert match["resources"]["kinds"] == ["Pod"], "autogen extends it to the controllers"
    ((key, selector),) = [
        (e["key"], e) for e in match["resources"]["namespaceSelector"]["matchExpressions"]
    ]
    assert selector == {"key": key, "operator": "Exists"}
    assert found["validate"]["pattern"] == {"metadata": {"labels": {key: "?*"}}}
    objects = kubernetes_objects(plan.resources)
    namespaces = [m for m in objects if m["kind"] == "Namespace"]
    labels_of = {n["metadata"]["name"]: n["metadata"]["labels"] for n in namespaces}
    platform = {name for name, labels in labels_of.items() if labels.get("paved-road/platform")}
    assert platform and all(key not in labels_of[name] for name in platform)
    labelled = {name: labels[key] for name, labels in labels_of.items() if key in labels}
    assert labelled, "the shipped stacks have tenants"
    assert all(name.startswith(team) for name, team in labelled.items()), labelled
    workloads = [
        m
        for m in objects
        if m["kind"] in ("Deployment", "Rollout", "CronJob", "Job")
        and m["metadata"].get("namespace") in labelled
    ]
    assert workloads, "tenants' apps run in their namespaces"
    for workload in workloads:
        template = workload["spec"].get("jobTemplate", workload)["spec"]["template"]
        namespace = workload["metadata"]["namespace"]
        assert template["metadata"]["labels"][key] == labelled[namespace], workload["metadata"]


def test_default_namespace_is_closed_to_workloads_but_not_to_kubernetes_itself(
    plan: PlanRun,
) -> None:
    manifest = cluster_policies(plan)["disallow-default-namespace"]
    kinds = {
        kind
        for item in manifest["spec"]["rules"]
        for kind in item["match"]["any"][0]["resources"]["kinds"]
    }
    upstream = {"Pod", "DaemonSet", "Deployment", "Job", "StatefulSet"}
    assert kinds == upstream | {"CronJob", "ReplicaSet", "Service", "ConfigMap", "Secret"}
    for item in manifest["spec"]["rules"]:
        assert item["validate"]["pattern"] == {"metadata": {"namespace": "!default"}}
    spared = rule(plan, "disallow-default-namespace", "validate-config-namespace")["exclude"]["any"]
    assert {"resources": {"kinds": ["Service"], "names": ["kubernetes"]}} in spared
    assert {"resources": {"kinds": ["ConfigMap"], "names": ["kube-root-ca.crt"]}} in spared


# --------------------------------------------------------------------------------------------------
# Wiring


DELIVERY = "paved-road:delivery:Delivery"
DELIVERY_GUARDRAIL = "restrict-tenant-analysis"
FLAGS = "paved-road:delivery:FeatureFlagOperator"
FLAGS_GUARDRAIL = "restrict-tenant-flags"


def test_policies_wait_for_the_release_on_the_clusters_provider(plan: PlanRun) -> None:
    """Each policy waits for Kyverno's release, and a guardrail also for the release bringing
    the kinds it matches: External Secrets' for the store guard, Argo Rollouts' for the analysis
    guard, which the delivery layer owns."""
    release = release_of(plan)
    component = one(plan.by_type(COMPONENT))
    delivery = one(plan.by_type(DELIVERY))
    releases = {r.inputs["chart"]: r.urn for r in plan.by_type(RELEASE)}
    assert "cluster-k8s" in release.provider
    policies = plan.by_type(CLUSTER_POLICY)
    assert len(policies) == len(BASELINE | GUARDRAILS)
    for resource in policies:
        name = resource.inputs["metadata"]["name"]
        assert release.urn in resource.dependencies, resource.name
        assert resource.provider == release.provider
        if name == DELIVERY_GUARDRAIL:
            assert resource.parent == delivery.urn
            assert resource.name == f"delivery-{name}"
            assert releases["argo-rollouts"] in resource.dependencies
        elif name == FLAGS_GUARDRAIL:
            assert resource.parent == one(plan.by_type(FLAGS)).urn
            assert resource.name == f"feature-flags-{name}"
            assert releases["open-feature-operator"] in resource.dependencies
        else:
            assert resource.parent == component.urn
            assert resource.name == f"policy-{name}"
        if name == "restrict-tenant-secret-stores":
            assert releases["external-secrets"] in resource.dependencies
    assert release.parent == component.urn


def test_switching_policy_off_removes_exactly_its_resources(tmp_path: Path) -> None:
    base = shipped_plan("dev")
    off = plan_with(tmp_path, "dev", enabled=False)
    before, after = {r.urn for r in base.resources}, {r.urn for r in off.resources}
    assert after <= before
    delivery_guards = {
        r.urn
        for r in base.by_type(CLUSTER_POLICY)
        if r.inputs["metadata"]["name"] in (DELIVERY_GUARDRAIL, FLAGS_GUARDRAIL)
    }
    assert len(delivery_guards) == 2
    assert before - after == in_component(base) | delivery_guards
    # Component, namespace, release, all policies but the delivery layer's, and the namespace's
    # NetworkPolicies.
    network = len(policy_specs(openings_for("kyverno")))
    assert len(in_component(base)) == 1 + 1 + 1 + len(BASELINE | GUARDRAILS) - 2 + network
    assert "kyverno" not in off.outputs["platformNamespaces"]


def test_without_the_secrets_service_there_is_no_store_guard(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["secrets"] = {"enabled": False}
    # The portal reads its GitHub credentials through the secrets service: it goes with it.
    config["paved-road:core"]["portal"] = {"enabled": False}
    run = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    assert set(cluster_policies(run)) == BASELINE | GUARDRAILS - {"restrict-tenant-secret-stores"}


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"mode": "Block"}, "paved-road:core.policy.mode", "'Enforce' or 'Audit'"),
        (
            {"allowedRegistries": ["public.ecr.aws/acme/", "https://quay.io"]},
            "paved-road:core.policy.allowedRegistries",
            "'https://quay.io' is not a registry or repository prefix (no scheme)",
        ),
    ],
)
def test_bad_policy_config_names_file_and_field_and_registers_nothing(
    tmp_path: Path, change: dict[str, Any], field: str, expected: str
) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["policy"] = change
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert f"stacks/Pulumi.dev.yaml: {field}: " in str(raised.value)
    assert expected in str(raised.value)
    assert engine.recorded == []


def denies_ingress(found: dict[str, Any], ingress: dict[str, Any], tenant: str) -> bool:
    """The rule's deny conditions (all NotEquals), its `{{ }}` JMESPath evaluated on the
    admission request, with the `tenant` context resolved as its apiCall would."""

    def value(template: str) -> str:
        template = template.replace("{{ tenant }}", tenant)
        expression = re.fullmatch(r"\{\{ (.*) \}\}", template)
        if expression is None:
            return template
        return jmespath.search(expression.group(1), {"request": {"object": ingress}})

    conditions = found["validate"]["deny"]["conditions"]["all"]
    assert {c["operator"] for c in conditions} == {"NotEquals"}
    return all(value(c["key"]) != value(c["value"]) for c in conditions)


def test_tenant_ingresses_may_join_only_their_own_tenants_load_balancer() -> None:
    plan = shipped_plan("dev")
    found = rule(plan, "restrict-ingress-group", "validate-ingress-group")
    (match,) = found["match"]["any"]
    assert match["resources"]["kinds"] == ["Ingress"]
    assert match["resources"]["namespaceSelector"] == {
        "matchExpressions": [{"key": "paved-road/tenant", "operator": "Exists"}]
    }
    (context,) = found["context"]
    assert context == {
        "name": "tenant",
        "apiCall": {
            "urlPath": "/api/v1/namespaces/{{ request.object.metadata.namespace }}",
            "jmesPath": 'metadata.labels."paved-road/tenant"',
        },
    }
    ingresses = [m for m in kubernetes_objects(plan.resources) if m["kind"] == "Ingress"]
    tenant_ingresses = [m for m in ingresses if "paved-road/tenant" in m["metadata"]["labels"]]
    assert len(tenant_ingresses) == 4
    group = "alb.ingress.kubernetes.io/group.name"
    for ingress in tenant_ingresses:
        tenant = ingress["metadata"]["labels"]["paved-road/tenant"]
        assert not denies_ingress(found, ingress, tenant), ingress["metadata"]["name"]
        intruder = copy.deepcopy(ingress)
        intruder["metadata"]["annotations"][group] = "tenant-someone-else"
        assert denies_ingress(found, intruder, tenant)
        alone = copy.deepcopy(ingress)
        del alone["metadata"]["annotations"][group]
        assert not denies_ingress(found, alone, tenant), "an ALB of its own is allowed"
        del alone["metadata"]["annotations"]
        assert not denies_ingress(found, alone, tenant)
