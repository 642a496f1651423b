"""`pavedroad dora`: the four keys from a real git repository and a stack history.

The sample: a repository whose commits have known author times, and a `prod` history (newest
first, as `pulumi stack history --json` writes it) over the period 2026-10-01 to 2026-10-11
(10 days):

  update  end               result     head  commits (author time)              tenants
  D0      09-25 12:00       succeeded  C0    (before the period: the base)
  D1      10-01 12:00       succeeded  C2    C1 10-01 08:00, C2 10-01 10:00     payments
  D2      10-02 10:00       failed     C3    C3 10-02 09:00                     search
  (preview 10-02 10:30 of C3: ignored)
  D3      10-02 13:00       succeeded  C3    C3                                 search
  D4      10-03 20:00       succeeded  C4    C4 10-03 08:00                     payments
  (refresh 10-04: ignored)
  D5      10-05 08:00       succeeded  C5    C5 10-05 07:00 = `git revert C4`   payments
  D6      10-08 00:00       succeeded  C7    C6 10-06 00:00, C7 10-07 00:00     search
  D7      (in progress)                C7    ignored
  D8      10-12 00:00       succeeded  C8    after the period

Deployments D1-D6: 6, 0.6 a day. Lead times (h): C1 4, C2 2, C3 4 (its first *successful*
deployment is D3), C4 12, C5 1, C6 48, C7 24 → median 4, p90 48 (7 commits; C0 is D0's, not
D1's). Failed: D2 (result) and D4 (C5 reverts C4) → 2/6. Restore: D2 → D3 3 h, D4 → D5
36 h → median 19.5 (an even count). Per tenant: payments D1, D4, D5 (lead 4, 12, 1; D4 failed,
36 h); search D2, D3, D6 (lead 4, 48 → median 26; D2 failed, 3 h); storefront none (no data).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Optional

import pytest

from pavedroad import dora
from tests.conftest import ROOT

SINCE, UNTIL = "2026-10-01", "2026-10-11"


def _git_env(when: str) -> dict[str, str]:
    return {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_AUTHOR_DATE": f"{when}+00:00",
        # Committed later than authored: lead time must use the author time.
        "GIT_COMMITTER_DATE": "2026-10-20T00:00:00+00:00",
    }


class Repo:
    """A real git repository the tests write commits into."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main", when="2026-09-20T00:00:00")

    def git(self, *args: str, when: str) -> str:
        run = subprocess.run(
            ["git", "-C", str(self.path), *args],
            env=_git_env(when),
            capture_output=True,
            text=True,
            check=True,
        )
        return run.stdout.strip()

    def commit(self, when: str, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text)
        self.git("add", "-A", when=when)
        self.git("commit", "-q", "-m", message, when=when)
        return self.git("rev-parse", "HEAD", when=when)

    def revert(self, sha: str, when: str) -> str:
        self.git("revert", "--no-edit", sha, when=when)
        return self.git("rev-parse", "HEAD", when=when)


def entry(
    version: int,
    kind: str,
    result: str,
    start: str,
    end: Optional[str],
    head: Optional[str],
) -> dict[str, Any]:
    """An update as the Pulumi CLI's `stack history --json` writes it."""
    written: dict[str, Any] = {
        "version": version,
        "kind": kind,
        "startTime": f"{start}.000Z",
        "message": f"{kind} {version}",
        "environment": {"git.head": head, "git.headName": "refs/heads/main"} if head else None,
        "config": {"aws:region": {"value": "eu-west-1", "secret": False}},
        "result": result,
    }
    if end is not None:
        written["endTime"] = f"{end}.000Z"
        written["resourceChanges"] = {"same": 40, "update": 2}
    return written


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repo = Repo(tmp_path_factory.mktemp("dora") / "repo")
    c = {}
    c[0] = repo.commit(
        "2026-09-20T00:00:00",
        {
            "stacks/Pulumi.prod.yaml": "config:\n  paved-road:production: true\n",
            "stacks/Pulumi.live.yaml": "config:\n  paved-road:production: true\n",
            "stacks/Pulumi.staging.yaml": "config:\n  paved-road:production: false\n",
            "tenants/payments.yaml": "name: payments\n",
            "tenants/search.yaml": "name: search\n",
            "tenants/storefront.yaml": "name: storefront\n",
        },
        "platform",
    )
    c[1] = repo.commit("2026-10-01T08:00:00", {"tenants/payments.yaml": "v: 1\n"}, "payments")
    c[2] = repo.commit("2026-10-01T10:00:00", {"components/x.py": "x = 1\n"}, "core")
    c[3] = repo.commit("2026-10-02T09:00:00", {"tenants/search/apps.yaml": "a: 1\n"}, "search")
    c[4] = repo.commit("2026-10-03T08:00:00", {"tenants/payments/db.yaml": "d: 1\n"}, "db")
    c[5] = repo.revert(c[4], "2026-10-05T07:00:00")
    c[6] = repo.commit("2026-10-06T00:00:00", {"tenants/search.yaml": "v: 2\n"}, "search")
    c[7] = repo.commit("2026-10-07T00:00:00", {"components/x.py": "x = 2\n"}, "core")
    c[8] = repo.commit("2026-10-11T12:00:00", {"tenants/payments.yaml": "v: 3\n"}, "later")
    history = [
        entry(12, "update", "succeeded", "2026-10-11T23:50:00", "2026-10-12T00:00:00", c[8]),
        entry(11, "update", "in-progress", "2026-10-09T00:00:00", None, c[7]),
        entry(10, "update", "succeeded", "2026-10-07T23:50:00", "2026-10-08T00:00:00", c[7]),
        entry(9, "update", "succeeded", "2026-10-05T07:50:00", "2026-10-05T08:00:00", c[5]),
        entry(8, "refresh", "succeeded", "2026-10-04T00:00:00", "2026-10-04T00:05:00", c[4]),
        entry(7, "update", "succeeded", "2026-10-03T19:50:00", "2026-10-03T20:00:00", c[4]),
        entry(6, "update", "succeeded", "2026-10-02T12:50:00", "2026-10-02T13:00:00", c[3]),
        entry(5, "preview", "succeeded", "2026-10-02T10:20:00", "2026-10-02T10:30:00", c[3]),
        entry(4, "update", "failed", "2026-10-02T09:50:00", "2026-10-02T10:00:00", c[3]),
        entry(3, "update", "succeeded", "2026-10-01T11:50:00", "2026-10-01T12:00:00", c[2]),
        entry(2, "update", "succeeded", "2026-09-25T11:50:00", "2026-09-25T12:00:00", c[0]),
        entry(1, "update", "failed", "2026-09-25T11:00:00", "2026-09-25T11:10:00", c[0]),
    ]
    file = repo.path.parent / "prod-history.json"
    file.write_text(json.dumps(history, indent=2))
    return {"repo": repo, "commits": c, "history": history, "file": file}


def run(sample: dict[str, Any], *options: str, history: Optional[Path] = None) -> Any:
    """The report for the sample's prod history, as JSON."""
    report, warnings = dora.run(
        [f"prod={history or sample['file']}"],
        sample["repo"].path,
        *(options or (SINCE, UNTIL)),
        today=date(2026, 11, 30),
    )
    assert warnings == []
    return dora.report_json(report)


def scope(
    deployments: int,
    per_day: float,
    lead: tuple[float, float, int],
    failed: int,
    rate: float,
    restore: tuple[float, int],
    levels: tuple[str, str, str, str],
) -> dict[str, Any]:
    return {
        "deployments": deployments,
        "deploymentsPerDay": per_day,
        "leadTimeHours": {"median": lead[0], "p90": lead[1]},
        "changeFailureRate": rate,
        "timeToRestoreHours": {"median": restore[0]},
        "levels": dict(zip(dora.LEVEL_KEYS, levels)),
        "counts": {
            "deployments": deployments,
            "leadTimeCommits": lead[2],
            "failedDeployments": failed,
            "restoredDeployments": restore[1],
        },
    }


NO_DATA = scope(0, 0.0, (0.0, 0.0, 0), 0, 0.0, (0.0, 0), ("no data",) * 4)  # type: ignore[arg-type]

EXPECTED = {
    "period": {"since": SINCE, "until": UNTIL, "days": 10},
    "stacks": {
        "prod": scope(
            6, 0.6, (4.0, 48.0, 7), 2, 0.3333, (19.5, 2), ("high", "elite", "low", "high")
        )
    },
    "tenants": {
        "payments": {
            "prod": scope(
                3, 0.3, (4.0, 12.0, 3), 1, 0.3333, (36.0, 1), ("high", "elite", "low", "medium")
            )
        },
        "search": {
            "prod": scope(
                3, 0.3, (26.0, 48.0, 2), 1, 0.3333, (3.0, 1), ("high", "high", "low", "high")
            )
        },
        "storefront": {"prod": NO_DATA},
    },
}


def test_every_figure_of_the_sample_history(sample: dict[str, Any]) -> None:
    assert run(sample) == EXPECTED


TABLE = """\
DORA four keys, 2026-10-01 to 2026-10-11 (10 days, the last one excluded)

                         value                         level     from

stack prod
  deployment frequency   0.60 a day                    high      6 deployments
  lead time              median 4.00 h, p90 48.00 h    elite     7 commits
  change failure rate    33.3%                         low       2 of 6 deployments failed
  time to restore        median 19.50 h                high      2 restored failures

tenant payments on prod
  deployment frequency   0.30 a day                    high      3 deployments
  lead time              median 4.00 h, p90 12.00 h    elite     3 commits
  change failure rate    33.3%                         low       1 of 3 deployments failed
  time to restore        median 36.00 h                medium    1 restored failure

tenant search on prod
  deployment frequency   0.30 a day                    high      3 deployments
  lead time              median 26.00 h, p90 48.00 h   high      2 commits
  change failure rate    33.3%                         low       1 of 3 deployments failed
  time to restore        median 3.00 h                 high      1 restored failure

tenant storefront on prod
  deployment frequency   0.00 a day                    no data   0 deployments
  lead time              median 0.00 h, p90 0.00 h     no data   0 commits
  change failure rate    0.0%                          no data   0 of 0 deployments failed
  time to restore        median 0.00 h                 no data   0 restored failures
"""


def test_the_human_table_names_each_figure_its_level_and_its_count(
    sample: dict[str, Any],
) -> None:
    report, _ = dora.run(
        [f"prod={sample['file']}"], sample["repo"].path, SINCE, UNTIL, date(2026, 11, 30)
    )
    assert dora.render_table(report) + "\n" == TABLE


def test_the_command_line_writes_the_same_json_every_time(sample: dict[str, Any]) -> None:
    args = [
        sys.executable, "-m", "pavedroad", "dora", "--history", f"prod={sample['file']}",
        "--repo", str(sample["repo"].path), "--since", SINCE, "--until", UNTIL, "--json",
    ]  # fmt: skip
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert json.loads(first.stdout) == EXPECTED
    assert first.stdout == second.stdout
    table = subprocess.run(args[:-1], cwd=ROOT, capture_output=True, text=True)
    assert table.returncode == 0 and table.stdout.startswith("DORA four keys, 2026-10-01")


def test_help_states_the_definitions() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "pavedroad", "dora", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0
    for phrase in (
        "not preview, refresh or destroy",
        "[since, until)",
        "previous successful update",
        "mean of the two middle values",
        "nearest rank",
        "This reverts commit <sha>.",
        "has not failed itself",
        "tenants/<team>/",
        "2024",
    ):
        assert phrase in shown.stdout


def test_building_the_parser_leaves_the_figures_code_unloaded() -> None:
    """Every command builds every parser: `dora`'s help must not import its code."""
    check = (
        "import sys; from pavedroad.cli import build_parser; build_parser(); "
        "print('pavedroad.dora' in sys.modules)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "False"


def test_a_period_without_deployments_reports_no_data(sample: dict[str, Any]) -> None:
    figures = run(sample, "2026-11-01", "2026-11-08")
    assert figures["period"] == {"since": "2026-11-01", "until": "2026-11-08", "days": 7}
    assert figures["stacks"] == {"prod": NO_DATA}
    assert figures["tenants"] == {
        t: {"prod": NO_DATA} for t in ("payments", "search", "storefront")
    }


def test_an_update_ending_on_until_belongs_to_the_next_period(sample: dict[str, Any]) -> None:
    """D6 ends at 10-08 00:00: `[since, until)` puts it in a period starting that day only."""
    assert run(sample, "2026-10-06", "2026-10-08")["stacks"]["prod"]["deployments"] == 0
    after = run(sample, "2026-10-08", "2026-10-09")["stacks"]["prod"]
    assert after["deployments"] == 1
    assert after["leadTimeHours"] == {"median": 36.0, "p90": 48.0}  # C6 48 h, C7 24 h


def test_a_revert_after_the_period_still_fails_the_deployment(sample: dict[str, Any]) -> None:
    """D4 alone in its period: C5, deployed after it, reverts C4; D5 restores it."""
    figures = run(sample, "2026-10-03", "2026-10-04")["stacks"]["prod"]
    assert figures["deployments"] == 1
    assert figures["changeFailureRate"] == 1.0
    assert figures["timeToRestoreHours"] == {"median": 36.0}


def test_the_default_period_is_the_30_days_before_today(sample: dict[str, Any]) -> None:
    """Until today (10-11), since 30 days before: D(-1) and D0 (09-25) count too. Their history
    starts at version 1, so D0's commits are all those reachable from C0."""
    report, warnings = dora.run(
        [f"prod={sample['file']}"], sample["repo"].path, None, None, date(2026, 10, 11)
    )
    assert (report.period.since, report.period.until) == (date(2026, 9, 11), date(2026, 10, 11))
    assert warnings == []
    prod = report.stacks["prod"]
    assert (prod.deployments, prod.failed) == (8, 3)
    assert prod.lead_times[0] == 132.0  # C0: 09-20 00:00 to D0's end 09-25 12:00


def test_a_history_that_does_not_reach_the_base_warns(sample: dict[str, Any]) -> None:
    """Without D0 and D(-1) (and no version 1), D1's commits are unknown: counted, no lead."""
    history = sample["history"][:-2]
    file = sample["repo"].path.parent / "short-history.json"
    file.write_text(json.dumps(history))
    report, warnings = dora.run([f"prod={file}"], sample["repo"].path, SINCE, UNTIL, date.today())
    assert warnings == [
        f"{file}: [9]: no successful update before it in this history, so its commits are "
        "unknown: it counts as a deployment, without lead times, reverts or tenants (export more "
        "of the history: --page-size)"
    ]
    prod = dora.report_json(report)["stacks"]["prod"]
    assert prod["deployments"] == 6
    assert prod["counts"]["leadTimeCommits"] == 5  # C1 and C2 are D1's, unknown


def test_a_second_production_stack_and_its_own_base(sample: dict[str, Any]) -> None:
    """`live` sets paved-road:production: true; its only update in the period has no base but
    the history starts at version 1, so its commits are all those reachable from its head."""
    file = sample["repo"].path.parent / "live-history.json"
    c = sample["commits"]
    file.write_text(
        json.dumps(
            [entry(1, "update", "succeeded", "2026-10-01T09:50:00", "2026-10-01T10:00:00", c[1])]
        )
    )
    report, warnings = dora.run(
        [f"prod={sample['file']}", f"live={file}"], sample["repo"].path, SINCE, UNTIL, date.today()
    )
    assert warnings == []
    figures = dora.report_json(report)
    assert list(figures["stacks"]) == ["live", "prod"]
    live = figures["stacks"]["live"]
    # C0 (09-20 00:00 to 10-01 10:00: 274 h) and C1 (2 h): median 138, p90 the 2nd of 2.
    assert live["leadTimeHours"] == {"median": 138.0, "p90": 274.0}
    assert figures["tenants"]["payments"]["live"]["deployments"] == 1
    assert figures["stacks"]["prod"] == EXPECTED["stacks"]["prod"]


def test_a_rollback_and_redeploy_keeps_each_commit_first_lead_time(
    tmp_path: Path,
) -> None:
    repo = Repo(tmp_path / "repo")
    a = repo.commit("2026-10-01T00:00:00", {"stacks/Pulumi.prod.yaml": "config: {}\n"}, "a")
    b = repo.commit("2026-10-01T01:00:00", {"tenants/x.yaml": "v: 1\n"}, "b")
    history = [
        entry(4, "update", "succeeded", "2026-10-01T05:50:00", "2026-10-01T06:00:00", b),
        entry(3, "update", "succeeded", "2026-10-01T03:50:00", "2026-10-01T04:00:00", a),
        entry(2, "update", "succeeded", "2026-10-01T02:50:00", "2026-10-01T03:00:00", b),
        entry(1, "update", "succeeded", "2026-09-30T23:50:00", "2026-10-01T00:30:00", a),
    ]
    file = tmp_path / "h.json"
    file.write_text(json.dumps(history))
    report, _ = dora.run([f"prod={file}"], repo.path, SINCE, UNTIL, date.today())
    prod = report.stacks["prod"]
    assert prod.deployments == 4
    assert prod.lead_times == (0.5, 2.0)  # a at its first deployment, b at v2 (not again at v4)
    assert report.tenants["x"]["prod"].deployments == 2  # v2 and the redeploy v4


def test_restore_waits_for_a_deployment_that_did_not_fail_itself(tmp_path: Path) -> None:
    """v2 fails; v3 succeeds but v4 reverts v3's commit, so v3 failed too; v4 restores both."""
    repo = Repo(tmp_path / "repo")
    a = repo.commit("2026-10-01T00:00:00", {"stacks/Pulumi.prod.yaml": "config: {}\n"}, "a")
    b = repo.commit("2026-10-02T00:00:00", {"tenants/x.yaml": "v: 1\n"}, "b")
    c = repo.revert(b, "2026-10-02T05:00:00")
    history = [
        entry(4, "update", "succeeded", "2026-10-02T05:50:00", "2026-10-02T06:00:00", c),
        entry(3, "update", "succeeded", "2026-10-02T01:50:00", "2026-10-02T02:00:00", b),
        entry(2, "update", "failed", "2026-10-02T00:50:00", "2026-10-02T01:00:00", b),
        entry(1, "update", "succeeded", "2026-10-01T00:50:00", "2026-10-01T01:00:00", a),
    ]
    file = tmp_path / "h.json"
    file.write_text(json.dumps(history))
    report, _ = dora.run([f"prod={file}"], repo.path, "2026-10-02", "2026-10-03", date.today())
    prod = report.stacks["prod"]
    assert (prod.deployments, prod.failed) == (3, 2)
    assert prod.restore_times == (5.0, 4.0)  # v2: 01:00 → 06:00; v3: 02:00 → 06:00
    assert prod.lead_times == (2.0, 1.0)  # b at v3, c at v4


# --- bad input: exit 2, a message naming the file and field, nothing on stdout ------------


def _bad(sample: dict[str, Any], tmp_path: Path, document: Any) -> Path:
    file = tmp_path / "history.json"
    file.write_text(document if isinstance(document, str) else json.dumps(document))
    return file


@pytest.mark.parametrize(
    "document, message",
    [
        ([], "the history is empty"),
        ({"updates": []}, "expected a JSON array"),
        ("[{", "not JSON (line 1, column 3"),
        ("DROP", "not JSON"),
        ("drop-endTime", "[9].endTime: missing (the update's result is 'succeeded')"),
        ("bad-time", "[9].endTime: '2026-10-01 12:00' is not a time like 2026-11-02T09:15:00.000Z"),
        ("bad-kind", "[9].kind: 'upgrade' is not one of destroy, import, preview"),
        ("bad-result", "[9].result: 'ok' is not one of failed, in-progress, not-started"),
        ("no-head", '[9].environment["git.head"]: missing: the update does not say'),
        ("unknown-head", '[9].environment["git.head"]: commit ' + "0" * 40 + " is not in the"),
        ("bad-head", "[9].environment[\"git.head\"]: 'main' is not a commit id"),
        (["x"], "[0]: expected an object"),
    ],
)
def test_a_malformed_history_is_refused_with_file_and_field(
    sample: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    document: Any,
    message: str,
) -> None:
    changes = {
        "drop-endTime": None,
        "bad-time": {"endTime": "2026-10-01 12:00"},
        "bad-kind": {"kind": "upgrade"},
        "bad-result": {"result": "ok"},
        "no-head": {"environment": {"git.headName": "refs/heads/main"}},
        "unknown-head": {"environment": {"git.head": "0" * 40}},
        "bad-head": {"environment": {"git.head": "main"}},
    }
    if isinstance(document, str) and document in changes:
        history = json.loads(json.dumps(sample["history"]))
        if document == "drop-endTime":
            del history[9]["endTime"]
        else:
            history[9].update(changes[document])
        document = history
    elif document == "DROP":
        document = "\x00"
    file = _bad(sample, tmp_path, document)
    code = dora.main([f"prod={file}"], sample["repo"].path, SINCE, UNTIL, False, date.today())
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert str(file) in err and message in err, err


@pytest.mark.parametrize(
    "options, message",
    [
        (["staging=H"], "--history staging=…: 'staging' is not a production stack"),
        (["qa=H"], "--history qa=…: unknown stack: no stacks/Pulumi.qa.yaml in"),
        (["prod"], "--history 'prod': expected STACK=FILE"),
        (["prod=H", "prod=H"], "--history prod=…: given twice"),
        (["prod=missing.json"], "missing.json: no such file"),
    ],
)
def test_bad_stacks_and_options_are_refused(
    sample: dict[str, Any], capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    options = [o.replace("=H", f"={sample['file']}") for o in options]
    code = dora.main(options, sample["repo"].path, SINCE, UNTIL, True, date.today())
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert message in err, err


@pytest.mark.parametrize(
    "since, until, message",
    [
        ("2026-10-32", UNTIL, "--since: '2026-10-32' is not a date like 2026-10-01"),
        ("2026-W40", UNTIL, "--since: '2026-W40' is not a date"),
        (SINCE, "tomorrow", "--until: 'tomorrow' is not a date"),
        (UNTIL, SINCE, "--since 2026-10-11 is not before --until 2026-10-01"),
        (SINCE, SINCE, "is not before --until"),
    ],
)
def test_bad_dates_are_refused(
    sample: dict[str, Any], capsys: pytest.CaptureFixture[str], since: str, until: str, message: str
) -> None:
    code = dora.main([f"prod={sample['file']}"], sample["repo"].path, since, until, False)
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert message in err


def test_a_directory_that_is_not_a_repository_is_refused(
    sample: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = dora.main([f"prod={sample['file']}"], tmp_path, SINCE, UNTIL, False)
    _, err = capsys.readouterr()
    assert code == 2 and f"--repo {tmp_path}: not a git repository" in err


def test_a_shallow_clone_is_named_as_the_likely_cause(
    sample: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI checkouts are shallow by default: the deployed commits are then missing."""
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{sample['repo'].path}", str(clone)],
        env=_git_env("2026-10-20T00:00:00"),
        check=True,
    )
    code = dora.main([f"prod={sample['file']}"], clone, SINCE, UNTIL, False)
    _, err = capsys.readouterr()
    assert code == 2
    assert f"{sample['file']}: [10].environment[\"git.head\"]: commit {sample['commits'][0]}" in err
    assert "(the clone is shallow: fetch the full history)" in err


def test_the_command_line_exits_2_on_bad_input(sample: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    shown = subprocess.run(
        [sys.executable, "-m", "pavedroad", "dora", "--history", f"prod={empty}",
         "--repo", str(sample["repo"].path)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert shown.returncode == 2 and shown.stdout == ""
    assert f"{empty}: the history is empty" in shown.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "pavedroad", "dora"], cwd=ROOT, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "--history" in missing.stderr


# --- the pieces -------------------------------------------------------------------------------


def test_median_and_nearest_rank_p90() -> None:
    assert dora.median([3.0, 1.0, 2.0]) == 2.0
    assert dora.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert dora.p90([1.0]) == 1.0
    assert dora.p90([float(v) for v in range(1, 11)]) == 9.0  # ceil(9.0) = 9th
    assert dora.p90([float(v) for v in range(1, 12)]) == 10.0  # ceil(9.9) = 10th


@pytest.mark.parametrize(
    "level, cases",
    [
        (dora.frequency_level, [(1.01, "elite"), (1.0, "high"), (1 / 7, "high"), (0.1, "medium"),
                                (1 / 30, "medium"), (0.03, "low")]),
        (dora.lead_time_level, [(23.9, "elite"), (24.0, "high"), (168.0, "high"),
                                (168.1, "medium"), (720.0, "medium"), (720.1, "low")]),
        (dora.failure_rate_level, [(0.0, "elite"), (0.05, "elite"), (0.1, "high"),
                                   (0.2, "high"), (0.21, "low"), (0.4, "low")]),
        (dora.restore_level, [(0.99, "elite"), (1.0, "high"), (23.9, "high"), (24.0, "medium"),
                              (167.9, "medium"), (168.0, "low")]),
    ],
)  # fmt: skip
def test_the_2024_levels_at_their_boundaries(level: Any, cases: list[tuple[float, str]]) -> None:
    assert [level(value) for value, _ in cases] == [expected for _, expected in cases]


def test_tenant_files_and_fragments() -> None:
    assert dora.tenant_of("tenants/payments.yaml") == "payments"
    assert dora.tenant_of("tenants/payments/apps/api.yaml") == "payments"
    assert dora.tenant_of("tenants/README.md") is None
    assert dora.tenant_of("components/tenant.py") is None
    assert dora.tenant_of("stacks/tenants/x.yaml") is None


def test_times_are_read_as_the_automation_api_reads_them() -> None:
    """pulumi/automation/_stack.py parses startTime and endTime with this format."""
    from pulumi.automation._stack import _DATETIME_FORMAT

    assert _DATETIME_FORMAT == dora._TIME_FORMAT
    problems: list[str] = []
    parsed = dora._parse_time("2026-11-02T09:15:00.000Z", "f", problems)
    assert parsed == datetime(2026, 11, 2, 9, 15, tzinfo=timezone.utc) and problems == []
