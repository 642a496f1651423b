"""Secrets (External Secrets Operator) and GitOps (Argo CD), asserted on what the plan registers."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Callable

import kubernetes_validate
import pytest
import yaml

from components import versions
from components.config import ConfigError
from components.core import certificates, external_dns, load_balancer, observability, policy
from components.core import autoscaling as autoscaling_module
from components.core import gitops as gitops_module
from components.core import portal as portal_module
from components.core import secrets as secrets_module
from components.core import tracing as tracing_module
from components.core import opencost as opencost_module
from components import delivery as delivery_module
from components.delivery import flags as flags_module
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import kubernetes_objects
from tests.conftest import (
    SHIPPED_STACKS,
    as_list,
    make_project,
    one,
    policy_statements,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors, require_crds
from tests.irsa import assert_irsa_trust

FILE = "stacks/Pulumi.test.yaml"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
SECRETS = "paved-road:core:Secrets"
GITOPS = "paved-road:core:GitOps"
SSO = {
    "issuer": "https://login.example.com",
    "clientId": "argocd",
    "adminGroups": ["platform-admins"],
}
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
PLATFORM_SERVICE_NAMESPACES = {
    ns
    for module in (
        load_balancer,
        certificates,
        external_dns,
        observability,
        secrets_module,
        policy,
        gitops_module,
        autoscaling_module,
        tracing_module,
        portal_module,
        opencost_module,
        delivery_module,  # the rollout controller's namespace is the platform's too
        flags_module,  # and the OpenFeature operator's
    )
    for ns in module.NAMESPACES
}


# --------------------------------------------------------------------------------------------------
# Helpers


def dev_with(core: dict[str, Any]) -> dict[str, Any]:
    """The shipped dev stack without tenants (a layer above, with its own tests) nor the portal
    (which needs the secrets service; tests/test_portal.py), and with `paved-road:core`
    sections replaced, so a variant differs from its baseline only in core."""
    config = copy.deepcopy(stack_config("dev"))
    config.pop("paved-road:tenants", None)
    config.get("paved-road:core", {}).pop("portal", None)
    config.setdefault("paved-road:core", {}).update(core)
    return config


@pytest.fixture(scope="module")
def plan_with(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., PlanRun]:
    """Plans of dev with a core variant, each planned once per module (plans are deterministic)."""
    plans: dict[str, PlanRun] = {}

    def run(**core: Any) -> PlanRun:
        key = json.dumps(core, sort_keys=True)
        if key not in plans:
            root = tmp_path_factory.mktemp("variant")
            plans[key] = PlanEngine("dev", make_project(root, dev_with(core), "dev")).run()
        return plans[key]

    return run


def under(run: PlanRun, resource: RecordedResource, component_type: str) -> bool:
    """Whether `resource` is the component of that type or one of its descendants."""
    by_urn = {r.urn: r for r in run.resources}
    current: RecordedResource | None = resource
    while current is not None:
        if current.type == component_type:
            return True
        current = by_urn.get(current.parent) if current.parent else None
    return False


def release(run: PlanRun, chart: str) -> RecordedResource:
    return one(r for r in run.by_type(RELEASE) if r.inputs["chart"] == chart)


def argocd_values(run: PlanRun) -> dict[str, Any]:
    return release(run, "argo-cd").inputs["values"]


def eso_values(run: PlanRun) -> dict[str, Any]:
    return release(run, "external-secrets").inputs["values"]


def manifest_of(run: PlanRun, resource: RecordedResource) -> dict[str, Any]:
    return one(
        m
        for m in kubernetes_objects([resource])
        if m["metadata"]["name"] == resource.inputs["metadata"]["name"]
    )


def kubernetes_provider(run: PlanRun) -> RecordedResource:
    return one(run.by_type("pulumi:providers:kubernetes"))


def platform_arn_prefix(run: PlanRun, stack: str) -> str:
    region = stack_config(stack)["aws:region"]
    return f"arn:aws:secretsmanager:{region}:123456789012:secret:paved-road/{stack}/platform/"


# --------------------------------------------------------------------------------------------------
# Pinned charts, namespaces


@pytest.mark.parametrize("chart", ["external-secrets", "argo-cd"])
def test_charts_are_pinned_from_versions_in_their_namespace(plan: PlanRun, chart: str) -> None:
    pinned = versions.CHARTS[chart]
    found = release(plan, chart)
    assert found.inputs["chart"] == pinned.name
    assert found.inputs["version"] == pinned.version
    assert found.inputs["repositoryOpts"]["repo"] == pinned.repository
    expected = {"external-secrets": "external-secrets", "argo-cd": "argocd"}[chart]
    assert found.inputs["namespace"] == expected
    assert found.provider.startswith(kubernetes_provider(plan).urn + "::")


@pytest.mark.parametrize("chart", ["external-secrets", "argo-cd"])
def test_chart_pins_match_the_crds_the_tests_validate_against(chart: str) -> None:
    """The version column of the chart's own row in ../shared/crds/README.md names the pinned
    app version: the custom resources are validated against what the chart installs."""
    readme = (require_crds() / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith(f"| {chart} |")]
    version_column = row.strip("|").split("|")[2]
    assert re.search(
        rf"(^|\s){re.escape(versions.CHARTS[chart].app_version)}(\s|$)", version_column
    )


@pytest.mark.parametrize("component", [SECRETS, GITOPS])
def test_namespaces_are_restricted_labelled_and_valid(plan: PlanRun, component: str) -> None:
    (namespace,) = [r for r in plan.by_type(NAMESPACE) if under(plan, r, component)]
    manifest = manifest_of(plan, namespace)
    labels = manifest["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["app.kubernetes.io/managed-by"] == "paved-road"
    kubernetes_validate.validate(manifest, "1.35.0", strict=True)
    expected = {SECRETS: "external-secrets", GITOPS: "argocd"}[component]
    assert manifest["metadata"]["name"] == expected


# --------------------------------------------------------------------------------------------------
# The ESO controller's IAM role


def eso_role(run: PlanRun) -> RecordedResource:
    return one(r for r in run.by_type(ROLE) if under(run, r, SECRETS))


def eso_policy(run: PlanRun) -> RecordedResource:
    return one(r for r in run.by_type(ROLE_POLICY) if under(run, r, SECRETS))


def test_eso_role_trusts_exactly_the_store_service_account(plan: PlanRun) -> None:
    """The platform-secrets role is the store's, not the controller's: its trust names the
    dedicated `platform-secrets` account, which carries the IRSA annotation."""
    role = eso_role(plan)
    (statement,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert_irsa_trust(statement, "external-secrets", "platform-secrets")
    (account,) = [
        m
        for m in kubernetes_objects(plan.resources)
        if m["kind"] == "ServiceAccount" and m["metadata"]["name"] == "platform-secrets"
    ]
    assert account["metadata"]["namespace"] == "external-secrets"
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        f":role/{role.inputs['name']}"
    )
    assert account["automountServiceAccountToken"] is False
    assert role.inputs["name"].startswith("paved-road-") and len(role.inputs["name"]) <= 64
    assert role.inputs["tags"]["paved-road:environment"]


def test_eso_controller_has_no_aws_identity(plan: PlanRun) -> None:
    """A store without `auth` runs with the controller's credentials (ESO's AWS provider falls
    back to the default chain): the controller's service account carries no IRSA role, and no
    IRSA role in the plan trusts it."""
    values = eso_values(plan)
    assert values["serviceAccount"]["name"] == "external-secrets"
    assert values["serviceAccount"]["annotations"] == {}
    for component in ("webhook", "certController"):
        assert "eks.amazonaws.com/role-arn" not in str(values[component]), component
    assert values["rbac"] == {"create": True, "aggregateToView": True, "aggregateToEdit": True}
    for role in plan.by_type(ROLE):
        assert "system:serviceaccount:external-secrets:external-secrets" not in str(
            role.inputs["assumeRolePolicy"]
        ), role.name


# The read permissions external-secrets documents for its AWS Secrets Manager provider
# (external-secrets docs/provider/aws-secrets-manager.md at helm-chart-2.9.0), scoped to secrets.
ESO_DOCUMENTED_READ_ACTIONS = {
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecretVersionIds",
}


def test_eso_role_reads_only_the_platform_prefix(plan: PlanRun, stack: str) -> None:
    statements = policy_statements(eso_policy(plan).inputs["policy"])
    resources = [res for s in statements for res in as_list(s["Resource"])]
    assert resources == [platform_arn_prefix(plan, stack) + "*"]
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = set(as_list(statement["Action"]))
        assert "secretsmanager:GetSecretValue" in actions
        assert actions <= ESO_DOCUMENTED_READ_ACTIONS
    for resource in resources:
        assert "tenants" not in resource and resource.count("*") == 1
        assert resource != "*" and not resource.endswith(":secret:*")


def test_eso_policies_never_allow_everything(plan: PlanRun) -> None:
    for policy_resource in [r for r in plan.by_type(ROLE_POLICY) if under(plan, r, SECRETS)]:
        for statement in policy_statements(policy_resource.inputs["policy"]):
            actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
            assert not ("*" in actions and "*" in resources)
            assert all(not action.endswith(":*") for action in actions)
            assert "*" not in resources


# --------------------------------------------------------------------------------------------------
# The ClusterSecretStore


def store(run: PlanRun) -> RecordedResource:
    return one(run.by_type(STORE))


def test_cluster_secret_store_serves_exactly_the_platform_namespaces(plan: PlanRun) -> None:
    spec = store(plan).inputs["spec"]
    (condition,) = spec["conditions"]
    assert set(condition) == {"namespaces"}, "no label selector or regex a tenant could match"
    assert condition["namespaces"] == plan.outputs["platformNamespaces"]
    assert set(condition["namespaces"]) <= PLATFORM_SERVICE_NAMESPACES
    assert {"external-secrets", "argocd"} <= set(condition["namespaces"])
    for tenant_like in ("default", "kube-system", "payments", "team-a", "tenants"):
        assert tenant_like not in condition["namespaces"]
    others = {
        r.inputs["metadata"]["name"]
        for r in plan.by_type(NAMESPACE)
        if r.inputs["metadata"]["labels"].get("paved-road/platform") != "true"
    }
    assert not others & set(condition["namespaces"]), "tenant namespaces are never served"


def test_cluster_secret_store_follows_the_enabled_services(
    plan_with: Callable[..., PlanRun],
) -> None:
    without_gitops = plan_with(gitops={"enabled": False})
    (condition,) = store(without_gitops).inputs["spec"]["conditions"]
    assert "argocd" not in condition["namespaces"]
    assert condition["namespaces"] == without_gitops.outputs["platformNamespaces"]


def test_cluster_secret_store_uses_its_own_identity_after_the_chart(
    plan: PlanRun, stack: str
) -> None:
    found = store(plan)
    assert found.inputs["metadata"]["name"] == secrets_module.CLUSTER_SECRET_STORE
    assert found.inputs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "paved-road"
    aws = found.inputs["spec"]["provider"]["aws"]
    assert aws["service"] == "SecretsManager"
    assert aws["region"] == stack_config(stack)["aws:region"]
    assert aws["auth"] == {
        "jwt": {"serviceAccountRef": {"name": "platform-secrets", "namespace": "external-secrets"}}
    }
    assert "role" not in aws, "the account's own, platform-scoped role; no wider assume-role"
    assert release(plan, "external-secrets").urn in found.dependencies
    account = one(
        r
        for r in plan.by_type("kubernetes:core/v1:ServiceAccount")
        if r.inputs["metadata"]["name"] == "platform-secrets"
    )
    assert account.urn in found.dependencies
    assert found.provider.startswith(kubernetes_provider(plan).urn + "::")
    assert found.parent and SECRETS in found.parent


def test_cluster_secret_store_validates_against_the_crd(plan: PlanRun) -> None:
    require_crds()
    assert crd_errors(manifest_of(plan, store(plan))) == []


# --------------------------------------------------------------------------------------------------
# External Secrets Operator chart values


def test_eso_chart_installs_crds_with_resources_and_restricted_containers(plan: PlanRun) -> None:
    values = eso_values(plan)
    assert values["installCRDs"] is True
    for workload in (values, values["webhook"], values["certController"]):
        requests, limits = workload["resources"]["requests"], workload["resources"]["limits"]
        assert requests["cpu"] and requests["memory"] and limits["cpu"] and limits["memory"]
        context = workload["securityContext"]
        assert context["enabled"] is True
        assert {k: context[k] for k in RESTRICTED} == RESTRICTED


@pytest.mark.parametrize("stack_name, replicas", [("dev", 1), ("prod", 2)])
def test_eso_runs_twice_with_disruption_budgets_in_production(
    stack_name: str, replicas: int
) -> None:
    values = eso_values(shipped_plan(stack_name))
    assert values["leaderElect"] is True
    assert values["certController"]["extraArgs"] == {"enable-leader-election": True}
    for workload in (values, values["webhook"], values["certController"]):
        assert workload["replicaCount"] == replicas
        assert workload["podDisruptionBudget"] == {"enabled": replicas > 1, "minAvailable": 1}


# --------------------------------------------------------------------------------------------------
# Argo CD


@pytest.mark.parametrize("stack_name, admin", [("dev", "true"), ("prod", "false")])
def test_local_admin_is_off_in_production_and_on_in_dev_by_default(
    stack_name: str, admin: str
) -> None:
    assert argocd_values(shipped_plan(stack_name))["configs"]["cm"]["admin.enabled"] == admin


def test_admin_user_can_be_switched_off_outside_production(
    plan_with: Callable[..., PlanRun],
) -> None:
    values = argocd_values(plan_with(gitops={"adminUser": False}))
    assert values["configs"]["cm"]["admin.enabled"] == "false"


def test_argocd_is_locked_down(plan: PlanRun) -> None:
    values = argocd_values(plan)
    cm, params, rbac = (values["configs"][key] for key in ("cm", "params", "rbac"))
    assert cm["users.anonymous.enabled"] == "false"
    assert cm["exec.enabled"] == "false"
    assert params["server.insecure"] is False
    assert rbac["policy.default"] == "", "deny by default: no role for a user without a grant"
    assert values["dex"]["enabled"] is False
    assert values["crds"] == {"install": True, "keep": True}
    assert values["redis-ha"]["enabled"] is False
    assert values["global"]["networkPolicy"]["create"] is True
    assert release(plan, "argo-cd").inputs["name"] == "argocd"


def test_every_argocd_workload_has_resources_and_a_restricted_container(plan: PlanRun) -> None:
    values = argocd_values(plan)
    for component in (
        "controller",
        "server",
        "repoServer",
        "applicationSet",
        "redis",
        "notifications",
        "redisSecretInit",
    ):
        resources = values[component]["resources"]
        assert set(resources) == {"requests", "limits"}, component
        assert resources["limits"]["memory"] == resources["requests"]["memory"], component
        context = values[component]["containerSecurityContext"]
        assert {k: context[k] for k in RESTRICTED} == RESTRICTED, component


@pytest.mark.parametrize("stack_name, replicas", [("dev", 1), ("prod", 2)])
def test_argocd_api_and_repo_server_are_highly_available_in_production(
    stack_name: str, replicas: int
) -> None:
    values = argocd_values(shipped_plan(stack_name))
    for component in ("server", "repoServer"):
        assert values[component]["replicas"] == replicas
        assert values[component]["pdb"] == {"enabled": replicas > 1, "minAvailable": 1}
    assert values["controller"]["replicas"] == 1, "more controllers shard, they do not fail over"


def test_without_sso_there_is_no_oidc_and_no_external_secret() -> None:
    without_sso = [
        stack
        for stack in SHIPPED_STACKS
        if not stack_config(stack).get("paved-road:core", {}).get("gitops", {}).get("sso")
    ]
    assert without_sso, "a shipped stack runs Argo CD without SSO"
    for stack in without_sso:
        plan = shipped_plan(stack)
        values = argocd_values(plan)
        assert "oidc.config" not in values["configs"]["cm"]
        assert "policy.csv" not in values["configs"]["rbac"]
        assert sso_secrets(plan) == []


# --------------------------------------------------------------------------------------------------
# Argo CD single sign-on


@pytest.fixture
def sso_plan(plan_with: Callable[..., PlanRun]) -> PlanRun:
    return plan_with(gitops={"sso": SSO})


def test_sso_reads_its_client_secret_through_an_external_secret(sso_plan: PlanRun) -> None:
    run = sso_plan
    external = one(sso_secrets(run))
    assert under(run, external, GITOPS)
    manifest = manifest_of(run, external)
    assert manifest["metadata"] == {
        "name": "argocd-sso",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/managed-by": "paved-road"},
    }
    spec = manifest["spec"]
    assert spec["secretStoreRef"] == {
        "name": "platform-secrets-manager",
        "kind": "ClusterSecretStore",
    }
    assert spec["target"]["name"] == "argocd-sso"
    assert spec["target"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    assert spec["data"] == [
        {
            "secretKey": "clientSecret",
            "remoteRef": {"key": "paved-road/dev/platform/argocd-sso", "property": "clientSecret"},
        }
    ]
    require_crds()
    assert crd_errors(manifest) == []


def test_sso_remote_key_is_one_the_eso_role_may_read(sso_plan: PlanRun) -> None:
    run = sso_plan
    key = one(sso_secrets(run)).inputs["spec"]["data"][0]["remoteRef"]["key"]
    (resource,) = [
        res
        for s in policy_statements(eso_policy(run).inputs["policy"])
        for res in as_list(s["Resource"])
    ]
    assert resource.endswith(":secret:paved-road/dev/platform/*")
    assert key.startswith(resource.split(":secret:")[1].rstrip("*"))
    (condition,) = store(run).inputs["spec"]["conditions"]
    assert (
        "argocd" in condition["namespaces"]
    ), "the store must serve the ExternalSecret's namespace"


def test_sso_configures_oidc_with_a_secret_reference_and_admin_groups(sso_plan: PlanRun) -> None:
    run = sso_plan
    values = argocd_values(run)
    oidc = yaml.safe_load(values["configs"]["cm"]["oidc.config"])
    assert oidc == {
        "name": "SSO",
        "issuer": "https://login.example.com",
        "clientID": "argocd",
        "clientSecret": "$argocd-sso:clientSecret",
        "requestedScopes": ["openid", "profile", "email", "groups"],
    }
    assert values["configs"]["rbac"]["policy.csv"].splitlines() == [
        "g, platform-admins, role:admin"
    ]
    assert values["configs"]["rbac"]["policy.default"] == ""


def test_sso_puts_no_secret_value_anywhere(sso_plan: PlanRun) -> None:
    run = sso_plan
    gitops_objects = [r for r in run.resources if under(run, r, GITOPS)]
    assert not [r for r in gitops_objects if r.type == "kubernetes:core/v1:Secret"]
    values = argocd_values(run)
    assert "secret" not in values["configs"], "no argocd-secret values from the chart"
    client_secrets = [
        line.split(":", 1)[1].strip()
        for line in values["configs"]["cm"]["oidc.config"].splitlines()
        if line.startswith("clientSecret:")
    ]
    assert client_secrets == ["$argocd-sso:clientSecret"]
    assert json.dumps(values).count("clientSecret") == 2, "the key and the reference, no value"
    external = one(r for r in gitops_objects if r.type == EXTERNAL_SECRET)
    assert "dataFrom" not in external.inputs["spec"]
    assert "data" not in external.inputs["spec"]["target"]["template"]


def test_sso_secret_exists_before_argocd_and_after_the_store(sso_plan: PlanRun) -> None:
    run = sso_plan
    external = one(sso_secrets(run))
    assert external.urn in release(run, "argo-cd").dependencies
    assert store(run).urn in external.dependencies, "the CRD and store come first"
    assert release(run, "external-secrets").urn in external.dependencies


def test_production_ships_sso_through_the_platform_store() -> None:
    run = shipped_plan("prod")
    external = one(sso_secrets(run))
    key = external.inputs["spec"]["data"][0]["remoteRef"]["key"]
    assert key == "paved-road/prod/platform/argocd-sso"
    sso = stack_config("prod")["paved-road:core"]["gitops"]["sso"]
    oidc = yaml.safe_load(argocd_values(run)["configs"]["cm"]["oidc.config"])
    assert oidc["issuer"] == sso["issuer"] and oidc["clientID"] == sso["clientId"]


# --------------------------------------------------------------------------------------------------
# Switches and configuration errors


@pytest.mark.parametrize("service, component", [("secrets", SECRETS), ("gitops", GITOPS)])
def test_switching_the_service_off_removes_exactly_its_resources(
    service: str, component: str, plan_with: Callable[..., PlanRun]
) -> None:
    base = plan_with()
    without = plan_with(**{service: {"enabled": False}})
    removed = {r.urn for r in base.resources} - {r.urn for r in without.resources}
    added = {r.urn for r in without.resources} - {r.urn for r in base.resources}
    assert added == set()
    # and, for secrets, Kyverno's guard on tenants' SecretStores, which matches its kinds
    guard = {r.urn for r in base.resources if r.name == "policy-restrict-tenant-secret-stores"}
    # and the alert receivers' ExternalSecrets (components/insight/routing.py)
    receivers = {
        r.urn
        for r in base.by_type(EXTERNAL_SECRET)
        if r.inputs["metadata"]["name"] == "alert-receivers"
    }
    assert removed == {r.urn for r in base.resources if under(base, r, component)} | (
        guard | receivers if service == "secrets" else set()
    )
    assert len(removed) >= 3


def test_secrets_off_leaves_no_store_name_for_gitops(plan_with: Callable[..., PlanRun]) -> None:
    run = plan_with(secrets={"enabled": False})
    assert run.by_type(STORE) == [] and run.by_type(EXTERNAL_SECRET) == []
    assert "external-secrets" not in run.outputs["platformNamespaces"]


BAD_CORE = {
    "sso without the secrets service": (
        {"secrets": {"enabled": False}, "gitops": {"sso": SSO}},
        "paved-road:core.gitops.sso",
        "enable core.secrets",
    ),
    "sso issuer not https": (
        {"gitops": {"sso": {**SSO, "issuer": "http://login.example.com"}}},
        "paved-road:core.gitops.sso.issuer",
        "an https URL",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_CORE))
def test_bad_gitops_config_names_file_and_field_and_registers_nothing(
    name: str, project: Callable[..., Path]
) -> None:
    core, field, expected = BAD_CORE[name]
    engine = PlanEngine("test", project(dev_with(core)))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    message = str(raised.value)
    assert f"{FILE}: {field}: " in message, message
    assert expected in message, message
    assert engine.recorded == []


def test_argocd_knows_its_own_url_from_the_dns_zone_or_config(tmp_path: Path) -> None:
    values = argocd_values(shipped_plan("prod"))
    assert values["global"]["domain"] == "argocd.paved-road.example"
    config = {
        "aws:region": "eu-west-1",
        "paved-road:core": {
            "gitops": {
                "hostname": "deploy.acme.example",
                "sso": {"issuer": "https://login.acme.example", "clientId": "argocd"},
                # No zone of the platform's holds the name: its certificate is someone else's.
                "ingress": {"certificate": "discover"},
            }
        },
    }
    run = PlanEngine("test", make_project(tmp_path, config)).run()
    assert argocd_values(run)["global"]["domain"] == "deploy.acme.example"


def test_sso_without_a_hostname_is_a_config_error(tmp_path: Path) -> None:
    config = {
        "aws:region": "eu-west-1",
        "paved-road:core": {
            "gitops": {"sso": {"issuer": "https://login.acme.example", "clientId": "argocd"}}
        },
    }
    engine = PlanEngine("test", make_project(tmp_path, config))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert "stacks/Pulumi.test.yaml: paved-road:core.gitops.hostname" in str(raised.value)
    assert engine.recorded == []


def sso_secrets(run: PlanRun) -> list[Any]:
    """Argo CD's SSO client secret (alert routing has ExternalSecrets of its own)."""
    return [r for r in run.by_type(EXTERNAL_SECRET) if "paved-road:core:GitOps" in r.urn]
