"""Feature flags (issue 17, part 1): `paved-road:delivery.flags: openfeature | launchdarkly | none`.

- `openfeature`: the pinned OpenFeature operator in its own platform namespace, after
  cert-manager; a tenant's `flags:` become a FeatureFlag, the flagd file ConfigMap and a
  FeatureFlagSource in its namespace; an app with `flags: true` gets the operator's annotations
  (the flagd sidecar) and FLAGD_HOST; every custom resource validates against the upstream CRDs.
- isolation: a tenant's flags are readable by its own apps only. Proven from the plan's RBAC
  (no tenant identity can get, list or watch FeatureFlags anywhere), from what a pod reads (a
  ConfigMap of its own namespace, through a source of its own namespace) and from the guardrail
  (evaluated by tests/test_core_guardrails.py's small Kyverno) that refuses every way around it.
- `launchdarkly`: the SDK key from the tenant's Secrets Manager prefix through an ExternalSecret,
  referenced by `secretKeyRef`; never in the plan.
- the tenant file's `flags:` is untrusted input: every malformed flag is an error naming file and
  field (exit 2, no traceback), including generated hostile documents.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Optional

import pytest
import yaml

from components import versions
from components.config import ConfigError
from components.delivery import flags as operator
from components.flags import FLAG_SET, flag_spec, flagd_file
from components.flags_config import FlagConfig
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import kubernetes_objects, kubernetes_objects_of
from tests.conftest import (
    ROOT,
    SHIPPED_STACKS,
    assert_refused,
    make_project,
    one,
    project_with_tenant_bad,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors, require_crds
from policies.paved_road_policies.kubernetes import FEATURE_FLAG_SOURCE
from tests.test_core_guardrails import denying_rules, request
from tests.test_policies_aws import edited, messages, views, violations

RELEASE = "kubernetes:helm.sh/v3:Release"
OPERATOR = "paved-road:delivery:FeatureFlagOperator"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
TENANT_LABEL = "paved-road/tenant"
FLAG_KINDS = {"FeatureFlag", "FeatureFlagSource"}
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bad/app:1.0.0"
BOOLEAN_FLAG = {"name": "beta", "variants": {"on": True, "off": False}, "defaultVariant": "off"}
TENANT_USER = "arn:aws:sts::123456789012:assumed-role/bad-admins/dev"
OPERATOR_ACCOUNT = "system:serviceaccount:open-feature:open-feature-operator-controller-manager"


def objects(run: PlanRun, kind: Optional[str] = None) -> list[dict[str, Any]]:
    return [m for m in kubernetes_objects(run.resources) if kind is None or m["kind"] == kind]


def named(run: PlanRun, kind: str, namespace: str, name: str) -> dict[str, Any]:
    (found,) = [
        m
        for m in objects(run, kind)
        if m["metadata"].get("namespace") == namespace and m["metadata"]["name"] == name
    ]
    return found


def release(run: PlanRun, chart: str) -> RecordedResource:
    return one(r for r in run.by_type(RELEASE) if r.inputs["chart"] == chart)


def resource_of(run: PlanRun, kind: str, namespace: str, name: str) -> RecordedResource:
    return one(
        r
        for r, m in kubernetes_objects_of(run.resources)
        if m["kind"] == kind
        and m["metadata"].get("namespace") == namespace
        and m["metadata"]["name"] == name
    )


def dev_with(tmp_path: Path, *, delivery: Any = None, tenant_files: Any = None) -> Path:
    """The dev stack with another `paved-road:delivery`, and tenant files changed by
    `tenant_files` ({name: function of the parsed document})."""
    config = copy.deepcopy(stack_config("dev"))
    if delivery is not None:
        config["paved-road:delivery"] = delivery
    (tmp_path / "tenants").mkdir()
    for path in (ROOT / "tenants").glob("*.yaml"):
        document = yaml.safe_load(path.read_text())
        change = (tenant_files or {}).get(path.stem)
        if change is not None:
            document = change(document)
        (tmp_path / "tenants" / path.name).write_text(yaml.safe_dump(document))
    return make_project(tmp_path, config, "dev")


def without_flags(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document.pop("flags", None)
    return document


# --------------------------------------------------------------------------------------------------
# The operator


def test_the_chart_is_pinned_with_its_kube_version_and_the_crds_it_brings() -> None:
    chart = versions.CHARTS["open-feature-operator"]
    assert (chart.version, chart.app_version) == ("v0.9.2", "v0.9.2")
    assert chart.kube_version == ">=1.29.0-0"  # chart/open-feature-operator/Chart.yaml at v0.9.2
    readme = (require_crds() / "README.md").read_text()
    assert "| open-feature |" in readme and "| v0.9.2 |" in readme


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_shipped_stack_runs_the_operator_after_cert_manager(stack: str) -> None:
    run = shipped_plan(stack)
    found = release(run, "open-feature-operator")
    assert found.inputs["version"] == "v0.9.2"
    assert found.inputs["repositoryOpts"]["repo"] == (
        "https://open-feature.github.io/open-feature-operator"
    )
    assert found.inputs["namespace"] == "open-feature"
    # Its Issuer and Certificates need cert-manager's CRDs and webhook.
    assert release(run, "cert-manager").urn in found.dependencies
    values = found.inputs["values"]
    assert values["namespace"] == {"create": False}
    webhook = values["mutatingWebhook"]
    assert webhook["failurePolicy"] == "Fail"
    assert webhook["objectSelector"] == {"matchLabels": {"paved-road/flags": "true"}}
    sidecar = values["sidecarConfiguration"]
    assert sidecar["image"] == {"repository": "ghcr.io/open-feature/flagd", "tag": "v0.15.4"}
    assert sidecar["defaultSyncProvider"] == "file"
    assert sidecar["resources"]["limits"]["memory"] == sidecar["resources"]["requests"]["memory"]
    assert values["managerConfig"]["flagsValidationEnabled"] == "true"
    assert values["controllerManager"]["replicas"] == (2 if stack == "prod" else 1)
    assert "open-feature" in run.outputs["platformNamespaces"]


def test_its_namespace_is_a_platform_namespace_at_baseline_with_only_its_webhook_open() -> None:
    run = shipped_plan("dev")
    namespace = one_namespace(run)
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    policies = {
        m["metadata"]["name"]: m["spec"]
        for m in objects(run, "NetworkPolicy")
        if m["metadata"]["namespace"] == "open-feature"
    }
    assert "default-deny" in policies
    opened = [
        p["port"]
        for spec in policies.values()
        for rule in spec.get("ingress", [])
        for p in rule.get("ports", [])
    ]
    assert operator.WEBHOOK_PORT in opened
    assert not any(name.startswith("allow-internet") for name in policies), "it calls nothing"


def one_namespace(run: PlanRun) -> dict[str, Any]:
    (found,) = [m for m in objects(run, "Namespace") if m["metadata"]["name"] == "open-feature"]
    return found


def test_no_tenant_may_claim_the_operators_namespace(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(tmp_path, {"namespaces": ["open-feature"]})
    assert_refused(
        PlanEngine("dev", root), "tenants/bad.yaml", "namespaces[0]", "reserved for the platform"
    )


# --------------------------------------------------------------------------------------------------
# A tenant's flags and its flag-reading apps


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_custom_resource_validates_against_the_crds(stack: str) -> None:
    require_crds()
    found = [m for m in objects(shipped_plan(stack)) if m["kind"] in FLAG_KINDS]
    assert {m["kind"] for m in found} == FLAG_KINDS
    for manifest in found:
        assert crd_errors(manifest) == [], manifest["metadata"]


def test_the_tenant_file_becomes_a_feature_flag_and_the_flagd_file_of_the_same_flags() -> None:
    run = shipped_plan("dev")
    document = yaml.safe_load((ROOT / "tenants" / "storefront.yaml").read_text())
    expected = flag_spec([FlagConfig.model_validate(flag) for flag in document["flags"]])
    feature_flag = named(run, "FeatureFlag", "storefront", FLAG_SET)
    assert feature_flag["apiVersion"] == "core.openfeature.dev/v1beta1"
    assert feature_flag["spec"]["flagSpec"] == expected
    checkout = expected["flags"]["new-checkout"]
    assert checkout["defaultVariant"] == "off" and checkout["variants"] == {
        "on": True,
        "off": False,
    }
    assert checkout["targeting"]["if"][1:] == ["on", "off"]
    # The file the operator's `file` sync mounts: its name and key, the same flags as JSON.
    config_map = named(run, "ConfigMap", "storefront", FLAG_SET)
    assert list(config_map["data"]) == [flagd_file("storefront")] == ["storefront_flags.flagd.json"]
    assert json.loads(config_map["data"]["storefront_flags.flagd.json"]) == expected
    assert config_map["metadata"]["annotations"]["openfeature.dev/featureflag"] == FLAG_SET
    source = named(run, "FeatureFlagSource", "storefront", FLAG_SET)["spec"]
    assert source["sources"] == [{"source": FLAG_SET, "provider": "file"}]
    assert source["defaultSyncProvider"] == "file"
    # Tenants without flags get none.
    assert {m["metadata"]["namespace"] for m in objects(run, "FeatureFlag")} == {"storefront"}


def test_flag_objects_wait_for_the_operator_release() -> None:
    run = shipped_plan("dev")
    operator_release = release(run, "open-feature-operator").urn
    for kind in ("FeatureFlag", "FeatureFlagSource", "ConfigMap"):
        assert operator_release in resource_of(run, kind, "storefront", FLAG_SET).dependencies


def pod_template(run: PlanRun, namespace: str, name: str) -> dict[str, Any]:
    return named(run, "Rollout", namespace, name)["spec"]["template"]


def test_a_flag_reading_app_gets_the_sidecar_annotations_and_the_openfeature_environment() -> None:
    run = shipped_plan("dev")
    template = pod_template(run, "storefront", "storefront-web")
    assert template["metadata"]["annotations"] == {
        "openfeature.dev/enabled": "true",
        "openfeature.dev/featureflagsource": FLAG_SET,
    }
    assert template["metadata"]["labels"]["paved-road/flags"] == "true"
    (container,) = template["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["FLAGD_HOST"] == {"name": "FLAGD_HOST", "value": "localhost"}
    # No Kubernetes API token: flagd reads a mounted file, not the API server.
    assert template["spec"]["automountServiceAccountToken"] is False
    # The pod waits for what it mounts and for what admits and injects it.
    rollout = resource_of(run, "Rollout", "storefront", "storefront-web")
    for kind in ("FeatureFlagSource", "ConfigMap", "FeatureFlag"):
        assert resource_of(run, kind, "storefront", FLAG_SET).urn in rollout.dependencies
    assert release(run, "open-feature-operator").urn in rollout.dependencies
    guard = one(
        r
        for r in run.by_type("kubernetes:kyverno.io/v1:ClusterPolicy")
        if r.inputs["metadata"]["name"] == "restrict-tenant-flags"
    )
    assert guard.urn in rollout.dependencies


def test_apps_without_flags_are_untouched() -> None:
    run = shipped_plan("dev")
    template = pod_template(run, "storefront", "recommendations")
    assert "annotations" not in template["metadata"]
    assert "paved-road/flags" not in template["metadata"]["labels"]
    assert all(e["name"] != "FLAGD_HOST" for e in template["spec"]["containers"][0]["env"])


def test_an_apps_own_env_wins(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(
        tmp_path,
        {
            "flags": [BOOLEAN_FLAG],
            "apps": [
                {
                    "name": "web",
                    "template": "api-service",
                    "image": IMAGE,
                    "flags": True,
                    "env": {"FLAGD_HOST": "127.0.0.1"},
                }
            ],
        },
    )
    run = PlanEngine("dev", root).run()
    env = pod_template(run, "bad", "web")["spec"]["containers"][0]["env"]
    assert [e for e in env if e["name"] == "FLAGD_HOST"] == [
        {"name": "FLAGD_HOST", "value": "127.0.0.1"}
    ]


# --------------------------------------------------------------------------------------------------
# Isolation: a tenant's flags are readable only by its own apps


def _grants(rules: Iterable[dict[str, Any]], resource: str, verb: str) -> bool:
    return any(
        set(rule.get("apiGroups", [])) & {"core.openfeature.dev", "*"}
        and set(rule.get("resources", [])) & {resource, "*"}
        and set(rule.get("verbs", [])) & {verb, "*"}
        for rule in rules
    )


# Kubernetes' own roles the platform binds tenants to: they reach custom resources only by
# aggregation, and no role the operator's chart installs is aggregated into them (its
# config/rbac at v0.9.2 has no `aggregate-to-*` label; the FeatureFlag editor and viewer roles
# are not even installed).
BUILT_IN_ROLES = {"admin": [], "edit": [], "view": []}


def flag_readers(everything: list[dict[str, Any]]) -> dict[tuple[str, str], set[Optional[str]]]:
    """(subject kind, subject) → the namespaces (None: all) where it may get, list or watch
    FeatureFlags, from every Role, ClusterRole and binding among `everything`."""
    cluster_roles = {
        m["metadata"]["name"]: m.get("rules", []) for m in everything if m["kind"] == "ClusterRole"
    }
    roles = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): m.get("rules", [])
        for m in everything
        if m["kind"] == "Role"
    }
    readers: dict[tuple[str, str], set[Optional[str]]] = {}
    for binding in everything:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace")
        if ref["kind"] == "ClusterRole":
            rules = cluster_roles.get(ref["name"], BUILT_IN_ROLES.get(ref["name"]))
            assert rules is not None, f"unknown ClusterRole {ref['name']}"
        else:
            rules = roles[(namespace, ref["name"])]
        if not any(_grants(rules, "featureflags", verb) for verb in ("get", "list", "watch")):
            continue
        scope = namespace if binding["kind"] == "RoleBinding" else None
        for subject in binding.get("subjects", []):
            who = subject["name"]
            if subject["kind"] == "ServiceAccount":
                who = f"system:serviceaccount:{subject.get('namespace', namespace)}:{who}"
            readers.setdefault((subject["kind"], who), set()).add(scope)
    return readers


def test_flag_readers_finds_a_grant_to_a_tenant_account() -> None:
    """The check above can fail: a Role granting `list` on FeatureFlags, bound to a tenant's
    service account in another tenant's namespace, is found with its scope."""
    role = {
        "kind": "Role",
        "metadata": {"name": "peek", "namespace": "storefront"},
        "rules": [{"apiGroups": ["core.openfeature.dev"], "resources": ["*"], "verbs": ["list"]}],
    }
    binding = {
        "kind": "RoleBinding",
        "metadata": {"name": "peek", "namespace": "storefront"},
        "roleRef": {"kind": "Role", "name": "peek"},
        "subjects": [{"kind": "ServiceAccount", "namespace": "bad", "name": "workload"}],
    }
    assert flag_readers([role, binding]) == {
        ("ServiceAccount", "system:serviceaccount:bad:workload"): {"storefront"}
    }


@pytest.fixture(scope="module")
def two_tenants(tmp_path_factory: pytest.TempPathFactory) -> PlanRun:
    """dev plus a second tenant with flags and a flag-reading app of its own."""
    root, _ = project_with_tenant_bad(
        tmp_path_factory.mktemp("flags"),
        {
            "flags": [BOOLEAN_FLAG],
            "apps": [{"name": "web", "template": "api-service", "image": IMAGE, "flags": True}],
        },
    )
    return PlanEngine("dev", root).run()


def test_no_tenant_identity_can_read_feature_flags_through_the_api(two_tenants: PlanRun) -> None:
    readers = flag_readers(objects(two_tenants))
    tenants = {
        m["metadata"]["name"]
        for m in objects(two_tenants, "Namespace")
        if TENANT_LABEL in m["metadata"]["labels"]
    }
    assert {"storefront", "bad"} <= tenants
    for (kind, who), scopes in readers.items():
        if kind == "ServiceAccount":
            assert who.split(":")[2] not in tenants, (who, scopes)
        else:  # a tenant's groups are `paved-road:<tenant>:<role>`
            assert not any(who.startswith(f"paved-road:{t}:") for t in tenants), (who, scopes)


def test_each_tenants_pods_read_only_their_own_namespaces_flags(two_tenants: PlanRun) -> None:
    """What a flag-reading pod reads, as the operator resolves it: the FeatureFlagSource its
    annotation names (`<name>` is the pod's own namespace, internal/common/utils
    ParseAnnotation), whose `file` sources are ConfigMaps mounted as volumes, which Kubernetes
    resolves in the pod's namespace only."""
    sources = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): m["spec"]
        for m in objects(two_tenants, "FeatureFlagSource")
    }
    checked = 0
    for rollout in objects(two_tenants, "Rollout"):
        template = rollout["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        if annotations.get(operator.ENABLED_ANNOTATION) != "true":
            continue
        namespace = rollout["metadata"]["namespace"]
        for reference in annotations[operator.SOURCE_ANNOTATION].split(","):
            assert "/" not in reference, "a source of another namespace"
            spec = sources[(namespace, reference.strip())]
            for source in spec["sources"]:
                assert source["provider"] == "file" and "/" not in source["source"]
                named(two_tenants, "ConfigMap", namespace, source["source"])
        assert template["spec"]["serviceAccountName"] == "workload"
        checked += 1
    assert checked == 2, "storefront-web and bad's web"


def tenant_request(obj: dict[str, Any], operation: str = "CREATE", **kwargs: Any) -> dict:
    return request(
        operation,
        obj,
        user=kwargs.pop("user", TENANT_USER),
        namespace_labels={TENANT_LABEL: obj["metadata"].get("namespace", "bad")},
        **kwargs,
    )


@pytest.fixture(scope="module")
def guard() -> dict[str, Any]:
    (found,) = [
        m
        for m in objects(shipped_plan("dev"), "ClusterPolicy")
        if m["metadata"]["name"] == "restrict-tenant-flags"
    ]
    assert found["spec"]["background"] is False
    assert all(r["validate"]["failureAction"] == "Enforce" for r in found["spec"]["rules"])
    return found


def test_the_guardrail_admits_the_platforms_own_flag_objects_and_pods(guard: dict) -> None:
    run = shipped_plan("dev")
    source = named(run, "FeatureFlagSource", "storefront", FLAG_SET)
    assert denying_rules(guard, tenant_request(source)) == []
    template = pod_template(run, "storefront", "storefront-web")
    pod = {
        "kind": "Pod",
        "metadata": {**template["metadata"], "namespace": "storefront", "name": "web-1"},
        "spec": template["spec"],
    }
    assert denying_rules(guard, tenant_request(pod)) == []


def flag_source(sources: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "core.openfeature.dev/v1beta1",
        "kind": "FeatureFlagSource",
        "metadata": {"name": "mine", "namespace": "bad"},
        "spec": {"sources": sources, **spec},
    }


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        # The sync that would bind the pod's account to the cluster-wide flag reader.
        (flag_source([{"source": "flags", "provider": "kubernetes"}]), "file-sources"),
        # Another tenant's flags, by namespace.
        (flag_source([{"source": "storefront/flags", "provider": "file"}]), "file-sources"),
        # No provider: the default the operator would apply.
        (flag_source([{"source": "flags"}]), "file-sources"),
        (flag_source([{"source": "x", "provider": "flagd-proxy"}]), "file-sources"),
        (flag_source([{"source": "flagd-proxy.open-feature:8015", "provider": "grpc"}]), "file"),
        (
            flag_source(
                [{"source": "flags", "provider": "file"}], defaultSyncProvider="kubernetes"
            ),
            "file-sync-by-default",
        ),
    ],
)
def test_the_guardrail_refuses_every_other_flag_source(
    guard: dict, source: dict[str, Any], rule: str
) -> None:
    denied = denying_rules(guard, tenant_request(source))
    assert any(name.startswith(rule) for name in denied), denied
    assert crd_errors(source) == [], "the CRD itself admits it: only the guardrail refuses"


@pytest.mark.parametrize(
    "annotations",
    [
        {
            "openfeature.dev/enabled": "true",
            "openfeature.dev/featureflagsource": "storefront/flags",
        },
        {"openfeature.dev/enabled": "true", "openfeature.dev/inprocessconfiguration": "x"},
        # What the operator's start-up backfill adds to the cluster-wide binding.
        {"openfeature.dev/allowkubernetessync": "true"},
    ],
)
def test_the_guardrail_refuses_pods_reaching_past_their_namespace(
    guard: dict, annotations: dict[str, str]
) -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "bad", "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": IMAGE}]},
    }
    assert denying_rules(guard, tenant_request(pod)) == ["pods-read-own-flags"]


@pytest.mark.parametrize("kind", ["Flagd", "InProcessConfiguration"])
def test_the_guardrail_refuses_tenants_flag_servers(guard: dict, kind: str) -> None:
    obj = {"kind": kind, "metadata": {"name": "mine", "namespace": "bad"}, "spec": {}}
    assert denying_rules(guard, tenant_request(obj)) == ["no-flag-servers"]


def sync_binding(*subjects: tuple[str, str]) -> dict[str, Any]:
    return {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": operator.SYNC_BINDING},
        "roleRef": {"kind": "ClusterRole", "name": operator.SYNC_BINDING},
        "subjects": [
            {"kind": "ServiceAccount", "namespace": namespace, "name": name}
            for namespace, name in subjects
        ],
    }


def test_no_tenant_account_ever_joins_the_cluster_wide_flag_reader(guard: dict) -> None:
    # The chart's own subjects (config/rbac/flagd_kubernetes_sync_clusterrolebinding.yaml, in
    # the release namespace).
    chart = [
        ("open-feature", "open-feature-operator-controller-manager"),
        ("open-feature", "open-feature-operator-flagd-proxy"),
    ]
    installed = sync_binding(*chart)
    assert denying_rules(guard, request("CREATE", installed, user=OPERATOR_ACCOUNT)) == []
    # The operator's EnableClusterRoleBinding appends the pod's account: refused, whoever asks.
    widened = sync_binding(*chart, ("bad", "workload"))
    for user in (OPERATOR_ACCOUNT, TENANT_USER):
        assert denying_rules(guard, request("UPDATE", widened, old=installed, user=user)) == [
            "sync-binding-holds-the-operator-only"
        ]
    # Other bindings are not this rule's business.
    other = {**widened, "metadata": {"name": "something-else"}}
    assert denying_rules(guard, request("UPDATE", other, old=other, user=TENANT_USER)) == []


# --------------------------------------------------------------------------------------------------
# LaunchDarkly


@pytest.fixture(scope="module")
def launchdarkly(tmp_path_factory: pytest.TempPathFactory) -> PlanRun:
    root = dev_with(
        tmp_path_factory.mktemp("launchdarkly"),
        delivery={"flags": "launchdarkly"},
        tenant_files={"storefront": without_flags},
    )
    return PlanEngine("dev", root).run()


def test_launchdarkly_runs_no_controller(launchdarkly: PlanRun) -> None:
    assert launchdarkly.by_type(OPERATOR) == []
    assert not any(
        r.inputs["chart"] == "open-feature-operator" for r in launchdarkly.by_type(RELEASE)
    )
    assert objects(launchdarkly, "FeatureFlag") == []


def test_the_sdk_key_comes_from_the_tenants_prefix_by_reference(launchdarkly: PlanRun) -> None:
    require_crds()
    secret = named(launchdarkly, "ExternalSecret", "storefront", "storefront-web-launchdarkly")
    assert crd_errors(secret) == []
    spec = secret["spec"]
    assert spec["secretStoreRef"] == {"name": "tenant-secrets", "kind": "SecretStore"}
    assert spec["data"] == [
        {
            "secretKey": "sdk-key",
            "remoteRef": {
                "key": "paved-road/dev/tenants/storefront/launchdarkly",
                "property": "sdk-key",
            },
        }
    ]
    assert spec["target"]["name"] == "storefront-web-launchdarkly"
    env = pod_template(launchdarkly, "storefront", "storefront-web")["spec"]["containers"][0]["env"]
    (key,) = [e for e in env if e["name"] == "LAUNCHDARKLY_SDK_KEY"]
    assert key == {
        "name": "LAUNCHDARKLY_SDK_KEY",
        "valueFrom": {"secretKeyRef": {"name": "storefront-web-launchdarkly", "key": "sdk-key"}},
    }
    # The pod waits for the ExternalSecret, which waits for the namespace's SecretStore.
    rollout = resource_of(launchdarkly, "Rollout", "storefront", "storefront-web")
    external = resource_of(launchdarkly, "ExternalSecret", "storefront", secret["metadata"]["name"])
    assert external.urn in rollout.dependencies
    store = resource_of(launchdarkly, "SecretStore", "storefront", "tenant-secrets")
    assert store.urn in external.dependencies
    # Only flag-reading apps get one.
    assert [
        m["metadata"]["name"]
        for m in objects(launchdarkly, "ExternalSecret")
        if m["metadata"]["name"].endswith("-launchdarkly")
    ] == ["storefront-web-launchdarkly"]


def test_the_key_is_never_in_the_plan(launchdarkly: PlanRun) -> None:
    """No Secret holding it and no literal value of the variable: only references."""
    text = json.dumps([r.to_json() for r in launchdarkly.resources])
    assert "LAUNCHDARKLY_SDK_KEY" in text
    for manifest in objects(launchdarkly, "Secret"):
        assert "launchdarkly" not in manifest["metadata"]["name"]
    for manifest in objects(launchdarkly):
        for env in _env_vars(manifest):
            if env["name"] == "LAUNCHDARKLY_SDK_KEY":
                assert set(env) == {"name", "valueFrom"}


def _env_vars(manifest: dict[str, Any]) -> Iterable[dict[str, Any]]:
    template = (manifest.get("spec") or {}).get("template") or {}
    for container in (template.get("spec") or {}).get("containers", []):
        yield from container.get("env", [])


# --------------------------------------------------------------------------------------------------
# Configuration errors: the stack's choice


def test_flags_true_without_a_flag_system_names_the_field(tmp_path: Path) -> None:
    root = dev_with(
        tmp_path, delivery={"flags": "none"}, tenant_files={"storefront": without_flags}
    )
    assert_refused(
        PlanEngine("dev", root),
        "tenants/storefront.yaml",
        "apps[0].flags",
        "paved-road:delivery.flags is 'none'",
    )


def test_none_is_the_default(tmp_path: Path) -> None:
    root = dev_with(tmp_path, delivery={}, tenant_files={"storefront": without_flags})
    assert_refused(PlanEngine("dev", root), "tenants/storefront.yaml", "apps[0].flags", "'none'")


@pytest.mark.parametrize("mode", ["none", "launchdarkly"])
def test_tenant_flags_need_openfeature(tmp_path: Path, mode: str) -> None:
    assert_refused(
        PlanEngine("dev", dev_with(tmp_path, delivery={"flags": mode})),
        "tenants/storefront.yaml",
        "flags",
        f"paved-road:delivery.flags is {mode!r}",
    )


def test_a_flag_reading_app_needs_its_tenants_flags(tmp_path: Path) -> None:
    root, _ = project_with_tenant_bad(
        tmp_path,
        {"apps": [{"name": "web", "template": "api-service", "image": IMAGE, "flags": True}]},
    )
    assert_refused(
        PlanEngine("dev", root), "tenants/bad.yaml", "apps[0].flags", "the tenant declares none"
    )


def test_openfeature_needs_cert_manager(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["certManager"] = {"enabled": False}
    assert_refused(
        PlanEngine("dev", make_project(tmp_path, config, "dev")),
        "stacks/Pulumi.dev.yaml",
        "paved-road:delivery.flags",
        "enable paved-road:core.certManager",
    )


def test_the_registry_rule_admits_the_pinned_sidecar_and_nothing_else_of_its_registry() -> None:
    """The platform injects flagd, so it admits that image as pinned; its registry stays
    unapproved for the teams' own images."""
    (manifest,) = [
        m
        for m in objects(shipped_plan("dev"), "ClusterPolicy")
        if m["metadata"]["name"] == "restrict-image-registries"
    ]
    (rule,) = manifest["spec"]["rules"]
    alternatives = rule["validate"]["pattern"]["spec"]["=(initContainers)"][0]["image"].split(" | ")
    assert "ghcr.io/open-feature/flagd:v0.15.4" in alternatives
    assert not any(a.startswith("ghcr.io") and a.endswith("*") for a in alternatives)
    assert rule["validate"]["pattern"]["spec"]["containers"][0]["image"] == " | ".join(alternatives)


def test_launchdarkly_needs_the_secrets_service(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:delivery"] = {"flags": "launchdarkly"}
    config["paved-road:core"]["secrets"] = {"enabled": False}
    config["paved-road:core"]["portal"] = {"enabled": False}
    root = make_project(tmp_path, config, "dev")
    (root / "tenants" / "storefront.yaml").write_text(
        yaml.safe_dump(
            without_flags(yaml.safe_load((ROOT / "tenants/storefront.yaml").read_text()))
        )
    )
    assert_refused(
        PlanEngine("dev", root),
        "stacks/Pulumi.dev.yaml",
        "paved-road:delivery.flags",
        "enable paved-road:core.secrets",
    )


# --------------------------------------------------------------------------------------------------
# Configuration errors: the tenant file's `flags:` (untrusted input)


def flag(**changes: Any) -> dict[str, Any]:
    return {**BOOLEAN_FLAG, **changes}


def nested(rule: dict[str, Any], levels: int) -> dict[str, Any]:
    for _ in range(levels):
        rule = {"!": [rule]}
    return rule


BAD_FLAGS: list[tuple[str, Any, str, str]] = [
    ("not a list", "yes", "flags", "valid list"),
    ("flag not a mapping", ["beta"], "flags[0]", ""),
    ("missing variants", [{"name": "beta", "defaultVariant": "on"}], "flags[0].variants", ""),
    ("bad name", [flag(name="-beta")], "flags[0].name", "not a flag key"),
    ("name with a slash", [flag(name="a/b")], "flags[0].name", "not a flag key"),
    ("duplicate", [flag(), flag()], "flags", "declared twice"),
    ("default not a variant", [flag(defaultVariant="maybe")], "flags[0].defaultVariant", "not one"),
    ("no variants", [flag(variants={})], "flags[0].variants", ""),
    ("bad variant name", [flag(variants={"o n": True})], "flags[0].variants", "variant name"),
    (
        "mixed types",
        [flag(variants={"on": True, "off": "no"})],
        "flags[0].variants",
        "one type",
    ),
    (
        "number and boolean",
        [flag(variants={"on": 1, "off": False})],
        "flags[0].variants",
        "one type",
    ),
    ("list variant", [flag(variants={"on": [1], "off": [2]})], "flags[0].variants", "boolean"),
    ("null variant", [flag(variants={"on": None, "off": None})], "flags[0].variants", ""),
    ("nan variant", [flag(variants={"on": float("nan"), "off": 1.0})], "flags[0].variants", "nan"),
    ("bad state", [flag(state="ON")], "flags[0].state", "ENABLED or DISABLED"),
    ("targeting a list", [flag(targeting=["if", True, "on"])], "flags[0].targeting", "dictionary"),
    ("targeting a string", [flag(targeting="on")], "flags[0].targeting", "dictionary"),
    (
        "unknown operator",
        [flag(targeting={"exec": ["rm"]})],
        "flags[0].targeting",
        "not a JSON Logic or flagd operator",
    ),
    (
        "two operators",
        [flag(targeting={"if": [True, "on"], "or": [True]})],
        "flags[0].targeting",
        "exactly one operator",
    ),
    (
        "result not a variant",
        [flag(targeting={"if": [{"==": [1, 1]}, "maybe", "off"]})],
        "flags[0].targeting",
        "'maybe'",
    ),
    (
        "fractional bucket not a variant",
        [flag(targeting={"fractional": [["on", 50], ["maybe", 50]]})],
        "flags[0].targeting",
        "'maybe'",
    ),
    (
        "deep targeting",
        [flag(targeting=nested({"!": [True]}, 7))],
        "flags[0].targeting",
        "deeper",
    ),
    ("unknown field", [flag(rollout=50)], "flags[0].rollout", ""),
]


@pytest.mark.parametrize(
    ("case", "value", "field", "message"), BAD_FLAGS, ids=[c[0] for c in BAD_FLAGS]
)
def test_a_malformed_flag_is_refused_with_file_and_field(
    tmp_path: Path, case: str, value: Any, field: str, message: str
) -> None:
    root, _ = project_with_tenant_bad(tmp_path, {"flags": value})
    if case == "nan variant":  # yaml.safe_dump writes .nan, as a team would
        text = (root / "tenants" / "bad.yaml").read_text()
        assert ".nan" in text
    assert_refused(PlanEngine("dev", root), "tenants/bad.yaml", field, message)


def _hostile(rng: random.Random, depth: int = 0) -> Any:
    """A random YAML value: what a careless or hostile team might write anywhere."""
    choices: list[Any] = [
        None,
        True,
        0,
        -1,
        1.5,
        float("inf"),
        "",
        "on",
        "x" * 300,
        "../../etc",
        "{{ request }}",
        "\u202e",
    ]
    if depth < 4:
        choices += [
            [_hostile(rng, depth + 1) for _ in range(rng.randint(0, 3))],
            {rng.choice(["if", "var", "name", "on", "x", "$ref"]): _hostile(rng, depth + 1)},
        ]
    return rng.choice(choices)


def _mutated(rng: random.Random) -> list[Any]:
    valid = {
        "name": "beta",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": {"if": [{"in": [{"var": "email"}, ["a@b.example"]]}, "on", "off"]},
    }
    document = copy.deepcopy(valid)
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(["name", "variants", "defaultVariant", "targeting", "state", "extra"])
        if key == "variants" and rng.random() < 0.5:
            document["variants"] = {
                str(_hostile(rng))[:10] or "v": _hostile(rng) for _ in range(rng.randint(0, 4))
            }
        else:
            document[key] = _hostile(rng)
    return [document] if rng.random() < 0.8 else _hostile(rng)


def test_generated_hostile_flags_are_refused_or_accepted_never_crash(tmp_path: Path) -> None:
    """Hundreds of mutated `flags:` sections through the tenant loader: each is either a valid
    flag set (which then renders as JSON the CRD accepts) or errors that all name the tenant
    file and a field under `flags` — never an exception of another kind."""
    from components.tenants_config import load_tenants

    require_crds()
    rng = random.Random(17)
    accepted = refused = 0
    for index in range(300):
        value = _mutated(rng)
        root = tmp_path / str(index)
        _write_tenant(root, {"flags": value})
        tenants, issues = load_tenants(
            ["bad"],
            root=root,
            stack_file="stacks/Pulumi.test.yaml",
            key="paved-road:tenants",
            reserved_namespaces=[],
            admins=[],
        )
        if issues:
            refused += 1
            for issue in issues:
                assert issue.file == "tenants/bad.yaml", (value, issue)
                assert issue.field.startswith("flags"), (value, issue)
        else:
            accepted += 1
            (tenant,) = tenants
            spec = flag_spec(tenant.flags)
            json.loads(json.dumps(spec, allow_nan=False))
            manifest = {
                "apiVersion": "core.openfeature.dev/v1beta1",
                "kind": "FeatureFlag",
                "metadata": {"name": "flags", "namespace": "bad"},
                "spec": {"flagSpec": spec},
            }
            assert crd_errors(manifest) == []
    assert accepted and refused > accepted


def _write_tenant(root: Path, changes: dict[str, Any]) -> None:
    (root / "tenants").mkdir(parents=True, exist_ok=True)
    document = {
        "name": "bad",
        "costCenter": "cc-1",
        "owners": ["arn:aws:iam::123456789012:role/bad-admins"],
        **changes,
    }
    (root / "tenants" / "bad.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "flags:\n  - name: beta\n    variants: {on: true, off: 3}\n    defaultVariant: on\n",
            "flags[0].variants",
        ),
        (
            "flags:\n  - name: beta\n    variants: {a: 1}\n    defaultVariant: a\n    targeting: [1]\n",
            "flags[0].targeting",
        ),
        ("flags: {beta: true}\n", "flags"),
    ],
)
def test_the_command_line_exits_2_naming_file_and_field_without_a_traceback(
    tmp_path: Path, text: str, field: str
) -> None:
    root, _ = project_with_tenant_bad(tmp_path, {})
    tenant = root / "tenants" / "bad.yaml"
    tenant.write_text(tenant.read_text() + text)
    result = subprocess.run(
        [sys.executable, "-m", "pavedroad", "plan", "dev", "-C", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"tenants/bad.yaml: {field}:" in output
    assert "Traceback" not in output


# --------------------------------------------------------------------------------------------------
# The policy pack's rule on flag sources


SOURCE_RULE = "k8s-flag-sources-own-namespace"


def test_the_policy_pack_passes_the_platforms_flag_sources_and_fails_any_other() -> None:
    resources = views("dev")
    (source,) = [r for r in resources if r.type == FEATURE_FLAG_SOURCE]
    assert messages(SOURCE_RULE, resources) == []
    spec = dict(source.inputs["spec"])
    grpc = edited(source, spec={**spec, "sources": [{"source": "flags", "provider": "grpc"}]})
    assert messages(SOURCE_RULE, [grpc]) == ["sources[0] uses provider 'grpc', not 'file'"]
    foreign = edited(
        source, spec={**spec, "sources": [{"source": "payments/flags", "provider": "file"}]}
    )
    assert messages(SOURCE_RULE, [foreign]) == [
        "sources[0] reads 'payments/flags', outside its own namespace"
    ]
    default = edited(source, spec={**spec, "defaultSyncProvider": "kubernetes"})
    assert messages(SOURCE_RULE, [default]) == ["defaultSyncProvider is 'kubernetes', not 'file'"]
    assert [v.level for v in violations(SOURCE_RULE, [default])] == ["mandatory"]
