"""The secure cluster: EKS hardened by default, so no team has to remember how.

Kubernetes secrets are envelope-encrypted with a customer-managed, rotating KMS key; every
control-plane log type goes to CloudWatch; the API endpoint is private unless a stack lists the
networks allowed in; access is granted through EKS access entries (no aws-auth ConfigMap to drift);
an OIDC provider lets workloads assume IAM roles pinned to one service account. Nodes run in
private subnets from launch templates that require IMDSv2 and encrypt their disks. Add-ons are EKS
managed add-ons at versions pinned in `versions.py`, so an upgrade is always a reviewed change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components import versions
from components.config import ClusterConfig, NodeGroupConfig
from components.iam import OidcProvider, aws_managed_policy, irsa_role, service_trust_policy
from components.kubernetes import CAPACITY_TYPE_KEY, MANAGED_BY_LABELS, SPOT_TAINT

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# The security team's read access: every namespace's objects, not Secrets (AmazonEKSAdminViewPolicy
# would include them, and reading every team's credentials is not what an audit needs).
CLUSTER_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
)
ROOT_DEVICE = "/dev/xvda"
# Lets EKS's VPC resource controller, acting as the cluster's role, attach trunk and branch
# network interfaces: what security groups for pods run on.
VPC_RESOURCE_CONTROLLER_POLICY = "AmazonEKSVPCResourceController"
# The VPC CNI's settings. Pod ENIs (security groups for pods) are always on, whether or not a
# tenant has a data store yet: the foundation knows nothing of tenants, and a first database
# then changes no node's networking (turning it on rolls aws-node and gives every node a trunk
# interface). `standard` enforcement keeps kubelet probes and node-local traffic working and
# still applies a pod's own groups to what leaves it.
VPC_CNI_CONFIGURATION: dict[str, Any] = {
    # Without it the VPC CNI ignores NetworkPolicies: tenants' isolation relies on them.
    "enableNetworkPolicy": "true",
    "env": {"ENABLE_POD_ENI": "true", "POD_SECURITY_GROUP_ENFORCING_MODE": "standard"},
}


@dataclass(frozen=True)
class SecureClusterArgs:
    config: ClusterConfig
    prefix: str
    production: bool
    tags: dict[str, str]
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[list[str]]
    # Whether a node autoscaler (core's cluster autoscaler) sizes the node groups after creation.
    node_autoscaler: bool
    # governance.yaml: the core platform team's principals (cluster admins in every stack, besides
    # the stack's own `admins`) and the security team's (read access to every namespace).
    core_admins: tuple[str, ...] = ()
    auditors: tuple[str, ...] = ()


class SecureCluster(pulumi.ComponentResource):
    cluster_name: str
    # The EKS cluster itself: AWS resources that need the cluster (not its nodes) depend on it.
    eks_cluster: eks.Cluster
    oidc: OidcProvider
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    secrets_key_arn: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    # The security group EKS creates for the cluster (on the control plane's interfaces and on
    # managed nodes): pods with security groups of their own carry it too, to reach CoreDNS and
    # the API server and be reached by the kubelet.
    cluster_security_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: SecureClusterArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:foundation:SecureCluster", name, None, opts)
        self._args = args
        self.cluster_name = args.prefix
        # Stateful and slow to rebuild: in production, removing them takes a deliberate unprotect.
        protected = pulumi.ResourceOptions(parent=self, protect=args.production)

        key = self._secrets_key(name, protected)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            # EKS writes here; creating it first is the only way to set its retention.
            name=f"/aws/eks/{self.cluster_name}/cluster",
            retention_in_days=args.config.log_retention_days,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        cluster = self.eks_cluster = self._cluster(name, key, log_group, protected)
        # IAM condition keys name the issuer without its scheme: pulumi-eks' `oidc_issuer`
        # (`oidc_provider_url` is the same issuer with `https://`).
        self.oidc = OidcProvider(arn=cluster.oidc_provider_arn, issuer=cluster.oidc_issuer)
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig_json)

        # What EKS made of the cluster: its role (pulumi-eks's, named by the ARN's last segment,
        # as AWS's own guide for security groups for pods reads it) and its security group.
        described = aws.eks.get_cluster_output(
            name=self.cluster_name,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[cluster]),
        )
        self.cluster_security_group_id = described.vpc_config.cluster_security_group_id
        # pulumi-eks's role carries AmazonEKSClusterPolicy only; the role itself stays as it is.
        pod_enis = aws.iam.RolePolicyAttachment(
            f"{name}-vpc-resource-controller",
            role=described.role_arn.apply(lambda arn: arn.split("/")[-1]),
            policy_arn=aws_managed_policy(VPC_RESOURCE_CONTROLLER_POLICY),
            opts=pulumi.ResourceOptions(parent=self),
        )
        early_addons = [
            self._addon(
                name,
                cluster,
                "vpc-cni",
                self._irsa(name, "vpc-cni", "aws-node", "AmazonEKS_CNI_Policy"),
                depends_on=[pod_enis],
                configuration=VPC_CNI_CONFIGURATION,
            ),
            self._addon(name, cluster, "kube-proxy"),
            self._addon(name, cluster, "eks-pod-identity-agent"),
        ]
        node_role, node_role_policies = self._node_role(name)
        node_groups = [
            self._node_group(name, cluster, group, node_role, [*early_addons, *node_role_policies])
            for group in args.config.node_groups
        ]
        runner_rules = self._runner_access(name, cluster)
        # These run as pods: they can only become healthy once nodes exist.
        self._addon(name, cluster, "coredns", depends_on=node_groups)
        self._addon(
            name,
            cluster,
            "aws-ebs-csi-driver",
            self._irsa(
                name, "ebs-csi", "ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy"
            ),
            depends_on=node_groups,
        )

        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # The provider's first call needs nodes (for webhooks' pods) and, from a runner
            # inside the VPC, the rule that lets it reach the private endpoint.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*node_groups, *runner_rules]),
        )
        self._default_storage_class(name)
        self.secrets_key_arn = key.arn
        self.node_role_arn = node_role.arn
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "oidcProviderArn": self.oidc.arn,
                "kubeconfig": self.kubeconfig,
                "secretsKeyArn": self.secrets_key_arn,
                "clusterSecurityGroupId": self.cluster_security_group_id,
            }
        )

    # ----------------------------------------------------------------------------------------------

    def _secrets_key(self, name: str, protected: pulumi.ResourceOptions) -> aws.kms.Key:
        key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes secrets in {self.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=self._args.tags,
            opts=protected,
        )
        aws.kms.Alias(
            f"{name}-secrets-key-alias",
            name=f"alias/{self.cluster_name}-eks-secrets",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key

    def _cluster(
        self,
        name: str,
        key: aws.kms.Key,
        log_group: aws.cloudwatch.LogGroup,
        protected: pulumi.ResourceOptions,
    ) -> eks.Cluster:
        config, args = self._args.config, self._args
        public_cidrs = list(config.public_access_cidrs)
        cluster_admins = {f"admin-{index}": arn for index, arn in enumerate(config.admins)}
        if config.deploy_role_arn:
            cluster_admins["deploy"] = config.deploy_role_arn
        for index, arn in enumerate(args.core_admins):
            # One access entry per principal: a core principal the stack lists already has one.
            if arn not in cluster_admins.values():
                cluster_admins[f"core-{index}"] = arn
        access_policies = {key: ("cluster-admin", CLUSTER_ADMIN_POLICY) for key in cluster_admins}
        principals = dict(cluster_admins)
        for index, arn in enumerate(args.auditors):
            principals[f"security-{index}"] = arn
            access_policies[f"security-{index}"] = ("cluster-view", CLUSTER_VIEW_POLICY)
        return eks.Cluster(
            f"{name}-eks",
            name=self.cluster_name,
            version=config.version,
            vpc_id=args.vpc_id,
            # pulumi-eks gives the control plane public + private subnet ids alike (its
            # vpcConfig.subnetIds), so EKS would put API endpoint interfaces in the public
            # subnets too; with no node group of its own it uses them for nothing else.
            private_subnet_ids=args.private_subnet_ids,
            endpoint_private_access=True,
            endpoint_public_access=bool(public_cidrs),
            public_access_cidrs=public_cidrs or None,
            encryption_config_key_arn=key.arn,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            authentication_mode=eks.AuthenticationMode.API,
            access_entries={
                key: eks.AccessEntryArgs(
                    principal_arn=arn,
                    type=eks.AccessEntryType.STANDARD,
                    tags=args.tags,
                    access_policies={
                        access_policies[key][0]: eks.AccessPolicyAssociationArgs(
                            policy_arn=access_policies[key][1],
                            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(
                                type="cluster"
                            ),
                        )
                    },
                )
                for key, arn in principals.items()
            },
            # The kubeconfig (and so the Kubernetes provider) logs in as the deploy role
            # (`aws eks get-token … --role <arn>`) instead of whatever credentials are ambient.
            provider_credential_opts=(
                eks.KubeconfigOptionsArgs(role_arn=config.deploy_role_arn)
                if config.deploy_role_arn
                else None
            ),
            create_oidc_provider=True,
            skip_default_node_group=True,
            # Add-ons are managed below, each pinned; pulumi-eks would otherwise pick versions.
            use_default_vpc_cni=True,
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=False),
            deletion_protection=args.production,
            tags=args.tags,
            cluster_tags=args.tags,
            opts=pulumi.ResourceOptions.merge(
                protected, pulumi.ResourceOptions(depends_on=[log_group])
            ),
        )

    def _irsa(self, name: str, short: str, service_account: str, policy: str) -> aws.iam.Role:
        return irsa_role(
            f"{name}-{short}-irsa",
            role_name=f"{self.cluster_name}-{short}",
            oidc=self.oidc,
            namespace="kube-system",
            service_account=service_account,
            managed_policy_arns=[aws_managed_policy(policy)],
            tags=self._args.tags,
            parent=self,
        )

    def _addon(
        self,
        name: str,
        cluster: eks.Cluster,
        addon: str,
        role: Optional[aws.iam.Role] = None,
        depends_on: Optional[list[pulumi.Resource]] = None,
        configuration: Optional[dict[str, Any]] = None,
    ) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{name}-addon-{addon}",
            cluster_name=self.cluster_name,
            addon_name=addon,
            addon_version=versions.EKS_ADDONS[self._args.config.version][addon],
            service_account_role_arn=role.arn if role else None,
            configuration_values=(
                json.dumps(configuration, sort_keys=True) if configuration else None
            ),
            # Adopt what EKS bootstrapped at creation; keep our settings on later updates.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=self._args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster, *(depends_on or [])]),
        )

    def _runner_access(self, name: str, cluster: eks.Cluster) -> list[aws.ec2.SecurityGroupRule]:
        """HTTPS from each deploy runner's security group to the private API endpoint.

        The endpoint's network interfaces carry the security groups of the cluster's
        vpcConfig.securityGroupIds — pulumi-eks' own cluster security group, its
        `cluster_security_group_id` while `skip_default_security_groups` is unset — besides the
        one EKS creates. pulumi-eks' group admits only its node security group, so without this
        rule a runner in the VPC cannot connect. The rule goes on pulumi-eks' group, not EKS's:
        managed nodes carry EKS's group too, and runners have no business on the nodes.
        """
        return [
            aws.ec2.SecurityGroupRule(
                f"{name}-api-from-{group_id}",
                type="ingress",
                description="pulumi up: Kubernetes API from the deploy runner",
                protocol="tcp",
                from_port=443,
                to_port=443,
                source_security_group_id=group_id,
                security_group_id=cluster.cluster_security_group_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for group_id in self._args.config.runner_security_group_ids
        ]

    def _node_role(self, name: str) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """The nodes' role and its policy attachments: nodes that boot before the attachments
        exist cannot join the cluster, so node groups wait for them."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-node-role",
            name=f"{self.cluster_name}-node",
            assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            tags=self._args.tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-role-{policy}",
                role=role.name,
                policy_arn=aws_managed_policy(policy),
                opts=child,
            )
            for policy in NODE_POLICIES
        ]
        return role, attachments

    def _node_group(
        self,
        name: str,
        cluster: eks.Cluster,
        group: NodeGroupConfig,
        role: aws.iam.Role,
        prerequisites: list[pulumi.Resource],
    ) -> aws.eks.NodeGroup:
        child = pulumi.ResourceOptions(parent=self)
        tags = {**self._args.tags, "Name": f"{self.cluster_name}-{group.name}"}
        template = aws.ec2.LaunchTemplate(
            f"{name}-ng-{group.name}-lt",
            name=f"{self.cluster_name}-{group.name}",
            description=f"Hardened nodes of node group {group.name}",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # 1: pods cannot reach the node's credentials through the metadata service.
                http_put_response_hop_limit=group.metadata_hop_limit,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=group.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume")
            ],
            tags=self._args.tags,
            opts=child,
        )
        return aws.eks.NodeGroup(
            f"{name}-ng-{group.name}",
            cluster_name=self.cluster_name,
            # Instance types, capacity type, AMI type and subnets can only change by replacing
            # the group. A name prefix lets Pulumi create the new group before deleting the old
            # one (its default order), so pods drain onto running capacity; a fixed name would
            # collide, and delete_before_replace would take the group's capacity away first.
            node_group_name_prefix=f"{self.cluster_name}-{group.name}-",
            node_role_arn=role.arn,
            subnet_ids=self._args.private_subnet_ids,
            version=self._args.config.version,
            ami_type=versions.NODE_AMI_TYPE,
            instance_types=list(group.instance_types),
            capacity_type=group.capacity_type,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=group.min_size, max_size=group.max_size, desired_size=group.desired
            ),
            # Pinned like every other version: the group never floats to a newer AMI, and a new
            # Kubernetes minor brings its own release in the same reviewed change.
            release_version=versions.NODE_AMI_RELEASE_VERSIONS[self._args.config.version],
            update_config=self._update_config(group),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels={**group.labels, CAPACITY_TYPE_KEY: CAPACITY_LABELS[group.capacity_type]},
            taints=_taints(group),
            tags=self._args.tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                # The VPC CNI must be there for nodes to become Ready, and the node role's
                # policies for them to join at all.
                depends_on=[cluster, *prerequisites],
                # With a node autoscaler, it owns the desired size once the group exists: applying
                # the stack file's size again would drop nodes under load. Without one, the stack
                # file's `desiredSize` stays the size, so a change to it is applied.
                ignore_changes=(
                    ["scalingConfig.desiredSize"] if self._args.node_autoscaler else None
                ),
            ),
        )

    @staticmethod
    def _update_config(group: NodeGroupConfig) -> aws.eks.NodeGroupUpdateConfigArgs:
        field, value = group.rolling
        if field == "maxUnavailable":
            return aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=value)
        return aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=value)

    def _default_storage_class(self, name: str) -> k8s.storage.v1.StorageClass:
        """EKS ships gp2 without a default annotation since 1.30; volumes default to encrypted gp3."""
        return k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="gp3",
                labels=dict(MANAGED_BY_LABELS),
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider),
        )


# Node groups say which capacity they are, as Karpenter's NodePools do: a tenant app's
# `capacity: spot` (its toleration and preference) finds either kind of spot node.
CAPACITY_LABELS = {"ON_DEMAND": "on-demand", "SPOT": "spot"}


def _taints(group: NodeGroupConfig) -> list[aws.eks.NodeGroupTaintArgs]:
    """The stack file's taints; a SPOT group also carries the spot taint, so only pods that
    asked for spot (and can be interrupted) are scheduled onto it."""
    taints = [
        aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value or None, effect=t.effect)
        for t in group.taints
        if t.key != CAPACITY_TYPE_KEY
    ]
    if group.capacity_type == "SPOT":
        taints.append(
            aws.eks.NodeGroupTaintArgs(
                key=SPOT_TAINT["key"], value=SPOT_TAINT["value"], effect="NO_SCHEDULE"
            )
        )
    return taints
