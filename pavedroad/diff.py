"""Plan diff for pull-request comments: ``python -m pavedroad diff BASE.json HEAD.json``.

Reviewers should not have to read two full plan files to see what a change does to
infrastructure. This module compares two plan files (the fixed contract written by the
plan exporter) and renders a Pulumi-like summary for the terminal or a paste-ready
GitHub comment.

Design choices, each made so the output can be trusted in review:

* ``diff_plans`` is pure and deterministic: everything is sorted (resources by urn,
  properties by path), so the same inputs always give identical bytes and the CI comment
  only changes when the plan does.
* Property paths use ``.key`` for identifier-like keys, ``["key"]`` (JSON-quoted) for any
  other key and ``[0]`` for list indexes, so every path is readable and unambiguous, e.g.
  ``tags["paved-road:environment"]`` or ``blockDeviceMappings[0].ebs.volumeSize``.
* Values are shown as compact JSON so strings, numbers, booleans and null cannot be
  confused; long values are cut at ``MAX_VALUE_CHARS``. Secrets are already the string
  ``"[secret]"`` in the plan, so nothing here can reveal one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterator, Mapping

MAX_VALUE_CHARS = 200
"""Values longer than this (as compact JSON) are truncated so one blob cannot drown a diff."""

ELLIPSIS = "…"
ARROW = "→"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPTION_FIELDS = ("protect", "provider", "parent")
"""Resource fields besides ``inputs`` whose change matters to a reviewer (plus dependencies and
the update options: deleteBeforeReplace, replaceOnChanges, ignoreChanges, retainOnDelete)."""


class ChangeKind(Enum):
    """What happened to a resource or property; the value is the marker Pulumi users know."""

    ADD = "+"
    UPDATE = "~"
    REMOVE = "-"


@dataclass(frozen=True)
class PropertyChange:
    """One changed leaf (or subtree) at ``path``; ``old``/``new`` are unused for add/remove."""

    path: str
    kind: ChangeKind
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class ResourceRef:
    """An added or removed resource: enough to recognise it without the full inputs."""

    urn: str
    type: str
    name: str
    protect: bool = False


@dataclass(frozen=True)
class ResourceChange:
    """A resource present in both plans whose options or inputs differ.

    ``options`` (protect, provider, parent, dependencies and the update options under
    ``options.…``) are kept apart from ``inputs``
    because they change how Pulumi manages the resource rather than what it creates.
    """

    urn: str
    type: str
    name: str
    options: tuple[PropertyChange, ...] = ()
    inputs: tuple[PropertyChange, ...] = ()


@dataclass(frozen=True)
class PlanDiff:
    """Everything that differs between a base and a head plan, sorted for stable output."""

    base_stack: str
    head_stack: str
    added: tuple[ResourceRef, ...] = ()
    changed: tuple[ResourceChange, ...] = ()
    removed: tuple[ResourceRef, ...] = ()
    unchanged: int = 0
    outputs: tuple[PropertyChange, ...] = ()

    @property
    def has_changes(self) -> bool:
        """True if anything a reviewer should look at differs."""
        return bool(self.added or self.changed or self.removed or self.outputs)


# --------------------------------------------------------------------------------------
# Diffing
# --------------------------------------------------------------------------------------


def diff_plans(base: dict, head: dict) -> PlanDiff:
    """Compare two plan dicts, matching resources by urn (the only stable identity)."""
    base_by_urn = _index_resources(base)
    head_by_urn = _index_resources(head)
    added = tuple(_ref(head_by_urn[u]) for u in sorted(head_by_urn.keys() - base_by_urn.keys()))
    removed = tuple(_ref(base_by_urn[u]) for u in sorted(base_by_urn.keys() - head_by_urn.keys()))
    changed: list[ResourceChange] = []
    unchanged = 0
    for urn in sorted(base_by_urn.keys() & head_by_urn.keys()):
        change = _diff_resource(base_by_urn[urn], head_by_urn[urn])
        if change is None:
            unchanged += 1
        else:
            changed.append(change)
    outputs = _diff_values(base.get("outputs") or {}, head.get("outputs") or {})
    return PlanDiff(
        base_stack=_stack_label(base),
        head_stack=_stack_label(head),
        added=added,
        changed=tuple(changed),
        removed=removed,
        unchanged=unchanged,
        outputs=tuple(outputs),
    )


def _index_resources(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Map urn → resource; a later duplicate wins (``load_plan`` rejects duplicates)."""
    return {r["urn"]: r for r in plan.get("resources") or []}


def _stack_label(plan: Mapping[str, Any]) -> str:
    """``project/stack`` so the header says which stack the plan is for."""
    return f"{plan.get('project', '?')}/{plan.get('stack', '?')}"


def _ref(resource: Mapping[str, Any]) -> ResourceRef:
    """Reduce a resource to what the added/removed listings show."""
    return ResourceRef(
        urn=resource["urn"],
        type=resource.get("type", ""),
        name=resource.get("name", ""),
        protect=bool(resource.get("protect", False)),
    )


def _diff_resource(old: Mapping[str, Any], new: Mapping[str, Any]) -> ResourceChange | None:
    """Diff one matched resource; None when nothing (not even ``protect``) changed."""
    options = _diff_options(old, new)
    inputs = _diff_values(old.get("inputs") or {}, new.get("inputs") or {})
    if not options and not inputs:
        return None
    return ResourceChange(
        urn=new["urn"],
        type=new.get("type", ""),
        name=new.get("name", ""),
        options=tuple(options),
        inputs=tuple(inputs),
    )


def _diff_options(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[PropertyChange]:
    """Diff protect/provider/parent, the update options (``options.ignoreChanges`` …; a plan
    written before they were recorded has none), and dependencies as a set (their order carries
    no meaning)."""
    defaults: dict[str, Any] = {"protect": False, "provider": "", "parent": None}
    changes = [
        PropertyChange(
            key, ChangeKind.UPDATE, old.get(key, defaults[key]), new.get(key, defaults[key])
        )
        for key in _OPTION_FIELDS
        if not _same(old.get(key, defaults[key]), new.get(key, defaults[key]))
    ]
    changes += _diff_values(old.get("options") or {}, new.get("options") or {}, "options")
    old_deps = set(old.get("dependencies") or [])
    new_deps = set(new.get("dependencies") or [])
    changes += [
        PropertyChange("dependencies", ChangeKind.REMOVE, old=d)
        for d in sorted(old_deps - new_deps)
    ]
    changes += [
        PropertyChange("dependencies", ChangeKind.ADD, new=d) for d in sorted(new_deps - old_deps)
    ]
    return changes


def _diff_values(old: Any, new: Any, path: str = "") -> list[PropertyChange]:
    """Recursively diff two JSON values, reporting the smallest differing subtrees."""
    if isinstance(old, dict) and isinstance(new, dict):
        return list(_diff_dicts(old, new, path))
    if isinstance(old, list) and isinstance(new, list):
        return list(_diff_lists(old, new, path))
    if _same(old, new):
        return []
    return [PropertyChange(path, ChangeKind.UPDATE, old, new)]


def _diff_dicts(old: dict, new: dict, path: str) -> Iterator[PropertyChange]:
    """Diff objects key by key in sorted order so the output is deterministic."""
    for key in sorted(old.keys() | new.keys()):
        child = _join_key(path, key)
        if key not in new:
            yield PropertyChange(child, ChangeKind.REMOVE, old=old[key])
        elif key not in old:
            yield PropertyChange(child, ChangeKind.ADD, new=new[key])
        else:
            yield from _diff_values(old[key], new[key], child)


def _diff_lists(old: list, new: list, path: str) -> Iterator[PropertyChange]:
    """Diff lists by index: simple and predictable, which matters more here than minimality."""
    for index in range(max(len(old), len(new))):
        child = f"{path}[{index}]"
        if index >= len(new):
            yield PropertyChange(child, ChangeKind.REMOVE, old=old[index])
        elif index >= len(old):
            yield PropertyChange(child, ChangeKind.ADD, new=new[index])
        else:
            yield from _diff_values(old[index], new[index], child)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: unlike ``==`` in Python, ``true`` is not equal to ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return not _diff_values(a, b) if type(a) is type(b) else False
    return a == b


def _join_key(path: str, key: str) -> str:
    """Append an object key: ``.key`` if identifier-like, else ``["key"]`` (JSON-escaped)."""
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


# --------------------------------------------------------------------------------------
# Shared formatting
# --------------------------------------------------------------------------------------


def short_urn(urn: str) -> str:
    """Drop the ``urn:pulumi:STACK::PROJECT::`` prefix, which is identical for every resource."""
    parts = urn.split("::", 2)
    if len(parts) == 3 and parts[0].startswith("urn:pulumi:"):
        return parts[2]
    return urn


def format_value(value: Any) -> str:
    """Compact, key-sorted JSON, truncated with an ellipsis past ``MAX_VALUE_CHARS``."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if len(text) > MAX_VALUE_CHARS:
        return text[:MAX_VALUE_CHARS] + ELLIPSIS
    return text


def format_change(change: PropertyChange, shorten_urns: bool = False) -> str:
    """One line per change, e.g. ``~ metadataOptions.httpTokens: "required" → "optional"``.

    Option values (parent, provider, dependencies) are urns; shortening them keeps the
    distinguishing tail visible instead of truncating it away.
    """
    show = _shorten_urn_value if shorten_urns else (lambda v: v)
    label = change.path or "(value)"
    if change.kind is ChangeKind.ADD:
        return f"+ {label}: {format_value(show(change.new))}"
    if change.kind is ChangeKind.REMOVE:
        return f"- {label}: {format_value(show(change.old))}"
    old, new = format_value(show(change.old)), format_value(show(change.new))
    return f"~ {label}: {old} {ARROW} {new}"


def _shorten_urn_value(value: Any) -> Any:
    """Shorten a value only if it is a urn string."""
    return short_urn(value) if isinstance(value, str) else value


def resource_change_lines(change: ResourceChange) -> list[str]:
    """Options first (a protect or provider change is the riskier news), then inputs."""
    return [format_change(c, shorten_urns=True) for c in change.options] + [
        format_change(c) for c in change.inputs
    ]


def summary_line(d: PlanDiff) -> str:
    """The counts line, e.g. ``+3 to add, ~1 to change, -2 to remove, 4 unchanged``."""
    return (
        f"+{len(d.added)} to add, ~{len(d.changed)} to change, "
        f"-{len(d.removed)} to remove, {d.unchanged} unchanged"
    )


def outputs_summary_line(d: PlanDiff) -> str:
    """Counts of output changes by kind, e.g. ``+1 added, ~2 changed``."""
    counts = Counter(c.kind for c in d.outputs)
    labels = (
        (ChangeKind.ADD, "added"),
        (ChangeKind.UPDATE, "changed"),
        (ChangeKind.REMOVE, "removed"),
    )
    return ", ".join(
        f"{kind.value}{counts[kind]} {label}" for kind, label in labels if counts[kind]
    )


def counts_by_type(d: PlanDiff) -> list[tuple[str, int, int, int]]:
    """``(type, added, changed, removed)`` sorted by type, for the per-type summary."""
    added = Counter(r.type for r in d.added)
    changed = Counter(r.type for r in d.changed)
    removed = Counter(r.type for r in d.removed)
    types = sorted(added.keys() | changed.keys() | removed.keys())
    return [(t, added[t], changed[t], removed[t]) for t in types]


def _header(d: PlanDiff) -> str:
    """Name the stack, or both stacks when a diff unexpectedly compares different ones."""
    if d.base_stack == d.head_stack:
        return d.base_stack
    return f"{d.base_stack} {ARROW} {d.head_stack}"


def _protected_note(ref: ResourceRef) -> str:
    """Removing a protected resource will fail the update, so say so next to it."""
    return " (protected)" if ref.protect else ""


# --------------------------------------------------------------------------------------
# Text rendering
# --------------------------------------------------------------------------------------


def render_text(d: PlanDiff) -> str:
    """Terminal output: resource groups, outputs, then the summary last (as Pulumi does)."""
    lines = [f"Plan diff: {_header(d)}", ""]
    if not d.has_changes:
        lines.append("No changes.")
        lines.append(f"{d.unchanged} resources unchanged.")
        return "\n".join(lines) + "\n"
    lines += _text_refs("To add", ChangeKind.ADD, d.added)
    lines += _text_changed(d.changed)
    lines += _text_refs("To remove", ChangeKind.REMOVE, d.removed)
    if d.outputs:
        lines.append("Outputs:")
        lines += [f"  {format_change(c)}" for c in d.outputs]
        lines.append("")
    lines += _text_summary(d)
    return "\n".join(lines) + "\n"


def _text_refs(title: str, kind: ChangeKind, refs: tuple[ResourceRef, ...]) -> list[str]:
    """A group of added or removed resources, type column aligned for scanning."""
    if not refs:
        return []
    width = max(len(r.type) for r in refs)
    lines = [f"{title} ({len(refs)}):"]
    lines += [f"  {kind.value} {r.type.ljust(width)}  {r.name}{_protected_note(r)}" for r in refs]
    return lines + [""]


def _text_changed(changes: tuple[ResourceChange, ...]) -> list[str]:
    """Changed resources, each followed by its indented property changes."""
    if not changes:
        return []
    lines = [f"To change ({len(changes)}):"]
    for change in changes:
        lines.append(f"  ~ {change.type}  {change.name}")
        lines += [f"      {line}" for line in resource_change_lines(change)]
    return lines + [""]


def _text_summary(d: PlanDiff) -> list[str]:
    """Summary block: counts, output counts and the per-type breakdown."""
    lines = [f"Resources: {summary_line(d)}"]
    if d.outputs:
        lines.append(f"Outputs: {outputs_summary_line(d)}")
    rows = counts_by_type(d)
    if rows:
        width = max(len(t) for t, *_ in rows)
        lines.append("By type:")
        lines += [f"  {t.ljust(width)}  {_type_counts(a, c, r)}" for t, a, c, r in rows]
    return lines


def _type_counts(added: int, changed: int, removed: int) -> str:
    """Only the non-zero counts, with markers, e.g. ``+1 ~2``."""
    parts = [(ChangeKind.ADD, added), (ChangeKind.UPDATE, changed), (ChangeKind.REMOVE, removed)]
    return " ".join(f"{kind.value}{n}" for kind, n in parts if n)


# --------------------------------------------------------------------------------------
# Markdown rendering
# --------------------------------------------------------------------------------------


def render_markdown(d: PlanDiff) -> str:
    """GitHub PR comment: heading and summary up front, details in collapsible sections."""
    lines = [f"### Pulumi plan diff: {_md_code(_header(d))}", ""]
    if not d.has_changes:
        lines += ["No changes.", "", f"{d.unchanged} resources unchanged."]
        return "\n".join(lines) + "\n"
    lines.append(f"**Resources:** {summary_line(d)}")
    if d.outputs:
        lines[-1] += "  "  # Markdown hard line break keeps the two summary lines apart.
        lines.append(f"**Outputs:** {outputs_summary_line(d)}")
    lines.append("")
    lines += _md_type_table(d)
    lines += _md_refs(f"{ChangeKind.ADD.value}{len(d.added)} to add", d.added)
    lines += _md_changed(d.changed)
    lines += _md_refs(f"{ChangeKind.REMOVE.value}{len(d.removed)} to remove", d.removed)
    lines += _md_outputs(d)
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_type_table(d: PlanDiff) -> list[str]:
    """Per-type counts table, so reviewers see the shape of the change at a glance."""
    rows = counts_by_type(d)
    lines = ["| Type | + add | ~ change | - remove |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {_md_cell(_md_code(t))} | {a} | {c} | {r} |" for t, a, c, r in rows]
    return lines + [""]


def _md_refs(title: str, refs: tuple[ResourceRef, ...]) -> list[str]:
    """A collapsed table of added or removed resources with their short urns."""
    if not refs:
        return []
    lines = _md_details_open(title, expanded=False)
    lines += ["| Type | Name | URN |", "| --- | --- | --- |"]
    for r in refs:
        name = _md_code(r.name) + (" **(protected)**" if r.protect else "")
        lines.append(
            f"| {_md_cell(_md_code(r.type))} | {_md_cell(name)} "
            f"| {_md_cell(_md_code(short_urn(r.urn)))} |"
        )
    return lines + ["", "</details>", ""]


def _md_changed(changes: tuple[ResourceChange, ...]) -> list[str]:
    """Changed resources, expanded by default because they are what reviewers read."""
    if not changes:
        return []
    lines = _md_details_open(f"{ChangeKind.UPDATE.value}{len(changes)} to change", expanded=True)
    for change in changes:
        lines.append(f"**{_md_code(change.name)}** ({_md_code(change.type)})  ")
        lines.append(f"<sub>{_md_code(short_urn(change.urn))}</sub>")
        lines.append("")
        lines += _md_fence(resource_change_lines(change))
        lines.append("")
    return lines + ["</details>", ""]


def _md_outputs(d: PlanDiff) -> list[str]:
    """Stack output changes in their own collapsed diff block."""
    if not d.outputs:
        return []
    lines = _md_details_open(f"Outputs: {outputs_summary_line(d)}", expanded=False)
    lines += _md_fence([format_change(c) for c in d.outputs])
    return lines + ["", "</details>", ""]


def _md_details_open(title: str, expanded: bool) -> list[str]:
    """Open a ``<details>`` block; the blank line after the summary lets Markdown render."""
    tag = "<details open>" if expanded else "<details>"
    return [tag, f"<summary><b>{title}</b></summary>", ""]


def _md_fence(lines: list[str]) -> list[str]:
    """A ```diff block whose fence is longer than any backtick run in the content."""
    body = "\n".join(lines)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}diff", *lines, fence]


def _md_code(text: str) -> str:
    """Inline code span that survives backticks and newlines in resource names."""
    text = text.replace("\r", " ").replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    if longest or text.startswith(" ") or text.endswith(" "):
        return f"{ticks} {text} {ticks}"
    return f"{ticks}{text}{ticks}"


def _md_cell(text: str) -> str:
    """Escape ``|`` so a value cannot split a table cell (GitHub honours ``\\|`` in code too)."""
    return text.replace("|", "\\|")


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


class PlanFileError(Exception):
    """A plan file is missing or malformed; the message already names the file."""


def load_plan(path: str) -> dict:
    """Read and validate a plan file, raising ``PlanFileError`` with a one-line reason."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise PlanFileError(f"{path}: file not found") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{path}: not a plan file (not UTF-8 text)") from None
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"{path}: not a plan file (invalid JSON at line {exc.lineno}, column {exc.colno})"
        ) from None
    _validate_plan(path, plan)
    return plan


def _validate_plan(path: str, plan: Any) -> None:
    """Check just enough structure for the diff to be meaningful rather than crash later."""
    if not isinstance(plan, dict) or not isinstance(plan.get("resources"), list):
        raise PlanFileError(f'{path}: not a plan file (no "resources" list)')
    if "outputs" in plan and plan["outputs"] is not None and not isinstance(plan["outputs"], dict):
        raise PlanFileError(f'{path}: not a plan file ("outputs" is not an object)')
    seen: set[str] = set()
    for index, resource in enumerate(plan["resources"]):
        if not isinstance(resource, dict) or not isinstance(resource.get("urn"), str):
            raise PlanFileError(f'{path}: not a plan file (resources[{index}] has no "urn")')
        if resource["urn"] in seen:
            raise PlanFileError(f"{path}: not a plan file (duplicate urn {resource['urn']})")
        seen.add(resource["urn"])


def _parser() -> argparse.ArgumentParser:
    """Argument parser for ``pavedroad diff``."""
    parser = argparse.ArgumentParser(
        prog="python -m pavedroad diff",
        description="Show what changes between two exported Pulumi plan files.",
    )
    parser.add_argument("base", metavar="BASE", help="plan file of the base branch (JSON)")
    parser.add_argument("head", metavar="HEAD", help="plan file of the pull request (JSON)")
    parser.add_argument(
        "--markdown", action="store_true", help="render a GitHub pull-request comment"
    )
    return parser


def main(argv: list[str]) -> int:
    """Entry point: 0 when the diff was printed (changes or not), 2 on bad input."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage; return instead of exiting.
        return exc.code if isinstance(exc.code, int) else 2
    try:
        base, head = load_plan(args.base), load_plan(args.head)
    except PlanFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    d = diff_plans(base, head)
    _write_stdout(render_markdown(d) if args.markdown else render_text(d))
    return 0


def _write_stdout(text: str) -> None:
    """Print, falling back to UTF-8 bytes when the console encoding cannot show "→"."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()
