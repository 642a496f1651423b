"""Bad configuration stops the plan before anything is registered, naming file and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest

from components.config import ConfigError
from pavedroad.engine import PlanEngine
from tests.conftest import pavedroad

FILE = "stacks/Pulumi.test.yaml"
VALID: dict[str, Any] = {
    "aws:region": "eu-west-1",
    "paved-road:network": {"cidr": "10.0.0.0/16"},
    "paved-road:cluster": {
        "admins": ["arn:aws:iam::123456789012:role/platform-admins"],
        "nodeGroups": [{"name": "system", "minSize": 2, "maxSize": 4}],
    },
}


DEPLOY_ROLE = "arn:aws:iam::123456789012:role/paved-road-deploy"
RUNNER_SG = "sg-0123456789abcdef0"


def with_changes(**changes: Any) -> dict[str, Any]:
    """VALID with dotted-path changes, e.g. `cluster__version="1.20"` (None deletes)."""
    config = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = config
        for part in parents:
            key = f"paved-road:{part}" if target is config else part
            target = target[key]
        key = last if parents else f"paved-road:{last}"
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return config


BAD_INPUTS = {
    "wrong type": (
        with_changes(cluster__nodeGroups=[{"name": "system", "minSize": "two", "maxSize": 4}]),
        "paved-road:cluster.nodeGroups[0].minSize",
        "'two'",
    ),
    "unknown key in a section": (
        with_changes(network__cidrBlock="10.0.0.0/16"),
        "paved-road:network.cidrBlock",
        "unknown field",
    ),
    "unknown top-level key": (
        with_changes(netwrok={"cidr": "10.0.0.0/16"}),
        "paved-road:netwrok",
        "unknown key",
    ),
    "bad CIDR": (
        with_changes(network__cidr="10.0.0.0/33"),
        "paved-road:network.cidr",
        "10.0.0.0/33",
    ),
    "CIDR with host bits": (
        with_changes(network__cidr="10.0.0.1/16"),
        "paved-road:network.cidr",
        "host bits",
    ),
    "overlapping subnets": (
        with_changes(
            network__privateSubnets=["10.0.0.0/19", "10.0.16.0/20", "10.0.64.0/19"],
        ),
        "paved-road:network.privateSubnets[1]",
        "overlaps 10.0.0.0/19",
    ),
    "subnet outside the VPC": (
        with_changes(network__publicSubnets=["10.0.96.0/22", "10.0.100.0/22", "10.9.0.0/22"]),
        "paved-road:network.publicSubnets[2]",
        "outside the VPC",
    ),
    "invalid Kubernetes version": (
        with_changes(cluster__version="1.20"),
        "paved-road:cluster.version",
        "'1.20' is not a supported Kubernetes version",
    ),
    "whole internet on the API in production": (
        with_changes(production="true", cluster__publicAccessCidrs=["0.0.0.0/0"]),
        "paved-road:cluster.publicAccessCidrs",
        "0.0.0.0/0 opens the Kubernetes API to the internet",
    ),
    # Issue 10, item 2: every equivalent of "open to the world", not the literal only.
    "the internet as two halves on the API in production": (
        with_changes(production="true", cluster__publicAccessCidrs=["0.0.0.0/1", "128.0.0.0/1"]),
        "paved-road:cluster.publicAccessCidrs",
        "0.0.0.0/1, 128.0.0.0/1 together open the Kubernetes API to the internet",
    ),
    "the internet as many small ranges on the API in production": (
        with_changes(
            production="true",
            cluster__publicAccessCidrs=[f"{first}.0.0.0/8" for first in range(1, 10)],
        ),
        "paved-road:cluster.publicAccessCidrs",
        "open the Kubernetes API to the internet",
    ),
    "the whole space spelled /00": (
        with_changes(cluster__publicAccessCidrs=["0.0.0.0/00"]),
        "paved-road:cluster.publicAccessCidrs[0]",
        "'0.0.0.0/00' is not written as a CIDR block (write '0.0.0.0/0')",
    ),
    "the whole space spelled as a netmask": (
        with_changes(cluster__publicAccessCidrs=["0.0.0.0/0.0.0.0"]),
        "paved-road:cluster.publicAccessCidrs[0]",
        "write '0.0.0.0/0'",
    ),
    "IPv6 everywhere on the API": (
        with_changes(cluster__publicAccessCidrs=["::/0"]),
        "paved-road:cluster.publicAccessCidrs[0]",
        "'::/0' is not a valid IPv4 CIDR block",
    ),
    "bad admin ARN": (
        with_changes(cluster__admins=["arn:aws:iam::12345:role/admins"]),
        "paved-road:cluster.admins",
        "is not an IAM role or user ARN",
    ),
    "empty node groups": (
        with_changes(cluster__nodeGroups=[]),
        "paved-road:cluster.nodeGroups",
        "at least 1",
    ),
    "min greater than max": (
        with_changes(cluster__nodeGroups=[{"name": "system", "minSize": 5, "maxSize": 2}]),
        "paved-road:cluster.nodeGroups[0]",
        "minSize 5 is greater than maxSize 2",
    ),
    "hop limit that lets pods reach node credentials": (
        with_changes(cluster__nodeGroups=[{"name": "system", "metadataHopLimit": 3}]),
        "paved-road:cluster.nodeGroups[0].metadataHopLimit",
        "less than or equal to 2",
    ),
    "duplicate node group names": (
        with_changes(cluster__nodeGroups=[{"name": "system"}, {"name": "system"}]),
        "paved-road:cluster.nodeGroups",
        "repeated: system",
    ),
    "unknown NAT mode": (
        with_changes(network__natGateways="two"),
        "paved-road:network.natGateways",
        "'single' or 'perAz'",
    ),
    "missing region": (
        {key: value for key, value in VALID.items() if key != "aws:region"},
        "aws:region",
        "is required",
    ),
    "production without a deploy role": (
        with_changes(production="true", cluster__runnerSecurityGroupIds=[RUNNER_SG]),
        "paved-road:cluster.deployRoleArn",
        "is required when paved-road:production is true",
    ),
    "production with no network path to the private endpoint": (
        with_changes(production="true", cluster__deployRoleArn=DEPLOY_ROLE),
        "paved-road:cluster.runnerSecurityGroupIds",
        "`pulumi up` has no way to reach it",
    ),
    "deploy role that is also an admin": (
        with_changes(cluster__deployRoleArn="arn:aws:iam::123456789012:role/platform-admins"),
        "paved-road:cluster.deployRoleArn",
        "EKS allows one access entry per principal",
    ),
    "deploy role that is a user": (
        with_changes(cluster__deployRoleArn="arn:aws:iam::123456789012:user/ci"),
        "paved-road:cluster.deployRoleArn",
        "is not an IAM role ARN",
    ),
    "runner security group that is not an id": (
        with_changes(cluster__runnerSecurityGroupIds=["runners"]),
        "paved-road:cluster.runnerSecurityGroupIds",
        "'runners' is not a security group id",
    ),
    "node group name EKS would refuse with its unique suffix": (
        with_changes(cluster__nodeGroups=[{"name": "general-purpose-memory-optimised-x"}]),
        "paved-road:cluster.nodeGroups[0].name",
        "over EKS's limit of 63",
    ),
    "node group of a type without pod security groups": (
        with_changes(cluster__nodeGroups=[{"name": "system", "instanceTypes": ["t3.large"]}]),
        "paved-road:cluster.nodeGroups[0].instanceTypes[0]",
        "'t3.large' cannot give pods security groups of their own",
    ),
    "node group of a pre-Nitro type": (
        with_changes(
            cluster__nodeGroups=[{"name": "system", "instanceTypes": ["m6i.large", "m4.large"]}]
        ),
        "paved-road:cluster.nodeGroups[0].instanceTypes[1]",
        "'m4.large' cannot give pods security groups of their own",
    ),
    "production not a boolean": (
        with_changes(production="maybe"),
        "paved-road:production",
        "not valid structured config",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_names_file_and_field_and_registers_nothing(
    name: str, project: Callable[..., Path]
) -> None:
    config, field, expected = BAD_INPUTS[name]
    engine = PlanEngine("test", project(config))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    message = str(raised.value)
    assert f"{FILE}: {field}" in message, message
    assert expected in message, message
    assert engine.recorded == [], "a bad stack file must not register anything"


def test_all_errors_are_reported_together(project: Callable[..., Path]) -> None:
    config = with_changes(
        network__cidr="10.0.0.0/33",
        cluster__version="1.20",
        cluster__admins=["not-an-arn"],
        typo=True,
    )
    with pytest.raises(ConfigError) as raised:
        PlanEngine("test", project(config)).run()
    fields = [issue.field for issue in raised.value.issues]
    assert fields == [
        "paved-road:cluster.admins",
        "paved-road:cluster.version",
        "paved-road:network.cidr",
        "paved-road:typo",
    ]
    assert str(raised.value).startswith("4 configuration errors:")


def test_a_minimal_stack_file_plans_with_secure_defaults(project: Callable[..., Path]) -> None:
    run = PlanEngine("test", project({"aws:region": "eu-west-1"})).run()
    (cluster,) = run.by_type("eks:index:Cluster")
    assert cluster.inputs["endpointPublicAccess"] is False
    assert len(run.by_type("aws:ec2/natGateway:NatGateway")) == 3


def test_an_existing_vpc_is_used_instead_of_a_new_one(project: Callable[..., Path]) -> None:
    existing = {
        "vpcId": "vpc-0123456789abcdef0",
        "privateSubnetIds": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
        "publicSubnetIds": ["subnet-0000000000000000c", "subnet-0000000000000000d"],
    }
    run = PlanEngine("test", project(with_changes(network__existingVpc=existing))).run()
    assert run.by_type("aws:ec2/vpc:Vpc") == [] and run.by_type("aws:ec2/subnet:Subnet") == []
    (cluster,) = run.by_type("eks:index:Cluster")
    assert cluster.inputs["vpcId"] == existing["vpcId"]
    (group,) = run.by_type("aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["subnetIds"] == existing["privateSubnetIds"]


def test_cli_exits_2_without_traceback_and_writes_nothing(project: Callable[..., Path]) -> None:
    root = project(with_changes(cluster__version="1.20", network__cidr="10.0.0.0/33"))
    result = pavedroad("plan", "test", "-C", str(root))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{FILE}: paved-road:cluster.version" in result.stderr
    assert f"{FILE}: paved-road:network.cidr" in result.stderr
    assert not (root / "build").exists()


def test_cli_refuses_a_production_stack_that_pulumi_up_could_not_reach(
    project: Callable[..., Path],
) -> None:
    """Private endpoint, no runner inside the VPC, no public CIDRs: the first `pulumi up` would
    create the cluster and then hang on its first Kubernetes object."""
    root = project(with_changes(production="true", cluster__deployRoleArn=DEPLOY_ROLE))
    result = pavedroad("plan", "test", "-C", str(root))
    assert result.returncode == 2
    assert f"{FILE}: paved-road:cluster.runnerSecurityGroupIds:" in result.stderr
    assert "paved-road:cluster.publicAccessCidrs" in result.stderr
    assert not (root / "build").exists()
    reachable = with_changes(
        production="true",
        cluster__deployRoleArn=DEPLOY_ROLE,
        cluster__publicAccessCidrs=["198.51.100.0/24"],
    )
    assert pavedroad("plan", "test", "-C", str(project(reachable))).returncode == 0


def test_cli_names_a_missing_stack_file() -> None:
    result = pavedroad("plan", "nope")
    assert result.returncode == 2
    assert "stacks/Pulumi.nope.yaml: no such stack file" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_names_a_directory_that_is_not_a_project(tmp_path: Path) -> None:
    result = pavedroad("plan", "dev", "-C", str(tmp_path))
    assert result.returncode == 2
    assert f"{tmp_path}/Pulumi.yaml: no such file" in result.stderr
    assert "Traceback" not in result.stderr
