"""The configuration toolkit every config module shares: issues, errors, checks, the base model.

Stack-file sections (components/config.py) and tenant files (components/tenants_config.py) report
problems the same way — file, field, bad value, expectation — through these pieces.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Iterable, Literal, Optional

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from components.safe_yaml import sanitize

# The policy pack's own answer to "does this cover the internet?", so the config and the pack
# never disagree (the pack must import on its own, so the helper lives there).
from policies.paved_road_policies.cidrs import covers_internet, public_blocks  # noqa: F401

# --------------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one field of one file."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        # Values in messages come from input files: one line each, bounded, control characters
        # escaped, so a hostile file can neither forge lines in CI's log nor flood it.
        return f"{sanitize(self.file, 120)}: {sanitize(self.field, 160)}: {sanitize(self.message, 400)}"


class ConfigError(pulumi.RunError):
    """All configuration problems at once. A `RunError`, so `pulumi up` prints no traceback."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.field, i.message))
        count = len(self.issues)
        lines = [f"{count} configuration error{'s' if count != 1 else ''}:"]
        lines += [f"  {issue}" for issue in self.issues]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------------------------------
# Value checks shared by the models

_AWS_ACCOUNT = r"[0-9]{12}"
IAM_PRINCIPAL_ARN = re.compile(
    rf"^arn:aws(-[a-z]+)*:iam::{_AWS_ACCOUNT}:(role|user)/[A-Za-z0-9_+=,.@/-]{{1,512}}\Z"
)
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]\Z")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+\Z")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?\Z")
# Kubernetes label values and the name part of label keys: at most 63 ASCII characters,
# alphanumeric at both ends (apimachinery validation.IsValidLabelValue / IsQualifiedName).
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?\Z")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
# A DNS-1123 subdomain: the optional prefix of a label key, at most 253 characters.
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
DNS_SUBDOMAIN_MAX = 253
EMAIL = re.compile(r"^[\x21-\x3f\x41-\x7e]+@[\x21-\x3f\x41-\x7e]+\.[a-z]{2,}\Z")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def parse_cidr(value: str) -> ipaddress.IPv4Network:
    """A strict IPv4 CIDR block: host bits must be zero, so `10.0.0.1/16` is a typo, not a VPC."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"{value!r} is not an IPv4 CIDR block (expected e.g. '10.0.0.0/16')")
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid IPv4 CIDR block ({exc})") from None
    # `ipaddress` also reads `0.0.0.0/00` and netmask forms (`0.0.0.0/0.0.0.0`), which Kubernetes
    # and AWS refuse and which hide what a block opens: one spelling per block.
    if str(network) != value:
        raise ValueError(f"{value!r} is not written as a CIDR block (write {str(network)!r})")
    return network


def _checked_cidr(value: str) -> str:
    parse_cidr(value)
    return value


# A field holding one CIDR block; errors name the list item (`publicAccessCidrs[1]`).
Cidr = Annotated[str, AfterValidator(_checked_cidr)]


# --------------------------------------------------------------------------------------------------
# TLS: where an HTTPS listener's certificate comes from

# `request`: the platform requests an ACM certificate for the host and validates it with a DNS
# record in the configured Route 53 zone holding the host. `discover`: the AWS Load Balancer
# Controller finds an issued ACM certificate matching the host (one someone else manages).
CertificateSource = Literal["request", "discover"]
# ACM refuses a certificate whose domain name (its Common Name) is longer than 64 octets (RFC 5280).
ACM_DOMAIN_NAME_MAX = 64


def zone_for(host: str, domains: Iterable[str]) -> Optional[str]:
    """The most specific of `domains` that `host` is in (or is), or None: the Route 53 zone that
    answers for the host, where its certificate's validation record goes."""
    holding = [d for d in domains if host == d or host.endswith(f".{d}")]
    return max(holding, key=len) if holding else None


# `@org/team`, as CODEOWNERS names a team: the organisation's login (letters, digits, single
# hyphens, at most 39) and the team's slug (GitHub's slugs are lowercase, digits, '-' and '_').
GITHUB_ORG = r"[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}"
GITHUB_TEAM = re.compile(rf"^@(?P<org>{GITHUB_ORG})/[a-z0-9][a-z0-9_-]{{0,99}}\Z")


def check_github_team(value: str) -> str:
    return check_pattern(value, GITHUB_TEAM, "a GitHub team handle '@org/team'")


def github_org(handle: str) -> str:
    match = GITHUB_TEAM.fullmatch(handle)
    return match.group("org").lower() if match else ""


def check_pattern(value: str, pattern: re.Pattern[str], what: str) -> str:
    # fullmatch: `$` would let a trailing newline through; patterns also end in \Z.
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{value!r} is not {what}")
    return value


def check_label_key(key: str) -> str:
    """A Kubernetes label key: `[prefix/]name`, the prefix a DNS subdomain of at most 253
    characters, the name at most 63 (apimachinery validation.IsQualifiedName)."""
    what = (
        "a Kubernetes label key ([prefix/]name: the name at most 63 letters, digits, '-', '_', "
        "'.', alphanumeric at both ends; the prefix a DNS subdomain of at most 253 characters)"
    )
    if not isinstance(key, str):
        raise ValueError(f"{key!r} is not {what}")
    prefix, slash, name = key.rpartition("/")
    if slash and (
        not DNS_SUBDOMAIN.fullmatch(prefix) or len(prefix) > DNS_SUBDOMAIN_MAX or "/" in prefix
    ):
        raise ValueError(f"{key!r} is not {what}")
    if not LABEL_NAME.fullmatch(name):
        raise ValueError(f"{key!r} is not {what}")
    return key


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """Every key a label key and every value a label value (at most 63 characters, or empty)."""
    for key, value in labels.items():
        check_label_key(key)
        if not isinstance(value, str) or not LABEL_VALUE.fullmatch(value):
            raise ValueError(
                f"label {key!r}: {value!r} is not a Kubernetes label value (at most 63 letters, "
                "digits, '-', '_', '.', alphanumeric at both ends, or empty)"
            )
    return labels


class Model(BaseModel):
    """Stack-file sections: camelCase keys, unknown keys rejected, immutable once parsed."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


def _field_path(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _allowed_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys allowed where an unknown key was found, for a helpful message."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        annotation = fields[part].annotation if part in fields else None
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        for candidate in candidates:
            for inner in (candidate, *getattr(candidate, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    current = inner
                    break
    return sorted(f.alias or n for n, f in current.model_fields.items())


def issues_from(
    error: ValidationError, file: str, prefix: str, model: type[BaseModel]
) -> list[ConfigIssue]:
    """Turn pydantic's errors into file-and-field messages with the bad value and the expectation."""
    issues = []
    for err in error.errors():
        loc = tuple(err["loc"])
        path = _field_path(prefix, loc)
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_fields(model, loc))
            message = f"unknown field (allowed: {allowed})"
        elif err["type"] == "value_error":
            message = str(err["msg"]).removeprefix("Value error, ")
        else:
            message = f"{err['msg'][:1].lower()}{err['msg'][1:]} (got {err['input']!r})"
        if err["type"] == "value_error" and not loc:
            path = prefix
        issues.append(ConfigIssue(file, path, message))
    return issues
