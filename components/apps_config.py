"""The `apps:` of a tenant file: what a team declares to run, and how each release goes out.

A team names an app, picks a template (`api-service`, `batch-job`, `kafka-consumer`) and an image;
everything else has a safe default. An `api-service` with nothing but those three fields is a
canary that moves 20% → pause 10m → 50% → pause 10m → 100% behind a 99% success-rate analysis from
step 2, so the paved road is also the safe road. Mistakes that would only surface in the cluster
(a mutable image tag, a weight of 120, a pause of '5min' that the controller reads as invalid, an
analysis that starts after the last step, two apps rendering the same Service) are reported here,
with file and field, before anything is registered.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any, Callable, Literal, Optional

from pydantic import AfterValidator, Field, field_validator, model_validator

from components.config_base import (
    QUANTITY,
    CertificateSource,
    ConfigIssue,
    Model,
    check_pattern,
)

Template = Literal["api-service", "batch-job", "kafka-consumer"]
Strategy = Literal["canary", "blueGreen", "serviceSwitch"]
Color = Literal["blue", "green"]
Capacity = Literal["on-demand", "spot"]

# DNS-1035 labels (Service names must start with a letter); short enough for every suffix the
# templates add (`-preview`, `-canary`, `-green`) and for the controllers' generated names.
APP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?\Z")
# The distribution reference grammar: [registry[:port]/]path[:tag][@digest].
_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
    r"(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?\Z"
)
# What Argo Rollouts accepts for a pause (an integer of seconds or a Go duration), limited to whole
# hours, minutes and seconds: anything else the controller reads as invalid.
DURATION = re.compile(r"^(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?\Z")
# CronJob schedules as Kubernetes parses them (robfig/cron v3, standard parser: five fields or a
# descriptor; spec.go bounds, names case-insensitive).
CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: index + 1 for index, name in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {name: index for index, name in enumerate(_DAYS)}),
)
_CRON_NUMBER = re.compile(r"[0-9]{1,2}\Z")
HOSTNAME = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*\Z")
KAFKA_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}\Z")
HTTP_PATH = re.compile(r"^/[\x21-\x7e]*\Z")
# Containers run without capabilities, so they cannot bind privileged ports.
MIN_PORT = 1024
MAX_PORT = 65535
# A pinned reference ends in a tag or a digest; `latest` is a tag that moves. Searched in a
# reference IMAGE matched, where a `:` before the end can only start a tag or a digest's hex.
IMAGE_PINNED = re.compile(r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})\Z")
IMAGE_LATEST = re.compile(r":[Ll][Aa][Tt][Ee][Ss][Tt](?:@sha256:[0-9a-f]{64})?\Z")


def _image(value: str) -> str:
    if not IMAGE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an image reference (expected e.g. "
            "'123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.4.2')"
        )
    if IMAGE_LATEST.search(value):
        raise ValueError(
            f"{value!r} uses the mutable tag 'latest': pin a release tag (e.g. ':1.4.2') or a "
            "digest ('@sha256:…'), so a restart runs the code that was reviewed"
        )
    if not IMAGE_PINNED.search(value):
        raise ValueError(
            f"{value!r} has no tag or digest: pin a release tag (e.g. ':1.4.2') or a digest "
            "('@sha256:…'), so a restart runs the code that was reviewed"
        )
    return value


def _cron_value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not _CRON_NUMBER.fullmatch(text):
        spelled = f" or a name ({', '.join(n.upper() for n in names)})" if names else ""
        raise ValueError(f"{field} {text!r} is not a number{spelled}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{field} {value} is outside {low}-{high}")
    return value


def _cron_field(text: str, field: str, low: int, high: int, names: dict[str, int]) -> None:
    """One field: a list of `*`, `?`, `N`, `N-M`, each optionally `/STEP`."""
    for part in text.split(","):
        span, slash, step = part.partition("/")
        if slash and (not _CRON_NUMBER.fullmatch(step) or int(step) == 0):
            raise ValueError(f"{field} step {step!r} is not a positive number")
        if span in ("*", "?"):
            continue
        first, dash, last = span.partition("-")
        start = _cron_value(first, field, low, high, names)
        if dash and start > _cron_value(last, field, low, high, names):
            raise ValueError(f"{field} range {span!r} runs backwards")


def check_schedule(value: str) -> str:
    """A CronJob schedule Kubernetes accepts: `@daily`-style or five fields within their ranges
    (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-6 or
    SUN-SAT), so `61 * * * *` is refused here rather than by the API server."""
    example = "(e.g. '0 3 * * *' or '@hourly')"
    if not isinstance(value, str) or not value.isascii():
        raise ValueError(f"{value!r} is not a cron schedule {example}")
    if value.startswith("@"):
        if value not in CRON_MACROS:
            raise ValueError(f"{value!r} is not one of {', '.join(CRON_MACROS)}")
        return value
    fields = value.split()
    if len(fields) != len(CRON_FIELDS) or value != value.strip():
        raise ValueError(f"{value!r} is not a cron schedule of five fields {example}")
    for text, (field, low, high, names) in zip(fields, CRON_FIELDS):
        try:
            _cron_field(text, field, low, high, names)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a cron schedule: {error}") from None
    return value


def check_time_zone(value: str) -> str:
    """An IANA time zone of the tz database (the one Python reads: the system's zoneinfo)."""
    zones = _time_zones()
    if not zones:
        raise ValueError(
            f"{value!r} cannot be checked: this machine has no IANA time zone database "
            "(install the system's tzdata or Python's tzdata package)"
        )
    if not isinstance(value, str) or value not in zones:
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Etc/UTC', 'Europe/Paris')")
    return value


@functools.cache
def _time_zones() -> frozenset[str]:
    # `localtime` (a distribution's symlink) and `Factory` are files of the database, not zones a
    # CronJob can mean; Kubernetes refuses `Local` itself.
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "Factory"}


def check_host(value: str) -> str:
    """A host name as an Ingress rule takes it: lowercase DNS labels, no trailing dot, no
    wildcard, at most 253 characters. One spelling per name, so hosts compare as strings."""
    if not isinstance(value, str) or not HOSTNAME.fullmatch(value) or len(value) > 253:
        raise ValueError(
            f"{value!r} is not a DNS name (lowercase letters, digits, '-' and dots, "
            "no trailing dot, at most 253 characters)"
        )
    return value


# A field holding one host name; errors name the list item (`hosts[1]`).
Host = Annotated[str, AfterValidator(check_host)]


def quantity_value(value: str) -> Decimal:
    """A Kubernetes quantity as a number, to compare requests with limits."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", value)
    assert match, value
    number, suffix = Decimal(match.group(1)), match.group(2)
    binary = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
    decimal = {"": 0, "k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
    if suffix == "m":
        return number / 1000
    if suffix in binary:
        return number * 1024 ** binary[suffix]
    return number * 1000 ** decimal[suffix]


# --------------------------------------------------------------------------------------------------
# Release: how a new version replaces the old one


def _duration(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value}s"
    match = DURATION.fullmatch(value) if isinstance(value, str) else None
    if not match or not any(match.groupdict().values()):
        raise ValueError(
            f"{value!r} is not a pause duration (expected e.g. '30s', '5m', '1h' or '1h30m')"
        )
    if not any(int(part) for part in match.groupdict().values() if part):
        raise ValueError(f"{value!r} pauses for no time at all: remove the step")
    return value


class Pause(Model):
    """`{pause: 5m}`, `{pause: 30}` (seconds) or `{pause: {}}` (until promoted by hand)."""

    duration: Optional[str] = None

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Optional[str]:
        return None if value is None else _duration(value)


class Step(Model):
    """One canary step: `{setWeight: 20}` or `{pause: 5m}`."""

    set_weight: Optional[int] = None
    pause: Optional[Pause] = None

    @field_validator("set_weight")
    @classmethod
    def _weight(cls, value: Optional[int]) -> Optional[int]:
        if value is not None and not 0 <= value <= 100:
            raise ValueError(f"{value} is not a traffic weight (expected 0 to 100 percent)")
        return value

    @field_validator("pause", mode="before")
    @classmethod
    def _pause(cls, value: Any) -> Any:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return {"duration": _duration(value)}
        return value

    @model_validator(mode="after")
    def _one_action(self) -> "Step":
        if (self.set_weight is None) == (self.pause is None):
            raise ValueError("a step is either {setWeight: PERCENT} or {pause: DURATION}")
        return self

    def manifest(self) -> dict[str, Any]:
        """The step as the Rollout spells it."""
        if self.pause is not None:
            return {"pause": {"duration": self.pause.duration} if self.pause.duration else {}}
        return {"setWeight": self.set_weight}


# Each weight held equally long: a schedule both release engines express (Flagger holds every
# weight for one analysis interval, components/flagger_config.py), 10 minutes being what the
# analysis templates measure (ten one-minute measurements).
CLASSIC_STEPS = (
    Step(set_weight=20),
    Step(pause=Pause(duration="10m")),
    Step(set_weight=50),
    Step(pause=Pause(duration="10m")),
    Step(set_weight=100),
)


# The fast-burn page's factor (components/insight/slo.py): 2% of a 30-day budget in an hour.
DEFAULT_MAX_BURN_RATE = 14.4
# 1000x lets every request fail under a 99.9% SLO and a tenth under 99.99%: no gate worth having.
MAX_BURN_RATE = 1000


class BurnRateConfig(Model):
    """Gate the release on the error-budget burn rate of the new version's own traffic, against
    the app's availability SLO (`burn-rate`, components/delivery/analysis.py)."""

    max: float = Field(
        default=DEFAULT_MAX_BURN_RATE,
        gt=0,
        le=MAX_BURN_RATE,
        description="The highest burn rate the new version may show: 1 spends the SLO's error "
        "budget exactly over its window, 14.4 spends 2% of a 30-day budget in an hour.",
    )

    @field_validator("max", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # YAML `true` or `"14.4"` would otherwise be read as a number.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{value!r} is not a number (expected e.g. 14.4)")
        return value


class AnalysisConfig(Model):
    """What the new version must show to go on: checked in the background from `startingStep`
    (canary) or before the switch (blueGreen); a failed analysis aborts the release."""

    enabled: bool = True
    # Share of non-5xx responses, 0 < x ≤ 1.
    success_rate: float = 0.99
    latency_p99_ms: Optional[int] = Field(default=None, ge=1, le=600_000)
    starting_step: int = Field(default=2, ge=0)
    # Only with an SLO (checked with the app: `_release_issues`).
    burn_rate: Optional[BurnRateConfig] = None

    @field_validator("burn_rate", mode="before")
    @classmethod
    def _burn_rate(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, (dict, BurnRateConfig)):
            raise ValueError(f"{value!r} is not a mapping (expected e.g. {{max: 14.4}})")
        return value

    @field_validator("success_rate")
    @classmethod
    def _ratio(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(
                f"{value} is not a ratio (expected more than 0 and at most 1, e.g. 0.99)"
            )
        return value


class ColorImages(Model):
    """serviceSwitch: the image each color runs; a color without one runs the app's `image`."""

    blue: Optional[str] = None
    green: Optional[str] = None

    @field_validator("blue", "green")
    @classmethod
    def _pinned(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else _image(value)


class ReleaseConfig(Model):
    strategy: Strategy = Field(
        default="canary",
        description="How a new version goes out: canary (a growing share of traffic, checked "
        "at each step), blueGreen (the new version is checked behind a preview address, then "
        "takes all traffic at once) or serviceSwitch (two versions side by side; you switch "
        "traffic in a one-line pull request).",
    )
    # canary
    steps: list[Step] = Field(default_factory=lambda: list(CLASSIC_STEPS), min_length=1)
    analysis: AnalysisConfig = AnalysisConfig()
    # blueGreen: None means on, except in production where a person promotes.
    auto_promotion: Optional[bool] = None
    # serviceSwitch: the color the Service sends traffic to.
    active: Color = "blue"
    images: ColorImages = ColorImages()


# --------------------------------------------------------------------------------------------------
# The pod: resources, probes, security


class ComputeResources(Model):
    cpu: str
    memory: str

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> str:
        value = str(value) if isinstance(value, (int, float)) else value
        return check_pattern(value, QUANTITY, "a Kubernetes quantity (e.g. '250m', '256Mi')")


class ResourcesConfig(Model):
    """Defaults equal the tenant LimitRange's defaults, so an app fits where the namespace
    expects it to."""

    requests: ComputeResources = ComputeResources(cpu="100m", memory="128Mi")
    limits: ComputeResources = ComputeResources(cpu="500m", memory="512Mi")


class ProbesConfig(Model):
    liveness_path: str = "/healthz"
    readiness_path: str = "/readyz"

    @field_validator("liveness_path", "readiness_path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_pattern(value, HTTP_PATH, "an HTTP path (e.g. '/healthz')")


class AutoscalingConfig(Model):
    """A HorizontalPodAutoscaler from `replicas` up to `maxReplicas` (default: twice `replicas`)."""

    enabled: bool = True
    max_replicas: Optional[int] = Field(default=None, ge=1, le=1000)
    target_cpu_utilization: int = Field(default=70, ge=10, le=100)


class KafkaConfig(Model):
    """kafka-consumer: what it consumes, and the lag at which a release is aborted."""

    topic: str = Field(description="The Kafka topic the app consumes.")
    consumer_group: Optional[str] = Field(
        default=None,
        description="The consumer group the app joins; empty means one named after the app.",
    )
    max_lag: int = Field(
        default=1000,
        ge=1,
        description="Messages the new version may fall behind during a release before the "
        "release is stopped and rolled back.",
    )

    @field_validator("topic", "consumer_group")
    @classmethod
    def _kafka_name(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        return check_pattern(value, KAFKA_NAME, "a Kafka name (letters, digits, '.', '_', '-')")


# --------------------------------------------------------------------------------------------------
# SLO: what an api-service promises, watched by burn-rate alerts (components/insight/slo.py)

# The histogram bucket boundaries (ms) the platform's apps expose: the Prometheus clients' default
# buckets (client_golang `prometheus.DefBuckets`; client_python's defaults contain them all). A
# latency SLO counts requests under one of these boundaries, since a histogram knows no other.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
SloWindow = Literal["7d", "28d", "30d"]


def _objective(value: float) -> float:
    if not 0 < value < 100:
        raise ValueError(
            f"{value} is not an objective (expected a percentage above 0 and below 100, e.g. 99.9)"
        )
    return value


Objective = Annotated[float, AfterValidator(_objective)]


class LatencySlo(Model):
    """`target`% of requests are served in under `thresholdMs`."""

    threshold_ms: int
    target: Objective

    @field_validator("threshold_ms")
    @classmethod
    def _threshold(cls, value: int) -> int:
        if value < LATENCY_BUCKETS_MS[0]:
            raise ValueError(
                f"{value} is below the smallest latency bucket the apps expose "
                f"({LATENCY_BUCKETS_MS[0]} ms; buckets: {', '.join(map(str, LATENCY_BUCKETS_MS))})"
            )
        return value

    @property
    def bucket_ms(self) -> int:
        """The nearest bucket boundary at or below the threshold: what the SLO really counts."""
        return max(bucket for bucket in LATENCY_BUCKETS_MS if bucket <= self.threshold_ms)


class SloConfig(Model):
    """An api-service's SLO. Every api-service has one (99.5% availability over 30 days) unless
    its tenant file says `slo: false`; a latency objective only when written."""

    # `slo: false` in a tenant file is read as `enabled: false`.
    enabled: bool = True
    availability: Objective = 99.5
    latency: Optional[LatencySlo] = None
    window: SloWindow = "30d"


DEFAULT_SLO = SloConfig()


# --------------------------------------------------------------------------------------------------
# The app


class AppConfig(Model):
    name: str = Field(
        description="The app's name: lowercase letters, digits and '-', starting with a letter "
        "(it names the app's Kubernetes objects and its catalog entry)."
    )
    template: Template = Field(
        description="What kind of app it is: an HTTP service, a scheduled job or a Kafka consumer."
    )
    image: str = Field(
        description="The container image, pinned to a release tag or a digest (e.g. "
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.4.2); 'latest' is refused."
    )
    # Default: the tenant's first namespace.
    namespace: Optional[str] = None
    env: dict[str, str] = Field(default_factory=dict)
    resources: ResourcesConfig = ResourcesConfig()
    # Opt-out, visible in the plan: most apps write only to /tmp, which is always writable.
    read_only_root_filesystem: bool = True
    capacity: Capacity = Field(
        default="on-demand",
        description="Which nodes the app may run on: on-demand, or spot as well (up to 90% "
        "cheaper, but a node can be reclaimed with two minutes' notice: for jobs that can be "
        "retried and services with several replicas). Spot runs on the stack's spot capacity "
        "(Karpenter's spot pool or a SPOT node group); where it has none, on on-demand nodes.",
    )
    # For images whose USER is a name, not a number (the kubelet cannot prove it is not root).
    run_as_user: Optional[int] = Field(default=None, ge=1, le=2_147_483_647)
    # api-service, kafka-consumer
    port: int = Field(
        default=8080,
        description=f"The port the container listens on ({MIN_PORT} or above: apps run without "
        "the privilege to bind lower ports).",
    )
    replicas: int = Field(
        default=2,
        ge=1,
        le=100,
        description="How many copies of the app run (the fewest, when it scales with load).",
    )
    probes: ProbesConfig = ProbesConfig()
    release: ReleaseConfig = Field(
        default=ReleaseConfig(), description="How a new version replaces the running one."
    )
    # api-service
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    # Where the app is served over HTTPS. None: `<app>.<tenant>.<first DNS zone>` (config.py).
    host: Optional[str] = None
    # Where the host's certificate comes from (config_base.CertificateSource).
    certificate: CertificateSource = "request"
    # api-service: None is the default SLO; `slo: false` opts out (explicit, shown in the plan).
    slo: Optional[SloConfig] = None
    # batch-job
    schedule: Optional[str] = Field(
        default=None,
        description="When the job runs, as a cron schedule in UTC (minute hour day-of-month "
        "month day-of-week, e.g. '30 2 * * *' for 02:30 every night) or a shorthand such as "
        "'@daily'.",
    )
    time_zone: str = "Etc/UTC"
    concurrency_policy: Literal["Forbid", "Replace", "Allow"] = Field(
        default="Forbid",
        description="What happens when a run is due while the previous one still runs: Forbid "
        "skips the new run, Replace stops the old one, Allow runs both.",
    )
    backoff_limit: int = Field(
        default=2, ge=0, le=20, description="How many times a failed run is retried."
    )
    active_deadline_seconds: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="The longest a run may take, in seconds, before it is stopped and counted "
        "as failed.",
    )
    flags: bool = Field(
        default=False,
        description="Whether the app evaluates the team's feature flags: with OpenFeature its "
        "pods get the flagd sidecar and the FLAGD_* settings of the OpenFeature SDK's flagd "
        "provider; with LaunchDarkly the SDK key in LAUNCHDARKLY_SDK_KEY, from the team's "
        "secrets.",
    )
    # kafka-consumer
    kafka: Optional[KafkaConfig] = Field(
        default=None, description="What the consumer reads, and how far it may fall behind."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_pattern(
            value,
            APP_NAME,
            "an app name (lowercase letters, digits, '-', starting with a letter, "
            "at most 40 characters)",
        )

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        return _image(value)

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not MIN_PORT <= value <= MAX_PORT:
            raise ValueError(
                f"{value} is not an unprivileged port ({MIN_PORT}–{MAX_PORT}): containers run without "
                "capabilities and cannot bind ports below 1024"
            )
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            check_pattern(key, ENV_NAME, "an environment variable name")
        return value

    @field_validator("slo", mode="before")
    @classmethod
    def _slo(cls, value: Any) -> Any:
        if value is False:
            return {"enabled": False}
        if isinstance(value, bool):
            raise ValueError(
                "expected a mapping such as {availability: 99.9, window: 30d}, or false to opt out"
            )
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_host(value)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_schedule(value)

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        return check_time_zone(value)

    @property
    def consumer_group(self) -> str:
        return (self.kafka.consumer_group if self.kafka else None) or self.name

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas or 2 * self.replicas

    @property
    def needs_rollout(self) -> bool:
        """Whether this app is released by the Argo Rollouts controller (the delivery layer)."""
        if self.template == "kafka-consumer":
            return True
        return self.template == "api-service" and self.release.strategy != "serviceSwitch"

    @property
    def service_level(self) -> Optional[SloConfig]:
        """The SLO the platform watches: an api-service's own or the default; None when it
        opted out or serves no HTTP traffic."""
        if self.template != "api-service":
            return None
        slo = self.slo or DEFAULT_SLO
        return slo if slo.enabled else None

    def image_of(self, color: Color) -> str:
        return getattr(self.release.images, color) or self.image


# --------------------------------------------------------------------------------------------------
# Names: what each app renders, so two apps can be checked for collisions before they meet

CANARY_SUFFIX, PREVIEW_SUFFIX = "-canary", "-preview"
COLORS: tuple[Color, ...] = ("blue", "green")


def canary_service(app: AppConfig) -> str:
    return f"{app.name}{CANARY_SUFFIX}"


def preview_service(app: AppConfig) -> str:
    return f"{app.name}{PREVIEW_SUFFIX}"


def color_workload(app: AppConfig, color: Color) -> str:
    return f"{app.name}-{color}"


def user_services(app: AppConfig) -> tuple[str, ...]:
    """The api-service's Services that carry user traffic: what its SLO counts. A canary's users
    reach both the stable and the canary Service; a blue/green preview serves only the release's
    own checks."""
    if app.template == "api-service" and app.release.strategy == "canary":
        return (app.name, canary_service(app))
    return (app.name,)


def rendered_objects(app: AppConfig) -> list[tuple[str, str]]:
    """(kind, name) of every namespaced object the app's template may render."""
    name = app.name
    if app.template == "batch-job":
        return [("CronJob", name)]
    if app.template == "kafka-consumer":
        return [("Rollout", name), ("PodDisruptionBudget", name)]
    objects = [("Service", name), ("Ingress", name), ("ServiceMonitor", name)]
    objects.append(("PodDisruptionBudget", name))
    strategy = app.release.strategy
    if strategy == "serviceSwitch":
        for color in COLORS:
            objects += [
                ("Deployment", color_workload(app, color)),
                ("HorizontalPodAutoscaler", color_workload(app, color)),
            ]
        return objects
    extra = canary_service(app) if strategy == "canary" else preview_service(app)
    return objects + [("Rollout", name), ("Service", extra), ("HorizontalPodAutoscaler", name)]


def app_namespace(app: AppConfig, tenant_namespaces: list[str]) -> str:
    return app.namespace or tenant_namespaces[0]


def serves_ingress(app: AppConfig) -> bool:
    """Whether the app's template puts it behind the tenant's load balancer (when ingress is on)."""
    return app.template == "api-service"


def default_host(app: AppConfig, tenant: str, domain: str) -> str:
    """`<app>.<tenant>.<domain>`: unique across the stack, since app names are unique within a
    tenant and tenant names within the stack."""
    return f"{app.name}.{tenant}.{domain}"


# --------------------------------------------------------------------------------------------------
# Checks across fields and apps, with the exact field of each problem

COMMON_FIELDS = {
    "name",
    "template",
    "image",
    "namespace",
    "env",
    "resources",
    "read_only_root_filesystem",
    "run_as_user",
    "capacity",
    "flags",
}
TEMPLATE_FIELDS: dict[str, set[str]] = {
    "api-service": {
        "port",
        "replicas",
        "probes",
        "release",
        "autoscaling",
        "host",
        "certificate",
        "slo",
    },
    "kafka-consumer": {"port", "replicas", "probes", "release", "kafka"},
    "batch-job": {
        "schedule",
        "time_zone",
        "concurrency_policy",
        "backoff_limit",
        "active_deadline_seconds",
    },
}
REQUIRED_FIELDS: dict[str, set[str]] = {"batch-job": {"schedule"}, "kafka-consumer": {"kafka"}}
STRATEGIES: dict[str, tuple[str, ...]] = {
    "api-service": ("canary", "blueGreen", "serviceSwitch"),
    "kafka-consumer": ("canary",),
}


def _alias(field: str) -> str:
    return AppConfig.model_fields[field].alias or field


def _release_issues(app: AppConfig, where: str) -> list[tuple[str, str]]:
    release, found = app.release, []
    strategy = release.strategy
    if strategy not in STRATEGIES[app.template]:
        allowed = " or ".join(STRATEGIES[app.template])
        found.append(
            (
                f"{where}.strategy",
                f"{strategy!r} is not a release strategy of {app.template} (expected {allowed}: "
                "a consumer takes no traffic to switch or preview)",
            )
        )
        return found
    only = {
        "steps": "canary",
        "auto_promotion": "blueGreen",
        "active": "serviceSwitch",
        "images": "serviceSwitch",
    }
    for field, owner in only.items():
        if field in release.model_fields_set and strategy != owner:
            alias = ReleaseConfig.model_fields[field].alias
            found.append((f"{where}.{alias}", f"applies to strategy {owner}, not {strategy}"))
    analysis = release.analysis
    if strategy == "serviceSwitch" and "analysis" in release.model_fields_set:
        found.append(
            (
                f"{where}.analysis",
                "serviceSwitch runs no analysis: the switch is a reviewed one-line change",
            )
        )
    if strategy == "blueGreen" and "starting_step" in analysis.model_fields_set:
        found.append(
            (
                f"{where}.analysis.startingStep",
                "blueGreen has no steps: its analysis runs before the switch",
            )
        )
    found.extend(_burn_rate_issues(app, f"{where}.analysis.burnRate"))
    if app.template == "kafka-consumer":
        for field in ("success_rate", "latency_p99_ms"):
            if field in analysis.model_fields_set:
                alias = AnalysisConfig.model_fields[field].alias
                found.append(
                    (
                        f"{where}.analysis.{alias}",
                        "a kafka-consumer serves no HTTP traffic: it is gated by consumer lag "
                        "(kafka.maxLag)",
                    )
                )
    if strategy == "canary" and analysis.enabled and analysis.starting_step >= len(release.steps):
        found.append(
            (
                f"{where}.analysis.startingStep",
                f"{analysis.starting_step} is beyond the last step (steps are numbered from 0; "
                f"there are {len(release.steps)}), so the analysis would never run",
            )
        )
    return found


def _burn_rate_issues(app: AppConfig, where: str) -> list[tuple[str, str]]:
    """`burnRate` is measured against the app's SLO, by an analysis that runs."""
    analysis = app.release.analysis
    burn_rate = analysis.burn_rate
    if burn_rate is None:
        return []
    slo = app.service_level
    if slo is None:
        why = (
            "this app opted out of its SLO (slo: false)"
            if app.template == "api-service"
            else f"a {app.template} has none (SLOs watch HTTP requests)"
        )
        return [(where, f"needs an SLO to measure the error budget against, and {why}")]
    if not analysis.enabled:
        return [(where, "the analysis is off (enabled: false), so the burn rate is never checked")]
    budget = 1 - Decimal(str(slo.availability)) / 100
    ceiling = 1 / budget
    if Decimal(str(burn_rate.max)) >= ceiling:
        return [
            (
                f"{where}.max",
                f"{burn_rate.max} can never be exceeded: with availability {slo.availability}% "
                f"even every request failing burns the budget at {float(ceiling):g}x",
            )
        ]
    return []


def _app_issues(app: AppConfig, where: str) -> list[tuple[str, str]]:
    found = []
    allowed = COMMON_FIELDS | TEMPLATE_FIELDS[app.template]
    for field in sorted(app.model_fields_set - allowed):
        message = f"is not a field of template {app.template}"
        if field == "slo":
            message += " (SLOs watch HTTP requests: only an api-service has one)"
        found.append((f"{where}.{_alias(field)}", message))
    for field in sorted(REQUIRED_FIELDS.get(app.template, set()) - app.model_fields_set):
        found.append((f"{where}.{_alias(field)}", f"is required by template {app.template}"))
    if "release" in allowed:
        found.extend(_release_issues(app, f"{where}.release"))
    requests, limits = app.resources.requests, app.resources.limits
    for resource in ("cpu", "memory"):
        request, limit = getattr(requests, resource), getattr(limits, resource)
        if quantity_value(request) > quantity_value(limit):
            found.append(
                (
                    f"{where}.resources.requests.{resource}",
                    f"{request} is more than the limit {limit}",
                )
            )
    if app.capacity == "spot" and app.template != "batch-job" and app.replicas < 2:
        found.append(
            (
                f"{where}.capacity",
                f"spot needs replicas of 2 or more (it has {app.replicas}): a reclaimed spot node "
                "would take the only copy down",
            )
        )
    if app.template == "api-service" and app.autoscaling.enabled:
        if app.max_replicas < app.replicas:
            found.append(
                (
                    f"{where}.autoscaling.maxReplicas",
                    f"{app.max_replicas} is fewer than replicas {app.replicas}",
                )
            )
    return found


def app_issues(
    apps: list[AppConfig],
    namespaces: list[str],
    file: str,
    prefix: str = "",
    place: Callable[[int], str] = lambda index: f"apps[{index}]",
) -> list[ConfigIssue]:
    """What no single app can see: its namespace, its template's fields, names shared by two.
    `place` names an earlier app in a message (its fragment file, when it came from one)."""
    found: list[tuple[str, str]] = []
    names: dict[str, int] = {}
    claimed: dict[tuple[str, str, str], str] = {}
    for index, app in enumerate(apps):
        where = f"apps[{index}]"
        if app.name in names:
            found.append(
                (f"{where}.name", f"{app.name!r} is already the name of {place(names[app.name])}")
            )
            continue
        names[app.name] = index
        if app.namespace is not None and app.namespace not in namespaces:
            found.append(
                (
                    f"{where}.namespace",
                    f"{app.namespace!r} is not a namespace of this tenant "
                    f"(expected one of {', '.join(namespaces)})",
                )
            )
            continue
        found.extend(_app_issues(app, where))
        namespace = app_namespace(app, namespaces)
        for kind, name in rendered_objects(app):
            owner = claimed.setdefault((namespace, kind, name), app.name)
            if owner != app.name:
                found.append(
                    (
                        f"{where}.name",
                        f"{app.name!r} would render {kind} {name!r}, which app {owner!r} "
                        f"already renders in namespace {namespace!r}",
                    )
                )
    return [
        ConfigIssue(file, f"{prefix}.{field}" if prefix else field, message)
        for field, message in found
    ]
