"""The pack's configuration, read exactly as `pulumi preview --policy-pack-config FILE` reads it.

One JSON file per environment (`policies/config/<stack>.json`) serves both engines: the Pulumi CLI
takes it with `--policy-pack-config`, and `pavedroad plan`/`check` load it by the stack's name.
The format is Pulumi's: each key is a rule name (or `all`), each value an enforcement level or an
object with an optional `enforcementLevel` and the rule's options:

    {"all": "mandatory", "nodes-imds-hop-limit-one": "disabled",
     "k8s-rollout-analysis-in-production": {"production": true}}

Levels resolve the way the Pulumi engine reconciles them: the rule's default, then `all`, then the
rule's own entry. Offline the file is checked more strictly than the CLI does — an unknown rule
name or an option of the wrong type is an error naming the file and key, never a silent no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from .core import DISABLED, LEVELS, MANDATORY, REMEDIATE, Rule

ALL = "all"
_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}


class PolicyConfigError(ValueError):
    """A pack config that cannot be applied; the message names the file and the key."""


@dataclass(frozen=True)
class PolicyConfig:
    level: Optional[str] = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PackConfig:
    entries: Mapping[str, PolicyConfig] = field(default_factory=dict)
    source: Optional[str] = None

    @classmethod
    def load(cls, path: Path, rules: Iterable[Rule]) -> "PackConfig":
        try:
            text = path.read_text()
        except OSError as error:
            raise PolicyConfigError(f"{path}: cannot read ({error.strerror})") from None
        if not text.strip():
            return cls(source=str(path))
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise PolicyConfigError(f"{path}: not valid JSON ({error})") from None
        return cls.parse(document, str(path), rules)

    @classmethod
    def parse(cls, document: Any, source: str, rules: Iterable[Rule]) -> "PackConfig":
        known = {rule.name: rule for rule in rules}
        if not isinstance(document, dict):
            raise PolicyConfigError(f"{source}: expected an object of rule names")
        errors: list[str] = []
        entries: dict[str, PolicyConfig] = {}
        for key, value in document.items():
            if key != ALL and key not in known:
                errors.append(f"{source}: {key}: no such rule (rules: {', '.join(sorted(known))})")
                continue
            level, properties = None, {}
            if isinstance(value, str):
                level = value
            elif isinstance(value, dict):
                properties = {k: v for k, v in value.items() if k != "enforcementLevel"}
                level = value.get("enforcementLevel")
            else:
                errors.append(f"{source}: {key}: expected a level or an object, got {value!r}")
                continue
            if level is not None and level not in LEVELS:
                errors.append(
                    f"{source}: {key}: {level!r} is not an enforcement level "
                    f"(one of {', '.join(LEVELS)})"
                )
            if key == ALL and properties:
                errors.append(f"{source}: all: only an enforcement level applies to every rule")
            if key in known:
                errors.extend(_option_errors(source, known[key], properties))
            entries[key] = PolicyConfig(level=level, properties=properties)
        if errors:
            raise PolicyConfigError("\n".join(errors))
        return cls(entries=entries, source=source)

    def level(self, rule: Rule) -> str:
        level = rule.level
        for key in (ALL, rule.name):
            entry = self.entries.get(key)
            if entry is not None and entry.level is not None:
                level = entry.level
        return level

    def reported_level(self, rule: Rule) -> str:
        """The level a violation is reported at: rules here validate only, and CrossGuard reports a
        validation under `remediate` as mandatory."""
        level = self.level(rule)
        return MANDATORY if level == REMEDIATE else level

    def enabled(self, rule: Rule) -> bool:
        return self.level(rule) != DISABLED

    def options(self, rule: Rule) -> dict[str, Any]:
        entry = self.entries.get(rule.name)
        return {**rule.default_options(), **(dict(entry.properties) if entry else {})}


def _option_errors(source: str, rule: Rule, properties: Mapping[str, Any]) -> list[str]:
    errors = []
    for name, value in properties.items():
        schema = rule.options.get(name)
        if schema is None:
            options = ", ".join(sorted(rule.options)) or "none"
            errors.append(f"{source}: {rule.name}.{name}: no such option (options: {options})")
            continue
        expected = _JSON_TYPES.get(schema.get("type", ""), (object,))
        # JSON's true is no integer, whatever Python's bool says.
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            errors.append(
                f"{source}: {rule.name}.{name}: {value!r} is not of type {schema.get('type')}"
            )
    return errors
