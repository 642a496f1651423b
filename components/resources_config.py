"""Self-service resources: the `resources:` section of a tenant file, and its checks.

A team asks for a Postgres database, a Redis cache, a DNS name for one of its apps, or an event
trigger feeding a queue, in a few lines. What each size and version means lives here, in one table
each, so the plan diff of a size change names the instance class it moves to.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Literal, Optional

from pydantic import Field, field_validator

from components.apps_config import AppConfig, serves_ingress
from components.config_base import ConfigIssue, Model, check_pattern

ResourceType = Literal["postgres", "redis", "dns", "events"]
RESOURCE_TYPES: tuple[str, ...] = ("postgres", "redis", "dns", "events")
Size = Literal["small", "medium", "large"]
SIZES: tuple[str, ...] = ("small", "medium", "large")

# Instance classes per size: Graviton burstable for small, general purpose above.
POSTGRES_CLASSES = {"small": "db.t4g.medium", "medium": "db.m7g.large", "large": "db.r7g.xlarge"}
POSTGRES_STORAGE_GIB = {"small": 20, "medium": 100, "large": 500}
REDIS_NODE_TYPES = {
    "small": "cache.t4g.small",
    "medium": "cache.m7g.large",
    "large": "cache.r7g.xlarge",
}
# The major versions a team may ask for, each pinned to one minor (auto minor upgrades are off:
# a minor upgrade is a reviewed one-line change here).
POSTGRES_VERSIONS = {"16": "16.9", "17": "17.5"}
DEFAULT_POSTGRES_VERSION = "17"
# ElastiCache for Valkey (the open-source Redis fork AWS maintains, wire compatible with Redis
# OSS 7.2 clients): a pinned engine version and its parameter group family.
REDIS_VERSIONS = {"8.0": "valkey8"}
DEFAULT_REDIS_VERSION = "8.0"

# Physical names build on `<project>-<env>-<tenant>-<name>`; ElastiCache replication group ids
# are at most 40 characters, RDS identifiers 63, SQS queue names 80.
RESOURCE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,28}[a-z0-9])?\Z")
# EventBridge schedule expressions: rate(1 minute|N minutes|hours|days) or cron(6 fields).
SCHEDULE = re.compile(
    r"^(rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)"
    r"|cron\(\S+( \S+){5}\))\Z"
)
# The envelope fields of an EventBridge event a pattern may match on.
EVENT_FIELDS = (
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
)
# Content-filter operators (EventBridge User Guide, "Content filtering in event patterns").
EVENT_OPERATORS = (
    "prefix",
    "suffix",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
    "equals-ignore-case",
    "wildcard",
)
# S3 bucket names (S3 User Guide, "Bucket naming rules").
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
EVENT_PATTERN_MAX = 4096


def _pattern_problem(value: Any, path: str, top: bool) -> Optional[str]:
    """Why `value` is not an EventBridge event pattern, or None: a mapping whose leaves are
    non-empty lists of values or single-operator filters."""
    if not isinstance(value, dict) or not value:
        return f"{path or 'the pattern'} must be a non-empty mapping"
    for key, inner in value.items():
        where = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str) or not key:
            return f"{where}: field names are strings"
        if top and key not in EVENT_FIELDS:
            return f"{where}: not a field of an event (expected one of {', '.join(EVENT_FIELDS)})"
        if key == "detail" or (not top and isinstance(inner, dict)):
            problem = _pattern_problem(inner, where, False)
            if problem:
                return problem
            continue
        if not isinstance(inner, list) or not inner:
            return f"{where}: expected a non-empty list of values to match"
        for item in inner:
            if isinstance(item, dict):
                if len(item) != 1 or next(iter(item)) not in EVENT_OPERATORS:
                    return (
                        f"{where}: {item!r} is not a filter (one of "
                        f"{', '.join(EVENT_OPERATORS)})"
                    )
            elif item is not None and not isinstance(item, (str, int, float, bool)):
                return f"{where}: {item!r} is not a value to match"
    return None


def check_event_pattern(value: Any) -> dict[str, Any]:
    import json

    problem = _pattern_problem(value, "", True)
    if problem:
        raise ValueError(f"not an EventBridge event pattern: {problem}")
    if len(json.dumps(value)) > EVENT_PATTERN_MAX:
        raise ValueError(f"an event pattern is at most {EVENT_PATTERN_MAX} characters")
    return value


class EventSourceConfig(Model):
    """Exactly one of: a schedule, an event pattern, or object-created events of one bucket."""

    schedule: Optional[str] = Field(
        default=None,
        description="An EventBridge schedule: 'rate(5 minutes)' or 'cron(0 3 * * ? *)' (UTC).",
    )
    pattern: Optional[dict[str, Any]] = None
    s3_bucket: Optional[str] = Field(
        default=None,
        description="An S3 bucket whose new objects each send an event to the queue.",
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            check_pattern(
                value,
                SCHEDULE,
                "an EventBridge schedule (e.g. 'rate(5 minutes)' or 'cron(0 3 * * ? *)')",
            )
        return value

    @field_validator("pattern", mode="before")
    @classmethod
    def _pattern(cls, value: Any) -> Any:
        return value if value is None else check_event_pattern(value)

    @field_validator("s3_bucket")
    @classmethod
    def _bucket(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            check_pattern(value, BUCKET, "an S3 bucket name")
        return value

    @property
    def kind(self) -> str:
        return "schedule" if self.schedule else "pattern" if self.pattern else "s3Bucket"


class ResourceConfig(Model):
    name: str = Field(
        description="The resource's name: lowercase letters, digits and '-', starting with a "
        "letter (its cloud resources are named after it)."
    )
    type: ResourceType = Field(description="What to provision.")
    # postgres, redis
    size: Optional[Size] = Field(
        default=None,
        description="small, medium or large (the plan shows the instance class each means); "
        "empty means small.",
    )
    version: Optional[str] = Field(
        default=None, description="The engine's major version; empty means the newest offered."
    )
    # dns: the app whose load balancer the name points at
    app: Optional[str] = Field(
        default=None,
        description="The app the name points at (an api-service of the team): "
        "<name>.<team>.<zone> then reaches it too.",
    )
    # events
    source: Optional[EventSourceConfig] = Field(
        default=None, description="What sends events to the queue."
    )
    consumer: Optional[str] = Field(
        default=None,
        description="The team's kafka-consumer app that reads the queue (scaled on its depth); "
        "empty to wire one later.",
    )
    # The first of the two steps that delete a resource (README, "Ask for infrastructure"):
    # lifts deletion protection and `protect`; removing the entry in a later change deletes it.
    decommission: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_pattern(
            value,
            RESOURCE_NAME,
            "a resource name (lowercase letters, digits, '-', starting with a letter, "
            "at most 30 characters)",
        )

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        # `version: 17` in YAML is a number; the table's keys are strings.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value

    @property
    def resolved_size(self) -> str:
        return self.size or "small"

    @property
    def resolved_version(self) -> str:
        default = DEFAULT_POSTGRES_VERSION if self.type == "postgres" else DEFAULT_REDIS_VERSION
        return self.version or default


# App templates that can consume a queue: long-running workers without an HPA of their own (KEDA
# scales them; an api-service's CPU HPA would fight KEDA's).
CONSUMER_TEMPLATES = ("kafka-consumer",)

# The fields each type takes besides name, type and decommission.
TYPE_FIELDS = {
    "postgres": {"size", "version"},
    "redis": {"size", "version"},
    "dns": {"app"},
    "events": {"source", "consumer"},
}


def resource_issues(
    resources: list[ResourceConfig],
    apps: list[AppConfig],
    file: str,
    prefix: str = "",
    place: Callable[[int], str] = lambda index: f"resources[{index}]",
) -> list[ConfigIssue]:
    """What one entry cannot see alone: each type's fields, names shared by two, apps named.
    `place` names an earlier resource in a message (its fragment file, when it came from one)."""
    found: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    app_names = {app.name: app for app in apps}
    for index, resource in enumerate(resources):
        where = f"resources[{index}]"
        if resource.name in seen:
            found.append(
                (
                    f"{where}.name",
                    f"{resource.name!r} is already the name of {place(seen[resource.name])}",
                )
            )
        seen.setdefault(resource.name, index)
        allowed = TYPE_FIELDS[resource.type]
        for field in ("size", "version", "app", "source", "consumer"):
            if field not in allowed and getattr(resource, field) is not None:
                found.append((f"{where}.{field}", f"is not a field of {resource.type}"))
        if resource.type in ("postgres", "redis") and resource.version is not None:
            versions = POSTGRES_VERSIONS if resource.type == "postgres" else REDIS_VERSIONS
            if resource.version not in versions:
                found.append(
                    (
                        f"{where}.version",
                        f"{resource.version!r} is not a supported {resource.type} version "
                        f"(expected one of {', '.join(versions)})",
                    )
                )
        if resource.type == "dns":
            if resource.app is None:
                found.append((f"{where}.app", "a dns resource names the app it points at"))
            elif resource.app not in app_names:
                found.append((f"{where}.app", f"{resource.app!r} is not an app of this tenant"))
            elif not serves_ingress(app_names[resource.app]):
                found.append(
                    (
                        f"{where}.app",
                        f"{resource.app!r} is not served through the load balancer "
                        "(only api-service apps are)",
                    )
                )
        if resource.type == "events":
            source = resource.source
            given = [
                k for k in ("schedule", "pattern", "s3Bucket") if source and _source_has(source, k)
            ]
            if len(given) != 1:
                found.append(
                    (
                        f"{where}.source",
                        "needs exactly one of schedule, pattern or s3Bucket"
                        + (f" (got {', '.join(given)})" if given else ""),
                    )
                )
            if resource.consumer is not None and resource.consumer not in app_names:
                found.append(
                    (f"{where}.consumer", f"{resource.consumer!r} is not an app of this tenant")
                )
            elif resource.consumer is not None and app_names[resource.consumer].template not in (
                CONSUMER_TEMPLATES
            ):
                found.append(
                    (
                        f"{where}.consumer",
                        f"{resource.consumer!r} is a {app_names[resource.consumer].template}; a "
                        f"consumer is a long-running worker ({', '.join(CONSUMER_TEMPLATES)}) "
                        "that KEDA scales on the queue's depth",
                    )
                )
    return [
        ConfigIssue(file, f"{prefix}.{field}" if prefix else field, message)
        for field, message in found
    ]


def _source_has(source: EventSourceConfig, key: str) -> bool:
    return {"schedule": source.schedule, "pattern": source.pattern, "s3Bucket": source.s3_bucket}[
        key
    ] is not None


def physical_name(prefix: str, tenant: str, resource: ResourceConfig) -> str:
    """`<project>-<env>-<tenant>-<name>`: unique in the account, readable in the console."""
    return f"{prefix}-{tenant}-{resource.name}"


# The longest physical name each type's AWS resource accepts (RDS DB identifiers 63, ElastiCache
# replication group ids 40, SQS queue names 80 with the `-dlq` suffix).
NAME_LIMITS = {"postgres": 63, "redis": 40, "events": 76}


def dns_host(resource: ResourceConfig, tenant: str, domain: str) -> str:
    """`<name>.<tenant>.<zone>`: under the tenant's own subdomain, never the apex or another's."""
    return f"{resource.name}.{tenant}.{domain}"


def dns_hosts(resources: list[ResourceConfig], tenant: str, domain: str) -> dict[str, list[str]]:
    """The extra names of each app, from the tenant's `dns` resources."""
    hosts: dict[str, list[str]] = {}
    for resource in resources:
        if resource.type == "dns" and resource.app is not None:
            hosts.setdefault(resource.app, []).append(dns_host(resource, tenant, domain))
    return hosts
