"""DORA for app releases in the cluster (components/insight/release_dora.py), judged by promtool.

The suite feeds `promtool test rules` the series Argo Rollouts' controller really exports, as the
platform's Prometheus stores them (argoproj/argo-rollouts v1.9, controller/metrics/prommetrics.go:
`rollout_events_total{namespace, name, type, reason}` counters born at their first event and
`rollout_info{namespace, name, strategy, traffic_router, phase}`; scraped through the chart's
ServiceMonitor without `honorLabels`, so the Rollout's namespace is `exported_namespace` and the
target's pod, instance and namespace are added), a sample every 30 seconds, and checks every
figure exactly: a tenant with two apps — releases, an analysis failure, a progress-deadline abort
(two events), a retry that aborts again, a revert, a controller restart with a gap — plus a
Rollout of the tenant's namespace that is not one of its apps and another tenant's Rollout of the
same name, neither of which may count.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Optional, Sequence

import pytest
import yaml

from components.insight import dashboards, release_dora
from components.insight.release_dora import (
    DEPLOYMENTS_RECORD,
    FAILURES_RECORD,
    RESTORE_RECORD,
    RESTORED_RECORD,
)
from components.kubernetes import TENANT_LABEL
from pavedroad.plan import kubernetes_objects
from tests.conftest import shipped_plan
from tests.crds import crd_errors
from tests.test_analysis_promtool import require_promtool

MINUTE, HOUR, DAY = 60, 3600, 24 * 3600
SCRAPE = 30
END = 7 * DAY + 4 * HOUR


def release_rules(stack: str = "dev") -> list[dict[str, Any]]:
    objects = kubernetes_objects(shipped_plan(stack).resources)
    return [
        o
        for o in objects
        if o["kind"] == "PrometheusRule"
        and o["metadata"]["name"].startswith(release_dora.RULE_PREFIX)
    ]


# --------------------------------------------------------------------------------------------------
# The planned objects


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_tenant_with_rollouts_gets_one_release_rule_beside_grafana(stack: str) -> None:
    rules = {r["metadata"]["labels"][TENANT_LABEL]: r for r in release_rules(stack)}
    # search releases its only api-service by switching a Service (no Rollout): no rule.
    assert sorted(rules) == ["payments", "storefront"]
    for tenant, rule in rules.items():
        assert rule["metadata"]["namespace"] == "monitoring"
        assert rule["metadata"]["name"] == f"paved-road-releases-{tenant}"
        (group,) = rule["spec"]["groups"]
        assert group["interval"] == release_dora.INTERVAL
        assert all(r["labels"] == {"tenant": tenant} for r in group["rules"])
    payments = rules["payments"]["spec"]["groups"][0]["rules"]
    events = next(r for r in payments if r["record"] == release_dora.EVENTS_RECORD)["expr"]
    # Exactly the tenant's Rollouts (the batch job in payments-jobs has none).
    assert 'exported_namespace="payments", name=~"checkout-api|ledger-consumer"' in events
    assert "payments-jobs" not in events and "settlement" not in events


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_rules_see_the_controllers_series_as_the_rules_name_them(stack: str) -> None:
    """The Prometheus enforces `namespace` on rules and monitors outside the platform's
    namespaces; the release rules' namespace and the controller's monitor are both exempt, so
    the rules' selectors are left as written and the Rollout's namespace label, clashing with
    the target's, is stored as `exported_namespace` (no `honorLabels` in the chart's monitor)."""
    releases = shipped_plan(stack).by_type("kubernetes:helm.sh/v3:Release")
    stack_values = next(r for r in releases if r.inputs["chart"] == "kube-prometheus-stack")
    spec = stack_values.inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["enforcedNamespaceLabel"] == "namespace"
    exempt = {(e["namespace"], e["resource"]) for e in spec["excludedFromEnforcement"]}
    controller = next(r for r in releases if r.inputs["chart"] == "argo-rollouts")
    assert (controller.inputs["namespace"], "servicemonitors") in exempt
    metrics = controller.inputs["values"]["controller"]["metrics"]
    assert metrics == {"enabled": True, "serviceMonitor": {"enabled": True}}
    for rule in release_rules(stack):
        assert (rule["metadata"]["namespace"], "prometheusrules") in exempt


def test_every_release_rule_passes_promtool_check(tmp_path: Path) -> None:
    promtool = require_promtool()
    files = []
    for stack in ("dev", "staging", "prod"):
        for rule in release_rules(stack):
            path = tmp_path / f"{stack}-{rule['metadata']['name']}.yaml"
            path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
            files.append(str(path))
    assert len(files) == 6
    run = subprocess.run([promtool, "check", "rules", *files], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    # Every file, with all its records: the three figures and the eight they are built from.
    assert run.stdout.count("SUCCESS: 11 rules found") == len(files), run.stdout


def test_every_release_rule_validates_against_the_crd() -> None:
    rules = release_rules("dev") + release_rules("prod")
    assert rules
    for rule in rules:
        assert crd_errors(rule) == [], rule["metadata"]


def test_a_malformed_rule_fails_the_crd_check() -> None:
    """The check above can fail: an interval Prometheus does not accept is refused."""
    rule = release_rules()[0]
    bad = {**rule, "spec": {"groups": [{**rule["spec"]["groups"][0], "interval": "1 minute"}]}}
    assert crd_errors(bad)


# --------------------------------------------------------------------------------------------------
# Series as the controller exports them and Prometheus stores them


def _compress(tokens: list[str]) -> str:
    """promtool's values notation: `v xN` is N+1 samples of v, `_ xN` is N missing ones."""
    out: list[str] = []
    index = 0
    while index < len(tokens):
        run = 1
        while index + run < len(tokens) and tokens[index + run] == tokens[index]:
            run += 1
        token = tokens[index]
        if token == "_":
            out.append(f"_x{run}")
        elif token == "stale":
            out += ["stale"] * run
        else:
            out.append(f"{token}x{run - 1}" if run > 1 else token)
        index += run
    return " ".join(out)


def _scrapes() -> range:
    return range(0, END + 1, SCRAPE)


def _values(present: Sequence[Optional[int]]) -> str:
    """One token per scrape: a value, or nothing — after a value, a staleness marker first, as
    Prometheus writes one when a series leaves a scrape or its target goes away."""
    tokens, before = [], False
    for value in present:
        if value is None:
            tokens.append("stale" if before else "_")
            before = False
        else:
            tokens.append(str(value))
            before = True
    return _compress(tokens)


# The controller's pods: two replicas (one leads and records events; both export rollout_info),
# both gone at 100m (a node failure) and back as new pods at 102m.
LEADERS = (
    ("argo-rollouts-5f7c9d-abcde", 0, 100 * MINUTE),
    ("argo-rollouts-5f7c9d-vwxyz", 102 * MINUTE, END + 1),
)
STANDBYS = (
    ("argo-rollouts-5f7c9d-fghij", 0, 100 * MINUTE),
    ("argo-rollouts-5f7c9d-klmno", 102 * MINUTE, END + 1),
)


def _target(pod: str) -> str:
    return (
        f'namespace="argo-rollouts", pod="{pod}", instance="{pod}:8090", '
        'job="argo-rollouts-metrics", service="argo-rollouts-metrics", endpoint="metrics", '
        'container="argo-rollouts"'
    )


def _at(minute: float) -> int:
    """An event or phase change, ten seconds into the minute (between two scrapes)."""
    return int(minute * MINUTE) + 10


def counters(
    namespace: str, name: str, reason: str, kind: str, minutes: list[float]
) -> dict[str, str]:
    """`rollout_events_total` of one reason, per leader: born at its first event."""
    series = {}
    for pod, start, end in LEADERS:
        events = [_at(m) for m in minutes if start <= _at(m) < end]
        if not events:
            continue
        present = []
        for t in _scrapes():
            count = sum(1 for e in events if e <= t)
            present.append(count if start <= t < end and count else None)
        labels = (
            f'{{{_target(pod)}, exported_namespace="{namespace}", name="{name}", '
            f'type="{kind}", reason="{reason}"}}'
        )
        series[f"rollout_events_total{labels}"] = _values(present)
    return series


def info(
    namespace: str, name: str, strategy: str, phases: list[tuple[float, str]]
) -> dict[str, str]:
    """`rollout_info` with the phase of the moment, from every controller pod."""
    series = {}
    changes = [(_at(m) if m else 0, phase) for m, phase in phases]
    for pod, start, end in (*LEADERS, *STANDBYS):
        for phase in sorted({p for _, p in phases}):
            present = []
            for t in _scrapes():
                now = [p for at, p in changes if at <= t][-1]
                present.append(1 if start <= t < end and now == phase else None)
            labels = (
                f'{{{_target(pod)}, exported_namespace="{namespace}", name="{name}", '
                f'strategy="{strategy}", traffic_router="", phase="{phase}"}}'
            )
            series[f"rollout_info{labels}"] = _values(present)
    return series


def rollout(
    namespace: str,
    name: str,
    strategy: str,
    *,
    released: list[float],
    aborted: list[float],
    analysis_failed: list[float],
    phases: list[tuple[float, str]],
) -> dict[str, str]:
    return {
        **counters(namespace, name, "RolloutUpdated", "Normal", released),
        **counters(namespace, name, "RolloutAborted", "Warning", aborted),
        **counters(namespace, name, "AnalysisRunFailed", "Warning", analysis_failed),
        **info(namespace, name, strategy, phases),
    }


# checkout-api (blue/green): releases at 10m, 30m and 55m; the 30m one fails its pre-promotion
# analysis at 40m (the controller aborts it), the 55m one is healthy at 65m.
CHECKOUT = rollout(
    "payments",
    "checkout-api",
    "blueGreen",
    released=[10, 30, 55],
    aborted=[40],
    analysis_failed=[40],
    phases=[(0, "Completed"), (10, "Progressing"), (20, "Completed"), (30, "Progressing"),
            (40, "Abort"), (55, "Progressing"), (65, "Completed")],
)  # fmt: skip
# ledger-consumer (canary): the 15m release passes its progress deadline at 26m (two abort
# events, 26m and 27m), is retried at 35m and aborted again by hand at 45m, and is reverted to the
# stable revision at 90m (a new revision, healthy at 92m, with no RolloutCompleted event). After
# the controller's restart: a release at 120m (healthy at 125m), one at 130m aborted at 135m and
# a fix at 150m, healthy at 160m.
LEDGER = rollout(
    "payments",
    "ledger-consumer",
    "canary",
    released=[15, 90, 120, 130, 150],
    aborted=[26, 27, 45, 135],
    analysis_failed=[],
    phases=[(0, "Completed"), (15, "Progressing"), (26, "Timeout"), (27, "Abort"),
            (35, "Progressing"), (45, "Abort"), (90, "Progressing"), (92, "Completed"),
            (120, "Progressing"), (125, "Completed"), (130, "Progressing"), (135, "Abort"),
            (150, "Progressing"), (160, "Completed")],
)  # fmt: skip
# Not the tenant's apps: a Rollout someone created by hand in payments, and search's own
# `checkout-api` (same name, another tenant's namespace).
STRAY = rollout(
    "payments",
    "scratch",
    "canary",
    released=[5, 70],
    aborted=[50, 75],
    analysis_failed=[],
    phases=[(0, "Completed"), (5, "Progressing"), (50, "Abort"), (70, "Progressing"),
            (75, "Abort")],
)  # fmt: skip
SEARCH = rollout(
    "search",
    "checkout-api",
    "canary",
    released=[12, 14, 16, 18, 20],
    aborted=[13],
    analysis_failed=[],
    phases=[(0, "Completed"), (12, "Progressing"), (13, "Abort"), (14, "Progressing"),
            (21, "Completed")],
)  # fmt: skip
SERIES = {**CHECKOUT, **LEDGER, **STRAY, **SEARCH}

PAYMENTS_APPS = (("payments", "checkout-api"), ("payments", "ledger-consumer"))
SEARCH_APPS = (("search", "checkout-api"),)


def _labels(tenant: str, app: str, namespace: str) -> str:
    return f'{{app="{app}", namespace="{namespace}", tenant="{tenant}"}}'


def _named(record: str, tenant: str, app: str, namespace: str = "payments") -> str:
    return record + _labels(tenant, app, namespace)


def promtool_test(tmp_path: Path, checks: list[dict[str, Any]]) -> None:
    promtool = require_promtool()
    groups = [
        release_dora.rule_group("payments", PAYMENTS_APPS),
        release_dora.rule_group("search", SEARCH_APPS),
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": release_dora.INTERVAL,
        "tests": [
            {
                "interval": f"{SCRAPE}s",
                "input_series": [{"series": s, "values": v} for s, v in sorted(SERIES.items())],
                "promql_expr_test": checks,
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    run = subprocess.run(
        [promtool, "test", "rules", "test.yaml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]


def _check(expr: str, at: str, samples: list[tuple[str, float]]) -> dict[str, Any]:
    return {
        "expr": expr,
        "eval_time": at,
        "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
    }


def _payments(query: str, at: str, checkout: Optional[float], ledger: Optional[float]) -> dict:
    """A record of payments' two apps, as the dashboard queries it."""
    samples = [
        (_named(query.split("{")[0], "payments", app), value)
        for app, value in (("checkout-api", checkout), ("ledger-consumer", ledger))
        if value is not None
    ]
    return _check(query, at, samples)


SPEC = dashboards.DashboardSpec(
    "payments", "Payments", ("payments",), (), "eu-west-1", releases=PAYMENTS_APPS
)
QUERIES = dashboards.release_queries(SPEC)
PER_DAY, FAILED, RESTORE = (QUERIES[title] for title in dashboards.RELEASE_PANELS)


def test_the_dashboard_reads_the_three_figures() -> None:
    assert [q.split("{")[0] for q in (PER_DAY, FAILED, RESTORE)] == [
        DEPLOYMENTS_RECORD,
        FAILURES_RECORD,
        RESTORE_RECORD,
    ]


def test_releases_failures_and_restores_of_a_tenant_with_two_apps(tmp_path: Path) -> None:
    restored = f'{RESTORED_RECORD}{{tenant="payments"}}'
    promtool_test(
        tmp_path,
        [
            # 50m: checkout-api's 30m release failed, its outage is still open; ledger-consumer's
            # only release failed (three aborts, one failed release).
            _payments(PER_DAY, "50m", 2 / 7, 1 / 7),
            _payments(FAILED, "50m", 1 / 2, 1.0),
            _payments(RESTORE, "50m", None, None),
            # Restorations are recorded once, when the phase turns Completed: checkout-api 41m →
            # 66m, ledger-consumer from its first abort (27m, not 28m or 46m) to the revert (93m).
            _check(restored, "66m", [(_named(RESTORED_RECORD, "payments", "checkout-api"), 1500)]),
            _check(restored, "67m", []),
            _check(
                restored, "93m", [(_named(RESTORED_RECORD, "payments", "ledger-consumer"), 3960)]
            ),
            # The controller came back at 102m: Completed again, but nothing was open.
            _check(restored, "103m", []),
            # 3h: checkout-api 3 releases, 1 failed, restored in 25m; ledger-consumer 5 releases,
            # 2 failed (15m and 130m), restored in 66m and 25m (median 45.5m).
            _payments(PER_DAY, "3h", 3 / 7, 5 / 7),
            _payments(FAILED, "3h", 1 / 3, 2 / 5),
            _payments(RESTORE, "3h", 1500, 2730),
            # A week and 50m later, only what happened after 50m is in the window: checkout-api's
            # 55m release (not failed) and its 66m restoration; ledger-consumer's last 4
            # releases, 1 failed (130m), both restorations.
            _payments(PER_DAY, "7d50m", 1 / 7, 4 / 7),
            _payments(FAILED, "7d50m", 0.0, 1 / 4),
            _payments(RESTORE, "7d50m", 1500, 2730),
            # Past the window: no releases (0), so no share and nothing restored.
            _payments(PER_DAY, "7d3h", 0.0, 0.0),
            _payments(FAILED, "7d3h", None, None),
            _payments(RESTORE, "7d3h", None, None),
            # The other tenant's rules see its own Rollout only: 5 releases, 1 failed, restored
            # from 14m to 22m.
            _check(
                f'{DEPLOYMENTS_RECORD}{{tenant="search"}}',
                "3h",
                [(_named(DEPLOYMENTS_RECORD, "search", "checkout-api", "search"), 5 / 7)],
            ),
            _check(
                f'{FAILURES_RECORD}{{tenant="search"}}',
                "3h",
                [(_named(FAILURES_RECORD, "search", "checkout-api", "search"), 1 / 5)],
            ),
            _check(
                f'{RESTORE_RECORD}{{tenant="search"}}',
                "3h",
                [(_named(RESTORE_RECORD, "search", "checkout-api", "search"), 8 * MINUTE)],
            ),
        ],
    )


def test_increase_would_miss_the_first_abort(tmp_path: Path) -> None:
    """Why the rules count increases themselves: a counter is born at 1 with its first event,
    and `increase()` sees no increase in a series' first sample — every first abort after a
    controller start would go uncounted."""
    aborted = (
        'rollout_events_total{exported_namespace="payments", name="ledger-consumer", '
        'reason="RolloutAborted"}'
    )
    promtool_test(
        tmp_path,
        [
            # Leader 1 saw 3 abort events, the new leader 1; `increase()` finds 2 of them (and
            # extrapolates), the rules all 4.
            _check(f"round(sum(increase({aborted}[3h])))", "3h", [("{}", 2)]),
            _check(
                'sum(sum_over_time(paved_road:rollout_events:increase1m{tenant="payments", '
                'app="ledger-consumer", reason="RolloutAborted"}[3h]))',
                "3h",
                [("{}", 4)],
            ),
        ],
    )
