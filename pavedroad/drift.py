"""Drift report for the nightly workflow: ``python -m pavedroad.drift PREVIEW.json --stack S --out D``.

``.github/workflows/drift.yml`` runs ``pulumi preview --refresh --expect-no-changes --json`` per
stack: the refresh reads every resource back from the account, so any step the preview then
proposes is a difference between the account and the program — drift. The JSON document is the
CLI's preview digest (``PreviewDigest`` in pulumi/pkg's display package: ``steps`` with ``op``,
``urn``, ``diffReasons``, ``replaceReasons``; ``diagnostics``; ``changeSummary``), a stable
format, unlike the human-oriented text display.

Writes ``D/title.txt`` (``Drift in stack <stack>``, the title the workflow finds the open issue
by) and ``D/body.md`` (the drifted resources: operation, type, name, the properties that differ).
Exit codes: 0 no drift, 1 drift (title and body written), 2 not a preview digest or the preview
reported errors (nothing written: a failed preview is not drift and must not be filed as drift).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "<!-- paved-road-drift -->"

NO_CHANGE_OPS = frozenset({"same", "read", "refresh", "discard"})
"""Steps that change nothing in the account: unchanged, reads of external resources, and the
refresh itself. Every other op (update, replace, create, delete, …) is a proposed change."""


class PreviewError(Exception):
    """The file is not a preview digest, or the preview failed; the message says which."""


@dataclass(frozen=True)
class Drifted:
    """One resource the preview would change to bring the account back to the program."""

    op: str
    type: str
    name: str
    urn: str
    properties: tuple[str, ...]


def parse_urn(urn: str) -> tuple[str, str]:
    """``urn:pulumi:STACK::PROJECT::[PARENT$]TYPE::NAME`` → (TYPE, NAME)."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        raise PreviewError(f"not a Pulumi URN: {urn!r}")
    qualified_type, name = parts[2], "::".join(parts[3:])
    return qualified_type.split("$")[-1], name


def drifted(digest: Any) -> list[Drifted]:
    """The changed steps of a preview digest, sorted by URN (one entry per resource: a
    replacement's create- and delete-replacement steps fold into its ``replace``)."""
    if not isinstance(digest, dict) or not isinstance(digest.get("steps", []), list):
        raise PreviewError('not a `pulumi preview --json` document (no "steps" list)')
    errors = [
        d.get("message", "").strip()
        for d in digest.get("diagnostics") or []
        if isinstance(d, dict) and d.get("severity") == "error"
    ]
    # `--expect-no-changes` reports its own error when there is drift; any other error means the
    # preview did not complete, and what it proposed cannot be trusted as the drift.
    errors = [e for e in errors if "no changes were expected" not in e]
    if errors:
        raise PreviewError("the preview failed: " + "; ".join(errors))
    by_urn: dict[str, Drifted] = {}
    for index, step in enumerate(digest.get("steps") or []):
        if not isinstance(step, dict) or not isinstance(step.get("urn"), str):
            raise PreviewError(f'steps[{index}] has no "urn"')
        op = str(step.get("op", ""))
        if op in NO_CHANGE_OPS:
            continue
        if op in ("create-replacement", "delete-replacement"):
            op = "replace"
        urn = step["urn"]
        type_, name = parse_urn(urn)
        reasons = [*(step.get("diffReasons") or []), *(step.get("replaceReasons") or [])]
        reasons += list((step.get("detailedDiff") or {}).keys())
        known = by_urn.get(urn)
        if known is not None:
            reasons += list(known.properties)
        by_urn[urn] = Drifted(op, type_, name, urn, tuple(sorted(set(map(str, reasons)))))
    return [by_urn[u] for u in sorted(by_urn)]


def title(stack: str) -> str:
    """The issue's title: the workflow finds the stack's open drift issue by it."""
    return f"Drift in stack {stack}"


def body(stack: str, found: list[Drifted], run_url: str = "") -> str:
    """The issue body: which resources differ from the program, and how to resolve it."""
    lines = [
        MARKER,
        f"`pulumi preview --refresh --expect-no-changes` of stack `{stack}` found "
        f"{len(found)} resource(s) that differ from the program"
        + (f" ([run]({run_url}))" if run_url else "")
        + ".",
        "",
        "| Operation | Type | Name | Properties |",
        "| --- | --- | --- | --- |",
    ]
    for d in found:
        properties = (", ".join(f"`{p}`" for p in d.properties) or "—").replace("|", "\\|")
        lines.append(f"| {d.op} | `{d.type}` | `{d.name}` | {properties} |")
    lines += [
        "",
        "Someone or something changed these outside Pulumi. Either make the change in code (a pull "
        "request; its plan shows it) or put the resources back with `pulumi up` of the stack. "
        "This issue is updated by the nightly drift check and closed by it once the stack has no "
        "drift.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pavedroad.drift",
        description="Turn a `pulumi preview --refresh --json` digest into a drift issue.",
    )
    parser.add_argument("preview", help="output of `pulumi preview --refresh --json`")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--out", required=True, help="directory for title.txt and body.md")
    parser.add_argument("--run-url", default="", help="link to the workflow run")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        try:
            digest = json.loads(Path(args.preview).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise PreviewError(f"cannot read it ({error})") from None
        except json.JSONDecodeError as error:
            raise PreviewError(
                f"not JSON (line {error.lineno}, column {error.colno}): did the preview run?"
            ) from None
        found = drifted(digest)
    except PreviewError as error:
        print(f"error: {args.preview}: {error}", file=sys.stderr)
        return 2
    if not found:
        print(f"stack {args.stack}: no drift")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "title.txt").write_text(title(args.stack) + "\n", encoding="utf-8")
    (out / "body.md").write_text(body(args.stack, found, args.run_url), encoding="utf-8")
    print(f"stack {args.stack}: {len(found)} drifted resource(s)")
    for d in found:
        print(f"  {d.op:8} {d.type}  {d.name}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
