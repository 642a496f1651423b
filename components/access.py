"""Cluster access for people: an EKS access entry mapping an IAM principal to a Kubernetes group,
with an EKS access policy scoped to some namespaces. Teams (components/tenant.py) and domain
squads (components/domain.py) are given access the same way; only the group, policy and
namespaces differ."""

from __future__ import annotations

from typing import Sequence

import pulumi
import pulumi_aws as aws

from components.core.base import ClusterContext

ACCESS_POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"


def namespaced_access(
    name: str,
    context: ClusterContext,
    *,
    principal: str,
    group: str,
    access_policy: str,
    namespaces: Sequence[str],
    tags: dict[str, str],
    parent: pulumi.Resource,
) -> None:
    """`<name>-access` (the entry) and `<name>-access-policy` (its namespace-scoped policy)."""
    entry = aws.eks.AccessEntry(
        f"{name}-access",
        cluster_name=context.cluster_name,
        principal_arn=principal,
        kubernetes_groups=[group],
        type="STANDARD",
        tags=tags,
        # The EKS cluster, not its nodes: access entries are control-plane objects.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[context.cluster]),
    )
    aws.eks.AccessPolicyAssociation(
        f"{name}-access-policy",
        cluster_name=context.cluster_name,
        principal_arn=principal,
        policy_arn=f"{ACCESS_POLICY_PREFIX}{access_policy}",
        access_scope={"type": "namespace", "namespaces": list(namespaces)},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[entry]),
    )
