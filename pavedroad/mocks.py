"""Realistic, deterministic answers for the mock runtime: ids, ARNs and provider-computed outputs.

A resource's outputs are its inputs plus what AWS would compute. Ids follow AWS's shapes
(`vpc-…`, `subnet-…`) and are derived from the resource's type and name, so two runs agree byte for
byte; ARNs use a fixed placeholder account and the stack's region, so rules that read ARNs see
what they would see in a real account.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Optional

from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

ACCOUNT_ID = "123456789012"

# Resource types whose ids AWS prefixes, by Pulumi type token.
_ID_PREFIXES = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/flowLog:FlowLog": "fl",
}

# The resource part of the ARN of types the mocks have no richer answer for, from each type's
# ARN format in the AWS Service Authorization Reference ("Resource types defined by Amazon EC2").
# Types without an `arn` output (route table associations, role policies, …) get none.
_ARN_RESOURCES = {
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/routeTable:RouteTable": "route-table",
    "aws:ec2/internetGateway:InternetGateway": "internet-gateway",
    "aws:ec2/eip:Eip": "elastic-ip",
    "aws:ec2/flowLog:FlowLog": "vpc-flow-log",
    "aws:ec2/securityGroup:SecurityGroup": "security-group",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "security-group",
}


def digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


class PlatformMocks(Mocks):
    def __init__(self, region: str) -> None:
        self.region = region

    # ----------------------------------------------------------------------------------------------
    # Resources

    def new_resource(self, args: MockResourceArgs) -> tuple[Optional[str], dict]:
        resource_id, computed = self.provider_outputs(args)
        return resource_id, {**args.inputs, **computed}

    def provider_outputs(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        """The id and only what the provider computes. Outside a preview the SDK takes every
        other output from the resource's own inputs, so echoing them back is wasted work."""
        resource_id = self._resource_id(args)
        return resource_id, self._computed(args.typ, args.name, resource_id, args.inputs)

    def _resource_id(self, args: MockResourceArgs) -> str:
        prefix = _ID_PREFIXES.get(args.typ)
        if prefix:
            return f"{prefix}-{digest(args.typ, args.name)}"
        if args.typ == "aws:kms/key:Key":
            return _uuid(args.typ, args.name)  # a key's id is its key id
        if args.typ == "aws:sqs/queue:Queue" and args.inputs.get("name"):
            return self._queue_url(args.inputs["name"])  # a queue's id is its URL
        if args.typ == "aws:iam/policy:Policy" and args.inputs.get("name"):
            return self._arn("iam", f"policy/{args.inputs['name']}", regional=False)
        name = args.inputs.get("name")
        if isinstance(name, str) and name:
            return name
        return f"{args.name}-{digest(args.typ, args.name, length=7)}"

    def _queue_url(self, name: str) -> str:
        return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{name}"

    def _arn(self, service: str, resource: str, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource}"

    def _computed(self, typ: str, name: str, rid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        physical = inputs.get("name") or rid
        if typ == "aws:iam/role:Role":
            return {
                "name": physical,
                "arn": self._arn("iam", f"role/{physical}", regional=False),
                "uniqueId": f"AROA{digest(typ, name, length=17).upper()}",
            }
        if typ == "aws:iam/policy:Policy":
            return {"name": physical, "arn": self._arn("iam", f"policy/{physical}", False)}
        if typ == "aws:kms/key:Key":
            return {"keyId": rid, "arn": self._arn("kms", f"key/{rid}")}
        if typ == "aws:kms/alias:Alias":
            return {"arn": self._arn("kms", physical)}
        if typ == "aws:sns/topic:Topic":
            # pulumi_aws/sns/topic.py: arn; the topic's name is its last ARN segment.
            return {"arn": self._arn("sns", physical)}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return {"name": physical, "arn": self._arn("logs", f"log-group:{physical}")}
        if typ == "aws:ec2/vpc:Vpc":
            return {
                "arn": self._arn("ec2", f"vpc/{rid}"),
                "defaultSecurityGroupId": f"sg-{digest(typ, name, 'default')}",
                "mainRouteTableId": f"rtb-{digest(typ, name, 'main')}",
            }
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            return {"arn": self._arn("ec2", f"launch-template/{rid}"), "latestVersion": 1}
        if typ == "aws:eks/nodeGroup:NodeGroup":
            cluster = inputs.get("clusterName")
            # A name prefix gets the provider's 26-character unique suffix.
            group = inputs.get("nodeGroupName") or (
                f"{inputs.get('nodeGroupNamePrefix')}{digest(typ, name, length=26)}"
            )
            uid = _uuid(typ, name)
            return {
                "nodeGroupName": group,
                "arn": self._arn("eks", f"nodegroup/{cluster}/{group}/{uid}"),
                "status": "ACTIVE",
            }
        if typ == "aws:eks/addon:Addon":
            cluster, addon = inputs.get("clusterName"), inputs.get("addonName")
            uid = _uuid(typ, name)
            return {"arn": self._arn("eks", f"addon/{cluster}/{addon}/{uid}")}
        if typ == "eks:index:Cluster":
            return self._eks_cluster(inputs.get("name") or name, inputs)
        if typ == "aws:acm/certificate:Certificate":
            return self._acm_certificate(typ, name, inputs.get("domainName"))
        if typ == "aws:route53/record:Record":
            # pulumi_aws/route53/record.py: `fqdn` is the zone domain and `name`, no trailing dot.
            return {"fqdn": str(inputs.get("name", "")).rstrip(".")}
        if typ == "aws:rds/instance:Instance":
            return self._rds_instance(typ, name, inputs)
        if typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            # pulumi_aws/elasticache/replication_group.py: primary_endpoint_address (cluster mode
            # disabled; `master.` with in-transit encryption) and arn.
            group = inputs.get("replicationGroupId") or name
            zone = _region_code(self.region)
            return {
                "arn": self._arn("elasticache", f"replicationgroup:{group}"),
                "primaryEndpointAddress": (
                    f"master.{group}.{digest(typ, name, length=6)}.{zone}.cache.amazonaws.com"
                ),
            }
        if typ == "aws:sqs/queue:Queue":
            # pulumi_aws/sqs/queue.py: url (the same as the id) and arn.
            return {"url": self._queue_url(physical), "arn": self._arn("sqs", physical)}
        if typ == "aws:cloudwatch/eventRule:EventRule":
            # pulumi_aws/cloudwatch/event_rule.py: arn, rule/<name> on the default bus.
            return {"arn": self._arn("events", f"rule/{physical}")}
        if typ == "aws:secretsmanager/secret:Secret":
            # Secrets Manager appends `-` and six random characters to the name in the ARN.
            return {"arn": self._arn("secretsmanager", f"secret:{physical}-{_suffix(typ, name)}")}
        if typ == "random:index/randomPassword:RandomPassword":
            # A stand-in the plan must never show: the program keeps it a Pulumi secret.
            placeholder = f"plan-only-password-{digest(typ, name, length=24)}"
            return {"result": placeholder, "bcryptHash": f"$2a$10${digest(placeholder)}"}
        if typ in _ARN_RESOURCES:
            return {"arn": self._arn("ec2", f"{_ARN_RESOURCES[typ]}/{rid}")}
        return {}

    def _eks_cluster(self, cluster_name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """What pulumi-eks's Cluster component returns for a cluster with an OIDC provider.

        Shapes follow pulumi/pulumi-eks nodejs/eks/cluster/cluster.ts: `generateKubeconfig` (the
        exported kubeconfig is the one without a profile; `providerCredentialOpts.roleArn` adds
        `--role`) and `createCluster`'s outputs (`oidcProviderUrl` is the issuer URL with
        `https://`, `oidcIssuer` the same without it). tests/test_mock_fidelity.py holds each
        output to that source.
        """
        issuer_id = digest("oidc", cluster_name, length=32).upper()
        issuer = f"oidc.eks.{self.region}.amazonaws.com/id/{issuer_id}"
        endpoint_id = digest("endpoint", cluster_name, length=32).upper()
        endpoint = f"https://{endpoint_id}.gr7.{self.region}.eks.amazonaws.com"
        certificate = base64.b64encode(f"plan-only-ca-{cluster_name}".encode()).decode()
        token_args = [
            "--region",
            self.region,
            "eks",
            "get-token",
            "--cluster-name",
            cluster_name,
            "--output",
            "json",
        ]
        role_arn = (inputs.get("providerCredentialOpts") or {}).get("roleArn")
        if role_arn:
            token_args += ["--role", role_arn]
        kubeconfig = {
            "apiVersion": "v1",
            "clusters": [
                {
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate},
                    "name": "kubernetes",
                }
            ],
            "contexts": [{"context": {"cluster": "kubernetes", "user": "aws"}, "name": "aws"}],
            "current-context": "aws",
            "kind": "Config",
            "users": [
                {
                    "name": "aws",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": token_args,
                            "env": [
                                {
                                    "name": "KUBERNETES_EXEC_INFO",
                                    "value": '{"apiVersion": "client.authentication.k8s.io/v1beta1"}',
                                }
                            ],
                        }
                    },
                }
            ],
        }
        return {
            "kubeconfig": kubeconfig,
            # pulumi.jsonStringify: JSON.stringify, keys in insertion order, no spaces.
            "kubeconfigJson": json.dumps(kubeconfig, separators=(",", ":")),
            "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
            "clusterSecurityGroupId": f"sg-{digest('cluster', cluster_name)}",
            "nodeSecurityGroupId": f"sg-{digest('node', cluster_name)}",
        }

    def _described_cluster(self, cluster_name: str) -> dict[str, Any]:
        """aws.eks.get_cluster of a pulumi-eks cluster (pulumi_aws/eks/get_cluster.py).

        `roleArn`: the role pulumi-eks's ServiceRole creates (an auto-named `…-eksRole-role-…`,
        no path); `vpcConfig.clusterSecurityGroupId`: the group EKS creates, not pulumi-eks's
        own (the component's `clusterSecurityGroupId`), which is in `securityGroupIds`.
        """
        role = f"{cluster_name}-eksRole-role-{digest('eks-role', cluster_name, length=7)}"
        return {
            "id": cluster_name,
            "name": cluster_name,
            "arn": self._arn("eks", f"cluster/{cluster_name}"),
            "roleArn": self._arn("iam", f"role/{role}", regional=False),
            "vpcConfig": {
                "clusterSecurityGroupId": f"sg-{digest('eks-cluster-sg', cluster_name)}",
                "controlPlaneEgressMode": "",
                "endpointPrivateAccess": True,
                "endpointPublicAccess": False,
                "publicAccessCidrs": [],
                "securityGroupIds": [f"sg-{digest('cluster', cluster_name)}"],
                "subnetIds": [],
                "vpcId": "",
            },
        }

    def _rds_instance(self, typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """pulumi_aws/rds/instance.py: `address` (DNS name), `endpoint` (`address:port`), `arn`
        (`arn:aws:rds:<region>:<account>:db:<identifier>`), and with a managed master password the
        secret RDS creates (`rds!db-<uuid>`, encrypted with `master_user_secret_kms_key_id`)."""
        identifier = inputs.get("identifier") or name
        address = f"{identifier}.c{digest(typ, name, length=11)}.{self.region}.rds.amazonaws.com"
        port = int(inputs.get("port") or 5432)
        outputs: dict[str, Any] = {
            "address": address,
            "endpoint": f"{address}:{port}",
            "arn": self._arn("rds", f"db:{identifier}"),
        }
        if inputs.get("manageMasterUserPassword"):
            secret = f"rds!db-{_uuid(typ, name)}-{_suffix(typ, name)}"
            outputs["masterUserSecrets"] = [
                {
                    "kmsKeyId": inputs.get("masterUserSecretKmsKeyId"),
                    "secretArn": self._arn("secretsmanager", f"secret:{secret}"),
                    "secretStatus": "active",
                }
            ]
        return outputs

    def _acm_certificate(self, typ: str, name: str, domain: Any) -> dict[str, Any]:
        """A DNS-validated certificate's ARN and its one validation CNAME, in the provider's shape
        (pulumi_aws/acm/outputs.py CertificateDomainValidationOption) and ACM's record format."""
        return {
            "arn": self._arn("acm", f"certificate/{_uuid(typ, name)}"),
            "domainValidationOptions": [
                {
                    "domainName": domain,
                    "resourceRecordName": f"_{digest(typ, name, 'name', length=32)}.{domain}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": (
                        f"_{digest(typ, name, 'value', length=32)}."
                        f"{digest(typ, name, 'host', length=10)}.acm-validations.aws."
                    ),
                }
            ],
        }

    # ----------------------------------------------------------------------------------------------
    # Provider functions

    def call(self, args: MockCallArgs) -> dict:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/pavedroad-plan",
                "userId": "AIDAPAVEDROADPLAN",
                "id": ACCOUNT_ID,
            }
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{letter}" for letter in "abc"]
            return {"names": names, "zoneIds": [f"z{i}" for i in range(3)], "id": self.region}
        if args.token == "aws:eks/getCluster:getCluster":
            return self._described_cluster(str(args.args.get("name")))
        if args.token in ("aws:index/getRegion:getRegion", "aws:index/getPartition:getPartition"):
            return {"name": self.region, "region": self.region, "partition": "aws", "id": "aws"}
        raise NotImplementedError(f"the plan engine has no answer for {args.token}")


def _region_code(region: str) -> str:
    """ElastiCache endpoints' short region (`eu-west-1` → `euw1`)."""
    parts = region.split("-")
    if len(parts) < 3:
        return region.replace("-", "")
    return f"{parts[-3]}{parts[-2][0]}{parts[-1]}"


def _suffix(*parts: str) -> str:
    """Six characters Secrets Manager appends to a secret's name in its ARN."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    number = int(digest(*parts, "suffix"), 16)
    return "".join(alphabet[(number >> (6 * i)) % len(alphabet)] for i in range(6))


def _uuid(*parts: str) -> str:
    h = digest(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
