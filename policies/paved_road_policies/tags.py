"""Tags: every taggable AWS resource says which environment it belongs to, and a tenant's resources
say which tenant — the keys cost allocation and incident response group by.

"Taggable" means the resource type has a `tags` input. A resource that passes `tags` is judged on
what it passes; a resource of a type in `TAGGABLE_TYPES` that passes none is a violation, because
leaving `tags` out is the mistake to catch. The list holds the AWS types this platform and
pulumi-eks create (and the common ones a layer is likely to add); the tests check it against the
provider's schema and against every type in the shipped plans.

Children of a third-party component (pulumi-eks) that pass no `tags` are the component's choice,
not this program's: they are not judged (pulumi-eks tags none of its OIDC providers, and tags its
access entries only when each entry's `tags` is set).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from .core import (
    ENVIRONMENT_TAG,
    MEDIUM,
    TENANT_TAG,
    Context,
    Resource,
    is_unknown,
    resource_rule,
)

TAGGABLE_TYPES = frozenset(
    {
        "aws:acm/certificate:Certificate",
        "aws:alb/loadBalancer:LoadBalancer",
        "aws:alb/targetGroup:TargetGroup",
        "aws:budgets/budget:Budget",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:dynamodb/table:Table",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/instance:Instance",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ecr/repository:Repository",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/addon:Addon",
        "aws:eks/cluster:Cluster",
        "aws:eks/fargateProfile:FargateProfile",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:iam/instanceProfile:InstanceProfile",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:iam/user:User",
        "aws:kms/key:Key",
        "aws:lb/listener:Listener",
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/targetGroup:TargetGroup",
        "aws:msk/cluster:Cluster",
        "aws:rds/cluster:Cluster",
        "aws:rds/instance:Instance",
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:route53/zone:Zone",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:secretsmanager/secret:Secret",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    }
)


# Types whose `tags` input is not the resource's own tags: DevOps Guru's resource collection is a
# filter (`tags: [{appBoundaryKey, tagValues}]`, the resources it analyses) and has no tags itself.
TAGS_ARE_NOT_TAGS = frozenset({"aws:devopsguru/resourceCollection:ResourceCollection"})


def _judged_tags(resource: Resource) -> Any:
    """The tags to judge, or None when the resource is not judged (not taggable, or a
    third-party component's untagged child). Components of this program are not AWS resources;
    pulumi-eks' component passes its `tags` on to the cluster and its children, so it is judged."""
    if resource.type in TAGS_ARE_NOT_TAGS:
        return None
    tags = resource.tags
    if "tags" in resource.inputs:
        return tags
    if resource.type in TAGGABLE_TYPES and not resource.in_foreign_component:
        return {}
    return None


def _missing(tags: Any, key: str) -> bool:
    if is_unknown(tags) or (isinstance(tags, Mapping) and is_unknown(tags.get(key))):
        return False
    return not (isinstance(tags, Mapping) and isinstance(tags.get(key), str) and tags.get(key))


def _aws(resource: Resource) -> bool:
    """AWS resources, and pulumi-eks components (whose `tags` reach the resources they create)."""
    return resource.type.startswith(("aws:", "eks:"))


@resource_rule(
    name="tags-environment",
    description=f"Every taggable AWS resource carries the `{ENVIRONMENT_TAG}` tag.",
    remediation="Pass `tags=context.tags` (or the component's `tags`) to every AWS resource.",
    severity=MEDIUM,
)
def environment_tag(resource: Resource, context: Context) -> Iterator[str]:
    if not _aws(resource):
        return
    tags = _judged_tags(resource)
    if tags is not None and _missing(tags, ENVIRONMENT_TAG):
        yield f"no {ENVIRONMENT_TAG} tag" + ("" if tags else " (no tags at all)")


@resource_rule(
    name="tags-tenant",
    description=f"Every taggable AWS resource of a tenant carries the `{TENANT_TAG}` tag.",
    remediation="Tag tenant resources with the Tenant component's tags (they add the tenant).",
    severity=MEDIUM,
)
def tenant_tag(resource: Resource, context: Context) -> Iterator[str]:
    if not _aws(resource) or not resource.in_tenant:
        return
    tags = _judged_tags(resource)
    if tags is not None and _missing(tags, TENANT_TAG):
        yield f"a tenant's resource without the {TENANT_TAG} tag"
