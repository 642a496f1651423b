"""The analysis templates' queries, run by promtool against synthetic series, and judged the way
the Argo Rollouts controller judges them.

For each scenario the template is taken from the planned manifests, its `{{args.…}}` placeholders
are resolved as the controller resolves them (the whole metric at once; an unknown placeholder is
an error), the resolved PromQL is evaluated by `promtool test rules` over `input_series`, and the
answer — a vector, handed to the conditions as a list of floats, exactly like the Prometheus
provider does — is judged with the metric's `successCondition` and `failureCondition` by
`evaluate`, a small mirror of Argo Rollouts' `utils/evaluate.EvaluateResult`: failure wins, neither
is Inconclusive, an expression that does not compile or fails at run time is an Error.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from components.delivery import analysis
from pavedroad.plan import kubernetes_objects
from tests.conftest import shipped_plan

SUCCESSFUL, FAILED, INCONCLUSIVE, ERROR = "Successful", "Failed", "Inconclusive", "Error"
EVAL_TIME = "10m"


# --------------------------------------------------------------------------------------------------
# What the controller does: resolve arguments, evaluate conditions


class UnresolvedArgument(Exception):
    pass


def resolve(text: str, args: dict[str, Optional[str]]) -> str:
    """Argo Rollouts' `utils/template.ResolveArgs` (fasttemplate with `{{`/`}}`): every tag is
    trimmed and looked up as `args.<name>`; a tag that is not a supplied argument is an error."""
    out, rest = [], text
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        if "}}" not in after:
            break
        tag, _, rest = after.partition("}}")
        name = tag.strip().removeprefix("args.")
        if not tag.strip().startswith("args.") or args.get(name) is None:
            raise UnresolvedArgument(f"failed to resolve {{{{{tag}}}}}")
        out += [before, args[name]]
    return "".join(out) + rest


def resolved_metric(template: str, args: dict[str, Optional[str]]) -> dict[str, Any]:
    """The metric as the controller runs it: arguments substituted into its JSON (values
    JSON-escaped, as `ResolveQuotedArgs` does), then parsed back."""
    (metric,) = planned_templates()[template]["spec"]["metrics"]
    escaped = {k: None if v is None else json.dumps(v)[1:-1] for k, v in args.items()}
    return json.loads(resolve(json.dumps(metric), escaped))


class Row(dict):
    """A New Relic row: `result.field` reads a key, nil when absent (as in expr)."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return Row(value) if isinstance(value, dict) else value


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _python(condition: str) -> str:
    """Translate the expr subset the templates use into Python, outside string literals."""
    parts, last = [], 0
    for literal in _STRING.finditer(condition):
        parts += [_operators(condition[last : literal.start()]), literal.group()]
        last = literal.end()
    parts.append(_operators(condition[last:]))
    return "".join(parts)


def _operators(code: str) -> str:
    code = code.replace("&&", " and ").replace("||", " or ")
    code = re.sub(r"!(?!=)", " not ", code)
    for word, python in (("nil", "None"), ("true", "True"), ("false", "False")):
        code = re.sub(rf"\b{word}\b", python, code)
    return code


def condition_holds(condition: str, result: Any) -> bool:
    """One condition, with the functions Argo's expression environment provides."""
    environment = {
        "__builtins__": {},
        "result": Row(result) if isinstance(result, dict) else result,
        "len": len,
        "isNaN": math.isnan,
        "isNil": lambda _: result is None,
    }
    value = eval(compile(_python(condition), "<condition>", "eval"), environment)
    if not isinstance(value, bool):
        raise TypeError(f"expected bool, but got {type(value).__name__}")
    return value


def evaluate(metric: dict[str, Any], result: Any) -> str:
    """`EvaluateResult`: failure wins; neither condition holding is Inconclusive."""
    try:
        success = condition_holds(metric["successCondition"], result)
        failure = condition_holds(metric["failureCondition"], result)
    except Exception:  # noqa: BLE001 — any compile or run-time error is the Error phase
        return ERROR
    if failure:
        return FAILED
    return SUCCESSFUL if success else INCONCLUSIVE


# --------------------------------------------------------------------------------------------------
# promtool


def require_promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: CI installs it (Debian package `prometheus`)")
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return found


_SAMPLE = re.compile(r"\{[^}]*\}\s+(\S+)")


def promql(tmp_path: Path, query: str, series: dict[str, str]) -> list[float]:
    """Evaluate `query` at EVAL_TIME over `series` (30s apart) with `promtool test rules`.

    The test expects an empty answer: promtool passes if it is empty and otherwise reports what
    it got (`got: {labels} value, …`), which is read back as the vector's values."""
    promtool = require_promtool()
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "30s",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": [{"expr": query, "eval_time": EVAL_TIME, "exp_samples": []}],
            }
        ],
    }
    path = tmp_path / "analysis_test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    run = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, cwd=tmp_path
    )
    output = run.stdout + run.stderr
    if run.returncode == 0:
        return []
    got = re.search(r"^\s*got:\s*(.*)$", output, re.MULTILINE)
    assert got is not None, f"promtool could not evaluate the query:\n{query}\n{output}"
    return [float(value) for value in _SAMPLE.findall(got.group(1))]


def measure(
    tmp_path: Path, template: str, args: dict[str, Optional[str]], series: dict[str, str]
) -> tuple[str, list[float]]:
    """One measurement of a planned template: its phase, and the vector it judged."""
    metric = resolved_metric(template, args)
    result = promql(tmp_path, metric["provider"]["prometheus"]["query"], series)
    return evaluate(metric, result), result


def planned_templates() -> dict[str, dict[str, Any]]:
    objects = kubernetes_objects(shipped_plan("dev").resources)
    return {m["metadata"]["name"]: m for m in objects if m["kind"] == "ClusterAnalysisTemplate"}


# --------------------------------------------------------------------------------------------------
# Synthetic series (30 seconds apart; `a+bxN` is a counter growing by b per sample)


def requests(service: str, namespace: str = "shop", **per_code: int) -> dict[str, str]:
    labels = (
        f'namespace="{namespace}", service="{service}"' if service else f'namespace="{namespace}"'
    )
    return {
        f'http_requests_total{{{labels}, code="{code}"}}': f"0+{rate}x20"
        for code, rate in per_code.items()
    }


def latency(service: str, **per_bucket: int) -> dict[str, str]:
    """Cumulative histogram buckets, keyed `le_0_1=…` for le="0.1" (`le_inf` for +Inf)."""
    series = {}
    for key, rate in per_bucket.items():
        le = "+Inf" if key == "le_inf" else key.removeprefix("le_").replace("_", ".")
        name = f'http_request_duration_seconds_bucket{{namespace="shop", service="{service}", le="{le}"}}'
        series[name] = f"0+{rate}x20"
    return series


def lag(group: str, topic: str, *per_partition: int) -> dict[str, str]:
    return {
        f'kafka_consumergroup_lag{{consumergroup="{group}", topic="{topic}", partition="{p}"}}': f"{value}x20"
        for p, value in enumerate(per_partition)
    }


CHECKOUT = {"service-name": "checkout", "namespace": "shop"}
SUCCESS = {**CHECKOUT, "threshold": "0.99"}
LATENCY = {**CHECKOUT, "threshold-ms": "500"}
ORDERS = {"consumer-group": "orders-worker", "topic": "orders", "max-lag": "1000"}
# A 99.9% availability SLO (a budget of 0.1% failed requests), gated at the fast-burn rate.
BURN = {**CHECKOUT, "objective": "0.999", "max-burn-rate": "14.4"}


# --------------------------------------------------------------------------------------------------
# success-rate


def test_full_success_passes(tmp_path: Path) -> None:
    phase, result = measure(tmp_path, "success-rate", SUCCESS, requests("checkout", **{"200": 100}))
    assert result == [1.0] and phase == SUCCESSFUL


def test_ninety_five_percent_fails_a_99_percent_threshold(tmp_path: Path) -> None:
    series = requests("checkout", **{"200": 95, "503": 5})
    phase, result = measure(tmp_path, "success-rate", SUCCESS, series)
    assert result == [pytest.approx(0.95)] and phase == FAILED


def test_every_request_failing_fails_rather_than_looking_like_no_data(tmp_path: Path) -> None:
    """No 2xx series exists at all: the ratio must be 0, not an empty answer."""
    phase, result = measure(tmp_path, "success-rate", SUCCESS, requests("checkout", **{"500": 40}))
    assert result == [0.0] and phase == FAILED


def test_no_traffic_is_inconclusive(tmp_path: Path) -> None:
    """Series exist but nothing moved in the window: 0/0 is NaN."""
    phase, result = measure(tmp_path, "success-rate", SUCCESS, requests("checkout", **{"200": 0}))
    assert len(result) == 1 and math.isnan(result[0])
    assert phase == INCONCLUSIVE


def test_no_series_yet_is_inconclusive(tmp_path: Path) -> None:
    """A canary that has not been scraped yet: the answer is an empty vector."""
    phase, result = measure(tmp_path, "success-rate", SUCCESS, requests("search", **{"500": 10}))
    assert result == [] and phase == INCONCLUSIVE


def test_other_services_and_namespaces_do_not_count(tmp_path: Path) -> None:
    series = {
        **requests("checkout", **{"200": 100}),
        **requests("payments", **{"500": 100}),
        **requests("checkout", namespace="staging-shop", **{"500": 100}),
    }
    phase, result = measure(tmp_path, "success-rate", SUCCESS, series)
    assert result == [1.0] and phase == SUCCESSFUL


def test_an_empty_argument_never_judges_other_series(tmp_path: Path) -> None:
    """`service=""` alone matches every series without a `service` label: here, a failing job.
    The naive matcher would have judged it; the template selects nothing and stays undecided."""
    series = {**requests("", **{"500": 100}), **requests("checkout", **{"200": 100})}
    naive = 'sum(rate(http_requests_total{namespace="shop", service="", code=~"2.."}[2m]))'
    assert promql(tmp_path, naive.replace('code=~"2.."', 'code="500"'), series) != []
    phase, result = measure(tmp_path, "success-rate", {**SUCCESS, "service-name": ""}, series)
    assert result == [] and phase == INCONCLUSIVE


def test_an_empty_argument_is_inconclusive_even_when_series_match() -> None:
    """The conditions refuse to judge with an empty argument, whatever the query returned."""
    metric = resolved_metric("success-rate", {**SUCCESS, "namespace": ""})
    assert evaluate(metric, [1.0]) == INCONCLUSIVE
    assert evaluate(metric, [0.5]) == INCONCLUSIVE


def test_a_missing_argument_is_refused() -> None:
    with pytest.raises(UnresolvedArgument):
        resolved_metric("success-rate", {"service-name": "checkout", "threshold": "0.99"})


def test_an_empty_or_malformed_threshold_is_an_error_not_a_verdict() -> None:
    for threshold in ("", "99%"):
        metric = resolved_metric("success-rate", {**SUCCESS, "threshold": threshold})
        assert evaluate(metric, [1.0]) == ERROR, threshold


# --------------------------------------------------------------------------------------------------
# latency-p99


def test_fast_responses_pass_the_p99_threshold(tmp_path: Path) -> None:
    series = latency("checkout", le_0_1=100, le_0_5=100, le_1=100, le_inf=100)
    phase, result = measure(tmp_path, "latency-p99", LATENCY, series)
    assert result == [pytest.approx(99.0)] and phase == SUCCESSFUL


def test_p99_above_the_threshold_fails(tmp_path: Path) -> None:
    series = latency("checkout", le_0_1=1, le_0_5=2, le_1=10, le_2_5=100, le_inf=100)
    phase, result = measure(tmp_path, "latency-p99", LATENCY, series)
    assert result[0] > 500 and phase == FAILED


def test_latency_without_traffic_is_inconclusive(tmp_path: Path) -> None:
    series = latency("checkout", le_0_1=0, le_0_5=0, le_inf=0)
    phase, result = measure(tmp_path, "latency-p99", LATENCY, series)
    assert len(result) == 1 and math.isnan(result[0]) and phase == INCONCLUSIVE


def test_latency_of_another_service_does_not_count(tmp_path: Path) -> None:
    series = latency("payments", le_0_1=0, le_1=0, le_10=100, le_inf=100)
    phase, result = measure(tmp_path, "latency-p99", LATENCY, series)
    assert result == [] and phase == INCONCLUSIVE


# --------------------------------------------------------------------------------------------------
# kafka-consumer-lag


def test_lag_summed_over_partitions_within_the_limit_passes(tmp_path: Path) -> None:
    series = {**lag("orders-worker", "orders", 100, 200, 300), **lag("audit", "orders", 9000)}
    phase, result = measure(tmp_path, "kafka-consumer-lag", ORDERS, series)
    assert result == [600.0] and phase == SUCCESSFUL


def test_lag_above_the_limit_fails(tmp_path: Path) -> None:
    series = lag("orders-worker", "orders", 400, 400, 400)
    phase, result = measure(tmp_path, "kafka-consumer-lag", ORDERS, series)
    assert result == [1200.0] and phase == FAILED


def test_an_unknown_consumer_group_is_inconclusive(tmp_path: Path) -> None:
    phase, result = measure(tmp_path, "kafka-consumer-lag", ORDERS, lag("audit", "orders", 5))
    assert result == [] and phase == INCONCLUSIVE


def test_an_empty_topic_never_sums_every_topic(tmp_path: Path) -> None:
    series = {**lag("orders-worker", "orders", 5000), **lag("orders-worker", "refunds", 5000)}
    phase, result = measure(tmp_path, "kafka-consumer-lag", {**ORDERS, "topic": ""}, series)
    assert result == [] and phase == INCONCLUSIVE


# --------------------------------------------------------------------------------------------------
# burn-rate: the canary's 5xx ratio over the SLO's error budget


def test_a_fast_burn_fails(tmp_path: Path) -> None:
    """5% of requests failing against a 0.1% budget: 50x, far above 14.4x."""
    series = requests("checkout", **{"200": 95, "503": 5})
    phase, result = measure(tmp_path, "burn-rate", BURN, series)
    assert result == [pytest.approx(50.0)] and phase == FAILED


def test_normal_traffic_passes(tmp_path: Path) -> None:
    """One failure in a thousand and one requests spends the budget at about 1x."""
    series = requests("checkout", **{"200": 1000, "500": 1})
    phase, result = measure(tmp_path, "burn-rate", BURN, series)
    assert result == [pytest.approx(1 / 1001 / 0.001)] and phase == SUCCESSFUL


def test_the_limit_is_the_max_burn_rate(tmp_path: Path) -> None:
    """1% failing is 10x (passes 14.4), 2% is 20x (fails); a stricter limit fails the first."""
    one_percent = requests("checkout", **{"200": 99, "500": 1})
    phase, result = measure(tmp_path, "burn-rate", BURN, one_percent)
    assert result == [pytest.approx(10.0)] and phase == SUCCESSFUL
    phase, _ = measure(tmp_path, "burn-rate", {**BURN, "max-burn-rate": "6"}, one_percent)
    assert phase == FAILED
    two_percent = requests("checkout", **{"200": 98, "500": 2})
    phase, result = measure(tmp_path, "burn-rate", BURN, two_percent)
    assert result == [pytest.approx(20.0)] and phase == FAILED


def test_the_budget_is_the_objectives(tmp_path: Path) -> None:
    """The same 1% of failures is 2x a 99.5% SLO's budget and 100x a 99.99% SLO's."""
    series = requests("checkout", **{"200": 99, "500": 1})
    phase, result = measure(tmp_path, "burn-rate", {**BURN, "objective": "0.995"}, series)
    assert result == [pytest.approx(2.0)] and phase == SUCCESSFUL
    phase, result = measure(tmp_path, "burn-rate", {**BURN, "objective": "0.9999"}, series)
    assert result == [pytest.approx(100.0)] and phase == FAILED


def test_without_a_single_failure_the_burn_rate_is_zero_not_missing(tmp_path: Path) -> None:
    """No 5xx series exists at all: that is a burn rate of 0, a pass, not "no data"."""
    phase, result = measure(tmp_path, "burn-rate", BURN, requests("checkout", **{"200": 50}))
    assert result == [0.0] and phase == SUCCESSFUL


def test_client_errors_do_not_burn_the_budget(tmp_path: Path) -> None:
    """The SLO counts 5xx as failures; a 404 is the client's mistake, not the release's."""
    series = requests("checkout", **{"200": 50, "404": 50})
    phase, result = measure(tmp_path, "burn-rate", BURN, series)
    assert result == [0.0] and phase == SUCCESSFUL


def test_no_traffic_burns_nothing_and_is_inconclusive(tmp_path: Path) -> None:
    """Series exist but nothing moved in the window: no division by zero, no NaN, no 0 — an
    empty answer, neither a pass nor a failure."""
    series = requests("checkout", **{"200": 0, "500": 0})
    phase, result = measure(tmp_path, "burn-rate", BURN, series)
    assert result == [] and phase == INCONCLUSIVE


def test_a_canary_not_scraped_yet_is_inconclusive(tmp_path: Path) -> None:
    phase, result = measure(tmp_path, "burn-rate", BURN, requests("search", **{"500": 10}))
    assert result == [] and phase == INCONCLUSIVE


def test_only_the_service_under_test_burns(tmp_path: Path) -> None:
    """The stable version failing, or another namespace, is not the canary's burn."""
    series = {
        **requests("checkout", **{"200": 100}),
        **requests("checkout-stable", **{"500": 100}),
        **requests("checkout", namespace="staging-shop", **{"500": 100}),
    }
    phase, result = measure(tmp_path, "burn-rate", BURN, series)
    assert result == [0.0] and phase == SUCCESSFUL


def test_an_empty_service_never_judges_other_series_burn(tmp_path: Path) -> None:
    series = {**requests("", **{"500": 100}), **requests("checkout", **{"200": 100})}
    phase, result = measure(tmp_path, "burn-rate", {**BURN, "service-name": ""}, series)
    assert result == [] and phase == INCONCLUSIVE


@pytest.mark.parametrize("objective", ["99.9", "1", "0", "-0.5"])
def test_an_objective_that_is_not_a_ratio_below_one_never_judges(
    tmp_path: Path, objective: str
) -> None:
    """A percentage where a ratio belongs would make every burn negative (a pass); an
    objective of 1 divides by a budget of 0. Neither may reach a verdict."""
    series = requests("checkout", **{"200": 50, "500": 50})
    phase, _ = measure(tmp_path, "burn-rate", {**BURN, "objective": objective}, series)
    assert phase == INCONCLUSIVE


def test_an_empty_or_malformed_objective_or_limit_is_an_error_not_a_verdict() -> None:
    for args in (
        {**BURN, "objective": ""},
        {**BURN, "objective": "99.9%"},
        {**BURN, "max-burn-rate": ""},
        {**BURN, "max-burn-rate": "fast"},
    ):
        metric = resolved_metric("burn-rate", args)
        assert evaluate(metric, [1.0]) == ERROR, args


def test_the_burn_rate_counts_failures_as_the_slo_rules_do(tmp_path: Path) -> None:
    """The template's query over one Service equals the SLO's recorded 5m error ratio
    (components/insight/slo.py) over that Service, divided by the budget: a canary gated at
    14.4x is judged on the numbers the fast-burn page reads."""
    from components.apps_config import SloConfig
    from components.insight import slo

    target = slo.SloTarget(
        tenant="shop",
        namespace="shop",
        app="checkout",
        services=("checkout",),
        slo=SloConfig(availability=99.9),
        runbook_base_url="https://runbooks.example/",
    )
    series = requests("checkout", **{"200": 90, "404": 7, "503": 3})
    recorded = promql(tmp_path, slo.error_ratio_expr(target, slo.AVAILABILITY, "5m"), series)
    query = analysis.burn_rate_query("checkout", "shop", "0.999", analysis.BURN_RATE_WINDOW)
    assert promql(tmp_path, query, series) == [pytest.approx(recorded[0] / 0.001)]
    assert recorded == [pytest.approx(0.03)]


# --------------------------------------------------------------------------------------------------
# The judge itself: it must know the traps, or the tests above prove nothing


def test_the_judge_knows_the_classic_traps() -> None:
    naive = {"successCondition": "result[0] >= 0.99", "failureCondition": "result[0] < 0.99"}
    assert evaluate(naive, []) == ERROR, "indexing an empty vector is an evaluation error"
    assert evaluate(naive, [float("nan")]) == INCONCLUSIVE, "NaN compares false both ways"
    assert evaluate({**naive, "successCondition": "result >= 0.99"}, [1.0]) == ERROR
    only_success = {"successCondition": "result[0] >= 0.99", "failureCondition": "false"}
    assert evaluate(only_success, [0.5]) == INCONCLUSIVE
    assert evaluate(naive, [0.999]) == SUCCESSFUL and evaluate(naive, [0.9]) == FAILED


# --------------------------------------------------------------------------------------------------
# Datadog and New Relic: the same verdicts on their result shapes (their queries run remotely)


def provider_metric(provider: str, template: str, args: dict[str, str]) -> dict[str, Any]:
    (metric,) = analysis.template_spec(template, provider, None)["metrics"]
    escaped = {k: json.dumps(v)[1:-1] for k, v in args.items()}
    return json.loads(resolve(json.dumps(metric), escaped))


@pytest.mark.parametrize(
    "provider, template, args, result, phase",
    [
        ("datadog", "success-rate", SUCCESS, 1.0, SUCCESSFUL),
        ("datadog", "success-rate", SUCCESS, 0.95, FAILED),
        ("datadog", "success-rate", SUCCESS, None, INCONCLUSIVE),
        ("datadog", "success-rate", {**SUCCESS, "service-name": ""}, 1.0, INCONCLUSIVE),
        ("datadog", "latency-p99", LATENCY, 120.0, SUCCESSFUL),
        ("datadog", "latency-p99", LATENCY, 900.0, FAILED),
        ("datadog", "kafka-consumer-lag", ORDERS, None, INCONCLUSIVE),
        ("datadog", "kafka-consumer-lag", ORDERS, 5000.0, FAILED),
        ("newrelic", "success-rate", SUCCESS, {"successRate": 1.0}, SUCCESSFUL),
        ("newrelic", "success-rate", SUCCESS, {"successRate": 0.95}, FAILED),
        ("newrelic", "success-rate", SUCCESS, {"successRate": None}, INCONCLUSIVE),
        ("newrelic", "latency-p99", LATENCY, {"p99": {"99": 0.12}}, SUCCESSFUL),
        ("newrelic", "latency-p99", LATENCY, {"p99": {"99": 0.9}}, FAILED),
        ("newrelic", "latency-p99", LATENCY, {"p99": None}, INCONCLUSIVE),
        ("newrelic", "latency-p99", LATENCY, {"p99": {"99": None}}, INCONCLUSIVE),
        ("newrelic", "kafka-consumer-lag", ORDERS, {"lag": 10.0}, SUCCESSFUL),
        ("newrelic", "kafka-consumer-lag", {**ORDERS, "topic": ""}, {"lag": 10.0}, INCONCLUSIVE),
        ("datadog", "burn-rate", BURN, 1.0, SUCCESSFUL),
        ("datadog", "burn-rate", BURN, 50.0, FAILED),
        ("datadog", "burn-rate", BURN, None, INCONCLUSIVE),
        ("datadog", "burn-rate", {**BURN, "objective": "99.9"}, -0.5, INCONCLUSIVE),
        ("newrelic", "burn-rate", BURN, {"burnRate": 1.0}, SUCCESSFUL),
        ("newrelic", "burn-rate", BURN, {"burnRate": 50.0}, FAILED),
        ("newrelic", "burn-rate", BURN, {"burnRate": None}, INCONCLUSIVE),
        ("newrelic", "burn-rate", {**BURN, "namespace": ""}, {"burnRate": 50.0}, INCONCLUSIVE),
    ],
)
def test_other_providers_judge_the_same_way(
    provider: str, template: str, args: dict[str, str], result: Any, phase: str
) -> None:
    assert evaluate(provider_metric(provider, template, args), result) == phase
