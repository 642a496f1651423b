"""DORA figures for app releases in the cluster, recorded from Argo Rollouts' controller metrics.

Per tenant and app (series labelled `tenant`, `namespace`, `app`; an app's Rollout is named after
it), over the last `WINDOW`:

- releases per day (`DEPLOYMENTS_RECORD`): new revisions the controller started rolling out;
- the share of releases that failed (`FAILURES_RECORD`): aborted, by a person, by the progress
  deadline or by a failed analysis — every failed or errored AnalysisRun (background, step,
  blue/green pre- or post-promotion) makes the controller abort the update (rollout/analysis.go),
  so "aborted or failed by analysis" is one set: the aborted releases;
- the median time to restore (`RESTORE_RECORD`): from the first abort after the app was last
  healthy to the moment a revision is healthy again (fixed forward, retried or reverted).

What the controller exports (argoproj/argo-rollouts v1.9, controller/metrics/prommetrics.go and
rollouts.go; utils/record/record.go; utils/conditions/conditions.go; rollout/sync.go):

- `rollout_events_total{namespace, name, type, reason}`, a counter per Kubernetes event the
  controller records on a Rollout. `RolloutUpdated` ("Rollout updated to revision N") once per
  new revision, the first included; `RolloutAborted` (Warning) when an update is aborted — twice
  for a progress-deadline abort (once when the deadline passes, once when the abort condition is
  set), again on every retry that aborts. A series is created by its first event, at 1.
- `rollout_info{namespace, name, strategy, traffic_router, phase}` = 1, `phase` one of Completed,
  Progressing, Paused, Timeout, Error, Abort, InvalidSpec (from the Progressing condition:
  Completed is `NewReplicaSetAvailable`, the new revision fully available). A revert to the
  stable revision ends as Completed without any `RolloutCompleted` event (that event only marks a
  *change* of stable ReplicaSet), so "healthy again" is read from the phase, not from events.

The chart's ServiceMonitor (no `honorLabels`) keeps the Rollout's namespace as
`exported_namespace` — the target's `namespace` is argo-rollouts'. Tenants' own PrometheusRules
cannot read these series (the Prometheus enforces their namespace on every selector), so the rule
lives beside Grafana in the monitoring namespace, one per tenant, like its dashboard, and selects
exactly the tenant's Rollouts by namespace and name.

How the rules count, and why:

- `EVENTS_RECORD` is each evaluation's exact increase of the counters, not `increase()`:
  `increase()` extrapolates (fractions of events) and never counts a series' first sample, which
  here *is* an event (a counter is born at 1, on each controller start or leader change). The
  previous value is looked up `PREVIOUS` back (so a Prometheus restart shorter than that loses
  nothing); no previous value, or a smaller one (a restarted process), counts the whole value.
  The group runs every `INTERVAL` and the look-up starts one `INTERVAL` back, so consecutive
  evaluations telescope to the exact total. Kept only where positive: sparse series, cheap to sum
  over a week.
- Moments are recorded as series whose value is the evaluation time, present only at the
  evaluation they happen in (`timestamp()`); `max_over_time` over `HISTORY` then answers "when
  last", which PromQL cannot ask of a condition otherwise.
- A release fails at its first abort (`FAILED_RECORD`): later aborts before the next release —
  the progress deadline's second event, a retry that aborts again — are the same failed release.
- An outage starts at the first abort after the last healthy moment (`OUTAGE_RECORD`) and ends at
  the next moment the phase turns Completed (`RESTORED_RECORD`, the duration, once per outage).

Resolution: a moment is known to within one `INTERVAL` plus one scrape interval. A failure is
counted in the window of its abort and a release in the window of its start; releases fail
within minutes, so the two only disagree at the window's edge, where the share is capped at 1.
An outage longer than `HISTORY`, or a gap in Prometheus' data longer than `PREVIOUS` (the
counters would count again), is outside what these rules answer.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.apps_config import AppConfig, app_namespace
from components.insight.contract import APP_LABEL, NAMESPACE_LABEL, TENANT_LABEL
from components.insight.rules import prometheus_rule

# Argo Rollouts' controller metrics, and the names the chart's ServiceMonitor gives their labels.
EVENTS = "rollout_events_total"
INFO = "rollout_info"
ROLLOUT_NAMESPACE = "exported_namespace"
ROLLOUT_NAME = "name"
RELEASED = "RolloutUpdated"
ABORTED = "RolloutAborted"
HEALTHY_PHASE = "Completed"

INTERVAL = "1m"
WINDOW = "7d"
WINDOW_DAYS = 7
HISTORY = "30d"
PREVIOUS = "6h"

EVENTS_RECORD = "paved_road:rollout_events:increase1m"
PHASE_RECORD = "paved_road:rollout_phase:info"
STARTED_RECORD = "paved_road:release_started:timestamp_seconds"
ABORTED_RECORD = "paved_road:release_aborted:timestamp_seconds"
HEALTHY_RECORD = "paved_road:release_healthy:timestamp_seconds"
FAILED_RECORD = "paved_road:release_failed:timestamp_seconds"
OUTAGE_RECORD = "paved_road:release_outage_started:timestamp_seconds"
RESTORED_RECORD = "paved_road:release_restored:duration_seconds"
DEPLOYMENTS_RECORD = "paved_road:release_deployments:per_day_7d"
FAILURES_RECORD = "paved_road:release_failures:ratio_7d"
RESTORE_RECORD = "paved_road:release_time_to_restore_seconds:median_7d"

RULE_PREFIX = "paved-road-releases-"
KEYS = f"{TENANT_LABEL}, {NAMESPACE_LABEL}, {APP_LABEL}"


def released_apps(
    apps: Sequence[AppConfig], namespaces: Sequence[str]
) -> tuple[tuple[str, str], ...]:
    """(namespace, app) of each app the Argo Rollouts controller releases, in file order (the
    config refuses such apps when the delivery layer is off)."""
    return tuple(
        (app_namespace(app, list(namespaces)), app.name) for app in apps if app.needs_rollout
    )


def _selectors(apps: Sequence[tuple[str, str]], *extra: str) -> list[str]:
    """One selector per namespace, naming exactly the tenant's Rollouts in it."""
    by_namespace: dict[str, list[str]] = {}
    for namespace, app in apps:
        by_namespace.setdefault(namespace, []).append(app)
    return [
        "{"
        + ", ".join(
            [
                f'{ROLLOUT_NAMESPACE}="{namespace}"',
                f'{ROLLOUT_NAME}=~"{"|".join(sorted(names))}"',
                *extra,
            ]
        )
        + "}"
        for namespace, names in sorted(by_namespace.items())
    ]


def _as_app(expr: str) -> str:
    """The controller's labels as the insight layer names them: `namespace` and `app`."""
    renamed = f'label_replace({expr}, "{NAMESPACE_LABEL}", "$1", "{ROLLOUT_NAMESPACE}", "(.+)")'
    return f'label_replace({renamed}, "{APP_LABEL}", "$1", "{ROLLOUT_NAME}", "(.+)")'


def events_expr(apps: Sequence[tuple[str, str]]) -> str:
    """Each counter's exact increase since the previous evaluation (a new or restarted counter
    counts whole), summed per app and reason, where positive."""
    reasons = f'reason=~"{RELEASED}|{ABORTED}"'
    deltas = []
    for selector in _selectors(apps, reasons):
        counter = f"{EVENTS}{selector}"
        previous = f"last_over_time({counter}[{PREVIOUS}] offset {INTERVAL})"
        deltas.append(f"(({counter} - {previous}) >= 0)\nor {counter}")
    joined = "\nor\n".join(f"({delta})" for delta in deltas)
    return f"sum by ({NAMESPACE_LABEL}, {APP_LABEL}, reason) (\n{_as_app(joined)}\n) > 0"


def phase_expr(apps: Sequence[tuple[str, str]]) -> str:
    """The Rollout's phase (one series per app; `max` over the controller's replicas)."""
    info = " or ".join(f"{INFO}{selector}" for selector in _selectors(apps))
    return f"max by ({NAMESPACE_LABEL}, {APP_LABEL}, phase) ({_as_app(info)})"


def _of(record: str, tenant: str, *extra: str) -> str:
    return record + "{" + ", ".join([f'{TENANT_LABEL}="{tenant}"', *extra]) + "}"


def _last(record: str, tenant: str, offset: bool = False) -> str:
    """When `record` last happened (within HISTORY), before this evaluation if `offset`."""
    shift = f" offset {INTERVAL}" if offset else ""
    return f"max_over_time({_of(record, tenant)}[{HISTORY}]{shift})"


def _or_never(expr: str, present: str) -> str:
    """`expr`, or 0 (never) where it has no value but `present` has."""
    return f"({expr} or on({KEYS}) 0 * {present})"


def _event(tenant: str, reason: str) -> str:
    return _of(EVENTS_RECORD, tenant, f'reason="{reason}"')


def _releases(tenant: str) -> str:
    return f"sum by ({KEYS}) (sum_over_time({_event(tenant, RELEASED)}[{WINDOW}]))"


def rule_group(tenant: str, apps: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The tenant's release records, in evaluation order (each reads those above it)."""
    aborted, healthy = _of(ABORTED_RECORD, tenant), _of(HEALTHY_RECORD, tenant)
    completed = _of(PHASE_RECORD, tenant, f'phase="{HEALTHY_PHASE}"')
    releases = _releases(tenant)
    records = [
        (EVENTS_RECORD, events_expr(apps)),
        (PHASE_RECORD, phase_expr(apps)),
        (
            STARTED_RECORD,
            f"max by ({KEYS}) (timestamp({_event(tenant, RELEASED)}))",
        ),
        (
            ABORTED_RECORD,
            f"max by ({KEYS}) (timestamp({_event(tenant, ABORTED)}))",
        ),
        # The phase turned Completed at this evaluation.
        (
            HEALTHY_RECORD,
            f"max by ({KEYS}) (timestamp({completed} unless {completed} offset {INTERVAL}))",
        ),
        # An abort with none before it since its release started.
        (
            FAILED_RECORD,
            f"{aborted}\nunless on({KEYS})\n({_last(ABORTED_RECORD, tenant, offset=True)}\n"
            f">= on({KEYS})\n{_or_never(_last(STARTED_RECORD, tenant), aborted)})",
        ),
        # An abort with none before it since the app was last healthy.
        (
            OUTAGE_RECORD,
            f"{aborted}\nunless on({KEYS})\n({_last(ABORTED_RECORD, tenant, offset=True)}\n"
            f"> on({KEYS})\n{_or_never(_last(HEALTHY_RECORD, tenant), aborted)})",
        ),
        # Healthy again, with an outage open since the app was last healthy before.
        (
            RESTORED_RECORD,
            f"({healthy} - on({KEYS}) {_last(OUTAGE_RECORD, tenant)})\nand on({KEYS})\n"
            f"({_last(OUTAGE_RECORD, tenant)}\n> on({KEYS})\n"
            f"{_or_never(_last(HEALTHY_RECORD, tenant, offset=True), healthy)})",
        ),
        # Every released app, 0 when it had no release in the window.
        (
            DEPLOYMENTS_RECORD,
            f"{releases} / {WINDOW_DAYS}\nor on({KEYS})\n"
            f"0 * group by ({KEYS}) ({_of(PHASE_RECORD, tenant)})",
        ),
        (
            FAILURES_RECORD,
            f"clamp_max(\n(count_over_time({_of(FAILED_RECORD, tenant)}[{WINDOW}])"
            f" or on({KEYS}) 0 * {releases})\n/ on({KEYS})\n({releases} > 0),\n1)",
        ),
        (
            RESTORE_RECORD,
            f"quantile_over_time(0.5, {_of(RESTORED_RECORD, tenant)}[{WINDOW}])",
        ),
    ]
    return {
        "name": f"{tenant}-releases",
        "interval": INTERVAL,
        "rules": [
            {"record": name, "expr": expr, "labels": {TENANT_LABEL: tenant}}
            for name, expr in records
        ],
    }


def release_rule(
    tenant: str,
    apps: Sequence[tuple[str, str]],
    *,
    namespace: str,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    provider: Optional[pulumi.ProviderResource],
    operator: pulumi.Resource,
) -> k8s.apiextensions.CustomResource:
    """The tenant's release records, beside Grafana in the monitoring namespace (whose rules see
    the controller's series), after the release that brings the PrometheusRule CRD."""
    return prometheus_rule(
        f"{tenant}-release-rules",
        name=f"{RULE_PREFIX}{tenant}",
        namespace=namespace,
        labels=labels,
        groups=[rule_group(tenant, apps)],
        parent=parent,
        provider=provider,
        depends_on=[operator],
    )
