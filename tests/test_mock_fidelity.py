"""The mocks are claims about the providers: each invented output is held to the provider's source.

The offline plan runs the program against `pavedroad/mocks.py` instead of AWS. A mock output in the
wrong shape makes the plan, the policies and the tests agree with a bug — the IRSA trust built
from `oidcProviderUrl` (with `https://`) passed everything here while no real role could have been
assumed. So every output the mocks compute is listed below with the format its provider documents
and where it says so; a new invented output without a row fails `test_every_invented_output…`.

Sources (SDK files are under .venv/lib/python3.11/site-packages/):
- pulumi_eks/cluster.py (4.4.0) output docstrings; upstream pulumi/pulumi-eks
  nodejs/eks/cluster/cluster.ts: `generateKubeconfig` and `createCluster`'s return value.
- pulumi_aws/<module>/<resource>.py output docstrings (7.51.1); ARN formats from the AWS Service
  Authorization Reference (resource types of IAM, KMS, CloudWatch Logs, EC2, EKS).
- terraform-plugin-sdk helper/id (`PrefixedUniqueId`: 26 characters after a name prefix).
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from pavedroad.engine import PlanRun, RecordedResource
from pavedroad.mocks import ACCOUNT_ID, PlatformMocks
from tests.conftest import SHIPPED_STACKS, one, shipped_plan, stack_config

CLUSTER = "eks:index:Cluster"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
HEX17 = r"[0-9a-f]{17}"
# AWS's sample issuer: oidc.eks.region-code.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
# (EKS User Guide, "Create an IAM OIDC provider for your cluster").
ISSUER = r"oidc\.eks\.{region}\.amazonaws\.com/id/[0-9A-F]{{32}}"


@dataclass(frozen=True)
class Format:
    """What a provider documents for one output, and where."""

    pattern: str  # a regex; {region}, {account} and {name} (the input `name`) are filled in
    source: str

    def check(self, value: Any, region: str, inputs: dict[str, Any]) -> None:
        expected = self.pattern
        for token, text in (
            ("region", region),
            ("account", ACCOUNT_ID),
            ("name", inputs.get("name", "")),
            ("cluster", inputs.get("clusterName", "")),
            ("prefix", inputs.get("nodeGroupNamePrefix", "")),
            ("addon", inputs.get("addonName", "")),
            ("domain", inputs.get("domainName", "")),
            ("record", str(inputs.get("name", "")).rstrip(".")),
            ("identifier", inputs.get("identifier", "")),
            ("group", inputs.get("replicationGroupId", "")),
        ):
            expected = expected.replace(f"{{{token}}}", re.escape(str(text)))
        expected = expected.replace("{{", "{").replace("}}", "}")
        assert re.fullmatch(expected, str(value)), f"{value!r} !~ {expected} ({self.source})"


def _ec2(kind: str, prefix: str) -> Format:
    return Format(
        rf"arn:aws:ec2:{{region}}:{{account}}:{kind}/{prefix}-{HEX17}",
        "pulumi_aws/ec2 `arn` docstrings; EC2 resource ARNs arn:aws:ec2:<region>:<account>:"
        f"{kind}/<id>",
    )


# (type, output) → documented format. Ids are checked separately (ID_FORMATS).
FORMATS: dict[tuple[str, str], Format] = {
    ("aws:iam/role:Role", "name"): Format(
        "{name}", "pulumi_aws/iam/role.py: name — the role's name as given"
    ),
    ("aws:iam/role:Role", "arn"): Format(
        r"arn:aws:iam::{account}:role/{name}",
        "pulumi_aws/iam/role.py: arn; IAM ARNs are global (no region)",
    ),
    ("aws:iam/role:Role", "uniqueId"): Format(
        r"AROA[0-9A-Z]{{17}}",
        "pulumi_aws/iam/role.py: unique_id; IAM User Guide, unique identifiers: AROA = role",
    ),
    ("aws:iam/policy:Policy", "name"): Format("{name}", "pulumi_aws/iam/policy.py: name"),
    ("aws:iam/policy:Policy", "arn"): Format(
        r"arn:aws:iam::{account}:policy/{name}", "pulumi_aws/iam/policy.py: arn"
    ),
    ("aws:kms/key:Key", "keyId"): Format(UUID, "pulumi_aws/kms/key.py: key_id, a key's UUID"),
    ("aws:kms/key:Key", "arn"): Format(
        rf"arn:aws:kms:{{region}}:{{account}}:key/{UUID}", "pulumi_aws/kms/key.py: arn"
    ),
    ("aws:kms/alias:Alias", "arn"): Format(
        r"arn:aws:kms:{region}:{account}:{name}",
        "pulumi_aws/kms/alias.py: arn (arn:aws:kms:<region>:<account>:alias/<name>)",
    ),
    ("aws:cloudwatch/logGroup:LogGroup", "name"): Format(
        "{name}", "pulumi_aws/cloudwatch/log_group.py: name"
    ),
    ("aws:cloudwatch/logGroup:LogGroup", "arn"): Format(
        r"arn:aws:logs:{region}:{account}:log-group:{name}",
        "pulumi_aws/cloudwatch/log_group.py: arn, the `:*` suffix removed",
    ),
    ("aws:sns/topic:Topic", "arn"): Format(
        r"arn:aws:sns:{region}:{account}:{name}",
        "pulumi_aws/sns/topic.py: arn; SNS topic ARN arn:aws:sns:<region>:<account>:<name>",
    ),
    ("aws:ec2/vpc:Vpc", "arn"): _ec2("vpc", "vpc"),
    ("aws:ec2/vpc:Vpc", "defaultSecurityGroupId"): Format(
        rf"sg-{HEX17}", "pulumi_aws/ec2/vpc.py: default_security_group_id"
    ),
    ("aws:ec2/vpc:Vpc", "mainRouteTableId"): Format(
        rf"rtb-{HEX17}", "pulumi_aws/ec2/vpc.py: main_route_table_id"
    ),
    ("aws:ec2/subnet:Subnet", "arn"): _ec2("subnet", "subnet"),
    ("aws:ec2/routeTable:RouteTable", "arn"): _ec2("route-table", "rtb"),
    ("aws:ec2/internetGateway:InternetGateway", "arn"): _ec2("internet-gateway", "igw"),
    ("aws:ec2/eip:Eip", "arn"): _ec2("elastic-ip", "eipalloc"),
    ("aws:ec2/flowLog:FlowLog", "arn"): _ec2("vpc-flow-log", "fl"),
    ("aws:ec2/securityGroup:SecurityGroup", "arn"): _ec2("security-group", "sg"),
    ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "arn"): _ec2("security-group", "sg"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "arn"): _ec2("launch-template", "lt"),
    ("aws:ec2/launchTemplate:LaunchTemplate", "latestVersion"): Format(
        r"[1-9][0-9]*",
        "pulumi_aws/ec2/launch_template.py: latest_version, an int (versions start at 1)",
    ),
    ("aws:eks/nodeGroup:NodeGroup", "nodeGroupName"): Format(
        r"{prefix}[0-9a-f]{{26}}",
        "pulumi_aws/eks/node_group.py: node_group_name_prefix; terraform-plugin-sdk helper/id "
        "PrefixedUniqueId appends 26 characters",
    ),
    ("aws:eks/nodeGroup:NodeGroup", "arn"): Format(
        rf"arn:aws:eks:{{region}}:{{account}}:nodegroup/{{cluster}}/[A-Za-z0-9][\w-]{{{{0,62}}}}/"
        rf"{UUID}",
        "pulumi_aws/eks/node_group.py: arn; EKS nodegroup ARN <cluster>/<group>/<uuid>",
    ),
    ("aws:eks/nodeGroup:NodeGroup", "status"): Format(
        "ACTIVE", "pulumi_aws/eks/node_group.py: status (EKS API: ACTIVE once created)"
    ),
    ("aws:eks/addon:Addon", "arn"): Format(
        rf"arn:aws:eks:{{region}}:{{account}}:addon/{{cluster}}/{{addon}}/{UUID}",
        "pulumi_aws/eks/addon.py: arn; EKS addon ARN <cluster>/<addon>/<uuid>",
    ),
    ("random:index/randomPassword:RandomPassword", "result"): Format(
        r"\S{{16,}}", "pulumi_random/random_password.py: result (a secret the plan never shows)"
    ),
    ("random:index/randomPassword:RandomPassword", "bcryptHash"): Format(
        r"\$2a\$10\$\S+", "pulumi_random/random_password.py: bcrypt_hash"
    ),
    (CLUSTER, "oidcProviderArn"): Format(
        rf"arn:aws:iam::{{account}}:oidc-provider/{ISSUER}",
        "pulumi_eks/cluster.py: oidc_provider_arn; IAM OIDC provider ARN",
    ),
    (CLUSTER, "oidcProviderUrl"): Format(
        rf"https://{ISSUER}",
        "pulumi_eks/cluster.py: oidc_provider_url; cluster.ts: eksCluster.identities[0]"
        ".oidcs[0].issuer",
    ),
    (CLUSTER, "oidcIssuer"): Format(
        ISSUER,
        "pulumi_eks/cluster.py: oidc_issuer, 'OIDC Provider URL without leading https://'; "
        'cluster.ts: oidcIssuerUrl.replace("https://", "")',
    ),
    (CLUSTER, "clusterSecurityGroupId"): Format(
        rf"sg-{HEX17}", "pulumi_eks/cluster.py: cluster_security_group_id"
    ),
    (CLUSTER, "nodeSecurityGroupId"): Format(
        rf"sg-{HEX17}", "pulumi_eks/cluster.py: node_security_group_id"
    ),
    ("aws:acm/certificate:Certificate", "arn"): Format(
        rf"arn:aws:acm:{{region}}:{{account}}:certificate/{UUID}",
        "pulumi_aws/acm/certificate.py: arn; ACM certificate ARN certificate/<uuid>",
    ),
    # One DNS validation option per name; ACM's record is `_<32 hex>.<domain>.` CNAME
    # `_<32 hex>.<10 chars>.acm-validations.aws.` (ACM User Guide, "DNS validation").
    ("aws:acm/certificate:Certificate", "domainValidationOptions"): Format(
        r"\[\{{'domainName': '{domain}', 'resourceRecordName': '_[0-9a-f]{{32}}\.{domain}\.', "
        r"'resourceRecordType': 'CNAME', 'resourceRecordValue': "
        r"'_[0-9a-f]{{32}}\.[0-9a-z]{{10}}\.acm-validations\.aws\.'\}}\]",
        "pulumi_aws/acm/outputs.py: CertificateDomainValidationOption (domain_name, "
        "resource_record_name, resource_record_type, resource_record_value)",
    ),
    ("aws:route53/record:Record", "fqdn"): Format(
        "{record}",
        "pulumi_aws/route53/record.py: fqdn, the record's name in its zone, no final dot",
    ),
    ("aws:rds/instance:Instance", "address"): Format(
        r"{identifier}\.c[0-9a-f]{{11}}\.{region}\.rds\.amazonaws\.com",
        "pulumi_aws/rds/instance.py: address, 'DNS address of the DB instance' "
        "(<identifier>.<12 characters>.<region>.rds.amazonaws.com)",
    ),
    ("aws:rds/instance:Instance", "endpoint"): Format(
        r"{identifier}\.c[0-9a-f]{{11}}\.{region}\.rds\.amazonaws\.com:[0-9]+",
        "pulumi_aws/rds/instance.py: endpoint, 'Connection endpoint in `address:port` format'",
    ),
    ("aws:rds/instance:Instance", "arn"): Format(
        r"arn:aws:rds:{region}:{account}:db:{identifier}",
        "pulumi_aws/rds/instance.py: arn; RDS DB instance ARN db:<identifier>",
    ),
    ("aws:rds/instance:Instance", "masterUserSecrets"): Format(
        rf"\[\{{{{'kmsKeyId': '{UUID}', 'secretArn': 'arn:aws:secretsmanager:{{region}}:"
        rf"{{account}}:secret:rds!db-{UUID}-[A-Za-z]{{{{6}}}}', 'secretStatus': 'active'\}}}}\]",
        "pulumi_aws/rds/instance.py: master_user_secrets, 'Only available when "
        "manage_master_user_password is set'; rds/outputs.py InstanceMasterUserSecret (kms_key_id, "
        "secret_arn, secret_status); RDS User Guide: the secret is named rds!db-<uuid>",
    ),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "arn"): Format(
        r"arn:aws:elasticache:{region}:{account}:replicationgroup:{group}",
        "pulumi_aws/elasticache/replication_group.py: arn; ElastiCache ARN "
        "replicationgroup:<id>",
    ),
    ("aws:elasticache/replicationGroup:ReplicationGroup", "primaryEndpointAddress"): Format(
        r"master\.{group}\.[0-9a-f]{{6}}\.[a-z]+[0-9]\.cache\.amazonaws\.com",
        "pulumi_aws/elasticache/replication_group.py: primary_endpoint_address, 'Address of the "
        "endpoint for the primary node ... if the cluster mode is disabled'; ElastiCache User "
        "Guide, 'Finding connection endpoints': master.<id>.<hash>.<short region>.cache."
        "amazonaws.com with in-transit encryption",
    ),
    ("aws:sqs/queue:Queue", "url"): Format(
        r"https://sqs\.{region}\.amazonaws\.com/{account}/{name}",
        "pulumi_aws/sqs/queue.py: url, 'Same as `id`: The URL for the created Amazon SQS queue'",
    ),
    ("aws:sqs/queue:Queue", "arn"): Format(
        r"arn:aws:sqs:{region}:{account}:{name}",
        "pulumi_aws/sqs/queue.py: arn; SQS queue ARN arn:aws:sqs:<region>:<account>:<name>",
    ),
    ("aws:cloudwatch/eventRule:EventRule", "arn"): Format(
        r"arn:aws:events:{region}:{account}:rule/{name}",
        "pulumi_aws/cloudwatch/event_rule.py: arn; EventBridge rule ARN rule/<name> (default bus)",
    ),
    ("aws:secretsmanager/secret:Secret", "arn"): Format(
        r"arn:aws:secretsmanager:{region}:{account}:secret:{name}-[A-Za-z]{{6}}",
        "pulumi_aws/secretsmanager/secret.py: arn; Secrets Manager appends -<6 characters>",
    ),
    # The kubeconfig's shape has its own test below (test_the_kubeconfig_…).
    (CLUSTER, "kubeconfig"): Format(r".*", "cluster.ts: generateKubeconfig"),
    (CLUSTER, "kubeconfigJson"): Format(r"\{.*\}", "cluster.ts: pulumi.jsonStringify(kubeconfig)"),
}

ID_FORMATS = {
    "aws:ec2/vpc:Vpc": rf"vpc-{HEX17}",
    "aws:ec2/subnet:Subnet": rf"subnet-{HEX17}",
    "aws:ec2/internetGateway:InternetGateway": rf"igw-{HEX17}",
    "aws:ec2/natGateway:NatGateway": rf"nat-{HEX17}",
    "aws:ec2/eip:Eip": rf"eipalloc-{HEX17}",
    "aws:ec2/routeTable:RouteTable": rf"rtb-{HEX17}",
    "aws:ec2/securityGroup:SecurityGroup": rf"sg-{HEX17}",
    "aws:ec2/launchTemplate:LaunchTemplate": rf"lt-{HEX17}",
    "aws:ec2/flowLog:FlowLog": rf"fl-{HEX17}",
    # pulumi_aws/kms/key.py: the id is the key id; iam/role.py: the id is the role name.
    "aws:kms/key:Key": UUID,
    "aws:iam/role:Role": r"[\w+=,.@-]{1,64}",
    # pulumi_aws/sqs/queue.py: the id is the queue's URL.
    "aws:sqs/queue:Queue": r"https://sqs\.[a-z0-9-]+\.amazonaws\.com/[0-9]{12}/[\w-]{1,80}",
}


def _sdk_class(type_token: str) -> type:
    """The SDK class a type token names (`aws:ec2/vpc:Vpc` → pulumi_aws.ec2.Vpc)."""
    package, module, name = re.fullmatch(r"(\w+):(?:([\w/]+)/)?\w+:(\w+)", type_token).groups()
    module = "index" if module is None else module
    path = f"pulumi_{package}" + ("" if module == "index" else f".{module.split('/')[0]}")
    return getattr(importlib.import_module(path), name)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _invented(run: PlanRun, region: str) -> list[tuple[RecordedResource, str, dict[str, Any]]]:
    mocks = PlatformMocks(region)
    found = []
    for resource in run.resources:
        if not resource.custom and resource.type != CLUSTER:
            continue
        from pulumi.runtime.mocks import MockResourceArgs

        args = MockResourceArgs(
            typ=resource.type,
            name=resource.name,
            inputs=resource.inputs,
            provider=resource.provider,
            resource_id="",
            custom=resource.custom,
        )
        resource_id, computed = mocks.provider_outputs(args)
        found.append((resource, resource_id, computed))
    return found


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_invented_output_has_a_documented_format_and_follows_it(stack: str) -> None:
    region = stack_config(stack)["aws:region"]
    checked = set()
    for resource, _, computed in _invented(shipped_plan(stack), region):
        for output, value in computed.items():
            key = (resource.type, output)
            assert key in FORMATS, f"{key}: invented by the mocks without a documented format"
            FORMATS[key].check(value, region, resource.inputs)
            checked.add(key)
    assert (CLUSTER, "oidcIssuer") in checked


@pytest.mark.parametrize("key", sorted(FORMATS))
def test_each_invented_output_is_a_real_output_of_its_sdk_class(key: tuple[str, str]) -> None:
    """The mocks may only answer with outputs the provider really has."""
    type_token, output = key
    cls = _sdk_class(type_token)
    assert isinstance(getattr(cls, _snake(output), None), property), f"{cls} has no {output}"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_ids_follow_the_providers_formats(stack: str) -> None:
    region = stack_config(stack)["aws:region"]
    for resource, resource_id, _ in _invented(shipped_plan(stack), region):
        if resource.type in ID_FORMATS:
            assert re.fullmatch(ID_FORMATS[resource.type], resource_id), (resource.urn, resource_id)


def _cluster_outputs(stack: str) -> tuple[RecordedResource, dict[str, Any]]:
    cluster = one(shipped_plan(stack).by_type(CLUSTER))
    region = stack_config(stack)["aws:region"]
    return cluster, PlatformMocks(region)._computed(CLUSTER, cluster.name, "", cluster.inputs)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_oidc_issuer_is_the_provider_arns_path_and_the_url_without_its_scheme(
    stack: str,
) -> None:
    """pulumi_eks/cluster.py documents `oidc_issuer` as the URL without `https://`, and
    cluster.ts builds it as `oidcProviderUrl.replace("https://", "")`."""
    _, outputs = _cluster_outputs(stack)
    assert outputs["oidcProviderUrl"].startswith("https://")
    assert outputs["oidcIssuer"] == outputs["oidcProviderUrl"].removeprefix("https://")
    assert outputs["oidcProviderArn"].split(":oidc-provider/", 1)[1] == outputs["oidcIssuer"]


def _upstream_kubeconfig(name: str, region: str, role_arn: str | None) -> dict[str, Any]:
    """pulumi/pulumi-eks nodejs/eks/cluster/cluster.ts `generateKubeconfig`, written out: the
    exported kubeconfig is `kubeconfigWithoutProfile` (no `--profile`), and
    `providerCredentialOpts.roleArn` appends `--role <arn>` to `aws eks get-token`."""
    args = ["--region", region, "eks", "get-token", "--cluster-name", name, "--output", "json"]
    if role_arn:
        args += ["--role", role_arn]
    return {
        "apiVersion": "v1",
        "clusters": [
            {"cluster": {"server": Any, "certificate-authority-data": Any}, "name": "kubernetes"}
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
                        "args": args,
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


def _matches(actual: Any, expected: Any) -> bool:
    if expected is Any:
        return isinstance(actual, str) and bool(actual)
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_matches(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_matches(a, e) for a, e in zip(actual, expected))
        )
    return actual == expected


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_kubeconfig_follows_pulumi_eks_for_the_clusters_inputs(stack: str) -> None:
    cluster, outputs = _cluster_outputs(stack)
    region = stack_config(stack)["aws:region"]
    role_arn = (cluster.inputs.get("providerCredentialOpts") or {}).get("roleArn")
    expected = _upstream_kubeconfig(cluster.inputs["name"], region, role_arn)
    assert _matches(outputs["kubeconfig"], expected), outputs["kubeconfig"]
    assert json.loads(outputs["kubeconfigJson"]) == outputs["kubeconfig"]
    server = outputs["kubeconfig"]["clusters"][0]["cluster"]["server"]
    assert re.fullmatch(rf"https://[0-9A-F]{{32}}\.gr7\.{region}\.eks\.amazonaws\.com", server)


def test_without_credential_options_the_kubeconfig_uses_ambient_credentials() -> None:
    outputs = PlatformMocks("eu-west-1")._computed(CLUSTER, "c", "", {"name": "c"})
    expected = _upstream_kubeconfig("c", "eu-west-1", None)
    assert _matches(outputs["kubeconfig"], expected)


def test_provider_functions_answer_in_the_providers_shapes() -> None:
    """pulumi_aws/get_caller_identity.py, get_availability_zones.py, get_region.py."""
    from pulumi.runtime.mocks import MockCallArgs

    mocks = PlatformMocks("eu-west-1")

    def call(token: str) -> dict[str, Any]:
        return mocks.call(MockCallArgs(token, {}, ""))

    identity = call("aws:index/getCallerIdentity:getCallerIdentity")
    assert re.fullmatch(r"\d{12}", identity["accountId"])
    assert identity["arn"].startswith(f"arn:aws:iam::{identity['accountId']}:")
    zones = call("aws:index/getAvailabilityZones:getAvailabilityZones")
    assert all(re.fullmatch(r"eu-west-1[a-z]", zone) for zone in zones["names"])
    assert call("aws:index/getRegion:getRegion")["name"] == "eu-west-1"
    for output in ("account_id", "arn", "user_id"):
        assert isinstance(
            getattr(_sdk_module_class("pulumi_aws", "GetCallerIdentityResult"), output), property
        )


def test_the_described_cluster_answers_in_get_clusters_shape() -> None:
    """pulumi_aws/eks/get_cluster.py: `role_arn` (an IAM role ARN; pulumi-eks's ServiceRole role
    has no path, so its name is the last segment) and `vpc_config` with every field of
    GetClusterVpcConfigResult, `cluster_security_group_id` a security group id."""
    import inspect

    from pulumi.runtime.mocks import MockCallArgs

    described = PlatformMocks("eu-west-1").call(
        MockCallArgs("aws:eks/getCluster:getCluster", {"name": "c"}, "")
    )
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", described["roleArn"])
    assert isinstance(_sdk_module_class("pulumi_aws.eks", "GetClusterResult").role_arn, property)
    vpc_config = _sdk_module_class("pulumi_aws.eks.outputs", "GetClusterVpcConfigResult")
    fields = set(inspect.signature(vpc_config.__init__).parameters) - {"__self__"}
    camel = {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), f) for f in fields}
    assert set(described["vpcConfig"]) == camel
    assert re.fullmatch(r"sg-[0-9a-f]{17}", described["vpcConfig"]["clusterSecurityGroupId"])


def _sdk_module_class(package: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(package), name)
