"""Alerts reach their owner: tenants' receivers and AlertmanagerConfigs, the platform's routing
tree, the Alertmanager's selection of them, and DevOps Guru (components/insight/routing.py,
components/insight/devops_guru.py).

Upstream behaviour the tests rely on:
- prometheus-operator's AlertmanagerConfig CRD (../shared/crds/prometheus-operator,
  `spec.route.matchers`): "For the first level route, the operator removes any existing equality
  and regexp matcher on the `namespace` label and adds a `namespace: <object namespace>`
  matcher" under the `OnNamespace` strategy, and `continue` "will always be overridden to true
  for the first-level route".
- prometheus-operator pkg/apis/monitoring/v1/alertmanager_types.go: `alertmanagerConfiguration`
  names an AlertmanagerConfig in the Alertmanager's namespace for which "the operator will not
  enforce a `namespace` label"; `global.smtp` is GlobalSMTPConfig (from, smartHost{host, port},
  authUsername, authPassword).
- prometheus-community/helm-charts charts/kube-prometheus-stack values.yaml and
  templates/alertmanager/alertmanager.yaml: `alertmanager.alertmanagerSpec.
  alertmanagerConfigSelector`, `alertmanagerConfigNamespaceSelector`,
  `alertmanagerConfiguration`, `alertmanagerConfigMatcherStrategy` are copied into the
  Alertmanager object.
- pulumi_aws devopsguru/_inputs.py: ResourceCollectionTagsArgs(app_boundary_key, tag_values),
  the key "must begin with the prefix `DevOps-Guru-`".
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import DEVOPS_GURU_TAG
from components.insight.contract import SEVERITY_PAGE, SEVERITY_TICKET
from pavedroad.engine import PlanEngine, PlanRun
from tests.conftest import (
    make_project,
    one,
    policy_statements,
    project_with_tenant_bad,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors

AMC = "kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
STACK_FILE = "stacks/Pulumi.dev.yaml"

RECEIVERS = {
    "receivers": [
        {"type": "pagerduty", "secretName": "alerts/pagerduty"},
        {"type": "slack", "secretName": "alerts/slack", "key": "webhookUrl", "channel": "#team"},
        {"type": "email", "to": ["team@example.com"]},
    ]
}


def manifest(resource: Any) -> dict[str, Any]:
    inputs = resource.inputs
    return {
        "apiVersion": inputs["apiVersion"],
        "kind": inputs["kind"],
        "metadata": inputs["metadata"],
        "spec": inputs["spec"],
    }


def configs_of(run: PlanRun, namespace: str | None = None) -> list[dict[str, Any]]:
    found = [manifest(r) for r in run.by_type(AMC)]
    return [m for m in found if namespace is None or m["metadata"]["namespace"] == namespace]


def tenant_configs(run: PlanRun) -> list[dict[str, Any]]:
    return [m for m in configs_of(run) if m["metadata"]["namespace"] != "monitoring"]


def alertmanager_spec(run: PlanRun) -> dict[str, Any]:
    release = one(
        r
        for r in run.by_type("kubernetes:helm.sh/v3:Release")
        if r.inputs.get("chart") == "kube-prometheus-stack"
    )
    return release.inputs["values"]["alertmanager"]["alertmanagerSpec"]


@pytest.fixture(scope="module")
def dev() -> PlanRun:
    return shipped_plan("dev")


@pytest.fixture(scope="module")
def prod() -> PlanRun:
    return shipped_plan("prod")


# --------------------------------------------------------------------------------------------------
# Tenants' AlertmanagerConfigs


def test_every_alertmanager_config_validates_against_the_crd(dev: PlanRun) -> None:
    found = configs_of(dev)
    assert len(found) >= 3  # the platform's and payments' two namespaces
    for config in found:
        assert crd_errors(config) == [], config["metadata"]


def test_a_tenant_with_receivers_gets_one_config_in_each_of_its_namespaces(dev: PlanRun) -> None:
    """OnNamespace matches a config to its own namespace's alerts only, and quota and volume
    alerts fire in every namespace of the team: one config per namespace."""
    namespaces = sorted(m["metadata"]["namespace"] for m in tenant_configs(dev))
    assert namespaces == ["payments", "payments-jobs"]
    for config in tenant_configs(dev):
        assert config["metadata"]["labels"]["paved-road/alert-routing"] == "tenant"
        assert config["metadata"]["labels"]["paved-road/tenant"] == "payments"


def test_routing_by_severity_pages_to_pagerduty_and_tickets_to_slack_and_email(
    tmp_path: Path,
) -> None:
    # The dev stack (copied) names the platform's mail server, which e-mail receivers need.
    root, _ = project_with_tenant_bad(tmp_path, {"alerts": RECEIVERS})
    run = PlanEngine("dev", root).run()
    (config,) = configs_of(run, "bad")
    spec = config["spec"]
    route = spec["route"]
    receivers = {r["name"]: r for r in spec["receivers"]}
    assert route["matchers"] == [{"name": "tenant", "value": "bad", "matchType": "="}]
    (page_route,) = route["routes"]
    assert page_route["matchers"] == [
        {"name": "severity", "value": SEVERITY_PAGE, "matchType": "="}
    ]
    page, ticket = receivers[page_route["receiver"]], receivers[route["receiver"]]
    assert set(page) == {"name", "pagerdutyConfigs"}
    assert page["pagerdutyConfigs"][0]["routingKey"] == {
        "name": "alert-receivers",
        "key": "pagerduty",
    }
    assert set(ticket) == {"name", "slackConfigs", "emailConfigs"}
    assert ticket["slackConfigs"][0]["apiURL"] == {"name": "alert-receivers", "key": "slack"}
    assert ticket["slackConfigs"][0]["channel"] == "#team"
    assert ticket["emailConfigs"] == [{"to": "team@example.com", "sendResolved": True}]
    assert crd_errors(config) == []


def test_grouping_by_app_and_alertname(dev: PlanRun) -> None:
    for config in tenant_configs(dev):
        assert sorted(config["spec"]["route"]["groupBy"]) == ["alertname", "app"]


def test_a_page_inhibits_the_ticket_of_the_same_slo_and_app(dev: PlanRun) -> None:
    for config in tenant_configs(dev):
        (rule,) = config["spec"]["inhibitRules"]
        source = {m["name"]: m["value"] for m in rule["sourceMatch"]}
        target = {m["name"]: m["value"] for m in rule["targetMatch"]}
        assert source["severity"] == SEVERITY_PAGE and target["severity"] == SEVERITY_TICKET
        assert sorted(rule["equal"]) == ["app", "slo"]


def _matchers(route: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(route.get("matchers", []))
    for child in route.get("routes", []):
        found += _matchers(child)
    return found


def test_a_tenants_config_never_matches_another_tenants_namespace(dev: PlanRun) -> None:
    """The Alertmanager enforces OnNamespace (the operator then pins each tenant config's top
    route and inhibitions to `namespace=<its namespace>`), selects only tenant-labelled
    namespaces, and no tenant route or inhibition tries a `namespace` matcher of its own."""
    spec = alertmanager_spec(dev)
    assert spec["alertmanagerConfigMatcherStrategy"] == {"type": "OnNamespace"}
    assert spec["alertmanagerConfigSelector"] == {
        "matchLabels": {"paved-road/alert-routing": "tenant"}
    }
    assert spec["alertmanagerConfigNamespaceSelector"] == {
        "matchExpressions": [{"key": "paved-road/tenant", "operator": "Exists"}]
    }
    assert spec["alertmanagerConfiguration"]["name"] == "platform-alerts"
    for config in tenant_configs(dev):
        matchers = _matchers(config["spec"]["route"])
        for rule in config["spec"]["inhibitRules"]:
            matchers += rule["sourceMatch"] + rule["targetMatch"]
        assert all(m["name"] != "namespace" for m in matchers), config["metadata"]
        # The platform's own config is not a tenant config: it is not selected as one.
        assert config["metadata"]["name"] != "platform-alerts"


# --------------------------------------------------------------------------------------------------
# Receivers' secrets


def test_external_secrets_read_the_tenants_own_prefix_through_its_own_store(
    dev: PlanRun,
) -> None:
    secrets = [
        manifest(r)
        for r in dev.by_type(EXTERNAL_SECRET)
        if r.inputs["metadata"]["namespace"] in ("payments", "payments-jobs")
        # The team's resources' connection Secrets are tests/test_resources.py's, its
        # release notifications' tests/test_release_notifications.py's.
        and "paved-road/resource" not in (r.inputs["metadata"].get("annotations") or {})
        and r.inputs["metadata"]["name"] != "argo-rollouts-notification-secret"
    ]
    assert len(secrets) == 2
    for secret in secrets:
        assert crd_errors(secret) == []
        spec = secret["spec"]
        assert spec["secretStoreRef"] == {"name": "tenant-secrets", "kind": "SecretStore"}
        assert spec["target"]["name"] == "alert-receivers"
        keys = {d["secretKey"]: d["remoteRef"] for d in spec["data"]}
        assert keys == {
            "pagerduty": {"key": "paved-road/dev/tenants/payments/alerts/pagerduty"},
            "slack": {
                "key": "paved-road/dev/tenants/payments/alerts/slack",
                "property": "webhookUrl",
            },
        }


def test_the_platforms_receivers_are_read_through_the_cluster_store(dev: PlanRun) -> None:
    (secret,) = [
        manifest(r)
        for r in dev.by_type(EXTERNAL_SECRET)
        if r.inputs["metadata"]["namespace"] == "monitoring"
    ]
    assert crd_errors(secret) == []
    assert secret["spec"]["secretStoreRef"]["kind"] == "ClusterSecretStore"
    for entry in secret["spec"]["data"]:
        # The platform's receivers, and the domain squads' under their own folder.
        key = entry["remoteRef"]["key"]
        assert key.startswith("paved-road/dev/platform/alerts/") or (
            entry["secretKey"].startswith("domain-commerce-")
            and key.startswith("paved-road/dev/platform/domains/commerce/")
        ), key


def test_the_platform_tree_routes_only_alerts_without_a_tenant(dev: PlanRun) -> None:
    (config,) = configs_of(dev, "monitoring")
    assert crd_errors(config) == []
    routes = config["spec"]["route"]["routes"]
    # Watchdog, then the squads' copies of their teams' alerts (tests/test_governance.py), then
    # every other tenant alert dropped.
    squads = [r for r in routes if r["receiver"].startswith("domain-")]
    assert routes[1 + len(squads)] == {
        "receiver": "null",
        "matchers": [{"name": "tenant", "value": ".+", "matchType": "=~"}],
    }
    receivers = {r["name"] for r in config["spec"]["receivers"]}
    squad_receivers = {f"domain-commerce-{kind}" for kind in ("page", "ticket")}
    assert {"page", "ticket", "null"} | squad_receivers == receivers
    smtp = alertmanager_spec(dev)["alertmanagerConfiguration"]["global"]["smtp"]
    assert smtp["smartHost"] == {"host": "email-smtp.eu-west-1.amazonaws.com", "port": "587"}
    assert smtp["authPassword"] == {"name": "alert-receivers", "key": "smtp-password"}


# --------------------------------------------------------------------------------------------------
# Configuration errors


BAD_RECEIVERS = {
    "unknown type": (
        {"receivers": [{"type": "teams", "secretName": "alerts/teams"}]},
        "alerts.receivers[0].type",
        "unknown receiver type 'teams'",
    ),
    "bad secret name": (
        {"receivers": [{"type": "slack", "secretName": "alerts/slack hook"}]},
        "alerts.receivers[0].secretName",
        "not a Secrets Manager name",
    ),
    "outside its prefix": (
        {"receivers": [{"type": "slack", "secretName": "../search/alerts/slack"}]},
        "alerts.receivers[0].secretName",
        "outside this file's secrets prefix",
    ),
    "an ARN": (
        {
            "receivers": [
                {
                    "type": "pagerduty",
                    "secretName": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x",
                }
            ]
        },
        "alerts.receivers[0].secretName",
        "outside this file's secrets prefix",
    ),
    "another tenant's prefix": (
        {"receivers": [{"type": "slack", "secretName": "paved-road/dev/tenants/search/slack"}]},
        "alerts.receivers[0].secretName",
        "outside this file's secrets prefix",
    ),
    "slack without secret": (
        {"receivers": [{"type": "slack"}]},
        "alerts.receivers[0].secretName",
        "needs the secret",
    ),
    "email without addresses": (
        {"receivers": [{"type": "email"}]},
        "alerts.receivers[0].to",
        "needs addresses",
    ),
    "two receivers one name": (
        {
            "receivers": [
                {"type": "email", "to": ["a@example.com"]},
                {"type": "email", "to": ["b@example.com"]},
            ]
        },
        "alerts.receivers[1].name",
        "names two receivers",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RECEIVERS))
def test_bad_receivers_name_the_tenant_file_and_field(case: str, tmp_path: Path) -> None:
    alerts, field, expected = BAD_RECEIVERS[case]
    root, _ = project_with_tenant_bad(tmp_path, {"alerts": alerts})
    engine = PlanEngine("dev", root)
    with pytest.raises(Exception) as raised:
        engine.run()
    message = str(raised.value)
    assert f"tenants/bad.yaml: {field}" in message, message
    assert expected in message, message
    assert engine.recorded == []


def _dev_with_insights(tmp_path: Path, insights: dict[str, Any]) -> Path:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:insights"] = insights
    return make_project(tmp_path, config, "dev")


def test_email_without_the_platforms_mail_server_names_both_files(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    del config["paved-road:insights"]["email"]
    config["paved-road:insights"]["receivers"] = []
    config["paved-road:tenants"].append("bad")
    root = make_project(tmp_path, config, "dev")
    (root / "tenants" / "bad.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "bad",
                "costCenter": "cc-1",
                "domain": "commerce",
                "owners": ["arn:aws:iam::123456789012:role/bad-admins"],
                "alerts": {"receivers": [{"type": "email", "to": ["a@example.com"]}]},
            }
        )
    )
    with pytest.raises(Exception) as raised:
        PlanEngine("dev", root).run()
    message = str(raised.value)
    assert "tenants/bad.yaml: alerts.receivers[0].to" in message
    assert "paved-road:insights.email" in message


@pytest.mark.parametrize(
    "insights, field, expected",
    [
        (
            {"receivers": [{"type": "slack", "secretName": "../tenants/payments/slack"}]},
            "paved-road:insights.receivers[0].secretName",
            "outside this file's secrets prefix",
        ),
        (
            {"receivers": [{"type": "sms", "to": ["a@example.com"]}]},
            "paved-road:insights.receivers[0].type",
            "unknown receiver type 'sms'",
        ),
    ],
)
def test_bad_platform_receivers_name_the_stack_file_and_field(
    insights: dict[str, Any], field: str, expected: str, tmp_path: Path
) -> None:
    root = _dev_with_insights(tmp_path, insights)
    engine = PlanEngine("dev", root)
    with pytest.raises(Exception) as raised:
        engine.run()
    message = str(raised.value)
    assert f"{STACK_FILE}: {field}" in message, message
    assert expected in message, message
    assert engine.recorded == []


# --------------------------------------------------------------------------------------------------
# DevOps Guru


def _devops_guru_types(run: PlanRun) -> set[str]:
    return {r.type for r in run.resources if "DevOpsGuru" in r.urn}


def test_devops_guru_only_when_opted_in(dev: PlanRun, prod: PlanRun) -> None:
    assert stack_config("dev")["paved-road:insights"].get("devopsGuru") is not True
    assert _devops_guru_types(dev) == set()
    assert dev.by_type("aws:devopsguru/resourceCollection:ResourceCollection") == []
    assert {
        "aws:devopsguru/resourceCollection:ResourceCollection",
        "aws:devopsguru/notificationChannel:NotificationChannel",
        "aws:sns/topic:Topic",
        "aws:kms/key:Key",
    } <= _devops_guru_types(prod)


def test_devops_guru_covers_the_stack_by_its_project_tag(prod: PlanRun) -> None:
    collection = one(prod.by_type("aws:devopsguru/resourceCollection:ResourceCollection"))
    assert collection.inputs["type"] == "AWS_TAGS"
    tags = collection.inputs["tags"]
    assert tags == {"appBoundaryKey": DEVOPS_GURU_TAG, "tagValues": ["paved-road"]}
    assert DEVOPS_GURU_TAG.lower().startswith("devops-guru-")
    # Every resource the stack tags carries the boundary tag, with the project as its value.
    for resource in prod.resources:
        resource_tags = resource.inputs.get("tags")
        if resource.type.startswith("aws:") and isinstance(resource_tags, dict):
            if resource.type == "aws:devopsguru/resourceCollection:ResourceCollection":
                continue
            if "paved-road:project" in resource_tags:
                assert resource_tags[DEVOPS_GURU_TAG] == "paved-road", resource.urn


def test_devops_guru_notifies_an_encrypted_topic_it_may_publish_to(prod: PlanRun) -> None:
    topic = one(prod.by_type("aws:sns/topic:Topic"))
    key = one(r for r in prod.by_type("aws:kms/key:Key") if "DevOpsGuru" in r.urn)
    assert topic.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    assert key.urn in topic.dependencies
    assert key.inputs["enableKeyRotation"] is True
    statements = policy_statements(key.inputs["policy"])
    guru = [s for s in statements if "Service" in s.get("Principal", {})]
    assert guru and all("devops-guru.amazonaws.com" in p for p in guru[0]["Principal"]["Service"])
    assert set(guru[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    channel = one(prod.by_type("aws:devopsguru/notificationChannel:NotificationChannel"))
    assert channel.inputs["sns"]["topicArn"].startswith("arn:aws:sns:")
    policy = one(prod.by_type("aws:sns/topicPolicy:TopicPolicy"))
    (publish,) = policy_statements(policy.inputs["policy"])
    assert publish["Action"] == ["sns:Publish"]
    subscriptions = prod.by_type("aws:sns/topicSubscription:TopicSubscription")
    assert [s.inputs["endpoint"] for s in subscriptions] == ["platform@paved-road.example"]
    assert all(s.inputs["protocol"] == "email" for s in subscriptions)


def test_the_monitoring_namespace_opens_the_mail_servers_port(dev: PlanRun) -> None:
    """The monitoring namespace opens HTTPS only (components/core/network_policies.py); e-mail
    receivers need the smarthost's port too, and only when a mail server is configured."""
    from components.core.observability import monitoring_openings

    def internet_ports(run: PlanRun) -> set[int]:
        found = set()
        for policy in run.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"):
            if policy.inputs["metadata"]["namespace"] != "monitoring":
                continue
            for rule in policy.inputs["spec"].get("egress", []):
                if any(p.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for p in rule.get("to", [])):
                    found |= {port["port"] for port in rule.get("ports", [])}
        return found

    assert internet_ports(dev) == {443, 587}
    assert monitoring_openings(None).internet_ports == (443,)


def test_an_owner_with_one_kind_of_receiver_gets_both_severities_there() -> None:
    """No alert goes nowhere: Slack alone takes pages too; PagerDuty alone takes tickets."""
    from components.insight.routing import by_severity
    from components.tenants_config import AlertReceiverConfig

    slack = AlertReceiverConfig(type="slack", secret_name="alerts/slack")
    pagerduty = AlertReceiverConfig(type="pagerduty", secret_name="alerts/pd")
    assert by_severity([slack]) == ([slack], [slack])
    assert by_severity([pagerduty]) == ([pagerduty], [pagerduty])
    assert by_severity([slack, pagerduty]) == ([pagerduty], [slack])
