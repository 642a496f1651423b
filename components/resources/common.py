"""What every self-service data store shares: who it belongs to, its key, its network rule, and
how its connection details reach the tenant's namespace.

A data store is reachable and readable by one tenant only, in layers: its security group admits
its port from the tenant's pods' security group only (security groups for pods: no address range
at all), the tenant's network policies open that port for its own pods only, and its credentials
are encrypted with its own customer-managed key that only the tenant's workload role may use,
delivered by the tenant's own SecretStore into the tenant's own namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.iam import allow, policy_document
from components.resources_config import ResourceConfig, physical_name

EXTERNAL_SECRET_API_VERSION = "external-secrets.io/v1"
# Annotation on each delivered Secret: the resource it describes (README, "Ask for
# infrastructure").
RESOURCE_ANNOTATION = "paved-road/resource"


@dataclass(frozen=True)
class ResourceTarget:
    """Where a tenant's resource goes and who may use it: plain data and outputs from Tenant."""

    tenant: str
    # The namespace its connection Secret lands in (the tenant's first).
    namespace: str
    prefix: str
    region: str
    account_id: pulumi.Output[str]
    production: bool
    tags: Mapping[str, str]
    labels: Mapping[str, str]
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    # The security group every pod of the tenant carries (its SecurityGroupPolicy): the only
    # source a data store admits.
    client_security_group_id: Optional[pulumi.Input[str]]
    workload_role: aws.iam.Role
    # The Secrets Manager prefix only this tenant's workload role reads.
    secrets_prefix: str
    store_name: str
    provider: k8s.Provider
    # What the ExternalSecret waits for (the namespace, its SecretStore, the ESO release).
    secret_after: tuple[pulumi.Resource, ...] = ()
    # The secrets service runs (the tenant has a SecretStore): connection Secrets are delivered.
    deliver_secrets: bool = True
    # Who the resource belongs to, as descriptions name it: a tenant unless a platform service
    # owns it (the portal's database: components/core/portal.py).
    owner: str = ""

    @property
    def owned_by(self) -> str:
        return self.owner or f"tenant {self.tenant}"

    def physical_name(self, resource: ResourceConfig) -> str:
        """The resource's name in AWS (`<project>-<env>-<tenant>-<name>`)."""
        return physical_name(self.prefix, self.tenant, resource)

    def tags_for(self, resource: ResourceConfig) -> dict[str, str]:
        """The tenant's tags (tenant, cost center) and the resource's own name."""
        return {**self.tags, "paved-road:resource": resource.name}


def stateful_options(
    target: ResourceTarget, resource: ResourceConfig, parent: pulumi.Resource
) -> pulumi.ResourceOptions:
    """Data lives here: in production, deleting it takes `decommission: true` first."""
    return pulumi.ResourceOptions(
        parent=parent, protect=target.production and not resource.decommission
    )


def resource_key(
    name: str,
    target: ResourceTarget,
    resource: ResourceConfig,
    service: str,
    parent: pulumi.Resource,
    *,
    via: str = "secretsmanager",
    service_users: Sequence[str] = (),
) -> aws.kms.Key:
    """The resource's own customer-managed key: the account administers it (so IAM policies and
    the AWS service acting for the account can use it), and besides the account only the
    tenant's workload role may decrypt with it, and only through one service (`via`).
    `service_users`: AWS service principals that encrypt for this account (EventBridge sending
    to an encrypted queue), limited to calls on the account's behalf."""
    role_arn = target.workload_role.arn

    def policy(args: list[str]) -> str:
        account, role = args
        return policy_document(
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "TenantWorkloadDecrypts",
                "Effect": "Allow",
                "Principal": {"AWS": role},
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"{via}.{target.region}.amazonaws.com"}
                },
            },
            *(
                {
                    "Sid": f"{principal.split('.')[0].capitalize()}Encrypts",
                    "Effect": "Allow",
                    "Principal": {"Service": principal},
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
                for principal in service_users
            ),
        )

    return aws.kms.Key(
        f"{name}-key",
        description=f"{service} {resource.name} of {target.owned_by}: its data and credentials",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.all(target.account_id, role_arn).apply(policy),
        tags=target.tags_for(resource),
        opts=stateful_options(target, resource, parent),
    )


def data_store_security_group(
    name: str,
    target: ResourceTarget,
    resource: ResourceConfig,
    port: int,
    parent: pulumi.Resource,
) -> aws.ec2.SecurityGroup:
    """Admits the store's port from the tenant's pods' security group, and nothing else (no
    address range: another tenant's pods have addresses from the same subnets); it starts no
    connections, so it has no egress rule."""
    if target.client_security_group_id is None:
        raise ValueError(f"{target.owned_by} has a data store but no pods security group")
    return aws.ec2.SecurityGroup(
        f"{name}-sg",
        name=f"{target.physical_name(resource)}-{resource.type}",
        # EC2 refuses apostrophes in security group and rule descriptions.
        description=f"{resource.type} {resource.name} of {target.owned_by}: port {port} "
        f"from the pods of {target.owned_by} only",
        vpc_id=target.vpc_id,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                description=f"pods of {target.owned_by} (their security group)",
                protocol="tcp",
                from_port=port,
                to_port=port,
                security_groups=[target.client_security_group_id],
            )
        ],
        egress=[],
        tags=target.tags_for(resource),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def grant_secret(
    name: str,
    target: ResourceTarget,
    secret_arns: Sequence[pulumi.Input[str]],
    key: aws.kms.Key,
    parent: pulumi.Resource,
) -> aws.iam.RolePolicy:
    """The tenant's workload role may read this resource's secrets and decrypt them: the
    secrets RDS manages live outside the tenant's prefix, so each is named here."""
    return aws.iam.RolePolicy(
        f"{name}-secret-access",
        role=target.workload_role.id,
        policy=pulumi.Output.all(key.arn, *secret_arns).apply(
            lambda args: policy_document(
                allow(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], args[1:]),
                allow(
                    ["kms:Decrypt"],
                    [args[0]],
                    Condition={
                        "StringEquals": {
                            "kms:ViaService": f"secretsmanager.{target.region}.amazonaws.com"
                        }
                    },
                ),
            )
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def connection_secret(
    name: str,
    target: ResourceTarget,
    resource: ResourceConfig,
    *,
    remote: Mapping[str, tuple[pulumi.Input[str], str]],
    literal: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> Optional[k8s.apiextensions.CustomResource]:
    """The Kubernetes Secret `<resource>-connection` in the tenant's namespace, filled by the
    tenant's SecretStore: `remote` keys come from Secrets Manager (secret, JSON property), the
    `literal` ones (endpoint, port, names: not secret) are written by the template. Without the
    secrets service there is no store: the workload role still reads the secret directly."""
    if not target.deliver_secrets:
        return None
    secret_name = f"{resource.name}-connection"
    data = [
        {"secretKey": key, "remoteRef": {"key": secret, "property": prop}}
        for key, (secret, prop) in sorted(remote.items())
    ]
    template_data = {key: f"{{{{ .{key} }}}}" for key in sorted(remote)}
    template_data.update(literal)
    return k8s.apiextensions.CustomResource(
        f"{name}-connection",
        api_version=EXTERNAL_SECRET_API_VERSION,
        kind="ExternalSecret",
        metadata={
            "name": secret_name,
            "namespace": target.namespace,
            "labels": dict(target.labels),
            "annotations": {RESOURCE_ANNOTATION: f"{resource.type}/{resource.name}"},
        },
        spec={
            "refreshInterval": "1h",
            "secretStoreRef": {"name": target.store_name, "kind": "SecretStore"},
            "target": {
                "name": secret_name,
                "creationPolicy": "Owner",
                "template": {
                    "engineVersion": "v2",
                    "metadata": {"labels": dict(target.labels)},
                    "data": template_data,
                },
            },
            "data": data,
        },
        opts=pulumi.ResourceOptions(
            parent=parent,
            provider=target.provider,
            depends_on=[*target.secret_after, *depends_on],
        ),
    )
