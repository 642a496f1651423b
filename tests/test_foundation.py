"""The foundation's security properties, asserted on what each shipped stack actually registers."""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from components import versions
from pavedroad.engine import SECRET, PlanEngine, PlanRun
from pavedroad.mocks import PlatformMocks, digest
from policies.paved_road_policies.tags import TAGS_ARE_NOT_TAGS
from tests.conftest import (
    ROOT,
    as_list,
    assert_refused,
    make_project,
    one,
    policy_statements,
    stack_config,
)
from tests.irsa import assert_irsa_trust, issuer_path

CLUSTER = "eks:index:Cluster"
SUBNET = "aws:ec2/subnet:Subnet"


def cluster_of(plan: PlanRun):
    return one(plan.by_type(CLUSTER))


def subnet_ids(plan: PlanRun, kind: str) -> list[str]:
    subnets = sorted(r.name for r in plan.by_type(SUBNET) if f"-{kind}-" in r.name)
    return [f"subnet-{digest(SUBNET, name)}" for name in subnets]


def test_secrets_are_envelope_encrypted_with_a_rotating_customer_key(plan: PlanRun) -> None:
    key = one(r for r in plan.by_type("aws:kms/key:Key") if "SecureCluster" in r.urn)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    arn = cluster_of(plan).inputs["encryptionConfigKeyArn"]
    assert arn.startswith("arn:aws:kms:") and ":key/" in arn, "a customer key, not an alias"


def test_all_control_plane_logs_are_on_with_retention(plan: PlanRun) -> None:
    cluster = cluster_of(plan)
    assert sorted(cluster.inputs["enabledClusterLogTypes"]) == sorted(
        ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    )
    log_group = one(
        r
        for r in plan.by_type("aws:cloudwatch/logGroup:LogGroup")
        if r.inputs["name"].endswith("/cluster")
    )
    assert log_group.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster"
    assert log_group.inputs["retentionInDays"] >= 30
    assert log_group.urn in cluster.dependencies, "created before EKS creates it without retention"


def test_endpoint_is_private_and_public_only_from_listed_cidrs(plan: PlanRun, stack: str) -> None:
    cluster = cluster_of(plan).inputs
    listed = stack_config(stack).get("paved-road:cluster", {}).get("publicAccessCidrs", [])
    assert cluster["endpointPrivateAccess"] is True
    assert cluster["endpointPublicAccess"] is bool(listed)
    assert cluster.get("publicAccessCidrs", []) == listed
    for cidr in cluster.get("publicAccessCidrs", []):
        assert ipaddress.IPv4Network(cidr).prefixlen > 0
    if stack_config(stack).get("paved-road:production"):
        assert "0.0.0.0/0" not in cluster.get("publicAccessCidrs", [])


def test_access_is_api_mode_with_admin_access_entries(plan: PlanRun, stack: str) -> None:
    cluster = cluster_of(plan).inputs
    admins = stack_config(stack)["paved-road:cluster"]["admins"]
    assert cluster["authenticationMode"] == "API"
    assert "roleMappings" not in cluster and "userMappings" not in cluster
    deploy_role = stack_config(stack)["paved-road:cluster"].get("deployRoleArn")
    governance = yaml.safe_load((ROOT / "governance.yaml").read_text())
    core = [arn for arn in governance["core"]["principals"] if arn not in admins]
    auditors = governance["security"]["principals"]
    entries = cluster["accessEntries"].values()
    assert sorted(e["principalArn"] for e in entries) == sorted(
        [*admins, *filter(None, [deploy_role]), *core, *auditors]
    )
    for entry in entries:
        (association,) = entry["accessPolicies"].values()
        # Security reads (no Secrets); everyone else here is a cluster admin.
        policy = "View" if entry["principalArn"] in auditors else "ClusterAdmin"
        assert association["policyArn"].endswith(f"/AmazonEKS{policy}Policy")
        assert association["accessScope"] == {"type": "cluster"}


def test_oidc_provider_and_no_default_node_group(plan: PlanRun) -> None:
    cluster = cluster_of(plan).inputs
    assert cluster["createOidcProvider"] is True
    assert cluster["skipDefaultNodeGroup"] is True


# pulumi/pulumi-eks nodejs/eks/cluster/cluster.ts (createCore): these inputs only configure the
# node groups pulumi-eks builds itself (`nodeGroupOptions`); with skipDefaultNodeGroup there are
# none, so setting one promises something nothing enforces.
DEFAULT_NODE_GROUP_ONLY_INPUTS = (
    "nodeAssociatePublicIpAddress",
    "nodeSubnetIds",
    "instanceType",
    "nodePublicKey",
    "nodeRootVolumeEncrypted",
    "nodeRootVolumeSize",
    "nodeUserData",
    "minSize",
    "maxSize",
    "desiredCapacity",
    "nodeAmiId",
    "gpu",
    "nodeGroupOptions",
)


def test_the_cluster_sets_no_input_only_its_own_node_groups_read(plan: PlanRun) -> None:
    cluster = cluster_of(plan).inputs
    assert cluster["skipDefaultNodeGroup"] is True
    assert [key for key in DEFAULT_NODE_GROUP_ONLY_INPUTS if key in cluster] == []


def test_the_control_plane_gets_the_private_subnets_only(plan: PlanRun) -> None:
    """pulumi-eks joins publicSubnetIds and privateSubnetIds into the control plane's
    vpcConfig.subnetIds (nodejs/eks/cluster/cluster.ts, createCore), where EKS places the API
    endpoint's network interfaces; public subnets have no business there."""
    cluster = cluster_of(plan).inputs
    assert "publicSubnetIds" not in cluster and "subnetIds" not in cluster
    assert cluster["privateSubnetIds"] == subnet_ids(plan, "private")


def test_nodes_get_no_public_address(plan: PlanRun) -> None:
    """What decides it for managed node groups: their subnets' mapPublicIpOnLaunch, since the
    launch templates declare no network interface of their own."""
    private = set(subnet_ids(plan, "private"))
    subnets = {f"subnet-{digest(SUBNET, s.name)}": s for s in plan.by_type(SUBNET)}
    for group in plan.by_type("aws:eks/nodeGroup:NodeGroup"):
        assert set(group.inputs["subnetIds"]) <= private
        for subnet in group.inputs["subnetIds"]:
            assert subnets[subnet].inputs["mapPublicIpOnLaunch"] is False
    for template in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate"):
        assert "networkInterfaces" not in template.inputs


def test_node_groups_can_be_replaced_without_a_name_clash_or_lost_capacity(
    plan: PlanRun, stack: str
) -> None:
    """Changing instance types replaces a managed node group. A name prefix lets Pulumi create
    the new group first (its default order) under a new name; the old one is deleted after."""
    for group in plan.by_type("aws:eks/nodeGroup:NodeGroup"):
        short = group.name.removeprefix("cluster-ng-")
        assert "nodeGroupName" not in group.inputs
        assert group.inputs["nodeGroupNamePrefix"] == f"paved-road-{stack}-{short}-"
        assert group.options == {"ignoreChanges": ["scalingConfig.desiredSize"]}


def test_node_groups_wait_for_the_node_role_policies(plan: PlanRun) -> None:
    attachments = [
        r.urn
        for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith("cluster-node-role-")
    ]
    assert len(attachments) == 3
    for group in plan.by_type("aws:eks/nodeGroup:NodeGroup"):
        assert set(attachments) <= set(group.dependencies), group.name


def test_node_groups_are_private_hardened_and_as_configured(plan: PlanRun, stack: str) -> None:
    configured = stack_config(stack)["paved-road:cluster"]["nodeGroups"]
    groups = plan.by_type("aws:eks/nodeGroup:NodeGroup")
    assert sorted(g.inputs["nodeGroupNamePrefix"] for g in groups) == sorted(
        f"paved-road-{stack}-{c['name']}-" for c in configured
    )
    private, public = subnet_ids(plan, "private"), subnet_ids(plan, "public")
    templates = {
        f"lt-{digest('aws:ec2/launchTemplate:LaunchTemplate', t.name)}": t
        for t in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate")
    }
    for group, config in zip(
        sorted(groups, key=lambda g: g.inputs["nodeGroupNamePrefix"]),
        sorted(configured, key=lambda c: c["name"]),
    ):
        assert group.inputs["subnetIds"] == private
        assert not set(group.inputs["subnetIds"]) & set(public)
        assert group.inputs["version"] == cluster_of(plan).inputs["version"]
        template = templates[group.inputs["launchTemplate"]["id"]].inputs
        metadata = template["metadataOptions"]
        assert metadata["httpTokens"] == "required"
        assert metadata["httpPutResponseHopLimit"] == config.get("metadataHopLimit", 1)
        (root_volume,) = template["blockDeviceMappings"]
        assert root_volume["ebs"]["encrypted"] == "true"
        assert root_volume["ebs"]["volumeType"] == "gp3"
        scaling = group.inputs["scalingConfig"]
        assert (scaling["minSize"], scaling["maxSize"]) == (config["minSize"], config["maxSize"])
        # Nodes never float: the AMI release is the one pinned for the cluster's minor.
        version = cluster_of(plan).inputs["version"]
        assert group.inputs["releaseVersion"] == versions.NODE_AMI_RELEASE_VERSIONS[version]
        assert group.inputs["updateConfig"] == {"maxUnavailablePercentage": 33}


@pytest.mark.parametrize(
    "rolling, expected",
    [
        ({"maxUnavailable": 2}, {"maxUnavailable": 2}),
        ({"maxUnavailablePercentage": 10}, {"maxUnavailablePercentage": 10}),
    ],
)
def test_node_groups_roll_by_the_stack_files_max_unavailable(
    tmp_path: Path, rolling: dict[str, int], expected: dict[str, int]
) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:cluster"]["nodeGroups"][0].update(rolling)
    plan = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    (group,) = [
        g for g in plan.by_type("aws:eks/nodeGroup:NodeGroup") if g.name == "cluster-ng-system"
    ]
    assert group.inputs["updateConfig"] == expected


@pytest.mark.parametrize(
    "rolling, message",
    [
        ({"maxUnavailable": 2, "maxUnavailablePercentage": 10}, "not both"),
        ({"maxUnavailablePercentage": 0}, "greater than or equal to 1"),
        ({"maxUnavailable": 101}, "less than or equal to 100"),
    ],
)
def test_a_bad_max_unavailable_is_refused(
    tmp_path: Path, rolling: dict[str, int], message: str
) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:cluster"]["nodeGroups"][0].update(rolling)
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    field = "paved-road:cluster.nodeGroups[0]"
    if len(rolling) == 1:
        field += "." + next(iter(rolling))
    assert_refused(engine, "stacks/Pulumi.dev.yaml", field, message)


def test_private_subnets_route_through_nat_and_carry_load_balancer_tags(
    plan: PlanRun, stack: str
) -> None:
    subnets = plan.by_type(SUBNET)
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    for subnet in subnets:
        role = "internal-elb" if "-private-" in subnet.name else "elb"
        assert subnet.inputs["tags"][f"kubernetes.io/role/{role}"] == "1"
    nats = plan.by_type("aws:ec2/natGateway:NatGateway")
    per_az = stack_config(stack)["paved-road:network"].get("natGateways", "perAz") == "perAz"
    assert len(nats) == (len(subnets) // 2 if per_az else 1)
    private_tables = [
        t for t in plan.by_type("aws:ec2/routeTable:RouteTable") if "-private-" in t.name
    ]
    for table in private_tables:
        (route,) = table.inputs["routes"]
        assert route["cidrBlock"] == "0.0.0.0/0" and route["natGatewayId"].startswith("nat-")


def test_vpc_flow_logs_go_to_a_scoped_log_group(plan: PlanRun) -> None:
    flow_log = one(plan.by_type("aws:ec2/flowLog:FlowLog"))
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestinationType"] == "cloud-watch-logs"
    policy = one(r for r in plan.by_type("aws:iam/rolePolicy:RolePolicy") if "flow-logs" in r.name)
    for statement in policy_statements(policy.inputs["policy"]):
        assert all(
            resource.startswith("arn:aws:logs:") for resource in as_list(statement["Resource"])
        )


def test_addons_are_the_five_pinned_ones(plan: PlanRun) -> None:
    version = cluster_of(plan).inputs["version"]
    addons = {a.inputs["addonName"]: a.inputs for a in plan.by_type("aws:eks/addon:Addon")}
    assert {name: a["addonVersion"] for name, a in addons.items()} == dict(
        versions.EKS_ADDONS[version]
    )
    assert addons["aws-ebs-csi-driver"]["serviceAccountRoleArn"].endswith("-ebs-csi")
    assert addons["vpc-cni"]["serviceAccountRoleArn"].endswith("-vpc-cni")
    # NetworkPolicies are only enforced when the VPC CNI's network policy agent is on; pod ENIs
    # give tenants' pods security groups of their own (the only source their data stores admit).
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {
        "enableNetworkPolicy": "true",
        "env": {"ENABLE_POD_ENI": "true", "POD_SECURITY_GROUP_ENFORCING_MODE": "standard"},
    }
    cluster = cluster_of(plan).inputs
    assert cluster["corednsAddonOptions"]["enabled"] is False, "pulumi-eks must not float a version"
    assert cluster["kubeProxyAddonOptions"]["enabled"] is False
    assert cluster["useDefaultVpcCni"] is True


def test_the_cluster_role_may_run_security_groups_for_pods(plan: PlanRun, stack: str) -> None:
    """AmazonEKSVPCResourceController on the role pulumi-eks made for the cluster (named by its
    ARN's last segment, as EKS reports it), by one attachment of ours: pulumi-eks attaches only
    AmazonEKSClusterPolicy, and the role itself is not touched. The VPC CNI (pod ENIs on) waits
    for it."""
    attachments = [
        r
        for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.inputs["policyArn"].endswith("/AmazonEKSVPCResourceController")
    ]
    (attachment,) = attachments
    assert attachment.inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/AmazonEKSVPCResourceController"
    )
    described = PlatformMocks("eu-west-1")._described_cluster(f"paved-road-{stack}")
    assert attachment.inputs["role"] == described["roleArn"].split(":role/")[1]
    assert cluster_of(plan).urn in attachment.dependencies
    assert not [r for r in plan.by_type("aws:iam/role:Role") if "eksRole" in r.name]
    cni = one(r for r in plan.by_type("aws:eks/addon:Addon") if r.inputs["addonName"] == "vpc-cni")
    assert attachment.urn in cni.dependencies


def test_irsa_roles_pin_service_account_and_audience(plan: PlanRun) -> None:
    cluster_roles = {
        "vpc-cni": ("kube-system", "aws-node"),
        "ebs-csi": ("kube-system", "ebs-csi-controller-sa"),
    }
    for short, (namespace, service_account) in cluster_roles.items():
        role = one(
            r for r in plan.by_type("aws:iam/role:Role") if r.name == f"cluster-{short}-irsa"
        )
        (statement,) = policy_statements(role.inputs["assumeRolePolicy"])
        assert_irsa_trust(statement, namespace, service_account)
    for role in plan.by_type("aws:iam/role:Role"):
        for statement in policy_statements(role.inputs["assumeRolePolicy"]):
            if "Federated" in statement["Principal"]:
                issuer = issuer_path(statement["Principal"]["Federated"])
                keys = {key for clause in statement["Condition"].values() for key in clause}
                assert keys == {f"{issuer}:sub", f"{issuer}:aud"}, role.urn


def test_no_iam_policy_allows_every_action_on_every_resource(plan: PlanRun) -> None:
    for policy in plan.by_type("aws:iam/rolePolicy:RolePolicy") + plan.by_type(
        "aws:iam/policy:Policy"
    ):
        for statement in policy_statements(policy.inputs["policy"]):
            if statement.get("Effect") != "Allow":
                continue
            assert not (
                "*" in as_list(statement["Action"])
                and "*" in as_list(statement.get("Resource", []))
            ), policy.urn


def test_production_protects_cluster_and_key(plan: PlanRun, stack: str) -> None:
    production = bool(stack_config(stack).get("paved-road:production"))
    cluster = cluster_of(plan)
    key = one(r for r in plan.by_type("aws:kms/key:Key") if "SecureCluster" in r.urn)
    assert cluster.protect is production and key.protect is production
    assert cluster.inputs["deletionProtection"] is production


def test_kubernetes_provider_is_built_from_the_cluster(plan: PlanRun) -> None:
    provider = one(plan.by_type("pulumi:providers:kubernetes"))
    assert provider.inputs["kubeconfig"] == SECRET
    assert cluster_of(plan).urn in provider.dependencies
    storage_class = one(plan.by_type("kubernetes:storage.k8s.io/v1:StorageClass"))
    assert storage_class.provider.startswith(provider.urn + "::")
    assert storage_class.inputs["parameters"] == {
        "type": "gp3",
        "encrypted": "true",
        "fsType": "ext4",
    }


def test_every_aws_resource_carries_the_environment_tag(plan: PlanRun, stack: str) -> None:
    # (DevOps Guru's resource collection: `tags` is the filter of what it analyses.)
    tagged = [
        r
        for r in plan.resources
        if r.type.startswith("aws:") and "tags" in r.inputs and r.type not in TAGS_ARE_NOT_TAGS
    ]
    assert len(tagged) > 20
    for resource in tagged:
        assert resource.inputs["tags"]["paved-road:environment"] == stack, resource.urn
    assert cluster_of(plan).inputs["tags"]["paved-road:environment"] == stack


def test_every_child_has_a_parent_and_components_nest_under_the_platform(plan: PlanRun) -> None:
    urns = {r.urn for r in plan.resources}
    for resource in plan.resources:
        if resource.type == "paved-road:index:Platform":
            assert resource.parent.endswith("pulumi:pulumi:Stack::paved-road-" + plan.stack)
        else:
            assert resource.parent in urns, f"{resource.urn} is not parented inside the platform"
