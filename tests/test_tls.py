"""TLS everywhere a user connects: app Ingresses and Argo CD serve HTTPS with an ACM certificate.

Annotation names and values follow the AWS Load Balancer Controller's documentation for the pinned
v2.13 (kubernetes-sigs/aws-load-balancer-controller, docs/guide/ingress/annotations.md and
docs/guide/ingress/cert_discovery.md at tag v2.13.2):

- `listen-ports` is JSON (`'[{"HTTP": 80}, {"HTTPS": 443}]'`); `ssl-redirect` is the HTTPS port
  as a string (`'443'`), and with it every HTTP listener only redirects;
- `ssl-policy` defaults to ELBSecurityPolicy-2016-08 (TLS 1.0) when not set
  (docs/deploy/configurations.md, `default-ssl-policy`);
- `group.name`: lowercase alphanumerics, `-` and `.`, at most 63 characters; `scheme`,
  `ssl-redirect` and `ssl-policy` are "exclusive" within a group (one value for every member);
- without `certificate-arn` the controller discovers ACM certificates from `spec.tls` hosts and
  rule hosts.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pulumi_aws
import pytest
import yaml
from pulumi.runtime.mocks import MockResourceArgs

from components.config import ConfigError
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.mocks import ACCOUNT_ID, PlatformMocks
from tests.conftest import make_project, pavedroad, shipped_plan, stack_config

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CERTIFICATE = "aws:acm/certificate:Certificate"
RECORD = "aws:route53/record:Record"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RELEASE = "kubernetes:helm.sh/v3:Release"
ALB = "alb.ingress.kubernetes.io"
TLS13_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
GROUP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
TENANT = "paved-road:tenants:Tenant"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bad/api:1.0.0"


def app_ingresses(plan: PlanRun) -> list[RecordedResource]:
    return [r for r in plan.by_type(INGRESS) if f"{TENANT}$" in r.urn]


def tenant_of(plan: PlanRun, resource: RecordedResource) -> str:
    return plan.get(resource.parent).name if resource.parent else ""


def annotations(resource: RecordedResource) -> dict[str, str]:
    return resource.inputs["metadata"]["annotations"]


def host_of(ingress: RecordedResource) -> str:
    """The app's own host: its first rule (a tenant's `dns` resources add rules after it)."""
    return ingress.inputs["spec"]["rules"][0]["host"]


def by_name(plan: PlanRun, type_: str, name: str) -> RecordedResource:
    (found,) = [r for r in plan.by_type(type_) if r.name == name]
    return found


def zone_ids(stack: str) -> dict[str, str]:
    zones = stack_config(stack)["paved-road:core"]["dns"]["zones"]
    return {zone["domain"]: zone["id"] for zone in zones}


def argocd_values(plan: PlanRun) -> dict[str, Any]:
    (release,) = [r for r in plan.by_type(RELEASE) if r.inputs["chart"] == "argo-cd"]
    return release.inputs["values"]


# --------------------------------------------------------------------------------------------------
# App Ingresses in the shipped plans


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_app_ingress_listens_on_https_redirects_http_and_uses_tls13(stack: str) -> None:
    plan = shipped_plan(stack)
    ingresses = app_ingresses(plan)
    assert len(ingresses) == 4, "checkout-api, search-api, storefront-web, recommendations"
    for ingress in ingresses:
        found = annotations(ingress)
        assert found[f"{ALB}/scheme"] == "internet-facing"
        assert found[f"{ALB}/target-type"] == "ip"
        assert json.loads(found[f"{ALB}/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
        assert found[f"{ALB}/ssl-redirect"] == "443"
        assert found[f"{ALB}/ssl-policy"] == TLS13_POLICY
        assert found[f"{ALB}/certificate-arn"].startswith(f"arn:aws:acm:eu-west-1:{ACCOUNT_ID}:")
        host = host_of(ingress)
        hosts = [rule["host"] for rule in ingress.inputs["spec"]["rules"]]
        assert host == hosts[0]
        assert ingress.inputs["spec"]["tls"] == [{"hosts": hosts}]
        tenant = tenant_of(plan, ingress)
        tags = dict(pair.split("=", 1) for pair in found[f"{ALB}/tags"].split(","))
        assert tags["paved-road:environment"] == stack and tags["paved-road:tenant"] == tenant


def test_apps_without_a_host_are_served_under_the_first_zone() -> None:
    plan = shipped_plan("dev")
    hosts = {
        (tenant_of(plan, i), i.inputs["metadata"]["name"]): host_of(i) for i in app_ingresses(plan)
    }
    assert hosts == {
        ("payments", "checkout-api"): "checkout-api.payments.dev.paved-road.example",
        ("search", "search-api"): "search-api.search.dev.paved-road.example",
        ("storefront", "storefront-web"): "storefront-web.storefront.dev.paved-road.example",
        ("storefront", "recommendations"): "recommendations.storefront.dev.paved-road.example",
    }


def test_one_load_balancer_per_tenant_shared_by_its_apps() -> None:
    """One IngressGroup per tenant: every app of a tenant joins the same group, no two tenants
    share one, and the group's "exclusive" annotations agree across its members."""
    plan = shipped_plan("dev")
    groups: dict[str, set[str]] = {}
    exclusive: dict[str, set[tuple[str, str, str]]] = {}
    for ingress in app_ingresses(plan):
        found = annotations(ingress)
        group = found[f"{ALB}/group.name"]
        assert GROUP_NAME.match(group), group
        groups.setdefault(group, set()).add(tenant_of(plan, ingress))
        exclusive.setdefault(group, set()).add(
            tuple(found[f"{ALB}/{key}"] for key in ("scheme", "ssl-redirect", "ssl-policy"))
        )
    assert groups == {
        "tenant-payments": {"payments"},
        "tenant-search": {"search"},
        "tenant-storefront": {"storefront"},
    }
    assert all(len(values) == 1 for values in exclusive.values()), exclusive
    storefront = [i for i in app_ingresses(plan) if tenant_of(plan, i) == "storefront"]
    assert len(storefront) == 2, "two apps, one ALB"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_app_host_has_a_certificate_validated_in_its_zone(stack: str) -> None:
    """Certificate → validation record in the zone holding the host → CertificateValidation;
    the Ingress carries the validation's ARN, so it is created once ACM has issued it."""
    plan = shipped_plan(stack)
    zones = zone_ids(stack)
    for ingress in app_ingresses(plan):
        host, tenant = host_of(ingress), tenant_of(plan, ingress)
        prefix = ingress.name  # `<tenant>/<app>/ingress`
        certificate = by_name(plan, CERTIFICATE, f"{prefix}/certificate")
        record = by_name(plan, RECORD, f"{prefix}/certificate-validation-record")
        validation = by_name(plan, VALIDATION, f"{prefix}/certificate-validation")
        assert certificate.inputs["domainName"] == host
        assert certificate.inputs["validationMethod"] == "DNS"
        assert certificate.inputs["tags"]["paved-road:environment"] == stack
        assert certificate.inputs["tags"]["paved-road:tenant"] == tenant
        assert all(r.parent == ingress.parent for r in (certificate, record, validation))
        (zone,) = [domain for domain in zones if host.endswith(f".{domain}")]
        assert record.inputs["zoneId"] == zones[zone]
        assert record.inputs["type"] == "CNAME"
        assert record.inputs["name"].startswith("_") and record.inputs["name"].endswith(f".{host}.")
        assert record.inputs["records"][0].endswith(".acm-validations.aws.")
        assert certificate.urn in record.dependencies
        assert record.urn in validation.dependencies
        assert validation.inputs["validationRecordFqdns"] == [record.inputs["name"].rstrip(".")]
        arn = validation.inputs["certificateArn"]
        assert arn.startswith(f"arn:aws:acm:eu-west-1:{ACCOUNT_ID}:certificate/")
        # The app's own certificate first; a `dns` resource's name adds its own after it.
        assert annotations(ingress)[f"{ALB}/certificate-arn"].split(",")[0] == arn
        assert validation.urn in ingress.dependencies


# --------------------------------------------------------------------------------------------------
# The mock's ACM and Route 53 outputs, as the provider shapes them


def test_mocked_certificate_outputs_have_the_providers_shape() -> None:
    """`domainValidationOptions` is a list of objects whose keys are the wire names of
    pulumi_aws/acm/outputs.py `CertificateDomainValidationOption` (read off the SDK's getters, so
    an SDK that renamed one fails here); the ARN is ACM's `certificate/<uuid>`; the record is
    ACM's `_<token>.<domain>.` CNAME to `_<token>.<token>.acm-validations.aws.`. A Route 53
    record's `fqdn` has no trailing dot (pulumi_aws/route53/record.py, `fqdn`)."""
    option_type = pulumi_aws.acm.outputs.CertificateDomainValidationOption
    wire_names = {
        getattr(prop.fget, "_pulumi_name")
        for prop in vars(option_type).values()
        if isinstance(prop, property)
    }
    assert wire_names == {
        "domainName",
        "resourceRecordName",
        "resourceRecordType",
        "resourceRecordValue",
    }
    mocks = PlatformMocks("eu-west-1")
    host = "api.team.dev.paved-road.example"
    _, outputs = mocks.new_resource(
        MockResourceArgs(CERTIFICATE, "cert", {"domainName": host, "validationMethod": "DNS"})
    )
    assert re.fullmatch(
        rf"arn:aws:acm:eu-west-1:{ACCOUNT_ID}:certificate/"
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        outputs["arn"],
    )
    (option,) = outputs["domainValidationOptions"]
    assert set(option) == wire_names
    assert option["domainName"] == host
    assert option["resourceRecordType"] == "CNAME"
    assert re.fullmatch(rf"_[0-9a-f]{{32}}\.{re.escape(host)}\.", option["resourceRecordName"])
    assert re.fullmatch(
        r"_[0-9a-f]{32}\.[0-9a-z]{10}\.acm-validations\.aws\.", option["resourceRecordValue"]
    )
    _, record = mocks.new_resource(
        MockResourceArgs(RECORD, "record", {"name": option["resourceRecordName"], "type": "CNAME"})
    )
    assert record["fqdn"] == option["resourceRecordName"].rstrip(".")


# --------------------------------------------------------------------------------------------------
# Argo CD


def test_argocd_has_an_https_ingress_at_its_hostname() -> None:
    """The argo-cd chart (argoproj/argo-helm charts/argo-cd, values.yaml `server.ingress` and
    templates/argocd-server/aws/ingress.yaml + aws/service.yaml): with `controller: aws` it
    renders one Ingress at `server.ingress.hostname` with a gRPC rule (by Content-Type) to the
    `argocd-server-grpc` Service (`server.ingress.aws.serviceType`, `backendProtocolVersion`) and
    a rule to `argocd-server`, on the HTTPS port while `configs.params."server.insecure"` is not
    "true" — so the ALB must speak HTTPS to it (`backend-protocol`)."""
    plan = shipped_plan("prod")
    values = argocd_values(plan)
    ingress = values["server"]["ingress"]
    hostname = "argocd.paved-road.example"
    assert values["global"]["domain"] == hostname
    assert {k: ingress[k] for k in ("enabled", "controller", "ingressClassName", "hostname")} == {
        "enabled": True,
        "controller": "aws",
        "ingressClassName": "alb",
        "hostname": hostname,
    }
    assert ingress["aws"] == {"serviceType": "ClusterIP", "backendProtocolVersion": "GRPC"}
    assert values["configs"]["params"]["server.insecure"] is False
    found = ingress["annotations"]
    assert found[f"{ALB}/backend-protocol"] == "HTTPS"
    assert found[f"{ALB}/scheme"] == "internal", "Argo CD stays off the internet by default"
    assert found[f"{ALB}/target-type"] == "ip"
    assert json.loads(found[f"{ALB}/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert found[f"{ALB}/ssl-redirect"] == "443"
    assert found[f"{ALB}/ssl-policy"] == TLS13_POLICY
    certificate = by_name(plan, CERTIFICATE, "gitops-argocd/certificate")
    record = by_name(plan, RECORD, "gitops-argocd/certificate-validation-record")
    validation = by_name(plan, VALIDATION, "gitops-argocd/certificate-validation")
    assert certificate.inputs["domainName"] == hostname
    assert certificate.inputs["tags"]["paved-road:environment"] == "prod"
    assert record.inputs["zoneId"] == zone_ids("prod")["paved-road.example"]
    assert found[f"{ALB}/certificate-arn"] == validation.inputs["certificateArn"]
    (release,) = [r for r in plan.by_type(RELEASE) if r.inputs["chart"] == "argo-cd"]
    assert validation.urn in release.dependencies


def test_argocd_scheme_and_sources_are_stack_config(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:core"]["gitops"]["ingress"] = {
        "scheme": "internet-facing",
        "inboundCidrs": ["198.51.100.0/24", "203.0.113.0/24"],
    }
    plan = PlanEngine("prod", make_project(tmp_path, config, "prod")).run()
    found = argocd_values(plan)["server"]["ingress"]["annotations"]
    assert found[f"{ALB}/scheme"] == "internet-facing"
    assert found[f"{ALB}/inbound-cidrs"] == "198.51.100.0/24,203.0.113.0/24"


def test_argocd_certificate_can_be_discovered_by_host(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:core"]["gitops"]["hostname"] = "deploy.acme.example"
    config["paved-road:core"]["gitops"]["ingress"] = {"certificate": "discover"}
    plan = PlanEngine("prod", make_project(tmp_path, config, "prod")).run()
    ingress = argocd_values(plan)["server"]["ingress"]
    assert ingress["hostname"] == "deploy.acme.example"
    assert f"{ALB}/certificate-arn" not in ingress["annotations"]
    assert not [r for r in plan.by_type(CERTIFICATE) if r.name.startswith("gitops")]


# --------------------------------------------------------------------------------------------------
# Config: which zone, and what the platform refuses


def project_with_app(tmp_path: Path, app: dict[str, Any]) -> Path:
    """The dev stack plus a tenant `bad` running one api-service; the stack grants `bad` its
    app's host (a name outside `*.bad.<zone>` needs the grant)."""
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:tenants"].append(
        {"name": "bad", "hosts": [app["host"]]} if "host" in app else "bad"
    )
    root = make_project(tmp_path, config, "dev")
    document = {
        "name": "bad",
        "costCenter": "cc-1",
        "domain": "commerce",
        "owners": ["arn:aws:iam::123456789012:role/bad-admins"],
        "apps": [{"name": "api", "template": "api-service", "image": IMAGE, **app}],
    }
    (root / "tenants" / "bad.yaml").write_text(yaml.safe_dump(document))
    return root


def config_issues(root: Path) -> list[tuple[str, str, str]]:
    engine = PlanEngine("dev", root)
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert engine.recorded == [], "nothing is registered from a broken config"
    return [(i.file, i.field, i.message) for i in raised.value.issues]


def test_a_host_outside_every_zone_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    root = project_with_app(tmp_path, {"host": "api.elsewhere.example"})
    ((file, field, message),) = config_issues(root)
    assert (file, field) == ("tenants/bad.yaml", "apps[0].host")
    assert "'api.elsewhere.example' is in none of the zones" in message
    assert "dev.paved-road.example" in message and "certificate: discover" in message
    result = pavedroad("plan", "dev", "-C", str(root))
    assert result.returncode == 2
    assert "tenants/bad.yaml: apps[0].host: 'api.elsewhere.example'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (root / "build").exists()


def test_a_host_outside_the_zones_is_fine_with_a_discovered_certificate(tmp_path: Path) -> None:
    root = project_with_app(tmp_path, {"host": "api.elsewhere.example", "certificate": "discover"})
    plan = PlanEngine("dev", root).run()
    (ingress,) = [i for i in app_ingresses(plan) if tenant_of(plan, i) == "bad"]
    assert f"{ALB}/certificate-arn" not in annotations(ingress)
    assert ingress.inputs["spec"]["tls"] == [{"hosts": ["api.elsewhere.example"]}]
    assert annotations(ingress)[f"{ALB}/group.name"] == "tenant-bad"
    assert not [r for r in plan.by_type(CERTIFICATE) if r.name.startswith("bad/")]


def test_a_host_in_a_nested_zone_is_validated_in_the_most_specific_zone(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["dns"]["zones"].append(
        {"id": "Z0DEVAPIZONE00000001", "domain": "api.dev.paved-road.example"}
    )
    root = make_project(tmp_path, config, "dev")
    document = yaml.safe_load((root / "tenants" / "search.yaml").read_text())
    document["apps"][0]["host"] = "web.search.api.dev.paved-road.example"
    (root / "tenants" / "search.yaml").write_text(yaml.safe_dump(document))
    plan = PlanEngine("dev", root).run()
    record = by_name(plan, RECORD, "search/search-api/ingress/certificate-validation-record")
    assert record.inputs["zoneId"] == "Z0DEVAPIZONE00000001"


def test_hosts_acm_cannot_certify_or_served_twice_are_config_errors(tmp_path: Path) -> None:
    long_host = "a" * 50 + ".dev.paved-road.example"
    root = project_with_app(tmp_path, {"host": long_host})
    ((file, field, message),) = config_issues(root)
    assert (file, field) == ("tenants/bad.yaml", "apps[0].host")
    assert "longer than 64" in message
    taken = "search-api.search.dev.paved-road.example"
    (root / "tenants" / "bad.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "bad",
                "costCenter": "cc-1",
                "domain": "commerce",
                "owners": ["arn:aws:iam::123456789012:role/bad-admins"],
                "apps": [{"name": "api", "template": "api-service", "image": IMAGE, "host": taken}],
            }
        )
    )
    # Tenants are checked in name order: the second claim of the host is the one reported (and
    # `bad` may not take a name under search's subdomain in the first place).
    issues = config_issues(root)
    assert (
        "tenants/search.yaml",
        "apps[0].host",
        f"{taken!r} is already served by app 'api' of tenant 'bad'",
    ) in issues
    assert [(f, i) for f, i, _ in issues] == [
        ("tenants/bad.yaml", "apps[0].host"),
        ("tenants/search.yaml", "apps[0].host"),
    ]


def test_an_api_service_needs_a_host_when_no_zone_can_name_one(tmp_path: Path) -> None:
    config = {
        "aws:region": "eu-west-1",
        # The storefront reads feature flags (README, "Feature flags").
        "paved-road:delivery": {"flags": "openfeature"},
        "paved-road:tenants": ["storefront"],
    }
    root = make_project(tmp_path, config, "dev")
    issues = config_issues(root)
    assert [(file, field) for file, field, _ in issues] == [
        ("tenants/storefront.yaml", "apps[0].host"),
        ("tenants/storefront.yaml", "apps[1].host"),
    ]
    assert issues[0][2].startswith("is required: app 'storefront-web' is served over HTTPS")


def test_argocd_hostname_outside_every_zone_is_a_config_error(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["gitops"] = {"hostname": "argocd.elsewhere.example"}
    root = make_project(tmp_path, config, "dev")
    ((file, field, message),) = config_issues(root)
    assert (file, field) == ("stacks/Pulumi.dev.yaml", "paved-road:core.gitops.hostname")
    assert "'argocd.elsewhere.example' is in none of the zones" in message
