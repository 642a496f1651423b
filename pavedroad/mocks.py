"""Realistic, deterministic answers for the mock runtime: ids, ARNs and provider-computed outputs.

A resource's outputs are its inputs plus what AWS would compute. Ids follow AWS's shapes
(`vpc-…`, `subnet-…`) and are derived from the resource's type and name, so two runs agree byte for
byte; ARNs use a fixed placeholder account and the stack's region, so rules that read ARNs see
what they would see in a real account.
"""

from __future__ import annotations

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
        name = args.inputs.get("name")
        if isinstance(name, str) and name:
            return name
        return f"{args.name}-{digest(args.typ, args.name, length=7)}"

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
            key_id = _uuid(typ, name)
            return {"keyId": key_id, "arn": self._arn("kms", f"key/{key_id}")}
        if typ == "aws:kms/alias:Alias":
            return {"arn": self._arn("kms", physical)}
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
            cluster, group = inputs.get("clusterName"), inputs.get("nodeGroupName")
            uid = _uuid(typ, name)
            return {
                "arn": self._arn("eks", f"nodegroup/{cluster}/{group}/{uid}"),
                "status": "ACTIVE",
            }
        if typ == "aws:eks/addon:Addon":
            cluster, addon = inputs.get("clusterName"), inputs.get("addonName")
            uid = _uuid(typ, name)
            return {"arn": self._arn("eks", f"addon/{cluster}/{addon}/{uid}")}
        if typ == "eks:index:Cluster":
            return self._eks_cluster(inputs.get("name") or name)
        if typ == "aws:acm/certificate:Certificate":
            return self._acm_certificate(typ, name, inputs.get("domainName"))
        if typ == "aws:route53/record:Record":
            # pulumi_aws/route53/record.py: `fqdn` is the zone domain and `name`, no trailing dot.
            return {"fqdn": str(inputs.get("name", "")).rstrip(".")}
        if typ == "random:index/randomPassword:RandomPassword":
            # A stand-in the plan must never show: the program keeps it a Pulumi secret.
            placeholder = f"plan-only-password-{digest(typ, name, length=24)}"
            return {"result": placeholder, "bcryptHash": f"$2a$10${digest(placeholder)}"}
        if typ.startswith("aws:"):
            service = typ.split(":")[1].split("/")[0]
            kind = typ.rsplit(":", 1)[-1].lower()
            return {"arn": self._arn(service, f"{kind}/{physical}")}
        return {}

    def _eks_cluster(self, cluster_name: str) -> dict[str, Any]:
        """What pulumi-eks's Cluster component returns for a cluster with an OIDC provider."""
        issuer_id = digest("oidc", cluster_name, length=32).upper()
        oidc_url = f"oidc.eks.{self.region}.amazonaws.com/id/{issuer_id}"
        endpoint = f"https://{issuer_id}.gr7.{self.region}.eks.amazonaws.com"
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": endpoint}}],
            "contexts": [{"name": "aws", "context": {"cluster": cluster_name, "user": "aws"}}],
            "current-context": "aws",
            "users": [
                {
                    "name": "aws",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", cluster_name],
                        }
                    },
                }
            ],
        }
        return {
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig, sort_keys=True),
            "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{oidc_url}",
            "oidcProviderUrl": oidc_url,
            "oidcIssuer": f"https://{oidc_url}",
            "clusterSecurityGroupId": f"sg-{digest('cluster', cluster_name)}",
            "nodeSecurityGroupId": f"sg-{digest('node', cluster_name)}",
        }

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
        if args.token in ("aws:index/getRegion:getRegion", "aws:index/getPartition:getPartition"):
            return {"name": self.region, "region": self.region, "partition": "aws", "id": "aws"}
        raise NotImplementedError(f"the plan engine has no answer for {args.token}")


def _uuid(*parts: str) -> str:
    h = digest(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
