"""Anomaly alerts: request rate, error ratio and p99 latency compared with their own last week.

GitLab's recipe (z-scores over a week, with the same hour a week earlier for seasonality), on the
metric contract of the analysis templates (`http_requests_total{code}`,
`http_request_duration_seconds_bucket`, labelled `namespace` and `service` by the app's
ServiceMonitor). For each signal S the rules record:

- `S` itself, a 5-minute rate, every evaluation;
- `S:avg_over_time_1w` and `S:stddev_over_time_1w`, its mean and spread over the last week;
- `S:offset_1w`, its value at the same time one week earlier;
- `S:zscore_1w` (distance from the week's mean) and `S:seasonal_zscore_1w` (distance from the
  same time last week), both in the week's standard deviations.

An alert needs both z-scores beyond 3 in the same direction for 10 minutes: unusual for the week
*and* unlike this hour last week, so Monday's 9 o'clock rush or a weekly batch (which repeat) do
not alert, while a spike that last week did not have does. Error ratio and latency alert only
upwards (fewer errors or faster answers are nobody's ticket); request rate both ways (a drop is
often an outage upstream). An app is judged only while it serves at least `TRAFFIC_FLOOR_RPS`
now or served that much a week ago: at a few requests a minute, one slow request is a 3σ event.

The week's statistics are recorded in their own, slower group (`STATS_INTERVAL`): a mean over
a week moves little in two minutes, and a week of samples per evaluation is the expensive part.
A new app gets anomaly alerts once it has a week of history (before that `offset 1w` is empty).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from components.delivery.analysis import DURATION_BUCKETS, REQUESTS
from components.insight import contract
from components.insight.rules import alert, platform_labels, tenant_labels

# Requests per second below which an app (or the platform) is too quiet to judge, now and a
# week ago: a documented constant rather than config, so every team's tickets mean the same.
TRAFFIC_FLOOR_RPS = 1.0
Z_THRESHOLD = 3
FOR = "10m"
RATE_WINDOW = "5m"
# Well inside Prometheus' 5-minute lookback, so the fast group never finds the statistics stale.
STATS_INTERVAL = "2m"
WEEK = "1w"

# The signals: (suffix of the recorded name, what it is, which direction is an anomaly).
RATE = "http_requests:rate5m"
ERRORS = "http_requests_errors:ratio_rate5m"
LATENCY = "http_request_duration_seconds:p99_rate5m"
BOTH, UP = "both", "up"
SIGNALS = (
    (RATE, "request rate", BOTH, "RequestRate", '{{ $value | printf "%.1f" }}σ'),
    (ERRORS, "error ratio", UP, "ErrorRatio", '{{ $value | printf "%.1f" }}σ'),
    (LATENCY, "p99 latency", UP, "Latency", '{{ $value | printf "%.1f" }}σ'),
)


def record(level: str, signal: str, suffix: str = "") -> str:
    """A recorded series' name: `<level>:<signal>[:<suffix>]` (Prometheus' naming convention)."""
    return f"{level}:{signal}:{suffix}" if suffix else f"{level}:{signal}"


def _current(selector: str) -> dict[str, str]:
    """The three signals' PromQL over the raw series `selector` picks.

    The error ratio and the quantile are recorded only while there is traffic: a NaN sample
    (0/0) would poison the week's mean and spread for a week.
    """
    every = f"sum(rate({REQUESTS}{{{selector}}}[{RATE_WINDOW}]))"
    errors = f'sum(rate({REQUESTS}{{{selector}, code=~"5.."}}[{RATE_WINDOW}]))'
    buckets = f"sum by (le) (rate({DURATION_BUCKETS}{{{selector}}}[{RATE_WINDOW}]))"
    return {
        RATE: every,
        ERRORS: f"({errors} or vector(0))\n/\n({every} > 0)",
        LATENCY: f"histogram_quantile(0.99, {buckets}) >= 0",
    }


def rule_groups(
    level: str,
    group: str,
    selector: str,
    labels: Mapping[str, str],
    alert_labels: Mapping[str, str],
    *,
    subject: str,
    runbook_base_url: str,
    dashboard: str,
) -> list[dict[str, Any]]:
    """Two groups: the current signals, z-scores and alerts; and the week's statistics.

    `labels` are put on every recorded series (they identify the app, or nothing platform-wide)
    and `series` selects the recorded series back by them.
    """
    match = ", ".join(f'{k}="{v}"' for k, v in labels.items())

    def series(signal: str, suffix: str = "") -> str:
        return (
            f"{record(level, signal, suffix)}{{{match}}}"
            if match
            else record(level, signal, suffix)
        )

    current: list[dict[str, Any]] = []
    stats: list[dict[str, Any]] = []
    for signal, expr in _current(selector).items():
        current.append({"record": record(level, signal), "expr": expr, "labels": dict(labels)})
        for suffix, function in (
            ("avg_over_time_1w", "avg_over_time"),
            ("stddev_over_time_1w", "stddev_over_time"),
        ):
            stats.append(
                {
                    "record": record(level, signal, suffix),
                    "expr": f"{function}({series(signal)}[{WEEK}])",
                    "labels": dict(labels),
                }
            )
        stats.append(
            {
                "record": record(level, signal, "offset_1w"),
                "expr": f"{series(signal)} offset {WEEK}",
                "labels": dict(labels),
            }
        )
        spread = series(signal, "stddev_over_time_1w")
        for suffix, baseline in (
            ("zscore_1w", "avg_over_time_1w"),
            ("seasonal_zscore_1w", "offset_1w"),
        ):
            current.append(
                {
                    "record": record(level, signal, suffix),
                    "expr": f"({series(signal)} - {series(signal, baseline)})\n/\n{spread}",
                    "labels": dict(labels),
                }
            )

    rate, floor = series(RATE), TRAFFIC_FLOOR_RPS
    traffic = f"({rate} > {floor} or {series(RATE, 'offset_1w')} > {floor})"
    for signal, what, direction, title, _ in SIGNALS:
        z, seasonal = series(signal, "zscore_1w"), series(signal, "seasonal_zscore_1w")
        up = f"({z} > {Z_THRESHOLD} and {seasonal} > {Z_THRESHOLD})"
        down = f"({z} < -{Z_THRESHOLD} and {seasonal} < -{Z_THRESHOLD})"
        unusual = f"({up} or {down})" if direction == BOTH else up
        name = f"{'App' if level == 'app' else 'Platform'}{title}Anomaly"
        current.append(
            alert(
                name,
                f"{z}\nand {unusual}\nand {traffic}",
                labels=alert_labels,
                summary=f"{subject}: {what} is unusual for the last week and this time of week",
                description=(
                    f'The {what} of {subject} is {{{{ $value | printf "%.1f" }}}} standard '
                    f"deviations from its mean over the last week, and as far from its value at "
                    f"the same time one week ago, for {FOR}. Compare `{record(level, signal)}` "
                    f"with `{record(level, signal, 'offset_1w')}` on the dashboard; look for a "
                    f"release, a traffic source or a dependency that changed."
                ),
                runbook_base_url=runbook_base_url,
                dashboard=dashboard,
                for_=FOR,
            )
        )
    return [
        {"name": f"{group}-week", "interval": STATS_INTERVAL, "rules": stats},
        {"name": group, "rules": current},
    ]


def app_rule_groups(
    tenant: str,
    namespace: str,
    app: str,
    services: Sequence[str],
    *,
    runbook_base_url: str,
    grafana_url: str = contract.DEFAULT_GRAFANA_URL,
) -> list[dict[str, Any]]:
    """An api-service app's anomaly rules, over the series of its Services (stable, canary or
    preview): selected by `namespace` too, the label the tenant's Prometheus enforces."""
    alternatives = "|".join(sorted(services))
    selector = f'namespace="{namespace}", service=~"{alternatives}"'
    labels = {
        contract.TENANT_LABEL: tenant,
        contract.NAMESPACE_LABEL: namespace,
        contract.APP_LABEL: app,
    }
    return rule_groups(
        "app",
        f"anomaly-{app}",
        selector,
        labels,
        tenant_labels(tenant, namespace, contract.KIND_ANOMALY, app),
        subject=f"{tenant}/{app}",
        runbook_base_url=runbook_base_url,
        dashboard=contract.dashboard_url(grafana_url, tenant, app),
    )


# The kube-prometheus-stack's bundled dashboards carry this tag (kubernetes-mixin).
PLATFORM_DASHBOARDS_TAG = "kubernetes-mixin"


def platform_dashboard(grafana_url: str) -> str:
    return f"{grafana_url.rstrip('/')}/dashboards?tag={PLATFORM_DASHBOARDS_TAG}"


def platform_rule_groups(
    *, runbook_base_url: str, grafana_url: str = contract.DEFAULT_GRAFANA_URL
) -> list[dict[str, Any]]:
    """Every app's traffic together, for the platform team: an ingress, DNS or node problem
    shows as an anomaly of the whole before any one team's alert makes sense of it."""
    return rule_groups(
        "cluster",
        "anomaly-platform",
        'service!=""',
        {},
        platform_labels(contract.KIND_ANOMALY),
        subject="all apps",
        runbook_base_url=runbook_base_url,
        dashboard=platform_dashboard(grafana_url),
    )
