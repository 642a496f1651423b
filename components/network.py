"""The network: a VPC across availability zones that keeps nodes off the internet.

Nodes and pods live in private subnets and reach out through NAT; public subnets hold only load
balancers and NAT gateways. Subnets carry the role tags the AWS Load Balancer Controller uses to
place internet-facing and internal load balancers. Flow logs record every connection for audit.
A team that must use a VPC it does not own points `existingVpc` at it; nothing is created then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.config import NetworkConfig
from components.iam import allow, policy_document, service_trust_policy

ELB_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_ROLE_TAG = "kubernetes.io/role/internal-elb"
# How Karpenter finds the subnets for its nodes (value: the cluster's name, which is the prefix).
NODE_DISCOVERY_TAG = "karpenter.sh/discovery"


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    prefix: str
    tags: dict[str, str]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:foundation:Network", name, None, opts)
        self._args = args
        existing = args.config.existing_vpc
        if existing is not None:
            self.vpc_id = pulumi.Output.from_input(existing.vpc_id)
            self.private_subnet_ids = pulumi.Output.from_input(list(existing.private_subnet_ids))
            self.public_subnet_ids = pulumi.Output.from_input(list(existing.public_subnet_ids))
        else:
            self._build(name)
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )

    def _tags(self, name: str, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._args.prefix}-{name}", **(extra or {})}

    def _build(self, name: str) -> None:
        config = self._args.config
        child = pulumi.ResourceOptions(parent=self)
        zones = self._zones()
        private_cidrs, public_cidrs = config.subnet_plan()

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=config.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=self._tags("vpc"),
            opts=child,
        )
        # The default security group allows all traffic between its members; nothing should use it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg-locked",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=self._tags("default-sg-locked"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=self._tags("igw"), opts=child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=self._tags("public-rt"),
            opts=child,
        )

        public_subnets, private_subnets, nat_gateways = [], [], []
        for index, zone in enumerate(zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{index}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=self._tags(f"public-{index}", {ELB_ROLE_TAG: "1"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}-rta",
                subnet_id=public.id,
                route_table_id=public_rt.id,
                opts=child,
            )
            public_subnets.append(public)
            if config.nat_gateways == "perAz" or index == 0:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{index}-eip",
                    domain="vpc",
                    tags=self._tags(f"nat-{index}"),
                    opts=child,
                )
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{index}",
                        allocation_id=eip.id,
                        subnet_id=public.id,
                        tags=self._tags(f"nat-{index}"),
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )

        for index, zone in enumerate(zones):
            private = aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=vpc.id,
                cidr_block=private_cidrs[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=self._tags(
                    f"private-{index}",
                    {INTERNAL_ELB_ROLE_TAG: "1", NODE_DISCOVERY_TAG: self._args.prefix},
                ),
                opts=child,
            )
            nat = nat_gateways[index] if config.nat_gateways == "perAz" else nat_gateways[0]
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{index}-rt",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags=self._tags(f"private-{index}-rt"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}-rta",
                subnet_id=private.id,
                route_table_id=private_rt.id,
                opts=child,
            )
            private_subnets.append(private)

        if config.flow_logs.enabled:
            self._flow_logs(name, vpc)

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])

    def _zones(self) -> Sequence[pulumi.Input[str]]:
        """Configured zones, or the region's first available ones (looked up, never guessed)."""
        config = self._args.config
        if config.availability_zones:
            return list(config.availability_zones)
        available = aws.get_availability_zones_output(state="available")
        return [
            available.names.apply(lambda names, i=i: sorted(names)[i])
            for i in range(config.az_count)
        ]

    def _flow_logs(self, name: str, vpc: aws.ec2.Vpc) -> None:
        config = self._args.config.flow_logs
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/aws/vpc/{self._args.prefix}/flow-logs",
            retention_in_days=config.retention_days,
            tags=self._args.tags,
            opts=child,
        )
        account = aws.get_caller_identity_output()
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            name=f"{self._args.prefix}-vpc-flow-logs",
            assume_role_policy=account.account_id.apply(_flow_logs_trust),
            tags=self._args.tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=role.id,
            policy=log_group.arn.apply(_flow_logs_write_policy),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type=config.traffic_type,
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=self._tags("flow-log"),
            opts=child,
        )


def _flow_logs_trust(account_id: str) -> str:
    """Only the flow-logs service, acting for this account, may assume the delivery role."""
    return service_trust_policy(
        "vpc-flow-logs.amazonaws.com", StringEquals={"aws:SourceAccount": account_id}
    )


def _flow_logs_write_policy(log_group_arn: str) -> str:
    return policy_document(
        allow(
            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [log_group_arn, f"{log_group_arn}:*"],
        )
    )
