"""The security group a tenant's pods carry once it has a data store (EKS security groups for pods).

Pods take their addresses from the same private subnets whatever their tenant, so an address
range cannot tell tenants apart; a security group can. Every pod of a tenant with a Postgres or
Redis gets a branch network interface with two groups: the tenant's own (what its data stores
admit) and the cluster security group EKS created (which admits its own members: CoreDNS, the
kubelet, the control plane, other pods), as AWS asks of every pod security group list. The
VPC CNI (cluster.py) enforces them in `standard` mode. Network policies stay as they were.
"""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

SECURITY_GROUP_POLICY_API_VERSION = "vpcresources.k8s.aws/v1beta1"
SECURITY_GROUP_POLICY_NAME = "tenant-pods"


def pods_security_group(
    tenant: str,
    *,
    prefix: str,
    vpc_id: pulumi.Input[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    physical_name: Optional[str] = None,
    description: Optional[str] = None,
) -> aws.ec2.SecurityGroup:
    """No ingress of its own (the cluster security group beside it admits what the cluster
    needs); egress open, as the pods had on their node's interface. Not tagged
    `kubernetes.io/cluster/<name>`: the load balancer controller adds its rules to the one group
    of a pod's interface that carries that tag, the cluster security group."""
    return aws.ec2.SecurityGroup(
        f"{tenant}-pods-sg",
        name=physical_name or f"{prefix}-tenant-{tenant}-pods",
        description=description or f"Pods of tenant {tenant}: what its data stores admit",
        vpc_id=vpc_id,
        ingress=[],
        egress=[
            aws.ec2.SecurityGroupEgressArgs(
                description="as on the node: network policies limit where pods go",
                protocol="-1",
                from_port=0,
                to_port=0,
                cidr_blocks=["0.0.0.0/0"],
            )
        ],
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def security_group_policy(
    namespace: str,
    *,
    group_ids: list[pulumi.Input[str]],
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: list[pulumi.Resource],
    name: str = SECURITY_GROUP_POLICY_NAME,
) -> k8s.apiextensions.CustomResource:
    """Every pod of the namespace (`podSelector: {}`) gets these groups. EKS installs the CRD
    with the cluster (its VPC resource controller), so nothing waits for a release."""
    return k8s.apiextensions.CustomResource(
        f"{namespace}-security-group-policy",
        api_version=SECURITY_GROUP_POLICY_API_VERSION,
        kind="SecurityGroupPolicy",
        metadata={
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
        },
        spec={"podSelector": {}, "securityGroups": {"groupIds": group_ids}},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on),
    )
