"""Form fields of Backstage software templates, derived from the pydantic models of tenant files.

A form field says what its model field says: the wire name (the alias), the JSON type, enum
(a Literal), default, bounds (`Field(ge=…, le=…, min_length=…)`), whether it is required, and the
description written for the team that orders. What a field's validator checks beyond that is
carried from the validator's own constants (`VALIDATED`): patterns written for Python's
`fullmatch` become ECMA-262 patterns, as ajv runs them in the portal's form, and the cron check is
rebuilt from the same tables it reads. pavedroad/templates.py composes the fields into forms.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Iterable, Literal, Optional

import annotated_types
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from components.apps_config import (
    APP_NAME,
    CRON_FIELDS,
    CRON_MACROS,
    IMAGE,
    IMAGE_LATEST,
    IMAGE_PINNED,
    KAFKA_NAME,
    MAX_PORT,
    MIN_PORT,
    AppConfig,
    KafkaConfig,
)
from components.config_base import (
    DNS_LABEL,
    EMAIL,
    GITHUB_TEAM,
    IAM_PRINCIPAL_ARN,
    LABEL_VALUE,
    QUANTITY,
)
from components.resources_config import (
    BUCKET,
    RESOURCE_NAME,
    SCHEDULE,
    EventSourceConfig,
    ResourceConfig,
)
from components.tenants_config import (
    TENANT_NAME_MAX,
    BudgetConfig,
    QuotaConfig,
    TenantConfig,
    TenantGithubConfig,
)

# --------------------------------------------------------------------------------------------------
# Python regular expressions as JSON Schema patterns (ECMA-262, as ajv and rjsf run them)


def ecma(pattern: re.Pattern[str], fullmatch: bool = True) -> str:
    """The same expression for a JSON Schema `pattern`. The models' patterns are written for
    `fullmatch` and end in `\\Z` (Python's `$` lets a trailing newline through; ECMA's `$`
    without the multiline flag does not, and ECMA has no `\\Z`); named groups become plain
    groups, which both engines read alike. `fullmatch=False`: the pattern is searched."""
    source = pattern.pattern
    if not source.endswith(r"\Z"):
        raise ValueError(f"{source!r} does not end in \\Z")
    body = source[:-2].removeprefix("^")
    body = re.sub(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>", "(?:", body)
    for python_only in ("(?P=", r"\A", "(?i", "(?s", "(?x", "(?m"):
        if python_only in body:
            raise ValueError(f"{source!r} uses {python_only}, which ECMA regexes do not have")
    return f"^(?:{body})$" if fullmatch else f"(?:{body})$"


def _number_alternatives(low: int, high: int) -> str:
    """Every one- or two-digit spelling of low..high (`_CRON_NUMBER` allows '05'), compactly."""
    spellings = sorted(
        {f"{n}" for n in range(low, high + 1)} | {f"{n:02d}" for n in range(low, min(high, 9) + 1)}
    )
    singles = sorted(s for s in spellings if len(s) == 1)
    parts = []
    if singles:
        parts.append(f"[{singles[0]}-{singles[-1]}]" if len(singles) > 1 else singles[0])
    tens: dict[str, list[str]] = {}
    for spelling in (s for s in spellings if len(s) == 2):
        tens.setdefault(spelling[0], []).append(spelling[1])
    for first, seconds in sorted(tens.items()):
        parts.append(f"{first}[{seconds[0]}-{seconds[-1]}]")
    return "|".join(parts)


def cron_pattern() -> str:
    """`check_schedule` as a pattern, built from the same tables (CRON_FIELDS, CRON_MACROS):
    five fields in their ranges, names in any case, lists, ranges and steps. A range that runs
    backwards (`5-1`) is the one thing a pattern cannot see; the plan refuses it."""
    fields = []
    for _, low, high, names in CRON_FIELDS:
        spelled = [
            "".join(f"[{c}{c.upper()}]" for c in name) for name in sorted(names, key=names.get)
        ]
        value = "|".join([_number_alternatives(low, high), *spelled])
        step = f"(?:/(?:{_number_alternatives(1, 99)}))?"
        span = f"(?:[*?]|(?:{value})(?:-(?:{value}))?)"
        part = f"{span}{step}"
        fields.append(f"{part}(?:,{part})*")
    separator = r"[ \t\n\r\x0b\x0c]+"
    macros = "|".join(re.escape(m) for m in CRON_MACROS)
    return f"^(?:{macros}|{separator.join(fields)})$"


# --------------------------------------------------------------------------------------------------
# Form fields from model fields


def _title(alias: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", alias).lower()
    return words[:1].upper() + words[1:]


def _scalar(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return {"type": "string", "enum": list(typing.get_args(annotation))}
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"{annotation!r} has no single form type")
        return _scalar(inner[0])
    if origin is list:
        (item,) = typing.get_args(annotation)
        return {"type": "array", "items": _scalar(item)}
    if origin is typing.Annotated:
        return _scalar(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"type": "object"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return {"type": simple[annotation]}
    raise TypeError(f"{annotation!r} has no form type")


_BOUNDS = {
    annotated_types.Ge: ("minimum", "ge"),
    annotated_types.Le: ("maximum", "le"),
    annotated_types.Gt: ("exclusiveMinimum", "gt"),
    annotated_types.Lt: ("exclusiveMaximum", "lt"),
}


def _validated(model: type[BaseModel], name: str) -> dict[str, Any]:
    """What the field's validator enforces, from the validator's own constants."""
    return VALIDATED.get((model, name), {})


def model_field(model: type[BaseModel], name: str, **overrides: Any) -> dict[str, Any]:
    """One field of a model as a form field: wire name (the alias) is the caller's key; type,
    enum, default, bounds and description from the field; patterns from its validator."""
    info = model.model_fields[name]
    if not info.description:
        raise ValueError(f"{model.__name__}.{name} has no description to show in a form")
    schema: dict[str, Any] = {"title": _title(info.alias or name), **_scalar(info.annotation)}
    schema["description"] = info.description
    default = info.default
    if (
        default is not PydanticUndefined
        and default is not None
        and not isinstance(default, BaseModel)
    ):
        schema["default"] = default
    for constraint in info.metadata:
        for kind, (key, attribute) in _BOUNDS.items():
            if isinstance(constraint, kind):
                schema[key] = getattr(constraint, attribute)
        if isinstance(constraint, annotated_types.MinLen):
            schema["minItems" if schema["type"] == "array" else "minLength"] = constraint.min_length
        if isinstance(constraint, annotated_types.MaxLen):
            schema["maxItems" if schema["type"] == "array" else "maxLength"] = constraint.max_length
    for key, value in _validated(model, name).items():
        if key == "items":
            schema["items"] = {**schema["items"], **value}
        else:
            schema[key] = value
    schema.update(overrides)
    return schema


def model_object(
    model: type[BaseModel],
    names: Iterable[str],
    required: Iterable[str] = (),
    parent: Optional[tuple[type[BaseModel], str]] = None,
) -> dict[str, Any]:
    """Some fields of a model as a nested form object (a section of the tenant file)."""
    names = list(names)
    properties = {alias(model, n): model_field(model, n) for n in names}
    required_names = [n for n in names if model.model_fields[n].is_required() or n in required]
    schema: dict[str, Any] = {"type": "object"}
    if parent is not None:
        info = parent[0].model_fields[parent[1]]
        schema["title"] = _title(info.alias or parent[1])
        if info.description:
            schema["description"] = info.description
    schema["properties"] = properties
    if required_names:
        schema["required"] = [alias(model, n) for n in required_names]
    return schema


def alias(model: type[BaseModel], name: str) -> str:
    return model.model_fields[name].alias or name


# What each offered field's validator enforces beyond its type, from the validators' constants.
# tests/test_templates.py fails when an offered field has a validator this table does not cover.
VALIDATED: dict[tuple[type[BaseModel], str], dict[str, Any]] = {
    (TenantConfig, "name"): {"pattern": ecma(DNS_LABEL), "maxLength": TENANT_NAME_MAX},
    (TenantConfig, "cost_center"): {"pattern": ecma(LABEL_VALUE)},
    (TenantConfig, "owners"): {"items": {"pattern": ecma(IAM_PRINCIPAL_ARN)}},
    (TenantGithubConfig, "team"): {"pattern": ecma(GITHUB_TEAM)},
    (QuotaConfig, "cpu"): {"pattern": ecma(QUANTITY)},
    (QuotaConfig, "memory"): {"pattern": ecma(QUANTITY)},
    (QuotaConfig, "storage"): {"pattern": ecma(QUANTITY)},
    (BudgetConfig, "notify"): {"items": {"pattern": ecma(EMAIL)}, "uniqueItems": True},
    (AppConfig, "name"): {"pattern": ecma(APP_NAME)},
    (AppConfig, "image"): {
        "pattern": ecma(IMAGE),
        "allOf": [
            {"pattern": ecma(IMAGE_PINNED, fullmatch=False)},
            {"not": {"pattern": ecma(IMAGE_LATEST, fullmatch=False)}},
        ],
    },
    (AppConfig, "port"): {"minimum": MIN_PORT, "maximum": MAX_PORT},
    (AppConfig, "schedule"): {"pattern": cron_pattern()},
    (KafkaConfig, "topic"): {"pattern": ecma(KAFKA_NAME)},
    (KafkaConfig, "consumer_group"): {"pattern": ecma(KAFKA_NAME)},
    (ResourceConfig, "name"): {"pattern": ecma(RESOURCE_NAME)},
    (EventSourceConfig, "schedule"): {"pattern": ecma(SCHEDULE)},
    (EventSourceConfig, "s3_bucket"): {"pattern": ecma(BUCKET)},
}
