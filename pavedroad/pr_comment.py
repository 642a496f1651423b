"""The pull-request plan comment: ``python -m pavedroad.pr_comment --base DIR --head DIR --out DIR``.

The plan workflow (``.github/workflows/plan.yml``) checks out the pull request's base and head
side by side and runs this once. For every stack of the head (``stacks/Pulumi.<stack>.yaml``) it
runs each checkout's own ``python -m pavedroad plan <stack>`` (so a pull request that changes the
program is planned by the program it changes, and the base by the code already merged), then the
head's ``python -m pavedroad diff BASE HEAD --markdown``, and writes one comment body:

* a hidden marker (``MARKER``) on the first line, by which the workflow finds the comment it
  posted before and edits it, so a pull request has one plan comment however often it is pushed;
* per stack a heading with the head plan's verdict, the ``diff --markdown`` output unchanged, and
  the head plan's schema and policy results as the plan printed them.

It writes ``OUT/comment.md`` and, per stack, the plans and outputs under ``OUT/<side>/<stack>/``.
Exit codes: 0 every head plan is clean, 1 a head plan failed (exit 1: a schema or mandatory policy
violation; exit 2: a configuration error) and the comment says which, 2 bad usage. The comment is
written in both the 0 and 1 cases, so the workflow posts it before it fails the job.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MARKER = "<!-- paved-road-plan -->"
"""First line of the comment: how the workflow recognises the comment it posted before."""

MAX_COMMENT_CHARS = 65_000
"""GitHub refuses comment bodies over 65,536 characters; the largest diffs give way first."""

_WROTE = re.compile(r"^Wrote .*plan\.json and .*kubernetes\.yaml$", re.MULTILINE)
_VERDICTS = {
    0: "✅ plan clean",
    1: "❌ schema or mandatory policy violation",
    2: "❌ configuration error, nothing planned",
}


@dataclass(frozen=True)
class PlanRun:
    """One ``pavedroad plan`` of one stack in one checkout."""

    exit_code: int
    output: str  # stdout and stderr interleaved as printed
    plan_file: Optional[Path]  # None when the plan wrote nothing (exit 2) or was not run

    @property
    def results(self) -> str:
        """The schema and policy results: what the plan printed after writing its files (all of
        the output when it wrote none, e.g. a configuration error)."""
        found = _WROTE.search(self.output)
        tail = self.output[found.end() :] if found else self.output
        return tail.strip("\n")


@dataclass(frozen=True)
class StackReport:
    """What the comment says about one stack."""

    stack: str
    head: PlanRun
    base: Optional[PlanRun]  # None: the base has no such stack
    diff: Optional[str]  # `pavedroad diff --markdown` output; None when there is nothing to diff
    diff_error: str = ""


def plan(python: str, checkout: Path, stack: str, out: Path) -> PlanRun:
    """Run the checkout's own ``pavedroad plan`` into ``out`` (from the checkout, as CI does)."""
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [python, "-m", "pavedroad", "plan", stack, "--out", str(out.resolve())],
        cwd=checkout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Unbuffered, so the violations printed on stderr stay where the plan printed them.
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    (out / "plan.log").write_text(result.stdout, encoding="utf-8")
    plan_file = out / "plan.json"
    written = result.returncode in (0, 1) and plan_file.is_file()
    return PlanRun(result.returncode, result.stdout, plan_file if written else None)


def diff(python: str, checkout: Path, base: Path, head: Path) -> tuple[int, str, str]:
    """``pavedroad diff BASE HEAD --markdown`` from the head checkout: (exit code, stdout, stderr)."""
    result = subprocess.run(
        [python, "-m", "pavedroad", "diff", str(base), str(head), "--markdown"],
        cwd=checkout,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    return result.returncode, result.stdout, result.stderr


def stacks_of(checkout: Path) -> list[str]:
    """The stacks of a checkout, sorted: one ``stacks/Pulumi.<stack>.yaml`` each."""
    names = (p.name for p in (checkout / "stacks").glob("Pulumi.*.yaml"))
    return sorted(n[len("Pulumi.") : -len(".yaml")] for n in names)


def report_stack(
    stack: str, base_dir: Path, head_dir: Path, out: Path, base_python: str, head_python: str
) -> StackReport:
    """Plan the stack on both sides and diff the plans."""
    head = plan(head_python, head_dir, stack, out / "head" / stack)
    base: Optional[PlanRun] = None
    base_file: Optional[Path] = None
    if (base_dir / "stacks" / f"Pulumi.{stack}.yaml").is_file():
        base = plan(base_python, base_dir, stack, out / "base" / stack)
        base_file = base.plan_file
    elif head.plan_file is not None:
        # A new stack: everything in it is to be added, which is its diff against no resources.
        base_file = out / "base" / stack / "plan.json"
        base_file.parent.mkdir(parents=True, exist_ok=True)
        project = json.loads(head.plan_file.read_text(encoding="utf-8")).get("project")
        empty = {"project": project, "stack": stack, "resources": [], "outputs": {}}
        base_file.write_text(json.dumps(empty), encoding="utf-8")
    if head.plan_file is None or base_file is None:
        return StackReport(stack, head, base, None)
    code, markdown, error = diff(head_python, head_dir, base_file, head.plan_file)
    if code != 0:
        return StackReport(stack, head, base, None, error.strip() or f"exit {code}")
    (out / "head" / stack / "diff.md").write_text(markdown, encoding="utf-8")
    return StackReport(stack, head, base, markdown)


# --------------------------------------------------------------------------------------------------
# The comment


def _fence(text: str, info: str = "text") -> list[str]:
    """A fenced block longer than any backtick run inside, so plan output cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return [f"{ticks}{info}", text, ticks]


def heading(report: StackReport) -> str:
    """``### `dev`: ✅ plan clean (exit 0)`` — the head plan's verdict on the stack."""
    code = report.head.exit_code
    verdict = _VERDICTS.get(code, "❌ the plan failed")
    return f"### `{report.stack}`: {verdict} (exit {code})"


def stack_section(report: StackReport, diff_too_large: bool = False) -> str:
    """One stack's part of the comment: heading, the diff as ``diff --markdown`` printed it, and
    the head plan's schema and policy results."""
    lines = [heading(report), ""]
    if report.diff is not None and not diff_too_large:
        # Verbatim: the reviewer reads exactly what `pavedroad diff --markdown` printed.
        lines.append(report.diff.rstrip("\n"))
    elif report.diff is not None:
        lines.append(
            f"The diff is {len(report.diff):,} characters, too long for a comment: it is in the "
            "job's `plan` artifact (`head/" + report.stack + "/diff.md`)."
        )
    elif report.head.plan_file is None:
        lines.append("No diff: the head plan wrote no plan (output below).")
    elif report.base is not None and report.base.plan_file is None:
        lines.append(
            f"No diff: the base plan failed (exit {report.base.exit_code}), so there is nothing "
            "to compare with. Its output is in the job's `plan` artifact (`base/"
            + report.stack
            + "/plan.log`)."
        )
    else:
        lines.append(f"No diff: `pavedroad diff` failed: {report.diff_error}")
    if report.base is None:
        lines += ["", f"New stack: the base has no `stacks/Pulumi.{report.stack}.yaml`."]
    lines += [
        "",
        "<details><summary>Schema and policy results (head)</summary>",
        "",
        *_fence(report.head.results or "(no output)"),
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"


def render(reports: list[StackReport], removed: list[str], title_ref: str = "") -> str:
    """The whole comment. Stacks in order; when the body would be too long for GitHub, the
    largest diffs are replaced by a pointer to the artifact, one at a time."""
    too_large: set[str] = set()
    by_size = sorted(
        (r for r in reports if r.diff is not None), key=lambda r: (-len(r.diff or ""), r.stack)
    )
    while True:
        body = _render(reports, removed, too_large, title_ref)
        if len(body) <= MAX_COMMENT_CHARS or not by_size:
            return body
        too_large.add(by_size.pop(0).stack)


def _render(
    reports: list[StackReport], removed: list[str], too_large: set[str], title_ref: str
) -> str:
    failed = [r.stack for r in reports if r.head.exit_code != 0]
    summary = (
        f"❌ {len(failed)} of {len(reports)} stack(s) failed: "
        + ", ".join(f"`{s}`" for s in failed)
        if failed
        else f"✅ {len(reports)} stack(s) planned clean"
    )
    lines = [MARKER, f"## Offline plan{f' of {title_ref}' if title_ref else ''}", "", summary, ""]
    lines += [
        "Each stack planned offline on the base and the head (`python -m pavedroad plan`), then "
        "compared with `python -m pavedroad diff --markdown`. This comment is updated on every "
        "push.",
        "",
    ]
    for stack in removed:
        lines += [f"### `{stack}`: removed", "", "The head has no such stack file.", ""]
    body = "\n".join(lines) + "\n"
    for report in reports:
        body += stack_section(report, report.stack in too_large) + "\n"
    return body.rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pavedroad.pr_comment",
        description="Plan every stack on a pull request's base and head; write the PR comment.",
    )
    parser.add_argument("--base", required=True, help="checkout of the base commit")
    parser.add_argument("--head", required=True, help="checkout of the pull request")
    parser.add_argument("--out", required=True, help="directory for plans and comment.md")
    parser.add_argument(
        "--base-python", default=sys.executable, help="Python with the base's requirements"
    )
    parser.add_argument(
        "--head-python", default=sys.executable, help="Python with the head's requirements"
    )
    parser.add_argument("--title", default="", help="what the heading names, e.g. the commit")
    return parser


def _program(path: str) -> str:
    """A path made absolute (the plans run from each checkout) but not resolved: a virtual
    environment's python is a symlink that must stay one. A bare name is looked up on PATH."""
    return os.path.abspath(path) if os.sep in path else path


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    base_dir, head_dir, out = Path(args.base), Path(args.head), Path(args.out)
    base_python, head_python = _program(args.base_python), _program(args.head_python)
    for name, directory in (("--base", base_dir), ("--head", head_dir)):
        if not (directory / "Pulumi.yaml").is_file():
            print(f"error: {name} {directory}: no Pulumi.yaml (not a checkout)", file=sys.stderr)
            return 2
    stacks = stacks_of(head_dir)
    if not stacks:
        print(f"error: --head {head_dir}: no stacks/Pulumi.<stack>.yaml", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    reports = [report_stack(s, base_dir, head_dir, out, base_python, head_python) for s in stacks]
    removed = sorted(set(stacks_of(base_dir)) - set(stacks))
    body = render(reports, removed, args.title)
    (out / "comment.md").write_text(body, encoding="utf-8")
    for report in reports:
        print(f"{report.stack}: head plan exit {report.head.exit_code}")
    print(f"Wrote {out / 'comment.md'}")
    return 1 if any(r.head.exit_code != 0 for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
