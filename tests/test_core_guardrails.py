"""The isolation guardrails (issue 10, item 1): Kyverno ClusterPolicies that keep a tenant from
removing or bypassing what isolates it, enforced in every environment.

No Kyverno CLI installs here (it downloads a binary), so the policies are evaluated on policy data:
`admits` below applies a rule's `match`, `exclude`, `deny` and `foreach` to an admission request
the way Kyverno does, with the jmespath library for the `{{ }}` expressions:

- `match`/`exclude` `any` blocks: kinds, `operations`, a `namespaceSelector` on the request
  namespace's labels, and `subjects` whose names match with `*` wildcards
  (kyverno/kyverno pkg/utils/match/subjects.go, `wildcard.Match` on User, Group and the
  `system:serviceaccount:<ns>:<name>` of a ServiceAccount);
- `deny: {}` denies every matched request; `deny.conditions` with `any` and `all` deny when
  every present block holds (Kyverno docs, "Validate Rules — Deny rules");
- the `regex_match` JMESPath function Kyverno adds (Kyverno docs, "JMESPath — regex_match").

Every policy is also validated against the Kyverno CRD (tests/test_core_policy.py validates all
ClusterPolicies of the plan). The requests are built from the plan's own objects: the guarded
objects, SecretStores and Rollouts the platform really creates.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from typing import Any, Optional

import jmespath
import pytest
from jmespath import functions

from components.core import policy
from pavedroad.engine import PlanRun
from pavedroad.plan import kubernetes_objects
from tests.conftest import shipped_plan, stack_config

TENANT_LABEL = "paved-road/tenant"
MANAGED_BY = "app.kubernetes.io/managed-by"
ROLLOUTS_CONTROLLER = "system:serviceaccount:argo-rollouts:argo-rollouts"
ARGOCD_CONTROLLER = "system:serviceaccount:argocd:argocd-application-controller"
NAMESPACE_CONTROLLER = "system:serviceaccount:kube-system:namespace-controller"
PROMETHEUS = "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090"


# --------------------------------------------------------------------------------------------------
# A small Kyverno: match, exclude, deny conditions and foreach on one admission request


class _KyvernoFunctions(functions.Functions):
    @functions.signature({"types": ["string"]}, {"types": ["string", "number"]})
    def _func_regex_match(self, pattern: str, value: Any) -> bool:
        return re.search(pattern, str(value)) is not None


_OPTIONS = jmespath.Options(custom_functions=_KyvernoFunctions())
_WHOLE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def _resolve(template: Any, context: dict[str, Any]) -> Any:
    """A `{{ expr }}` string is the expression's value; text around expressions is a string."""
    if not isinstance(template, str):
        return template
    whole = re.fullmatch(r"\{\{\s*(.*)\s*\}\}", template, re.S)
    if whole and "{{" not in whole.group(1):
        return jmespath.search(whole.group(1), context, options=_OPTIONS)
    return _WHOLE.sub(
        lambda m: str(jmespath.search(m.group(1), context, options=_OPTIONS)), template
    )


def _holds(condition: dict[str, Any], context: dict[str, Any]) -> bool:
    key, value = _resolve(condition["key"], context), condition["value"]
    value = (
        [_resolve(v, context) for v in value]
        if isinstance(value, list)
        else _resolve(value, context)
    )
    operator = condition["operator"]
    if operator == "Equals":
        return key == value
    if operator == "NotEquals":
        return key != value
    if operator == "In":
        return key in value
    if operator == "NotIn":
        return key not in value
    if operator == "AnyNotIn":
        return any(k not in value for k in (key if isinstance(key, list) else [key]))
    raise AssertionError(f"operator {operator} not modelled")


def _denies(deny: dict[str, Any], context: dict[str, Any]) -> bool:
    conditions = deny.get("conditions")
    if conditions is None:
        return True
    assert set(conditions) <= {"any", "all"}, conditions
    any_ok = any(_holds(c, context) for c in conditions["any"]) if "any" in conditions else True
    all_ok = all(_holds(c, context) for c in conditions["all"]) if "all" in conditions else True
    return any_ok and all_ok


def _username(subject: dict[str, Any]) -> str:
    if subject["kind"] == "ServiceAccount":
        return f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
    return subject["name"]


def _selected(resources: dict[str, Any], request: dict[str, Any]) -> bool:
    if request["kind"] not in resources["kinds"]:
        return False
    if "operations" in resources and request["operation"] not in resources["operations"]:
        return False
    name = (request.get("object") or request.get("oldObject") or {}).get("metadata", {})
    if "names" in resources and not any(
        fnmatch.fnmatchcase(name.get("name", ""), pattern) for pattern in resources["names"]
    ):
        return False
    selector = resources.get("namespaceSelector")
    if selector is not None:
        labels = request.get("namespaceLabels") or {}
        for expression in selector["matchExpressions"]:
            assert expression["operator"] == "Exists", expression
            if expression["key"] not in labels:
                return False
    return True


def _filter_matches(block: dict[str, Any], request: dict[str, Any]) -> bool:
    assert set(block) <= {"resources", "subjects"}, block
    if "resources" in block and not _selected(block["resources"], request):
        return False
    if "subjects" in block:
        user = request["userInfo"]
        return any(
            (
                fnmatch.fnmatchcase(user["username"], _username(s))
                if s["kind"] in ("User", "ServiceAccount")
                else any(fnmatch.fnmatchcase(g, s["name"]) for g in user.get("groups", []))
            )
            for s in block["subjects"]
        )
    return True


def denying_rules(manifest: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """The names of the policy's rules that deny `request`."""
    context = {
        "request": {
            "operation": request["operation"],
            "namespace": request.get("namespace"),
            "object": request.get("object"),
            "oldObject": request.get("oldObject"),
            "userInfo": request["userInfo"],
        }
    }
    denied = []
    for rule in manifest["spec"]["rules"]:
        if not any(_filter_matches(b, request) for b in rule["match"]["any"]):
            continue
        if any(_filter_matches(b, request) for b in rule.get("exclude", {}).get("any", [])):
            continue
        validate = rule["validate"]
        denies = "deny" in validate and _denies(validate["deny"], context)
        for each in validate.get("foreach", []):
            elements = jmespath.search(each["list"], context, options=_OPTIONS) or []
            denies = denies or any(
                _denies(each["deny"], {**context, "element": element}) for element in elements
            )
        if denies:
            denied.append(rule["name"])
    return denied


def request(
    operation: str,
    obj: Optional[dict[str, Any]],
    *,
    old: Optional[dict[str, Any]] = None,
    user: str,
    groups: tuple[str, ...] = (),
    namespace_labels: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    subject = obj or old
    assert subject is not None
    return {
        "operation": operation,
        "kind": subject["kind"],
        "namespace": subject["metadata"].get("namespace"),
        "namespaceLabels": namespace_labels,
        "object": obj,
        "oldObject": old,
        "userInfo": {"username": user, "groups": ["system:authenticated", *groups]},
    }


# --------------------------------------------------------------------------------------------------
# The plan's objects


def objects(run: PlanRun) -> list[dict[str, Any]]:
    return kubernetes_objects(run.resources)


def guardrail(run: PlanRun, name: str) -> dict[str, Any]:
    (found,) = [
        m for m in objects(run) if m["kind"] == "ClusterPolicy" and m["metadata"]["name"] == name
    ]
    return found


def namespace_labels(run: PlanRun) -> dict[str, dict[str, str]]:
    return {
        m["metadata"]["name"]: m["metadata"].get("labels", {})
        for m in objects(run)
        if m["kind"] == "Namespace"
    }


def tenant_objects(run: PlanRun) -> list[dict[str, Any]]:
    tenants = {n for n, labels in namespace_labels(run).items() if TENANT_LABEL in labels}
    return [m for m in objects(run) if m["metadata"].get("namespace") in tenants]


def developer(tenant: str) -> dict[str, Any]:
    """A team developer through EKS access entries: an assumed role, mapped to the team's group."""
    return {
        "user": f"arn:aws:sts::123456789012:assumed-role/{tenant}-developers/jane",
        "groups": (f"paved-road:{tenant}:developers",),
    }


def deployer(stack: str) -> str:
    role = stack_config(stack)["paved-road:cluster"]["deployRoleArn"].rsplit("/", 1)[-1]
    return f"arn:aws:sts::123456789012:assumed-role/{role}/pulumi-1700000000"


@pytest.fixture(scope="module")
def dev() -> PlanRun:
    return shipped_plan("dev")


# --------------------------------------------------------------------------------------------------
# Every guardrail enforces, in every environment


def test_guardrails_enforce_in_every_stack_whatever_the_baselines_mode(stack: str) -> None:
    """dev audits the baseline (its stack file says so), yet every guardrail rule enforces."""
    run = shipped_plan(stack)
    for name in policy.GUARDRAIL_POLICIES:
        manifest = guardrail(run, name)
        assert manifest["spec"]["background"] is False, "judged on requests, never in background"
        for rule in manifest["spec"]["rules"]:
            assert rule["validate"]["failureAction"] == "Enforce", (stack, name, rule["name"])


# --------------------------------------------------------------------------------------------------
# protect-platform-objects


ISOLATION_KINDS = {"NetworkPolicy", "ResourceQuota", "LimitRange", "RoleBinding", "SecretStore"}


def test_the_platform_objects_that_isolate_a_tenant_are_all_guarded(dev: PlanRun) -> None:
    kinds = {m["kind"] for m in tenant_objects(dev) if m["metadata"]["labels"].get(MANAGED_BY)}
    assert ISOLATION_KINDS <= kinds, "the plan creates them in tenant namespaces"
    assert ISOLATION_KINDS | {"ServiceAccount"} <= set(policy.GUARDED_KINDS)


def _guarded(run: PlanRun) -> list[dict[str, Any]]:
    return [
        m
        for m in tenant_objects(run)
        if m["kind"] in policy.GUARDED_KINDS
        and m["metadata"]["labels"].get(MANAGED_BY) == "paved-road"
    ]


def test_the_release_notification_configmap_is_guarded_and_only_it(dev: PlanRun) -> None:
    """A team could point its notification configuration anywhere the controller posts; its
    other ConfigMaps (its own, and the flags' one the flag operator updates) stay its own."""
    manifest = guardrail(dev, "protect-platform-objects")
    labels = namespace_labels(dev)
    maps = [
        m
        for m in tenant_objects(dev)
        if m["kind"] == "ConfigMap"
        and m["metadata"]["name"] == policy.RELEASE_NOTIFICATION_CONFIG_MAP
    ]
    assert maps, "the dev plan announces some team's releases"
    for obj in maps:
        ns_labels = labels[obj["metadata"]["namespace"]]
        who = developer(ns_labels[TENANT_LABEL])
        changed = copy.deepcopy(obj)
        changed["data"] = {"service.webhook.elsewhere": "url: https://attacker.example"}
        for operation, new in (("UPDATE", changed), ("DELETE", None)):
            sent = request(operation, new, old=obj, namespace_labels=ns_labels, **who)
            assert denying_rules(manifest, sent) == ["protect-release-notifications"]
        other = copy.deepcopy(obj)
        other["metadata"]["name"] = "settings"
        sent = request("UPDATE", other, old=other, namespace_labels=ns_labels, **who)
        assert denying_rules(manifest, sent) == []
        # Without the platform's label (a team's own configuration) it is the team's.
        own = copy.deepcopy(obj)
        del own["metadata"]["labels"][MANAGED_BY]
        sent = request("UPDATE", own, old=own, namespace_labels=ns_labels, **who)
        assert denying_rules(manifest, sent) == []


def test_tenants_cannot_change_or_delete_the_platforms_objects(dev: PlanRun) -> None:
    manifest = guardrail(dev, "protect-platform-objects")
    labels = namespace_labels(dev)
    guarded = _guarded(dev)
    assert len(guarded) >= 30 and any(
        m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "default-deny" for m in guarded
    )
    for obj in guarded:
        ns_labels = labels[obj["metadata"]["namespace"]]
        tenant = ns_labels[TENANT_LABEL]
        changed = copy.deepcopy(obj)
        changed["metadata"].setdefault("annotations", {})["edited"] = "yes"
        unlabelled = copy.deepcopy(obj)
        del unlabelled["metadata"]["labels"][MANAGED_BY]
        for who in (developer(tenant), {"user": ARGOCD_CONTROLLER}):
            for operation, new in (("UPDATE", changed), ("UPDATE", unlabelled), ("DELETE", None)):
                sent = request(operation, new, old=obj, namespace_labels=ns_labels, **who)
                expected = ["protect-guardrails"]
                if obj["kind"] == "NetworkPolicy" and operation == "UPDATE":
                    expected.append("platform-owns-network-policies")
                assert denying_rules(manifest, sent) == expected, (
                    obj["kind"],
                    obj["metadata"]["name"],
                    operation,
                    who["user"],
                )
        for user in (deployer("dev"), NAMESPACE_CONTROLLER):
            sent = request("DELETE", None, old=obj, namespace_labels=ns_labels, user=user)
            assert denying_rules(manifest, sent) == [], (obj["kind"], user)


def test_the_platforms_identities_come_from_the_stack(stack: str) -> None:
    manifest = guardrail(shipped_plan(stack), "protect-platform-objects")
    cluster = stack_config(stack)["paved-road:cluster"]
    roles = [arn.rsplit("/", 1)[-1] for arn in [*cluster["admins"], cluster["deployRoleArn"]]]
    expected = sorted(f"arn:aws:sts::123456789012:assumed-role/{role}/*" for role in roles)
    for rule in manifest["spec"]["rules"]:
        (exempt,) = rule["exclude"]["any"]
        users = [s["name"] for s in exempt["subjects"] if s["kind"] == "User"]
        assert users == expected, rule["name"]
        accounts = {_username(s) for s in exempt["subjects"] if s["kind"] == "ServiceAccount"}
        assert accounts == {
            NAMESPACE_CONTROLLER,
            "system:serviceaccount:kube-system:generic-garbage-collector",
        }
        assert ARGOCD_CONTROLLER not in str(exempt), "Argo CD applies tenants' repositories"


def test_a_role_with_a_path_and_a_user_map_to_their_kubernetes_usernames() -> None:
    sso = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1"
    assert policy.kubernetes_username(sso) == (
        "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_1/*"
    )
    user = "arn:aws:iam::123456789012:user/ci"
    assert policy.kubernetes_username(user) == user
    china = "arn:aws-cn:iam::123456789012:role/deploy"
    assert policy.kubernetes_username(china) == "arn:aws-cn:sts::123456789012:assumed-role/deploy/*"


def test_a_tenants_own_objects_stay_its_own(dev: PlanRun) -> None:
    manifest = guardrail(dev, "protect-platform-objects")
    labels = namespace_labels(dev)["payments"]
    own = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "ci-reader", "namespace": "payments", "labels": {"app": "x"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
    }
    for operation, new in (("CREATE", own), ("UPDATE", own), ("DELETE", None)):
        sent = request(operation, new, old=own, namespace_labels=labels, **developer("payments"))
        assert denying_rules(manifest, sent) == [], operation


def test_only_the_platform_writes_network_policies_in_tenant_namespaces(dev: PlanRun) -> None:
    """An allow-all policy of the tenant's would undo its default deny and egress limits."""
    manifest = guardrail(dev, "protect-platform-objects")
    labels = namespace_labels(dev)["payments"]
    allow_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-all", "namespace": "payments"},
        "spec": {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]},
    }
    for operation in ("CREATE", "UPDATE"):
        sent = request(
            operation, allow_all, old=allow_all, namespace_labels=labels, **developer("payments")
        )
        assert denying_rules(manifest, sent) == ["platform-owns-network-policies"]
        sent = request(
            operation, allow_all, old=allow_all, namespace_labels=labels, user=ARGOCD_CONTROLLER
        )
        assert denying_rules(manifest, sent) == ["platform-owns-network-policies"]
        sent = request(
            operation, allow_all, old=allow_all, namespace_labels=labels, user=deployer("dev")
        )
        assert denying_rules(manifest, sent) == []
    deleted = request(
        "DELETE", None, old=allow_all, namespace_labels=labels, **developer("payments")
    )
    assert denying_rules(manifest, deleted) == [], "removing its own opening only narrows it"
    elsewhere = {**allow_all, "metadata": {"name": "allow-all", "namespace": "monitoring"}}
    sent = request(
        "CREATE",
        elsewhere,
        namespace_labels={"paved-road/platform": "true"},
        **developer("payments"),
    )
    assert denying_rules(manifest, sent) == []


def test_tenants_cannot_relabel_or_delete_their_namespaces(dev: PlanRun) -> None:
    manifest = guardrail(dev, "protect-platform-objects")
    (namespace,) = [
        m for m in objects(dev) if m["kind"] == "Namespace" and m["metadata"]["name"] == "payments"
    ]
    privileged = copy.deepcopy(namespace)
    privileged["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    untenanted = copy.deepcopy(namespace)
    del untenanted["metadata"]["labels"][TENANT_LABEL]
    annotated = copy.deepcopy(namespace)
    annotated["metadata"]["annotations"]["note"] = "labels untouched"
    team = developer("payments")
    for new in (privileged, untenanted):
        sent = request("UPDATE", new, old=namespace, **team)
        assert denying_rules(manifest, sent) == ["protect-namespace-labels"]
        assert denying_rules(manifest, {**sent, "userInfo": {"username": deployer("dev")}}) == []
    assert denying_rules(manifest, request("UPDATE", annotated, old=namespace, **team)) == []
    deleted = request("DELETE", None, old=namespace, **team)
    assert denying_rules(manifest, deleted) == ["protect-tenant-namespaces"]
    admin = "arn:aws:sts::123456789012:assumed-role/platform-admins/alice"
    assert denying_rules(manifest, {**deleted, "userInfo": {"username": admin}}) == []


# --------------------------------------------------------------------------------------------------
# restrict-tenant-secret-stores


def _tenant_stores(run: PlanRun) -> list[dict[str, Any]]:
    return [m for m in tenant_objects(run) if m["kind"] == "SecretStore"]


def test_the_platforms_tenant_secret_stores_are_admitted(dev: PlanRun) -> None:
    manifest = guardrail(dev, "restrict-tenant-secret-stores")
    labels = namespace_labels(dev)
    stores = _tenant_stores(dev)
    assert len(stores) == len([n for n in labels.values() if TENANT_LABEL in n])
    for store in stores:
        ns = labels[store["metadata"]["namespace"]]
        assert (
            denying_rules(
                manifest, request("CREATE", store, namespace_labels=ns, user=deployer("dev"))
            )
            == []
        )


def _variants(store: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def changed(edit: Any) -> dict[str, Any]:
        copied = copy.deepcopy(store)
        edit(copied["spec"]["provider"])
        return copied

    return {
        "no auth (the controller's own identity)": changed(lambda p: p["aws"].pop("auth")),
        "static keys": changed(
            lambda p: p["aws"].update(
                auth={"secretRef": {"accessKeyIDSecretRef": {"name": "k", "key": "id"}}}
            )
        ),
        "keys beside the workload account": changed(
            lambda p: p["aws"]["auth"].update(secretRef={"accessKeyIDSecretRef": {"name": "k"}})
        ),
        "another service account": changed(
            lambda p: p["aws"]["auth"]["jwt"]["serviceAccountRef"].update(name="default")
        ),
        "another namespace's account": changed(
            lambda p: p["aws"]["auth"]["jwt"]["serviceAccountRef"].update(
                namespace="external-secrets"
            )
        ),
        "another provider": changed(
            lambda p: (p.clear(), p.update(vault={"server": "https://vault.example"}))
        ),
        "a second provider": changed(
            lambda p: p.update(kubernetes={"remoteNamespace": "kube-system"})
        ),
        "no provider": changed(lambda p: p.clear()),
    }


def test_tenant_secret_stores_must_read_as_the_workload_account(dev: PlanRun) -> None:
    manifest = guardrail(dev, "restrict-tenant-secret-stores")
    labels = namespace_labels(dev)
    for store in _tenant_stores(dev):
        ns = labels[store["metadata"]["namespace"]]
        tenant = ns[TENANT_LABEL]
        explicit = copy.deepcopy(store)
        explicit["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["namespace"] = (
            store["metadata"]["namespace"]
        )
        assert (
            denying_rules(
                manifest,
                request("UPDATE", explicit, old=store, namespace_labels=ns, **developer(tenant)),
            )
            == []
        )
        for what, variant in _variants(store).items():
            for operation in ("CREATE", "UPDATE"):
                sent = request(
                    operation, variant, old=store, namespace_labels=ns, **developer(tenant)
                )
                assert denying_rules(manifest, sent) == ["require-workload-identity"], (
                    what,
                    operation,
                )


def test_stores_outside_tenant_namespaces_are_not_this_policys_concern(dev: PlanRun) -> None:
    manifest = guardrail(dev, "restrict-tenant-secret-stores")
    store = copy.deepcopy(_tenant_stores(dev)[0])
    store["metadata"]["namespace"] = "external-secrets"
    store["spec"]["provider"]["aws"].pop("auth")
    sent = request(
        "CREATE", store, namespace_labels={"paved-road/platform": "true"}, user=deployer("dev")
    )
    assert denying_rules(manifest, sent) == []


@pytest.mark.parametrize(
    "kind", ["ECRAuthorizationToken", "STSSessionToken", "Webhook", "VaultDynamicSecret"]
)
def test_credential_generators_are_refused_in_tenant_namespaces(dev: PlanRun, kind: str) -> None:
    manifest = guardrail(dev, "restrict-tenant-secret-stores")
    generator = {
        "apiVersion": "generators.external-secrets.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "token", "namespace": "payments"},
        "spec": {"region": "eu-west-1"},
    }
    ns = namespace_labels(dev)["payments"]
    for operation in ("CREATE", "UPDATE"):
        sent = request(
            operation, generator, old=generator, namespace_labels=ns, **developer("payments")
        )
        assert denying_rules(manifest, sent) == ["refuse-credential-generators"]


def test_local_generators_stay_allowed(dev: PlanRun) -> None:
    manifest = guardrail(dev, "restrict-tenant-secret-stores")
    password = {
        "kind": "Password",
        "metadata": {"name": "db", "namespace": "payments"},
        "spec": {"length": 32},
    }
    ns = namespace_labels(dev)["payments"]
    assert (
        denying_rules(
            manifest, request("CREATE", password, namespace_labels=ns, **developer("payments"))
        )
        == []
    )


# --------------------------------------------------------------------------------------------------
# restrict-tenant-analysis


def _analyses(spec: Any) -> list[dict[str, Any]]:
    """Every analysis block (templates + args) anywhere in a Rollout's strategy."""
    if isinstance(spec, dict):
        found = [spec] if "templates" in spec else []
        return found + [a for value in spec.values() for a in _analyses(value)]
    if isinstance(spec, list):
        return [a for value in spec for a in _analyses(value)]
    return []


def controller_runs(run: PlanRun) -> list[dict[str, Any]]:
    """The AnalysisRuns the controller would create from the plan's Rollouts: the referenced
    ClusterAnalysisTemplates' metrics with the Rollout's arguments."""
    templates = {
        m["metadata"]["name"]: m["spec"]
        for m in objects(run)
        if m["kind"] == "ClusterAnalysisTemplate"
    }
    runs = []
    for rollout in [m for m in tenant_objects(run) if m["kind"] == "Rollout"]:
        for analysis in _analyses(rollout["spec"]["strategy"]):
            assert all(t["clusterScope"] for t in analysis["templates"]), "platform templates only"
            runs.append(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "AnalysisRun",
                    "metadata": {
                        "name": f"{rollout['metadata']['name']}-1",
                        "namespace": rollout["metadata"]["namespace"],
                    },
                    "spec": {
                        "metrics": [
                            metric
                            for t in analysis["templates"]
                            for metric in templates[t["templateName"]]["metrics"]
                        ],
                        "args": analysis["args"],
                    },
                }
            )
    return runs


def test_apps_never_create_namespaced_analysis_templates(dev: PlanRun) -> None:
    assert not [m for m in objects(dev) if m["kind"] == "AnalysisTemplate"]


def test_the_controllers_runs_from_the_platforms_templates_are_admitted(dev: PlanRun) -> None:
    manifest = guardrail(dev, "restrict-tenant-analysis")
    labels = namespace_labels(dev)
    runs = controller_runs(dev)
    assert len(runs) >= 4
    for run in runs:
        ns = labels[run["metadata"]["namespace"]]
        sent = request("CREATE", run, namespace_labels=ns, user=ROLLOUTS_CONTROLLER)
        assert denying_rules(manifest, sent) == [], run["metadata"]["name"]


def test_tenants_cannot_write_analysis_runs_or_templates(dev: PlanRun) -> None:
    manifest = guardrail(dev, "restrict-tenant-analysis")
    labels = namespace_labels(dev)
    run = controller_runs(dev)[0]
    ns = labels[run["metadata"]["namespace"]]
    team = developer(ns[TENANT_LABEL])
    for operation in ("CREATE", "UPDATE"):
        sent = request(operation, run, old=run, namespace_labels=ns, **team)
        assert denying_rules(manifest, sent) == ["analysis-runs-from-the-controller"]
    template = {
        "kind": "AnalysisTemplate",
        "metadata": {"name": "mine", "namespace": run["metadata"]["namespace"]},
        "spec": {"metrics": run["spec"]["metrics"]},
    }
    sent = request("CREATE", template, namespace_labels=ns, **team)
    assert denying_rules(manifest, sent) == ["refuse-analysis-templates"]


def _run_variants(run: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    def with_metric(provider: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(run)
        changed["spec"]["metrics"].append({"name": "extra", "provider": provider})
        return changed

    def with_arg(name: str, **value: Any) -> dict[str, Any]:
        changed = copy.deepcopy(run)
        changed["spec"]["args"] = [a for a in changed["spec"]["args"] if a["name"] != name]
        changed["spec"]["args"].append({"name": name, **value})
        return changed

    providers = "analysis-runs-use-platform-providers"
    scoped = "analysis-runs-query-own-namespace"
    return {
        "web": (
            with_metric({"web": {"url": "http://169.254.169.254/latest/meta-data/"}}),
            providers,
        ),
        "job": (with_metric({"job": {"spec": {"template": {"spec": {}}}}}), providers),
        "foreign prometheus": (
            with_metric({"prometheus": {"address": "http://evil.example:9090", "query": "up"}}),
            providers,
        ),
        "another tenant's namespace": (with_arg("namespace", value="search"), scoped),
        "namespace from a secret": (
            with_arg("namespace", valueFrom={"secretKeyRef": {"name": "s", "key": "ns"}}),
            scoped,
        ),
        "matcher escape": (
            with_arg("service-name", value='x"} or up{namespace="search'),
            scoped,
        ),
        "service from a secret": (
            with_arg("service-name", valueFrom={"secretKeyRef": {"name": "s", "key": "k"}}),
            scoped,
        ),
    }


def test_even_the_controllers_runs_must_use_platform_providers_and_their_namespace(
    dev: PlanRun,
) -> None:
    """What reaches a run through a tenant's Rollout or Experiment (its arguments) is checked on
    the run itself, whoever creates it."""
    manifest = guardrail(dev, "restrict-tenant-analysis")
    labels = namespace_labels(dev)
    run = next(
        r
        for r in controller_runs(dev)
        if {a["name"] for a in r["spec"]["args"]} >= {"namespace", "service-name"}
    )
    ns = labels[run["metadata"]["namespace"]]
    for what, (variant, rule) in _run_variants(run).items():
        sent = request("CREATE", variant, namespace_labels=ns, user=ROLLOUTS_CONTROLLER)
        assert denying_rules(manifest, sent) == [rule], what


def test_the_rules_name_the_platforms_prometheus_and_controller(dev: PlanRun) -> None:
    manifest = guardrail(dev, "restrict-tenant-analysis")
    assert dev.outputs["prometheusUrl"] == PROMETHEUS
    assert PROMETHEUS in str(manifest["spec"]["rules"])
    (exempt,) = [
        r for r in manifest["spec"]["rules"] if r["name"] == "analysis-runs-from-the-controller"
    ][0]["exclude"]["any"]
    assert [_username(s) for s in exempt["subjects"]] == [ROLLOUTS_CONTROLLER]
