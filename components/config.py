"""The platform's configuration: the only module that reads `pulumi.Config`.

Everything a stack file says is parsed here into frozen, typed models before the first resource is
registered, so a broken stack file never half-applies. Every problem is collected and reported in
one go, each naming the file and the field, the bad value and what was expected — a platform engineer
fixes a stack file in one pass, not one error per `pulumi up`.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal, Optional

import pulumi
from pydantic import Field, ValidationError, field_validator, model_validator

from components import versions
from components.kubernetes import CAPACITY_TYPE_KEY
from components.governance_config import (
    DomainConfig,
    GovernanceConfig,
    load_domains,
    load_governance,
    ownership_issues,
)
from components.apps_config import _image as check_image
from components.apps_config import default_host, serves_ingress
from components.resources_config import NAME_LIMITS, dns_host, physical_name
from components.tenants_config import (
    BudgetConfig,
    AlertReceiverConfig,
    TenantConfig,
    check_secret_name,
    load_tenants,
    receiver_issues,
)
from components.config_base import (  # noqa: F401 — re-exported: the models' shared toolkit
    ACM_DOMAIN_NAME_MAX,
    CertificateSource,
    Cidr,
    DNS_LABEL,
    EMAIL,
    IAM_PRINCIPAL_ARN,
    INSTANCE_TYPE,
    LABEL_VALUE,
    LOG_RETENTION_DAYS,
    QUANTITY,
    REGION,
    ConfigError,
    ConfigIssue,
    Model,
    check_label_key,
    check_labels,
    check_pattern,
    covers_internet,
    issues_from,
    parse_cidr,
    public_blocks,
    zone_for,
)

PROJECT = "paved-road"
STACK_CONFIG_DIR = "stacks"
# Every `paved-road:` key a stack file may set; anything else is a typo worth stopping for.
KNOWN_KEYS = (
    "cluster",
    "core",
    "delivery",
    "environment",
    "insights",
    "network",
    "production",
    "tenants",
)

# --------------------------------------------------------------------------------------------------
# paved-road:network


class FlowLogsConfig(Model):
    enabled: bool = True
    retention_days: int = 365
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch Logs retention period {LOG_RETENTION_DAYS}"
            )
        return value


class ExistingVpcConfig(Model):
    """A VPC owned by another team: Paved Road uses it and creates no network of its own."""

    vpc_id: str
    private_subnet_ids: list[str] = Field(min_length=2)
    public_subnet_ids: list[str] = Field(default_factory=list)
    # Where internet-facing load balancers live: tenants' network policies admit these ranges.
    public_subnet_cidrs: list[Cidr] = Field(default_factory=list)

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, value: str) -> str:
        return check_pattern(value, re.compile(r"^vpc-[0-9a-f]{8,17}\Z"), "a VPC id (vpc-…)")

    @field_validator("private_subnet_ids", "public_subnet_ids")
    @classmethod
    def _subnets(cls, value: list[str]) -> list[str]:
        for subnet in value:
            check_pattern(subnet, re.compile(r"^subnet-[0-9a-f]{8,17}\Z"), "a subnet id (subnet-…)")
        return value


AVAILABILITY_ZONE = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-?[a-z]\Z")


class NetworkConfig(Model):
    cidr: str = "10.0.0.0/16"
    availability_zones: Optional[list[str]] = Field(default=None, min_length=2, max_length=3)
    az_count: int = Field(default=3, ge=2, le=3)
    private_subnets: Optional[list[Cidr]] = None
    public_subnets: Optional[list[Cidr]] = None
    nat_gateways: Literal["single", "perAz"] = "perAz"
    flow_logs: FlowLogsConfig = FlowLogsConfig()
    existing_vpc: Optional[ExistingVpcConfig] = None

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        for zone in value or []:
            check_pattern(zone, AVAILABILITY_ZONE, "an availability zone name (e.g. 'eu-west-1a')")
        repeated = sorted({zone for zone in value or [] if value.count(zone) > 1})
        if repeated:
            # Two subnets in one zone: the cluster would claim zone redundancy it does not have.
            raise ValueError(
                f"availability zones must be distinct; repeated: {', '.join(repeated)}"
            )
        return value

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = parse_cidr(value)
        if not 16 <= network.prefixlen <= 20:
            raise ValueError(f"{value!r} must be between /16 and /20 to hold the node subnets")
        return value

    @property
    def load_balancer_cidrs(self) -> list[str]:
        """The public subnets' ranges, where internet-facing load balancers are placed."""
        if self.existing_vpc is not None:
            return list(self.existing_vpc.public_subnet_cidrs)
        return self.subnet_plan()[1]

    @property
    def zone_count(self) -> int:
        return len(self.availability_zones) if self.availability_zones else self.az_count

    def subnet_plan(self) -> tuple[list[str], list[str]]:
        """Private and public subnet CIDRs, one per zone: as configured, or carved from `cidr`.

        Private subnets get an eighth of the VPC each (pods take VPC addresses with the VPC CNI);
        public subnets hold only load balancers and NAT gateways, so they are small.
        """
        vpc = ipaddress.IPv4Network(self.cidr)
        eighths = list(vpc.subnets(new_prefix=vpc.prefixlen + 3))
        private = self.private_subnets or [str(n) for n in eighths[: self.zone_count]]
        small = list(eighths[3].subnets(new_prefix=vpc.prefixlen + 6))
        public = self.public_subnets or [str(n) for n in small[: self.zone_count]]
        return private, public


# --------------------------------------------------------------------------------------------------
# paved-road:cluster


def _not_capacity_key(key: str) -> str:
    if key == CAPACITY_TYPE_KEY:
        raise ValueError(
            f"{key!r} is set by the platform from capacityType (a SPOT group is labelled and "
            "tainted with it, so only apps with `capacity: spot` run there)"
        )
    return key


class TaintConfig(Model):
    key: str
    value: str = ""
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        # Kubernetes validates a taint key as a label key (apimachinery IsQualifiedName).
        return _not_capacity_key(check_label_key(value))

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        return check_pattern(value, LABEL_VALUE, "a taint value (at most 63 characters)")


# A third of a node group rolls at once unless its stack file says otherwise.
DEFAULT_MAX_UNAVAILABLE_PERCENTAGE = 33


class NodeGroupConfig(Model):
    name: str
    instance_types: list[str] = Field(default_factory=lambda: ["m6i.large"], min_length=1)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    min_size: int = Field(default=2, ge=0, le=1000)
    max_size: int = Field(default=4, ge=1, le=1000)
    desired_size: Optional[int] = Field(default=None, ge=0, le=1000)
    disk_size_gib: int = Field(default=50, ge=20, le=16384, alias="diskSizeGiB")
    metadata_hop_limit: int = Field(default=1, ge=1, le=2)
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[TaintConfig] = Field(default_factory=list)
    # How many nodes a rolling update (a new AMI release, a new Kubernetes minor) may take out of
    # service at once: a share of the group, or a count (EKS takes one or the other, up to 100).
    max_unavailable_percentage: Optional[int] = Field(default=None, ge=1, le=100)
    max_unavailable: Optional[int] = Field(default=None, ge=1, le=100)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_pattern(value, DNS_LABEL, "a DNS-1123 label (lowercase letters, digits, '-')")

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, value: list[str]) -> list[str]:
        for instance_type in value:
            check_pattern(instance_type, INSTANCE_TYPE, "an EC2 instance type (e.g. 'm6i.large')")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            _not_capacity_key(key)
        return check_labels(value)

    @model_validator(mode="after")
    def _sizes(self) -> "NodeGroupConfig":
        if self.min_size > self.max_size:
            raise ValueError(f"minSize {self.min_size} is greater than maxSize {self.max_size}")
        desired = self.desired
        if not self.min_size <= desired <= self.max_size:
            raise ValueError(
                f"desiredSize {desired} is outside minSize..maxSize ({self.min_size}..{self.max_size})"
            )
        if self.max_unavailable is not None and self.max_unavailable_percentage is not None:
            raise ValueError("set maxUnavailable or maxUnavailablePercentage, not both")
        return self

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size

    @property
    def rolling(self) -> tuple[str, int]:
        """The node group's update limit as EKS names it; a third of the group unless set."""
        if self.max_unavailable is not None:
            return "maxUnavailable", self.max_unavailable
        percentage = self.max_unavailable_percentage
        return "maxUnavailablePercentage", (
            DEFAULT_MAX_UNAVAILABLE_PERCENTAGE if percentage is None else percentage
        )


SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}\Z")
IAM_ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}\Z")
# EKS refuses node group names over 63 characters; a name prefix gets 26 characters appended
# (terraform-plugin-sdk helper/id: UniqueIDSuffixLength).
NODE_GROUP_NAME_MAX = 63
NAME_PREFIX_SUFFIX = 26
# Security groups for pods (always on, components/cluster.py) need a trunk interface, which only
# Nitro instance types get, and of those not the t family (EKS user guide, "Security groups for
# Pods"; amazon-vpc-resource-controller-k8s pkg/aws/vpc/limits.go, IsTrunkingCompatible). These
# are the families without one: the t family and the previous, Xen-based generations.
NO_TRUNK_FAMILIES = frozenset(
    "c1 c3 c4 cc2 cg1 cr1 d2 f1 g2 g3 g3s h1 hs1 i2 i3 m1 m2 m3 m4 p2 p3 r3 r4 x1 x1e".split()
)
NO_TRUNK_FAMILY = re.compile(r"t\d+[a-z]*")


def supports_pod_security_groups(instance_type: str) -> bool:
    family = instance_type.split(".")[0]
    return family not in NO_TRUNK_FAMILIES and not NO_TRUNK_FAMILY.fullmatch(family)


NodeAutoscaler = Literal["cluster-autoscaler", "karpenter"]


class ClusterConfig(Model):
    version: str = versions.DEFAULT_KUBERNETES_VERSION
    public_access_cidrs: list[Cidr] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)
    # The role the Kubernetes provider assumes (`aws eks get-token --role …`): a cluster admin
    # through its own access entry, so deploying never depends on who created the cluster.
    deploy_role_arn: Optional[str] = None
    # Security groups of deploy runners inside the VPC: allowed to the private API endpoint.
    runner_security_group_ids: list[str] = Field(default_factory=list)
    node_groups: list[NodeGroupConfig] = Field(
        default_factory=lambda: [NodeGroupConfig(name="system")], min_length=1
    )
    log_retention_days: int = 90
    # Who adds nodes when pods do not fit: the cluster autoscaler grows the node groups, Karpenter
    # launches right-sized nodes (on-demand, and spot for pods that tolerate it). Their settings
    # are in paved-road:core.autoscaling, which runs either.
    autoscaling: NodeAutoscaler = "cluster-autoscaler"

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in versions.SUPPORTED_KUBERNETES_VERSIONS:
            supported = ", ".join(versions.SUPPORTED_KUBERNETES_VERSIONS)
            raise ValueError(f"{value!r} is not a supported Kubernetes version ({supported})")
        return value

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: list[str]) -> list[str]:
        for arn in value:
            check_pattern(arn, IAM_PRINCIPAL_ARN, "an IAM role or user ARN")
        return value

    @field_validator("deploy_role_arn")
    @classmethod
    def _deploy_role(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_pattern(value, IAM_ROLE_ARN, "an IAM role ARN")

    @field_validator("runner_security_group_ids")
    @classmethod
    def _runner_groups(cls, value: list[str]) -> list[str]:
        for group in value:
            check_pattern(group, SECURITY_GROUP_ID, "a security group id (sg-…)")
        if len(set(value)) != len(value):
            raise ValueError("security group ids must be unique")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return FlowLogsConfig._retention(value)

    @field_validator("node_groups")
    @classmethod
    def _unique_node_groups(cls, value: list[NodeGroupConfig]) -> list[NodeGroupConfig]:
        names = [group.name for group in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"node group names must be unique; repeated: {', '.join(duplicates)}")
        return value


# --------------------------------------------------------------------------------------------------
# paved-road:core — the shared services on the cluster

HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}\Z")
DOMAIN = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
PROMETHEUS_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+\Z")
REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?(/[-a-z0-9._/]*)?\Z")


class HostedZoneConfig(Model):
    id: str
    domain: str

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_pattern(value, HOSTED_ZONE_ID, "a Route 53 hosted zone id (Z…)")

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return check_pattern(value, DOMAIN, "a DNS domain (e.g. 'dev.example.com')")


class DnsConfig(Model):
    """The Route 53 zones the platform may write to: external-dns records, ACME challenges, and
    the validation records of the ACM certificates it requests for hosts in them."""

    zones: list[HostedZoneConfig] = Field(default_factory=list)

    @property
    def zone_ids(self) -> dict[str, str]:
        """Zone id by domain."""
        return {zone.domain: zone.id for zone in self.zones}


class IngressConfig(Model):
    """AWS Load Balancer Controller and the IngressClass tenants' apps use."""

    enabled: bool = True
    class_name: str = "alb"

    @field_validator("class_name")
    @classmethod
    def _class_name(cls, value: str) -> str:
        return check_pattern(value, DNS_LABEL, "a DNS-1123 label")


class CertManagerConfig(Model):
    enabled: bool = True
    issuer: Literal["none", "letsencrypt", "letsencrypt-staging"] = "none"
    acme_email: Optional[str] = None

    @field_validator("acme_email")
    @classmethod
    def _email(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_pattern(value, EMAIL, "an e-mail address")


class ExternalDnsConfig(Model):
    # None: on when DNS zones are configured, since without a zone it has nothing to manage.
    enabled: Optional[bool] = None
    policy: Literal["upsert-only", "sync"] = "upsert-only"


class PrometheusConfig(Model):
    retention: str = "15d"
    storage_size: str = "50Gi"
    replicas: int = Field(default=1, ge=1, le=3)

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        return check_pattern(value, PROMETHEUS_DURATION, "a Prometheus duration (e.g. '15d')")

    @field_validator("storage_size")
    @classmethod
    def _storage(cls, value: str) -> str:
        return check_pattern(value, QUANTITY, "a Kubernetes quantity (e.g. '50Gi')")


class LogsConfig(Model):
    enabled: bool = True
    retention_days: int = 30

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return FlowLogsConfig._retention(value)


class ObservabilityConfig(Model):
    enabled: bool = True
    prometheus: PrometheusConfig = PrometheusConfig()
    alertmanager_replicas: int = Field(default=1, ge=1, le=3)
    grafana: bool = True
    logs: LogsConfig = LogsConfig()


class SecretsConfig(Model):
    enabled: bool = True


class PolicyConfig(Model):
    enabled: bool = True
    # How the baseline fails: Enforce unless a development stack says `mode: Audit` explicitly
    # (refused in production). The isolation guardrails always enforce, whatever this says.
    mode: Literal["Enforce", "Audit"] = "Enforce"
    allowed_registries: list[str] = Field(default_factory=list)

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, value: list[str]) -> list[str]:
        for registry in value:
            check_pattern(registry, REGISTRY, "a registry or repository prefix (no scheme)")
        return value


# An https URL: printable ASCII, a host without '/', then any path.
HTTPS_URL = re.compile(r"^https://[\x21-\x2e\x30-\x7e]+(/[\x21-\x7e]*)?\Z")


class SsoConfig(Model):
    """OIDC single sign-on for Argo CD; the client secret is read from Secrets Manager."""

    issuer: str
    client_id: str
    admin_groups: list[str] = Field(default_factory=list)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return check_pattern(value, HTTPS_URL, "an https URL")


class GitOpsIngressConfig(Model):
    """How people reach Argo CD: an ALB Ingress at `hostname`, HTTPS only (HTTP redirects).

    `internal` by default: Argo CD can change everything in the cluster, so its login page is
    reachable from the VPC and the networks routed to it (VPN, Direct Connect), not the internet.
    A stack opens it with `scheme: internet-facing`, preferably with `inboundCidrs`.
    """

    # None: on when the ingress service runs and Argo CD has a hostname.
    enabled: Optional[bool] = None
    scheme: Literal["internal", "internet-facing"] = "internal"
    certificate: CertificateSource = "request"
    # Who may connect (the controller's default: the VPC for internal, anywhere otherwise).
    inbound_cidrs: list[Cidr] = Field(default_factory=list)


class GitOpsConfig(Model):
    enabled: bool = True
    # None: the local admin user is off when paved-road:production is true.
    admin_user: Optional[bool] = None
    sso: Optional[SsoConfig] = None
    # Argo CD's external name (SSO redirects go there). None: `argocd.<first DNS zone>`.
    hostname: Optional[str] = None
    ingress: GitOpsIngressConfig = GitOpsIngressConfig()

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_pattern(value, DOMAIN, "a DNS name")


class ClusterAutoscalerConfig(Model):
    enabled: bool = True
    # Which node group grows when several could host the pending pods (the autoscaler's default).
    expander: Literal["least-waste", "least-nodes", "most-pods", "random"] = "least-waste"


class KarpenterLimitsConfig(Model):
    """The most a NodePool may launch in total: a runaway Deployment stops at the bill's ceiling."""

    cpu: str = "64"
    memory: str = "256Gi"

    @field_validator("cpu", "memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        return check_pattern(value, QUANTITY, "a Kubernetes quantity (e.g. '64' or '256Gi')")


class KarpenterConfig(Model):
    """Karpenter's NodePools (components/core/karpenter.py): on-demand always, spot when `spot` is
    on (tainted, so only pods that tolerate interruption land there). Each pool has its own
    limits; nodes are consolidated when empty or underutilized after `consolidateAfter`."""

    on_demand: KarpenterLimitsConfig = KarpenterLimitsConfig()
    spot: bool = True
    spot_limits: KarpenterLimitsConfig = KarpenterLimitsConfig()
    consolidate_after: str = "1m"
    # Instance categories Karpenter may choose from (compute, general purpose, memory). Never the
    # t family: security groups for pods need a trunk interface, which it lacks.
    instance_categories: list[Literal["c", "m", "r"]] = Field(
        default_factory=lambda: ["c", "m", "r"], min_length=1
    )

    @field_validator("consolidate_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        return check_pattern(value, KARPENTER_DURATION, "a duration such as '30s', '5m' or '1h'")


# The NodePool CRD's pattern for `consolidateAfter` (or `Never`, which this platform refuses:
# a pool that never consolidates is the cost problem Karpenter is here to solve).
KARPENTER_DURATION = re.compile(r"^([0-9]+(s|m|h))+\Z")


class AutoscalingConfig(Model):
    """metrics-server (the resource metrics HPAs scale on), KEDA, and the settings of the node
    autoscaler `paved-road:cluster.autoscaling` chooses: the cluster autoscaler (node groups'
    size between their minSize and maxSize) or Karpenter (nodes launched to fit pending pods,
    beside the node groups, which then keep the system pods). Off: HPAs never scale and node
    groups stay at the size they were created with."""

    enabled: bool = True
    cluster_autoscaler: ClusterAutoscalerConfig = ClusterAutoscalerConfig()
    karpenter: KarpenterConfig = KarpenterConfig()
    # KEDA: tenants' event consumers scale on their queue's depth (components/resources/keda.py).
    keda: bool = True


class CostConfig(Model):
    """OpenCost (components/core/opencost.py): what each namespace's pods cost, as metrics in
    the in-cluster Prometheus, which it reads and which scrapes it: it runs only where
    observability does (like Grafana's dashboards, it follows its Prometheus)."""

    enabled: bool = True


class TracingConfig(Model):
    """An OpenTelemetry collector exporting apps' traces to AWS X-Ray (components/core/tracing.py).
    Off: no collector, and apps get no OpenTelemetry environment."""

    enabled: bool = True


# A GitHub organisation or user name, and a repository name, as GitHub accepts them.
GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}\Z")
GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9._-]{1,100}\Z")
GIT_BRANCH = re.compile(r"^(?!/)(?!.*(?:\.\.|//|@\{))[A-Za-z0-9._/-]{1,200}(?<![/.])\Z")


# The portal's database is a self-service `postgres` resource owned by the platform: named as a
# tenant `platform`'s resource `portal` would be (components/core/portal.py).
PORTAL_DATABASE_OWNER = "platform"
PORTAL_DATABASE = "portal"


class PortalConfig(Model):
    """The developer portal: Backstage from its official chart (components/core/portal.py).

    Off unless a stack asks for it. Backstage publishes no production image (each organisation
    builds its own app with the plugins it wants), so `image` names that build. `database`:
    `postgres` is an RDS instance built like a tenant's (components/resources/postgres.py);
    `bundled` is the chart's PostgreSQL subchart inside the cluster, for development only.
    Credentials are Secrets Manager names under the platform's prefix, never values: the GitHub
    token (property `token`) and the GitHub OAuth app (properties `clientId`, `clientSecret`).
    """

    enabled: bool = False
    image: Optional[str] = None
    database: Literal["postgres", "bundled"] = "postgres"
    # None: `portal.<first DNS zone>`.
    host: Optional[str] = None
    github_org: Optional[str] = None
    # The repository holding this platform's code, whose `catalog/all.yaml` Backstage reads.
    repository: str = "paved-road"
    branch: str = "main"
    # None: https://github.com/<githubOrg>/<repository>/blob/<branch>/catalog/all.yaml
    catalog_url: Optional[str] = None
    github_token_secret_name: str = "portal/github-token"
    github_oauth_secret_name: str = "portal/github-oauth"
    # The portal shows every team's services and opens pull requests: reachable from the VPC
    # and the networks routed to it unless the stack says otherwise, as Argo CD is.
    scheme: Literal["internal", "internet-facing"] = "internal"
    inbound_cidrs: list[Cidr] = Field(default_factory=list)

    @field_validator("image")
    @classmethod
    def _image(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_image(value)

    @field_validator("host")
    @classmethod
    def _host(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_pattern(value, DOMAIN, "a DNS name")

    @field_validator("github_org")
    @classmethod
    def _org(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        return check_pattern(value, GITHUB_OWNER, "a GitHub organisation name")

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        return check_pattern(value, GITHUB_REPOSITORY, "a GitHub repository name")

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        return check_pattern(value, GIT_BRANCH, "a Git branch name")

    @field_validator("catalog_url")
    @classmethod
    def _catalog_url(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_pattern(value, HTTPS_URL, "an https URL")

    @field_validator("github_token_secret_name", "github_oauth_secret_name", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        return check_secret_name(value)

    @property
    def catalog_location(self) -> Optional[str]:
        """Where Backstage reads the committed catalog (`pavedroad catalog` writes it)."""
        if self.catalog_url is not None:
            return self.catalog_url
        if self.github_org is None:
            return None
        return (
            f"https://github.com/{self.github_org}/{self.repository}/blob/{self.branch}"
            "/catalog/all.yaml"
        )


class CoreConfig(Model):
    dns: DnsConfig = DnsConfig()
    ingress: IngressConfig = IngressConfig()
    cert_manager: CertManagerConfig = CertManagerConfig()
    external_dns: ExternalDnsConfig = ExternalDnsConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    secrets: SecretsConfig = SecretsConfig()
    policy: PolicyConfig = PolicyConfig()
    gitops: GitOpsConfig = GitOpsConfig()
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    tracing: TracingConfig = TracingConfig()
    portal: PortalConfig = PortalConfig()
    cost: CostConfig = CostConfig()

    def resolved(self, production: bool) -> "CoreConfig":
        """Defaults that depend on the environment, made explicit so components never guess."""
        hostname = self.gitops.hostname or (
            f"argocd.{self.dns.zones[0].domain}" if self.dns.zones else None
        )
        gitops_ingress = self.gitops.ingress.model_copy(
            update={
                "enabled": (
                    self.ingress.enabled and hostname is not None
                    if self.gitops.ingress.enabled is None
                    else self.gitops.ingress.enabled
                )
            }
        )
        portal_host = self.portal.host or (
            f"portal.{self.dns.zones[0].domain}" if self.dns.zones else None
        )
        return self.model_copy(
            update={
                "portal": self.portal.model_copy(update={"host": portal_host}),
                "external_dns": self.external_dns.model_copy(
                    update={
                        "enabled": (
                            bool(self.dns.zones)
                            if self.external_dns.enabled is None
                            else self.external_dns.enabled
                        )
                    }
                ),
                "gitops": self.gitops.model_copy(
                    update={
                        "hostname": hostname,
                        "ingress": gitops_ingress,
                        "admin_user": (
                            (not production)
                            if self.gitops.admin_user is None
                            else self.gitops.admin_user
                        ),
                    }
                ),
            }
        )


# --------------------------------------------------------------------------------------------------
# paved-road:delivery — the rollout controller and the analysis templates releases are gated by


class DeliveryConfig(Model):
    """The release engine and the analysis every release is gated by.

    The analysis provider answers the templates' queries; the template names and arguments stay
    the same whichever it is, so apps never change when the platform changes provider. The
    engine is Argo Rollouts (the default) or Flagger: a tenant file's `release:` block means the
    same under both (components/flagger_config.py says what Flagger cannot express).
    """

    enabled: bool = True
    engine: Literal["argo-rollouts", "flagger"] = "argo-rollouts"
    # The Rollouts dashboard has no login of its own; it stays off unless asked for, read-only.
    dashboard: bool = False
    analysis_provider: Literal["prometheus", "datadog", "newrelic"] = "prometheus"
    # Feature flags (components/delivery/flags.py, components/flags.py): the OpenFeature
    # operator with flagd, LaunchDarkly's SDK key delivered to apps, or none.
    flags: Literal["openfeature", "launchdarkly", "none"] = "none"


# --------------------------------------------------------------------------------------------------
# The whole platform


# DevOps Guru analyses the resources tagged with one key starting `DevOps-Guru-` (its API's
# TagCollection.AppBoundaryKey): the stack's `paved-road:project` tag, restated under that prefix.
DEVOPS_GURU_TAG = "DevOps-Guru-paved-road-project"
SMARTHOST = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[0-9]{1,5}\Z")


class MailServerConfig(Model):
    """The SMTP server every `email` receiver sends through (e.g. Amazon SES's SMTP endpoint);
    its password is a secret under the platform's prefix, never a config value."""

    smarthost: str
    from_address: str
    username: Optional[str] = None
    password_secret_name: Optional[str] = None

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, value: str) -> str:
        return check_pattern(
            value, SMARTHOST, "host:port (e.g. 'email-smtp.eu-west-1.amazonaws.com:587')"
        )

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        return check_pattern(value, EMAIL, "an e-mail address")

    @field_validator("password_secret_name", mode="before")
    @classmethod
    def _password(cls, value: Any) -> Any:
        return value if value is None else check_secret_name(value)

    @model_validator(mode="after")
    def _credentials(self) -> "MailServerConfig":
        if (self.username is None) != (self.password_secret_name is None):
            raise ValueError(
                "username and passwordSecretName go together (or neither, for a relay)"
            )
        return self


class InsightsConfig(Model):
    """SLOs, anomaly and capacity alerts, their routing, dashboards and traces (components/insight).

    `runbookBaseUrl`: where alerts' `runbook_url` points, each alert an anchor of it (the README's
    "Observe" section in the platform repository, as reviewers and on-call read it).
    `receivers`: where the platform's own alerts go (secrets under `<project>/<env>/platform/`);
    `email`: the mail server of every `email` receiver, the teams' included.
    `devopsGuru`: Amazon DevOps Guru over the stack's resources, notifying the receivers (opt-in:
    it is billed per analysed resource hour).
    `budget`: the whole environment's monthly AWS budget (components/cost.py), over the
    `paved-road:environment` cost-allocation tag.
    """

    runbook_base_url: str = "https://github.com/paved-road/paved-road/blob/main/README.md"
    # Where alerts' `dashboard` links point (None: contract.DEFAULT_GRAFANA_URL, a port-forward).
    grafana_url: Optional[str] = None
    receivers: list[AlertReceiverConfig] = Field(default_factory=list, max_length=10)
    email: Optional[MailServerConfig] = None
    devops_guru: bool = False
    budget: Optional[BudgetConfig] = None

    @field_validator("runbook_base_url")
    @classmethod
    def _runbook(cls, value: str) -> str:
        return check_pattern(value, HTTPS_URL, "an https:// URL")

    @field_validator("grafana_url")
    @classmethod
    def _grafana(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else check_pattern(value, HTTPS_URL, "an https:// URL")


class PlatformConfig(Model):
    project: str
    environment: str
    region: str
    production: bool
    network: NetworkConfig
    cluster: ClusterConfig
    core: CoreConfig
    delivery: DeliveryConfig = DeliveryConfig()
    insights: InsightsConfig = InsightsConfig()
    tenants: tuple[TenantConfig, ...] = ()
    # Who owns what (governance.yaml, domains/): the same files for every stack.
    governance: Optional[GovernanceConfig] = None
    domains: tuple[DomainConfig, ...] = ()

    @property
    def runs_karpenter(self) -> bool:
        return self.core.autoscaling.enabled and self.cluster.autoscaling == "karpenter"

    @property
    def runs_cluster_autoscaler(self) -> bool:
        autoscaling = self.core.autoscaling
        return (
            autoscaling.enabled
            and self.cluster.autoscaling == "cluster-autoscaler"
            and autoscaling.cluster_autoscaler.enabled
        )

    def tenants_of(self, domain: str) -> list[TenantConfig]:
        """The stack's tenants whose file names `domain`: its squad's scope in this stack."""
        return [tenant for tenant in self.tenants if tenant.domain == domain]

    @property
    def prefix(self) -> str:
        """Physical-name prefix of every AWS resource: `<project>-<env>`."""
        return f"{self.project}-{self.environment}"

    @property
    def tags(self) -> dict[str, str]:
        """Cost-allocation tags every AWS resource carries; with DevOps Guru on, also the
        project under the tag key DevOps Guru's application boundary requires."""
        tags = {"paved-road:environment": self.environment, "paved-road:project": self.project}
        if self.insights.devops_guru:
            tags[DEVOPS_GURU_TAG] = self.project
        return tags


# --------------------------------------------------------------------------------------------------
# Reading a stack


def stack_file(stack: str) -> str:
    return f"{STACK_CONFIG_DIR}/Pulumi.{stack}.yaml"


def _parse_section(
    raw: Any, model: type[Model], file: str, key: str, issues: list[ConfigIssue]
) -> Optional[Model]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        issues.append(ConfigIssue(file, key, f"expected a mapping, got {raw!r}"))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        issues.extend(issues_from(error, file, key, model))
        return None


def _receiver_cross_checks(config: PlatformConfig, file: str) -> list[ConfigIssue]:
    """The platform's receivers field by field, and every `email` receiver's need of the
    platform's mail server (the team's file names the receiver; the stack file lacks the server)."""
    key = f"{PROJECT}:insights"
    issues = receiver_issues(config.insights.receivers, file, f"{key}.receivers")
    if config.insights.email is not None:
        return issues
    owners: list[tuple[str, str, list[AlertReceiverConfig]]] = [
        (file, f"{key}.receivers", list(config.insights.receivers))
    ]
    for tenant in config.tenants:
        owners.append((*tenant.source("alerts.receivers"), list(tenant.alerts.receivers)))
    for domain in config.domains:
        owners.append((domain.file, "squad.alerts.receivers", list(domain.squad.alerts.receivers)))
    for owner_file, where, receivers in owners:
        for index, receiver in enumerate(receivers):
            if receiver.type == "email":
                issues.append(
                    ConfigIssue(
                        owner_file,
                        f"{where}[{index}].to",
                        f"email needs the platform's mail server: {key}.email in {file} "
                        "(smarthost, fromAddress) is not set",
                    )
                )
    return issues


def _cross_checks(
    config: PlatformConfig, file: str, entry_of: Optional[dict[str, str]] = None
) -> list[ConfigIssue]:
    """Rules that span fields or sections, which a single field validator cannot see."""
    issues = _receiver_cross_checks(config, file)
    network, cluster = config.network, config.cluster
    if config.production and config.core.policy.mode == "Audit":
        issues.append(
            ConfigIssue(
                file,
                "paved-road:core.policy.mode",
                "'Audit' is not allowed when paved-road:production is true: production enforces "
                "the baseline (remove the key)",
            )
        )
    key = "paved-road:network"
    if network.existing_vpc is None:
        vpc = ipaddress.IPv4Network(network.cidr)
        private, public = network.subnet_plan()
        for name, cidrs in (("privateSubnets", private), ("publicSubnets", public)):
            if len(cidrs) != network.zone_count:
                issues.append(
                    ConfigIssue(
                        file,
                        f"{key}.{name}",
                        f"{len(cidrs)} subnets for {network.zone_count} availability zones "
                        "(expected one per zone)",
                    )
                )
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for name, cidrs in (("privateSubnets", private), ("publicSubnets", public)):
            for index, cidr in enumerate(cidrs):
                subnet = ipaddress.IPv4Network(cidr)
                where = f"{key}.{name}[{index}]"
                if not subnet.subnet_of(vpc):
                    issues.append(ConfigIssue(file, where, f"{cidr!r} is outside the VPC {vpc}"))
                for other_where, other in seen:
                    if subnet.overlaps(other):
                        issues.append(
                            ConfigIssue(file, where, f"{cidr!r} overlaps {other} ({other_where})")
                        )
                seen.append((where, subnet))
    for zone_index, zone in enumerate(network.availability_zones or []):
        if not zone.startswith(config.region):
            issues.append(
                ConfigIssue(
                    file,
                    f"{key}.availabilityZones[{zone_index}]",
                    f"{zone!r} is not a zone of region {config.region}",
                )
            )
    if config.production and covers_internet(cluster.public_access_cidrs):
        # The union, not each entry: two /1s open the API as wide as one /0.
        blocks = public_blocks(cluster.public_access_cidrs)
        verb = "opens" if len(blocks) == 1 else "together open"
        issues.append(
            ConfigIssue(
                file,
                "paved-road:cluster.publicAccessCidrs",
                f"{', '.join(blocks)} {verb} the Kubernetes API to the internet (at least a /8's "
                "worth of public addresses), which is not allowed when paved-road:production is "
                "true; list your office or VPN ranges",
            )
        )
    issues.extend(_cluster_checks(config, file))
    issues.extend(_core_checks(config.core, file))
    issues.extend(_portal_checks(config, file))
    issues.extend(_tls_checks(config, file))
    issues.extend(_host_checks(config, file, entry_of or {}))
    issues.extend(_delivery_checks(config.delivery, config.core, file))
    issues.extend(_flags_checks(config, file))
    if config.delivery.enabled and config.delivery.engine == "flagger":
        issues.extend(_flagger_app_checks(config, file))
    issues.extend(_resource_checks(config, file))
    if not config.delivery.enabled:
        for tenant in config.tenants:
            for index, app in enumerate(tenant.apps):
                if app.needs_rollout:
                    issues.append(
                        ConfigIssue(
                            *tenant.source(f"apps[{index}].release.strategy"),
                            f"app {app.name!r} is released by Argo Rollouts, but "
                            f"{PROJECT}:delivery.enabled is false in {file}; use strategy "
                            "'serviceSwitch' or turn delivery on",
                        )
                    )
    return issues


def _cluster_checks(config: PlatformConfig, file: str) -> list[ConfigIssue]:
    """The deploy path (who `pulumi up` logs in as, how it reaches a private endpoint) and the
    names EKS would refuse."""
    key = f"{PROJECT}:cluster"
    cluster = config.cluster
    issues = []
    if cluster.deploy_role_arn and cluster.deploy_role_arn in cluster.admins:
        issues.append(
            ConfigIssue(
                file,
                f"{key}.deployRoleArn",
                f"{cluster.deploy_role_arn!r} is also in {key}.admins; EKS allows one access "
                "entry per principal",
            )
        )
    if config.production and not cluster.deploy_role_arn:
        issues.append(
            ConfigIssue(
                file,
                f"{key}.deployRoleArn",
                f"is required when {PROJECT}:production is true: the role `pulumi up` uses to "
                "log in to the cluster, so deploys never depend on the identity that created it",
            )
        )
    if config.production and not (cluster.public_access_cidrs or cluster.runner_security_group_ids):
        issues.append(
            ConfigIssue(
                file,
                f"{key}.runnerSecurityGroupIds",
                f"the API endpoint is private and `pulumi up` has no way to reach it: list the "
                f"security groups of deploy runners inside the VPC here, or CI's egress ranges "
                f"in {key}.publicAccessCidrs",
            )
        )
    if cluster.autoscaling == "karpenter" and not config.core.autoscaling.enabled:
        issues.append(
            ConfigIssue(
                file,
                f"{key}.autoscaling",
                f"Karpenter runs as part of the core autoscaling service, which "
                f"{PROJECT}:core.autoscaling.enabled turns off; enable it or choose "
                "'cluster-autoscaler'",
            )
        )
    for index, group in enumerate(cluster.node_groups):
        for position, instance_type in enumerate(group.instance_types):
            if not supports_pod_security_groups(instance_type):
                issues.append(
                    ConfigIssue(
                        file,
                        f"{key}.nodeGroups[{index}].instanceTypes[{position}]",
                        f"{instance_type!r} cannot give pods security groups of their own (no "
                        "trunk interface: the t family and pre-Nitro types); tenants' data "
                        "stores admit only their pods' security group, so choose a Nitro type "
                        "such as m6i or m7g",
                    )
                )
        prefix = f"{config.prefix}-{group.name}-"
        if len(prefix) + NAME_PREFIX_SUFFIX > NODE_GROUP_NAME_MAX:
            issues.append(
                ConfigIssue(
                    file,
                    f"{key}.nodeGroups[{index}].name",
                    f"node group names start with {prefix!r} plus {NAME_PREFIX_SUFFIX} unique "
                    f"characters, over EKS's limit of {NODE_GROUP_NAME_MAX}; shorten the name "
                    f"(at most {NODE_GROUP_NAME_MAX - NAME_PREFIX_SUFFIX - len(config.prefix) - 2} "
                    "characters here)",
                )
            )
    return issues


def _core_checks(core: CoreConfig, file: str) -> list[ConfigIssue]:
    """Services that need another service, or DNS zones, to do their job."""
    key = f"{PROJECT}:core"
    issues = []
    if core.external_dns.enabled and not core.dns.zones:
        issues.append(
            ConfigIssue(
                file, f"{key}.externalDns.enabled", f"needs at least one zone in {key}.dns.zones"
            )
        )
    manager = core.cert_manager
    if manager.issuer != "none":
        if not manager.enabled:
            issues.append(
                ConfigIssue(file, f"{key}.certManager.issuer", "needs certManager.enabled")
            )
        if not manager.acme_email:
            issues.append(
                ConfigIssue(
                    file,
                    f"{key}.certManager.acmeEmail",
                    f"is required for issuer {manager.issuer!r}",
                )
            )
        if not core.dns.zones:
            issues.append(
                ConfigIssue(
                    file,
                    f"{key}.certManager.issuer",
                    f"{manager.issuer!r} solves DNS-01 challenges and needs {key}.dns.zones",
                )
            )
    if core.gitops.enabled and core.gitops.sso and not core.gitops.hostname:
        issues.append(
            ConfigIssue(
                file,
                f"{key}.gitops.hostname",
                "is required with sso (the identity provider redirects there); set it or "
                f"configure {key}.dns.zones",
            )
        )
    if core.gitops.enabled and core.gitops.sso and not core.secrets.enabled:
        issues.append(
            ConfigIssue(
                file,
                f"{key}.gitops.sso",
                "reads its client secret through the secrets service; enable core.secrets",
            )
        )
    return issues


def _portal_checks(config: PlatformConfig, file: str) -> list[ConfigIssue]:
    """What the portal needs from the rest of the stack: its image, a name with a certificate,
    the load balancer, the secrets service, and a database fit for the environment."""
    core, key = config.core, f"{PROJECT}:core"
    portal = core.portal
    if not portal.enabled:
        return []
    issues = []

    def issue(field: str, message: str) -> None:
        issues.append(ConfigIssue(file, f"{key}.portal.{field}", message))

    if portal.image is None:
        issue(
            "image",
            "is required when the portal is enabled: Backstage publishes no production image "
            "(each organisation builds its own app with its plugins), so build yours and name it "
            "here, pinned by a release tag or a digest (e.g. "
            "'123456789012.dkr.ecr.eu-west-1.amazonaws.com/platform/backstage:1.0.0')",
        )
    if portal.host is None:
        issue(
            "host",
            f"is required: the portal is served over HTTPS at a name in one of {key}.dns.zones, "
            "and none is configured; add a zone (the portal then lives at portal.<first zone>)",
        )
    if portal.github_org is None:
        issue(
            "githubOrg",
            "is required when the portal is enabled: its users and teams are read from that "
            "GitHub organisation (sign-in matches them) and the catalog lives in its repository",
        )
    if not core.ingress.enabled:
        issue("enabled", f"needs the load balancer controller ({key}.ingress.enabled)")
    if not core.secrets.enabled:
        issue(
            "enabled",
            f"reads the GitHub token and OAuth app through the secrets service; enable "
            f"{key}.secrets",
        )
    if portal.database == "bundled" and config.production:
        issue(
            "database",
            f"'bundled' (the chart's PostgreSQL inside the cluster) is for development only and "
            f"not allowed when {PROJECT}:production is true; use 'postgres' (an RDS instance)",
        )
    if portal.database == "postgres" and config.network.existing_vpc is not None:
        issue(
            "database",
            f"'postgres' needs the private subnets' ranges, unknown for {PROJECT}:network."
            "existingVpc; not supported yet",
        )
    if portal.database == "postgres":
        # The portal's database is named like a tenant's (`<prefix>-platform-portal`).
        for tenant in config.tenants:
            for index, resource in enumerate(tenant.resources):
                if (tenant.name, resource.name) == (PORTAL_DATABASE_OWNER, PORTAL_DATABASE):
                    issues.append(
                        ConfigIssue(
                            *tenant.source(f"resources[{index}].name"),
                            f"{resource.name!r} is the name of the portal's database in this "
                            f"stack ({key}.portal); choose another name",
                        )
                    )
    return issues


def _with_default_hosts(tenants: list[TenantConfig], core: CoreConfig) -> list[TenantConfig]:
    """An api-service without a `host` is served at `<app>.<tenant>.<first DNS zone>`."""
    if not core.ingress.enabled or not core.dns.zones:
        return tenants
    domain = core.dns.zones[0].domain
    resolved = []
    for tenant in tenants:
        apps = [
            (
                app.model_copy(update={"host": default_host(app, tenant.name, domain)})
                if serves_ingress(app) and app.host is None
                else app
            )
            for app in tenant.apps
        ]
        resolved.append(tenant.model_copy(update={"apps": apps}))
    return resolved


def _tls_checks(config: PlatformConfig, file: str) -> list[ConfigIssue]:
    """Every host served over HTTPS has a certificate the platform can get, and one owner."""
    core, key = config.core, f"{PROJECT}:core"
    domains = [zone.domain for zone in core.dns.zones]
    issues: list[ConfigIssue] = []
    served_by: dict[str, str] = {}

    def check(host: str, source: str, where: str, field: str, owner: str) -> None:
        if source == "request" and zone_for(host, domains) is None:
            issues.append(
                ConfigIssue(
                    where,
                    field,
                    f"{host!r} is in none of the zones of {key}.dns.zones in {file} "
                    f"({', '.join(domains) or 'none configured'}): the platform validates the "
                    "certificate it requests with a DNS record in one of them; use a host under "
                    "one, or `certificate: discover` for an ACM certificate managed elsewhere",
                )
            )
        if source == "request" and len(host) > ACM_DOMAIN_NAME_MAX:
            issues.append(
                ConfigIssue(
                    where,
                    field,
                    f"{host!r} has {len(host)} characters; ACM issues no certificate for a name "
                    f"longer than {ACM_DOMAIN_NAME_MAX}",
                )
            )
        # One owner per name, whatever its spelling (DNS names are case-insensitive).
        first = served_by.setdefault(host.lower().rstrip("."), owner)
        if first != owner:
            issues.append(ConfigIssue(where, field, f"{host!r} is already served by {first}"))

    gitops = core.gitops
    if gitops.enabled and gitops.ingress.enabled:
        if not core.ingress.enabled:
            issues.append(
                ConfigIssue(
                    file,
                    f"{key}.gitops.ingress.enabled",
                    f"needs the load balancer controller ({key}.ingress.enabled)",
                )
            )
        elif gitops.hostname is None:
            issues.append(
                ConfigIssue(
                    file,
                    f"{key}.gitops.hostname",
                    f"is required by gitops.ingress; set it or configure {key}.dns.zones",
                )
            )
        else:
            field = f"{key}.gitops.hostname"
            check(gitops.hostname, gitops.ingress.certificate, file, field, "Argo CD")
    portal = core.portal
    if portal.enabled and core.ingress.enabled and portal.host is not None:
        check(portal.host, "request", file, f"{key}.portal.host", "the portal")
    if not core.ingress.enabled:
        return issues
    for tenant in config.tenants:
        for index, app in enumerate(tenant.apps):
            if not serves_ingress(app):
                continue
            tenant_file, field = tenant.source(f"apps[{index}].host")
            if app.host is None:
                issues.append(
                    ConfigIssue(
                        tenant_file,
                        field,
                        f"is required: app {app.name!r} is served over HTTPS at a host name, "
                        f"and {key}.dns.zones in {file} has no zone to name one in",
                    )
                )
                continue
            owner = f"app {app.name!r} of tenant {tenant.name!r}"
            check(app.host, app.certificate, tenant_file, field, owner)
    return issues


def _host_checks(config: PlatformConfig, file: str, entry_of: dict[str, str]) -> list[ConfigIssue]:
    """Every tenant's names are its own: an app's host lies under `*.<tenant>.<zone>` for a
    configured zone, or the stack granted it to that tenant (`hosts` in the tenant's entry of the
    stack file). A name is under the most specific tenant subdomain holding it, so nested zones
    (`example.com` and `shop.example.com`) never give one name to two tenants. Hosts are compared
    as written: config accepts one spelling (lowercase, no trailing dot), as Kubernetes does."""
    core = config.core
    if not core.ingress.enabled:
        return []
    zones = [zone.domain for zone in core.dns.zones]
    subdomains = {f"{t.name}.{zone}": t.name for t in config.tenants for zone in zones}

    def subdomain_owner(host: str) -> Optional[str]:
        holding = [s for s in subdomains if host.endswith(f".{s}")]
        return subdomains[max(holding, key=len)] if holding else None

    issues: list[ConfigIssue] = []
    granted_to: dict[str, str] = {}
    for tenant in config.tenants:
        entry = entry_of.get(tenant.name, f"{PROJECT}:tenants")
        for index, host in enumerate(tenant.hosts):
            field = f"{entry}.hosts[{index}]"
            first = granted_to.setdefault(host, tenant.name)
            owner = subdomain_owner(host)
            if first != tenant.name:
                issues.append(
                    ConfigIssue(file, field, f"{host!r} is already granted to tenant {first!r}")
                )
            elif owner not in (None, tenant.name):
                issues.append(
                    ConfigIssue(
                        file,
                        field,
                        f"{host!r} is under tenant {owner!r}'s subdomain {owner}.<zone>",
                    )
                )
    gitops = core.gitops
    if gitops.enabled and gitops.ingress.enabled and gitops.hostname:
        holder = subdomain_owner(gitops.hostname) or granted_to.get(gitops.hostname)
        if holder is not None:
            issues.append(
                ConfigIssue(
                    file,
                    f"{PROJECT}:core.gitops.hostname",
                    f"{gitops.hostname!r} belongs to tenant {holder!r}; give Argo CD a name "
                    "outside the tenants' subdomains",
                )
            )
    portal = core.portal
    if portal.enabled and portal.host:
        holder = subdomain_owner(portal.host) or granted_to.get(portal.host)
        if holder is not None:
            issues.append(
                ConfigIssue(
                    file,
                    f"{PROJECT}:core.portal.host",
                    f"{portal.host!r} belongs to tenant {holder!r}; give the portal a name "
                    "outside the tenants' subdomains",
                )
            )
    for tenant in config.tenants:
        allowed = [f"*.{tenant.name}.{zone}" for zone in zones]
        for index, app in enumerate(tenant.apps):
            host = app.host
            if not serves_ingress(app) or host is None or host in tenant.hosts:
                continue
            owner = subdomain_owner(host)
            if owner == tenant.name:
                continue
            where = f"under tenant {owner!r}'s subdomain" if owner else "outside"
            own = ", ".join(allowed) or f"none: {PROJECT}:core.dns.zones is empty"
            issues.append(
                ConfigIssue(
                    *tenant.source(f"apps[{index}].host"),
                    f"{host!r} is {where} the tenant's names ({own}); another name needs a "
                    f"grant in {file}: `hosts` in the tenant's entry of {PROJECT}:tenants",
                )
            )
    return issues


def _resource_checks(config: PlatformConfig, file: str) -> list[ConfigIssue]:
    """What a tenant's resources need from the stack: physical names AWS accepts, DNS zones and
    ingress for a name (without them a name is not served, as apps are not)."""
    issues = []
    core = config.core
    for tenant in config.tenants:
        for index, resource in enumerate(tenant.resources):
            where = f"resources[{index}]"
            limit = NAME_LIMITS.get(resource.type)
            name = physical_name(config.prefix, tenant.name, resource)
            if limit is not None and len(name) > limit:
                issues.append(
                    ConfigIssue(
                        *tenant.source(f"{where}.name"),
                        f"the {resource.type} would be named {name!r}, longer than the "
                        f"{limit} characters AWS allows; choose a shorter name",
                    )
                )
            if resource.type in ("postgres", "redis") and config.network.existing_vpc is not None:
                issues.append(
                    ConfigIssue(
                        *tenant.source(f"{where}.type"),
                        f"a {resource.type} resource needs the private subnets' ranges, unknown "
                        f"for {PROJECT}:network.existingVpc in {file}; not supported yet",
                    )
                )
            # Without zones or ingress a dns name is not served (like the apps it names).
            if resource.type == "dns" and core.dns.zones and core.ingress.enabled:
                host = dns_host(resource, tenant.name, core.dns.zones[0].domain)
                if host in tenant.approved_hosts:
                    issues.append(
                        ConfigIssue(
                            *tenant.source(f"{where}.name"),
                            f"{host!r} is already a host of this tenant's apps",
                        )
                    )
                elif len(host) > ACM_DOMAIN_NAME_MAX:
                    issues.append(
                        ConfigIssue(
                            *tenant.source(f"{where}.name"),
                            f"{host!r} is longer than the {ACM_DOMAIN_NAME_MAX} characters of "
                            "an ACM certificate's domain name",
                        )
                    )
    return issues


def _flagger_app_checks(config: PlatformConfig, file: str) -> list[ConfigIssue]:
    """Each release a tenant file asks for, as Flagger would run it: what it cannot express is
    refused with the tenant file and field, so the file never half-means something else."""
    from components.apps_config import app_namespace
    from components.flagger_config import (
        GATEWAY_MAX_LISTENERS,
        GATEWAY_SHARED_LISTENERS,
        flagger_issues,
        flagger_names,
    )
    from components.resources_config import dns_hosts

    issues = [
        ConfigIssue(*tenant.source(f"apps[{index}].{field}"), message)
        for tenant in config.tenants
        for index, app in enumerate(tenant.apps)
        for field, message in flagger_issues(app, production=config.production)
    ]
    # One Gateway listener per approved host (the Gateway's as the platform builds it).
    domain = config.core.dns.zones[0].domain if config.core.dns.zones else None
    hosts = sum(
        len(
            {
                *tenant.approved_hosts,
                *(
                    host
                    for names in (
                        dns_hosts(list(tenant.resources), tenant.name, domain) if domain else {}
                    ).values()
                    for host in names
                ),
            }
        )
        for tenant in config.tenants
    )
    if hosts + GATEWAY_SHARED_LISTENERS > GATEWAY_MAX_LISTENERS:
        issues.append(
            ConfigIssue(
                file,
                f"{PROJECT}:delivery.engine",
                f"the tenants' {hosts} approved hosts need {hosts + GATEWAY_SHARED_LISTENERS} "
                f"listeners on the Gateway, which holds at most {GATEWAY_MAX_LISTENERS}",
            )
        )
    for tenant in config.tenants:
        # Flagger names the primary's Deployment and Services after the app: no other app of
        # the namespace may already be called that.
        made = {
            (app_namespace(app, tenant.namespace_names), name): app.name
            for app in tenant.apps
            for name in flagger_names(app)
        }
        for index, app in enumerate(tenant.apps):
            owner = made.get((app_namespace(app, tenant.namespace_names), app.name))
            if owner is not None:
                issues.append(
                    ConfigIssue(
                        *tenant.source(f"apps[{index}].name"),
                        f"{app.name!r} is taken: Flagger gives that name to the primary or "
                        f"canary version of app {owner!r} in the same namespace; choose another "
                        "name",
                    )
                )
    return issues


def _flagger_checks(core: CoreConfig, file: str) -> list[ConfigIssue]:
    """Flagger shifts traffic on a Gateway (components/core/gateway.py): its load balancer is the
    AWS Load Balancer Controller's, its listeners' certificates cert-manager's, and its analysis
    queries the platform's Prometheus."""
    field = f"{PROJECT}:delivery.engine"
    needs = [
        (core.ingress.enabled, f"{PROJECT}:core.ingress (its load balancer)"),
        (
            core.cert_manager.enabled and core.cert_manager.issuer != "none",
            f"{PROJECT}:core.certManager with an issuer (its listeners' certificates)",
        ),
        (core.observability.enabled, f"{PROJECT}:core.observability (its analysis queries)"),
    ]
    return [
        ConfigIssue(file, field, f"'flagger' needs {what}; enable it or use 'argo-rollouts'")
        for enabled, what in needs
        if not enabled
    ]


def _delivery_checks(delivery: DeliveryConfig, core: CoreConfig, file: str) -> list[ConfigIssue]:
    """The analysis provider needs what answers its queries or holds its credentials."""
    if not delivery.enabled:
        return []
    if delivery.engine == "flagger":
        issues = _flagger_checks(core, file)
        if delivery.analysis_provider != "prometheus":
            issues.append(
                ConfigIssue(
                    file,
                    f"{PROJECT}:delivery.analysisProvider",
                    f"{delivery.analysis_provider!r} is not available with engine 'flagger': its "
                    "MetricTemplates query the platform's Prometheus; use 'prometheus'",
                )
            )
        return issues
    field = f"{PROJECT}:delivery.analysisProvider"
    provider = delivery.analysis_provider
    if provider == "prometheus" and not core.observability.enabled:
        return [
            ConfigIssue(
                file,
                field,
                f"'prometheus' queries the in-cluster Prometheus; enable {PROJECT}:core."
                "observability, choose 'datadog' or 'newrelic', or set delivery.enabled: false",
            )
        ]
    if provider != "prometheus" and not core.secrets.enabled:
        return [
            ConfigIssue(
                file,
                field,
                f"{provider!r} reads its API credentials through the secrets service; enable "
                f"{PROJECT}:core.secrets",
            )
        ]
    return []


def _flags_checks(config: PlatformConfig, file: str) -> list[ConfigIssue]:
    """What each flag system needs from the stack, and tenants' flags and `flags: true` apps
    from the flag system the stack chose."""
    key = f"{PROJECT}:delivery.flags"
    mode, core = config.delivery.flags, config.core
    issues = []
    if mode == "openfeature" and not core.cert_manager.enabled:
        issues.append(
            ConfigIssue(
                file,
                key,
                "'openfeature': the OpenFeature operator serves its webhooks with a certificate "
                f"from cert-manager; enable {PROJECT}:core.certManager",
            )
        )
    if mode == "launchdarkly" and not core.secrets.enabled:
        issues.append(
            ConfigIssue(
                file,
                key,
                "'launchdarkly' delivers each app's SDK key from Secrets Manager through the "
                f"secrets service; enable {PROJECT}:core.secrets",
            )
        )
    for tenant in config.tenants:
        if tenant.flags and mode != "openfeature":
            where = (
                "LaunchDarkly keeps its flags in its own projects"
                if mode == "launchdarkly"
                else "no flag system runs"
            )
            issues.append(
                ConfigIssue(
                    *tenant.source("flags"),
                    f"flags are served by the OpenFeature operator, but {key} is {mode!r} in "
                    f"{file} ({where}); remove them or ask for 'openfeature'",
                )
            )
        for index, app in enumerate(tenant.apps):
            if not app.flags:
                continue
            if mode == "none":
                issues.append(
                    ConfigIssue(
                        *tenant.source(f"apps[{index}].flags"),
                        f"app {app.name!r} reads feature flags, but {key} is 'none' in {file}; "
                        "remove `flags: true` or ask for 'openfeature' or 'launchdarkly'",
                    )
                )
            elif mode == "openfeature" and not tenant.flags:
                issues.append(
                    ConfigIssue(
                        *tenant.source(f"apps[{index}].flags"),
                        f"app {app.name!r} reads feature flags, but the tenant declares none: "
                        "add them under `flags:` in the tenant file",
                    )
                )
    return issues


def _project_keys() -> list[str]:
    """The project's keys the stack sets (the SDK offers lookup by key only, not a listing)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return sorted(k.split(":", 1)[1] for k in keys if k.startswith(f"{PROJECT}:"))


def _tenant_entries(raw: Any) -> dict[str, str]:
    """Tenant name → its entry's field in the stack file (`paved-road:tenants[2]`)."""
    entries: dict[str, str] = {}
    for index, entry in enumerate(raw if isinstance(raw, list) else []):
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str):
            entries.setdefault(name, f"{PROJECT}:tenants[{index}]")
    return entries


def load_platform_config() -> PlatformConfig:
    """Parse and check the selected stack's configuration, or raise one `ConfigError` for all."""
    stack = pulumi.get_stack()
    file = stack_file(stack)
    issues: list[ConfigIssue] = []
    config = pulumi.Config(PROJECT)

    def read_object(key: str) -> Any:
        try:
            return config.get_object(key)
        except Exception:  # noqa: BLE001 — a malformed value is reported as a config issue
            issues.append(ConfigIssue(file, f"{PROJECT}:{key}", "is not valid structured config"))
            return None

    for key in _project_keys():
        if key not in KNOWN_KEYS:
            issues.append(
                ConfigIssue(
                    file, f"{PROJECT}:{key}", f"unknown key (allowed: {', '.join(KNOWN_KEYS)})"
                )
            )

    region = pulumi.Config("aws").get("region")
    if region is None:
        issues.append(ConfigIssue(file, "aws:region", "is required (e.g. 'eu-west-1')"))
    elif not REGION.fullmatch(region):
        issues.append(ConfigIssue(file, "aws:region", f"{region!r} is not an AWS region"))

    environment = config.get("environment") or stack
    if not DNS_LABEL.fullmatch(environment) or len(environment) > 20:
        issues.append(
            ConfigIssue(
                file,
                f"{PROJECT}:environment",
                f"{environment!r} is not a short DNS label (at most 20 characters)",
            )
        )
    production_raw = read_object("production")
    if production_raw is not None and not isinstance(production_raw, bool):
        issues.append(
            ConfigIssue(
                file, f"{PROJECT}:production", f"expected true or false, got {production_raw!r}"
            )
        )
        production_raw = None

    network = _parse_section(
        read_object("network"), NetworkConfig, file, f"{PROJECT}:network", issues
    )
    cluster = _parse_section(
        read_object("cluster"), ClusterConfig, file, f"{PROJECT}:cluster", issues
    )

    core = _parse_section(read_object("core"), CoreConfig, file, f"{PROJECT}:core", issues)
    delivery = _parse_section(
        read_object("delivery"), DeliveryConfig, file, f"{PROJECT}:delivery", issues
    )
    insights = _parse_section(
        read_object("insights"), InsightsConfig, file, f"{PROJECT}:insights", issues
    )

    tenants: list[TenantConfig] = []
    # Tenant files are checked even when a stack section failed, so one run lists every problem;
    # without a valid core section the platform's namespaces are unknown, and only the system
    # and delivery namespaces are reserved (the rest is checked once core parses).
    from components.core import platform_namespaces
    from components.delivery import NAMESPACES as DELIVERY_NAMESPACES
    from components.delivery.flags import NAMESPACES as FLAGS_NAMESPACES

    # Pulumi runs the program in the project directory, beside tenants/ and domains/.
    root = Path.cwd()
    governance, governance_issues = load_governance(root)
    domains, domain_issues = load_domains(root)
    issues.extend(governance_issues + domain_issues)
    stack_admins = [*cluster.admins, *filter(None, [cluster.deploy_role_arn])] if cluster else []
    platform_admins = list(stack_admins)
    if governance is not None:
        platform_admins += [*governance.core.principals, *governance.security.principals]

    raw_tenants = read_object("tenants")
    tenants, tenant_issues = load_tenants(
        raw_tenants,
        root=root,
        stack_file=file,
        key=f"{PROJECT}:tenants",
        # Delivery's namespace stays the platform's even while delivery is off, so switching
        # it on later never collides with a team's namespace.
        reserved_namespaces=[
            *(platform_namespaces(core.resolved(bool(production_raw))) if core else []),
            *DELIVERY_NAMESPACES,
            *FLAGS_NAMESPACES,
        ],
        # Principals with a platform access entry: a tenant cannot claim them again.
        admins=platform_admins,
    )
    issues.extend(tenant_issues)
    issues.extend(ownership_issues(tenants, domains, governance, stack_admins))

    if (
        issues
        or network is None
        or cluster is None
        or core is None
        or delivery is None
        or insights is None
    ):
        raise ConfigError(issues)
    core = core.resolved(bool(production_raw))
    platform = PlatformConfig(
        project=pulumi.get_project(),
        environment=environment,
        region=region,
        production=bool(production_raw),
        network=network,
        cluster=cluster,
        core=core,
        delivery=delivery,
        insights=insights,
        tenants=tuple(_with_default_hosts(tenants, core)),
        governance=governance,
        domains=tuple(domains),
    )
    issues.extend(_cross_checks(platform, file, _tenant_entries(raw_tenants)))
    if issues:
        raise ConfigError(issues)
    return platform
