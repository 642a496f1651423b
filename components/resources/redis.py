"""Redis for a tenant: an ElastiCache for Valkey replication group, secure by default.

Valkey rather than Redis OSS: it is the engine AWS develops ElastiCache on, speaks the Redis
protocol (clients for Redis 7 connect unchanged), and costs less per node. The engine version is
pinned (components/resources_config.py REDIS_VERSIONS) and minor upgrades are off.

Encrypted in transit (TLS required) and at rest with the cache's own key; clients authenticate
with an AUTH token generated here and kept in Secrets Manager under the tenant's prefix. In
production two nodes in two zones fail over automatically.
"""

from __future__ import annotations

import json
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.resources.common import (
    ResourceTarget,
    connection_secret,
    data_store_security_group,
    grant_secret,
    resource_key,
    stateful_options,
)
from components.resources_config import REDIS_NODE_TYPES, REDIS_VERSIONS, ResourceConfig

PORT = 6379
ENGINE = "valkey"
SNAPSHOT_DAYS = 7
PRODUCTION_SNAPSHOT_DAYS = 35


class Redis(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    secret_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        resource: ResourceConfig,
        target: ResourceTarget,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("paved-road:resources:Redis", name, None, opts)
        physical = target.physical_name(resource)
        tags = target.tags_for(resource)
        child = pulumi.ResourceOptions(parent=self)
        production = target.production
        version = resource.resolved_version
        key = resource_key(name, target, resource, "Redis", self)
        security_group = data_store_security_group(name, target, resource, PORT, self)
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            name=physical,
            description=f"Private subnets of redis {resource.name} ({target.tenant})",
            subnet_ids=target.subnet_ids,
            tags=tags,
            opts=child,
        )
        # ElastiCache AUTH tokens: 16-128 printable characters without '@', '"' or '/'.
        token = random.RandomPassword(f"{name}-auth-token", length=64, special=False, opts=child)
        secret = aws.secretsmanager.Secret(
            f"{name}-auth-secret",
            name=f"{target.secrets_prefix}resources/{resource.name}",
            description=f"AUTH token of redis {resource.name} ({target.tenant})",
            kms_key_id=key.arn,
            recovery_window_in_days=30,
            tags=tags,
            opts=stateful_options(target, resource, self),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-auth-secret-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                token.result.apply(lambda value: json.dumps({"authToken": value}))
            ),
            opts=child,
        )
        group = aws.elasticache.ReplicationGroup(
            f"{name}-replication-group",
            replication_group_id=physical,
            description=f"redis {resource.name} of tenant {target.tenant}",
            engine=ENGINE,
            engine_version=version,
            parameter_group_name=f"default.{REDIS_VERSIONS[version]}",
            auto_minor_version_upgrade=False,
            node_type=REDIS_NODE_TYPES[resource.resolved_size],
            num_cache_clusters=2 if production else 1,
            automatic_failover_enabled=production,
            multi_az_enabled=production,
            port=PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[security_group.id],
            at_rest_encryption_enabled=True,
            kms_key_id=key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token.result,
            snapshot_retention_limit=PRODUCTION_SNAPSHOT_DAYS if production else SNAPSHOT_DAYS,
            final_snapshot_identifier=f"{physical}-final" if production else None,
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                stateful_options(target, resource, self),
                pulumi.ResourceOptions(depends_on=[subnets, security_group]),
            ),
        )
        self.endpoint = group.primary_endpoint_address
        self.secret_arn = secret.arn
        access = grant_secret(name, target, [secret.arn], key, self)
        connection_secret(
            name,
            target,
            resource,
            remote={"authToken": (secret.name, "authToken")},
            literal={"host": group.primary_endpoint_address, "port": str(PORT), "tls": "true"},
            parent=self,
            depends_on=[access],
        )
        self.register_outputs({"endpoint": self.endpoint, "port": PORT, "secretArn": secret.arn})
