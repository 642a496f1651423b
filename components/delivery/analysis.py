"""The platform's ClusterAnalysisTemplates: the checks every canary and blue/green release runs.

A Rollout names a template and passes arguments; the controller queries the analysis provider
once a minute and judges each answer with the template's `successCondition` and
`failureCondition` (expressions over `result`). The same names and arguments exist whatever the
provider, so apps never change when the platform changes provider:

    template             arguments                                    passes while
    success-rate         service-name, namespace, threshold           2xx ratio >= threshold (0-1)
    latency-p99          service-name, namespace, threshold-ms        p99 latency <= threshold-ms
    kafka-consumer-lag   consumer-group, topic, max-lag               summed lag <= max-lag
    burn-rate            service-name, namespace, objective,          error-budget burn rate
                         max-burn-rate                                <= max-burn-rate

The traps this module is written against (Argo Rollouts `utils/evaluate` and the Prometheus
provider, v1.9):

- A Prometheus answer is a vector, handed to the conditions as a list: conditions read
  `result[0]`, never `result`.
- No traffic gives an empty vector (no series yet) or NaN (0/0 over the rate window). Indexing an
  empty list is an evaluation *error* (after `consecutiveErrorLimit` the analysis errors and the
  release aborts), and NaN compares false either way. So both conditions are guarded by
  `len(result) > 0 && !isNaN(result[0])`: with no data neither holds and the measurement is
  Inconclusive — not a pass, not an error. Argo evaluates both conditions; when neither holds it
  records Inconclusive.
- Inconclusive measurements must not add up to a pass: with `count` measurements a metric passes
  once `count` is reached with at most `inconclusiveLimit` inconclusive and `failureLimit` failed
  ones, so the limits are kept small. More silence than that ends the analysis Inconclusive and
  pauses the release for a person to decide.
- An argument is pasted into the query as text. A label matcher with an empty value
  (`service=""`) matches every series *without* that label, so an empty argument would quietly
  judge other workloads' traffic. Two locks: every templated matcher is paired with `!=""` on the
  same label, so an empty argument selects nothing; and the conditions themselves refuse to judge
  (Inconclusive) while an argument is empty, whatever the provider's query language does with it.
  Arguments have no defaults, so a Rollout that does not pass one is rejected by the controller
  (`args.<name> was not resolved`, and for background analysis an InvalidSpec).
- Two templates merged into one analysis must not share a metric name or give one argument two
  meanings: the thresholds are `threshold`, `threshold-ms` and `max-burn-rate`, and the metric
  names are the template names.
- `burn-rate` divides by the error budget `1 - objective`. An objective outside (0, 1) — a
  percentage such as `99.9` where a ratio belongs, or 1, a budget of nothing — would turn the
  division into a negative rate that always passes or into a division by zero, so its conditions
  refuse to judge (Inconclusive) unless `0 < objective < 1`.

Datadog and New Relic read the same series under the names the apps export (Datadog: the Agent's
OpenMetrics check, Kubernetes tags `kube_namespace`/`kube_service`; New Relic: Prometheus remote
write, labels as attributes). Their answers are a number or nil (Datadog) and a map (New Relic);
nil means no data and is Inconclusive like an empty vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Literal, Mapping, Optional

Provider = Literal["prometheus", "datadog", "newrelic"]

API_VERSION = "argoproj.io/v1alpha1"
KIND = "ClusterAnalysisTemplate"

SUCCESS_RATE = "success-rate"
LATENCY_P99 = "latency-p99"
KAFKA_CONSUMER_LAG = "kafka-consumer-lag"
BURN_RATE = "burn-rate"
TEMPLATE_NAMES = (SUCCESS_RATE, LATENCY_P99, KAFKA_CONSUMER_LAG, BURN_RATE)

# Arguments of each template, in the order the README documents them. None has a default. The
# first two select the series; the last is the limit a measurement is compared with.
ARGS: Mapping[str, tuple[str, ...]] = {
    SUCCESS_RATE: ("service-name", "namespace", "threshold"),
    LATENCY_P99: ("service-name", "namespace", "threshold-ms"),
    KAFKA_CONSUMER_LAG: ("consumer-group", "topic", "max-lag"),
    BURN_RATE: ("service-name", "namespace", "objective", "max-burn-rate"),
}

# One measurement a minute, ten in all: long enough to cover the classic 10-minute pause, and
# finite, so the same template also gates a blue/green pre-promotion analysis (Argo rejects
# indefinite metrics there). A third failure aborts the release, a third inconclusive answer
# pauses it, a third error in a row (provider down, threshold not a number) aborts it.
INTERVAL = "1m"
COUNT = 10
FAILURE_LIMIT = 2
INCONCLUSIVE_LIMIT = 2
CONSECUTIVE_ERROR_LIMIT = 2
# Four scrapes of kube-prometheus-stack's 30s interval: the shortest window `rate` is reliable on.
RATE_WINDOW = "2m"
# The short window of the SLO's fast-burn page (components/insight/slo.py: 14.4x over 1h and
# 5m), so `max-burn-rate: 14.4` judges the canary alone the way that page's short half judges
# the whole app. Longer than RATE_WINDOW: a canary's few requests give a steadier ratio.
BURN_RATE_WINDOW = "5m"

# What the apps and the Kafka exporter expose (Prometheus names).
REQUESTS = "http_requests_total"
DURATION_BUCKETS = "http_request_duration_seconds_bucket"
CONSUMER_LAG = "kafka_consumergroup_lag"
# What an SLO counts as a failed request (the availability SLO, components/insight/slo.py).
SERVER_ERROR_CODES = "5.."


def arg(name: str) -> str:
    """Argo Rollouts' placeholder for a template argument."""
    return "{{args." + name + "}}"


@dataclass(frozen=True)
class Measurement:
    """What a metric asks its provider and how the answer is judged."""

    provider: dict[str, Any]
    success: str
    failure: str


# --------------------------------------------------------------------------------------------------
# Conditions


def _present(*names: str) -> str:
    """True only while every named argument is non-empty (arguments are pasted in as text)."""
    return " && ".join(f'"{arg(name)}" != ""' for name in names)


def _conditions(guard: str, has_value: str, value: str, passes: str, fails: str) -> tuple[str, str]:
    """Success and failure conditions that both stay false (Inconclusive) without a value."""
    known = f"{guard} && {has_value}"
    return f"{known} && {value} {passes}", f"{known} && {value} {fails}"


def _vector(guard: str, passes: str, fails: str) -> tuple[str, str]:
    """A Prometheus vector: judge its first element, if there is one and it is a number."""
    return _conditions(guard, "len(result) > 0 && !isNaN(result[0])", "result[0]", passes, fails)


def _scalar(guard: str, passes: str, fails: str) -> tuple[str, str]:
    """A Datadog number, nil when Datadog had no points in the window."""
    return _conditions(guard, "!isNil(result)", "result", passes, fails)


def _row(guard: str, path: tuple[str, ...], passes: str, fails: str, scale: str) -> tuple[str, str]:
    """A New Relic row (a map): each step of the path is nil when NRQL had nothing to aggregate,
    and is checked before the next is read."""
    steps = ["result." + path[0], *("result." + path[0] + step for step in path[1:])]
    has_value = " && ".join(f"{step} != nil" for step in steps)
    return _conditions(guard, has_value, f"{steps[-1]}{scale}", passes, fails)


# --------------------------------------------------------------------------------------------------
# Prometheus


def _exact(**values: str) -> str:
    """Exact matchers, each paired with `!=""` so an empty value matches no series instead of
    every series that lacks the label."""
    return ", ".join(f'{label}="{value}", {label}!=""' for label, value in values.items())


def _matchers(placeholder: Callable[[str], str], **labels: str) -> str:
    """`_exact` matchers on templated values (argument names, as `placeholder` spells them)."""
    return _exact(**{label: placeholder(name) for label, name in labels.items()})


def objective_ratio(percent: float) -> str:
    """An SLO's percentage as the ratio the burn-rate query divides by: 99.9 → `0.999`
    (decimal arithmetic: no `0.9990000000000001` in the manifest)."""
    return format((Decimal(str(percent)) / 100).normalize(), "f")


def burn_rate_query(service: str, namespace: str, objective: str, window: str) -> str:
    """PromQL for the error-budget burn rate of one Service's traffic over `window`.

    The burn rate is the share of failed (5xx) requests divided by the error budget,
    `1 - objective`: 1 spends the budget exactly over the SLO's window, 14.4 spends 2% of a
    30-day budget in an hour. `service`, `namespace` and `objective` are pasted in as text, so a
    caller passes values (`"checkout-canary"`, `"shop"`, `"0.999"`) or its engine's placeholders
    (Argo Rollouts' `{{args.…}}`; a Flagger MetricTemplate's `{{ namespace }}`, `{{ target }}`,
    `{{ variables.… }}`); `objective` is a ratio in (0, 1), never a percentage. `window` is a
    PromQL duration (`5m`, or Flagger's `{{ interval }}`).

    Without traffic in the window the answer is an empty vector (the denominator is kept only
    while above 0), never NaN and never 0: no traffic is no evidence either way. With traffic and
    no 5xx series at all it is 0, not empty.
    """
    app = _exact(namespace=namespace, service=service)
    errors = f'sum(rate({REQUESTS}{{{app}, code=~"{SERVER_ERROR_CODES}"}}[{window}]))'
    total = f"sum(rate({REQUESTS}{{{app}}}[{window}]))"
    return f"({errors} or on() vector(0))\n/\n({total} > 0)\n/\n(1 - {objective})"


def prometheus_queries(placeholder: Callable[[str], str] = arg) -> dict[str, str]:
    """The PromQL of each template, arguments as `placeholder` spells them: Argo Rollouts'
    `{{args.…}}` by default; Flagger's MetricTemplates (components/delivery/flagger.py) pass
    their own, so both engines run one query."""
    app = _matchers(placeholder, namespace="namespace", service="service-name")
    ok = f'sum(rate({REQUESTS}{{{app}, code=~"2.."}}[{RATE_WINDOW}]))'
    total = f"sum(rate({REQUESTS}{{{app}}}[{RATE_WINDOW}]))"
    buckets = f"sum by (le) (rate({DURATION_BUCKETS}{{{app}}}[{RATE_WINDOW}]))"
    group = _matchers(placeholder, consumergroup="consumer-group", topic="topic")
    return {
        # No 2xx series at all (every request failed) counts as 0, not as "no data"; with no
        # requests the denominator is empty or 0 and the ratio is empty or NaN.
        SUCCESS_RATE: f"({ok} or on() vector(0))\n/\n{total}",
        LATENCY_P99: f"histogram_quantile(0.99, {buckets}) * 1000",
        KAFKA_CONSUMER_LAG: f"sum({CONSUMER_LAG}{{{group}}})",
        BURN_RATE: burn_rate_query(
            placeholder("service-name"),
            placeholder("namespace"),
            placeholder("objective"),
            BURN_RATE_WINDOW,
        ),
    }


def _prometheus(template: str, address: str) -> Measurement:
    query = prometheus_queries()[template]
    success, failure = _judged(template, _vector)
    return Measurement({"prometheus": {"address": address, "query": query}}, success, failure)


# --------------------------------------------------------------------------------------------------
# Datadog (API v2: named queries reduced to one number each, then the formula)


def _datadog(template: str) -> Measurement:
    app = f"kube_namespace:{arg('namespace')},kube_service:{arg('service-name')}"
    group = f"consumergroup:{arg('consumer-group')},topic:{arg('topic')}"
    queries: dict[str, dict[str, Any]] = {
        SUCCESS_RATE: {
            "aggregator": "sum",
            "queries": {
                "ok": f"sum:{REQUESTS}{{{app},code:2*}}.as_count()",
                "total": f"sum:{REQUESTS}{{{app}}}.as_count()",
            },
            "formula": "default_zero(ok) / total",
        },
        LATENCY_P99: {
            "aggregator": "max",
            "queries": {"p99": f"p99:http_request_duration_seconds{{{app}}}"},
            "formula": "p99 * 1000",
        },
        KAFKA_CONSUMER_LAG: {
            "aggregator": "last",
            "queries": {"lag": f"sum:{CONSUMER_LAG}{{{group}}}"},
        },
        BURN_RATE: {
            "aggregator": "sum",
            "queries": {
                "errors": f"sum:{REQUESTS}{{{app},code:5*}}.as_count()",
                "total": f"sum:{REQUESTS}{{{app}}}.as_count()",
            },
            "formula": f"default_zero(errors) / total / (1 - {arg('objective')})",
        },
    }
    success, failure = _judged(template, _scalar)
    spec = {"apiVersion": "v2", "interval": "5m", **queries[template]}
    return Measurement({"datadog": spec}, success, failure)


# --------------------------------------------------------------------------------------------------
# New Relic (NRQL; one row back, a map of the selected names)


def newrelic_queries() -> dict[str, str]:
    app = f"namespace = '{arg('namespace')}' AND service = '{arg('service-name')}'"
    group = f"consumergroup = '{arg('consumer-group')}' AND topic = '{arg('topic')}'"
    since = "SINCE 2 minutes ago"
    return {
        SUCCESS_RATE: (
            f"FROM Metric SELECT filter(sum({REQUESTS}), WHERE code LIKE '2%') / "
            f"sum({REQUESTS}) AS successRate WHERE {app} {since}"
        ),
        LATENCY_P99: (
            f"FROM Metric SELECT bucketPercentile({DURATION_BUCKETS}, 99) AS p99 "
            f"WHERE {app} {since}"
        ),
        KAFKA_CONSUMER_LAG: (
            f"SELECT sum(lag) AS lag FROM (FROM Metric SELECT latest({CONSUMER_LAG}) AS lag "
            f"WHERE {group} FACET partition LIMIT MAX) {since}"
        ),
        BURN_RATE: (
            f"FROM Metric SELECT filter(sum({REQUESTS}), WHERE code LIKE '5%') / "
            f"sum({REQUESTS}) / (1 - {arg('objective')}) AS burnRate WHERE {app} "
            "SINCE 5 minutes ago"  # BURN_RATE_WINDOW
        ),
    }


def _newrelic(template: str) -> Measurement:
    fields: dict[str, tuple[tuple[str, ...], str]] = {
        SUCCESS_RATE: (("successRate",), ""),
        # bucketPercentile answers a map of percentile to seconds.
        LATENCY_P99: (("p99", '["99"]'), " * 1000"),
        KAFKA_CONSUMER_LAG: (("lag",), ""),
        BURN_RATE: (("burnRate",), ""),
    }
    path, scale = fields[template]

    def judge(guard: str, passes: str, fails: str) -> tuple[str, str]:
        return _row(guard, path, passes, fails, scale)

    success, failure = _judged(template, judge)
    return Measurement({"newRelic": {"query": newrelic_queries()[template]}}, success, failure)


# --------------------------------------------------------------------------------------------------
# The templates


def _judged(template: str, judge: Callable[[str, str, str], tuple[str, str]]) -> tuple[str, str]:
    """The template's pass and fail comparisons, through the provider's way of reading a result."""
    first, second, *_, limit = ARGS[template]
    guard = _present(first, second)
    if template == BURN_RATE:
        # Only a ratio strictly between 0 and 1 is an objective with a budget to burn.
        guard += f" && {arg('objective')} > 0 && {arg('objective')} < 1"
    comparisons = {
        SUCCESS_RATE: (f">= {arg(limit)}", f"< {arg(limit)}"),
        LATENCY_P99: (f"<= {arg(limit)}", f"> {arg(limit)}"),
        KAFKA_CONSUMER_LAG: (f"<= {arg(limit)}", f"> {arg(limit)}"),
        BURN_RATE: (f"<= {arg(limit)}", f"> {arg(limit)}"),
    }
    passes, fails = comparisons[template]
    return judge(guard, passes, fails)


def measurement(
    template: str, provider: Provider, prometheus_address: Optional[str]
) -> Measurement:
    if provider == "prometheus":
        if prometheus_address is None:
            raise ValueError("the prometheus analysis provider needs the in-cluster Prometheus")
        return _prometheus(template, prometheus_address)
    if provider == "datadog":
        return _datadog(template)
    return _newrelic(template)


def template_spec(
    template: str, provider: Provider, prometheus_address: Optional[str]
) -> dict[str, Any]:
    """The `spec` of one ClusterAnalysisTemplate."""
    found = measurement(template, provider, prometheus_address)
    return {
        "args": [{"name": name} for name in ARGS[template]],
        "metrics": [
            {
                "name": template,
                "interval": INTERVAL,
                "count": COUNT,
                "failureLimit": FAILURE_LIMIT,
                "inconclusiveLimit": INCONCLUSIVE_LIMIT,
                "consecutiveErrorLimit": CONSECUTIVE_ERROR_LIMIT,
                "successCondition": found.success,
                "failureCondition": found.failure,
                "provider": found.provider,
            }
        ],
    }
