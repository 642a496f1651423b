"""Self-service resources (components/resources/): what a tenant file's `resources:` gives, each
secure default held on the recorded resources, and what another tenant can never reach."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulumi.runtime.mocks import MockResourceArgs

from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.mocks import PlatformMocks
from tests.conftest import (
    assert_refused,
    make_project,
    one,
    policy_statements,
    project_with_tenant_bad,
    shipped_plan,
    stack_config,
)

RDS = "aws:rds/instance:Instance"
KEY = "aws:kms/key:Key"
SG = "aws:ec2/securityGroup:SecurityGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECURITY_GROUP_POLICY = "kubernetes:vpcresources.k8s.aws/v1beta1:SecurityGroupPolicy"


def named(plan: PlanRun, type_: str, name: str) -> RecordedResource:
    return one(r for r in plan.resources if r.type == type_ and r.name == name)


def parameters(plan: PlanRun, name: str) -> dict[str, str]:
    group = named(plan, "aws:rds/parameterGroup:ParameterGroup", name)
    return {p["name"]: p["value"] for p in group.inputs["parameters"]}


# --------------------------------------------------------------------------------------------------
# Postgres


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_postgres_is_private_encrypted_tls_only_and_backed_up(stack: str) -> None:
    plan = shipped_plan(stack)
    production = stack == "prod"
    db = named(plan, RDS, "payments/orders-db-instance")
    key = named(plan, KEY, "payments/orders-db-key")
    inputs = db.inputs
    assert inputs["engine"] == "postgres" and inputs["engineVersion"].startswith("17.")
    assert inputs["publiclyAccessible"] is False
    assert inputs["storageEncrypted"] is True
    assert inputs["kmsKeyId"].startswith("arn:aws:kms:") and ":key/" in inputs["kmsKeyId"]
    assert inputs["performanceInsightsKmsKeyId"] == inputs["kmsKeyId"]
    assert inputs["manageMasterUserPassword"] is True
    assert "password" not in inputs, "the master password never enters state"
    assert inputs["iamDatabaseAuthenticationEnabled"] is True
    assert inputs["autoMinorVersionUpgrade"] is False
    assert inputs["performanceInsightsEnabled"] is True
    assert inputs["deletionProtection"] is True
    assert inputs["backupRetentionPeriod"] == (35 if production else 7)
    assert inputs["multiAz"] is production
    assert inputs["skipFinalSnapshot"] is (not production)
    if production:
        assert inputs["finalSnapshotIdentifier"] == "paved-road-prod-payments-orders-db-final"
    assert db.protect is production and key.protect is production
    assert key.inputs["enableKeyRotation"] is True
    assert parameters(plan, "payments/orders-db-parameters") == {"rds.force_ssl": "1"}
    group = named(plan, SG, "payments/orders-db-sg")
    (sg_id,) = inputs["vpcSecurityGroupIds"]
    assert sg_id.startswith("sg-")
    for tags in (inputs["tags"], key.inputs["tags"], group.inputs["tags"]):
        assert tags["paved-road:tenant"] == "payments"
        assert tags["paved-road:cost-center"] == "cc-1234"


def _pods_group_id(plan: PlanRun, tenant: str) -> str:
    group = named(plan, SG, f"{tenant}-pods-sg")
    return PlatformMocks("eu-west-1").provider_outputs(
        MockResourceArgs(group.type, group.name, group.inputs, "", "", True)
    )[0]


def _cluster_security_group_id(stack: str) -> str:
    described = PlatformMocks("eu-west-1")._described_cluster(f"paved-road-{stack}")
    return described["vpcConfig"]["clusterSecurityGroupId"]


@pytest.mark.parametrize(
    "tenant, store, port",
    [
        ("payments", "orders-db", 5432),
        ("payments", "sessions", 6379),
        ("storefront", "carts", 6379),
    ],
)
def test_a_data_store_admits_its_port_from_its_tenants_pods_group_only(
    tenant: str, store: str, port: int
) -> None:
    plan = shipped_plan("dev")
    group = named(plan, SG, f"{tenant}/{store}-sg")
    (rule,) = group.inputs["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["protocol"]) == (port, port, "tcp")
    assert rule["securityGroups"] == [_pods_group_id(plan, tenant)]
    for field in ("cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "self"):
        assert not rule.get(field), f"{field}: no address range, not the group itself"
    assert group.inputs["egress"] == []


def test_another_tenants_pods_cannot_open_a_connection_to_a_data_store() -> None:
    """The cross-tenant negative: storefront has data stores of its own (so its pods carry a
    group of their own), yet no payments store admits that group, nor the cluster's group every
    pod carries, and the reverse."""
    plan = shipped_plan("dev")
    pods = {tenant: _pods_group_id(plan, tenant) for tenant in ("payments", "storefront")}
    assert pods["payments"] != pods["storefront"]
    cluster = _cluster_security_group_id("dev")
    stores = {
        "payments": ("payments/orders-db-sg", "payments/sessions-sg"),
        "storefront": ("storefront/carts-sg",),
    }
    for owner, names in stores.items():
        for name in names:
            admitted = {
                source
                for rule in named(plan, SG, name).inputs["ingress"]
                for source in rule.get("securityGroups", [])
            }
            assert admitted == {pods[owner]}, name
            assert not admitted & ({*pods.values(), cluster} - {pods[owner]}), name


def test_every_namespace_of_a_tenant_with_a_data_store_gives_its_pods_both_groups() -> None:
    """One SecurityGroupPolicy per namespace selecting every pod, with the tenant's group and the
    cluster security group (DNS, the kubelet and the API server keep working), in the shape of
    the CRD (vpcresources.k8s.aws/v1beta1, amazon-vpc-resource-controller-k8s
    apis/vpcresources/v1beta1/securitygrouppolicy_types.go: spec.podSelector or
    spec.serviceAccountSelector, spec.securityGroups.groupIds with 1 to 5 ids)."""
    plan = shipped_plan("dev")
    policies = {r.inputs["metadata"]["namespace"]: r for r in plan.by_type(SECURITY_GROUP_POLICY)}
    for tenant, namespaces in (("payments", ("payments", "payments-jobs")), ("storefront", ())):
        namespaces = namespaces or (tenant,)
        for namespace in namespaces:
            policy = policies[namespace]
            assert policy.inputs["apiVersion"] == "vpcresources.k8s.aws/v1beta1"
            assert policy.inputs["kind"] == "SecurityGroupPolicy"
            assert policy.inputs["metadata"]["labels"]["paved-road/tenant"] == tenant
            spec = policy.inputs["spec"]
            assert set(spec) <= {"podSelector", "serviceAccountSelector", "securityGroups"}
            assert spec["podSelector"] == {} and "serviceAccountSelector" not in spec
            assert set(spec["securityGroups"]) == {"groupIds"}
            ids = spec["securityGroups"]["groupIds"]
            assert 1 <= len(ids) <= 5 and all(i.startswith("sg-") for i in ids)
            assert ids == [_pods_group_id(plan, tenant), _cluster_security_group_id("dev")]
            # Pods get their groups when they start: the tenant's apps wait for the policy.
    rollout = named(
        plan, "kubernetes:argoproj.io/v1alpha1:Rollout", "payments/checkout-api/rollout"
    )
    assert policies["payments"].urn in rollout.dependencies


def test_a_tenant_without_data_stores_gets_no_pods_group_and_no_policy() -> None:
    plan = shipped_plan("dev")
    assert not [r for r in plan.by_type(SG) if r.name.startswith("search-")]
    assert not [
        r
        for r in plan.by_type(SECURITY_GROUP_POLICY)
        if r.inputs["metadata"]["namespace"].startswith("search")
    ]


def test_a_tenant_cannot_deploy_a_security_group_policy_of_its_own() -> None:
    """One naming another tenant's group would let its pods into that tenant's stores."""
    plan = shipped_plan("dev")
    for project in plan.by_type("kubernetes:argoproj.io/v1alpha1:AppProject"):
        assert {"group": "vpcresources.k8s.aws", "kind": "SecurityGroupPolicy"} in project.inputs[
            "spec"
        ]["namespaceResourceBlacklist"]


def _private_cidrs() -> list[str]:
    from components.config import NetworkConfig

    network = NetworkConfig.model_validate(stack_config("dev").get("paved-road:network") or {})
    return network.subnet_plan()[0]


def test_only_the_owning_tenant_opens_the_data_store_port() -> None:
    plan = shipped_plan("dev")
    policy = named(plan, NETWORK_POLICY, "payments-allow-data-stores")
    (egress,) = policy.inputs["spec"]["egress"]
    assert {p["port"] for p in egress["ports"]} >= {5432}
    assert {b["ipBlock"]["cidr"] for b in egress["to"]} == set(_private_cidrs())
    assert not [
        r for r in plan.by_type(NETWORK_POLICY) if r.name.startswith("search-allow-data-stores")
    ], "a tenant without data stores has no way to their ports"


def test_connection_secrets_validate_against_external_secrets_crd() -> None:
    from pavedroad.plan import manifest_of
    from tests.crds import crd_errors, require_crds

    require_crds()
    plan = shipped_plan("dev")
    for name in (
        "payments/orders-db-connection",
        "payments/sessions-connection",
        "storefront/carts-connection",
    ):
        manifest = manifest_of(named(plan, EXTERNAL_SECRET, name))
        assert crd_errors(manifest) == [], name


def test_connection_details_land_in_the_tenants_namespace_through_its_store() -> None:
    plan = shipped_plan("dev")
    db = named(plan, RDS, "payments/orders-db-instance")
    external = named(plan, EXTERNAL_SECRET, "payments/orders-db-connection")
    spec = external.inputs["spec"]
    assert external.inputs["metadata"]["namespace"] == "payments"
    assert spec["secretStoreRef"] == {"name": "tenant-secrets", "kind": "SecretStore"}
    assert spec["target"]["name"] == "orders-db-connection"
    template = spec["target"]["template"]["data"]
    assert template["host"] == db.inputs.get("address", template["host"])
    assert template["port"] == "5432" and template["dbname"] == "orders_db"
    secret_arn = template["masterSecretArn"]
    assert secret_arn.split(":secret:")[1].startswith("rds!db-")
    assert {d["remoteRef"]["key"] for d in spec["data"]} == {secret_arn}
    assert {d["secretKey"] for d in spec["data"]} == {"username", "password"}


def _readers(plan: PlanRun, arn: str) -> set[str]:
    """Roles whose inline policies allow reading `arn` (exactly, or through a prefix)."""
    roles = set()
    for policy in plan.by_type(ROLE_POLICY):
        for statement in policy_statements(policy.inputs["policy"]):
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            if "secretsmanager:GetSecretValue" not in actions:
                continue
            if any(arn == r or (r.endswith("*") and arn.startswith(r[:-1])) for r in resources):
                roles.add(policy.inputs["role"])
    return roles


def test_only_the_tenants_workload_role_reads_the_secret_and_uses_the_key() -> None:
    plan = shipped_plan("dev")
    external = named(plan, EXTERNAL_SECRET, "payments/orders-db-connection")
    secret_arn = external.inputs["spec"]["target"]["template"]["data"]["masterSecretArn"]
    assert _readers(plan, secret_arn) == {"paved-road-dev-tenant-payments"}
    key = named(plan, KEY, "payments/orders-db-key")
    statements = policy_statements(key.inputs["policy"])
    principals = {s["Principal"]["AWS"] for s in statements if s["Sid"] == "TenantWorkloadDecrypts"}
    assert principals == {"arn:aws:iam::123456789012:role/paved-road-dev-tenant-payments"}
    (tenant,) = [s for s in statements if s["Sid"] == "TenantWorkloadDecrypts"]
    assert set(tenant["Action"]) == {"kms:Decrypt", "kms:DescribeKey"}
    assert "kms:ViaService" in tenant["Condition"]["StringEquals"]
    storefront = named(plan, "aws:iam/role:Role", "storefront-workload-role")
    assert storefront.inputs["name"] not in _readers(plan, secret_arn)


# --------------------------------------------------------------------------------------------------
# Redis


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_redis_is_encrypted_authenticated_and_fails_over_in_production(stack: str) -> None:
    plan = shipped_plan(stack)
    production = stack == "prod"
    group = named(
        plan,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "payments/sessions-replication-group",
    )
    key = named(plan, KEY, "payments/sessions-key")
    inputs = group.inputs
    assert inputs["engine"] == "valkey" and inputs["engineVersion"] == "8.0"
    assert inputs["autoMinorVersionUpgrade"] is False
    assert inputs["atRestEncryptionEnabled"] is True and ":key/" in inputs["kmsKeyId"]
    assert inputs["transitEncryptionEnabled"] is True
    assert inputs["transitEncryptionMode"] == "required"
    assert inputs["authToken"] == "[secret]"
    assert inputs["automaticFailoverEnabled"] is production
    assert inputs["multiAzEnabled"] is production
    assert inputs["numCacheClusters"] == (2 if production else 1)
    assert inputs["snapshotRetentionLimit"] >= 7
    assert group.protect is production and key.protect is production
    secret = named(plan, "aws:secretsmanager/secret:Secret", "payments/sessions-auth-secret")
    assert secret.inputs["name"] == f"paved-road/{stack}/tenants/payments/resources/sessions"
    assert secret.inputs["kmsKeyId"] == inputs["kmsKeyId"]
    value = named(
        plan,
        "aws:secretsmanager/secretVersion:SecretVersion",
        "payments/sessions-auth-secret-value",
    )
    assert value.inputs["secretString"] == "[secret]"
    sg = named(plan, SG, "payments/sessions-sg")
    (rule,) = sg.inputs["ingress"]
    assert (rule["fromPort"], rule["toPort"]) == (6379, 6379)
    assert "cidrBlocks" not in rule
    for tags in (inputs["tags"], secret.inputs["tags"], sg.inputs["tags"]):
        assert tags["paved-road:tenant"] == "payments"
        assert tags["paved-road:cost-center"] == "cc-1234"


def test_redis_credentials_reach_only_the_tenants_namespace_and_role() -> None:
    plan = shipped_plan("dev")
    external = named(plan, EXTERNAL_SECRET, "payments/sessions-connection")
    spec = external.inputs["spec"]
    assert external.inputs["metadata"]["namespace"] == "payments"
    assert spec["secretStoreRef"]["name"] == "tenant-secrets"
    (entry,) = spec["data"]
    assert entry["remoteRef"] == {
        "key": "paved-road/dev/tenants/payments/resources/sessions",
        "property": "authToken",
    }
    template = spec["target"]["template"]["data"]
    assert template["port"] == "6379" and template["tls"] == "true"
    assert template["host"].startswith("master.paved-road-dev-payments-sessions.")
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:paved-road/dev/tenants/payments/resources/sessions-AbCdEf"
    assert _readers(plan, arn) == {"paved-road-dev-tenant-payments"}
    policy = named(plan, NETWORK_POLICY, "payments-allow-data-stores")
    assert {p["port"] for p in policy.inputs["spec"]["egress"][0]["ports"]} == {5432, 6379}


# --------------------------------------------------------------------------------------------------
# Events


def test_events_feed_an_encrypted_queue_with_a_dead_letter_queue_from_one_rule() -> None:
    plan = shipped_plan("dev")
    queue = named(plan, "aws:sqs/queue:Queue", "payments/order-events-queue")
    dlq = named(plan, "aws:sqs/queue:Queue", "payments/order-events-dlq")
    key = named(plan, KEY, "payments/order-events-key")
    rule = named(plan, "aws:cloudwatch/eventRule:EventRule", "payments/order-events-rule")
    for q in (queue, dlq):
        assert q.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
        assert q.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
        assert q.inputs["tags"]["paved-road:tenant"] == "payments"
        assert q.inputs["tags"]["paved-road:cost-center"] == "cc-1234"
    redrive = json.loads(queue.inputs["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:paved-road-dev-payments-order-events-dlq",
        "maxReceiveCount": 5,
    }
    assert json.loads(rule.inputs["eventPattern"]) == {
        "detail-type": ["OrderPlaced"],
        "source": ["acme.orders"],
    }
    rule_arn = "arn:aws:events:eu-west-1:123456789012:rule/paved-road-dev-payments-order-events"
    policy = named(plan, "aws:sqs/queuePolicy:QueuePolicy", "payments/order-events-queue-policy")
    (statement,) = policy_statements(policy.inputs["policy"])
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}
    target = named(plan, "aws:cloudwatch/eventTarget:EventTarget", "payments/order-events-target")
    assert (
        target.inputs["arn"]
        == "arn:aws:sqs:eu-west-1:123456789012:paved-road-dev-payments-order-events"
    )
    services = [s for s in policy_statements(key.inputs["policy"]) if "Service" in s["Principal"]]
    assert [s["Condition"] for s in services] == [
        {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    ]


def test_the_consumer_may_receive_from_its_queue_only() -> None:
    plan = shipped_plan("dev")
    queue_arn = "arn:aws:sqs:eu-west-1:123456789012:paved-road-dev-payments-order-events"
    readers = set()
    for policy in plan.by_type(ROLE_POLICY):
        for statement in policy_statements(policy.inputs["policy"]):
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            if "sqs:ReceiveMessage" in actions:
                assert statement["Resource"] == [queue_arn], "a consumer reads one queue"
                readers.add(policy.inputs["role"])
    assert readers == {"paved-road-dev-tenant-payments"}
    config_map = named(plan, "kubernetes:core/v1:ConfigMap", "payments/order-events-connection")
    assert config_map.inputs["metadata"]["namespace"] == "payments"
    assert config_map.inputs["data"]["queueUrl"].endswith("/paved-road-dev-payments-order-events")


def test_schedules_and_buckets_make_their_rules(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(
        tmp_path,
        {
            "resources": [
                {"name": "tick", "type": "events", "source": {"schedule": "rate(5 minutes)"}},
                {"name": "uploads", "type": "events", "source": {"s3Bucket": "acme-uploads"}},
            ]
        },
    )
    plan = PlanEngine("dev", root).run()
    tick = named(plan, "aws:cloudwatch/eventRule:EventRule", "bad/tick-rule")
    assert tick.inputs["scheduleExpression"] == "rate(5 minutes)"
    assert "eventPattern" not in tick.inputs
    uploads = named(plan, "aws:cloudwatch/eventRule:EventRule", "bad/uploads-rule")
    assert json.loads(uploads.inputs["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["acme-uploads"]}},
    }
    assert not [
        r for r in plan.by_type(ROLE_POLICY) if r.name.startswith("bad/") and "consume" in r.name
    ], "without a consumer nobody reads the queue"


# --------------------------------------------------------------------------------------------------
# DNS


def test_a_dns_name_is_one_more_host_of_the_apps_ingress_with_its_own_certificate() -> None:
    plan = shipped_plan("dev")
    host = "checkout.payments.dev.paved-road.example"
    ingress = named(
        plan, "kubernetes:networking.k8s.io/v1:Ingress", "payments/checkout-api/ingress"
    )
    spec = ingress.inputs["spec"]
    assert [rule["host"] for rule in spec["rules"]] == [
        "checkout-api.payments.dev.paved-road.example",
        host,
    ]
    assert spec["rules"][0]["http"] == spec["rules"][1]["http"], "the same backend"
    assert spec["tls"] == [{"hosts": [r["host"] for r in spec["rules"]]}]
    certificate = named(plan, "aws:acm/certificate:Certificate", "payments/checkout/certificate")
    assert certificate.inputs["domainName"] == host
    assert certificate.inputs["tags"]["paved-road:tenant"] == "payments"
    arns = ingress.inputs["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"]
    assert len(arns.split(",")) == 2
    # external-dns owns the name's record; Pulumi writes only the validation record.
    records = [
        r
        for r in plan.by_type("aws:route53/record:Record")
        if r.name.startswith("payments/checkout/")
    ]
    assert [r.name for r in records] == ["payments/checkout/certificate-validation-record"]
    assert records[0].inputs["name"].endswith(f".{host}.")


def test_only_the_owning_tenant_may_serve_its_dns_name() -> None:
    """Kyverno's per-tenant host rule admits the name for payments' Ingresses only."""
    plan = shipped_plan("dev")
    host = "checkout.payments.dev.paved-road.example"
    policies = [
        r
        for r in plan.resources
        if r.type.endswith(":ClusterPolicy") and host in json.dumps(r.inputs)
    ]
    assert policies, "the name is approved for some tenant"
    for policy in policies:
        rules = [rule for rule in policy.inputs["spec"]["rules"] if host in json.dumps(rule)]
        assert rules and all("payments" in rule["name"] for rule in rules), [
            r["name"] for r in rules
        ]


# --------------------------------------------------------------------------------------------------
# The contract: bad input names file and field; overrides work as for apps


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"resources": [{"name": "db", "type": "mysql"}]}, "resources[0].type", "postgres"),
        (
            {"resources": [{"name": "db", "type": "postgres", "version": "11"}]},
            "resources[0].version",
            "not a supported postgres version",
        ),
        (
            {"resources": [{"name": "db", "type": "postgres", "size": "xl"}]},
            "resources[0].size",
            "small",
        ),
        (
            {"resources": [{"name": "db", "type": "redis"}, {"name": "db", "type": "redis"}]},
            "resources[1].name",
            "already the name",
        ),
        (
            {"resources": [{"name": "www", "type": "dns", "app": "nope"}]},
            "resources[0].app",
            "not an app of this tenant",
        ),
        (
            {"resources": [{"name": "db", "type": "postgres", "app": "x"}]},
            "resources[0].app",
            "is not a field of postgres",
        ),
        (
            {"resources": [{"name": "ev", "type": "events", "source": {}}]},
            "resources[0].source",
            "exactly one of",
        ),
        (
            {
                "resources": [
                    {"name": "ev", "type": "events", "source": {"pattern": {"source": "aws.s3"}}}
                ]
            },
            "resources[0].source.pattern",
            "EventBridge event pattern",
        ),
        (
            {
                "resources": [
                    {"name": "ev", "type": "events", "source": {"schedule": "every 5 minutes"}}
                ]
            },
            "resources[0].source.schedule",
            "EventBridge schedule",
        ),
        (
            {
                "apps": [
                    {
                        "name": "web",
                        "template": "api-service",
                        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bad/web:1.0.0",
                    }
                ],
                "resources": [{"name": "web", "type": "dns", "app": "web"}],
            },
            "resources[0].name",
            "already a host of this tenant",
        ),
        (
            {"resources": [{"name": "other.payments", "type": "dns", "app": "web"}]},
            "resources[0].name",
            "is not a resource name",
        ),
        (
            {"resources": [{"name": "a-very-long-name-for-a-cache-x", "type": "redis"}]},
            "resources[0].name",
            "longer than the 40 characters",
        ),
    ],
)
def test_bad_resources_are_refused_naming_file_and_field(
    tmp_path: Path, changes: dict[str, Any], field: str, message: str
) -> None:
    root, _ = project_with_tenant_bad(tmp_path, changes)
    assert_refused(PlanEngine("dev", root), "tenants/bad.yaml", field, message)


def test_a_stack_override_of_resources_is_the_stack_files_error(tmp_path: Path) -> None:
    entry = {"name": "bad", "resources": [{"name": "db", "type": "postgres", "version": "9"}]}
    root, _ = project_with_tenant_bad(tmp_path, {}, entry)
    assert_refused(
        PlanEngine("dev", root),
        "stacks/Pulumi.dev.yaml",
        "paved-road:tenants[3].resources[0].version",
        "not a supported postgres version",
    )


def test_a_stack_override_sizes_a_resource_per_environment(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    document = yaml.safe_load(Path("tenants/payments.yaml").read_text())
    resources = copy.deepcopy(document["resources"])
    for resource in resources:
        if resource["name"] == "orders-db":
            resource["size"] = "large"
    config["paved-road:tenants"][0] = {"name": "payments", "resources": resources}
    plan = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    db = named(plan, RDS, "payments/orders-db-instance")
    assert db.inputs["instanceClass"] == "db.r7g.xlarge"


def test_the_tenant_file_contract_parses_every_type() -> None:
    from components.resources_config import ResourceConfig

    parsed = [
        ResourceConfig.model_validate(r)
        for r in (
            {"name": "orders-db", "type": "postgres", "size": "small", "version": 17},
            {"name": "sessions", "type": "redis"},
            {"name": "checkout", "type": "dns", "app": "checkout-api"},
            {
                "name": "order-events",
                "type": "events",
                "source": {"pattern": {"source": ["aws.s3"], "detail-type": ["Object Created"]}},
                "consumer": "ledger-consumer",
            },
        )
    ]
    assert parsed[0].resolved_version == "17" and parsed[1].resolved_size == "small"
    assert parsed[3].source is not None and parsed[3].source.kind == "pattern"
    assert json.dumps(parsed[3].source.pattern)


# --------------------------------------------------------------------------------------------------
# Plan summary and diff


def test_the_summary_lists_each_tenants_resources() -> None:
    from pavedroad.plan import summary

    text = summary(shipped_plan("prod"))
    lines = text.split("Tenant resources (", 1)[1].split("\n\n", 1)[0].splitlines()
    assert lines[0].startswith("6;")
    listed = {line.strip().split(":", 1)[0] for line in lines[1:]}
    assert listed == {
        "payments/checkout",
        "payments/order-events",
        "payments/orders-db",
        "payments/sessions",
        "search/reindex",
        "storefront/carts",
    }
    assert (
        "payments/orders-db: postgres 17.5 on db.t4g.medium, Multi-AZ yes, backups 35 days, protected yes"
        in text
    )


@pytest.mark.parametrize(
    "resource",
    [
        {"name": "rates", "type": "redis", "size": "medium"},
        {"name": "refunds", "type": "events", "source": {"schedule": "rate(1 hour)"}},
        {"name": "pay", "type": "dns", "app": "checkout-api"},
    ],
)
def test_adding_a_resource_adds_only_its_own_objects(tmp_path: Path, resource: dict) -> None:
    from pavedroad.diff import diff_plans
    from pavedroad.plan import plan_document

    base = plan_document(shipped_plan("dev"))
    root = make_project(tmp_path, stack_config("dev"), "dev")
    path = root / "tenants" / "payments.yaml"
    document = yaml.safe_load(path.read_text())
    document["resources"].append(resource)
    path.write_text(yaml.safe_dump(document))
    head = plan_document(PlanEngine("dev", root).run())
    diff = diff_plans(base, head)
    prefix = f"payments/{resource['name']}"
    assert diff.added and all(ref.name.startswith(prefix) for ref in diff.added), [
        ref.name for ref in diff.added
    ]
    assert not diff.removed
    changed = [change.name for change in diff.changed]
    # A name is one more host of its app's Ingress (and of Kyverno's approved hosts).
    allowed = {"payments/checkout-api/ingress", "policy-restrict-ingress-hosts"}
    assert set(changed) <= (allowed if resource["type"] == "dns" else set()), changed


# --------------------------------------------------------------------------------------------------
# KEDA: the consumer scales on its queue's depth, as the tenant's workload identity


def test_the_consumer_scales_on_queue_depth_validated_against_kedas_crds() -> None:
    from pavedroad.plan import manifest_of
    from tests.crds import crd_errors, require_crds

    require_crds()
    plan = shipped_plan("dev")
    scaled = named(
        plan, "kubernetes:keda.sh/v1alpha1:ScaledObject", "payments/ledger-consumer/scaled-object"
    )
    auth = named(plan, "kubernetes:keda.sh/v1alpha1:TriggerAuthentication", "payments-keda-auth")
    for resource in (scaled, auth):
        manifest = manifest_of(resource)
        assert crd_errors(manifest) == [], manifest
        assert manifest["metadata"]["namespace"] == "payments"
    assert auth.inputs["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "workload"}}
    spec = scaled.inputs["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "ledger-consumer",
    }
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    assert trigger["authenticationRef"] == {"name": "tenant-workload"}
    assert trigger["metadata"]["queueURL"].endswith("/paved-road-dev-payments-order-events")
    rollout = named(
        plan, "kubernetes:argoproj.io/v1alpha1:Rollout", "payments/ledger-consumer/rollout"
    )
    assert "replicas" not in rollout.inputs["spec"], "KEDA owns the consumer's replica count"
    release = one(
        r for r in plan.by_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == "keda"
    )
    from components.versions import CHARTS

    assert release.inputs["version"] == CHARTS["keda"].version
    assert release.urn in scaled.dependencies


def test_keda_assumes_only_tenant_roles_and_only_consumers_trust_it() -> None:
    plan = shipped_plan("dev")
    keda = named(plan, "aws:iam/role:Role", "autoscaling-keda")
    (statement,) = policy_statements(
        named(plan, ROLE_POLICY, "autoscaling-keda-policy").inputs["policy"]
    )
    assert statement["Action"] == ["sts:AssumeRole"]
    assert statement["Resource"] == ["arn:aws:iam::123456789012:role/paved-road-dev-tenant-*"]
    keda_arn = f"arn:aws:iam::123456789012:role/{keda.inputs['name']}"
    trusted_by = set()
    for role in plan.by_type("aws:iam/role:Role"):
        for s in policy_statements(role.inputs["assumeRolePolicy"]):
            if s.get("Principal", {}).get("AWS") == keda_arn:
                trusted_by.add(role.name)
    assert trusted_by == {"payments-workload-role"}, "search has no consumer, storefront none"


def test_a_consumer_must_be_a_worker(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(
        tmp_path,
        {
            "apps": [
                {
                    "name": "web",
                    "template": "api-service",
                    "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bad/web:1.0.0",
                }
            ],
            "resources": [
                {
                    "name": "jobs",
                    "type": "events",
                    "source": {"schedule": "rate(1 hour)"},
                    "consumer": "web",
                }
            ],
        },
    )
    assert_refused(
        PlanEngine("dev", root), "tenants/bad.yaml", "resources[0].consumer", "api-service"
    )


# --------------------------------------------------------------------------------------------------
# Tenant B cannot reach tenant A's resources, nor A tenant B's


def test_each_tenants_cache_secret_and_key_are_its_own() -> None:
    plan = shipped_plan("dev")
    arns = {
        "payments": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
        "paved-road/dev/tenants/payments/resources/sessions-AbCdEf",
        "storefront": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
        "paved-road/dev/tenants/storefront/resources/carts-AbCdEf",
    }
    for tenant, arn in arns.items():
        assert _readers(plan, arn) == {f"paved-road-dev-tenant-{tenant}"}, tenant
    for tenant, key_name in (
        ("payments", "payments/sessions-key"),
        ("storefront", "storefront/carts-key"),
    ):
        statements = policy_statements(named(plan, KEY, key_name).inputs["policy"])
        others = {
            s["Principal"]["AWS"]
            for s in statements
            if "AWS" in s["Principal"] and s["Sid"] != "AccountAdministers"
        }
        assert others == {f"arn:aws:iam::123456789012:role/paved-road-dev-tenant-{tenant}"}
    external = named(plan, EXTERNAL_SECRET, "storefront/carts-connection")
    assert external.inputs["metadata"]["namespace"] == "storefront"
    assert external.inputs["spec"]["data"][0]["remoteRef"]["key"].startswith(
        "paved-road/dev/tenants/storefront/"
    )


def test_no_other_tenant_may_receive_from_a_queue_or_send_to_it() -> None:
    plan = shipped_plan("dev")
    for name in ("payments/order-events-queue-policy", "search/reindex-queue-policy"):
        (statement,) = policy_statements(
            named(plan, "aws:sqs/queuePolicy:QueuePolicy", name).inputs["policy"]
        )
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        rule = name.split("/")[1].removesuffix("-queue-policy")
        tenant = name.split("/")[0]
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"].endswith(
            f":rule/paved-road-dev-{tenant}-{rule}"
        )
    search_queue = "arn:aws:sqs:eu-west-1:123456789012:paved-road-dev-search-reindex"
    for policy in plan.by_type(ROLE_POLICY):
        for statement in policy_statements(policy.inputs["policy"]):
            resources = statement["Resource"]
            assert search_queue not in (resources if isinstance(resources, list) else [resources])


def test_decommission_lifts_protection_in_production(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("prod"))
    root = make_project(tmp_path, config, "prod")
    path = root / "tenants" / "payments.yaml"
    document = yaml.safe_load(path.read_text())
    for resource in document["resources"]:
        if resource["name"] in ("orders-db", "sessions"):
            resource["decommission"] = True
    path.write_text(yaml.safe_dump(document))
    plan = PlanEngine("prod", root).run()
    db = named(plan, RDS, "payments/orders-db-instance")
    assert db.protect is False and db.inputs["deletionProtection"] is False
    assert db.inputs["skipFinalSnapshot"] is False, "the final snapshot is still taken"
    cache = named(
        plan,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "payments/sessions-replication-group",
    )
    assert cache.protect is False
    assert named(plan, KEY, "payments/orders-db-key").protect is False


def test_data_stores_in_an_existing_vpc_are_refused_for_now(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:network"] = {
        "existingVpc": {
            "vpcId": "vpc-0123456789abcdef0",
            "privateSubnetIds": ["subnet-0000000000000000a", "subnet-0000000000000000b"],
            "publicSubnetIds": ["subnet-0000000000000000c", "subnet-0000000000000000d"],
        }
    }
    assert_refused(
        PlanEngine("dev", make_project(tmp_path, config, "dev")),
        "tenants/payments.yaml",
        "resources[0].type",
        "existingVpc",
    )
