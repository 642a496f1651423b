"""Release notifications: a team hears in its own Slack channel when a release of one of its apps
pauses, aborts, completes or fails its analysis.

The mechanism is Argo Rollouts' notifications engine (argoproj/argo-rollouts v1.9,
docs/features/notifications.md, utils/record/record.go; argoproj/notifications-engine v0.5.0).
The controller turns the events it records on a Rollout into triggers (`RolloutPaused` →
`on-rollout-paused`, `RolloutAborted`, `RolloutCompleted`, `AnalysisRunFailed`) and sends each
to the destinations the Rollout subscribes with `notifications.argoproj.io/subscribe.<trigger>.
<service>: <recipient>` annotations, using the templates, triggers and services of an
`argo-rollouts-notification-configmap` and the values of an `argo-rollouts-notification-secret`.

Why the configuration lives in each team's namespace (self-service, `--self-service-notification-
enabled`, the chart's `controller.selfServiceNotification`): with it on, a Rollout is notified
through the ConfigMap and Secret of its *own* namespace, besides the controller's, which holds
the triggers but never a service or a secret (components/delivery/rollouts.py,
`notification_values`): a service there would be one every tenant could subscribe to. A
tenant's webhook URL is therefore only ever in that tenant's namespaces: an ExternalSecret reads
it through the tenant's own SecretStore (`tenant-secrets`, the tenant's workload role, which
reads nothing outside `<project>/<env>/tenants/<tenant>/`) into the Secret beside the ConfigMap.
The ConfigMap names it by reference (`$<key>`); no URL is in the plan, the state or a chart
value. One shared ConfigMap and Secret in the controller's namespace would hold every team's
webhook where any Rollout's annotation could reach it.

This sits beside the alert routing (routing.py) it shares the receivers with: the delivery layer
below the tenants only switches the controller's self-service mode on and opens its namespace to
HTTPS; what a tenant's namespaces hold is built by its Tenant from these functions.

Slack receivers are incoming webhooks (the same secret the team's alerts use), which the
engine's `slack` service does not speak (it wants a bot token); its `webhook` service posts
the JSON body an incoming webhook takes (notification-services/slack.md says as much). Each
Slack receiver of the team is one webhook service named after the receiver; its key in the
Secret is the same name.

The four triggers fire on the controller's events, not on a condition: like the upstream
built-in triggers (manifests/notifications/*.yaml) they have no `when`. A team with no Slack
receiver gets no subscriptions, no ConfigMap and no Secret; its Rollouts say so in an annotation
(and in the plan's summary). PagerDuty receivers are for pages, and a release event is not one.

Known upstream behaviour: when Slack answers a post with an error status, the engine's error
(pkg/services/webhook.go, "request to … has failed") quotes the request, URL included, in the
controller's log (the `argo-rollouts` namespace's, not a tenant's).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from components import kubernetes
from components.delivery.rollouts import RELEASE_TRIGGERS
from components.tenants_config import AlertReceiverConfig, RELEASE_SERVICE_NAME_MAX

# The names the controller reads (utils/record/record.go, NotificationConfigMap and
# NotificationSecret), in the Rollout's namespace under self-service.
CONFIG_MAP = "argo-rollouts-notification-configmap"
SECRET = "argo-rollouts-notification-secret"
SUBSCRIBE_PREFIX = "notifications.argoproj.io/subscribe."
# What a Rollout's releases are announced to, or why nowhere: in the plan and on the object.
STATUS_ANNOTATION = "paved-road/release-notifications"
NO_SLACK = "none: the tenant file's alerts.receivers has no slack receiver"
NO_SECRETS = "none: the secrets service (External Secrets) is off, no webhook can be delivered"

# trigger (RELEASE_TRIGGERS, in order) → (template name, Slack text). Names and namespaces are
# DNS labels and channels match tenants_config.SLACK_CHANNEL, so what the templates insert never
# needs escaping in JSON.
_ROLLOUT = "*{{.rollout.metadata.name}}* in `{{.rollout.metadata.namespace}}`"
_GET = (
    "`kubectl argo rollouts get rollout {{.rollout.metadata.name}}"
    " -n {{.rollout.metadata.namespace}}`"
)
TRIGGERS: Mapping[str, tuple[str, str]] = {
    "on-rollout-paused": (
        "release-paused",
        f":double_vertical_bar: The release of {_ROLLOUT} is paused: it waits for a timed "
        f"step or for a person (`kubectl argo rollouts promote` to go on, `abort` to go back). "
        f"{_GET}",
    ),
    "on-rollout-aborted": (
        "release-aborted",
        f":rewind: The release of {_ROLLOUT} was aborted: all traffic is back on the stable "
        f"version. {_GET} says why.",
    ),
    "on-rollout-completed": (
        "release-completed",
        f":white_check_mark: The release of {_ROLLOUT} completed: the new version is stable.",
    ),
    "on-analysis-run-failed": (
        "release-analysis-failed",
        f":x: An analysis of the release of {_ROLLOUT} failed: the release is aborted and "
        f"traffic goes back to the stable version. {_GET}",
    ),
}


def slack_receivers(receivers: Sequence[AlertReceiverConfig]) -> list[AlertReceiverConfig]:
    """The receivers release events go to: Slack's, each read from a secret."""
    return [r for r in receivers if r.type == "slack" and r.secret_name is not None]


def service_name(receiver: AlertReceiverConfig) -> str:
    """The webhook service of a receiver, and its key in the Secret: the receiver's name, which
    the config keeps short enough for an annotation key (RELEASE_SERVICE_NAME_MAX)."""
    name = receiver.receiver_name
    assert len(name) <= RELEASE_SERVICE_NAME_MAX, "tenants_config refuses longer names"
    return name


def subscriptions(receivers: Sequence[AlertReceiverConfig]) -> dict[str, str]:
    """A Rollout's annotations: every trigger to every Slack receiver. The recipient is the
    receiver's channel (the template sets it in the body), or empty as webhooks need none."""
    annotations = {}
    for receiver in slack_receivers(receivers):
        for trigger in TRIGGERS:
            annotations[f"{SUBSCRIBE_PREFIX}{trigger}.{service_name(receiver)}"] = (
                receiver.channel or ""
            )
    return annotations


def status(receivers: Sequence[AlertReceiverConfig]) -> str:
    """The STATUS_ANNOTATION of a subscribed Rollout: the receivers and channels, named."""
    return "to Slack: " + ", ".join(
        f"{r.receiver_name}" + (f" ({r.channel})" if r.channel else "")
        for r in slack_receivers(receivers)
    )


def _body(text: str) -> str:
    """The incoming webhook's JSON: the text, and the channel when the subscription names one
    (legacy webhooks honour it; a Slack app's webhook posts to its own channel regardless)."""
    return '{ {{if .recipient}}"channel": "{{.recipient}}", {{end}}"text": "' + text + '" }\n'


def _yaml_block(lines: Sequence[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def config_map_data(receivers: Sequence[AlertReceiverConfig]) -> dict[str, str]:
    """The namespace's `argo-rollouts-notification-configmap` data, in the engine's keys:
    `service.webhook.<name>` (the URL by reference to the Secret's key), `template.<name>` (a
    POST of the Slack JSON to each service) and `trigger.<name>` (send the template)."""
    services = [service_name(r) for r in slack_receivers(receivers)]
    data: dict[str, str] = {}
    for service in services:
        data[f"service.webhook.{service}"] = _yaml_block(
            [
                f"url: ${service}",
                "headers:",
                "- name: Content-Type",
                "  value: application/json",
            ]
        )
    for trigger, (template, text) in TRIGGERS.items():
        lines = ["webhook:"]
        for service in services:
            lines += [f"  {service}:", "    method: POST", "    body: |"]
            lines.append("      " + _body(text).rstrip("\n"))
        data[f"template.{template}"] = _yaml_block(lines)
        data[f"trigger.{trigger}"] = _yaml_block([f"- send: [{template}]"])
    return dict(sorted(data.items()))


def external_secret(
    *,
    namespace: str,
    secret_prefix: str,
    store_name: str,
    labels: Mapping[str, str],
    receivers: Sequence[AlertReceiverConfig],
) -> dict[str, Any]:
    """The ExternalSecret delivering each Slack receiver's webhook URL into SECRET, under the
    receiver's service name, read through the tenant's own SecretStore from its own prefix."""
    data = []
    for receiver in slack_receivers(receivers):
        assert receiver.secret_name is not None
        remote: dict[str, str] = {"key": f"{secret_prefix}{receiver.secret_name}"}
        if receiver.key:
            remote["property"] = receiver.key
        data.append({"secretKey": service_name(receiver), "remoteRef": remote})
    return kubernetes.external_secret(SECRET, namespace, labels, store_name=store_name, data=data)
