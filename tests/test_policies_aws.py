"""The AWS rules (EKS, nodes, KMS, IAM, network, tags), each passing on what the shipped stacks
register and failing on a realistic resource that breaks it.

Failing cases start from the recorded resource and change one thing. Resources the program does
not create itself are built the way their creator builds them: `aws:eks/cluster:Cluster` as
pulumi-eks' `createCore` registers it from the component's inputs (what a real preview shows),
security groups and load balancers as the pulumi-aws schema names their inputs.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
from dataclasses import replace
from typing import Any, Iterable, Optional

import pulumi_aws
import pytest

from pavedroad.check import planned_id, resources_from_plan
from policies.paved_road_policies import registry
from policies.paved_road_policies.config import PackConfig
from policies.paved_road_policies.core import UNKNOWN, Resource
from policies.paved_road_policies.runner import Violation, evaluate
from policies.paved_road_policies.tags import TAGGABLE_TYPES, TAGS_ARE_NOT_TAGS
from tests.conftest import SHIPPED_STACKS, shipped_plan

DEV = "dev"


def views(stack: str) -> list[Resource]:
    return resources_from_plan({"resources": [r.to_json() for r in shipped_plan(stack).resources]})


def find(resources: Iterable[Resource], type_: str, name: Optional[str] = None) -> Resource:
    found = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert found, f"no {type_} {name or ''}"
    return found[0]


def edited(resource: Resource, **inputs: Any) -> Resource:
    """A copy of a recorded resource with some inputs replaced (None removes one)."""
    changed = copy.deepcopy(dict(resource.inputs))
    for key, value in inputs.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return replace(resource, inputs=changed)


def violations(
    rule: str,
    resources: Iterable[Resource],
    production: bool = False,
    config: Optional[PackConfig] = None,
) -> list[Violation]:
    return evaluate([registry.BY_NAME[rule]], resources, config, production)


def messages(rule: str, resources: Iterable[Resource], **kwargs: Any) -> list[str]:
    return [v.message for v in violations(rule, resources, **kwargs)]


def swapped(resources: list[Resource], old: Resource, new: Resource) -> list[Resource]:
    return [new if r.urn == old.urn else r for r in resources]


# EKS ------------------------------------------------------------------------------------------

CLUSTER = "eks:index:Cluster"
EKS_RULES = (
    "eks-secrets-encryption",
    "eks-control-plane-logging",
    "eks-endpoint-access",
    "eks-authentication-mode",
    "eks-supported-version",
)


def aws_cluster(component: Resource) -> Resource:
    """The `aws:eks/cluster:Cluster` pulumi-eks creates under the component, with the inputs its
    `createCore` passes (nodejs/eks/cluster/cluster.ts): what `pulumi preview` analyses."""
    c = component.inputs
    vpc_config: dict[str, Any] = {
        "securityGroupIds": ["sg-0b1a2c3d4e5f60718"],
        "subnetIds": c.get("publicSubnetIds", []) + c.get("privateSubnetIds", []),
        "endpointPrivateAccess": c["endpointPrivateAccess"],
        "endpointPublicAccess": c["endpointPublicAccess"],
    }
    if "publicAccessCidrs" in c:
        vpc_config["publicAccessCidrs"] = c["publicAccessCidrs"]
    inputs = {
        "name": c["name"],
        "roleArn": f"arn:aws:iam::123456789012:role/{component.name}-eksRole-4b490823",
        "bootstrapSelfManagedAddons": True,
        "vpcConfig": vpc_config,
        "version": c["version"],
        "enabledClusterLogTypes": c["enabledClusterLogTypes"],
        "tags": {"Name": f"{component.name}-eksCluster", **c["clusterTags"], **c["tags"]},
        "encryptionConfig": {
            "provider": {"keyArn": c["encryptionConfigKeyArn"]},
            "resources": ["secrets"],
        },
        "accessConfig": {
            "authenticationMode": c["authenticationMode"],
            "bootstrapClusterCreatorAdminPermissions": True,
        },
        "deletionProtection": c["deletionProtection"],
    }
    return Resource(
        type="aws:eks/cluster:Cluster",
        urn=f"{component.urn.rsplit('::', 1)[0]}$aws:eks/cluster:Cluster::"
        f"{component.name}-eksCluster",
        name=f"{component.name}-eksCluster",
        inputs=inputs,
        parent=component.urn,
    )


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_eks_rules_pass_the_shipped_component_and_its_cluster(stack: str) -> None:
    component = find(views(stack), CLUSTER)
    for rule in EKS_RULES:
        assert messages(rule, [component, aws_cluster(component)]) == [], rule


def test_eks_secrets_encryption_needs_a_customer_key() -> None:
    component = find(views(DEV), CLUSTER)
    cluster = aws_cluster(component)
    assert messages("eks-secrets-encryption", [edited(component, encryptionConfigKeyArn=None)]) == [
        "secrets are not envelope-encrypted: no KMS key is configured"
    ]
    assert messages("eks-secrets-encryption", [edited(cluster, encryptionConfig=None)]) == [
        "secrets are not envelope-encrypted: no KMS key is configured"
    ]
    aws_key = {
        "provider": {"keyArn": "arn:aws:kms:eu-west-1:123456789012:alias/aws/eks"},
        "resources": ["secrets"],
    }
    assert (
        "not a customer-managed"
        in messages("eks-secrets-encryption", [edited(cluster, encryptionConfig=aws_key)])[0]
    )


def test_eks_logging_needs_all_five_types() -> None:
    component = find(views(DEV), CLUSTER)
    three = ["api", "audit", "authenticator"]
    assert messages(
        "eks-control-plane-logging", [edited(component, enabledClusterLogTypes=three)]
    ) == ["control-plane log types not enabled: controllerManager, scheduler"]
    cluster = edited(aws_cluster(component), enabledClusterLogTypes=None)
    assert messages("eks-control-plane-logging", [cluster]) == [
        "control-plane log types not enabled: api, audit, authenticator, controllerManager, "
        "scheduler"
    ]


def test_eks_endpoint_is_private_or_listed_never_the_world() -> None:
    component = find(views(DEV), CLUSTER)
    assert component.inputs["endpointPublicAccess"] is True, "dev lists an office CIDR"
    world = edited(component, publicAccessCidrs=["203.0.113.0/24", "0.0.0.0/0"])
    assert messages("eks-endpoint-access", [world]) == [
        "the public API endpoint is open to the internet: 0.0.0.0/0"
    ]
    unlisted = edited(component, publicAccessCidrs=None)
    assert "AWS opens it to 0.0.0.0/0" in messages("eks-endpoint-access", [unlisted])[0]
    # The real cluster with vpcConfig left to AWS's defaults: public, from anywhere.
    cluster = aws_cluster(component)
    defaults = edited(cluster, vpcConfig={"subnetIds": cluster.inputs["vpcConfig"]["subnetIds"]})
    assert len(messages("eks-endpoint-access", [defaults])) == 1
    private = edited(component, endpointPublicAccess=False, publicAccessCidrs=None)
    assert messages("eks-endpoint-access", [private]) == []


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["::/0"],
        ["0.0.0.0/00"],
        ["::ffff:0:0/96"],
        # Many small ranges that add up: 16 /12s of public space (a /8's worth).
        [f"{first}.{second}.0.0/12" for first in (11, 12) for second in range(0, 256, 16)],
    ],
    ids=["two-halves", "ipv6-everywhere", "slash-00", "ipv4-mapped", "many-small"],
)
def test_eks_endpoint_open_to_the_internet_in_any_spelling_is_found(cidrs: list[str]) -> None:
    """Issue 10, item 2: coverage is computed over the union, not matched against a literal."""
    component = find(views(DEV), CLUSTER)
    found = messages("eks-endpoint-access", [edited(component, publicAccessCidrs=cidrs)])
    assert len(found) == 1 and "open to the internet" in found[0], found


def test_eks_endpoint_listing_offices_and_private_ranges_passes() -> None:
    component = find(views(DEV), CLUSTER)
    offices = ["203.0.113.0/24", "198.51.100.0/24", "10.0.0.0/8", "1.2.0.0/16", "2001:db8::/32"]
    assert messages("eks-endpoint-access", [edited(component, publicAccessCidrs=offices)]) == []


def test_eks_authentication_mode_is_api() -> None:
    component = find(views(DEV), CLUSTER)
    mixed = edited(component, authenticationMode="API_AND_CONFIG_MAP")
    assert "API_AND_CONFIG_MAP" in messages("eks-authentication-mode", [mixed])[0]
    # No accessConfig: EKS defaults to the aws-auth ConfigMap.
    cluster = edited(aws_cluster(component), accessConfig=None)
    assert "'CONFIG_MAP'" in messages("eks-authentication-mode", [cluster])[0]


def test_eks_version_is_one_the_platform_supports() -> None:
    component = find(views(DEV), CLUSTER)
    assert (
        "1.29 is not supported"
        in messages("eks-supported-version", [edited(component, version="1.29")])[0]
    )
    assert (
        "no Kubernetes version is pinned"
        in messages("eks-supported-version", [edited(aws_cluster(component), version=None)])[0]
    )
    config = PackConfig.parse(
        {"eks-supported-version": {"supportedVersions": ["1.36"]}}, "x.json", registry.RULES
    )
    assert messages("eks-supported-version", [component], config=config) == [
        "Kubernetes 1.35 is not supported (supported: 1.36)"
    ]


def test_eks_component_without_inputs_is_left_to_its_cluster() -> None:
    """A real preview registers the remote component without its inputs: not a violation."""
    component = find(views(DEV), CLUSTER)
    for rule in EKS_RULES:
        assert messages(rule, [replace(component, inputs={})]) == [], rule


# Nodes ----------------------------------------------------------------------------------------

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"


def metadata(template: Resource, **options: Any) -> Resource:
    return edited(template, metadataOptions={**template.inputs["metadataOptions"], **options})


def test_imdsv2_is_required_with_a_short_hop_limit() -> None:
    template = find(views(DEV), LAUNCH_TEMPLATE)
    assert messages("nodes-imdsv2-required", [template]) == []
    assert messages("nodes-imdsv2-required", [metadata(template, httpTokens="optional")]) == [
        "metadataOptions.httpTokens is 'optional': IMDSv2 must be 'required'"
    ]
    assert messages("nodes-imdsv2-required", [metadata(template, httpPutResponseHopLimit=3)]) == [
        "metadataOptions.httpPutResponseHopLimit is 3: at most 2 is allowed"
    ]
    assert (
        "IMDSv1" in messages("nodes-imdsv2-required", [edited(template, metadataOptions=None)])[0]
    )
    two = metadata(template, httpPutResponseHopLimit=2)
    assert messages("nodes-imdsv2-required", [two]) == []


def test_hop_limit_above_one_is_advisory() -> None:
    template = find(views(DEV), LAUNCH_TEMPLATE)
    assert messages("nodes-imds-hop-limit-one", [template]) == []
    (violation,) = violations(
        "nodes-imds-hop-limit-one", [metadata(template, httpPutResponseHopLimit=2)]
    )
    assert violation.level == "advisory" and not violation.mandatory


def test_node_groups_can_be_replaced() -> None:
    """The shipped node groups are named by prefix; a fixed name passes only with
    deleteBeforeReplace, which the rule reads from the recorded options."""
    group = find(views(DEV), NODE_GROUP)
    assert messages("nodes-group-replaceable", [group]) == []
    fixed = edited(group, nodeGroupNamePrefix=None, nodeGroupName="paved-road-dev-system")
    assert messages("nodes-group-replaceable", [fixed]) == [
        "fixed name 'paved-road-dev-system' without deleteBeforeReplace: replacing the group (a "
        "change of instance types, say) would create a second group with the same name, which EKS "
        "refuses"
    ]
    deleted_first = replace(fixed, options={**fixed.options, "deleteBeforeReplace": True})
    assert messages("nodes-group-replaceable", [deleted_first]) == []


def test_node_volumes_are_encrypted() -> None:
    resources = views(DEV)
    template, group = find(resources, LAUNCH_TEMPLATE), find(resources, NODE_GROUP)
    assert messages("nodes-volumes-encrypted", [template, group]) == []
    mapping = copy.deepcopy(template.inputs["blockDeviceMappings"])
    mapping[0]["ebs"]["encrypted"] = "false"
    assert messages("nodes-volumes-encrypted", [edited(template, blockDeviceMappings=mapping)]) == [
        "blockDeviceMappings[0] (/dev/xvda): ebs.encrypted is 'false'"
    ]
    bare = edited(template, blockDeviceMappings=None)
    assert "not encrypted" in messages("nodes-volumes-encrypted", [bare])[0]
    no_template = edited(group, launchTemplate=None, diskSize=50)
    assert "no launch template" in messages("nodes-volumes-encrypted", [no_template])[0]


def test_node_groups_run_in_private_subnets_only() -> None:
    resources = views(DEV)
    group = find(resources, NODE_GROUP)
    assert messages("nodes-private-subnets", resources) == []
    public = find(resources, SUBNET, "network-public-0")
    assert public.id == planned_id(shipped_plan(DEV).get(public.urn).to_json())
    in_public = edited(group, subnetIds=[*group.inputs["subnetIds"], public.id])
    assert messages("nodes-private-subnets", swapped(resources, group, in_public)) == [
        "node group subnet network-public-0 is tagged kubernetes.io/role/elb "
        "(internet-facing load balancers)"
    ]
    private = find(resources, SUBNET, "network-private-1")
    mapping_ips = edited(private, mapPublicIpOnLaunch=True)
    assert messages("nodes-private-subnets", swapped(resources, private, mapping_ips)) == [
        "node group subnet network-private-1 maps public IPs on launch"
    ]


def test_private_subnets_follow_dependencies_when_ids_are_unknown() -> None:
    """In a preview the subnet ids are not known yet: the engine's dependencies still tell."""
    resources = views(DEV)
    group = find(resources, NODE_GROUP)
    public = find(resources, SUBNET, "network-public-0")
    unknown = replace(
        edited(group, subnetIds=UNKNOWN), dependencies=(*group.dependencies, public.urn)
    )
    assert len(messages("nodes-private-subnets", swapped(resources, group, unknown))) == 1
    known = replace(edited(group, subnetIds=UNKNOWN), dependencies=group.dependencies)
    assert messages("nodes-private-subnets", swapped(resources, group, known)) == []


# KMS ------------------------------------------------------------------------------------------

KEY = "aws:kms/key:Key"


def test_kms_keys_rotate() -> None:
    key = find(views(DEV), KEY)
    assert messages("kms-key-rotation", [key]) == []
    assert messages("kms-key-rotation", [edited(key, enableKeyRotation=False)]) == [
        "enableKeyRotation is not true: the key material never rotates"
    ]
    assert len(messages("kms-key-rotation", [edited(key, enableKeyRotation=None)])) == 1
    signing = edited(key, enableKeyRotation=None, customerMasterKeySpec="RSA_2048")
    assert messages("kms-key-rotation", [signing]) == [], "AWS cannot rotate asymmetric keys"


def key_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ROOT_ACCESS = {
    "Sid": "AccountRoot",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def test_kms_key_policy_never_opens_to_everyone() -> None:
    key = find(views(DEV), KEY)
    assert messages("kms-no-public-principal", [key]) == [], "the default key policy"
    public = {
        "Sid": "Everyone",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["kms:Decrypt"],
        "Resource": "*",
    }
    assert messages(
        "kms-no-public-principal", [edited(key, policy=key_policy(ROOT_ACCESS, public))]
    ) == ["key policy statement Everyone allows principal '*' without a condition"]
    in_account = {**public, "Condition": {"StringEquals": {"kms:CallerAccount": "123456789012"}}}
    scoped = edited(key, policy=key_policy(ROOT_ACCESS, in_account))
    assert messages("kms-no-public-principal", [scoped]) == []
    separate = Resource(
        type="aws:kms/keyPolicy:KeyPolicy",
        urn=key.urn.replace("aws:kms/key:Key::", "aws:kms/keyPolicy:KeyPolicy::"),
        name=f"{key.name}-policy",
        inputs={"keyId": "1234abcd", "policy": key_policy({**public, "Principal": "*"})},
    )
    assert len(messages("kms-no-public-principal", [separate])) == 1


# IAM ------------------------------------------------------------------------------------------

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def tenant_role(resources: list[Resource], tenant: str) -> Resource:
    return next(
        r for r in resources if r.type == ROLE and (r.tags or {}).get("paved-road:tenant") == tenant
    )


def role_policy_of(resources: list[Resource], role: Resource) -> Resource:
    return next(
        r for r in resources if r.type == ROLE_POLICY and r.inputs["role"] == role.inputs["name"]
    )


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_iam_rules_pass_every_shipped_stack(stack: str) -> None:
    resources = views(stack)
    for rule in ("iam-no-wildcard-admin", "iam-irsa-trust-pinned", "iam-tenant-secrets-isolation"):
        assert messages(rule, resources) == [], rule


def test_no_policy_allows_everything_on_everything() -> None:
    resources = views(DEV)
    policy = find(resources, ROLE_POLICY)
    admin = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    assert messages("iam-no-wildcard-admin", [edited(policy, policy=document(admin))]) == [
        "policy: statement #0 allows '*' on '*'"
    ]
    denied = {**admin, "Effect": "Deny"}
    assert messages("iam-no-wildcard-admin", [edited(policy, policy=document(denied))]) == []
    role = find(resources, ROLE)
    inline = [{"name": "break-glass", "policy": document({**admin, "Sid": "Everything"})}]
    assert messages("iam-no-wildcard-admin", [edited(role, inlinePolicies=inline)]) == [
        "inlinePolicies[0] (break-glass): statement Everything allows '*' on '*'"
    ]
    attachment = find(resources, ATTACHMENT)
    administrator = edited(attachment, policyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    assert "AdministratorAccess" in messages("iam-no-wildcard-admin", [administrator])[0]


def trust_condition(role: Resource, **changes: Any) -> Resource:
    trust = json.loads(role.inputs["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]
    for operator, clause in changes.items():
        if clause is None:
            condition.pop(operator, None)
        else:
            condition[operator] = clause
    return edited(role, assumeRolePolicy=json.dumps(trust))


def irsa_role(resources: list[Resource]) -> tuple[Resource, str]:
    role = next(
        r
        for r in resources
        if r.type == ROLE and "AssumeRoleWithWebIdentity" in r.inputs.get("assumeRolePolicy", "")
    )
    issuer = re.search(r"oidc-provider/([^\"]+)\"", role.inputs["assumeRolePolicy"]).group(1)
    return role, issuer


def test_irsa_trust_pins_subject_and_audience() -> None:
    role, issuer = irsa_role(views(DEV))
    assert messages("iam-irsa-trust-pinned", [role]) == []
    any_account = trust_condition(
        role,
        StringEquals={f"{issuer}:aud": "sts.amazonaws.com"},
        StringLike={f"{issuer}:sub": "system:serviceaccount:*:*"},
    )
    assert messages("iam-irsa-trust-pinned", [any_account]) == [
        f"trust statement #0: {issuer}:sub matches the wildcard 'system:serviceaccount:*:*'"
    ]
    no_audience = trust_condition(
        role, StringEquals={f"{issuer}:sub": "system:serviceaccount:kube-system:aws-node"}
    )
    assert messages("iam-irsa-trust-pinned", [no_audience]) == [
        f"trust statement #0: {issuer}:aud is not conditioned"
    ]
    unconditioned = trust_condition(role, StringEquals=None)
    assert len(messages("iam-irsa-trust-pinned", [unconditioned])) == 2
    wrong_audience = trust_condition(
        role,
        StringEquals={
            f"{issuer}:sub": "system:serviceaccount:kube-system:aws-node",
            f"{issuer}:aud": "https://example.com",
        },
    )
    assert "allows 'https://example.com'" in messages("iam-irsa-trust-pinned", [wrong_audience])[0]


def test_irsa_trust_keys_must_name_the_issuer_without_its_scheme() -> None:
    """IAM names a web identity's claims `<issuer>:sub` with the issuer as the OIDC provider's
    ARN ends (no `https://`); keys built from the issuer URL never match, so the role would trust
    nobody — or, read with a suffix check, look pinned while it is not."""
    role, issuer = irsa_role(views(DEV))
    assert not issuer.startswith("https://")
    sub, aud = f"https://{issuer}:sub", f"https://{issuer}:aud"
    with_scheme = trust_condition(
        role,
        StringEquals={sub: "system:serviceaccount:kube-system:aws-node", aud: "sts.amazonaws.com"},
    )
    found = messages("iam-irsa-trust-pinned", [with_scheme])
    assert sorted(found) == [
        f"trust statement #0: condition key {aud!r} does not name the provider's issuer "
        f"{issuer!r} (the ARN's path after 'oidc-provider/', without https://), so IAM never "
        "matches it",
        f"trust statement #0: condition key {sub!r} does not name the provider's issuer "
        f"{issuer!r} (the ARN's path after 'oidc-provider/', without https://), so IAM never "
        "matches it",
        f"trust statement #0: {issuer}:aud is not conditioned",
        f"trust statement #0: {issuer}:sub is not conditioned",
    ]


def test_a_tenant_role_reads_only_its_own_secrets() -> None:
    resources = views(DEV)
    role = tenant_role(resources, "payments")
    policy = role_policy_of(resources, role)
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    (own,) = statement["Resource"]
    assert own.endswith(":secret:paved-road/dev/tenants/payments/*")
    every_tenant = own.replace("tenants/payments/*", "tenants/*")
    broad = edited(policy, policy=document({**statement, "Resource": [every_tenant]}))
    assert messages("iam-tenant-secrets-isolation", swapped(resources, policy, broad)) == [
        "tenant payments's role can read secrets under paved-road/dev/tenants/search/, "
        "paved-road/dev/tenants/storefront/ through role policy "
        f"{policy.name} (resource {every_tenant!r})"
    ]
    neighbour = own.replace("tenants/payments/", "tenants/search/")
    other = edited(policy, policy=document({**statement, "Resource": [own, neighbour]}))
    assert messages("iam-tenant-secrets-isolation", swapped(resources, policy, other)) == [
        "tenant payments's role can read secrets under paved-road/dev/tenants/search/ through "
        f"role policy {policy.name} (resource {neighbour!r})"
    ]
    # With one tenant alone, `tenants/*` still reads every tenant still to come.
    alone = [
        r
        for r in swapped(resources, policy, broad)
        if not r.in_tenant or r.urn in (role.urn, policy.urn)
    ]
    assert messages("iam-tenant-secrets-isolation", alone) == [
        "tenant payments's role can read secrets under paved-road/dev/tenants/<any tenant>/ "
        f"through role policy {policy.name} (resource {every_tenant!r})"
    ]
    managed = Resource(
        type=ATTACHMENT,
        urn=policy.urn.replace(ROLE_POLICY, ATTACHMENT) + "-managed",
        name=f"{policy.name}-managed",
        inputs={
            "role": role.inputs["name"],
            "policyArn": "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
        },
    )
    assert messages("iam-tenant-secrets-isolation", [*resources, managed]) == [
        "tenant payments's role can read secrets under paved-road/dev/tenants/search/, "
        "paved-road/dev/tenants/storefront/ through managed policy "
        "arn:aws:iam::aws:policy/SecretsManagerReadWrite (resource '*')"
    ]


# Network --------------------------------------------------------------------------------------

SG = "aws:ec2/securityGroup:SecurityGroup"
LB = "aws:lb/loadBalancer:LoadBalancer"


def network_resources(port: int = 443, used_by_load_balancer: bool = True) -> list[Resource]:
    """An internet-facing ALB and its security group, as the network layer would add them."""
    resources = views(DEV)
    network = next(r for r in resources if r.type == "paved-road:foundation:Network")
    vpc = find(resources, "aws:ec2/vpc:Vpc")
    public = [r for r in resources if r.type == SUBNET and "-public-" in r.name]
    group_json = {
        "type": SG,
        "name": "network-alb-sg",
        "urn": f"{network.urn.rsplit('::', 1)[0]}${SG}::network-alb-sg",
        "inputs": {
            "vpcId": vpc.id,
            "description": "Internet-facing load balancer",
            "ingress": [
                {
                    "protocol": "tcp",
                    "fromPort": port,
                    "toPort": port,
                    "cidrBlocks": ["0.0.0.0/0"],
                    "ipv6CidrBlocks": ["::/0"],
                }
            ],
            "egress": [
                {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["10.10.0.0/16"]}
            ],
            "tags": {"paved-road:environment": "dev"},
        },
        "dependencies": [vpc.urn],
    }
    (group,) = resources_from_plan({"resources": [group_json]})
    balancer = Resource(
        type=LB,
        urn=f"{network.urn.rsplit('::', 1)[0]}${LB}::network-alb",
        name="network-alb",
        inputs={
            "loadBalancerType": "application",
            "internal": False,
            "securityGroups": [group.id],
            "subnets": [s.id for s in public],
            "tags": {"paved-road:environment": "dev"},
        },
        dependencies=(group.urn, *(s.urn for s in public)),
    )
    return [*resources, group, *([balancer] if used_by_load_balancer else [])]


def test_only_load_balancers_are_public_and_only_on_web_ports() -> None:
    assert messages("network-public-ingress", views(DEV)) == []
    assert messages("network-public-ingress", network_resources()) == []
    assert messages("network-public-ingress", network_resources(port=22)) == [
        "ingress[0] opens tcp 22-22 to 0.0.0.0/0, ::/0: only TCP 80/443 may be public"
    ]
    assert messages("network-public-ingress", network_resources(used_by_load_balancer=False)) == [
        "ingress[0] opens tcp 443-443 to 0.0.0.0/0, ::/0 on a security group no load balancer "
        "of the stack uses"
    ]


def test_security_group_open_to_the_internet_in_halves_is_found() -> None:
    """Issue 10, item 2: two /1s (or a mapped-IPv4 IPv6 block) are the world on port 22 too."""
    resources = network_resources(port=22)
    group = find(resources, SG, "network-alb-sg")
    for cidrs, ipv6 in ((["0.0.0.0/1", "128.0.0.0/1"], []), ([], ["::ffff:0:0/96"])):
        rule = {**group.inputs["ingress"][0], "cidrBlocks": cidrs, "ipv6CidrBlocks": ipv6}
        halves = edited(group, ingress=[rule])
        others = [r for r in resources if r.urn != group.urn]
        found = messages("network-public-ingress", [*others, halves])
        assert found == [
            f"ingress[0] opens tcp 22-22 to {', '.join(cidrs + ipv6)}: only TCP 80/443 may be "
            "public"
        ]
    private = {**group.inputs["ingress"][0], "cidrBlocks": ["10.0.0.0/8"], "ipv6CidrBlocks": []}
    others = [r for r in resources if r.urn != group.urn]
    assert messages("network-public-ingress", [*others, edited(group, ingress=[private])]) == []


def test_standalone_rules_are_judged_with_their_group() -> None:
    resources = network_resources()
    group = find(resources, SG, "network-alb-sg")
    rule = Resource(
        type="aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        urn=group.urn.replace(SG, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        + "-http",
        name="network-alb-sg-http",
        inputs={
            "securityGroupId": group.id,
            "ipProtocol": "tcp",
            "fromPort": 80,
            "toPort": 80,
            "cidrIpv4": "0.0.0.0/0",
        },
    )
    assert messages("network-public-ingress", [*resources, rule]) == []
    everything = Resource(
        type="aws:ec2/securityGroupRule:SecurityGroupRule",
        urn=group.urn.replace(SG, "aws:ec2/securityGroupRule:SecurityGroupRule") + "-all",
        name="network-alb-sg-all",
        inputs={
            "type": "ingress",
            "securityGroupId": group.id,
            "protocol": "-1",
            "fromPort": 0,
            "toPort": 0,
            "cidrBlocks": ["0.0.0.0/0"],
        },
    )
    assert messages("network-public-ingress", [*resources, everything]) == [
        "rule opens all ports to 0.0.0.0/0: only TCP 80/443 may be public"
    ]


# Tags -----------------------------------------------------------------------------------------


def test_taggable_aws_resources_carry_the_environment_tag() -> None:
    resources = views(DEV)
    assert messages("tags-environment", resources) == []
    vpc = find(resources, "aws:ec2/vpc:Vpc")
    untagged = edited(vpc, tags={"Name": "paved-road-dev-vpc"})
    assert messages("tags-environment", [untagged]) == ["no paved-road:environment tag"]
    template = find(resources, LAUNCH_TEMPLATE)
    assert messages("tags-environment", [edited(template, tags=None)]) == [
        "no paved-road:environment tag (no tags at all)"
    ]
    alias = find(resources, "aws:kms/alias:Alias")
    assert "tags" not in alias.inputs and messages("tags-environment", [alias]) == []


def test_untagged_children_of_pulumi_eks_are_its_choice() -> None:
    component = find(views(DEV), CLUSTER)
    oidc = Resource(
        type="aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        urn=f"{component.urn.rsplit('::', 1)[0]}$aws:iam/openIdConnectProvider:"
        f"OpenIdConnectProvider::{component.name}-oidcProvider",
        name=f"{component.name}-oidcProvider",
        inputs={"clientIdLists": ["sts.amazonaws.com"], "thumbprintLists": ["9e99a48a99"]},
        parent=component.urn,
    )
    assert oidc.in_foreign_component
    assert messages("tags-environment", [oidc, aws_cluster(component)]) == []
    ours = replace(oidc, urn=oidc.urn.replace("$eks:index:Cluster", ""))
    assert messages("tags-environment", [ours]) == [
        "no paved-road:environment tag (no tags at all)"
    ]


def test_tenant_resources_carry_the_tenant_tag() -> None:
    resources = views(DEV)
    assert messages("tags-tenant", resources) == []
    role = tenant_role(resources, "search")
    tags = {k: v for k, v in role.inputs["tags"].items() if k != "paved-road:tenant"}
    assert messages("tags-tenant", [edited(role, tags=tags)]) == [
        "a tenant's resource without the paved-road:tenant tag"
    ]
    platform_role = next(r for r in resources if r.type == ROLE and not r.in_tenant)
    assert messages("tags-tenant", [platform_role]) == []


def _taggable_by_schema() -> dict[str, bool]:
    """Every pulumi-aws resource token → whether its class takes `tags`, from the provider SDK's
    own module registry (the schema the real provider enforces)."""
    source = inspect.getsource(pulumi_aws)
    modules = json.loads(re.search(r'resource_modules="""(.*?)"""', source, re.S).group(1))
    found = {}
    for module in modules:
        for token, cls in module["classes"].items():
            found[token] = (module["fqn"], cls)
    return found


def _has_tags(location: tuple[str, str]) -> bool:
    cls = getattr(importlib.import_module(location[0]), location[1])
    return "tags" in inspect.signature(cls._internal_init).parameters


def test_taggable_types_match_the_provider_schema_and_the_plans() -> None:
    schema = _taggable_by_schema()
    for token in TAGGABLE_TYPES:
        assert token in schema and _has_tags(schema[token]), f"{token} takes no tags"
    for stack in SHIPPED_STACKS:
        for resource in shipped_plan(stack).resources:
            if resource.type in TAGS_ARE_NOT_TAGS:
                continue
            if resource.type.startswith("aws:") and _has_tags(schema[resource.type]):
                assert resource.type in TAGGABLE_TYPES, f"add {resource.type} to TAGGABLE_TYPES"


def test_crossguard_hands_rules_the_same_update_options_as_the_plan() -> None:
    """In a real preview the options come from CrossGuard's PolicyResourceOptions (pulumi_policy
    has deleteBeforeReplace and ignoreChanges, not replaceOnChanges or retainOnDelete)."""
    from pulumi_policy.policy import PolicyResourceOptions

    from policies.paved_road_policies.crossguard import update_options

    def opts(ignore: list[str], delete_first: Optional[bool]) -> PolicyResourceOptions:
        return PolicyResourceOptions(False, ignore, delete_first, [], None, [])

    assert update_options(opts(["tags.b", "tags.a"], True)) == {
        "deleteBeforeReplace": True,
        "ignoreChanges": ["tags.a", "tags.b"],
    }
    assert update_options(opts([], None)) == {} == update_options(None)


def test_a_devops_guru_resource_collection_is_not_judged_by_its_filter_tags() -> None:
    """Its `tags` input is the set of resources DevOps Guru analyses (pulumi_aws
    devopsguru/resource_collection.py), not tags of its own: no tag rule applies to it."""
    collection = find(views("prod"), "aws:devopsguru/resourceCollection:ResourceCollection")
    assert "tags" in collection.inputs
    assert messages("tags-environment", [collection]) == []
    assert messages("tags-tenant", [collection]) == []
    role = find(views("prod"), "aws:iam/role:Role")
    assert messages("tags-environment", [edited(role, tags={"x": "y"})]) != []
