"""Data stores: encrypted, private, backed up, and hard to delete in production.

Tenants ask for Postgres (RDS) and Redis (ElastiCache) in their files (components/resources/);
these rules hold what the platform promises about them even if a change to the components
forgets it.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from .cidrs import covers_internet, public_blocks
from .core import (
    CRITICAL,
    HIGH,
    Context,
    Finding,
    Resource,
    Stack,
    as_list,
    is_unknown,
    resource_rule,
    stack_rule,
)

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
# The security groups each data store names, by input.
STORE_GROUPS = {
    RDS_INSTANCE: "vpcSecurityGroupIds",
    RDS_CLUSTER: "vpcSecurityGroupIds",
    REPLICATION_GROUP: "securityGroupIds",
}


def _not_true(value: Any) -> bool:
    return not is_unknown(value) and value is not True


@resource_rule(
    name="datastore-encrypted",
    description=(
        "RDS storage is encrypted; ElastiCache replication groups encrypt at rest and require "
        "TLS in transit."
    ),
    remediation=(
        "Set `storage_encrypted=True` (RDS), or `at_rest_encryption_enabled=True`, "
        "`transit_encryption_enabled=True` and `transit_encryption_mode='required'` (ElastiCache)."
    ),
    severity=CRITICAL,
    types=(RDS_INSTANCE, RDS_CLUSTER, REPLICATION_GROUP),
)
def encrypted(resource: Resource, context: Context) -> Iterator[str]:
    if resource.type in (RDS_INSTANCE, RDS_CLUSTER):
        if _not_true(resource.get("storageEncrypted")):
            yield "storageEncrypted is not true: the database's storage is not encrypted"
        return
    if _not_true(resource.get("atRestEncryptionEnabled")):
        yield "atRestEncryptionEnabled is not true"
    if _not_true(resource.get("transitEncryptionEnabled")):
        yield "transitEncryptionEnabled is not true: clients may connect without TLS"
    mode = resource.get("transitEncryptionMode")
    if not is_unknown(mode) and mode not in (None, "required"):
        yield f"transitEncryptionMode is {mode!r}: plaintext connections are still accepted"


@resource_rule(
    name="datastore-not-public",
    description="No RDS database is publicly accessible.",
    remediation="Set `publicly_accessible=False`; reach the database from inside the VPC.",
    severity=CRITICAL,
    types=(RDS_INSTANCE,),
)
def not_public(resource: Resource, context: Context) -> Iterator[str]:
    if resource.get("publiclyAccessible") is True:
        yield "publiclyAccessible is true: the database gets a public address"


@resource_rule(
    name="datastore-backups",
    description="RDS keeps automated backups and ElastiCache keeps snapshots, at least a week.",
    remediation=(
        "Set `backup_retention_period` (RDS) or `snapshot_retention_limit` (ElastiCache) to at "
        "least the configured minimum."
    ),
    severity=HIGH,
    types=(RDS_INSTANCE, RDS_CLUSTER, REPLICATION_GROUP),
    options={
        "minimumDays": {
            "type": "integer",
            "default": 7,
            "description": "The fewest days of backups a data store keeps.",
        }
    },
)
def backups(resource: Resource, context: Context) -> Iterator[str]:
    key = (
        "snapshotRetentionLimit" if resource.type == REPLICATION_GROUP else "backupRetentionPeriod"
    )
    days = resource.get(key)
    minimum = context.option("minimumDays")
    if is_unknown(days):
        return
    if not isinstance(days, (int, float)) or days < minimum:
        yield f"{key} is {days!r}: keep at least {minimum} days of backups"


@resource_rule(
    name="datastore-deletion-protection",
    description=(
        "In production, databases have deletion protection and data stores are `protect`ed, so "
        "deleting one is a deliberate two-step act."
    ),
    remediation=(
        "Set `deletion_protection=True` (RDS) and `protect=True`; to delete a resource, mark it "
        "`decommission: true` first (README, 'Ask for infrastructure')."
    ),
    severity=HIGH,
    types=(RDS_INSTANCE, RDS_CLUSTER, REPLICATION_GROUP),
)
def deletion_protection(resource: Resource, context: Context) -> Iterator[str]:
    if not context.production:
        return
    if resource.type != REPLICATION_GROUP and _not_true(resource.get("deletionProtection")):
        yield "deletionProtection is not true in production"
    if not resource.protect:
        yield "the resource is not `protect`ed in production"


@stack_rule(
    name="datastore-security-groups-private",
    description=(
        "The security groups of data stores admit security groups only (the owning tenant's "
        "pods'), never an address range: pods of every tenant share the subnets' addresses."
    ),
    remediation=(
        "Admit the store's port from the tenant's pods' security group (`security_groups`), "
        "with no `cidr_blocks` or `ipv6_cidr_blocks`."
    ),
    severity=CRITICAL,
)
def private_groups(stack: Stack, context: Context) -> Iterator[Finding]:
    for store in stack.of_type(*STORE_GROUPS):
        prop = STORE_GROUPS[store.type]
        ids = store.get(prop)
        values = [ids] if is_unknown(ids) else as_list(ids)
        groups, _ = stack.referenced(store, prop, values, (SECURITY_GROUP,))
        for group in groups:
            for index, rule in enumerate(as_list(group.get("ingress"))):
                if not isinstance(rule, Mapping):
                    continue
                cidrs = as_list(rule.get("cidrBlocks")) + as_list(rule.get("ipv6CidrBlocks"))
                cidrs = [c for c in cidrs if isinstance(c, str)]
                if covers_internet(cidrs):
                    yield Finding(
                        group.urn,
                        f"ingress[{index}] admits {', '.join(public_blocks(cidrs))} to the data "
                        f"store {store.name}",
                    )
                elif cidrs:
                    yield Finding(
                        group.urn,
                        f"ingress[{index}] admits the address ranges {', '.join(cidrs)} to the "
                        f"data store {store.name}: any tenant's pods may have those addresses",
                    )
