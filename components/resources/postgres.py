"""Postgres for a tenant: Amazon RDS for PostgreSQL, secure by default.

RDS rather than Aurora: a team's service database is small to medium, and a single RDS instance
(Multi-AZ in production) is cheaper at that size, has one storage model to reason about, and
offers every engine setting asked for here; Aurora pays off at a scale no tenant has asked for yet.

The master password is created and rotated by RDS in Secrets Manager
(`manage_master_user_password`), encrypted with the database's own key: it is never in Pulumi
state. Connections are TLS only (`rds.force_ssl`), and IAM database authentication is on so a
team can move off passwords.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from components.resources.common import (
    ResourceTarget,
    connection_secret,
    data_store_security_group,
    grant_secret,
    resource_key,
    stateful_options,
)
from components.resources_config import (
    POSTGRES_CLASSES,
    POSTGRES_STORAGE_GIB,
    POSTGRES_VERSIONS,
    ResourceConfig,
)

PORT = 5432
MASTER_USERNAME = "paved_road_admin"
BACKUP_DAYS = 7
PRODUCTION_BACKUP_DAYS = 35
# Performance Insights' free tier keeps 7 days.
INSIGHTS_RETENTION_DAYS = 7


def database_name(resource: ResourceConfig) -> str:
    """Postgres identifiers take no '-'."""
    return resource.name.replace("-", "_")


class Postgres(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        resource: ResourceConfig,
        target: ResourceTarget,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("paved-road:resources:Postgres", name, None, opts)
        physical = target.physical_name(resource)
        tags = target.tags_for(resource)
        child = pulumi.ResourceOptions(parent=self)
        major = resource.resolved_version
        key = resource_key(name, target, resource, "Postgres", self)
        security_group = data_store_security_group(name, target, resource, PORT, self)
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=physical,
            description=f"Private subnets of postgres {resource.name} ({target.tenant})",
            subnet_ids=target.subnet_ids,
            tags=tags,
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-parameters",
            name=f"{physical}-pg{major}",
            family=f"postgres{major}",
            description=f"TLS-only connections for postgres {resource.name} ({target.tenant})",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
            ],
            tags=tags,
            opts=child,
        )
        production = target.production
        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=physical,
            engine="postgres",
            engine_version=POSTGRES_VERSIONS[major],
            # A minor upgrade is a reviewed change of POSTGRES_VERSIONS, never a surprise.
            auto_minor_version_upgrade=False,
            instance_class=POSTGRES_CLASSES[resource.resolved_size],
            allocated_storage=POSTGRES_STORAGE_GIB[resource.resolved_size],
            max_allocated_storage=POSTGRES_STORAGE_GIB[resource.resolved_size] * 4,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=database_name(resource),
            username=MASTER_USERNAME,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.key_id,
            iam_database_authentication_enabled=True,
            parameter_group_name=parameters.name,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[security_group.id],
            publicly_accessible=False,
            multi_az=production,
            backup_retention_period=PRODUCTION_BACKUP_DAYS if production else BACKUP_DAYS,
            copy_tags_to_snapshot=True,
            deletion_protection=not resource.decommission,
            skip_final_snapshot=not production,
            final_snapshot_identifier=f"{physical}-final" if production else None,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key.arn,
            performance_insights_retention_period=INSIGHTS_RETENTION_DAYS,
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                stateful_options(target, resource, self),
                pulumi.ResourceOptions(depends_on=[parameters, subnets, security_group]),
            ),
        )
        self.endpoint = instance.address
        self.master_secret_arn = instance.master_user_secrets.apply(_secret_arn)
        access = grant_secret(name, target, [self.master_secret_arn], key, self)
        connection_secret(
            name,
            target,
            resource,
            remote={
                "username": (self.master_secret_arn, "username"),
                "password": (self.master_secret_arn, "password"),
            },
            literal={
                "host": instance.address,
                "port": str(PORT),
                "dbname": database_name(resource),
                "sslmode": "verify-full",
                "masterSecretArn": self.master_secret_arn,
            },
            parent=self,
            depends_on=[access],
        )
        self.register_outputs(
            {"endpoint": self.endpoint, "port": PORT, "masterSecretArn": self.master_secret_arn}
        )


def _secret_arn(secrets: list) -> str:
    """The ARN of the secret RDS keeps the master password in (one per instance)."""
    return secrets[0].secret_arn
