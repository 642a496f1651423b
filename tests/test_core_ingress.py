"""Ingress core services: load balancer controller, cert-manager and external-dns, as planned.

Most tests plan one project with one Route 53 zone and a production Let's Encrypt issuer, and read
what the three services registered: pinned charts with their real values, IRSA roles that trust one
service account each, IAM that reaches exactly the configured zone, a ClusterIssuer the upstream CRD
accepts. Variants switch services off, add a zone or change the issuer; bad configs never plan.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from components import versions
from components.config import ConfigError
from components.core import certificates, external_dns, load_balancer
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import kubernetes_objects
from tests.conftest import (
    PRODUCTION_CLUSTER,
    as_list,
    make_project,
    one,
    policy_statements,
    shipped_plan,
)
from tests.crds import crd_errors, require_crds
from tests.irsa import assert_irsa_trust

ZONE_ID = "Z0123456789ABCDEFGHIJ"
DOMAIN = "dev.example.com"
ZONE_ARN = f"arn:aws:route53:::hostedzone/{ZONE_ID}"
EMAIL = "platform@example.com"
FILE = "stacks/Pulumi.test.yaml"
PREFIX = "paved-road-test"
K8S_VERSION = f"{versions.DEFAULT_KUBERNETES_VERSION}.0"

CONFIG: dict[str, Any] = {
    "aws:region": "eu-west-1",
    "paved-road:core": {
        "dns": {"zones": [{"id": ZONE_ID, "domain": DOMAIN}]},
        "certManager": {"issuer": "letsencrypt", "acmeEmail": EMAIL},
    },
}

RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"

# component type → (chart, namespace, service account)
SERVICES = {
    "paved-road:core:LoadBalancerController": (
        "aws-load-balancer-controller",
        "aws-load-balancer-controller",
        "aws-load-balancer-controller",
    ),
    "paved-road:core:CertManager": ("cert-manager", "cert-manager", "cert-manager"),
    "paved-road:core:ExternalDns": ("external-dns", "external-dns", "external-dns"),
}


def core_config(**core: Any) -> dict[str, Any]:
    """CONFIG with `paved-road:core` sections replaced (a value of None removes the section)."""
    config = copy.deepcopy(CONFIG)
    for section, value in core.items():
        if value is None:
            config["paved-road:core"].pop(section, None)
        else:
            config["paved-road:core"][section] = value
    return config


def plan_of(tmp_path: Path, config: dict[str, Any]) -> PlanRun:
    return PlanEngine("test", make_project(tmp_path, config)).run()


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> PlanRun:
    return plan_of(tmp_path_factory.mktemp("ingress"), CONFIG)


def under(resource: RecordedResource, component_type: str) -> bool:
    return component_type in resource.urn.split("::")[2].split("$")


def of(plan: PlanRun, component_type: str, type_: str) -> list[RecordedResource]:
    return [r for r in plan.by_type(type_) if under(r, component_type)]


def release_of(plan: PlanRun, component_type: str) -> RecordedResource:
    return one(of(plan, component_type, RELEASE))


def values_of(plan: PlanRun, component_type: str) -> dict[str, Any]:
    return release_of(plan, component_type).inputs["values"]


def statements_of(plan: PlanRun, component_type: str) -> list[dict[str, Any]]:
    return policy_statements(one(of(plan, component_type, ROLE_POLICY)).inputs["policy"])


def role_arn(role: RecordedResource) -> str:
    return f"arn:aws:iam::123456789012:role/{role.inputs['name']}"


# --------------------------------------------------------------------------------------------------
# All three services


@pytest.mark.parametrize("component_type", sorted(SERVICES))
def test_charts_are_pinned_and_installed_in_their_own_namespace(
    plan: PlanRun, component_type: str
) -> None:
    chart_name, namespace, _ = SERVICES[component_type]
    chart = versions.CHARTS[chart_name]
    release = release_of(plan, component_type)
    assert release.inputs["chart"] == chart.name
    assert release.inputs["version"] == chart.version
    assert release.inputs["repositoryOpts"]["repo"] == chart.repository
    assert release.inputs["namespace"] == namespace
    provider = one(plan.by_type("pulumi:providers:kubernetes"))
    assert release.provider.startswith(provider.urn + "::")
    component = one(plan.by_type(component_type))
    assert release.parent == component.urn
    ns = one(of(plan, component_type, "kubernetes:core/v1:Namespace"))
    assert ns.inputs["metadata"]["name"] == namespace
    assert ns.urn in release.dependencies, "the release waits for its namespace"


def test_the_cert_manager_chart_matches_the_crds_the_tests_validate_against() -> None:
    crds = (Path(require_crds()) / "README.md").read_text()
    chart = versions.CHARTS["cert-manager"]
    assert f"| cert-manager | cert-manager/cert-manager deploy/crds | {chart.app_version} |" in crds
    assert chart.version == chart.app_version, "jetstack versions the chart as the app"


@pytest.mark.parametrize("component_type", sorted(SERVICES))
def test_each_irsa_role_trusts_exactly_the_charts_service_account(
    plan: PlanRun, component_type: str
) -> None:
    _, namespace, service_account = SERVICES[component_type]
    role = one(of(plan, component_type, ROLE))
    assert role.inputs["name"].startswith(f"{PREFIX}-") and len(role.inputs["name"]) <= 64
    assert role.inputs["tags"]["paved-road:environment"] == "test"
    (statement,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"] == plan.outputs["oidcProviderArn"]
    assert_irsa_trust(statement, namespace, service_account)
    chart_account = values_of(plan, component_type)["serviceAccount"]
    assert chart_account["create"] is True and chart_account["name"] == service_account
    assert chart_account["annotations"] == {"eks.amazonaws.com/role-arn": role_arn(role)}


@pytest.mark.parametrize("component_type", sorted(SERVICES))
def test_no_policy_allows_every_action_on_every_resource(
    plan: PlanRun, component_type: str
) -> None:
    statements = statements_of(plan, component_type)
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
        assert "*" not in actions and not any(a.endswith(":*") for a in actions)
        if "*" in resources:
            assert not any("*" in action for action in actions), statement


def test_namespaces_enforce_restricted_and_objects_validate(plan: PlanRun) -> None:
    names = {namespace for _, namespace, _ in SERVICES.values()}
    manifests = kubernetes_objects(r for r in plan.resources if any(under(r, t) for t in SERVICES))
    namespaces = [m for m in manifests if m["kind"] == "Namespace"]
    assert {m["metadata"]["name"] for m in namespaces} == names
    for namespace in namespaces:
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for manifest in manifests:
        assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "paved-road"
        if manifest["kind"] == "ClusterIssuer":
            assert crd_errors(manifest) == []
        else:
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    "switched_off, component_type",
    [
        ({"ingress": {"enabled": False}}, "paved-road:core:LoadBalancerController"),
        ({"certManager": {"enabled": False}}, "paved-road:core:CertManager"),
        ({"externalDns": {"enabled": False}}, "paved-road:core:ExternalDns"),
    ],
)
def test_switching_a_service_off_removes_exactly_its_resources(
    plan: PlanRun, tmp_path: Path, switched_off: dict[str, Any], component_type: str
) -> None:
    variant = {r.urn for r in plan_of(tmp_path, core_config(**switched_off)).resources}
    base = {r.urn for r in plan.resources}
    assert variant <= base
    removed = base - variant
    # The rollout controller's ALB target-group check (its IAM role, and its namespace's opening
    # to the AWS APIs) goes with the ingress.
    delivery_alb = {
        r.urn
        for r in plan.resources
        if under(r, "paved-road:delivery:Delivery")
        and (r.type.startswith("aws:iam/") or r.name == "delivery-namespace-allow-internet")
    }
    expected = {r.urn for r in plan.resources if under(r, component_type)}
    # So do the ACM certificates of the hosts served over HTTPS (apps' and Argo CD's).
    certificates = {
        r.urn for r in plan.resources if r.type.startswith(("aws:acm/", "aws:route53/record:"))
    }
    if component_type == "paved-road:core:LoadBalancerController":
        expected |= delivery_alb | certificates
    assert removed and removed == expected


# --------------------------------------------------------------------------------------------------
# AWS Load Balancer Controller

LBC = "paved-road:core:LoadBalancerController"


def test_controller_is_told_its_cluster_region_and_vpc(plan: PlanRun) -> None:
    values = values_of(plan, LBC)
    assert values["clusterName"] == plan.outputs["clusterName"] == PREFIX
    assert values["region"] == "eu-west-1"
    assert values["vpcId"] == plan.outputs["vpcId"] and values["vpcId"].startswith("vpc-")


def test_controller_runs_two_restricted_replicas_behind_a_disruption_budget(
    plan: PlanRun,
) -> None:
    values = values_of(plan, LBC)
    assert values["replicaCount"] == 2
    assert values["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert set(values["resources"]) == {"requests", "limits"}
    assert values["resources"]["limits"]["memory"] == values["resources"]["requests"]["memory"]
    pod, container = values["podSecurityContext"], values["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["runAsNonRoot"] is True and container["readOnlyRootFilesystem"] is True


def test_the_chart_creates_the_one_default_ingress_class(plan: PlanRun, tmp_path: Path) -> None:
    values = values_of(plan, LBC)
    assert values["createIngressClassResource"] is True
    assert values["ingressClass"] == "alb"
    assert values["ingressClassConfig"] == {"default": True}
    assert not plan.by_type("kubernetes:networking.k8s.io/v1:IngressClass"), "only the chart's"
    renamed = plan_of(tmp_path, core_config(ingress={"className": "public"}))
    assert values_of(renamed, LBC)["ingressClass"] == "public"


# sha256 of kubernetes-sigs/aws-load-balancer-controller `docs/install/iam_policy.json` at tag
# v2.13.2, taken over its canonical JSON (keys sorted, no whitespace), computed from the upstream
# file: any edit of the local copy, or a chart bump without a new policy, changes it.
UPSTREAM_POLICY_VERSION = "v2.13.2"
UPSTREAM_POLICY_SHA256 = "bb9e48240ace4258c78d152ce98175ee6a118f0715faad4ff5a3e394c9d66171"


def canonical_sha256(document: Any) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def test_controller_policy_is_the_upstream_document_unchanged(plan: PlanRun) -> None:
    assert versions.CHARTS["aws-load-balancer-controller"].app_version == UPSTREAM_POLICY_VERSION
    local = json.loads(load_balancer.POLICY_FILE.read_text())
    assert canonical_sha256(local) == UPSTREAM_POLICY_SHA256, "not the upstream document"
    actions = {a for s in local["Statement"] for a in as_list(s["Action"])}
    # Actions the controller of the pinned line calls and a trimmed copy tends to miss.
    assert {"ec2:DescribeRouteTables", "elasticloadbalancing:SetRulePriorities"} <= actions
    planned = one(of(plan, LBC, ROLE_POLICY)).inputs["policy"]
    assert json.loads(planned) == local


# --------------------------------------------------------------------------------------------------
# cert-manager

CM = "paved-road:core:CertManager"


def test_cert_manager_installs_and_keeps_its_crds(plan: PlanRun) -> None:
    values = values_of(plan, CM)
    assert values["crds"] == {"enabled": True, "keep": True}
    assert values["global"]["leaderElection"] == {"namespace": "cert-manager"}
    for part in (values, values["webhook"], values["cainjector"], values["startupapicheck"]):
        assert set(part["resources"]) == {"requests", "limits"}
        assert part["securityContext"]["runAsNonRoot"] is True
        assert part["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert part["containerSecurityContext"]["allowPrivilegeEscalation"] is False
        assert part["containerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert values["securityContext"]["fsGroup"] == certificates.IRSA_FS_GROUP


def test_the_cluster_issuer_solves_dns01_in_the_configured_zone(plan: PlanRun) -> None:
    require_crds()
    issuer = one(plan.by_type(ISSUER))
    assert issuer.inputs["metadata"]["name"] == "letsencrypt"
    acme = issuer.inputs["spec"]["acme"]
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert acme["email"] == EMAIL
    assert acme["privateKeySecretRef"] == {"name": "letsencrypt-account-key"}
    assert acme["solvers"] == [
        {
            "selector": {"dnsZones": [DOMAIN]},
            "dns01": {"route53": {"region": "eu-west-1", "hostedZoneID": ZONE_ID}},
        }
    ]
    assert release_of(plan, CM).urn in issuer.dependencies, "the chart brings its CRD"
    (manifest,) = [m for m in kubernetes_objects(plan.resources) if m["kind"] == "ClusterIssuer"]
    assert crd_errors(manifest) == []


def test_cert_manager_may_write_only_txt_records_in_the_configured_zone(plan: PlanRun) -> None:
    by_action = {a: s for s in statements_of(plan, CM) for a in as_list(s["Action"])}
    assert set(by_action) == {
        "route53:GetChange",
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
    }
    assert as_list(by_action["route53:GetChange"]["Resource"]) == ["arn:aws:route53:::change/*"]
    records = by_action["route53:ChangeResourceRecordSets"]
    assert as_list(records["Resource"]) == [ZONE_ARN]
    assert records["Condition"] == {
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}
    }


def test_every_zone_gets_its_own_solver_and_only_its_arn(tmp_path: Path) -> None:
    zones = [
        {"id": ZONE_ID, "domain": DOMAIN},
        {"id": "Z0SECONDZONE00000001", "domain": "api.example.org"},
    ]
    run = plan_of(tmp_path, core_config(dns={"zones": zones}))
    solvers = one(run.by_type(ISSUER)).inputs["spec"]["acme"]["solvers"]
    assert [
        (s["selector"]["dnsZones"], s["dns01"]["route53"]["hostedZoneID"]) for s in solvers
    ] == [([z["domain"]], z["id"]) for z in zones]
    arns = [f"arn:aws:route53:::hostedzone/{z['id']}" for z in zones]
    for component_type in (CM, "paved-road:core:ExternalDns"):
        scoped = [s for s in statements_of(run, component_type) if "hostedzone" in str(s)]
        assert [as_list(s["Resource"]) for s in scoped] == [arns]
    dns = values_of(run, "paved-road:core:ExternalDns")
    assert dns["domainFilters"] == [DOMAIN, "api.example.org"]
    assert dns["extraArgs"] == [
        *(f"--zone-id-filter={z['id']}" for z in zones),
        "--ignore-hostname-annotation",
    ]


def test_staging_issuer_uses_the_staging_directory() -> None:
    issuer = one(shipped_plan("dev").by_type(ISSUER))
    assert issuer.inputs["metadata"]["name"] == "letsencrypt-staging"
    server = issuer.inputs["spec"]["acme"]["server"]
    assert server == "https://acme-staging-v02.api.letsencrypt.org/directory"


def test_without_an_issuer_cert_manager_has_no_aws_access(tmp_path: Path) -> None:
    run = plan_of(tmp_path, core_config(certManager={"issuer": "none"}))
    assert not run.by_type(ISSUER)
    assert not of(run, CM, ROLE) and not of(run, CM, ROLE_POLICY)
    values = values_of(run, CM)
    assert "annotations" not in values["serviceAccount"]
    assert "fsGroup" not in values["securityContext"]


def test_production_runs_cert_manager_highly_available(tmp_path: Path) -> None:
    production = {
        **CONFIG,
        "paved-road:production": True,
        "paved-road:cluster": PRODUCTION_CLUSTER,
    }
    for run, replicas in ((plan_of(tmp_path, production), 2), (shipped_plan("dev"), 1)):
        values = values_of(run, CM)
        for part in (values, values["webhook"], values["cainjector"]):
            assert part["replicaCount"] == replicas
            assert part["podDisruptionBudget"]["enabled"] is (replicas > 1)


# --------------------------------------------------------------------------------------------------
# external-dns

DNS = "paved-road:core:ExternalDns"


def test_external_dns_manages_only_the_configured_zone_for_this_environment(
    plan: PlanRun,
) -> None:
    values = values_of(plan, DNS)
    assert values["provider"] == {"name": "aws"}
    assert values["sources"] == ["ingress"]
    assert values["domainFilters"] == [DOMAIN]
    assert values["extraArgs"] == [f"--zone-id-filter={ZONE_ID}", "--ignore-hostname-annotation"]
    assert values["registry"] == "txt" and values["txtOwnerId"] == PREFIX
    assert values["policy"] == "upsert-only"
    assert {"name": "AWS_DEFAULT_REGION", "value": "eu-west-1"} in values["env"]
    assert set(values["resources"]) == {"requests", "limits"}
    assert values["securityContext"]["runAsNonRoot"] is True
    assert values["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_external_dns_policy_follows_config(tmp_path: Path) -> None:
    run = plan_of(tmp_path, core_config(externalDns={"policy": "sync"}))
    assert values_of(run, DNS)["policy"] == "sync"


def test_external_dns_may_change_records_only_in_the_configured_zone(plan: PlanRun) -> None:
    by_action = {a: s for s in statements_of(plan, DNS) for a in as_list(s["Action"])}
    assert set(by_action) == {
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        "route53:ListTagsForResources",
        "route53:ListHostedZones",
    }
    for action in (
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        "route53:ListTagsForResources",
    ):
        assert as_list(by_action[action]["Resource"]) == [ZONE_ARN], action
    # The one action Route 53 cannot scope to a zone, alone in its statement.
    assert by_action["route53:ListHostedZones"] == {
        "Effect": "Allow",
        "Action": ["route53:ListHostedZones"],
        "Resource": ["*"],
        "Sid": "ListHostedZones",
    }


def test_external_dns_is_off_without_zones(tmp_path: Path) -> None:
    run = plan_of(tmp_path, core_config(dns=None, certManager=None))
    assert not run.by_type(DNS)
    assert one(run.by_type("paved-road:core:CertManager"))


# --------------------------------------------------------------------------------------------------
# Configuration errors


@pytest.mark.parametrize(
    "core, field, message",
    [
        (
            {"dns": None, "certManager": None, "externalDns": {"enabled": True}},
            "paved-road:core.externalDns.enabled",
            "needs at least one zone",
        ),
        (
            {"certManager": {"issuer": "letsencrypt"}},
            "paved-road:core.certManager.acmeEmail",
            "is required for issuer 'letsencrypt'",
        ),
        (
            {"dns": {"zones": [{"id": "not-a-zone", "domain": DOMAIN}]}},
            "paved-road:core.dns.zones[0].id",
            "'not-a-zone' is not a Route 53 hosted zone id",
        ),
        (
            {"dns": None},
            "paved-road:core.certManager.issuer",
            "solves DNS-01 challenges and needs paved-road:core.dns.zones",
        ),
    ],
)
def test_bad_ingress_config_names_file_and_field_and_registers_nothing(
    tmp_path: Path, core: dict[str, Any], field: str, message: str
) -> None:
    engine = PlanEngine("test", make_project(tmp_path, core_config(**core)))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert any(
        issue.file == FILE and issue.field == field and message in issue.message
        for issue in raised.value.issues
    ), str(raised.value)
    assert f"{FILE}: {field}: " in str(raised.value)
    assert engine.recorded == []


@pytest.mark.parametrize(
    ("component_type", "module"),
    [
        ("paved-road:core:LoadBalancerController", load_balancer),
        ("paved-road:core:CertManager", certificates),
        ("paved-road:core:ExternalDns", external_dns),
    ],
)
def test_module_names_are_what_core_services_uses(
    plan: PlanRun, component_type: str, module: Any
) -> None:
    """`NAMESPACES` is what CoreServices reserves for a service: it must be exactly what the
    service creates and installs into."""
    created = {
        ns.inputs["metadata"]["name"]
        for ns in of(plan, component_type, "kubernetes:core/v1:Namespace")
    }
    assert created == set(module.NAMESPACES)
    assert release_of(plan, component_type).inputs["namespace"] in created
    assert created <= set(plan.outputs["platformNamespaces"])
