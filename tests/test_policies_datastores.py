"""The data-store, queue and tenant-DNS rules (policies/paved_road_policies/datastores.py): each
passes the shipped plans and fails the resource a forgetful change would record."""

from __future__ import annotations

from dataclasses import replace

import pytest

from policies.paved_road_policies.core import UNKNOWN
from tests.conftest import SHIPPED_STACKS
from tests.test_policies_aws import edited, find, messages, swapped, views, violations

RDS = "aws:rds/instance:Instance"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
QUEUE = "aws:sqs/queue:Queue"
SG = "aws:ec2/securityGroup:SecurityGroup"
RECORD = "aws:route53/record:Record"
RULES = (
    "datastore-encrypted",
    "datastore-not-public",
    "datastore-backups",
    "datastore-deletion-protection",
    "sqs-encrypted-with-dead-letters",
    "datastore-security-groups-private",
    "dns-tenant-subdomain",
)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
@pytest.mark.parametrize("rule", RULES)
def test_the_shipped_plans_pass(stack: str, rule: str) -> None:
    assert violations(rule, views(stack), production=stack == "prod") == []


def test_the_rules_see_the_shipped_data_stores() -> None:
    """Not vacuous: the dev plan holds each kind of resource these rules judge."""
    resources = views("dev")
    for type_ in (RDS, CACHE, QUEUE, RECORD):
        find(resources, type_)


def test_unencrypted_rds_and_elasticache_fail() -> None:
    resources = views("dev")
    db = find(resources, RDS)
    cache = find(resources, CACHE)
    changed = swapped(resources, db, edited(db, storageEncrypted=False))
    changed = swapped(
        changed,
        cache,
        edited(
            cache,
            atRestEncryptionEnabled=None,
            transitEncryptionEnabled=False,
            transitEncryptionMode="preferred",
        ),
    )
    found = messages("datastore-encrypted", changed)
    assert any("storageEncrypted" in m for m in found)
    assert any("atRestEncryptionEnabled" in m for m in found)
    assert any("transitEncryptionEnabled" in m for m in found)
    assert any("'preferred'" in m for m in found)


def test_an_unknown_value_is_not_judged() -> None:
    resources = views("dev")
    db = find(resources, RDS)
    assert (
        messages(
            "datastore-encrypted", swapped(resources, db, edited(db, storageEncrypted=UNKNOWN))
        )
        == []
    )


def test_a_public_database_fails() -> None:
    resources = views("dev")
    db = find(resources, RDS)
    found = messages(
        "datastore-not-public", swapped(resources, db, edited(db, publiclyAccessible=True))
    )
    assert found and "publiclyAccessible" in found[0]


def test_short_or_missing_backups_fail() -> None:
    resources = views("dev")
    db, cache = find(resources, RDS), find(resources, CACHE)
    changed = swapped(resources, db, edited(db, backupRetentionPeriod=1))
    changed = swapped(changed, cache, edited(cache, snapshotRetentionLimit=None))
    found = messages("datastore-backups", changed)
    assert len(found) == 2
    assert any("backupRetentionPeriod is 1" in m for m in found)


def test_production_needs_deletion_protection_and_protect() -> None:
    resources = views("prod")
    db, cache = find(resources, RDS), find(resources, CACHE)
    changed = swapped(resources, db, replace(edited(db, deletionProtection=False), protect=False))
    changed = swapped(changed, cache, replace(cache, protect=False))
    found = messages("datastore-deletion-protection", changed, production=True)
    assert any("deletionProtection" in m for m in found)
    assert sum("not `protect`ed" in m for m in found) == 2
    assert messages("datastore-deletion-protection", changed, production=False) == []


def test_an_unencrypted_queue_or_one_without_dead_letters_fails() -> None:
    resources = views("dev")
    queue = next(q for q in resources if q.type == QUEUE and q.name.endswith("-queue"))
    dlq = next(q for q in resources if q.type == QUEUE and q.name.endswith("-dlq"))
    changed = swapped(resources, queue, edited(queue, kmsMasterKeyId=None, redrivePolicy=None))
    found = messages("sqs-encrypted-with-dead-letters", changed)
    assert any("not encrypted" in m for m in found)
    assert any("no dead-letter queue" in m for m in found)
    # The dead-letter queue needs none of its own while a queue sends to it; once none does, it
    # is a queue like any other.
    assert not any(
        dlq.urn == v.urn for v in violations("sqs-encrypted-with-dead-letters", resources)
    )
    assert any(
        v.urn == dlq.urn and "no dead-letter queue" in v.message
        for v in violations("sqs-encrypted-with-dead-letters", changed)
    )


@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"]])
def test_a_data_store_group_open_to_the_internet_fails(cidrs: list[str]) -> None:
    resources = views("dev")
    group = find(resources, SG, "payments/orders-db-sg")
    rule = dict(group.get("ingress")[0], cidrBlocks=cidrs)
    found = messages(
        "datastore-security-groups-private",
        swapped(resources, group, edited(group, ingress=[rule])),
    )
    assert found and "orders-db" in found[0]


def test_a_data_store_group_admitting_an_address_range_fails() -> None:
    """Even the private subnets: every tenant's pods have addresses there."""
    resources = views("dev")
    group = find(resources, SG, "payments/orders-db-sg")
    rule = dict(group.get("ingress")[0], cidrBlocks=["10.40.0.0/19"])
    found = messages(
        "datastore-security-groups-private",
        swapped(resources, group, edited(group, ingress=[rule])),
    )
    assert found and "10.40.0.0/19" in found[0] and "orders-db" in found[0]


@pytest.mark.parametrize(
    "name",
    [
        "checkout.storefront.dev.paved-road.example.",  # another tenant's subdomain
        "dev.paved-road.example.",  # the zone apex
        "payments.dev.paved-road.example.",  # the tenant's subdomain itself
    ],
)
def test_a_tenant_dns_record_outside_its_subdomain_fails(name: str) -> None:
    resources = views("dev")
    record = find(resources, RECORD, "payments/checkout/certificate-validation-record")
    found = messages("dns-tenant-subdomain", swapped(resources, record, edited(record, name=name)))
    assert found and "payments" in found[0], found
