"""`pavedroad dora`: the four keys of DORA from the platform's own deployment history.

The platform is deployed by `pulumi up`, so its deployments are already recorded: the stack's
update history (`pulumi stack history --json`) says when each update of a production stack ended
and whether it succeeded, and its `environment["git.head"]` names the commit it deployed. Git
says which commits each deployment shipped, when they were written, and which later commits
reverted them. Nothing else is needed: no incident tracker, no deployment webhook.

The definitions are the command's contract: `pavedroad/dora_definitions.py` holds them as
`--help` prints them (and the README quotes them). In short: a deployment is a finished `update`
of a production stack ending in `[since, until)`; its commits are those reachable from its
`git.head` and not from the previous successful update's; a commit's lead time runs from its
author time to the end of the first successful deployment containing it; a deployment failed
when its result is `failed` or a later deployed commit reverts one of its commits; its time to
restore runs to the end of the next successful deployment that has not failed itself. Per
tenant, a deployment counts for each tenant whose files its commits changed.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

EXIT_OK, EXIT_BAD_INPUT = 0, 2

DEFAULT_DAYS = 30
HOUR = 3600.0
DAY_HOURS, WEEK_HOURS, MONTH_HOURS = 24.0, 7 * 24.0, 30 * 24.0


class DoraError(Exception):
    """Bad input: the message names the file (and entry and field) at fault."""


# --------------------------------------------------------------------------------------------
# The period


@dataclass(frozen=True)
class Period:
    """`[since, until)` in whole UTC days."""

    since: date
    until: date

    @property
    def days(self) -> int:
        return (self.until - self.since).days

    @property
    def start(self) -> datetime:
        return datetime(self.since.year, self.since.month, self.since.day, tzinfo=timezone.utc)

    @property
    def end(self) -> datetime:
        return datetime(self.until.year, self.until.month, self.until.day, tzinfo=timezone.utc)

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parse_date(text: str, option: str) -> date:
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise DoraError(f"{option}: {text!r} is not a date like 2026-10-01") from None


def parse_period(since: Optional[str], until: Optional[str], today: date) -> Period:
    """The period from the options; `until` defaults to today (so whole days are counted)."""
    end = _parse_date(until, "--until") if until is not None else today
    start = _parse_date(since, "--since") if since is not None else end - timedelta(DEFAULT_DAYS)
    if start >= end:
        raise DoraError(f"--since {start} is not before --until {end}: the period is empty")
    return Period(start, end)


# --------------------------------------------------------------------------------------------
# The stack history, as `pulumi stack history --json` writes it

# Verified against the Pulumi CLI's `updateInfoJSON` (pkg/cmd/pulumi/stack/stack_history.go):
# a JSON array, newest first, of {version, kind, startTime, message, environment, config,
# result, endTime, resourceChanges}; `endTime` and `resourceChanges` are left out while the
# update is in progress. Times are UTC with milliseconds (`2026-11-02T09:15:00.000Z`), the
# format the Python automation API parses (`_DATETIME_FORMAT` in pulumi/automation/_stack.py,
# `UpdateSummary`). Kinds are apitype.UpdateKind's; results backend.UpdateResult's (plus the
# service's `not-started`). `environment` is `null` when the update recorded none.
KINDS = frozenset(
    {"update", "preview", "refresh", "rename", "destroy", "import", "resource-import"}
)
SUCCEEDED, FAILED = "succeeded", "failed"
UNFINISHED = frozenset({"in-progress", "not-started"})
RESULTS = frozenset({SUCCEEDED, FAILED}) | UNFINISHED
GIT_HEAD = "git.head"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}Z")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")


@dataclass(frozen=True)
class Update:
    """One entry of a stack's history; `index` is its place in the file's array."""

    index: int
    kind: str
    result: str
    start: datetime
    end: Optional[datetime]
    head: Optional[str]
    version: int

    @property
    def finished_update(self) -> bool:
        return self.kind == "update" and self.result in (SUCCEEDED, FAILED)

    @property
    def succeeded(self) -> bool:
        return self.result == SUCCEEDED


def _parse_time(value: Any, where: str, problems: list[str]) -> Optional[datetime]:
    if isinstance(value, str) and _TIME.fullmatch(value):
        try:
            return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    problems.append(f"{where}: {_shown(value)} is not a time like 2026-11-02T09:15:00.000Z")
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _parse_entry(entry: Any, where: str, index: int, problems: list[str]) -> Optional[Update]:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected an object (an update of the stack)")
        return None
    before = len(problems)
    kind, result = entry.get("kind"), entry.get("result")
    if kind not in KINDS:
        problems.append(f"{where}.kind: {_shown(kind)} is not one of {', '.join(sorted(KINDS))}")
    if result not in RESULTS:
        problems.append(
            f"{where}.result: {_shown(result)} is not one of {', '.join(sorted(RESULTS))}"
        )
    start = _parse_time(entry.get("startTime"), f"{where}.startTime", problems)
    end = None
    if "endTime" in entry or result not in UNFINISHED:
        if "endTime" not in entry:
            problems.append(f"{where}.endTime: missing (the update's result is {result!r})")
        else:
            end = _parse_time(entry["endTime"], f"{where}.endTime", problems)
    version = entry.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        problems.append(f"{where}.version: {_shown(version)} is not a version number")
    environment = entry.get("environment")
    environment = {} if environment is None else environment
    head = environment.get(GIT_HEAD) if isinstance(environment, dict) else None
    if not isinstance(environment, dict):
        problems.append(f"{where}.environment: expected an object of strings")
    elif head is not None and not (isinstance(head, str) and _HEX.fullmatch(head)):
        problems.append(f'{where}.environment["{GIT_HEAD}"]: {_shown(head)} is not a commit id')
    if len(problems) > before or start is None:
        return None
    return Update(index, kind, result, start, end, head or None, version)


def parse_history(document: Any, file: str) -> list[Update]:
    """The entries of one history file, validated; every problem is reported at once."""
    if not isinstance(document, list):
        raise DoraError(
            f"{file}: expected a JSON array (the output of `pulumi stack history --json`)"
        )
    if not document:
        raise DoraError(f"{file}: the history is empty: the stack has no updates to measure")
    problems: list[str] = []
    updates = []
    for index, entry in enumerate(document):
        update = _parse_entry(entry, f"{file}: [{index}]", index, problems)
        if update is not None:
            updates.append(update)
    if problems:
        raise DoraError("\n".join(problems))
    return updates


def load_history(path: Path) -> list[Update]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DoraError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DoraError(f"{path}: cannot be read: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DoraError(
            f"{path}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    return parse_history(document, str(path))


def parse_history_option(value: str) -> tuple[str, Path]:
    stack, equals, file = value.partition("=")
    if not equals or not stack or not file:
        raise DoraError(f"--history {value!r}: expected STACK=FILE (e.g. prod=history.json)")
    return stack, Path(file)


# --------------------------------------------------------------------------------------------
# Which stacks are production

_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
PRODUCTION_KEY = "paved-road:production"


def check_production(repo: Path, stack: str) -> None:
    """A deployment is an update of a production stack: `prod`, or one whose stack file says
    `paved-road:production: true`. Any other stack is refused rather than measured, so that
    its updates can never be read as production deployments."""
    from components import safe_yaml

    if not _STACK_NAME.fullmatch(stack):
        raise DoraError(f"--history {stack}=…: {stack!r} is not a stack name")
    relative = f"stacks/Pulumi.{stack}.yaml"
    try:
        document = safe_yaml.load_file(repo, relative)
    except safe_yaml.MissingFileError:
        known = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in repo.glob("stacks/Pulumi.*.yaml")
        )
        raise DoraError(
            f"--history {stack}=…: unknown stack: no {relative} in {repo} "
            f"(stacks: {', '.join(known) or 'none'})"
        ) from None
    except safe_yaml.InputFileError as error:
        raise DoraError(str(error)) from None
    config = document.get("config") if isinstance(document, dict) else None
    production = config.get(PRODUCTION_KEY, False) if isinstance(config, dict) else False
    if not isinstance(production, bool):
        raise DoraError(f"{relative}: config.{PRODUCTION_KEY}: expected true or false")
    if stack != "prod" and not production:
        raise DoraError(
            f"--history {stack}=…: {stack!r} is not a production stack ({relative} does not set "
            f"{PRODUCTION_KEY}: true): DORA counts deployments to production only"
        )


# --------------------------------------------------------------------------------------------
# Git


@dataclass(frozen=True)
class Commit:
    sha: str
    author_time: int  # seconds since the epoch (`%at`)
    files: tuple[str, ...]
    reverts: tuple[str, ...]  # commit ids named by "This reverts commit <sha>." lines


# `git revert` writes "This reverts commit <sha>." (and for a merge "…<sha>, reversing").
_REVERTS = re.compile(r"^This reverts commit ([0-9a-fA-F]{4,64})[.,]", re.MULTILINE)


class GitError(Exception):
    pass


class Repository:
    """The git queries the figures need, each one `git -C REPO …` process."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, stdin: Optional[str] = None) -> str:
        run = subprocess.run(
            ["git", "-C", str(self.path), "-c", "log.showSignature=false", *args],
            input=stdin,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            check=False,
        )
        if run.returncode != 0:
            raise GitError(run.stderr.strip() or f"git {args[0]} exited {run.returncode}")
        return run.stdout

    def check(self) -> None:
        try:
            self.git("rev-parse", "--git-dir")
        except (GitError, OSError) as error:
            raise DoraError(f"--repo {self.path}: not a git repository ({error})") from None

    def shallow(self) -> bool:
        return self.git("rev-parse", "--is-shallow-repository").strip() == "true"

    def resolve(self, names: Iterable[str]) -> dict[str, Optional[str]]:
        """Each commit id (full or abbreviated) → the full id of that commit, or None when the
        repository has no such commit (or the abbreviation is ambiguous). One process for all:
        `cat-file --batch-check` peels `<name>^{commit}` as `rev-parse --verify` does."""
        unique = sorted(set(names))
        if not unique:
            return {}
        out = self.git(
            "cat-file",
            "--batch-check=%(objectname)",
            stdin="".join(f"{n}^{{commit}}\n" for n in unique),
        )
        resolved: dict[str, Optional[str]] = {}
        for name, line in zip(unique, out.splitlines()):
            resolved[name] = None if " " in line else line
        return resolved

    def rev_list(self, head: str, base: Optional[str]) -> tuple[str, ...]:
        """Commits reachable from `head` and not from `base`."""
        return tuple(self.git("rev-list", head, *([f"^{base}"] if base else [])).split())

    def commits(self, shas: Iterable[str]) -> dict[str, Commit]:
        """Author time, changed files and revert lines of each commit, in one `git log`."""
        wanted = sorted(set(shas))
        if not wanted:
            return {}
        out = self.git(
            "log", "--no-walk=unsorted", "--stdin", "-z", "--no-renames", "--name-only",
            "--format=%x1e%H%x00%at%x00%B%x00", stdin="\n".join(wanted) + "\n",
        )  # fmt: skip
        found: dict[str, Commit] = {}
        for record in out.split("\x1e")[1:]:
            sha, author_time, body, rest = record.split("\x00", 3)
            files = tuple(name for name in rest.lstrip("\x00").lstrip("\n").split("\x00") if name)
            reverts = tuple(_REVERTS.findall(body))
            found[sha] = Commit(sha, int(author_time), files, reverts)
        return found


# --------------------------------------------------------------------------------------------
# Deployments


@dataclass
class Deployment:
    """A finished `update` of the stack, with what git says about it."""

    update: Update
    head: str
    commits: Optional[tuple[str, ...]]  # None: no base in the history, so unknown
    new_commits: tuple[str, ...] = ()  # those no earlier successful deployment contained
    reverted: bool = False
    restored_at: Optional[datetime] = None

    @property
    def end(self) -> datetime:
        assert self.update.end is not None
        return self.update.end

    @property
    def succeeded(self) -> bool:
        return self.update.succeeded

    @property
    def failed(self) -> bool:
        return not self.update.succeeded or self.reverted


@dataclass
class StackHistory:
    """The stack's deployments in the period, plus the later ones their failures look at."""

    stack: str
    file: str
    in_period: list[Deployment]
    commits: dict[str, Commit]
    warnings: list[str] = field(default_factory=list)


def _ordered_updates(updates: Sequence[Update]) -> list[Update]:
    """Finished `update` entries, oldest first. The CLI lists the newest first; updates of a
    stack never overlap, so start time orders them (version, then file order, break ties)."""
    finished = [u for u in updates if u.finished_update]
    return sorted(finished, key=lambda u: (u.start, u.version, -u.index))


def _where(file: str, update: Update) -> str:
    return f"{file}: [{update.index}]"


def _ended(update: Update) -> datetime:
    assert update.end is not None, "finished updates have an end time"
    return update.end


def analyse_stack(
    stack: str, file: str, updates: Sequence[Update], period: Period, repo: Repository
) -> StackHistory:
    """The period's deployments of one stack, each with its commits, failure and restore.

    Git is asked about the updates from the first one in the period onwards (later ones can
    revert or restore it) and about the base: the last successful update before the period."""
    ordered = _ordered_updates(updates)
    first = next((i for i, u in enumerate(ordered) if period.holds(_ended(u))), None)
    if first is None:
        return StackHistory(stack, file, [], {})
    base = next((u for u in reversed(ordered[:first]) if u.succeeded), None)
    window = ordered[first:]
    heads = _resolve_heads(([base] if base else []) + window, file, repo)
    complete = any(u.version == 1 for u in updates)  # the history reaches the stack's first update
    deployments = _with_commits(window, heads, heads[base] if base else None, complete, repo)
    warnings = []
    for deployment in deployments:
        if deployment.commits is None and period.holds(deployment.end):
            warnings.append(
                f"{_where(file, deployment.update)}: no successful update before it in this "
                "history, so its commits are unknown: it counts as a deployment, without lead "
                "times, reverts or tenants (export more of the history: --page-size)"
            )
    commits = repo.commits(c for d in deployments for c in d.commits or ())
    _mark_new_commits(deployments)
    _mark_reverted(deployments, commits, repo)
    _mark_restored(deployments)
    in_period = [d for d in deployments if period.holds(d.end)]
    return StackHistory(stack, file, in_period, commits, warnings)


def _resolve_heads(updates: Sequence[Update], file: str, repo: Repository) -> dict[Update, str]:
    """Each update's `git.head` as a full commit id; a missing or unknown one is bad input."""
    missing = [u for u in updates if u.head is None]
    if missing:
        raise DoraError(
            "\n".join(
                f'{_where(file, u)}.environment["{GIT_HEAD}"]: missing: the update does not say '
                "which commit it deployed (run `pulumi up` from the git checkout)"
                for u in missing
            )
        )
    resolved = repo.resolve(u.head for u in updates if u.head)
    unknown = [u for u in updates if resolved[u.head or ""] is None]
    if unknown:
        hint = " (the clone is shallow: fetch the full history)" if repo.shallow() else ""
        raise DoraError(
            "\n".join(
                f'{_where(file, u)}.environment["{GIT_HEAD}"]: commit {u.head} is not in the '
                f"repository {repo.path}{hint}"
                for u in unknown
            )
        )
    return {u: resolved[u.head or ""] or "" for u in updates}


def _with_commits(
    window: Sequence[Update],
    heads: Mapping[Update, str],
    base: Optional[str],
    complete: bool,
    repo: Repository,
) -> list[Deployment]:
    """Each update's commits: reachable from its head, not from the previous successful one's.
    Without a previous one, all reachable commits when the history starts at the stack's first
    update, else unknown (None)."""
    deployments = []
    for update in window:
        head = heads[update]
        known = base is not None or complete
        deployments.append(Deployment(update, head, repo.rev_list(head, base) if known else None))
        if update.succeeded:
            base = head
    return deployments


def _mark_new_commits(deployments: Sequence[Deployment]) -> None:
    """A commit's lead time ends at the first successful deployment that contains it: a commit
    deployed again after a rollback keeps its first deployment."""
    deployed: set[str] = set()
    for deployment in deployments:
        if deployment.succeeded and deployment.commits is not None:
            deployment.new_commits = tuple(c for c in deployment.commits if c not in deployed)
            deployed.update(deployment.commits)


def _mark_reverted(
    deployments: Sequence[Deployment], commits: Mapping[str, Commit], repo: Repository
) -> None:
    """A deployment failed when a commit of a later successful deployment reverts one of its
    commits."""
    targets = repo.resolve(t for c in commits.values() for t in c.reverts)
    containing: dict[str, list[int]] = {}
    for position, deployment in enumerate(deployments):
        for sha in deployment.commits or ():
            containing.setdefault(sha, []).append(position)
    for position, deployment in enumerate(deployments):
        if not deployment.succeeded:
            continue
        for sha in deployment.commits or ():
            for target in commits[sha].reverts:
                reverted = targets.get(target)
                for earlier in containing.get(reverted or "", ()):
                    if earlier < position:
                        deployments[earlier].reverted = True


def _mark_restored(deployments: Sequence[Deployment]) -> None:
    for position, deployment in enumerate(deployments):
        if deployment.failed:
            restoring = next(
                (d for d in deployments[position + 1 :] if d.succeeded and not d.failed), None
            )
            deployment.restored_at = restoring.end if restoring else None


# --------------------------------------------------------------------------------------------
# Figures and levels


def median(values: Sequence[float]) -> float:
    """The usual median: the middle value, or the mean of the two middle values."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def p90(values: Sequence[float]) -> float:
    """Nearest rank: the ceil(0.9 n)-th smallest value (always one of the values)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.9 * len(ordered))) - 1]


# DORA, "Accelerate State of DevOps Report 2024", software delivery performance levels
# (elite / high / medium / low, 19% / 22% / 35% / 25% of respondents):
#   deployment frequency: on demand (multiple deploys per day) / between once per day and once
#     per week / between once per week and once per month / between once per month and once
#     every six months;
#   change lead time: less than one day / between one day and one week / between one week and
#     one month / between one month and six months;
#   change fail rate: 5% / 20% / 10% / 40%;
#   failed deployment recovery time: less than one hour / less than one day / less than one
#     day / between one week and one month.
# The levels are clusters of survey answers, not thresholds; where the table leaves room:
# - a month is 30 days; "multiple deploys per day" is more than one a day on average, and each
#   "between" range keeps both of its ends in the better level;
# - below once every six months, or above six months of lead time, is still low;
# - change fail rate: medium's 10% is better than high's 20%; a rate gets the best level whose
#   figure it does not exceed, so up to 5% elite, up to 20% high, above low; medium is never
#   reached by this figure alone;
# - recovery time: high and medium are both "less than one day" and low starts at one week;
#   under a day is high, from a day to under a week medium (the 2023 report's medium range),
#   from a week low.
ELITE, HIGH, MEDIUM, LOW, NO_DATA = "elite", "high", "medium", "low", "no data"


def frequency_level(per_day: float) -> str:
    if per_day > 1:
        return ELITE
    if per_day >= 1 / 7:
        return HIGH
    if per_day >= 1 / 30:
        return MEDIUM
    return LOW


def lead_time_level(hours: float) -> str:
    if hours < DAY_HOURS:
        return ELITE
    if hours <= WEEK_HOURS:
        return HIGH
    if hours <= MONTH_HOURS:
        return MEDIUM
    return LOW


def failure_rate_level(rate: float) -> str:
    if rate <= 0.05:
        return ELITE
    if rate <= 0.20:
        return HIGH
    return LOW


def restore_level(hours: float) -> str:
    if hours < 1:
        return ELITE
    if hours < DAY_HOURS:
        return HIGH
    if hours < WEEK_HOURS:
        return MEDIUM
    return LOW


@dataclass(frozen=True)
class Figures:
    """The four keys over one set of deployments, with the counts they came from."""

    deployments: int
    per_day: float
    lead_times: tuple[float, ...]  # hours, one per commit
    failed: int
    restore_times: tuple[float, ...]  # hours, one per restored failed deployment

    @property
    def change_failure_rate(self) -> float:
        return self.failed / self.deployments if self.deployments else 0.0

    @property
    def lead_median(self) -> float:
        return median(self.lead_times) if self.lead_times else 0.0

    @property
    def lead_p90(self) -> float:
        return p90(self.lead_times) if self.lead_times else 0.0

    @property
    def restore_median(self) -> float:
        return median(self.restore_times) if self.restore_times else 0.0

    def levels(self) -> dict[str, str]:
        if not self.deployments:
            return {key: NO_DATA for key in LEVEL_KEYS}
        return {
            "deploymentFrequency": frequency_level(self.per_day),
            "leadTime": lead_time_level(self.lead_median) if self.lead_times else NO_DATA,
            "changeFailureRate": failure_rate_level(self.change_failure_rate),
            "timeToRestore": (
                restore_level(self.restore_median) if self.restore_times else NO_DATA
            ),
        }


LEVEL_KEYS = ("deploymentFrequency", "leadTime", "changeFailureRate", "timeToRestore")


def figures(
    deployments: Sequence[Deployment],
    commits: Mapping[str, Commit],
    period: Period,
    counts_commit: Optional[Any] = None,
) -> Figures:
    """`counts_commit(commit)` narrows the lead times to some commits (a tenant's)."""
    lead_times = tuple(
        (d.end.timestamp() - commits[sha].author_time) / HOUR
        for d in deployments
        for sha in d.new_commits
        if counts_commit is None or counts_commit(commits[sha])
    )
    failed = [d for d in deployments if d.failed]
    restore_times = tuple(
        (d.restored_at - d.end).total_seconds() / HOUR for d in failed if d.restored_at
    )
    return Figures(
        len(deployments), len(deployments) / period.days, lead_times, len(failed), restore_times
    )


# --------------------------------------------------------------------------------------------
# Tenants


def tenant_of(path: str) -> Optional[str]:
    """`tenants/<team>.yaml` and `tenants/<team>/…` belong to the tenant `<team>`."""
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != "tenants" or not parts[1]:
        return None
    if len(parts) == 2:
        return (
            parts[1][: -len(".yaml")]
            if parts[1].endswith(".yaml") and parts[1] != ".yaml"
            else None
        )
    return parts[1]


def tenants_of(commit: Commit) -> set[str]:
    return {t for t in map(tenant_of, commit.files) if t is not None}


def tenant_figures(history: StackHistory, tenant: str, period: Period) -> Figures:
    def touches(commit: Commit) -> bool:
        return tenant in tenants_of(commit)

    mine = [
        d
        for d in history.in_period
        if any(touches(history.commits[sha]) for sha in d.commits or ())
    ]
    return figures(mine, history.commits, period, touches)


def tenant_names(repo: Path, histories: Iterable[StackHistory]) -> list[str]:
    """Every tenant file in the repository, and any tenant the period's commits touched."""
    names = {p.name[: -len(".yaml")] for p in repo.glob("tenants/*.yaml") if p.is_file()}
    for history in histories:
        for deployment in history.in_period:
            for sha in deployment.commits or ():
                names |= tenants_of(history.commits[sha])
    return sorted(names)


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Report:
    period: Period
    stacks: dict[str, Figures]
    tenants: dict[str, dict[str, Figures]]


def build_report(histories: Sequence[StackHistory], period: Period, repo: Path) -> Report:
    stacks = {
        h.stack: figures(h.in_period, h.commits, period) for h in sorted(histories, key=_stack)
    }
    tenants = {
        tenant: {h.stack: tenant_figures(h, tenant, period) for h in sorted(histories, key=_stack)}
        for tenant in tenant_names(repo, histories)
    }
    return Report(period, stacks, tenants)


def _stack(history: StackHistory) -> str:
    return history.stack


def _round(value: float) -> float:
    return round(value, 4) + 0.0  # + 0.0: never "-0.0"


def figures_json(f: Figures) -> dict[str, Any]:
    return {
        "deployments": f.deployments,
        "deploymentsPerDay": _round(f.per_day),
        "leadTimeHours": {"median": _round(f.lead_median), "p90": _round(f.lead_p90)},
        "changeFailureRate": _round(f.change_failure_rate),
        "timeToRestoreHours": {"median": _round(f.restore_median)},
        "levels": f.levels(),
        "counts": {
            "deployments": f.deployments,
            "leadTimeCommits": len(f.lead_times),
            "failedDeployments": f.failed,
            "restoredDeployments": len(f.restore_times),
        },
    }


def report_json(report: Report) -> dict[str, Any]:
    return {
        "period": {
            "since": report.period.since.isoformat(),
            "until": report.period.until.isoformat(),
            "days": report.period.days,
        },
        "stacks": {stack: figures_json(f) for stack, f in report.stacks.items()},
        "tenants": {
            tenant: {stack: figures_json(f) for stack, f in by_stack.items()}
            for tenant, by_stack in report.tenants.items()
        },
    }


def _hours(value: float) -> str:
    return f"{value:.2f} h"


def figure_rows(f: Figures) -> list[tuple[str, str, str, str]]:
    """(metric, value, level, what it came from) for the table."""
    levels = f.levels()
    restored, unrestored = len(f.restore_times), f.failed - len(f.restore_times)
    return [
        (
            "deployment frequency",
            f"{f.per_day:.2f} a day",
            levels["deploymentFrequency"],
            _plural(f.deployments, "deployment"),
        ),
        (
            "lead time",
            f"median {_hours(f.lead_median)}, p90 {_hours(f.lead_p90)}",
            levels["leadTime"],
            _plural(len(f.lead_times), "commit"),
        ),
        (
            "change failure rate",
            f"{100 * f.change_failure_rate:.1f}%",
            levels["changeFailureRate"],
            f"{f.failed} of {_plural(f.deployments, 'deployment')} failed",
        ),
        (
            "time to restore",
            f"median {_hours(f.restore_median)}",
            levels["timeToRestore"],
            f"{_plural(restored, 'restored failure')}"
            + (f", {unrestored} not restored yet" if unrestored else ""),
        ),
    ]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_table(report: Report) -> str:
    blocks: list[tuple[str, list[tuple[str, str, str, str]]]] = [
        (f"stack {stack}", figure_rows(f)) for stack, f in report.stacks.items()
    ]
    blocks += [
        (f"tenant {tenant} on {stack}", figure_rows(f))
        for tenant, by_stack in report.tenants.items()
        for stack, f in by_stack.items()
    ]
    header = ("", "value", "level", "from")
    rows = [header] + [row for _, block in blocks for row in block]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]

    def line(row: tuple[str, str, str, str]) -> str:
        cells = [row[i].ljust(widths[i]) for i in range(3)] + [row[3]]
        return ("  " + "   ".join(cells)).rstrip()

    period = report.period
    out = [
        f"DORA four keys, {period.since} to {period.until} "
        f"({_plural(period.days, 'day')}, the last one excluded)",
        "",
        line(header),
    ]
    for title, block in blocks:
        out += ["", title] + [line(row) for row in block]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# The command


def run(
    history_options: Sequence[str],
    repo_path: Path,
    since: Optional[str],
    until: Optional[str],
    today: date,
) -> tuple[Report, list[str]]:
    """The report and its warnings; raises DoraError for bad input."""
    period = parse_period(since, until, today)
    files: dict[str, Path] = {}
    for option in history_options:
        stack, file = parse_history_option(option)
        if stack in files:
            raise DoraError(f"--history {stack}=…: given twice ({files[stack]} and {file})")
        files[stack] = file
    repo = Repository(repo_path)
    repo.check()
    for stack in files:
        check_production(repo_path, stack)
    histories = [
        analyse_stack(stack, str(file), load_history(file), period, repo)
        for stack, file in files.items()
    ]
    warnings = [w for h in histories for w in h.warnings]
    return build_report(histories, period, repo_path), warnings


def main(
    history_options: Sequence[str],
    repo_path: Path,
    since: Optional[str],
    until: Optional[str],
    as_json: bool,
    today: Optional[date] = None,
) -> int:
    today = today or datetime.now(timezone.utc).date()
    try:
        report, warnings = run(history_options, repo_path, since, until, today)
    except DoraError as error:
        print(str(error), file=sys.stderr)
        print("No figures were computed.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GitError as error:
        print(f"--repo {repo_path}: git failed: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if as_json:
        print(json.dumps(report_json(report), indent=2))
    else:
        print(render_table(report))
    return EXIT_OK
