"""`pulumi up` from CI can reach the cluster's API and log in to it.

The Kubernetes provider talks to the cluster with the kubeconfig pulumi-eks generates. Without
credential options that kubeconfig runs `aws eks get-token` as whatever credentials are ambient,
and only the cluster's creator and the listed admins have access entries; the endpoint is private
unless a stack lists public CIDRs. The deploy role and the runner rule close both gaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pavedroad.engine import PlanEngine, PlanRun
from pavedroad.mocks import PlatformMocks
from tests.conftest import one, stack_config

CLUSTER = "eks:index:Cluster"
RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
CLUSTER_ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def test_the_kubernetes_provider_logs_in_as_the_deploy_role(plan: PlanRun, stack: str) -> None:
    deploy_role = stack_config(stack)["paved-road:cluster"]["deployRoleArn"]
    cluster = one(plan.by_type(CLUSTER))
    assert cluster.inputs["providerCredentialOpts"] == {"roleArn": deploy_role}
    (entry,) = [
        e for e in cluster.inputs["accessEntries"].values() if e["principalArn"] == deploy_role
    ]
    assert entry["type"] == "STANDARD"
    (association,) = entry["accessPolicies"].values()
    assert association == {"policyArn": CLUSTER_ADMIN, "accessScope": {"type": "cluster"}}
    # The kubeconfig pulumi-eks builds from these inputs (held to its source in
    # test_mock_fidelity.py) is what the provider receives.
    outputs = PlatformMocks(stack_config(stack)["aws:region"])._computed(
        CLUSTER, cluster.name, "", cluster.inputs
    )
    args = outputs["kubeconfig"]["users"][0]["user"]["exec"]["args"]
    assert args[-2:] == ["--role", deploy_role]


def test_runners_in_the_vpc_reach_the_private_endpoint(plan: PlanRun, stack: str) -> None:
    """HTTPS from each runner security group to pulumi-eks' cluster security group, which the
    control plane's network interfaces carry (vpcConfig.securityGroupIds); the Kubernetes
    provider waits for the rule."""
    runners = stack_config(stack)["paved-road:cluster"].get("runnerSecurityGroupIds", [])
    cluster = one(plan.by_type(CLUSTER))
    cluster_group = PlatformMocks(stack_config(stack)["aws:region"])._computed(
        CLUSTER, cluster.name, "", cluster.inputs
    )["clusterSecurityGroupId"]
    # pulumi-eks' own security group is the cluster_security_group_id only while it creates one.
    assert "skipDefaultSecurityGroups" not in cluster.inputs
    rules = plan.by_type(RULE)
    assert sorted(r.inputs["sourceSecurityGroupId"] for r in rules) == sorted(runners)
    provider = one(plan.by_type("pulumi:providers:kubernetes"))
    for rule in rules:
        assert rule.inputs["type"] == "ingress"
        assert (rule.inputs["protocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
            "tcp",
            443,
            443,
        )
        assert rule.inputs["securityGroupId"] == cluster_group
        assert "cidrBlocks" not in rule.inputs
        assert rule.urn in provider.dependencies


def test_every_shipped_stack_has_a_way_in(stack: str) -> None:
    cluster = stack_config(stack)["paved-road:cluster"]
    assert cluster.get("publicAccessCidrs") or cluster.get("runnerSecurityGroupIds")


def test_without_a_deploy_role_a_development_stack_uses_ambient_credentials(
    project: Callable[..., Path],
) -> None:
    run = PlanEngine("test", project({"aws:region": "eu-west-1"})).run()
    cluster = one(run.by_type(CLUSTER))
    assert "providerCredentialOpts" not in cluster.inputs
    assert run.by_type(RULE) == []
