"""The `flags:` of a tenant file: feature flags a team switches without a deploy.

With `paved-road:delivery.flags: openfeature` each flag becomes an entry of the tenant's
`FeatureFlag` (the OpenFeature operator's flagd flag definition), read by the flagd sidecar of
the team's apps that set `flags: true`. A tenant file is a team's own and untrusted: every part is
checked here (names, variants of one type, a default that is one of them, JSON Logic targeting
whose every rule is a known operator and whose results name variants), so a broken flag is a
configuration error with file and field, never a rejected object or a flagd that serves stale
flags in the cluster.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator, Optional

from pydantic import Field, ValidationInfo, field_validator

from components.config_base import Model, check_pattern

# Flag keys and variant names: what an SDK call names (`getBooleanValue("new-checkout", false)`).
FLAG_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,62}\Z")
VARIANT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}\Z")
MAX_FLAGS = 100
MAX_VARIANTS = 20
# Targeting is evaluated by flagd on every call: bounded in depth and size.
MAX_TARGETING_DEPTH = 12
MAX_TARGETING_NODES = 500
# The operations flagd evaluates: JSON Logic's (json-logic.com/operations.html) and flagd's
# custom ones (flagd docs, "Custom Operations": fractional, starts_with, ends_with, sem_ver).
OPERATORS = frozenset(
    {
        "var", "missing", "missing_some",
        "if", "==", "===", "!=", "!==", "!", "!!", "or", "and",
        ">", ">=", "<", "<=", "max", "min", "+", "-", "*", "/", "%",
        "map", "reduce", "filter", "all", "none", "some", "merge", "in", "cat", "substr",
        "fractional", "starts_with", "ends_with", "sem_ver",
    }
)  # fmt: skip


def variant_type(value: Any) -> Optional[str]:
    """The flag type a variant value gives (flagd's: boolean, string, number, object)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return None


def _rule_issues(node: Any, depth: int, counter: list[int]) -> Iterator[str]:
    """What is wrong with a JSON Logic rule: every mapping is one operation (JSON Logic reads
    any object as a rule), of a known operator, within the size bounds."""
    counter[0] += 1
    if counter[0] > MAX_TARGETING_NODES:
        yield f"has more than {MAX_TARGETING_NODES} parts"
        return
    if depth > MAX_TARGETING_DEPTH:
        yield f"is nested deeper than {MAX_TARGETING_DEPTH} levels"
        return
    if isinstance(node, list):
        for item in node:
            yield from _rule_issues(item, depth + 1, counter)
    elif isinstance(node, dict):
        if len(node) != 1:
            yield (
                "every rule is a mapping of exactly one operator to its arguments, got keys "
                f"{sorted(map(str, node))}"
            )
            return
        ((operator, arguments),) = node.items()
        if operator not in OPERATORS:
            yield f"{str(operator)[:40]!r} is not a JSON Logic or flagd operator"
            return
        yield from _rule_issues(arguments, depth + 1, counter)
    elif node is not None and variant_type(node) is None:
        yield f"{type(node).__name__} values are not JSON"
    elif not _finite(node):
        yield ".nan and .inf are not JSON numbers"


def _results(node: Any) -> Iterator[str]:
    """The variant names a rule can return: the string branches of `if` and the buckets of
    `fractional`, followed through nested `if`s."""
    if not isinstance(node, dict) or len(node) != 1:
        return
    ((operator, arguments),) = node.items()
    if not isinstance(arguments, list):
        return
    if operator == "if":
        branches = arguments[1::2] + (arguments[-1:] if len(arguments) % 2 == 1 else [])
        for branch in branches:
            if isinstance(branch, str):
                yield branch
            else:
                yield from _results(branch)
    elif operator == "fractional":
        for bucket in arguments:
            if isinstance(bucket, list) and bucket and isinstance(bucket[0], str):
                yield bucket[0]


class FlagConfig(Model):
    """One feature flag: its variants (values of one type), the one served by default, and
    optionally a JSON Logic rule choosing another variant per evaluation context."""

    name: str = Field(description="The flag's key, as the app's SDK asks for it.")
    variants: dict[str, Any] = Field(
        min_length=1,
        max_length=MAX_VARIANTS,
        description="Variant name → value; every value of one type (boolean, string, number "
        "or object).",
    )
    default_variant: str = Field(description="The variant served when no targeting matches.")
    state: str = Field(
        default="ENABLED",
        description="ENABLED, or DISABLED to make SDKs fall back to the default in code.",
    )
    targeting: Optional[dict[str, Any]] = Field(
        default=None,
        description="A JSON Logic rule (flagd's targeting) returning a variant name, e.g. "
        "{if: [{in: [{var: email}, ['@example.com']]}, 'on', 'off']}.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_pattern(
            value, FLAG_NAME, "a flag key: a letter, then letters, digits, '_', '.' or '-'"
        )

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value not in ("ENABLED", "DISABLED"):
            raise ValueError(f"{value[:40]!r} is not ENABLED or DISABLED")
        return value

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: dict[str, Any]) -> dict[str, Any]:
        types: dict[str, list[str]] = {}
        for variant, variant_value in value.items():
            check_pattern(variant, VARIANT_NAME, "a variant name: letters, digits, '_', '.' or '-'")
            kind = variant_type(variant_value)
            if kind is None:
                raise ValueError(
                    f"variant {variant!r}: a value is a boolean, string, number or mapping, "
                    f"not {type(variant_value).__name__}"
                )
            if kind == "object" and _depth(variant_value) > MAX_TARGETING_DEPTH:
                raise ValueError(
                    f"variant {variant!r} is nested deeper than {MAX_TARGETING_DEPTH} levels"
                )
            if not _finite(variant_value):
                raise ValueError(f"variant {variant!r}: .nan and .inf are not JSON numbers")
            types.setdefault(kind, []).append(variant)
        if len(types) > 1:
            found = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in types.items())
            raise ValueError(f"all variants of a flag have one type, found {found}")
        return value

    @field_validator("default_variant")
    @classmethod
    def _default(cls, value: str, info: ValidationInfo) -> str:
        variants = info.data.get("variants")
        if variants is not None and value not in variants:
            raise ValueError(
                f"{value[:40]!r} is not one of the variants ({', '.join(sorted(variants))})"
            )
        return value

    @field_validator("targeting")
    @classmethod
    def _targeting(
        cls, value: Optional[dict[str, Any]], info: ValidationInfo
    ) -> Optional[dict[str, Any]]:
        if value is None or value == {}:
            return value
        issues = list(_rule_issues(value, 0, [0]))
        if issues:
            raise ValueError(f"is not a JSON Logic rule: {issues[0]}")
        variants = info.data.get("variants")
        for result in _results(value):
            if variants is not None and result not in variants:
                raise ValueError(
                    f"returns {result[:40]!r}, which is not one of the variants "
                    f"({', '.join(sorted(variants))})"
                )
        return value

    def flagd(self) -> dict[str, Any]:
        """The flag as flagd's flag definition (flagd-schema `flag`)."""
        definition: dict[str, Any] = {
            "state": self.state,
            "variants": dict(sorted(self.variants.items())),
            "defaultVariant": self.default_variant,
        }
        if self.targeting:
            definition["targeting"] = self.targeting
        return definition


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_TARGETING_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()], default=level)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level)
    return level


def _finite(value: Any) -> bool:
    """Whether every number in a value is one JSON can write (YAML also has .nan and .inf)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def check_flags(value: list[FlagConfig]) -> list[FlagConfig]:
    """Flag keys are unique within a tenant (they are the keys of one flagd flag set)."""
    seen: set[str] = set()
    for flag in value:
        if flag.name in seen:
            raise ValueError(f"flag {flag.name!r} is declared twice")
        seen.add(flag.name)
    return value
