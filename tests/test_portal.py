"""The developer portal (paved-road:core.portal): Backstage from its official chart, asserted on
what the plan registers, the chart's own values schema and the Kubernetes and CRD schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import jsonschema
import kubernetes_validate
import pytest

from components import versions
from components.config import CoreConfig
from components.core import portal
from pavedroad.catalog import read_settings
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import kubernetes_objects
from tests.conftest import (
    ROOT,
    SHIPPED_STACKS,
    assert_refused,
    make_project,
    one,
    pavedroad,
    policy_statements,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors, require_crds
from tests.irsa import assert_irsa_trust
from tests.test_platform_network import PROMETHEUS, allowed

PORTAL = "paved-road:core:Portal"
RELEASE = "kubernetes:helm.sh/v3:Release"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
SECRET_STORE = "kubernetes:external-secrets.io/v1:SecretStore"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_POLICY = "kubernetes:vpcresources.k8s.aws/v1beta1:SecurityGroupPolicy"
RDS = "aws:rds/instance:Instance"
HOST = "portal.dev.paved-road.example"
DEV_FILE = "stacks/Pulumi.dev.yaml"
FILE = "stacks/Pulumi.test.yaml"
KUBERNETES = f"{versions.DEFAULT_KUBERNETES_VERSION}.0"
PORTAL_CONFIG = {
    "enabled": True,
    "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/platform/backstage:1.0.0",
    "githubOrg": "acme",
}


def under_portal(resource: RecordedResource) -> bool:
    return PORTAL in resource.urn.split("::")[2].split("$")


def portal_resources(run: PlanRun, type_: str) -> list[RecordedResource]:
    return [r for r in run.by_type(type_) if under_portal(r)]


def release(run: PlanRun) -> RecordedResource:
    return one(r for r in run.by_type(RELEASE) if r.inputs["chart"] == "backstage")


def values(run: PlanRun) -> dict[str, Any]:
    return release(run).inputs["values"]


def manifest_of(resource: RecordedResource) -> dict[str, Any]:
    (manifest,) = kubernetes_objects([resource])
    return manifest


def dev_with_portal(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["portal"] = {**PORTAL_CONFIG, **changes}
    return config


@pytest.fixture(scope="module")
def dev() -> PlanRun:
    return shipped_plan("dev")


@pytest.fixture(scope="module")
def plan_with(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., PlanRun]:
    plans: dict[str, PlanRun] = {}

    def run(config: dict[str, Any], stack: str = "dev") -> PlanRun:
        key = json.dumps([config, stack], sort_keys=True)
        if key not in plans:
            root = make_project(tmp_path_factory.mktemp("portal"), config, stack)
            plans[key] = PlanEngine(stack, root).run()
        return plans[key]

    return run


# --------------------------------------------------------------------------------------------------
# Off by default


def test_the_portal_is_off_unless_a_stack_asks() -> None:
    assert CoreConfig().portal.enabled is False
    for stack in SHIPPED_STACKS:
        asked = stack_config(stack).get("paved-road:core", {}).get("portal", {}).get("enabled")
        found = [r for r in shipped_plan(stack).resources if under_portal(r)]
        assert bool(found) == bool(asked), stack


def test_without_the_portal_nothing_of_it_is_planned(plan_with: Callable[..., PlanRun]) -> None:
    config = copy.deepcopy(stack_config("dev"))
    del config["paved-road:core"]["portal"]
    run = plan_with(config)
    assert [r.urn for r in run.resources if under_portal(r)] == []
    assert "backstage" not in run.outputs["platformNamespaces"]
    assert all(r.inputs["chart"] != "backstage" for r in run.by_type(RELEASE))


# --------------------------------------------------------------------------------------------------
# The release


def test_the_official_chart_is_pinned_in_its_own_namespace(dev: PlanRun) -> None:
    found = release(dev)
    assert under_portal(found)
    chart = versions.CHARTS["backstage"]
    assert (chart.name, chart.version, chart.repository) == (
        "backstage",
        "2.8.2",
        "https://backstage.github.io/charts",
    )
    inputs = found.inputs
    assert inputs["version"] == chart.version
    assert inputs["repositoryOpts"] == {"repo": chart.repository}
    assert inputs["namespace"] == "backstage" and inputs["name"] == "backstage"
    assert inputs["atomic"] is True
    assert "backstage" in dev.outputs["platformNamespaces"]


def test_the_image_is_the_stacks_own_pinned_build(dev: PlanRun) -> None:
    assert values(dev)["backstage"]["image"] == {
        "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "repository": "platform/backstage",
        "tag": "1.0.0",
        "pullPolicy": "",
    }


@pytest.mark.parametrize(
    "reference, expected",
    [
        (
            "ghcr.io/acme/backstage@sha256:" + "a" * 64,
            {"registry": "ghcr.io", "repository": "acme/backstage", "digest": "sha256:" + "a" * 64},
        ),
        (
            "acme/backstage:2.1",
            {"registry": "docker.io", "repository": "acme/backstage", "tag": "2.1"},
        ),
        (
            "registry.local:5000/backstage:3@sha256:" + "b" * 64,
            {
                "registry": "registry.local:5000",
                "repository": "backstage",
                "tag": "3",
                "digest": "sha256:" + "b" * 64,
            },
        ),
    ],
)
def test_image_references_split_as_the_chart_joins_them(
    reference: str, expected: dict[str, str]
) -> None:
    assert portal.image_values(reference) == {**expected, "pullPolicy": ""}


def test_the_catalog_location_is_this_repositorys_committed_catalog(dev: PlanRun) -> None:
    config = values(dev)["backstage"]["appConfig"]
    (location,) = config["catalog"]["locations"]
    # The same repository and branch `pavedroad catalog` points its entities at.
    expected = read_settings(ROOT).source("catalog/all.yaml").removeprefix("url:")
    assert location == {"type": "url", "target": expected}
    assert (ROOT / "catalog" / "all.yaml").is_file()
    allowed_kinds = set(config["catalog"]["rules"][0]["allow"])
    assert {"Group", "System", "Component", "Resource", "Location", "Template"} <= allowed_kinds


def test_github_integration_and_sign_in_read_the_environment(dev: PlanRun) -> None:
    config = values(dev)["backstage"]["appConfig"]
    assert config["integrations"]["github"] == [{"host": "github.com", "token": "${GITHUB_TOKEN}"}]
    github = config["auth"]["providers"]["github"]["production"]
    assert github["clientId"] == "${AUTH_GITHUB_CLIENT_ID}"
    assert github["clientSecret"] == "${AUTH_GITHUB_CLIENT_SECRET}"
    assert github["signIn"] == {"resolvers": [{"resolver": "usernameMatchingUserEntityName"}]}
    (org,) = config["catalog"]["providers"]["githubOrg"]
    assert org["orgs"] == ["acme"] and org["githubUrl"] == "https://github.com"
    assert config["app"]["baseUrl"] == config["backend"]["baseUrl"] == f"https://{HOST}"
    assert values(dev)["backstage"]["extraEnvVarsSecrets"] == ["backstage-github"]


def test_github_credentials_come_from_secrets_manager_through_the_platform_store(
    dev: PlanRun,
) -> None:
    secret = one(
        r
        for r in portal_resources(dev, EXTERNAL_SECRET)
        if r.inputs["metadata"]["name"] == "backstage-github"
    )
    spec = manifest_of(secret)["spec"]
    assert spec["secretStoreRef"] == {
        "name": "platform-secrets-manager",
        "kind": "ClusterSecretStore",
    }
    assert spec["target"]["name"] == "backstage-github"
    prefix = "paved-road/dev/platform/"
    assert spec["data"] == [
        {
            "secretKey": "AUTH_GITHUB_CLIENT_ID",
            "remoteRef": {"key": f"{prefix}portal/github-oauth", "property": "clientId"},
        },
        {
            "secretKey": "AUTH_GITHUB_CLIENT_SECRET",
            "remoteRef": {"key": f"{prefix}portal/github-oauth", "property": "clientSecret"},
        },
        {
            "secretKey": "GITHUB_TOKEN",
            "remoteRef": {"key": f"{prefix}portal/github-token", "property": "token"},
        },
    ]
    # The platform store serves the portal's namespace; the release starts after the secret.
    store = one(dev.by_type("kubernetes:external-secrets.io/v1:ClusterSecretStore"))
    assert "backstage" in store.inputs["spec"]["conditions"][0]["namespaces"]
    assert secret.urn in release(dev).dependencies


def test_the_github_secrets_are_ones_the_platform_store_may_read(dev: PlanRun) -> None:
    secret = one(
        r
        for r in portal_resources(dev, EXTERNAL_SECRET)
        if r.inputs["metadata"]["name"] == "backstage-github"
    )
    (policy,) = [
        r
        for r in dev.by_type("aws:iam/rolePolicy:RolePolicy")
        if "paved-road:core:Secrets" in r.urn
    ]
    (readable,) = [
        resource
        for statement in policy_statements(policy.inputs["policy"])
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
    ]
    prefix = readable.split(":secret:")[1].rstrip("*")
    assert prefix == "paved-road/dev/platform/"
    for data in secret.inputs["spec"]["data"]:
        assert data["remoteRef"]["key"].startswith(prefix)


def test_the_ingress_is_an_https_alb_at_the_portal_host(dev: PlanRun) -> None:
    ingress = values(dev)["ingress"]
    assert ingress["enabled"] is True and ingress["className"] == "alb"
    assert ingress["host"] == HOST and ingress["tls"] == {"enabled": True, "secretName": ""}
    annotations = ingress["annotations"]
    alb = "alb.ingress.kubernetes.io"
    assert annotations[f"{alb}/scheme"] == "internal"
    assert annotations[f"{alb}/ssl-redirect"] == "443"
    assert annotations[f"{alb}/healthcheck-path"] == "/.backstage/health/v1/readiness"
    assert annotations["paved-road/external-dns"] == "publish"
    certificate = one(portal_resources(dev, "aws:acm/certificate:Certificate"))
    assert certificate.inputs["domainName"] == HOST
    record = one(portal_resources(dev, "aws:route53/record:Record"))
    assert record.inputs["zoneId"] == "Z0DEVPAVEDROAD000001"
    validation = one(portal_resources(dev, "aws:acm/certificateValidation:CertificateValidation"))
    assert validation.urn in release(dev).dependencies
    assert annotations[f"{alb}/certificate-arn"].startswith("arn:aws:acm:eu-west-1:")


def test_a_stack_may_open_the_portal_and_point_it_at_another_catalog(
    plan_with: Callable[..., PlanRun],
) -> None:
    catalog = "https://github.com/acme/platform-catalog/blob/release/catalog/all.yaml"
    run = plan_with(
        dev_with_portal(
            scheme="internet-facing",
            inboundCidrs=["198.51.100.0/24"],
            catalogUrl=catalog,
            host="backstage.dev.paved-road.example",
        )
    )
    annotations = values(run)["ingress"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "198.51.100.0/24"
    assert values(run)["ingress"]["host"] == "backstage.dev.paved-road.example"
    (location,) = values(run)["backstage"]["appConfig"]["catalog"]["locations"]
    assert location["target"] == catalog
    certificate = one(portal_resources(run, "aws:acm/certificate:Certificate"))
    assert certificate.inputs["domainName"] == "backstage.dev.paved-road.example"


# --------------------------------------------------------------------------------------------------
# The database


def test_the_database_is_a_self_service_postgres_owned_by_the_platform(dev: PlanRun) -> None:
    instance = one(portal_resources(dev, RDS))
    inputs = instance.inputs
    assert inputs["identifier"] == "paved-road-dev-platform-portal"
    assert inputs["storageEncrypted"] is True and inputs["publiclyAccessible"] is False
    assert inputs["manageMasterUserPassword"] is True and "password" not in inputs
    assert "$paved-road:resources:Postgres$" in instance.urn


def test_the_databases_security_group_admits_only_the_portals_pods(dev: PlanRun) -> None:
    groups = {r.inputs["name"]: r for r in portal_resources(dev, SECURITY_GROUP)}
    database = groups["paved-road-dev-platform-portal-postgres"]
    pods = groups["paved-road-dev-portal-pods"]
    instance = one(portal_resources(dev, RDS))
    assert len(instance.inputs["vpcSecurityGroupIds"]) == 1
    assert database.urn in instance.dependencies and pods.urn not in instance.dependencies
    (rule,) = database.inputs["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["protocol"]) == (5432, 5432, "tcp")
    assert "cidrBlocks" not in rule and len(rule["securityGroups"]) == 1
    assert database.inputs["egress"] == []
    # The only group naming that source is the portal pods' group: the namespace's pods carry it.
    policy = one(portal_resources(dev, SG_POLICY))
    assert policy.inputs["metadata"]["namespace"] == "backstage"
    assert policy.inputs["spec"]["podSelector"] == {}
    group_ids = policy.inputs["spec"]["securityGroups"]["groupIds"]
    assert rule["securityGroups"][0] == group_ids[0]
    assert pods.inputs["ingress"] == []
    # No other policy in the cluster hands the portal's group to other pods.
    for other in dev.by_type(SG_POLICY):
        if other.urn != policy.urn:
            assert group_ids[0] not in other.inputs["spec"]["securityGroups"]["groupIds"]


def test_the_database_password_reaches_backstage_through_its_own_store(dev: PlanRun) -> None:
    connection = one(
        r
        for r in portal_resources(dev, EXTERNAL_SECRET)
        if r.inputs["metadata"]["name"] == "portal-connection"
    )
    spec = connection.inputs["spec"]
    assert spec["secretStoreRef"] == {"name": "portal-database", "kind": "SecretStore"}
    assert {d["secretKey"] for d in spec["data"]} == {"username", "password"}
    store = one(portal_resources(dev, SECRET_STORE))
    assert store.inputs["metadata"]["namespace"] == "backstage"
    auth = store.inputs["spec"]["provider"]["aws"]["auth"]
    assert auth == {"jwt": {"serviceAccountRef": {"name": "portal-secrets"}}}
    # The store's role trusts only its own service account and reads only this database's secret.
    role = one(
        r for r in portal_resources(dev, "aws:iam/role:Role") if r.name == "portal-database-secrets"
    )
    (trust,) = policy_statements(role.inputs["assumeRolePolicy"])
    assert_irsa_trust(trust, "backstage", "portal-secrets")
    (grant,) = portal_resources(dev, "aws:iam/rolePolicy:RolePolicy")
    read, decrypt = policy_statements(grant.inputs["policy"])
    master_secret = {d["remoteRef"]["key"] for d in spec["data"]}
    assert len(master_secret) == 1 and master_secret.pop().startswith("arn:aws:secretsmanager:")
    assert read["Resource"] == [spec["data"][0]["remoteRef"]["key"]]
    assert decrypt["Action"] == ["kms:Decrypt"]
    env = {e["name"]: e for e in values(dev)["backstage"]["extraEnvVars"]}
    # The instance's address, as a value: the release waits for the instance.
    assert env["POSTGRES_HOST"]["value"]
    assert one(portal_resources(dev, RDS)).urn in release(dev).dependencies
    for variable, key in (
        ("POSTGRES_PORT", "port"),
        ("POSTGRES_USER", "username"),
        ("POSTGRES_PASSWORD", "password"),
    ):
        assert env[variable]["valueFrom"] == {
            "secretKeyRef": {"name": "portal-connection", "key": key}
        }
    # RDS forces TLS; Backstage verifies the server with the RDS CA bundle the image carries.
    connection_config = values(dev)["backstage"]["appConfig"]["backend"]["database"]
    assert connection_config["client"] == "pg"
    assert connection_config["connection"]["ssl"] == {
        "rejectUnauthorized": True,
        "ca": {"$file": portal.RDS_CA_BUNDLE},
    }
    assert values(dev)["postgresql"] == {"enabled": False}


def test_bundled_database_is_the_charts_and_says_so(plan_with: Callable[..., PlanRun]) -> None:
    run = plan_with(dev_with_portal(database="bundled"))
    assert values(run)["postgresql"] == {"enabled": True}
    assert portal_resources(run, RDS) == [] and portal_resources(run, SECRET_STORE) == []
    assert "ssl" not in values(run)["backstage"]["appConfig"]["backend"]["database"]["connection"]
    assert values(run)["backstage"]["extraEnvVars"] == []
    namespace = one(portal_resources(run, "kubernetes:core/v1:Namespace"))
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert not allowed(run, "backstage", "Egress", {"ip": "10.10.2.30"}, 5432)


# --------------------------------------------------------------------------------------------------
# Isolation and pod security


def test_the_namespace_is_default_deny_with_only_the_portals_openings(dev: PlanRun) -> None:
    ns = "backstage"
    names = {
        r.inputs["metadata"]["name"]
        for r in dev.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["namespace"] == ns
    }
    assert names == {
        "default-deny",
        "allow-dns",
        "allow-kube-api",
        "allow-same-namespace",
        "allow-prometheus",
        "allow-internet",
        "allow-load-balancer",
        "allow-database",
    }
    # In: the ALB (from the VPC's subnets) to the backend port only, and Prometheus.
    assert allowed(dev, ns, "Ingress", {"ip": "10.10.96.10"}, 7007)
    assert not allowed(dev, ns, "Ingress", {"ip": "10.10.96.10"}, 5432)
    assert not allowed(dev, ns, "Ingress", {"ip": "198.51.100.7"}, 7007)
    tenant = {"namespace": "payments", "labels": {"app": "checkout-api"}}
    assert not allowed(dev, ns, "Ingress", tenant, 7007)
    assert allowed(dev, ns, "Ingress", PROMETHEUS, 7007)
    # Out: GitHub over HTTPS, its database's port in the private subnets, nothing else.
    assert allowed(dev, ns, "Egress", {"ip": "140.82.112.3"}, 443)
    assert not allowed(dev, ns, "Egress", {"ip": "140.82.112.3"}, 22)
    private = stack_config("dev")["paved-road:network"]["cidr"]
    assert private == "10.10.0.0/16"
    assert allowed(dev, ns, "Egress", {"ip": "10.10.2.30"}, 5432)
    assert not allowed(dev, ns, "Egress", {"ip": "203.0.113.9"}, 5432)
    assert not allowed(dev, ns, "Egress", {"ip": "10.10.2.30"}, 6379)
    assert not allowed(dev, ns, "Egress", tenant, 8080)


def test_backstage_runs_non_root_read_only_with_resources_and_no_api_access(dev: PlanRun) -> None:
    backstage = values(dev)["backstage"]
    pod, container = backstage["podSecurityContext"], backstage["containerSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 1000
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container == {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"]},
    }
    assert backstage["extraVolumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    requests, limits = backstage["resources"]["requests"], backstage["resources"]["limits"]
    assert requests["cpu"] and requests["memory"] and limits["cpu"]
    assert limits["memory"] == requests["memory"]
    account = values(dev)["serviceAccount"]
    assert account["create"] is True and account["automountServiceAccountToken"] is False
    assert account["annotations"] == {}, "Backstage's pods have no AWS identity"
    namespace = one(portal_resources(dev, "kubernetes:core/v1:Namespace"))
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )
    cluster_wide = [
        r
        for r in dev.resources
        if under_portal(r) and r.type.startswith("kubernetes:rbac.authorization.k8s.io/v1:Cluster")
    ]
    assert cluster_wide == []


def test_production_runs_two_pods_with_a_disruption_budget(
    plan_with: Callable[..., PlanRun],
) -> None:
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:core"]["portal"] = dict(PORTAL_CONFIG)
    backstage = values(plan_with(config, "prod"))["backstage"]
    assert backstage["replicas"] == 2
    assert backstage["pdb"] == {"create": True, "minAvailable": 1}
    assert values(shipped_plan("dev"))["backstage"]["pdb"]["create"] is False


# --------------------------------------------------------------------------------------------------
# Schemas: the chart's values, Kubernetes objects, custom resources

# What values.schema.json of the backstage chart 2.8.2 (backstage/charts charts/backstage)
# declares for the keys the platform sets: the objects it closes with `additionalProperties:
# false` and the types of their properties. A misspelt or misplaced key fails here, as it fails
# `helm install` against the chart's schema.
_STRING, _BOOL, _OBJECT, _ARRAY = (
    {"type": "string"},
    {"type": "boolean"},
    {"type": "object"},
    {"type": "array"},
)
CHART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "fullnameOverride": _STRING,
        "backstage": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **{
                    key: _OBJECT
                    for key in ("podSecurityContext", "containerSecurityContext", "resources")
                },
                **{
                    key: _ARRAY
                    for key in (
                        "extraEnvVars",
                        "extraEnvVarsSecrets",
                        "extraVolumes",
                        "extraVolumeMounts",
                    )
                },
                "replicas": {"type": "integer"},
                "appConfig": {"type": ["object", "string"]},
                "image": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "registry": _STRING,
                        "repository": _STRING,
                        "tag": _STRING,
                        "digest": _STRING,
                        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never", ""]},
                        "pullSecrets": _ARRAY,
                    },
                },
                "pdb": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "create": _BOOL,
                        "minAvailable": {"type": ["string", "integer"]},
                        "maxUnavailable": {"type": ["string", "integer"]},
                    },
                },
            },
        },
        "service": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}},
        },
        "ingress": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": _BOOL,
                "className": _STRING,
                "annotations": _OBJECT,
                "host": _STRING,
                "path": _STRING,
                "tls": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"enabled": _BOOL, "secretName": _STRING},
                },
            },
        },
        "serviceAccount": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "create": _BOOL,
                "name": _STRING,
                "annotations": _OBJECT,
                "automountServiceAccountToken": _BOOL,
            },
        },
        "networkPolicy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"enabled": _BOOL},
        },
        "postgresql": {"type": "object", "properties": {"enabled": _BOOL}},
    },
    "additionalProperties": False,
}


def test_values_fit_the_charts_schema(dev: PlanRun, plan_with: Callable[..., PlanRun]) -> None:
    for run in (dev, plan_with(dev_with_portal(database="bundled"))):
        jsonschema.validate(values(run), CHART_SCHEMA)
    broken = copy.deepcopy(values(dev))
    broken["backstage"]["image"]["version"] = "1.0.0"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, CHART_SCHEMA)


def test_the_portals_objects_are_valid_kubernetes_and_custom_resources(dev: PlanRun) -> None:
    objects = kubernetes_objects([r for r in dev.resources if under_portal(r)])
    kinds = {o["kind"] for o in objects}
    assert {
        "Namespace",
        "NetworkPolicy",
        "ServiceAccount",
        "ExternalSecret",
        "SecretStore",
    } <= kinds
    require_crds()
    for manifest in objects:
        if manifest["kind"] == "SecurityGroupPolicy":
            continue  # EKS's VPC resource controller serves it; its CRD is not in ../shared/crds
        if manifest["apiVersion"].startswith("external-secrets.io/"):
            assert crd_errors(manifest) == [], manifest["metadata"]["name"]
        else:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


# --------------------------------------------------------------------------------------------------
# The plan summary, the policy pack


def test_the_plan_names_the_portal_and_its_database_and_passes_the_policies(
    tmp_path: Path,
) -> None:
    result = pavedroad("plan", "dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No policy violations." in result.stdout
    assert f"  https://{HOST}: Backstage chart 2.8.2, image " in result.stdout
    assert "  database: RDS postgres " in result.stdout
    tenant_lines = result.stdout.split("Tenant resources", 1)[1].split("\n\n", 1)[0]
    assert "portal" not in tenant_lines, "the portal's database is the platform's"


def test_the_summary_states_a_bundled_database_is_for_development(
    plan_with: Callable[..., PlanRun],
) -> None:
    from pavedroad.plan import summary

    text = summary(plan_with(dev_with_portal(database="bundled")))
    assert "  database: the chart's bundled PostgreSQL (development only)" in text


# --------------------------------------------------------------------------------------------------
# Configuration errors


def _refused(
    project: Callable[..., Path], config: dict[str, Any], field: str, message: str
) -> None:
    engine = PlanEngine("test", project(config))
    assert_refused(engine, FILE, field, message)
    assert engine.recorded == []


def test_bundled_database_is_refused_in_production(project: Callable[..., Path]) -> None:
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:core"]["portal"] = {**PORTAL_CONFIG, "database": "bundled"}
    _refused(project, config, "paved-road:core.portal.database", "development only")


def test_an_enabled_portal_needs_an_image(project: Callable[..., Path]) -> None:
    config = dev_with_portal()
    del config["paved-road:core"]["portal"]["image"]
    _refused(
        project, config, "paved-road:core.portal.image", "Backstage publishes no production image"
    )


@pytest.mark.parametrize(
    "image, message",
    [
        ("acme/backstage:latest", "mutable tag 'latest'"),
        ("acme/backstage", "no tag or digest"),
        ("Not An Image", "not an image reference"),
    ],
)
def test_the_image_is_pinned_like_apps_images(
    project: Callable[..., Path], image: str, message: str
) -> None:
    _refused(project, dev_with_portal(image=image), "paved-road:core.portal.image", message)


def test_an_enabled_portal_needs_a_dns_zone(project: Callable[..., Path]) -> None:
    config = dev_with_portal()
    config["paved-road:core"]["dns"] = {"zones": []}
    config["paved-road:core"]["certManager"] = {"issuer": "none"}
    _refused(project, config, "paved-road:core.portal.host", "none is configured")


def test_a_host_outside_the_zones_is_refused(project: Callable[..., Path]) -> None:
    config = dev_with_portal(host="portal.elsewhere.example")
    _refused(project, config, "paved-road:core.portal.host", "is in none of the zones")


def test_a_host_in_a_tenants_subdomain_is_refused(project: Callable[..., Path]) -> None:
    config = dev_with_portal(host="portal.payments.dev.paved-road.example")
    _refused(project, config, "paved-road:core.portal.host", "belongs to tenant 'payments'")


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"githubOrg": None}, "paved-road:core.portal.githubOrg", "is required"),
        ({"githubOrg": "-acme"}, "paved-road:core.portal.githubOrg", "a GitHub organisation"),
        (
            {"githubTokenSecretName": "arn:aws:secretsmanager:eu-west-1:1:secret:x"},
            "paved-road:core.portal.githubTokenSecretName",
            "outside this file's secrets prefix",
        ),
        (
            {"catalogUrl": "http://example.com/all.yaml"},
            "paved-road:core.portal.catalogUrl",
            "https",
        ),
        ({"database": "sqlite"}, "paved-road:core.portal.database", "postgres"),
        ({"token": "ghp_x"}, "paved-road:core.portal.token", "unknown field"),
    ],
)
def test_bad_portal_fields_name_the_file_and_field(
    project: Callable[..., Path], changes: dict[str, Any], field: str, message: str
) -> None:
    config = dev_with_portal(**changes)
    config["paved-road:core"]["portal"] = {
        k: v for k, v in config["paved-road:core"]["portal"].items() if v is not None
    }
    _refused(project, config, field, message)


@pytest.mark.parametrize("service", ["ingress", "secrets"])
def test_the_portal_needs_the_load_balancer_and_the_secrets_service(
    project: Callable[..., Path], service: str
) -> None:
    config = dev_with_portal()
    config["paved-road:core"][service] = {"enabled": False}
    _refused(project, config, "paved-road:core.portal.enabled", service)


def test_the_command_line_exits_2_on_a_bad_portal(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:core"]["portal"] = {**PORTAL_CONFIG, "database": "bundled"}
    root = make_project(tmp_path, config, "prod")
    result = pavedroad("plan", "prod", "-C", str(root), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "stacks/Pulumi.prod.yaml: paved-road:core.portal.database" in output
    assert not (tmp_path / "out").exists()
