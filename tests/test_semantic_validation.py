"""Names and semantic checks: every value is checked for what it means, not only its shape.

- Validation patterns match the whole string (a trailing newline is not a name) and accept ASCII
  only where AWS and Kubernetes do (Arabic-Indic digits are not a quantity).
- Cron schedules within their fields' ranges as Kubernetes parses them (robfig/cron v3,
  spec.go: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-6), IANA time
  zones from the tz database, Kubernetes label keys and values (apimachinery IsQualifiedName,
  IsValidLabelValue: at most 63 characters), distinct availability zones.
- Repository patterns of one organisation or narrower (Argo CD `sourceRepos` globs).
- App hosts under `*.<tenant>.<zone>` unless the stack grants them, unique across the platform,
  and held there in the cluster by Kyverno's `restrict-ingress-hosts`; external-dns publishes
  only annotated Ingresses' rule and TLS hosts (kubernetes-sigs/external-dns v0.21.0
  source/ingress.go `endpointsFromIngress`; chart 1.21.1 values `annotationFilter`).

Every error names the file and field and registers nothing; the command exits 2.
"""

from __future__ import annotations

import copy
import fnmatch
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import jmespath
import pytest
import yaml

from components.apps_config import check_schedule, check_time_zone
from components.config import ConfigError
from components.config_base import check_label_key
from components.core import ingress_hosts
from components.tenants_config import check_repository
from pavedroad.engine import PlanEngine
from pavedroad.plan import kubernetes_objects
from tests.conftest import ROOT, make_project, shipped_plan, stack_config
from tests.crds import crd_errors, require_crds

STACK_FILE = "stacks/Pulumi.dev.yaml"
ZONE = "dev.paved-road.example"
Edit = Callable[[dict[str, Any]], None]


def tenant_document(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "tenants" / f"{name}.yaml").read_text())


def config_errors(
    tmp_path: Path,
    *,
    stack: Optional[Edit] = None,
    tenants: Optional[dict[str, Edit]] = None,
) -> str:
    """The dev stack with edits to its stack file and tenant files: the configuration error,
    after asserting nothing was registered."""
    config = copy.deepcopy(stack_config("dev"))
    if stack:
        stack(config)
    tmp_path.mkdir(parents=True, exist_ok=True)
    make_project(tmp_path, config, "dev")
    for name, edit in (tenants or {}).items():
        document = tenant_document(name)
        edit(document)
        (tmp_path / "tenants" / f"{name}.yaml").write_text(yaml.safe_dump(document))
    engine = PlanEngine("dev", tmp_path)
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert engine.recorded == []
    return str(raised.value)


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    """`a.b[0].c` = value (list indexes in brackets)."""
    *parents, last = path.replace("[", ".[").split(".")
    target: Any = document
    for part in parents:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    target[int(last[1:-1]) if last.startswith("[") else last] = value


# --------------------------------------------------------------------------------------------------
# Whole-string, ASCII-only patterns

NL = "\n"
ARABIC_INDIC = "\u0661\u0662\u0663"  # ١٢٣
PAYMENTS_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/checkout-api:1.4.2"

TENANT_FIELDS = {
    "cost center with a trailing newline": ("costCenter", "cc-1234\n", "costCenter"),
    "namespace with a trailing newline": ("namespaces[1]", "payments-jobs\n", "namespaces"),
    "namespace with a non-ASCII letter": ("namespaces[1]", "pay\u00e9ments", "namespaces"),
    "owner ARN with a trailing newline": (
        "owners[0]",
        "arn:aws:iam::123456789012:role/payments-admins\n",
        "owners",
    ),
    "owner ARN with a non-ASCII word character": (
        "owners[0]",
        "arn:aws:iam::123456789012:role/paym\u00e9nts",
        "owners",
    ),
    "owner ARN with Arabic-Indic digits as the account": (
        "owners[0]",
        "arn:aws:iam::" + "\u0661" * 12 + ":role/payments-admins",
        "owners",
    ),
    "quota in Arabic-Indic digits": ("quota.cpu", ARABIC_INDIC, "quota.cpu"),
    "quota with a trailing newline": ("quota.cpu", "8\n", "quota.cpu"),
    "app name with a trailing newline": ("apps[0].name", "checkout-api\n", "apps[0].name"),
    "image with a trailing newline": ("apps[0].image", PAYMENTS_IMAGE + NL, "apps[0].image"),
    "host with a trailing newline": (
        "apps[0].host",
        f"checkout-api.payments.{ZONE}\n",
        "apps[0].host",
    ),
    "probe path with a trailing newline": (
        "apps[0].probes",
        {"readinessPath": "/readyz\n"},
        "apps[0].probes.readinessPath",
    ),
    "Kafka topic with a trailing newline": (
        "apps[1].kafka.topic",
        "payments.ledger\n",
        "apps[1].kafka.topic",
    ),
    "environment variable name with a trailing newline": (
        "apps[0].env",
        {"LOG_LEVEL\n": "info"},
        "apps[0].env",
    ),
}


@pytest.mark.parametrize("case", sorted(TENANT_FIELDS))
def test_tenant_patterns_match_the_whole_string_in_ascii(tmp_path: Path, case: str) -> None:
    path, value, field = TENANT_FIELDS[case]
    message = config_errors(
        tmp_path, tenants={"payments": lambda document: set_path(document, path, value)}
    )
    assert f"tenants/payments.yaml: {field}" in message, message


STACK_FIELDS = {
    "region with a trailing newline": (
        lambda c: c.update({"aws:region": "eu-west-1\n"}),
        "aws:region",
    ),
    "environment with a trailing newline": (
        lambda c: c.update({"paved-road:environment": "dev\n"}),
        "paved-road:environment",
    ),
    "node group name with a trailing newline": (
        lambda c: c["paved-road:cluster"]["nodeGroups"][0].update({"name": "system\n"}),
        "paved-road:cluster.nodeGroups[0].name",
    ),
    "instance type with a trailing newline": (
        lambda c: c["paved-road:cluster"]["nodeGroups"][0].update(
            {"instanceTypes": ["m6i.large\n"]}
        ),
        "paved-road:cluster.nodeGroups[0].instanceTypes",
    ),
    "deploy role with a trailing newline": (
        lambda c: c["paved-road:cluster"].update(
            {"deployRoleArn": "arn:aws:iam::123456789012:role/paved-road-dev-deploy\n"}
        ),
        "paved-road:cluster.deployRoleArn",
    ),
    "zone domain with a trailing newline": (
        lambda c: c["paved-road:core"]["dns"]["zones"][0].update({"domain": ZONE + NL}),
        "paved-road:core.dns.zones[0].domain",
    ),
    "ACME e-mail with a non-ASCII space": (
        lambda c: c["paved-road:core"]["certManager"].update(
            {"acmeEmail": "platform\u00a0team@paved-road.example"}
        ),
        "paved-road:core.certManager.acmeEmail",
    ),
    "registry with a trailing newline": (
        lambda c: c["paved-road:core"]["policy"].update(
            {"allowedRegistries": ["public.ecr.aws/paved-road/\n"]}
        ),
        "paved-road:core.policy.allowedRegistries",
    ),
    "Prometheus retention in Arabic-Indic digits": (
        lambda c: c["paved-road:core"].update(
            {"observability": {"prometheus": {"retention": ARABIC_INDIC + "d"}}}
        ),
        "paved-road:core.observability.prometheus.retention",
    ),
}


@pytest.mark.parametrize("case", sorted(STACK_FIELDS))
def test_stack_patterns_match_the_whole_string_in_ascii(tmp_path: Path, case: str) -> None:
    edit, field = STACK_FIELDS[case]
    message = config_errors(tmp_path, stack=edit)
    assert f"{STACK_FILE}: {field}" in message, message


def test_a_bad_name_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    """The command as CI runs it: exit 2, file and field, no traceback, no plan written."""
    make_project(tmp_path, stack_config("dev"), "dev")
    document = tenant_document("payments")
    document["costCenter"] = "cc-1234\n"
    (tmp_path / "tenants" / "payments.yaml").write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pavedroad", "plan", "dev", "-C", str(tmp_path), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "tenants/payments.yaml: costCenter: 'cc-1234\\n'" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (out / "plan.json").exists()


# --------------------------------------------------------------------------------------------------
# Cron schedules and time zones


@pytest.mark.parametrize(
    "schedule",
    [
        "0 3 * * *",
        "*/15 0-23/2 1,15 JAN-mar mon-FRI",
        "59 23 31 12 6",
        "0 0 ? * ?",
        "@daily",
        "@hourly",
    ],
)
def test_valid_schedules_are_accepted(schedule: str) -> None:
    assert check_schedule(schedule) == schedule


BAD_SCHEDULES = {
    "61 * * * *": "minute 61 is outside 0-59",
    "0 24 * * *": "hour 24 is outside 0-23",
    "0 0 0 * *": "day of month 0 is outside 1-31",
    "0 0 32 * *": "day of month 32 is outside 1-31",
    "0 0 * 13 *": "month 13 is outside 1-12",
    "0 0 * * 7": "day of week 7 is outside 0-6",
    "0 0 * * fun": "day of week 'fun' is not a number",
    "5-1 * * * *": "runs backwards",
    "*/0 * * * *": "step '0' is not a positive number",
    "0 3 * *": "five fields",
    "0 3 * * *\n": "five fields",
    "\u0661 * * * *": "not a cron schedule",
    "@every 5m": "is not one of @yearly",
}


@pytest.mark.parametrize("schedule", sorted(BAD_SCHEDULES))
def test_schedules_out_of_range_are_refused(tmp_path: Path, schedule: str) -> None:
    with pytest.raises(ValueError, match=BAD_SCHEDULES[schedule].replace("*", r"\*")):
        check_schedule(schedule)


def test_a_schedule_out_of_range_names_file_and_field(tmp_path: Path) -> None:
    message = config_errors(
        tmp_path,
        tenants={"payments": lambda d: set_path(d, "apps[2].schedule", "61 * * * *")},
    )
    assert (
        "tenants/payments.yaml: apps[2].schedule: '61 * * * *' is not a cron schedule: minute 61 "
        "is outside 0-59" in message
    )


@pytest.mark.parametrize("zone", ["Etc/UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"])
def test_iana_time_zones_are_accepted(zone: str) -> None:
    assert check_time_zone(zone) == zone


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "Europe/Pariss", "Etc/UTC\n", "../../etc/passwd", "localtime"]
)
def test_unknown_time_zones_name_file_and_field(tmp_path: Path, zone: str) -> None:
    message = config_errors(
        tmp_path, tenants={"payments": lambda d: set_path(d, "apps[2].timeZone", zone)}
    )
    assert f"tenants/payments.yaml: apps[2].timeZone: {zone!r} is not an IANA time zone" in message


# --------------------------------------------------------------------------------------------------
# Labels, taints, availability zones


@pytest.mark.parametrize(
    "key", ["a", "paved-road/capacity", "kubernetes.io/arch", "A_b.c-D", "x" * 63]
)
def test_label_keys_kubernetes_accepts(key: str) -> None:
    assert check_label_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "-a", "a/b/c", "Example.com/a", "/a", "a/", "x" * 64, "caf\u00e9", "a\n"]
)
def test_label_keys_kubernetes_refuses(key: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes label key"):
        check_label_key(key)


NODE_GROUP = "paved-road:cluster.nodeGroups[0]"


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"labels": {"team": "x" * 64}}, f"{NODE_GROUP}.labels", "is not a Kubernetes label value"),
        ({"labels": {"team": "a\n"}}, f"{NODE_GROUP}.labels", "is not a Kubernetes label value"),
        ({"labels": {"bad key": "a"}}, f"{NODE_GROUP}.labels", "is not a Kubernetes label key"),
        ({"labels": {"a/b/c": "a"}}, f"{NODE_GROUP}.labels", "is not a Kubernetes label key"),
        (
            {"taints": [{"key": "-spot", "effect": "NO_SCHEDULE"}]},
            f"{NODE_GROUP}.taints[0].key",
            "is not a Kubernetes label key",
        ),
        (
            {"taints": [{"key": "spot", "value": "y" * 64, "effect": "NO_SCHEDULE"}]},
            f"{NODE_GROUP}.taints[0].value",
            "is not a taint value",
        ),
    ],
)
def test_node_group_labels_and_taints_are_kubernetes_syntax(
    tmp_path: Path, change: dict[str, Any], field: str, expected: str
) -> None:
    message = config_errors(
        tmp_path, stack=lambda c: c["paved-road:cluster"]["nodeGroups"][0].update(change)
    )
    assert f"{STACK_FILE}: {field}: " in message and expected in message, message


def test_a_cost_center_longer_than_a_label_value_is_refused(tmp_path: Path) -> None:
    message = config_errors(
        tmp_path, tenants={"payments": lambda d: d.update({"costCenter": "c" * 64})}
    )
    assert "tenants/payments.yaml: costCenter: " in message


def test_availability_zones_are_distinct(tmp_path: Path) -> None:
    message = config_errors(
        tmp_path,
        stack=lambda c: c["paved-road:network"].update(
            {"availabilityZones": ["eu-west-1a", "eu-west-1a", "eu-west-1b"]}
        ),
    )
    assert (
        f"{STACK_FILE}: paved-road:network.availabilityZones: availability zones must be "
        "distinct; repeated: eu-west-1a" in message
    )


# --------------------------------------------------------------------------------------------------
# Repositories


@pytest.mark.parametrize(
    "pattern",
    [
        "https://github.com/acme/payments-*",
        "https://github.com/acme/*",
        "https://gitlab.example.com:8443/acme/group/*",
        "git@github.com:acme/*.git",
        "ssh://git@github.com/acme/payments",
    ],
)
def test_repository_patterns_of_one_organisation_are_accepted(pattern: str) -> None:
    assert check_repository(pattern) == pattern


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "https://**",
        "https://github.com/*",
        "https://github.com/**",
        "https://*/acme/payments",
        "https://github.com/acme*/payments",
        "https://github.com/*/payments",
        "git@github.com:*/payments.git",
        "https://github.com/acme/../evil/payments",
        "https://user@github.com/acme/payments",
        "http://github.com/acme/payments",
        "https://github.com/acme/payments\n",
        "https://github.com/\uff41cme/payments",
    ],
)
def test_repository_patterns_reaching_past_an_organisation_name_file_and_field(
    tmp_path: Path, pattern: str
) -> None:
    message = config_errors(
        tmp_path, tenants={"search": lambda d: d.update({"repositories": [pattern]})}
    )
    assert (
        f"tenants/search.yaml: repositories[0]: {pattern!r} is not a repository pattern of one "
        "organisation" in message
    ), message


# --------------------------------------------------------------------------------------------------
# Hosts


def set_host(index: int, host: str) -> Edit:
    return lambda d: set_path(d, f"apps[{index}].host", host)


def test_a_host_outside_the_tenants_subdomain_is_refused(tmp_path: Path) -> None:
    message = config_errors(tmp_path, tenants={"search": set_host(0, f"search.{ZONE}")})
    assert (
        f"tenants/search.yaml: apps[0].host: 'search.{ZONE}' is outside the tenant's names "
        f"(*.search.{ZONE})" in message
    ), message


def test_a_host_under_another_tenants_subdomain_is_refused(tmp_path: Path) -> None:
    host = f"checkout.payments.{ZONE}"
    message = config_errors(tmp_path, tenants={"search": set_host(0, host)})
    assert (
        f"tenants/search.yaml: apps[0].host: {host!r} is under tenant 'payments''s subdomain"
        in message
    ), message


def test_the_platforms_own_name_cannot_be_taken_by_a_tenant(tmp_path: Path) -> None:
    host = f"argocd.{ZONE}"
    message = config_errors(tmp_path, tenants={"search": set_host(0, host)})
    assert f"tenants/search.yaml: apps[0].host: {host!r} is outside" in message
    granted = config_errors(
        tmp_path / "granted",
        stack=lambda c: c.update(
            {"paved-road:tenants": ["payments", {"name": "search", "hosts": [host]}, "storefront"]}
        ),
        tenants={"search": set_host(0, host)},
    )
    assert f"tenants/search.yaml: apps[0].host: {host!r} is already served by Argo CD" in granted


def test_two_tenants_cannot_serve_one_granted_host(tmp_path: Path) -> None:
    host = f"shop.{ZONE}"
    message = config_errors(
        tmp_path,
        stack=lambda c: c.update(
            {
                "paved-road:tenants": [
                    "payments",
                    {"name": "search", "hosts": [host]},
                    {"name": "storefront", "hosts": [host]},
                ]
            }
        ),
    )
    assert (
        f"{STACK_FILE}: paved-road:tenants[2].hosts[0]: {host!r} is already granted to tenant "
        "'search'" in message
    ), message


def test_a_grant_inside_another_tenants_subdomain_is_refused(tmp_path: Path) -> None:
    host = f"x.payments.{ZONE}"
    message = config_errors(
        tmp_path,
        stack=lambda c: c.update(
            {"paved-road:tenants": ["payments", {"name": "search", "hosts": [host]}, "storefront"]}
        ),
    )
    assert (
        f"{STACK_FILE}: paved-road:tenants[1].hosts[0]: {host!r} is under tenant 'payments''s"
        in message
    ), message


def test_a_tenant_cannot_grant_itself_a_host(tmp_path: Path) -> None:
    def grant_itself(document: dict[str, Any]) -> None:
        document["hosts"] = [f"shop.{ZONE}"]
        document["apps"][0]["host"] = f"shop.{ZONE}"

    message = config_errors(tmp_path, tenants={"search": grant_itself})
    assert (
        "tenants/search.yaml: hosts: is granted by the stack file, not the tenant file" in message
    )


def test_a_host_granted_by_the_stack_is_served_and_admitted(tmp_path: Path) -> None:
    host = f"shop.{ZONE}"
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:tenants"] = ["payments", {"name": "search", "hosts": [host]}, "storefront"]
    make_project(tmp_path, config, "dev")
    document = tenant_document("search")
    document["apps"][0]["host"] = host
    (tmp_path / "tenants" / "search.yaml").write_text(yaml.safe_dump(document))
    run = PlanEngine("dev", tmp_path).run()
    ingresses = [m for m in kubernetes_objects(run.resources) if m["kind"] == "Ingress"]
    (served,) = [i for i in ingresses if i["metadata"]["namespace"] == "search"]
    assert served["spec"]["rules"][0]["host"] == host
    rule = host_rule_of(run, "search")
    assert rule["validate"]["deny"]["conditions"]["any"][0]["value"] == [host]
    assert not denies(rule, served)


# --------------------------------------------------------------------------------------------------
# external-dns and the admission policy


def host_rule_of(run: Any, tenant: str) -> dict[str, Any]:
    (policy,) = [
        m
        for m in kubernetes_objects(run.resources)
        if m["kind"] == "ClusterPolicy" and m["metadata"]["name"] == "restrict-ingress-hosts"
    ]
    (found,) = [r for r in policy["spec"]["rules"] if r["name"] == f"ingress-hosts-{tenant}"]
    return found


def _wildcard(pattern: str, text: str) -> bool:
    """Kyverno's wildcard.Match: `*` any run of characters, `?` one character."""
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


def denies(rule: dict[str, Any], ingress: dict[str, Any]) -> bool:
    """The rule's deny conditions evaluated as Kyverno does: JMESPath on the admission request,
    `AnyNotIn` true when some key matches no value with wildcards either way
    (kyverno/kyverno pkg/engine/variables/operator/anyin.go, isAnyNotIn), `Equals` on the value."""
    request = {"request": {"object": ingress}}

    def key(condition: dict[str, Any]) -> Any:
        template = condition["key"]
        assert template.startswith("{{ ") and template.endswith(" }}")
        return jmespath.search(template[3:-3], request)

    results = []
    for condition in rule["validate"]["deny"]["conditions"]["any"]:
        found, value = key(condition), condition["value"]
        if condition["operator"] == "AnyNotIn":
            results.append(
                any(
                    not any(_wildcard(v, k) or _wildcard(k, v) for v in value)
                    for k in map(str, found)
                )
            )
        else:
            assert condition["operator"] == "Equals"
            results.append(found == value)
    return any(results)


def tenant_ingresses(run: Any) -> list[dict[str, Any]]:
    return [
        m
        for m in kubernetes_objects(run.resources)
        if m["kind"] == "Ingress" and "paved-road/tenant" in m["metadata"].get("labels", {})
    ]


def test_tenant_ingresses_may_name_only_their_approved_hosts() -> None:
    run = shipped_plan("dev")
    ingresses = tenant_ingresses(run)
    assert len(ingresses) == 4
    for ingress in ingresses:
        tenant = ingress["metadata"]["labels"]["paved-road/tenant"]
        rule = host_rule_of(run, tenant)
        assert (
            ingress["metadata"]["namespace"] in rule["match"]["any"][0]["resources"]["namespaces"]
        )
        assert not denies(rule, ingress), ingress["metadata"]["name"]
        others = [i for i in ingresses if i["metadata"]["labels"]["paved-road/tenant"] != tenant]
        for other in others:
            thief = copy.deepcopy(ingress)
            thief["spec"]["rules"][0]["host"] = other["spec"]["rules"][0]["host"]
            assert denies(rule, thief), "another tenant's host in the rules"
            thief = copy.deepcopy(ingress)
            thief["spec"]["tls"][0]["hosts"].append(other["spec"]["rules"][0]["host"])
            assert denies(rule, thief), "another tenant's host in the TLS section"
        for host in (f"argocd.{ZONE}", f"*.{ZONE}", f"*.{tenant}.{ZONE}", "evil.example"):
            thief = copy.deepcopy(ingress)
            thief["spec"]["rules"].append(copy.deepcopy(thief["spec"]["rules"][0]))
            thief["spec"]["rules"][1]["host"] = host
            assert denies(rule, thief), host
        hostless = copy.deepcopy(ingress)
        del hostless["spec"]["tls"]
        del hostless["spec"]["rules"][0]["host"]
        assert not denies(rule, hostless), "no host: nothing to publish"


def test_the_host_policy_always_enforces_and_fits_kyvernos_schema() -> None:
    """An isolation guardrail: enforced in dev too, where the baseline only audits."""
    require_crds()
    for stack in ("dev", "staging", "prod"):
        run = shipped_plan(stack)
        (policy,) = [
            m
            for m in kubernetes_objects(run.resources)
            if m["kind"] == "ClusterPolicy" and m["metadata"]["name"] == "restrict-ingress-hosts"
        ]
        assert crd_errors(policy) == []
        assert {r["name"] for r in policy["spec"]["rules"]} == {
            ingress_hosts.rule_name(t) for t in ("payments", "search", "storefront")
        }
        assert policy["spec"]["background"] is False
        for rule in policy["spec"]["rules"]:
            assert rule["validate"]["failureAction"] == "Enforce"
            assert rule["match"]["any"][0]["resources"]["operations"] == ["CREATE", "UPDATE"]
            assert "kube-system" in rule["exclude"]["any"][0]["resources"]["namespaces"]


def test_external_dns_publishes_only_the_platforms_ingresses_by_their_hosts() -> None:
    run = shipped_plan("dev")
    (release,) = [
        r
        for r in run.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and "ExternalDns" in r.urn
    ]
    values = release.inputs["values"]
    assert values["sources"] == ["ingress"]
    assert values["annotationFilter"] == "paved-road/external-dns=publish"
    assert "--ignore-hostname-annotation" in values["extraArgs"]
    for ingress in tenant_ingresses(run):
        assert ingress["metadata"]["annotations"]["paved-road/external-dns"] == "publish"
    (argocd,) = [
        r
        for r in run.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.name.endswith("argocd")
    ]
    annotations = argocd.inputs["values"]["server"]["ingress"]["annotations"]
    assert annotations["paved-road/external-dns"] == "publish"


@pytest.mark.parametrize("host", ["*.example.com", "Shop.example.com", "shop.example.com.", "x\n"])
def test_a_grant_that_is_not_a_host_name_names_the_stack_file(tmp_path: Path, host: str) -> None:
    message = config_errors(
        tmp_path,
        stack=lambda c: c.update(
            {"paved-road:tenants": ["payments", {"name": "search", "hosts": [host]}, "storefront"]}
        ),
    )
    assert f"{STACK_FILE}: paved-road:tenants[1].hosts[0]: {host!r} is not a DNS name" in message
