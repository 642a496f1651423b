"""Reading an input file that came from a pull request: every stack file, tenant file, Pulumi.yaml.

Tenant files (and stack files) are written by product teams and the plan runs on them in CI, so
this is the platform's attack surface. One loader serves the plan (pavedroad/engine.py) and the
program (components/tenants_config.py), so `pavedroad plan` and `pulumi up` refuse the same files:

- only a regular file whose real path is inside the project is opened: a symbolic link out of the
  project (`tenants/evil.yaml -> ~/.aws/credentials`) is refused *before anything is read*, so
  no byte of its target can reach an error message; FIFOs, devices and directories are refused
  from `lstat` without being opened (a FIFO would block the plan);
- at most `MAX_BYTES`, UTF-8 only (a binary or UTF-16 file is an error, not mojibake);
- YAML with no surprises: keys are strings and appear once per mapping (PyYAML keeps the last of
  a duplicate silently, `pulumi up` refuses it), only the core tags (no `!!binary`,
  `!!timestamp`, `!!set`, no local tags), no merge keys, at most `MAX_DEPTH` levels of nesting
  and `MAX_NODES` values once aliases are expanded (a "billion laughs" document is refused
  while it is parsed, before anything is built from it);
- scalars resolve as the Pulumi CLI's YAML library (go-yaml v3) resolves them into untyped
  values: `yes`/`no`/`on`/`off` and dates stay strings, so the plan reads the value `pulumi up`
  would hand the program;
- every problem is reported with line and column, sanitised (control characters escaped, long
  text cut): never a snippet of the file, never a traceback.

Aliases are allowed (YAML writers emit them for repeated values, e.g. PyYAML's `safe_dump`)
but counted at their expanded size, the way go-yaml v3 bounds them.

A leaf module: it imports nothing from the config package or the layers.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml
from yaml.constructor import ConstructorError
from yaml.error import MarkedYAMLError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

# A tenant file is a few KiB (the shipped ones are under 3 KiB; 100 apps make about 40 KiB):
# 1 MiB leaves room for any honest file and bounds what a hostile one costs to read and parse.
MAX_BYTES = 1024 * 1024
# Values in a document once aliases are expanded: a 500-tenant stack file holds a few thousand.
MAX_NODES = 100_000
# The tenant schema nests about six levels; the YAML composer recurses once per level.
MAX_DEPTH = 64
# Longest text of one problem as printed: an error never carries a whole document.
MAX_TEXT = 200

_STR = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def sanitize(text: str, limit: int = MAX_TEXT) -> str:
    """Text from an input file made safe to print on one line: control and direction-changing
    characters escaped (no forged log lines, no terminal escapes), at most `limit` characters."""
    escaped = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


@dataclass(frozen=True)
class Problem:
    """One problem at one place in one file; `line` is 1-based, 0 when the whole file is meant."""

    line: int
    column: int
    message: str
    path: str = ""  # the key path in the document (`apps[0].env`), when there is one

    @property
    def where(self) -> str:
        place = f"line {self.line}, column {self.column}" if self.line else "(file)"
        return f"{sanitize(self.path)} ({place})" if self.path else place


class InputFileError(Exception):
    """An input file that cannot be read as the platform's YAML; `problems` lists them all."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(
            "\n".join(f"{file}: {p.where}: {sanitize(p.message, 400)}" for p in problems)
        )


class MissingFileError(InputFileError):
    """No file (and no symbolic link) at that path: the caller decides what that means."""


# --------------------------------------------------------------------------------------------------
# Opening: regular files inside the project only


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link loop"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_input(root: Path, relative: str, limit: int = MAX_BYTES) -> bytes:
    """The bytes of `root/relative`, refusing anything but a regular file inside `root`.

    The real path is resolved (every symbolic link, in the name and in its folders) and must stay
    inside the project's real path; only then is it opened, with O_NOFOLLOW and O_NONBLOCK, and
    checked again on the open descriptor (the same file `lstat` saw, still regular, small enough).
    """
    path = root / relative
    if not os.path.lexists(path):
        raise MissingFileError(relative, [Problem(0, 0, "no such file")])
    real_root = root.resolve()
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError):  # a symbolic link loop
        raise InputFileError(relative, [Problem(0, 0, "is a symbolic link loop")]) from None
    if not real.is_relative_to(real_root):
        # The target is named neither here nor anywhere: it is outside what the plan may read.
        raise InputFileError(
            relative, [Problem(0, 0, "is a symbolic link to a file outside the project: refused")]
        )
    try:
        before = os.lstat(real)
    except OSError:
        raise InputFileError(
            relative, [Problem(0, 0, "is a symbolic link to nothing (dangling)")]
        ) from None
    if not stat.S_ISREG(before.st_mode):
        kind = _kind(before.st_mode)
        raise InputFileError(relative, [Problem(0, 0, f"is {kind}, not a regular file")])
    if before.st_size > limit:
        raise InputFileError(relative, [_too_big(before.st_size, limit)])
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(real, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise InputFileError(relative, [Problem(0, 0, f"cannot open ({error.strerror})")]) from None
    try:
        opened = os.fstat(descriptor)
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(
            opened.st_mode
        ):
            raise InputFileError(relative, [Problem(0, 0, "changed while it was being opened")])
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise InputFileError(relative, [_too_big(len(data), limit)])
    return data


def _too_big(size: int, limit: int) -> Problem:
    return Problem(0, 0, f"is larger than {limit // 1024} KiB ({size} bytes or more): refused")


def decode(data: bytes, file: str) -> str:
    """Strict UTF-8 (a leading byte-order mark is dropped, as the Pulumi CLI drops it)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start]
        raise InputFileError(
            file, [Problem(line, column, f"is not UTF-8 text (byte 0x{byte:02x}); binary file?")]
        ) from None
    return text.removeprefix("\ufeff")


# --------------------------------------------------------------------------------------------------
# Parsing: a SafeLoader with bounds, core-schema scalars, and no silent surprises


class _Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader (no Python objects), bounded while composing: depth, and values counted
    with aliases expanded. The implicit resolvers are YAML 1.2's core schema, as go-yaml v3
    resolves scalars into untyped values: YAML 1.1's `yes`/`on`, dates, `=` and `1:20` are
    strings."""

    yaml_implicit_resolvers: dict[Optional[str], list[tuple[str, re.Pattern[str]]]] = {
        first: [
            (tag, regexp)
            for tag, regexp in resolvers
            if tag
            not in (
                "tag:yaml.org,2002:bool",
                "tag:yaml.org,2002:timestamp",
                "tag:yaml.org,2002:value",
                "tag:yaml.org,2002:int",
            )
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.expanded = 0  # values composed so far, each alias counted at its anchor's size
        self.depth = 0
        self.sizes: dict[str, int] = {}  # expanded size of each finished anchored node

    def compose_node(self, parent: Optional[Node], index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            if event.anchor in self.anchors and event.anchor not in self.sizes:
                raise _Fatal(event.start_mark, f"alias *{event.anchor} refers to itself")
            self._count(self.sizes.get(event.anchor, 1), event.start_mark)
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Fatal(event.start_mark, f"nested deeper than {MAX_DEPTH} levels: refused")
        before = self.expanded
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        self.depth -= 1
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.sizes[anchor] = self.expanded - before
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, TypeError, OverflowError) as error:
            # A value its tag cannot build (`!!bool maybe`), or an integer of more digits than
            # Python converts: the constructors raise plain exceptions for these.
            message = f"holds a value that cannot be read ({sanitize(str(error), 120)})"
            raise _Fatal(node.start_mark, message) from None

    def _count(self, size: int, mark: Any) -> None:
        self.expanded += size
        if self.expanded > MAX_NODES:
            raise _Fatal(
                mark,
                f"more than {MAX_NODES} values (aliases counted at their expanded size): "
                "refused",
            )


for _first in "-+0123456789":
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:int",
        re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        [_first],
    )
for _first in "tTfF":
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [_first]
    )


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    value = loader.construct_scalar(node)
    sign = -1 if value.startswith("-") else 1
    digits = value.lstrip("+-")
    for prefix, base in (("0o", 8), ("0x", 16)):
        if digits.startswith(prefix):
            return sign * int(digits[2:], base)
    return sign * int(digits)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class _Fatal(Exception):
    def __init__(self, mark: Any, message: str) -> None:
        self.mark, self.message = mark, message


def _check(node: Node, path: str, problems: list[Problem], seen: set[int]) -> None:
    """Refuse what the YAML allowed but the platform does not: non-string or repeated keys,
    merge keys, tags beyond the core schema. Each shared (aliased) node is checked once."""
    if id(node) in seen:
        return
    seen.add(id(node))
    mark = node.start_mark
    if node.tag not in _ALLOWED_TAGS:
        problems.append(
            Problem(
                mark.line + 1,
                mark.column + 1,
                f"the YAML tag {sanitize(node.tag, 60)!r} is not allowed (plain strings, "
                "numbers, booleans, lists and mappings only)",
                path,
            )
        )
        return
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _check(item, f"{path}[{index}]", problems, seen)
    elif isinstance(node, MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            kmark = key.start_mark
            if key.tag == "tag:yaml.org,2002:merge":
                problems.append(
                    Problem(
                        kmark.line + 1,
                        kmark.column + 1,
                        "YAML merge keys ('<<') are not supported: write the fields out",
                        path,
                    )
                )
                continue
            if not isinstance(key, ScalarNode) or key.tag != _STR:
                shown = (
                    f"key {sanitize(key.value, 60)!r} is not a string (quote it if it is text)"
                    if isinstance(key, ScalarNode)
                    else f"a {key.id} is used as a key; keys are strings"
                )
                problems.append(Problem(kmark.line + 1, kmark.column + 1, shown, path))
                continue
            name = key.value
            child = f"{path}.{name}" if path else name
            if name in first_line:
                problems.append(
                    Problem(
                        kmark.line + 1,
                        kmark.column + 1,
                        f"duplicate key {sanitize(name, 60)!r} (first at line "
                        f"{first_line[name]}); `pulumi up` refuses duplicate keys",
                        child,
                    )
                )
                continue
            first_line[name] = kmark.line + 1
            _check(value, child, problems, seen)


def _problem_of(error: Exception, text: str) -> Problem:
    if isinstance(error, _Fatal):
        mark = error.mark
        return Problem(mark.line + 1, mark.column + 1, error.message)
    if isinstance(error, MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        # The problem and context only: PyYAML's own rendering quotes the offending lines.
        message = "; ".join(sanitize(part, 120) for part in (error.context, error.problem) if part)
        if mark is None:
            return Problem(0, 0, f"is not valid YAML ({message})")
        return Problem(mark.line + 1, mark.column + 1, f"is not valid YAML ({message})")
    if isinstance(error, ReaderError):
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        character = error.character
        code = character if isinstance(character, int) else ord(character)
        return Problem(line, column, f"holds the control character U+{code:04X}")
    return Problem(0, 0, f"is not valid YAML ({sanitize(str(error), 120)})")


def parse(text: str, file: str) -> Any:
    """One YAML document from `text`, built only after every check passed."""
    loader: Optional[_Loader] = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        problems: list[Problem] = []
        _check(node, "", problems, set())
        if problems:
            raise InputFileError(file, problems)
        return loader.construct_document(node)
    except (yaml.YAMLError, _Fatal, RecursionError) as error:
        raise InputFileError(file, [_problem_of(error, text)]) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_file(root: Path, relative: str, limit: int = MAX_BYTES) -> Any:
    """Read, decode and parse `root/relative` (named `relative` in every message)."""
    return parse(decode(read_input(root, relative, limit), relative), relative)
