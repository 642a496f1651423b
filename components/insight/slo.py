"""SLO rules: one PrometheusRule per api-service, watching its error budget the SRE workbook's way.

For each SLO of an app (availability; latency when its tenant file asks for one) the rule records
the error ratio over 5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO's own window, the objective, the
budget, the current burn rate and the budget left, and alerts with the four multi-window,
multi-burn-rate conditions of "The Site Reliability Workbook", ch. 5 ("Alerting on SLOs"), table
5-8: each long window must burn fast enough to matter, and its short window (1/12 of it) must
still be burning, so an alert starts quickly and stops soon after the burning stops.

    alert               severity  burn   long  short   budget spent when it fires (30d window)
    SLOErrorBudgetBurnFast      page   14.4×  1h   5m      2%
    SLOErrorBudgetBurnSustained page    6×    6h   30m     5%
    SLOErrorBudgetBurnSlow      ticket  3×    1d   2h      10%
    SLOErrorBudgetBurnGradual   ticket  1×    3d   6h      10%

Series are the app's own: `http_requests_total{code}` and `http_request_duration_seconds_bucket`
labelled `namespace` and `service` by its ServiceMonitor (the labels the analysis templates of
components/delivery/analysis.py select on), summed over the Services that carry user traffic.
No traffic means no ratio at all (every denominator is guarded by `> 0`), so a quiet app raises
neither an SLO alert nor a NaN; an app that has never failed records a ratio of 0, not nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.apps_config import SloConfig
from components.delivery.analysis import DURATION_BUCKETS, REQUESTS
from components.insight import contract

API_VERSION = "monitoring.coreos.com/v1"
KIND = "PrometheusRule"
AVAILABILITY, LATENCY = "availability", "latency"
SERVER_ERRORS = 'code=~"5.."'
ALL_BUCKET = 'le="+Inf"'


@dataclass(frozen=True)
class BurnAlert:
    name: str
    severity: str
    factor: Decimal
    long: str
    short: str


# The SRE workbook's table 5-8, for a 30-day window; the same factors serve 7d and 28d windows.
BURN_ALERTS = (
    BurnAlert("SLOErrorBudgetBurnFast", contract.SEVERITY_PAGE, Decimal("14.4"), "1h", "5m"),
    BurnAlert("SLOErrorBudgetBurnSustained", contract.SEVERITY_PAGE, Decimal("6"), "6h", "30m"),
    BurnAlert("SLOErrorBudgetBurnSlow", contract.SEVERITY_TICKET, Decimal("3"), "1d", "2h"),
    BurnAlert("SLOErrorBudgetBurnGradual", contract.SEVERITY_TICKET, Decimal("1"), "3d", "6h"),
)


@dataclass(frozen=True)
class SloTarget:
    """One app's SLO and where its series and links are."""

    tenant: str
    namespace: str
    app: str
    # The app's Services that carry user traffic (their `service` label on the app's series).
    services: tuple[str, ...]
    slo: SloConfig
    runbook_base_url: str
    grafana_url: str = contract.DEFAULT_GRAFANA_URL


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _objective(percent: float) -> Decimal:
    return Decimal(str(percent)) / 100


def _le(bucket_ms: int) -> str:
    """A matcher for the bucket's `le` label as clients write it: Go `0.25`/`1`, Python and
    Prometheus 3's normalisation `1.0` for whole seconds."""
    seconds = Decimal(bucket_ms) / 1000
    if seconds == seconds.to_integral_value():
        return f'le=~"{int(seconds)}(\\\\.0)?"'
    return f'le="{_number(seconds)}"'


def _selector(target: SloTarget, *extra: str) -> str:
    services = "|".join(target.services)
    matchers = [f'namespace="{target.namespace}"', f'service=~"{services}"', *extra]
    return "{" + ", ".join(matchers) + "}"


def error_ratio_expr(target: SloTarget, slo: str, window: str) -> str:
    """The share of bad requests over `window`; no result without traffic."""
    by = "sum by (namespace)"
    if slo == AVAILABILITY:
        total = f"{by} (rate({REQUESTS}{_selector(target)}[{window}]))"
        errors = f"{by} (rate({REQUESTS}{_selector(target, SERVER_ERRORS)}[{window}]))"
        # No 5xx series at all is a ratio of 0 while there is traffic.
        return f"({errors} or 0 * {total})\n/\n({total} > 0)"
    latency = target.slo.latency
    assert latency is not None
    total = f"{by} (rate({DURATION_BUCKETS}{_selector(target, ALL_BUCKET)}[{window}]))"
    good_selector = _selector(target, _le(latency.bucket_ms))
    good = f"{by} (rate({DURATION_BUCKETS}{good_selector}[{window}]))"
    return f"({total} - {good})\n/\n({total} > 0)"


def _labels(target: SloTarget, slo: str) -> dict[str, str]:
    return {
        contract.TENANT_LABEL: target.tenant,
        contract.NAMESPACE_LABEL: target.namespace,
        contract.APP_LABEL: target.app,
        contract.SLO_LABEL: slo,
    }


def _series(record: str, labels: Mapping[str, str]) -> str:
    return record + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _objective_of(target: SloTarget, slo: str) -> Decimal:
    if slo == AVAILABILITY:
        return _objective(target.slo.availability)
    assert target.slo.latency is not None
    return _objective(target.slo.latency.target)


def _describe(target: SloTarget, slo: str) -> str:
    if slo == AVAILABILITY:
        return f"{target.slo.availability}% of requests succeed (non-5xx)"
    assert target.slo.latency is not None
    return (
        f"{target.slo.latency.target}% of requests are served within "
        f"{target.slo.latency.bucket_ms} ms"
    )


def rule_group(target: SloTarget, slo: str) -> dict[str, Any]:
    """The recording and alerting rules of one SLO (`availability` or `latency`) of one app."""
    labels = _labels(target, slo)
    objective = _objective_of(target, slo)
    budget = 1 - objective
    window = target.slo.window
    rules: list[dict[str, Any]] = []
    windows = [*contract.SLO_WINDOWS, *([window] if window not in contract.SLO_WINDOWS else [])]
    for each in windows:
        rules.append(
            {
                "record": contract.sli_error_ratio_record(each),
                "expr": error_ratio_expr(target, slo, each),
                "labels": dict(labels),
            }
        )
    rules += [
        {"record": contract.SLO_OBJECTIVE_RECORD, "expr": f"vector({_number(objective)})"},
        {"record": contract.SLO_ERROR_BUDGET_RECORD, "expr": f"vector({_number(budget)})"},
    ]
    for rule in rules[-2:]:
        rule["labels"] = dict(labels)
    ratio = lambda each: _series(contract.sli_error_ratio_record(each), labels)  # noqa: E731
    rules += [
        {
            "record": contract.SLO_CURRENT_BURN_RATE_RECORD,
            "expr": f"{ratio('5m')} / {_number(budget)}",
            "labels": dict(labels),
        },
        {
            # 1 is a whole budget left, 0 none, below 0 overspent.
            "record": contract.SLO_BUDGET_REMAINING_RECORD,
            "expr": f"1 - {ratio(window)} / {_number(budget)}",
            "labels": dict(labels),
        },
    ]
    remaining = _series(contract.SLO_BUDGET_REMAINING_RECORD, labels)
    dashboard = contract.dashboard_url(target.grafana_url, target.tenant, target.app)
    for alert in BURN_ALERTS:
        threshold = _number(alert.factor * budget)
        rules.append(
            {
                "alert": alert.name,
                # The value is the long window's burn rate, for the description.
                "expr": (
                    f"{ratio(alert.long)} / {_number(budget)} > {_number(alert.factor)}\n"
                    f"and\n{ratio(alert.short)} > {threshold}"
                ),
                "labels": {
                    **labels,
                    "severity": alert.severity,
                    contract.KIND_LABEL: contract.KIND_SLO,
                },
                "annotations": {
                    "summary": (
                        f"{target.app} ({target.namespace}) is burning its {slo} error budget "
                        f"at more than {_number(alert.factor)}x"
                    ),
                    "description": (
                        f"SLO: {_describe(target, slo)} over {window}. Over the last "
                        f"{alert.long} (and still over the last {alert.short}) the error "
                        'budget burned at {{ $value | printf "%.1f" }}x the sustainable rate; '
                        "budget left over " + window + ": "
                        f"{{{{ with query `{remaining}` }}}}"
                        "{{ . | first | value | humanizePercentage }}"
                        "{{ else }}unknown{{ end }}."
                    ),
                    "runbook_url": contract.runbook_url(target.runbook_base_url, alert.name),
                    "dashboard": dashboard,
                },
            }
        )
    return {"name": f"{target.app}-slo-{slo}", "rules": rules}


def rule_groups(target: SloTarget) -> list[dict[str, Any]]:
    groups = [rule_group(target, AVAILABILITY)]
    if target.slo.latency is not None:
        groups.append(rule_group(target, LATENCY))
    return groups


def latency_bucket_note(slo: SloConfig) -> Optional[str]:
    """Why a latency SLO counts a different threshold than written, or None."""
    latency = slo.latency
    if latency is None or latency.bucket_ms == latency.threshold_ms:
        return None
    return (
        f"latency threshold {latency.threshold_ms} ms counted at the {latency.bucket_ms} ms "
        "bucket (the nearest boundary at or below it)"
    )


SLO_NOTE_ANNOTATION = "paved-road/slo-note"


def slo_rule(
    name: str,
    target: SloTarget,
    *,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource,
    depends_on: Sequence[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    """The app's PrometheusRule, after the release that brings the CRD (in `depends_on`)."""
    metadata: dict[str, Any] = {
        "name": f"{target.app}-slo",
        "namespace": target.namespace,
        "labels": dict(labels),
    }
    note = latency_bucket_note(target.slo)
    if note:
        metadata["annotations"] = {SLO_NOTE_ANNOTATION: note}
    return k8s.apiextensions.CustomResource(
        name,
        api_version=API_VERSION,
        kind=KIND,
        metadata=metadata,
        spec={"groups": rule_groups(target)},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )
