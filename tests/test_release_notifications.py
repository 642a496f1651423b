"""Release notifications: a team's Slack hears when its releases pause, abort, complete or fail
their analysis (components/insight/release_notifications.py).

Upstream behaviour the tests rely on:
- argoproj/argo-rollouts v1.9.0 utils/record/record.go: the controller reads the ConfigMap
  `argo-rollouts-notification-configmap` and the Secret `argo-rollouts-notification-secret`;
  `translateReasonToTrigger` turns an event reason into its trigger (`on-` and the reason in
  kebab case); a condition with an empty `when` is sent whenever its event is recorded.
  utils/conditions/conditions.go: the reasons `RolloutPaused`, `RolloutAborted`,
  `RolloutCompleted`, `AnalysisRunFailed`. docs/features/release_notifications.md: namespace-based
  configuration with `--self-service-notification-enabled`. manifests/notifications/*.yaml:
  the built-in triggers are `- send: [<template>]`, without `when`.
- argoproj/notifications-engine v0.5.0 pkg/api/config.go: data keys `service.<type>.<name>`,
  `template.<name>`, `trigger.<name>`; `$<key>` in a service's YAML is replaced by that key of
  the Secret (pattern `[$][\\w-]+`). pkg/triggers/service.go: a condition's fields are `when`,
  `oncePer`, `description`, `send`. pkg/services/webhook.go: a template's `webhook.<service>`
  (`method`, `body`, `path`) is what that service sends, the body a Go text/template.
  pkg/subscriptions/annotations.go: `notifications.argoproj.io/subscribe.<trigger>.<service>`,
  recipients separated by `;`.
- argoproj/argo-helm charts/argo-rollouts 2.41.0 values.yaml: `controller.selfServiceNotification`
  adds `--self-service-notification-enabled`; `notifications.*` fill the controller namespace's
  ConfigMap and Secret.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.delivery.rollouts import RELEASE_TRIGGERS
from components.insight import release_notifications
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import summary
from tests.conftest import (
    ROOT,
    SHIPPED_STACKS,
    assert_refused,
    make_project,
    project_with_tenant_bad,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
SECRET = "kubernetes:core/v1:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
TENANT_LABEL = "paved-road/tenant"
SUBSCRIBE = "notifications.argoproj.io/subscribe."
# The controller's event reasons for the four releases events (utils/conditions/conditions.go).
EVENT_REASONS = ("RolloutPaused", "RolloutAborted", "RolloutCompleted", "AnalysisRunFailed")
# notifications-engine's secret reference in a service's configuration.
SECRET_REFERENCE = re.compile(r"[$][\w-]+")


def translate_reason_to_trigger(reason: str) -> str:
    """argo-rollouts' translateReasonToTrigger, with the same two expressions."""
    trigger = re.sub(r"(.)([A-Z][a-z]+)", r"\1-\2", reason)
    trigger = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", trigger)
    return "on-" + trigger.lower()


def manifest(resource: RecordedResource) -> dict[str, Any]:
    inputs = resource.inputs
    found = {"apiVersion": inputs["apiVersion"], "kind": inputs["kind"]}
    found.update({k: inputs[k] for k in ("metadata", "spec", "data") if k in inputs})
    return found


def rollouts(run: PlanRun) -> list[dict[str, Any]]:
    return [manifest(r) for r in run.by_type(ROLLOUT)]


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


def subscriptions(obj: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in annotations(obj).items() if k.startswith(SUBSCRIBE)}


def notification_config_maps(run: PlanRun) -> list[dict[str, Any]]:
    return [
        manifest(r)
        for r in run.by_type(CONFIG_MAP)
        if r.inputs["metadata"]["name"] == release_notifications.CONFIG_MAP
    ]


def notification_secrets(run: PlanRun) -> list[dict[str, Any]]:
    return [
        manifest(r)
        for r in run.by_type(EXTERNAL_SECRET)
        if r.inputs["metadata"]["name"] == release_notifications.SECRET
    ]


def slack_receivers(tenant: str, root: Path = ROOT) -> list[dict[str, Any]]:
    document = yaml.safe_load((root / "tenants" / f"{tenant}.yaml").read_text())
    receivers = (document.get("alerts") or {}).get("receivers") or []
    return [r for r in receivers if r["type"] == "slack"]


def tenant_prefix(run: PlanRun, tenant: str) -> str:
    environment = stack_config(run.stack).get("paved-road:environment") or run.stack
    return f"{run.project}/{environment}/tenants/{tenant}/"


def rollouts_values(run: PlanRun) -> dict[str, Any]:
    (release,) = [r for r in run.by_type(RELEASE) if r.inputs["chart"] == "argo-rollouts"]
    return release.inputs["values"]


# --------------------------------------------------------------------------------------------------
# A Go text/template subset: the templates use only field paths and `if`, and this renders
# exactly those (anything else fails the test, so a template that grows past it is noticed).

ACTION = re.compile(r"{{(.*?)}}", re.S)


def _lookup(path: str, data: dict[str, Any]) -> Any:
    value: Any = data
    for part in path.strip().lstrip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def render(template: str, data: dict[str, Any]) -> str:
    out, stack, pos = [], [True], 0
    for match in ACTION.finditer(template):
        if all(stack):
            out.append(template[pos : match.start()])
        pos = match.end()
        action = match.group(1).strip()
        if action.startswith("if "):
            stack.append(bool(_lookup(action[3:], data)))
        elif action == "end":
            assert len(stack) > 1, f"unbalanced {{{{end}}}} in {template!r}"
            stack.pop()
        elif re.fullmatch(r"(\.[A-Za-z_][A-Za-z0-9_]*)+", action):
            if all(stack):
                value = _lookup(action, data)
                assert value is not None, f"{action} is missing from the object"
                out.append(str(value))
        else:
            raise AssertionError(f"template action outside the tested subset: {action!r}")
    assert len(stack) == 1, f"unclosed {{{{if}}}} in {template!r}"
    out.append(template[pos:])
    return "".join(out)


# --------------------------------------------------------------------------------------------------
# Subscriptions


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_rollout_of_a_tenant_with_a_slack_receiver_subscribes_to_the_four_triggers(
    stack: str,
) -> None:
    run = shipped_plan(stack)
    subscribed = 0
    for rollout in rollouts(run):
        tenant = rollout["metadata"]["labels"][TENANT_LABEL]
        receivers = slack_receivers(tenant)
        expected = {
            f"{SUBSCRIBE}{trigger}.{receiver.get('name', 'slack')}": receiver.get("channel", "")
            for receiver in receivers
            for trigger in release_notifications.TRIGGERS
        }
        assert subscriptions(rollout) == expected, rollout["metadata"]["name"]
        subscribed += bool(expected)
    assert subscribed >= 2, "payments' checkout-api and ledger-consumer announce their releases"


def test_the_triggers_are_the_ones_the_controller_fires_for_its_events() -> None:
    assert tuple(release_notifications.TRIGGERS) == RELEASE_TRIGGERS
    assert sorted(release_notifications.TRIGGERS) == sorted(
        translate_reason_to_trigger(reason) for reason in EVENT_REASONS
    )
    assert translate_reason_to_trigger("AnalysisRunFailed") == "on-analysis-run-failed"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_a_tenant_without_a_slack_receiver_gets_nothing_and_the_plan_says_so(stack: str) -> None:
    run = shipped_plan(stack)
    silent = [
        r for r in rollouts(run) if not slack_receivers(r["metadata"]["labels"][TENANT_LABEL])
    ]
    assert silent, "storefront has no receivers: its Rollouts announce nothing"
    text = summary(run)
    for rollout in silent:
        metadata = rollout["metadata"]
        assert subscriptions(rollout) == {}
        assert (
            annotations(rollout)[release_notifications.STATUS_ANNOTATION]
            == release_notifications.NO_SLACK
        )
        assert (
            f"  {metadata['namespace']}/{metadata['name']}: {release_notifications.NO_SLACK}"
            in text
        )
    announced = {c["metadata"]["namespace"] for c in notification_config_maps(run)}
    announced |= {s["metadata"]["namespace"] for s in notification_secrets(run)}
    assert announced and not announced & {r["metadata"]["namespace"] for r in silent}


@pytest.fixture(scope="module")
def with_teams(tmp_path_factory: pytest.TempPathFactory) -> PlanRun:
    """The dev stack plus two teams: `bad` pages PagerDuty only, `loud` has two Slack receivers
    of its own (one without a channel) and releases in two namespaces."""
    root, _ = project_with_tenant_bad(
        tmp_path_factory.mktemp("teams"),
        {
            "alerts": {"receivers": [{"type": "pagerduty", "secretName": "alerts/pagerduty"}]},
            "apps": [{"name": "api", "template": "api-service", "image": "nginx:1.27"}],
        },
    )
    config = yaml.safe_load((root / "stacks" / "Pulumi.dev.yaml").read_text())["config"]
    config["paved-road:tenants"].append("loud")
    (root / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    loud = {
        "name": "loud",
        "costCenter": "cc-2",
        "owners": ["arn:aws:iam::123456789012:role/loud-admins"],
        "domain": "commerce",
        "namespaces": ["loud", "loud-workers"],
        "alerts": {
            "receivers": [
                {"type": "slack", "secretName": "chat/releases", "channel": "#loud-releases"},
                {"type": "slack", "name": "oncall", "secretName": "chat/oncall", "key": "url"},
            ]
        },
        "apps": [
            {"name": "web", "template": "api-service", "image": "nginx:1.27"},
            {
                "name": "worker",
                "template": "kafka-consumer",
                "namespace": "loud-workers",
                "image": "nginx:1.27",
                "kafka": {"topic": "loud.events", "consumerGroup": "worker", "maxLag": 100},
            },
            {
                "name": "nightly",
                "template": "batch-job",
                "image": "nginx:1.27",
                "schedule": "0 1 * * *",
            },
        ],
    }
    (root / "tenants" / "loud.yaml").write_text(yaml.safe_dump(loud))
    return PlanEngine("dev", root).run()


def test_a_tenant_with_only_pagerduty_gets_no_release_notifications(with_teams: PlanRun) -> None:
    """A release event is not a page: PagerDuty receivers are not subscribed."""
    (rollout,) = [r for r in rollouts(with_teams) if r["metadata"]["namespace"] == "bad"]
    assert subscriptions(rollout) == {}
    assert (
        annotations(rollout)[release_notifications.STATUS_ANNOTATION]
        == release_notifications.NO_SLACK
    )
    namespaces = {c["metadata"]["namespace"] for c in notification_config_maps(with_teams)}
    assert "bad" not in namespaces
    assert "bad" not in {s["metadata"]["namespace"] for s in notification_secrets(with_teams)}


def test_every_slack_receiver_is_subscribed_in_every_namespace_that_releases(
    with_teams: PlanRun,
) -> None:
    loud = [r for r in rollouts(with_teams) if r["metadata"]["labels"][TENANT_LABEL] == "loud"]
    assert sorted(r["metadata"]["name"] for r in loud) == ["web", "worker"]
    for rollout in loud:
        assert subscriptions(rollout) == {
            **{f"{SUBSCRIBE}{t}.slack": "#loud-releases" for t in release_notifications.TRIGGERS},
            **{f"{SUBSCRIBE}{t}.oncall": "" for t in release_notifications.TRIGGERS},
        }
    # A ConfigMap and a Secret where a Rollout is, none where only a CronJob runs.
    for found in (notification_config_maps(with_teams), notification_secrets(with_teams)):
        namespaces = sorted(m["metadata"]["namespace"] for m in found)
        assert namespaces == ["loud", "loud-workers", "payments"]


def test_annotation_keys_are_valid_kubernetes_names(with_teams: PlanRun) -> None:
    qualified_name = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
    for rollout in rollouts(with_teams):
        for key in subscriptions(rollout):
            prefix, name = key.split("/")
            assert prefix == "notifications.argoproj.io"
            assert qualified_name.match(name), key
            trigger, service = name[len("subscribe.") :].split(".")
            assert trigger in release_notifications.TRIGGERS and service


def test_a_slack_receiver_name_too_long_for_an_annotation_key_is_refused(tmp_path: Path) -> None:
    name = "a" * 31
    root, _ = project_with_tenant_bad(
        tmp_path,
        {"alerts": {"receivers": [{"type": "slack", "name": name, "secretName": "alerts/slack"}]}},
    )
    assert_refused(
        PlanEngine("dev", root), "tenants/bad.yaml", "alerts.receivers[0].name", "longer than 30"
    )


# --------------------------------------------------------------------------------------------------
# The namespace's configuration


def _parsed(config_map: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ConfigMap as notifications-engine's ParseConfig reads it."""
    parsed: dict[str, dict[str, Any]] = {"service": {}, "template": {}, "trigger": {}}
    for key, value in config_map["data"].items():
        kind, _, rest = key.partition(".")
        assert kind in parsed, f"{key} is not a key the engine reads"
        if kind == "service":
            parts = key.split(".")
            assert len(parts) == 3 and parts[1] == "webhook", key
            rest = parts[2]
        parsed[kind][rest] = yaml.safe_load(value)
    return parsed


def test_the_configmap_is_what_the_engine_parses(with_teams: PlanRun) -> None:
    maps = notification_config_maps(with_teams)
    assert maps
    for config_map in maps:
        parsed = _parsed(config_map)
        services, templates, triggers = parsed["service"], parsed["template"], parsed["trigger"]
        assert sorted(triggers) == sorted(release_notifications.TRIGGERS)
        for trigger, conditions in triggers.items():
            assert isinstance(conditions, list) and conditions, trigger
            for condition in conditions:
                assert set(condition) <= {"when", "oncePer", "description", "send"}
                # Fired by the controller's event, as the built-in triggers are: no condition.
                assert "when" not in condition and "oncePer" not in condition
                assert condition["send"] and set(condition["send"]) <= set(templates)
        for name, template in templates.items():
            assert set(template) == {"webhook"}, name
            assert set(template["webhook"]) == set(services), name
            for webhook in template["webhook"].values():
                assert webhook["method"] == "POST" and "path" not in webhook
        for name, service in services.items():
            assert set(service) == {"url", "headers"}
            assert service["headers"] == [{"name": "Content-Type", "value": "application/json"}]


def test_a_team_cannot_edit_the_platforms_notification_configmap(with_teams: PlanRun) -> None:
    """Edited, the ConfigMap would make the controller post wherever the team pointed it:
    protect-platform-objects refuses tenants' changes to it, as to the other platform objects."""
    from components.core import policy

    assert policy.RELEASE_NOTIFICATION_CONFIG_MAP == release_notifications.CONFIG_MAP
    (guard,) = [
        rule
        for rule in policy.protect_platform_objects(policy.PlatformIdentities()).rules
        if rule["name"] == "protect-release-notifications"
    ]
    (matched,) = guard["match"]["any"]
    assert matched["resources"]["kinds"] == ["ConfigMap"]
    assert matched["resources"]["names"] == [release_notifications.CONFIG_MAP]
    assert set(matched["resources"]["operations"]) == {"UPDATE", "DELETE"}
    maps = notification_config_maps(with_teams)
    assert maps
    for config_map in maps:
        labels = config_map["metadata"]["labels"]
        assert labels[policy.MANAGED_BY] == "paved-road"


def test_each_template_renders_the_slack_json_for_each_rollout(with_teams: PlanRun) -> None:
    """The body the webhook posts, rendered from the Rollout as the plan holds it, is the JSON
    a Slack incoming webhook takes: text naming the Rollout, the channel when subscribed."""
    for rollout in rollouts(with_teams):
        config_maps = [
            c
            for c in notification_config_maps(with_teams)
            if c["metadata"]["namespace"] == rollout["metadata"]["namespace"]
        ]
        if not subscriptions(rollout):
            assert config_maps == []
            continue
        (config_map,) = config_maps
        templates = _parsed(config_map)["template"]
        for key, recipient in subscriptions(rollout).items():
            trigger, service = key[len(SUBSCRIBE) :].split(".")
            (template,) = yaml.safe_load(config_map["data"][f"trigger.{trigger}"])[0]["send"]
            body = templates[template]["webhook"][service]["body"]
            message = json.loads(render(body, {"rollout": rollout, "recipient": recipient}))
            assert rollout["metadata"]["name"] in message["text"]
            assert rollout["metadata"]["namespace"] in message["text"]
            assert message.get("channel", "") == recipient


# --------------------------------------------------------------------------------------------------
# Secrets by reference, and isolation


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_webhook_is_a_reference_never_a_value(stack: str) -> None:
    run = shipped_plan(stack)
    assert notification_config_maps(run) and notification_secrets(run)
    for config_map in notification_config_maps(run):
        (secret,) = [
            s
            for s in notification_secrets(run)
            if s["metadata"]["namespace"] == config_map["metadata"]["namespace"]
        ]
        keys = {entry["secretKey"] for entry in secret["spec"]["data"]}
        for service in _parsed(config_map)["service"].values():
            # The whole URL is one reference to a key the ExternalSecret delivers.
            assert SECRET_REFERENCE.fullmatch(service["url"]), service["url"]
            assert service["url"][1:] in keys
        assert "://" not in json.dumps(config_map["data"])
    # Nothing in the plan holds a webhook, and no Secret of the controller's is made by value.
    text = json.dumps([r.inputs for r in run.resources])
    assert "hooks.slack.com" not in text
    assert not [r for r in run.by_type(SECRET) if "notification" in r.inputs["metadata"]["name"]]
    assert set(rollouts_values(run)["notifications"]) == {"triggers"}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_external_secrets_validate_against_the_crd(stack: str) -> None:
    for secret in notification_secrets(shipped_plan(stack)):
        assert crd_errors(secret) == [], secret["metadata"]


def test_each_tenants_webhook_is_read_from_its_own_prefix_into_its_own_namespaces(
    with_teams: PlanRun,
) -> None:
    namespaces_of: dict[str, set[str]] = {}
    for namespace in with_teams.by_type("kubernetes:core/v1:Namespace"):
        metadata = namespace.inputs["metadata"]
        if TENANT_LABEL in metadata["labels"]:
            namespaces_of.setdefault(metadata["labels"][TENANT_LABEL], set()).add(metadata["name"])
    stores = {
        r.inputs["metadata"]["namespace"]: r.inputs
        for r in with_teams.by_type("kubernetes:external-secrets.io/v1:SecretStore")
    }
    secrets = notification_secrets(with_teams)
    assert {s["metadata"]["labels"][TENANT_LABEL] for s in secrets} == {"payments", "loud"}
    for secret in secrets:
        tenant = secret["metadata"]["labels"][TENANT_LABEL]
        namespace = secret["metadata"]["namespace"]
        assert namespace in namespaces_of[tenant]
        spec = secret["spec"]
        assert spec["secretStoreRef"] == {"name": "tenant-secrets", "kind": "SecretStore"}
        # The store is the tenant's own, in the same namespace, as its workload account.
        store = stores[namespace]
        assert store["metadata"]["labels"][TENANT_LABEL] == tenant
        assert store["spec"]["provider"]["aws"]["auth"] == {
            "jwt": {"serviceAccountRef": {"name": "workload"}}
        }
        for entry in spec["data"]:
            assert entry["remoteRef"]["key"].startswith(tenant_prefix(with_teams, tenant))
        assert spec["target"]["name"] == release_notifications.SECRET
    loud = {
        entry["secretKey"]: entry["remoteRef"]
        for s in secrets
        if s["metadata"]["namespace"] == "loud"
        for entry in s["spec"]["data"]
    }
    assert loud == {
        "slack": {"key": "paved-road/dev/tenants/loud/chat/releases"},
        "oncall": {"key": "paved-road/dev/tenants/loud/chat/oncall", "property": "url"},
    }


def test_the_controller_reads_configuration_in_the_rollouts_namespaces_only(
    with_teams: PlanRun,
) -> None:
    """Self-service on; the controller's own ConfigMap keeps the chart's empty default, so no
    service there can be subscribed by any tenant; it reaches Slack over HTTPS."""
    values = rollouts_values(with_teams)
    assert values["controller"]["selfServiceNotification"] is True
    # The chart's ConfigMap: triggers only; no `notifiers`, `templates`, `subscriptions` or
    # `secret` (its `secret.create` default is false).
    assert set(values["notifications"]) == {"triggers"}
    assert not [
        m
        for m in notification_config_maps(with_teams) + notification_secrets(with_teams)
        if m["metadata"]["namespace"] == "argo-rollouts"
    ]
    (policy,) = [
        r
        for r in with_teams.by_type(NETWORK_POLICY)
        if r.name == "delivery-namespace-allow-release-notifications"
    ]
    assert policy.inputs["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    ]


def test_without_external_secrets_no_webhook_reaches_the_cluster_and_nothing_is_sent(
    tmp_path: Path,
) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["secrets"] = {"enabled": False}
    # The portal reads its own secrets through External Secrets.
    config["paved-road:core"]["portal"]["enabled"] = False
    run = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    assert notification_config_maps(run) == [] and notification_secrets(run) == []
    assert "selfServiceNotification" not in rollouts_values(run)["controller"]
    assert "notifications" not in rollouts_values(run)
    assert not [r for r in run.by_type(NETWORK_POLICY) if "release-notifications" in r.name]
    for rollout in rollouts(run):
        assert subscriptions(rollout) == {}
        expected = (
            release_notifications.NO_SECRETS
            if slack_receivers(rollout["metadata"]["labels"][TENANT_LABEL])
            else release_notifications.NO_SLACK
        )
        assert annotations(rollout)[release_notifications.STATUS_ANNOTATION] == expected


def test_nothing_is_switched_on_when_no_team_announces_a_release(tmp_path: Path) -> None:
    """A Slack receiver without a Rollout (a team of batch jobs) announces nothing: the
    controller reads no tenant's configuration and keeps its namespace closed."""
    root, config = project_with_tenant_bad(
        tmp_path,
        {
            "alerts": {"receivers": [{"type": "slack", "secretName": "alerts/slack"}]},
            "apps": [
                {
                    "name": "nightly",
                    "template": "batch-job",
                    "image": "nginx:1.27",
                    "schedule": "0 1 * * *",
                }
            ],
        },
    )
    config["paved-road:tenants"] = [
        t for t in config["paved-road:tenants"] if t not in ("payments", {"name": "payments"})
    ]
    assert not [t for t in config["paved-road:tenants"] if "payments" in str(t)]
    (root / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    run = PlanEngine("dev", root).run()
    assert notification_config_maps(run) == [] and notification_secrets(run) == []
    assert "selfServiceNotification" not in rollouts_values(run)["controller"]
    assert "notifications" not in rollouts_values(run)
    assert not [r for r in run.by_type(NETWORK_POLICY) if "release-notifications" in r.name]
    assert all(subscriptions(r) == {} for r in rollouts(run))


def test_the_controllers_own_configuration_knows_the_triggers_and_sends_nothing(
    with_teams: PlanRun,
) -> None:
    """Every configuration the controller consults for a subscribed Rollout knows its triggers
    (v1.9.0 logs an error and warns on the Rollout for each one that does not); the
    controller's own never holds and has no service to send with."""
    chart = rollouts_values(with_teams)["notifications"]
    parsed = _parsed({"data": chart["triggers"]})
    assert parsed["service"] == {} and parsed["template"] == {}
    assert sorted(parsed["trigger"]) == sorted(release_notifications.TRIGGERS)
    for conditions in parsed["trigger"].values():
        # `false` is the expr language's literal: the condition compiles and never holds.
        assert conditions == [{"when": "false", "send": []}]
