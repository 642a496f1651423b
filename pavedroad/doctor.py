"""`pavedroad doctor STACK`: a preflight of the AWS account for one stack, before `pulumi up`.

`pulumi up` fails late and half-way: a missing role, a zone id pointing at another domain or an
instance type a zone does not offer surfaces after the VPC and the cluster exist. Each check here
asks the account one read-only question the stack's config depends on and prints one line:
`✓` it holds, `✗` it does not (and what to do), `?` the API could not answer (denied, not offered
in this partition or endpoint) — never counted as passing or failing, because it proves neither.

The stack is read through the program's own loader (`load_stack`, as `pavedroad catalog` does),
so a stack file the plan refuses is refused here with the same message and exit code 2.
Exit codes: 0 no check failed (`?` lines are listed; `--strict` makes them fail), 1 a check
failed, 2 bad input.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Optional
from urllib.parse import urlparse

if TYPE_CHECKING:
    import boto3

    from components.config import PlatformConfig

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# The names `pavedroad bootstrap` gives what it creates (its defaults).
STATE_BUCKET_TEMPLATE = "paved-road-state-{account}-{region}"
SECRETS_KEY_ALIAS = "alias/paved-road-secrets"
BOOTSTRAP_HINT = "run `python -m pavedroad bootstrap --region {region}`"

# Service Quotas codes (service, code): what the network of one stack consumes.
VPCS_PER_REGION = ("vpc", "L-F678F1CE")
NAT_GATEWAYS_PER_AZ = ("vpc", "L-FE5A380F")
ELASTIC_IPS = ("ec2", "L-0263D0A3")
# A NAT gateway counts against its zone's quota while pending, available or deleting.
COUNTED_NAT_STATES = ["pending", "available", "deleting"]

Status = Literal["ok", "failed", "unknown"]
MARKS: dict[Status, str] = {"ok": "✓", "failed": "✗", "unknown": "?"}


@dataclass(frozen=True)
class Result:
    """One line of the report: what was checked, and on ✗ what to do, on ? why it could not."""

    status: Status
    text: str
    detail: str = ""

    def line(self) -> str:
        if self.status == "ok":
            return f"✓ {self.text}"
        if self.status == "failed":
            return f"✗ {self.text} — {self.detail}"
        return f"? {self.text} could not check: {self.detail}"


def ok(text: str) -> Result:
    return Result("ok", text)


def failed(text: str, fix: str) -> Result:
    return Result("failed", text, fix)


def unknown(text: str, reason: str) -> Result:
    return Result("unknown", text, reason)


class Unanswered(Exception):
    """The API gave no answer that proves anything either way (denied, missing, unreachable)."""


def reason_of(error: Exception) -> str:
    """A one-line reason from a botocore error; an endpoint without the operation answers with a
    bare HTTP status (and an HTML page), which is named as such rather than quoted."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        code = str(details.get("Code", ""))
        operation = getattr(error, "operation_name", "the call")
        if code.isdigit():
            offered = " (the endpoint does not offer it)" if code in ("404", "501") else ""
            return f"{operation} answered HTTP {code}{offered}"
        message = str(details.get("Message", "")).strip().splitlines()
        return f"{operation}: {code}" + (f": {message[0][:160]}" if message else "")
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


@dataclass
class Context:
    """What every check reads: the stack's config, an AWS session in its region, the caller."""

    config: "PlatformConfig"
    session: "boto3.Session"
    state_bucket: Optional[str] = None
    secrets_key: Optional[str] = None
    account: str = ""
    caller_arn: str = ""
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            # Few retries and short timeouts: a preflight should answer in seconds, not minutes.
            config = Config(
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            )
            self._clients[service] = self.session.client(service, config=config)
        return self._clients[service]

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """One API call; any error the check does not interpret becomes `Unanswered`."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return dict(getattr(self.client(service), operation)(**params))
        except (ClientError, BotoCoreError) as error:
            raise Unanswered(reason_of(error)) from error

    def pages(self, service: str, operation: str, key: str, **params: Any) -> list[Any]:
        """Every item under `key` across the operation's pages."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            paginator = self.client(service).get_paginator(operation)
            return [item for page in paginator.paginate(**params) for item in page.get(key, [])]
        except (ClientError, BotoCoreError) as error:
            raise Unanswered(reason_of(error)) from error


# --------------------------------------------------------------------------------------------------
# Credentials and account


def principal_accounts(config: "PlatformConfig") -> dict[str, str]:
    """Account ids named by the cluster's admin and deploy role ARNs, by ARN: the stack is meant
    for that account, and EKS access entries name principals of the cluster's own account."""
    arns = [*config.cluster.admins, *filter(None, [config.cluster.deploy_role_arn])]
    return {arn: arn.split(":")[4] for arn in arns}


def check_credentials(ctx: Context) -> Result:
    """Who the checks (and `pulumi up`) run as; everything else depends on it."""
    try:
        identity = ctx.call("sts", "get_caller_identity")
    except Unanswered as error:
        return failed(
            "AWS credentials",
            f"none usable ({error}); sign in (e.g. `aws sso login`, AWS_PROFILE) and run again",
        )
    ctx.account, ctx.caller_arn = str(identity["Account"]), str(identity["Arn"])
    text = f"credentials: account {ctx.account} as {ctx.caller_arn}"
    others = sorted({acct for acct in principal_accounts(ctx.config).values()} - {ctx.account})
    if others:
        return failed(
            text,
            f"the stack's cluster.admins/deployRoleArn name account {', '.join(others)}; use "
            "credentials for that account or fix the ARNs",
        )
    return ok(text)


# --------------------------------------------------------------------------------------------------
# Region


def check_region(ctx: Context) -> Result:
    """An opt-in region not enabled refuses every call of `pulumi up`. The Account API says so
    directly; when it is denied or not offered, EC2's region list carries the opt-in status."""
    region = ctx.config.region
    text = f"region {region} enabled"
    fix = f"enable {region} (AWS console: Account → AWS Regions) or choose another aws:region"
    try:
        status = str(
            ctx.call("account", "get_region_opt_status", RegionName=region)["RegionOptStatus"]
        )
        return (
            ok(text)
            if status in ("ENABLED", "ENABLED_BY_DEFAULT")
            else failed(text, f"{status}; {fix}")
        )
    except Unanswered:
        pass
    try:
        regions = ctx.call("ec2", "describe_regions", AllRegions=True)["Regions"]
    except Unanswered as error:
        return unknown(text, str(error))
    status_by_region = {r["RegionName"]: r.get("OptInStatus", "") for r in regions}
    if region not in status_by_region:
        return failed(text, f"{region} is not a region of this partition; fix aws:region")
    if status_by_region[region] == "not-opted-in":
        return failed(text, f"not opted in; {fix}")
    return ok(text)


# --------------------------------------------------------------------------------------------------
# Pulumi's state bucket and secrets key


def state_bucket_name(ctx: Context) -> str:
    """`--state-bucket`, else the bucket of PULUMI_BACKEND_URL (s3://bucket/prefix?region=…),
    else the name `pavedroad bootstrap` gives it."""
    if ctx.state_bucket:
        return ctx.state_bucket
    backend = os.environ.get("PULUMI_BACKEND_URL", "")
    if backend.startswith("s3://"):
        return urlparse(backend).netloc
    return STATE_BUCKET_TEMPLATE.format(account=ctx.account, region=ctx.config.region)


def check_state_bucket(ctx: Context) -> Result:
    """Pulumi's state lives in this bucket; without it `pulumi login` has nothing to log in to."""
    bucket = state_bucket_name(ctx)
    text = f"state bucket s3://{bucket} reachable"
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ctx.client("s3").head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error_code(error)
        if code in ("404", "NoSuchBucket"):
            return failed(
                text, "no such bucket; " + BOOTSTRAP_HINT.format(region=ctx.config.region)
            )
        if code in ("403", "AccessDenied"):
            return unknown(text, "access denied (another account's bucket, or no s3:ListBucket)")
        return unknown(text, reason_of(error))
    except BotoCoreError as error:
        return unknown(text, reason_of(error))
    return ok(text)


def secrets_key_id(ctx: Context, project_dir: Path, stack: str) -> str:
    """`--secrets-key`, else the key of the stack file's `secretsprovider: awskms://…` (what
    `pulumi stack init --secrets-provider` wrote), else the alias `pavedroad bootstrap` creates."""
    if ctx.secrets_key:
        return ctx.secrets_key
    from components import safe_yaml

    document = safe_yaml.load_file(project_dir, f"stacks/Pulumi.{stack}.yaml") or {}
    provider = str(document.get("secretsprovider", "")) if isinstance(document, dict) else ""
    if provider.startswith("awskms://"):
        return provider[len("awskms://") :].split("?", 1)[0]
    return SECRETS_KEY_ALIAS


def check_secrets_key(ctx: Context, key_id: str) -> Result:
    """Pulumi encrypts the stack's secrets with this key; a disabled key fails every update."""
    text = f"secrets key {key_id} usable"
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        metadata = ctx.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as error:
        if error_code(error) == "NotFoundException":
            return failed(text, "no such key; " + BOOTSTRAP_HINT.format(region=ctx.config.region))
        return unknown(text, reason_of(error))
    except BotoCoreError as error:
        return unknown(text, reason_of(error))
    state = metadata.get("KeyState", "")
    if state != "Enabled":
        return failed(
            text, f"the key is {state}; enable it (kms enable-key) or cancel its deletion"
        )
    return ok(text)


# --------------------------------------------------------------------------------------------------
# Principals


def stack_principals(config: "PlatformConfig") -> dict[str, str]:
    """Every IAM principal the stack grants cluster access to, with the field naming it."""
    principals = {arn: "cluster.admins" for arn in config.cluster.admins}
    if config.cluster.deploy_role_arn:
        principals[config.cluster.deploy_role_arn] = "cluster.deployRoleArn"
    for tenant in config.tenants:
        for role in ("owners", "developers", "viewers"):
            for arn in getattr(tenant, role):
                principals.setdefault(arn, f"tenant {tenant.name} {role}")
    return dict(sorted(principals.items()))


def check_principals(ctx: Context) -> Result:
    """EKS refuses an access entry for a principal that does not exist, mid-update."""
    from botocore.exceptions import BotoCoreError, ClientError

    principals = stack_principals(ctx.config)
    text = f"{len(principals)} IAM principal(s) of the stack exist"
    missing, unchecked = [], []
    iam = ctx.client("iam")
    for arn, source in principals.items():
        kind, _, path = arn.split(":", 5)[5].partition("/")
        name = path.rsplit("/", 1)[-1]
        if arn.split(":")[4] != ctx.account:
            unchecked.append(f"{arn} (another account)")
            continue
        try:
            iam.get_role(RoleName=name) if kind == "role" else iam.get_user(UserName=name)
        except ClientError as error:
            if error_code(error) == "NoSuchEntity":
                missing.append(f"{arn} ({source})")
            else:
                unchecked.append(f"{arn} ({reason_of(error)})")
        except BotoCoreError as error:
            unchecked.append(f"{arn} ({reason_of(error)})")
    if missing:
        return failed(text, f"missing: {', '.join(missing)}; create them or fix the stack file")
    if unchecked:
        return unknown(text, "; ".join(unchecked))
    return ok(text)


# --------------------------------------------------------------------------------------------------
# Route 53 zones


def judge_zone(zone_id: str, domain: str, hosted_zone: dict[str, Any]) -> Result:
    """The zone must be the domain's, and public: ACME challenges and ACM's validation records
    are resolved from the internet, and external-dns publishes the apps' public names."""
    text = f"Route 53 zone {zone_id} is {domain}"
    name = str(hosted_zone.get("Name", ""))
    if name.rstrip(".") != domain:
        return failed(text, f"the zone is {name!r}; fix core.dns.zones or use the zone of {domain}")
    if hosted_zone.get("Config", {}).get("PrivateZone"):
        return failed(text, "it is a private zone; certificates need a public zone of the domain")
    return ok(f"{text} (public)")


def check_zones(ctx: Context) -> list[Result]:
    results = []
    for zone in ctx.config.core.dns.zones:
        text = f"Route 53 zone {zone.id} is {zone.domain}"
        try:
            hosted = ctx.call("route53", "get_hosted_zone", Id=zone.id)["HostedZone"]
        except Unanswered as error:
            if error_code(error.__cause__) == "NoSuchHostedZone":  # type: ignore[arg-type]
                results.append(failed(text, "no such zone; create it or fix core.dns.zones"))
            else:
                results.append(unknown(text, str(error)))
            continue
        results.append(judge_zone(zone.id, zone.domain, hosted))
    return results or [ok("no Route 53 zones configured")]


# --------------------------------------------------------------------------------------------------
# Availability zones and instance types


def network_zones(ctx: Context) -> list[str]:
    """The zones the network places subnets in, as components/network.py chooses them: the
    configured ones; for an existing VPC, its private subnets' zones; else the first `azCount`
    of the region's available zones, sorted, that need no opt-in (Local and Wavelength Zones do,
    and the provider's zone lookup leaves them out)."""
    network = ctx.config.network
    if network.existing_vpc is not None:
        subnets = ctx.call(
            "ec2", "describe_subnets", SubnetIds=list(network.existing_vpc.private_subnet_ids)
        )["Subnets"]
        return sorted({s["AvailabilityZone"] for s in subnets})
    if network.availability_zones:
        return list(network.availability_zones)
    zones = ctx.call(
        "ec2",
        "describe_availability_zones",
        Filters=[
            {"Name": "state", "Values": ["available"]},
            {"Name": "opt-in-status", "Values": ["opt-in-not-required"]},
        ],
    )["AvailabilityZones"]
    return sorted(z["ZoneName"] for z in zones)[: network.az_count]


def check_zones_available(ctx: Context, zones: list[str]) -> Result:
    network = ctx.config.network
    text = f"availability zones: {', '.join(zones) or 'none'}"
    if network.existing_vpc is not None:
        # EKS refuses a cluster whose subnets are not in at least two zones.
        if len(zones) < 2:
            return failed(text, "network.existingVpc.privateSubnetIds must span two zones")
        return ok(text)
    if len(zones) < network.zone_count:
        return failed(
            text,
            f"the network needs {network.zone_count}; set network.availabilityZones or azCount",
        )
    return ok(text)


def check_instance_types(ctx: Context, zones: list[str]) -> list[Result]:
    """A node group whose type a zone lacks cannot place nodes there (EKS reports it only when
    the group is created)."""
    results = []
    for group in ctx.config.cluster.node_groups:
        text = f"node group {group.name}: {', '.join(group.instance_types)} offered in every zone"
        try:
            offerings = ctx.pages(
                "ec2",
                "describe_instance_type_offerings",
                "InstanceTypeOfferings",
                LocationType="availability-zone",
                Filters=[
                    {"Name": "instance-type", "Values": list(group.instance_types)},
                    {"Name": "location", "Values": zones},
                ],
            )
        except Unanswered as error:
            results.append(unknown(text, str(error)))
            continue
        offered = {(o["InstanceType"], o["Location"]) for o in offerings}
        gaps = [
            f"{kind} in {zone}"
            for kind in group.instance_types
            for zone in zones
            if (kind, zone) not in offered
        ]
        if gaps:
            results.append(
                failed(
                    text,
                    f"not offered: {', '.join(gaps)}; choose other instanceTypes or set "
                    "network.availabilityZones",
                )
            )
        else:
            results.append(ok(text))
    return results


# --------------------------------------------------------------------------------------------------
# EKS version and add-ons


def judge_cluster_version(version: str, cluster_versions: list[dict[str, Any]]) -> Result:
    """From DescribeClusterVersions: the minor must be offered and not past its support."""
    text = f"EKS offers Kubernetes {version}"
    entry = next((v for v in cluster_versions if v.get("clusterVersion") == version), None)
    if entry is None:
        return failed(text, "not offered in this region; choose another cluster.version")
    status = str(entry.get("versionStatus") or entry.get("status") or "").upper().replace("-", "_")
    if status == "UNSUPPORTED":
        return failed(text, "it is past its support; move cluster.version to a supported minor")
    if status == "EXTENDED_SUPPORT":
        return ok(f"{text} (extended support: billed at the extended-support rate)")
    return ok(text)


def check_cluster_version(ctx: Context) -> Result:
    """DescribeClusterVersions answers directly; where it is not offered, a version EKS builds
    add-ons for is one it runs (DescribeAddonVersions' compatibilities)."""
    version = ctx.config.cluster.version
    try:
        found = ctx.call("eks", "describe_cluster_versions", clusterVersions=[version])
        return judge_cluster_version(version, found.get("clusterVersions", []))
    except Unanswered as first:
        try:
            addons = ctx.pages(
                "eks",
                "describe_addon_versions",
                "addons",
                kubernetesVersion=version,
                addonName="kube-proxy",
            )
        except Unanswered as second:
            return unknown(f"EKS offers Kubernetes {version}", f"{first}; {second}")
    return judge_addon_compatibility(version, addons)


def judge_addon_compatibility(version: str, addons: list[dict[str, Any]]) -> Result:
    text = f"EKS offers Kubernetes {version}"
    builds = [
        build
        for addon in addons
        for build in addon.get("addonVersions", [])
        if any(c.get("clusterVersion") == version for c in build.get("compatibilities", []))
    ]
    return ok(text) if builds else failed(text, "no add-on builds for it; choose another version")


def judge_addons(
    version: str, pinned: dict[str, str], addons_by_name: dict[str, list[dict[str, Any]]]
) -> Result:
    """Each pinned build (components/versions.py) must be published for the cluster's minor:
    `pulumi up` would otherwise fail creating the add-on after the cluster exists."""
    text = f"{len(pinned)} pinned EKS add-on builds available for {version}"
    missing = []
    for name, build in sorted(pinned.items()):
        published = {
            v.get("addonVersion")
            for addon in addons_by_name.get(name, [])
            for v in addon.get("addonVersions", [])
            if any(c.get("clusterVersion") == version for c in v.get("compatibilities", []))
        }
        if build not in published:
            missing.append(f"{name} {build}")
    if missing:
        return failed(text, f"not published: {', '.join(missing)}; update components/versions.py")
    return ok(text)


def check_addons(ctx: Context) -> Result:
    from components.versions import EKS_ADDONS

    version = ctx.config.cluster.version
    pinned = dict(EKS_ADDONS[version])
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        for name in sorted(pinned):
            found[name] = ctx.pages(
                "eks",
                "describe_addon_versions",
                "addons",
                kubernetesVersion=version,
                addonName=name,
            )
    except Unanswered as error:
        return unknown(
            f"{len(pinned)} pinned EKS add-on builds available for {version}", str(error)
        )
    return judge_addons(version, pinned, found)


# --------------------------------------------------------------------------------------------------
# Service Quotas


def quota_value(ctx: Context, service: str, code: str) -> float:
    """The applied value; a quota never raised has none, so AWS's default is the value then."""
    try:
        return float(
            ctx.call("service-quotas", "get_service_quota", ServiceCode=service, QuotaCode=code)[
                "Quota"
            ]["Value"]
        )
    except Unanswered as error:
        if error_code(error.__cause__) != "NoSuchResourceException":  # type: ignore[arg-type]
            raise
    return float(
        ctx.call(
            "service-quotas", "get_aws_default_service_quota", ServiceCode=service, QuotaCode=code
        )["Quota"]["Value"]
    )


def judge_quota(name: str, code: str, limit: float, used: int, needed: int) -> Result:
    text = f"quota {name} ({code}): {used} used + {needed} needed of {limit:g}"
    if used + needed > limit:
        return failed(
            text, f"request an increase in Service Quotas or free {used + needed - int(limit)}"
        )
    return ok(text)


def nat_gateways_needed(ctx: Context, zones: list[str]) -> dict[str, int]:
    """NAT gateways the network creates per zone: one per zone, or one in the first."""
    network = ctx.config.network
    if network.existing_vpc is not None or not zones:
        return {}
    return {zone: 1 for zone in (zones if network.nat_gateways == "perAz" else zones[:1])}


def check_vpc_quota(ctx: Context) -> Result:
    name, (service, code) = "VPCs per Region", VPCS_PER_REGION
    needed = 0 if ctx.config.network.existing_vpc is not None else 1
    try:
        limit = quota_value(ctx, service, code)
        used = len(ctx.pages("ec2", "describe_vpcs", "Vpcs"))
    except Unanswered as error:
        return unknown(f"quota {name} ({code})", str(error))
    return judge_quota(name, code, limit, used, needed)


def check_eip_quota(ctx: Context, zones: list[str]) -> Result:
    name, (service, code) = "EC2-VPC Elastic IPs", ELASTIC_IPS
    needed = sum(nat_gateways_needed(ctx, zones).values())  # one address per NAT gateway
    try:
        limit = quota_value(ctx, service, code)
        used = len(ctx.call("ec2", "describe_addresses")["Addresses"])
    except Unanswered as error:
        return unknown(f"quota {name} ({code})", str(error))
    return judge_quota(name, code, limit, used, needed)


def check_nat_quota(ctx: Context, zones: list[str]) -> Result:
    name, (service, code) = "NAT gateways per Availability Zone", NAT_GATEWAYS_PER_AZ
    needed = nat_gateways_needed(ctx, zones)
    try:
        limit = quota_value(ctx, service, code)
        gateways = ctx.pages(
            "ec2",
            "describe_nat_gateways",
            "NatGateways",
            Filters=[{"Name": "state", "Values": COUNTED_NAT_STATES}],
        )
        subnet_ids = sorted({g["SubnetId"] for g in gateways})
        subnets = (
            ctx.pages("ec2", "describe_subnets", "Subnets", SubnetIds=subnet_ids)
            if subnet_ids
            else []
        )
    except Unanswered as error:
        return unknown(f"quota {name} ({code})", str(error))
    zone_of = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    used = Counter(zone_of.get(g["SubnetId"], "") for g in gateways)
    # The fullest zone the stack adds to decides; zones it adds nothing to cannot fail.
    zone = max(needed, key=lambda z: (used[z], z), default="")
    return judge_quota(
        f"{name}{f' in {zone}' if zone else ''}",
        code,
        limit,
        used[zone] if zone else 0,
        needed.get(zone, 0),
    )


# --------------------------------------------------------------------------------------------------
# The run


def run_checks(ctx: Context, project_dir: Path, stack: str) -> list[Result]:
    """Every check in order; without credentials nothing else can be asked."""
    results = [check_credentials(ctx)]
    if results[0].status != "ok" and not ctx.account:
        return results
    results.append(check_region(ctx))
    results.append(check_state_bucket(ctx))
    results.append(check_secrets_key(ctx, secrets_key_id(ctx, project_dir, stack)))
    results.append(check_principals(ctx))
    results.extend(check_zones(ctx))
    try:
        zones = network_zones(ctx)
    except Unanswered as error:
        zones = []
        if error_code(error.__cause__).startswith("InvalidSubnetID"):  # type: ignore[arg-type]
            results.append(
                failed("availability zones", f"{error}; fix network.existingVpc.privateSubnetIds")
            )
        else:
            results.append(unknown("availability zones", str(error)))
    else:
        results.append(check_zones_available(ctx, zones))
        results.extend(check_instance_types(ctx, zones))
    results.append(check_cluster_version(ctx))
    results.append(check_addons(ctx))
    results.append(check_vpc_quota(ctx))
    results.append(check_eip_quota(ctx, zones))
    results.append(check_nat_quota(ctx, zones))
    return results


def exit_code(results: Iterable[Result], strict: bool) -> int:
    statuses = {r.status for r in results}
    if "failed" in statuses or (strict and "unknown" in statuses):
        return EXIT_FAILED
    return EXIT_OK


def main(
    stack: str,
    project_dir: Path,
    state_bucket: Optional[str] = None,
    secrets_key: Optional[str] = None,
    strict: bool = False,
) -> int:
    from components.config import ConfigError
    from pavedroad.catalog import load_stack
    from pavedroad.engine import StackFileError

    try:
        config = load_stack(stack, project_dir)
    except (ConfigError, StackFileError) as error:
        print(str(error), file=sys.stderr)
        print("Nothing was checked. Fix the configuration and run doctor again.", file=sys.stderr)
        return EXIT_BAD_INPUT
    import boto3

    ctx = Context(
        config,
        boto3.Session(region_name=config.region),
        state_bucket=state_bucket,
        secrets_key=secrets_key,
    )
    print(f"Preflight of stack {stack} ({config.region}):")
    results = run_checks(ctx, project_dir, stack)
    for result in results:
        print(result.line())
    counts = Counter(r.status for r in results)
    print(
        f"\n{counts['ok']} passed, {counts['failed']} failed, {counts['unknown']} could not be "
        "checked" + (" (--strict: they fail the run)" if strict and counts["unknown"] else "")
    )
    return exit_code(results, strict)
