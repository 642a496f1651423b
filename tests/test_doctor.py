"""`pavedroad doctor STACK` against moto's server: an account set up through the API, then each
check passing, failing with its own line, or reporting `?` where moto does not offer the API."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from pavedroad import doctor
from tests.conftest import ROOT, make_project, stack_config
from tests.moto_server import ACCOUNT_ID, REGION, MotoServer, aws, moto_server  # noqa: F401

DOMAIN = "dev.paved-road.example"
BUCKET = f"paved-road-state-{ACCOUNT_ID}-{REGION}"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"}
        ],
    }
)


def create_zone(server: MotoServer, domain: str, private: bool = False) -> str:
    """A hosted zone for `domain`. Route 53 zone ids start with Z (and the config accepts no
    other); moto draws ids from all capitals and digits, so zones are drawn (from a fixed seed)
    until one looks like AWS's."""
    request = urllib.request.Request(f"{server.endpoint}/moto-api/seed?a=14", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    route53 = boto3.client("route53")
    extra: dict[str, Any] = {}
    if private:
        vpc = boto3.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
        extra = {
            "VPC": {"VPCRegion": REGION, "VPCId": vpc},
            "HostedZoneConfig": {"PrivateZone": True},
        }
    for attempt in range(1000):
        zone = route53.create_hosted_zone(Name=domain, CallerReference=f"ref-{attempt}", **extra)
        zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
        if zone_id.startswith("Z"):
            return zone_id
        route53.delete_hosted_zone(Id=zone_id)
    raise AssertionError("moto drew no zone id starting with Z")


def principals_of(config: dict[str, Any], tmp_path: Path) -> list[str]:
    """The stack's principals as doctor reads them: through the program's loader."""
    from pavedroad.catalog import load_stack

    return list(doctor.stack_principals(load_stack("dev", make_project(tmp_path, config, "dev"))))


class Account:
    """A good account for the dev stack, and the project whose stack file names its zone."""

    def __init__(self, server: MotoServer, tmp_path: Path) -> None:
        self.server, self.tmp_path = server, tmp_path
        self.config = copy.deepcopy(stack_config("dev"))
        boto3.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        kms = boto3.client("kms")
        self.key_id = kms.create_key(Description="secrets")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/paved-road-secrets", TargetKeyId=self.key_id)
        iam = boto3.client("iam")
        for arn in principals_of(self.config, tmp_path):
            iam.create_role(RoleName=arn.rsplit("/", 1)[-1], AssumeRolePolicyDocument=TRUST)
        self.zone_id = create_zone(server, DOMAIN)
        self.config["paved-road:core"]["dns"]["zones"] = [{"id": self.zone_id, "domain": DOMAIN}]

    def run(self, *args: str) -> tuple[int, list[str]]:
        """doctor in this process (boto3 is pointed at moto by the `aws` fixture)."""
        project = make_project(self.tmp_path, self.config, "dev")
        out = self.tmp_path / "out.txt"
        with out.open("w") as stream:
            saved, sys.stdout = sys.stdout, stream
            try:
                code = doctor.main("dev", project, *args)  # type: ignore[arg-type]
            finally:
                sys.stdout = saved
        return code, out.read_text().splitlines()


@pytest.fixture
def account(
    aws: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> Account:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)  # the developer's own backend
    return Account(aws, tmp_path)


def line(lines: list[str], start: str) -> str:
    found = [entry for entry in lines if entry.startswith(start)]
    assert len(found) == 1, f"expected one line starting {start!r} in:\n" + "\n".join(lines)
    return found[0]


MOTO_LACKS = {
    # check → the reason printed (moto 5.2.5's server has no route for these operations)
    "? EKS offers Kubernetes 1.35 could not check": "DescribeClusterVersions answered HTTP 404",
    "? 5 pinned EKS add-on builds available for 1.35 could not check": (
        "DescribeAddonVersions answered HTTP 404"
    ),
    "? quota EC2-VPC Elastic IPs (L-0263D0A3) could not check": (
        "GetAWSDefaultServiceQuota answered HTTP 500"
    ),
}


def test_a_good_account_passes_every_check_end_to_end(account: Account) -> None:
    project = make_project(account.tmp_path, account.config, "dev")
    env = {**os.environ, **account.server.environment()}
    env.pop("PULUMI_BACKEND_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "pavedroad", "doctor", "dev", "-C", str(project)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Preflight of stack dev ({REGION}):"
    expected_ok = [
        f"✓ credentials: account {ACCOUNT_ID} as arn:aws:sts::{ACCOUNT_ID}:user/moto",
        f"✓ region {REGION} enabled",
        f"✓ state bucket s3://{BUCKET} reachable",
        "✓ secrets key alias/paved-road-secrets usable",
        "✓ 8 IAM principal(s) of the stack exist",
        f"✓ Route 53 zone {account.zone_id} is {DOMAIN} (public)",
        "✓ availability zones: eu-west-1a, eu-west-1b, eu-west-1c",
        "✓ node group system: m6i.large offered in every zone",
        # moto's account has its default VPC; the dev stack adds one VPC and one NAT gateway.
        "✓ quota VPCs per Region (L-F678F1CE): 1 used + 1 needed of 5",
        "✓ quota NAT gateways per Availability Zone in eu-west-1a (L-FE5A380F): 0 used + 1 "
        "needed of 5",
    ]
    for expected in expected_ok:
        assert expected in lines, "\n".join(lines)
    # Where moto offers no API the check says so, with the reason, and does not fail the run.
    for start, reason in MOTO_LACKS.items():
        assert reason in line(lines, start)
    assert not [entry for entry in lines if entry.startswith("✗")]
    assert lines[-1] == "10 passed, 0 failed, 3 could not be checked"
    # Deterministic: a second run prints the same bytes.
    again = subprocess.run(
        [sys.executable, "-m", "pavedroad", "doctor", "dev", "-C", str(project)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.stdout == result.stdout


def test_strict_fails_on_checks_that_could_not_run(account: Account) -> None:
    code, lines = account.run(None, None, True)
    assert code == 1
    assert lines[-1] == "10 passed, 0 failed, 3 could not be checked (--strict: they fail the run)"


def test_missing_state_bucket(account: Account) -> None:
    boto3.client("s3").delete_bucket(Bucket=BUCKET)
    code, lines = account.run()
    assert code == 1
    assert line(lines, "✗ state bucket") == (
        f"✗ state bucket s3://{BUCKET} reachable — no such bucket; run "
        f"`python -m pavedroad bootstrap --region {REGION}`"
    )


def test_state_bucket_from_option_and_backend_url(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, lines = account.run("other-bucket")
    assert code == 1 and line(lines, "✗ state bucket s3://other-bucket reachable")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://from-backend/prefix?region=eu-west-1")
    code, lines = account.run()
    assert line(lines, "✗ state bucket s3://from-backend reachable")


def test_missing_or_disabled_secrets_key(account: Account) -> None:
    kms = boto3.client("kms")
    kms.disable_key(KeyId=account.key_id)
    code, lines = account.run()
    assert code == 1
    assert "the key is Disabled" in line(lines, "✗ secrets key alias/paved-road-secrets")
    kms.delete_alias(AliasName="alias/paved-road-secrets")
    code, lines = account.run()
    assert "no such key; run `python -m pavedroad bootstrap" in line(lines, "✗ secrets key")


def test_secrets_key_from_the_stack_files_secrets_provider(account: Account) -> None:
    project = make_project(account.tmp_path, account.config, "dev")
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(
        "secretsprovider: awskms://alias/team-secrets?region=eu-west-1\n" + stack_file.read_text()
    )
    code, lines = doctor_lines(project)
    assert "no such key" in line(lines, "✗ secrets key alias/team-secrets usable")


def doctor_lines(project: Path, stack: str = "dev") -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-m", "pavedroad", "doctor", stack, "-C", str(project)],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
    )
    return result.returncode, (result.stdout + result.stderr).splitlines()


def test_missing_role(account: Account) -> None:
    boto3.client("iam").delete_role(RoleName="paved-road-dev-deploy")
    code, lines = account.run()
    assert code == 1
    assert line(lines, "✗ 8 IAM principal(s)") == (
        "✗ 8 IAM principal(s) of the stack exist — missing: "
        f"arn:aws:iam::{ACCOUNT_ID}:role/paved-road-dev-deploy (cluster.deployRoleArn); "
        "create them or fix the stack file"
    )


def test_principals_of_another_account(account: Account) -> None:
    account.config["paved-road:cluster"]["admins"] = ["arn:aws:iam::210987654321:role/admins"]
    code, lines = account.run()
    assert code == 1
    assert line(lines, "✗ credentials:").endswith(
        "— the stack's cluster.admins/deployRoleArn name account 210987654321; use credentials "
        "for that account or fix the ARNs"
    )
    # IAM answers for its own account only: the foreign role is not called missing.
    assert "arn:aws:iam::210987654321:role/admins (another account)" in line(
        lines, "? 8 IAM principal(s)"
    )


def test_zone_of_another_domain_private_or_missing(account: Account) -> None:
    other = create_zone(account.server, "other.paved-road.example")
    account.config["paved-road:core"]["dns"]["zones"] = [{"id": other, "domain": DOMAIN}]
    code, lines = account.run()
    assert code == 1
    assert line(lines, f"✗ Route 53 zone {other}") == (
        f"✗ Route 53 zone {other} is {DOMAIN} — the zone is 'other.paved-road.example.'; fix "
        f"core.dns.zones or use the zone of {DOMAIN}"
    )
    private = create_zone(account.server, DOMAIN, private=True)
    account.config["paved-road:core"]["dns"]["zones"] = [{"id": private, "domain": DOMAIN}]
    code, lines = account.run()
    assert "it is a private zone" in line(lines, f"✗ Route 53 zone {private}")
    account.config["paved-road:core"]["dns"]["zones"] = [{"id": "Z0NOSUCHZONE", "domain": DOMAIN}]
    code, lines = account.run()
    assert "no such zone" in line(lines, "✗ Route 53 zone Z0NOSUCHZONE")


def test_instance_type_not_offered_in_a_chosen_zone(account: Account) -> None:
    offered = boto3.client("ec2").describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": ["c8a.large"]}],
    )["InstanceTypeOfferings"]
    assert sorted(o["Location"] for o in offered) == ["eu-west-1a", "eu-west-1b"]
    account.config["paved-road:cluster"]["nodeGroups"][0]["instanceTypes"] = ["c8a.large"]
    code, lines = account.run()
    assert code == 1
    assert line(lines, "✗ node group system") == (
        "✗ node group system: c8a.large offered in every zone — not offered: c8a.large in "
        "eu-west-1c; choose other instanceTypes or set network.availabilityZones"
    )
    # In the zones that offer it, it passes: the zones are the network's.
    account.config["paved-road:network"]["availabilityZones"] = ["eu-west-1a", "eu-west-1b"]
    code, lines = account.run()
    assert "✓ availability zones: eu-west-1a, eu-west-1b" in lines
    assert "✓ node group system: c8a.large offered in every zone" in lines


def test_existing_vpc_zones_are_its_private_subnets(account: Account) -> None:
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(["eu-west-1b", "eu-west-1c"])
    ]
    account.config["paved-road:network"] = {
        "existingVpc": {"vpcId": vpc, "privateSubnetIds": subnets}
    }
    # Databases need the subnets' ranges, which the config cannot read from an existing VPC.
    account.config["paved-road:tenants"] = []
    del account.config["paved-road:core"]["portal"]
    code, lines = account.run()
    assert "✓ availability zones: eu-west-1b, eu-west-1c" in lines
    # Nothing of the network is created: no VPC, NAT gateway or address is needed.
    assert "✓ quota VPCs per Region (L-F678F1CE): 2 used + 0 needed of 5" in lines
    assert (
        "✓ quota NAT gateways per Availability Zone (L-FE5A380F): 0 used + 0 needed of 5" in lines
    )
    ec2.delete_subnet(SubnetId=subnets[1])
    code, lines = account.run()
    assert code == 1
    assert "InvalidSubnetID.NotFound" in line(lines, "✗ availability zones")


def test_region_not_opted_in(account: Account) -> None:
    account.config["aws:region"] = "ap-east-1"
    code, lines = account.run()
    assert code == 1
    assert line(lines, "✗ region ap-east-1 enabled").startswith(
        "✗ region ap-east-1 enabled — not opted in; enable ap-east-1"
    )


def test_quotas_exceeded(account: Account) -> None:
    ec2 = boto3.client("ec2")
    for index in range(4):  # with the default VPC, the region's 5 are used
        ec2.create_vpc(CidrBlock=f"10.{100 + index}.0.0/16")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.100.0.0/16"]}])["Vpcs"][0]
    subnet = ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock="10.100.0.0/24", AvailabilityZone="eu-west-1a"
    )["Subnet"]["SubnetId"]
    for _ in range(5):  # eu-west-1a's 5 NAT gateways, where the dev stack puts its one
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)
    code, lines = account.run()
    assert code == 1
    assert line(lines, "✗ quota VPCs per Region") == (
        "✗ quota VPCs per Region (L-F678F1CE): 5 used + 1 needed of 5 — request an increase in "
        "Service Quotas or free 1"
    )
    assert line(lines, "✗ quota NAT gateways per Availability Zone") == (
        "✗ quota NAT gateways per Availability Zone in eu-west-1a (L-FE5A380F): 5 used + 1 "
        "needed of 5 — request an increase in Service Quotas or free 1"
    )


def test_without_credentials_nothing_else_is_asked(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, lines = account.run()
    assert code == 1
    assert lines[1].startswith("✗ AWS credentials — none usable (Unable to locate credentials)")
    assert [entry for entry in lines if entry and entry[0] in "✓✗?"] == [lines[1]]


# Checks moto cannot answer: their verdicts from responses in the shape AWS documents.


def test_cluster_version_verdicts() -> None:
    judge = doctor.judge_cluster_version
    assert judge(
        "1.35", [{"clusterVersion": "1.35", "versionStatus": "STANDARD_SUPPORT"}]
    ).line() == ("✓ EKS offers Kubernetes 1.35")
    extended = judge("1.35", [{"clusterVersion": "1.35", "versionStatus": "EXTENDED_SUPPORT"}])
    assert extended.status == "ok" and "extended support" in extended.text
    assert judge("1.35", [{"clusterVersion": "1.35", "status": "unsupported"}]).line() == (
        "✗ EKS offers Kubernetes 1.35 — it is past its support; move cluster.version to a "
        "supported minor"
    )
    assert judge("1.36", [{"clusterVersion": "1.35"}]).status == "failed"


def test_addon_verdicts() -> None:
    def published(build: str, version: str) -> list[dict[str, Any]]:
        return [
            {
                "addonName": "vpc-cni",
                "addonVersions": [
                    {"addonVersion": build, "compatibilities": [{"clusterVersion": version}]}
                ],
            }
        ]

    pinned = {"vpc-cni": "v1.21.1-eksbuild.3"}
    assert (
        doctor.judge_addons(
            "1.35", pinned, {"vpc-cni": published("v1.21.1-eksbuild.3", "1.35")}
        ).status
        == "ok"
    )
    # Published, but for another minor: not available for this cluster.
    result = doctor.judge_addons(
        "1.35", pinned, {"vpc-cni": published("v1.21.1-eksbuild.3", "1.34")}
    )
    assert result.line() == (
        "✗ 1 pinned EKS add-on builds available for 1.35 — not published: vpc-cni "
        "v1.21.1-eksbuild.3; update components/versions.py"
    )
    assert doctor.judge_addon_compatibility("1.36", published("v1", "1.35")).status == "failed"
    assert doctor.judge_addon_compatibility("1.35", published("v1", "1.35")).status == "ok"


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    code, lines = doctor_lines(ROOT, "nope")
    assert code == 2
    assert lines == [
        "stacks/Pulumi.nope.yaml: no such stack file (stacks: dev, prod, staging)",
        "Nothing was checked. Fix the configuration and run doctor again.",
    ]
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:cluster"]["nodeGroups"][0]["instanceTypes"] = ["not a type"]
    project = make_project(tmp_path, config, "dev")
    code, lines = doctor_lines(project)
    plan = subprocess.run(
        [
            sys.executable,
            "-m",
            "pavedroad",
            "plan",
            "dev",
            "-C",
            str(project),
            "--out",
            str(tmp_path / "b"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert code == plan.returncode == 2
    # The same message as `pavedroad plan`: the stack is read through the program's loader.
    assert lines[:-1] == plan.stderr.splitlines()[:-1]
    assert "stacks/Pulumi.dev.yaml" in "\n".join(lines) and "not a type" in "\n".join(lines)


def test_doctor_looks_for_what_bootstrap_makes() -> None:
    """The default bucket and secrets key doctor checks are the names bootstrap gives them for
    this project (Pulumi.yaml's name), so the two commands never drift apart silently."""
    from pavedroad import bootstrap, doctor

    target = bootstrap.target_of(ROOT, "eu-west-1", None, "acme/paved-road")
    assert doctor.STATE_BUCKET_TEMPLATE.format(
        account="123456789012", region="eu-west-1"
    ) == target.bucket("123456789012")
    assert doctor.SECRETS_KEY_ALIAS == target.secrets_alias
