"""Fragments of a tenant file: one app or one resource per file, beside the tenant file.

A pull request that adds an app (a marketplace order) adds a file instead of rewriting the team's
YAML: `tenants/<team>/apps/<app>.yaml` holds one item of the tenant file's `apps:` list,
`tenants/<team>/resources/<name>.yaml` one item of `resources:`. The tenant file stays the tenant
(required, same format); its fragments are appended after its own items in file-name order, and
the whole is validated as one document, so a fragment obeys exactly the tenant file's rules.

The folder is untrusted input like the file: it is walked with `lstat` only (a symbolic link, a
file not ending in `.yaml` or an unknown entry is refused, never followed), at most
`MAX_FRAGMENTS` files per kind, and each file is read through components/safe_yaml.py. Every
problem names the fragment's own path and its field relative to the fragment
(`tenants/payments/apps/checkout-api.yaml: port`); `locate` maps a field of the combined document
(`apps[3].port`) back to it.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from components import safe_yaml
from components.config_base import ConfigIssue

# The sections a fragment may hold one item of, and what one item is called in messages.
KINDS = {"apps": "app", "resources": "resource"}
# A team with more than this many apps (or resources) in one folder has a layout problem, and a
# bound keeps a hostile folder of a million files from costing the plan minutes.
MAX_FRAGMENTS = 200
# One item is a few hundred bytes; 64 KiB leaves room for any honest one (and bounds the whole
# folder to MAX_FRAGMENTS × 64 KiB per kind).
MAX_FRAGMENT_BYTES = 64 * 1024
SUFFIX = ".yaml"

# Where each item of the combined document came from: (kind, index) → fragment path.
Origins = Mapping[tuple[str, int], str]


@dataclass(frozen=True)
class Fragment:
    kind: str  # "apps" or "resources"
    file: str  # the path relative to the project, as every message names it
    document: Any


def read_fragments(
    root: Path, tenants_dir: str, name: str
) -> tuple[list[Fragment], list[ConfigIssue]]:
    """The fragments under `<tenants_dir>/<name>/`, kind by kind in file-name order, and every
    problem with the folder or a file; ([], []) when the tenant has no folder."""
    directory = f"{tenants_dir}/{name}"
    path = root / directory
    issues: list[ConfigIssue] = []
    kind_of = entry_kind(path)
    if kind_of is None:
        return [], []
    if kind_of != "directory":
        return [], [ConfigIssue(directory, "(directory)", _not_a_directory(kind_of))]
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        return [], [ConfigIssue(directory, "(directory)", "is outside the project: refused")]
    entries, listing_issue = list_folder(path, directory)
    if listing_issue:
        return [], [listing_issue]
    fragments: list[Fragment] = []
    for entry in entries:
        relative = f"{directory}/{entry}"
        if entry not in KINDS:
            is_folder = entry_kind(path / entry) == "directory"
            issues.append(
                ConfigIssue(
                    relative,
                    "(directory)" if is_folder else "(file)",
                    f"is not part of a tenant's layout: {directory}/ holds only apps/ (one file "
                    "per app) and resources/ (one file per resource)",
                )
            )
            continue
        found, kind_issues = _read_kind(root, relative, entry, name, tenants_dir)
        fragments.extend(found)
        issues.extend(kind_issues)
    return fragments, issues


def _read_kind(
    root: Path, directory: str, kind: str, tenant: str, tenants_dir: str
) -> tuple[list[Fragment], list[ConfigIssue]]:
    item = KINDS[kind]
    kind_of = entry_kind(root / directory)
    if kind_of != "directory":
        return [], [ConfigIssue(directory, "(directory)", _not_a_directory(kind_of))]
    names, listing_issue = list_folder(root / directory, directory)
    if listing_issue:
        return [], [listing_issue]
    fragments, issues = [], []
    for entry in names:
        relative = f"{directory}/{entry}"
        kind_of_entry = entry_kind(root / relative)
        if kind_of_entry != "file":
            issues.append(ConfigIssue(relative, "(file)", _not_a_file(kind_of_entry, item)))
            continue
        if not entry.endswith(SUFFIX) or entry == SUFFIX:
            issues.append(
                ConfigIssue(
                    relative,
                    "(file)",
                    f"does not end in {SUFFIX}: {directory}/ holds one <{item}-name>{SUFFIX} "
                    f"file per {item}",
                )
            )
            continue
        try:
            document = safe_yaml.load_file(root, relative, MAX_FRAGMENT_BYTES)
        except safe_yaml.InputFileError as error:
            issues.extend(ConfigIssue(relative, p.where, p.message) for p in error.problems)
            continue
        if not isinstance(document, dict):
            issues.append(
                ConfigIssue(
                    relative,
                    "(file)",
                    f"expected a mapping of {item} fields (one item of `{kind}:` in "
                    f"{tenants_dir}/{tenant}.yaml)",
                )
            )
            continue
        stem = entry[: -len(SUFFIX)]
        if isinstance(document.get("name"), str) and document["name"] != stem:
            issues.append(
                ConfigIssue(
                    relative,
                    "name",
                    f"{document['name']!r} does not match the file name {stem!r} (a fragment "
                    f"is named after the {item} it holds)",
                )
            )
        fragments.append(Fragment(kind, relative, document))
    return fragments, issues


def entry_kind(path: Path) -> Optional[str]:
    """What is at `path`, without following a symbolic link: None when nothing is."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return "unreadable"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    return "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device or socket"


def _not_a_directory(kind: Optional[str]) -> str:
    if kind == "a symbolic link":
        return "is a symbolic link: fragments live in real folders inside the project, refused"
    return f"is {'a file' if kind == 'file' else kind}, not a folder of fragments"


def _not_a_file(kind: Optional[str], item: str) -> str:
    if kind == "a symbolic link":
        return "is a symbolic link: a fragment is a regular file, refused"
    if kind == "directory":
        return f"is a folder: {item} fragments are files, one level deep"
    return f"is {kind or 'gone'}, not a regular file: refused"


def list_folder(path: Path, relative: str) -> tuple[list[str], Optional[ConfigIssue]]:
    """The folder's entry names, sorted; stops reading past MAX_FRAGMENTS entries."""
    names: list[str] = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                names.append(entry.name)
                if len(names) > MAX_FRAGMENTS:
                    return [], ConfigIssue(
                        relative,
                        "(directory)",
                        f"holds more than {MAX_FRAGMENTS} entries: refused",
                    )
    except OSError as error:
        return [], ConfigIssue(relative, "(directory)", f"cannot be read ({error.strerror})")
    return sorted(names), None


def combine(
    document: dict[str, Any], fragments: list[Fragment]
) -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
    """The tenant file with each kind's fragments appended after its own items, and where each
    appended item came from. A section that is not a list is left as written (its own error)."""
    combined = dict(document)
    origins: dict[tuple[str, int], str] = {}
    for kind in KINDS:
        mine = [f for f in fragments if f.kind == kind]
        own = combined.get(kind, [])
        if not mine or not isinstance(own, list):
            continue
        combined[kind] = [*own, *(f.document for f in mine)]
        for offset, fragment in enumerate(mine):
            origins[(kind, len(own) + offset)] = fragment.file
    return combined, origins


_ITEM = re.compile(r"(?P<kind>[a-z]+)\[(?P<index>[0-9]+)\](?:\.(?P<rest>.*))?\Z", re.DOTALL)


def locate(origins: Origins, field: str) -> Optional[tuple[str, str]]:
    """(fragment file, field within it) when `field` of the combined document (`apps[3].port`)
    lies in an item that came from a fragment; the whole item is the fragment's `(file)`."""
    match = _ITEM.match(field)
    if not match:
        return None
    fragment = origins.get((match["kind"], int(match["index"])))
    if fragment is None:
        return None
    return fragment, match["rest"] or "(file)"


def describe(origins: Origins, tenant_file: str, kind: str, index: int) -> str:
    """An item as a message names it: its fragment, or its place in the tenant file."""
    return origins.get((kind, index)) or f"{kind}[{index}] of {tenant_file}"


def attribute(issues: list[ConfigIssue], tenant_file: str, origins: Origins) -> list[ConfigIssue]:
    """The tenant file's issues with each one inside a fragment's item moved to the fragment."""
    counts = {kind: sum(1 for k, _ in origins if k == kind) for kind in KINDS}
    moved = []
    for issue in issues:
        located = locate(origins, issue.field) if issue.file == tenant_file else None
        if located:
            moved.append(ConfigIssue(*located, issue.message))
        elif issue.file == tenant_file and counts.get(issue.field):
            # A bound on the whole list: the fragments count towards it.
            folder = os.path.dirname(next(f for (k, _), f in origins.items() if k == issue.field))
            moved.append(
                ConfigIssue(
                    issue.file,
                    issue.field,
                    f"counting the {counts[issue.field]} files in {folder}/: {issue.message}",
                )
            )
        else:
            moved.append(issue)
    return moved
