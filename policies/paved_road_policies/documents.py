"""IAM policy documents as rules need them: parsed, statements normalised, wildcards matched.

Providers take a document as a JSON string (pulumi-aws normalises objects to strings in Check);
both forms are read. IAM wildcards are `*` and `?` and nothing else, so they are matched here with
a translation of their own rather than `fnmatch`, whose `[...]` classes IAM does not have.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterator, Mapping, Optional

from .core import as_list, is_unknown


def parse(document: Any) -> Optional[Mapping[str, Any]]:
    """The document as a mapping; None when it is unknown (a preview) or not a document."""
    if is_unknown(document) or document is None:
        return None
    if isinstance(document, Mapping):
        return document
    if isinstance(document, str):
        try:
            parsed = json.loads(document)
        except ValueError:
            return None
        return parsed if isinstance(parsed, Mapping) else None
    return None


def statements(document: Any) -> Iterator[Mapping[str, Any]]:
    parsed = parse(document)
    if parsed is None:
        return
    for statement in as_list(parsed.get("Statement")):
        if isinstance(statement, Mapping):
            yield statement


def allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def values(statement: Mapping[str, Any], key: str) -> list[str]:
    return [v for v in as_list(statement.get(key)) if isinstance(v, str)]


def principals(statement: Mapping[str, Any], kind: str) -> list[str]:
    """Principals of one kind (`AWS`, `Federated`, `Service`); `"Principal": "*"` is everyone."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [v for v in as_list(principal.get(kind)) if isinstance(v, str)]
    return []


@lru_cache(maxsize=4096)
def _pattern(glob: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE)


def matches(glob: str, value: str, case_sensitive: bool = True) -> bool:
    """Whether the IAM wildcard `glob` matches `value` (actions compare case-insensitively)."""
    return bool(_pattern(glob, case_sensitive).match(value))


def grants_action(statement: Mapping[str, Any], action: str) -> bool:
    """Whether an Allow statement covers `action`, through `Action` or a `NotAction` that
    leaves it out."""
    if not allows(statement):
        return False
    if "NotAction" in statement:
        return not any(matches(a, action, False) for a in values(statement, "NotAction"))
    return any(matches(a, action, False) for a in values(statement, "Action"))


def resource_globs(statement: Mapping[str, Any]) -> list[str]:
    """The resources a statement covers; a `NotResource` statement covers (nearly) everything."""
    if "NotResource" in statement:
        return ["*"]
    return values(statement, "Resource")
