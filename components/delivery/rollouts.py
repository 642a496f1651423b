"""The Argo Rollouts controller: chart values and the AWS permissions of its ALB checks.

Values are the argo-helm `argo-rollouts` chart's own keys (chart README "Chart Values" and
templates/controller/*.yaml). The chart installs and keeps the CRDs (`installCRDs`, `keepCRDs`),
so uninstalling the chart never deletes the teams' Rollouts; with more than one replica it passes
`--leader-elect` itself. Containers run as the image's numeric user 999 and meet Pod Security
`restricted`, which the chart's defaults (`runAsNonRoot` only) do not.

Behind an ALB the controller verifies, before it scales the old pods down, that the target group
really holds the new pods and the weights it set (`--aws-verify-target-group`, Argo Rollouts docs
"Zero-Downtime Updates with AWS TargetGroup Verification"). That reads load balancer state through
an IRSA role holding exactly the six read-only actions the docs list; the ELB `Describe*` actions
support no resource-level scoping, so their resource is `*`.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from components.core.base import irsa_annotation, resources
from components.iam import allow, policy_document

NAMESPACES = ("argo-rollouts",)
NAMESPACE = NAMESPACES[0]
RELEASE_NAME = "argo-rollouts"
SERVICE_ACCOUNT = "argo-rollouts"
# The image's own user (Dockerfile `USER 999`), for both the controller and the dashboard.
IMAGE_USER = 999

TARGET_GROUP_ACTIONS = (
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetHealth",
)

# The release events teams' Rollouts subscribe to (components/insight/release_notifications.py):
# the triggers the controller derives from its event reasons RolloutPaused, RolloutAborted,
# RolloutCompleted and AnalysisRunFailed (utils/record/record.go, translateReasonToTrigger).
RELEASE_TRIGGERS = (
    "on-rollout-paused",
    "on-rollout-aborted",
    "on-rollout-completed",
    "on-analysis-run-failed",
)
# A condition that never holds: the expr language's literal.
NEVER = "false"

RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": IMAGE_USER,
    "runAsGroup": IMAGE_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def target_group_policy() -> str:
    """What `--aws-verify-target-group` calls, read-only (Argo Rollouts docs, ALB page)."""
    return policy_document(allow(TARGET_GROUP_ACTIONS, ["*"], Sid="VerifyTargetGroups"))


def chart_values(
    *,
    production: bool,
    region: str,
    dashboard: bool,
    metrics: bool,
    alb_ingress_class: Optional[str],
    role_arn: Optional[pulumi.Input[str]],
    release_notifications: bool = False,
) -> dict[str, Any]:
    """Values of the `argo-rollouts` chart.

    Production runs two controllers (one leads) behind a PodDisruptionBudget. Metrics: the chart's
    metrics Service and a ServiceMonitor, which the platform's Prometheus selects in any namespace.
    With an ALB ingress class the controller verifies target groups as that class's Rollouts
    shift weight; the region is passed in, as nodes answer instance metadata with a hop limit of 1.
    With release notifications the controller reads each Rollout's notification ConfigMap and
    Secret from the Rollout's own namespace (components/insight/release_notifications.py), and
    its own namespace's ConfigMap (`notification_values`).
    """
    replicas = 2 if production else 1
    controller: dict[str, Any] = {
        "replicas": replicas,
        "pdb": {"enabled": True, "minAvailable": 1} if replicas > 1 else {"enabled": False},
        "resources": resources("100m", "256Mi", "500m"),
        "metrics": {"enabled": metrics, "serviceMonitor": {"enabled": metrics}},
    }
    if alb_ingress_class is not None:
        controller["extraArgs"] = [
            "--aws-verify-target-group",
            f"--alb-ingress-classes={alb_ingress_class}",
        ]
        controller["extraEnv"] = [{"name": "AWS_REGION", "value": region}]
    if release_notifications:
        # `--self-service-notification-enabled` (chart values.yaml at 2.41.0).
        controller["selfServiceNotification"] = True
    values: dict[str, Any] = {
        "installCRDs": True,
        "keepCRDs": True,
        "clusterInstall": True,
        # Rollout verbs join Kubernetes' admin, edit and view roles, which tenants hold in their
        # namespaces: a team's developers can promote and abort their own releases. The same
        # aggregation hands them AnalysisTemplates and AnalysisRuns, whose `web`/`job`/foreign
        # `prometheus` providers the controller would run from its own namespace: Kyverno's
        # `restrict-tenant-analysis` (components/core/policy.py) refuses those in tenant namespaces.
        "createClusterAggregateRoles": True,
        "fullnameOverride": RELEASE_NAME,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": irsa_annotation(role_arn) if role_arn is not None else {},
        },
        "controller": controller,
        "podSecurityContext": RESTRICTED_POD,
        "containerSecurityContext": RESTRICTED_CONTAINER,
        "dashboard": dashboard_values() if dashboard else {"enabled": False},
    }
    if release_notifications:
        values["notifications"] = notification_values()
    return values


def notification_values() -> dict[str, Any]:
    """The controller's own `argo-rollouts-notification-configmap`, in its namespace: the
    release triggers, whose condition never holds, and no service, template or secret.

    v1.9.0 (notifications-engine v0.5.0) runs every subscribed trigger against each
    configuration in play, the Rollout's namespace's and the controller's, and for each one
    lacking the trigger logs an error and records a Warning event on the Rollout, on every
    reconcile (notifications-engine pull request 446, argo-rollouts pull request 4833). Knowing
    the triggers keeps that quiet; as they never hold and no service is defined here, nothing is
    ever sent from this configuration, and no tenant could send through it: each Rollout's
    notifications come from its own namespace's configuration only.
    """
    condition = f'- when: "{NEVER}"\n  send: []\n'
    return {"triggers": {f"trigger.{trigger}": condition for trigger in RELEASE_TRIGGERS}}


def dashboard_values() -> dict[str, Any]:
    """The dashboard has no login: read-only, inside the cluster only (`kubectl port-forward`)."""
    return {
        "enabled": True,
        "readonly": True,
        "replicas": 1,
        "service": {"type": "ClusterIP"},
        "ingress": {"enabled": False},
        "resources": resources("50m", "128Mi", "200m"),
        "podSecurityContext": RESTRICTED_POD,
        "containerSecurityContext": RESTRICTED_CONTAINER,
    }
