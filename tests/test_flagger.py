"""Flagger as the release engine: the same tenant files, released by Canaries on the Gateway.

The staging stack runs Argo Rollouts; a test stack made of staging's config (and name) with
`paved-road:delivery.engine: flagger` runs Flagger for the same tenant files. Comparing the two
plans, object by object, is what proves a team's file means the same release under both.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from components.core import gateway as gateway_module
from components.delivery import analysis, flagger
from pavedroad.engine import PlanEngine, PlanRun
from pavedroad.plan import kubernetes_objects, render_kubernetes_yaml, render_plan_json
from tests.conftest import ROOT, make_project, one, pavedroad, shipped_plan, stack_config
from tests.crds import crd_errors, require_crds

# The test stack: staging's own name and config, with the Flagger engine.
STACK = "staging"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
CANARY = "kubernetes:flagger.app/v1beta1:Canary"
METRIC_TEMPLATE = "kubernetes:flagger.app/v1beta1:MetricTemplate"
ALERT_PROVIDER = "kubernetes:flagger.app/v1beta1:AlertProvider"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:ClusterAnalysisTemplate"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
GATEWAY_CLASS = "kubernetes:gateway.networking.k8s.io/v1:GatewayClass"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
RELEASE = "kubernetes:helm.sh/v3:Release"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
TENANT_LABEL = "paved-road/tenant"


def flagger_config(base: str = "staging") -> dict[str, Any]:
    config = copy.deepcopy(stack_config(base))
    config["paved-road:delivery"] = {**config.get("paved-road:delivery", {}), "engine": "flagger"}
    return config


@pytest.fixture(scope="module")
def flagger_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("flagger"), flagger_config(), STACK)


@pytest.fixture(scope="module")
def flagger_plan(flagger_root: Path) -> PlanRun:
    return PlanEngine(STACK, flagger_root).run()


@pytest.fixture(scope="module")
def rollouts_plan() -> PlanRun:
    return shipped_plan("staging")


def by_name(run: PlanRun, type_: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (m["metadata"].get("namespace", ""), m["metadata"]["name"]): m
        for m in kubernetes_objects(run.by_type(type_))
    }


def seconds(duration: str) -> int:
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)([hms])", duration))


def held_weights(steps: list[dict[str, Any]]) -> tuple[list[int], list[str]]:
    """What a Rollout's steps do to traffic: each weight set, and how long it is held."""
    weights, pauses = [], []
    for step in steps:
        if "setWeight" in step:
            weights.append(step["setWeight"])
        else:
            pauses.append(step["pause"]["duration"])
    if len(weights) > len(pauses):
        assert weights[-1] == 100, "a weight that is not held is the final promotion"
        weights.pop()
    return weights, pauses


def analysis_args(spec: dict[str, Any]) -> tuple[set[str], dict[str, str]]:
    names = {t["templateName"] for t in spec["templates"]}
    return names, {a["name"]: a["value"] for a in spec["args"]}


def metric_bounds(canary: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {m["name"]: m["thresholdRange"] for m in canary["spec"]["analysis"].get("metrics", [])}


# --------------------------------------------------------------------------------------------------
# The same tenant files, two engines


def test_the_default_engine_is_argo_rollouts_and_no_shipped_stack_runs_flagger() -> None:
    for stack in ("dev", "staging", "prod"):
        run = shipped_plan(stack)
        assert run.by_type(ROLLOUT), stack
        assert not run.by_type(CANARY) and not run.by_type(GATEWAY), stack
        assert not [r for r in run.by_type(RELEASE) if r.inputs["chart"] == "flagger"], stack


def test_every_rollout_has_an_equivalent_canary(
    rollouts_plan: PlanRun, flagger_plan: PlanRun
) -> None:
    rollouts = by_name(rollouts_plan, ROLLOUT)
    canaries = by_name(flagger_plan, CANARY)
    assert rollouts and set(canaries) == set(rollouts)
    assert not flagger_plan.by_type(ROLLOUT)
    templates = {
        m["metadata"]["name"]: m["spec"]["metrics"][0]
        for m in kubernetes_objects(rollouts_plan.by_type(TEMPLATE))
    }
    ingresses = by_name(rollouts_plan, INGRESS)
    for key, rollout in rollouts.items():
        canary = canaries[key]
        strategy, spec = rollout["spec"]["strategy"], canary["spec"]
        checks = spec["analysis"]
        assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": key[1]}
        # A release aborts at the same failed measurement.
        assert checks["threshold"] == analysis.FAILURE_LIMIT + 1 == 3
        if "blueGreen" in strategy:
            blue_green = strategy["blueGreen"]
            names, args = analysis_args(blue_green["prePromotionAnalysis"])
            # The pre-promotion analysis: every measurement, at the templates' interval.
            (measured,) = {templates[name]["interval"] for name in names}
            (count,) = {templates[name]["count"] for name in names}
            assert checks["interval"] == measured and checks["iterations"] == count
            assert "stepWeights" not in checks
            # Flagger's preview is `<app>-canary`; the analysis judges it, as Argo's the preview.
            assert args["service-name"] == blue_green["previewService"]
            assert blue_green["activeService"] == key[1]
        else:
            canary_strategy = strategy["canary"]
            weights, pauses = held_weights(canary_strategy["steps"])
            assert len(set(map(seconds, pauses))) == 1, pauses
            assert seconds(checks["interval"]) == seconds(pauses[0])
            names, args = analysis_args(canary_strategy["analysis"])
            if "trafficRouting" in canary_strategy:
                # Traffic: the same weights, each held as long.
                assert checks["stepWeights"] == weights
                assert canary_strategy["canaryService"] == f"{key[1]}-canary"
                assert canary_strategy["stableService"] == key[1]
                assert args["service-name"] == f"{key[1]}-canary"
            else:
                # A consumer: side by side for as long as its weights would have been held.
                assert spec["provider"] == flagger.NO_ROUTING and "service" in spec
                assert seconds(checks["interval"]) * checks["iterations"] == sum(
                    map(seconds, pauses)
                )
        assert set(metric_bounds(canary)) == names
        bounds = metric_bounds(canary)
        if "threshold" in args:
            assert bounds[analysis.SUCCESS_RATE] == {"min": float(args["threshold"])}
        if "threshold-ms" in args:
            assert bounds[analysis.LATENCY_P99] == {"max": int(args["threshold-ms"])}
        if "max-lag" in args:
            assert bounds[analysis.KAFKA_CONSUMER_LAG] == {"max": int(args["max-lag"])}
            (metric,) = spec["analysis"]["metrics"]
            assert metric["templateVariables"] == {
                "consumerGroup": args["consumer-group"],
                "topic": args["topic"],
            }
        if "max-burn-rate" in args:
            assert bounds[analysis.BURN_RATE] == {"max": float(args["max-burn-rate"])}
            (burn,) = [m for m in spec["analysis"]["metrics"] if m["name"] == analysis.BURN_RATE]
            assert burn["templateVariables"] == {"objective": args["objective"]}
            assert burn["interval"] == analysis.BURN_RATE_WINDOW
        # Served apps keep their hosts, now on the tenants' Gateway.
        if key in ingresses:
            hosts = [rule["host"] for rule in ingresses[key]["spec"]["rules"]]
            assert spec["service"]["hosts"] == hosts
            assert spec["provider"] == flagger.PROVIDER
            assert spec["service"]["gatewayRefs"] == [
                {"name": "tenants", "namespace": gateway_module.NAMESPACE}
            ]


def test_the_target_deployments_run_the_rollouts_pods(
    rollouts_plan: PlanRun, flagger_plan: PlanRun
) -> None:
    deployments = by_name(flagger_plan, DEPLOYMENT)
    for key, rollout in by_name(rollouts_plan, ROLLOUT).items():
        deployment = deployments[key]["spec"]
        assert deployment["template"] == rollout["spec"]["template"]
        assert deployment.get("replicas") == rollout["spec"].get("replicas")
    # KEDA scales the consumer's Deployment, which Flagger copies for the primary.
    scaled = by_name(flagger_plan, SCALED_OBJECT)[("payments", "ledger-consumer")]
    assert scaled["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    canary = by_name(flagger_plan, CANARY)[("payments", "ledger-consumer")]
    assert canary["spec"]["autoscalerRef"]["kind"] == "ScaledObject"


def test_service_switch_apps_and_jobs_are_the_same_under_both_engines(
    rollouts_plan: PlanRun, flagger_plan: PlanRun
) -> None:
    def apps(run: PlanRun) -> dict[str, Any]:
        prefixes = ("search/search-api/", "payments/settlement/", "storefront/sitemap/")
        return {r.name: r.inputs for r in run.resources if r.name.startswith(prefixes)}

    assert apps(rollouts_plan) == apps(flagger_plan)
    assert len(apps(rollouts_plan)) >= 6


# --------------------------------------------------------------------------------------------------
# One query for both engines


@pytest.mark.parametrize("template", analysis.TEMPLATE_NAMES)
def test_metric_templates_run_the_analysis_templates_queries(
    rollouts_plan: PlanRun, flagger_plan: PlanRun, template: str
) -> None:
    values = {
        "namespace": "payments",
        "service-name": "checkout-api-canary",
        "consumer-group": "ledger-writer",
        "topic": "payments.ledger",
        "objective": "0.999",
    }
    (argo,) = [
        m
        for m in kubernetes_objects(rollouts_plan.by_type(TEMPLATE))
        if m["metadata"]["name"] == template
    ]
    argo_query = argo["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    for name, value in values.items():
        argo_query = argo_query.replace("{{args." + name + "}}", value)
    # Flagger renders its placeholders from the Canary: its namespace, target and variables.
    rendered = {
        "{{ namespace }}": "payments",
        "{{ target }}": "checkout-api",
        "{{ variables.consumerGroup }}": "ledger-writer",
        "{{ variables.topic }}": "payments.ledger",
        "{{ variables.objective }}": "0.999",
    }
    templates = by_name(flagger_plan, METRIC_TEMPLATE)
    namespaces = {namespace for namespace, name in templates if name == template}
    assert namespaces == {"payments", "storefront"}
    for namespace in namespaces:
        spec = templates[(namespace, template)]["spec"]
        assert spec["provider"] == {
            "type": "prometheus",
            "address": "http://kube-prometheus-stack-prometheus.monitoring.svc.cluster.local:9090",
        }
        query = spec["query"]
        for placeholder, value in rendered.items():
            query = query.replace(placeholder, value)
        assert "{{" not in query and query == argo_query


# --------------------------------------------------------------------------------------------------
# Validation: CRDs, schema and policies, on the whole plan


def test_every_flagger_and_gateway_object_validates_against_its_crd(
    flagger_plan: PlanRun,
) -> None:
    require_crds()
    checked = 0
    for type_ in (CANARY, METRIC_TEMPLATE, ALERT_PROVIDER, GATEWAY, GATEWAY_CLASS, HTTP_ROUTE):
        for found in kubernetes_objects(flagger_plan.by_type(type_)):
            assert crd_errors(found) == [], (found["kind"], found["metadata"]["name"])
            checked += 1
    assert checked >= 4 + 3 * 2 + 1 + 1 + 1 + 1
    for route in routes_flagger_writes(flagger_plan):
        assert crd_errors(route) == [], route["metadata"]["name"]


def test_two_runs_of_the_flagger_stack_are_byte_identical(
    flagger_root: Path, flagger_plan: PlanRun
) -> None:
    again = PlanEngine(STACK, flagger_root).run()
    assert render_plan_json(again) == render_plan_json(flagger_plan)
    assert render_kubernetes_yaml(again) == render_kubernetes_yaml(flagger_plan)


def test_the_flagger_stack_plans_clean_through_the_command_line(
    flagger_root: Path, tmp_path: Path
) -> None:
    """Schema, CRD and policy checks, as `make plan` runs them, exit 0."""
    result = pavedroad("plan", STACK, "-C", str(flagger_root), "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No policy violations." in result.stdout
    assert (tmp_path / "kubernetes.yaml").exists()


# --------------------------------------------------------------------------------------------------
# The Gateway: each tenant's routes serve only its own hosts


def routes_flagger_writes(run: PlanRun) -> list[dict[str, Any]]:
    """The HTTPRoute Flagger's gatewayapi:v1 router writes for each routed Canary
    (pkg/router/gateway_api.go): named after the target, in its namespace, with the Canary's
    gatewayRefs as parents, its hosts as hostnames, and the primary and canary Services weighed."""
    routes = []
    for canary in kubernetes_objects(run.by_type(CANARY)):
        spec = canary["spec"]
        if spec["provider"] != flagger.PROVIDER:
            continue
        name, port = spec["targetRef"]["name"], spec["service"]["port"]
        routes.append(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {
                    "name": name,
                    "namespace": canary["metadata"]["namespace"],
                    "annotations": spec["service"]["apex"]["annotations"],
                },
                "spec": {
                    "parentRefs": spec["service"]["gatewayRefs"],
                    "hostnames": spec["service"]["hosts"],
                    "rules": [
                        {
                            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": [
                                {"name": f"{name}-primary", "port": port, "weight": 80},
                                {"name": f"{name}-canary", "port": port, "weight": 20},
                            ],
                        }
                    ],
                },
            }
        )
    return routes


def served_hosts(
    gateway: dict[str, Any], route: dict[str, Any], namespace_labels: dict[str, dict[str, str]]
) -> set[str]:
    """The hosts a Gateway serves for a route, by the Gateway API's attachment rules: a listener
    accepts the route only if `allowedRoutes` admits the route's namespace (here, a label
    selector), and then serves the intersection of its hostname and the route's hostnames."""
    served: set[str] = set()
    labels = namespace_labels[route["metadata"]["namespace"]]
    for parent in route["spec"]["parentRefs"]:
        if (parent["name"], parent.get("namespace")) != (
            gateway["metadata"]["name"],
            gateway["metadata"]["namespace"],
        ):
            continue
        for listener in gateway["spec"]["listeners"]:
            if "sectionName" in parent and parent["sectionName"] != listener["name"]:
                continue
            allowed = listener["allowedRoutes"]["namespaces"]
            if allowed["from"] == "Same":
                if route["metadata"]["namespace"] == gateway["metadata"]["namespace"]:
                    served |= set(route["spec"].get("hostnames", ["*"]))
                continue
            assert allowed["from"] == "Selector", "every other listener is bound to one tenant"
            wanted = allowed["selector"]["matchLabels"]
            if any(labels.get(key) != value for key, value in wanted.items()):
                continue
            served |= {h for h in route["spec"]["hostnames"] if h == listener["hostname"]}
    return served


def test_a_tenants_routes_serve_only_its_own_hosts(flagger_plan: PlanRun) -> None:
    (gateway,) = kubernetes_objects(flagger_plan.by_type(GATEWAY))
    namespaces = {
        m["metadata"]["name"]: m["metadata"].get("labels", {})
        for m in kubernetes_objects(flagger_plan.by_type("kubernetes:core/v1:Namespace"))
    }
    hosts_of: dict[str, set[str]] = {}
    (redirect,) = [x for x in gateway["spec"]["listeners"] if x["protocol"] == "HTTP"]
    assert redirect["port"] == 80 and redirect["allowedRoutes"]["namespaces"] == {"from": "Same"}
    for listener in gateway["spec"]["listeners"]:
        if listener is redirect:
            continue
        tenant = listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"][TENANT_LABEL]
        hosts_of.setdefault(tenant, set()).add(listener["hostname"])
        assert listener["protocol"] == "HTTPS" and listener["port"] == 443
        assert listener["tls"]["certificateRefs"] == [
            {"kind": "Secret", "name": f"tenant-{tenant}-tls"}
        ]
    routes = routes_flagger_writes(flagger_plan)
    assert {r["metadata"]["namespace"] for r in routes} == {"payments", "storefront"}
    for route in routes:
        tenant = namespaces[route["metadata"]["namespace"]][TENANT_LABEL]
        assert served_hosts(gateway, route, namespaces) == set(route["spec"]["hostnames"])
        # The same route, claiming every other tenant's hosts too, gains none of them.
        greedy = copy.deepcopy(route)
        greedy["spec"]["hostnames"] = sorted(set().union(*hosts_of.values()))
        assert served_hosts(gateway, greedy, namespaces) == hosts_of[tenant]
        # Pointed at the plain-HTTP listener, it is not admitted: only the redirect is.
        plain = copy.deepcopy(route)
        plain["spec"]["parentRefs"] = [
            {**ref, "sectionName": redirect["name"]} for ref in route["spec"]["parentRefs"]
        ]
        assert served_hosts(gateway, plain, namespaces) == set()
        # Moved to another tenant's namespace, it serves nothing of this tenant's.
        for other, labels in namespaces.items():
            if labels.get(TENANT_LABEL) not in (None, tenant):
                moved = copy.deepcopy(route)
                moved["metadata"]["namespace"] = other
                assert not served_hosts(gateway, moved, namespaces) & hosts_of[tenant]


def test_the_gateway_is_an_nlb_with_certificates_from_the_platform_issuer(
    flagger_plan: PlanRun,
) -> None:
    (proxy,) = kubernetes_objects(
        flagger_plan.by_type("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
    )
    kubernetes = proxy["spec"]["provider"]["kubernetes"]
    annotations = kubernetes["envoyService"]["annotations"]
    assert kubernetes["envoyService"]["type"] == "LoadBalancer"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert (
        "paved-road:environment=staging"
        in annotations["service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags"]
    )
    container = kubernetes["envoyDeployment"]["container"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["limits"] and container["resources"]["requests"]
    (gateway_class,) = kubernetes_objects(flagger_plan.by_type(GATEWAY_CLASS))
    assert gateway_class["spec"]["parametersRef"]["name"] == proxy["metadata"]["name"]
    certificates = kubernetes_objects(
        flagger_plan.by_type("kubernetes:cert-manager.io/v1:Certificate")
    )
    (gateway,) = kubernetes_objects(flagger_plan.by_type(GATEWAY))
    for certificate in certificates:
        require_crds()
        assert crd_errors(certificate) == []
        assert certificate["metadata"]["namespace"] == gateway_module.NAMESPACE
        assert certificate["spec"]["issuerRef"]["name"] == "letsencrypt"
        tenant = certificate["metadata"]["name"].removeprefix("tenant-").removesuffix("-tls")
        listed = {
            listener["hostname"]
            for listener in gateway["spec"]["listeners"]
            if listener["name"].startswith(f"{tenant}-")
        }
        assert set(certificate["spec"]["dnsNames"]) == listed
    # Envoy reaches the apps: their namespaces admit the gateway's pods.
    policies = by_name(flagger_plan, NETWORK_POLICY)
    assert ("payments", "allow-gateway") in policies
    assert ("payments", "allow-gateway") not in by_name(shipped_plan("staging"), NETWORK_POLICY)


# --------------------------------------------------------------------------------------------------
# The controllers: installed and secured like the platform's other services


def release_values(run: PlanRun, chart: str) -> dict[str, Any]:
    return one(r for r in run.by_type(RELEASE) if r.inputs["chart"].endswith(chart)).inputs[
        "values"
    ]


def test_flagger_is_pinned_restricted_and_queries_the_platform_prometheus(
    flagger_plan: PlanRun,
) -> None:
    release = one(r for r in flagger_plan.by_type(RELEASE) if r.inputs["chart"] == "flagger")
    assert release.inputs["version"] == "1.44.0" and release.inputs["namespace"] == "flagger-system"
    values = release.inputs["values"]
    assert values["meshProvider"] == "gatewayapi:v1"
    assert values["metricsServer"].endswith("monitoring.svc.cluster.local:9090")
    assert values["noCrossNamespaceRefs"] is True
    context = values["securityContext"]["context"]
    assert context["runAsNonRoot"] and context["runAsUser"] == 10001
    assert context["capabilities"] == {"drop": ["ALL"]} and context["readOnlyRootFilesystem"]
    assert values["resources"]["limits"]["memory"] == values["resources"]["requests"]["memory"]
    assert not values["leaderElection"]["enabled"]  # staging: one controller
    assert not [r for r in flagger_plan.by_type(RELEASE) if r.inputs["chart"] == "argo-rollouts"]
    assert not flagger_plan.by_type(TEMPLATE)
    eg = release_values(flagger_plan, "gateway-helm")
    assert eg["deployment"]["envoyGateway"]["securityContext"]["runAsNonRoot"] is True


def test_production_runs_two_of_each_controller() -> None:
    values = flagger.chart_values(
        production=True, prometheus_url="http://p:9090", metrics=True, cluster_name="c"
    )
    assert values["leaderElection"] == {"enabled": True, "replicaCount": 2}
    assert values["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert gateway_module.chart_values(True)["deployment"]["replicas"] == 2
    proxy = gateway_module.envoy_proxy_spec(True, {})["provider"]["kubernetes"]
    assert proxy["envoyDeployment"]["replicas"] == 2 and proxy["envoyPDB"] == {"minAvailable": 1}


def test_neither_controller_has_an_aws_role(flagger_plan: PlanRun) -> None:
    """Flagger and Envoy Gateway call no AWS API: the NLB is the load balancer controller's."""
    roles = [r.inputs.get("name", r.name) for r in flagger_plan.by_type("aws:iam/role:Role")]
    assert roles and not [r for r in roles if re.search("flagger|gateway|envoy|rollouts", r)]


def test_the_flagger_and_gateway_namespaces_are_reserved_and_fenced(
    flagger_plan: PlanRun,
) -> None:
    policies = by_name(flagger_plan, NETWORK_POLICY)
    for namespace in ("flagger-system", gateway_module.NAMESPACE):
        assert (namespace, "default-deny") in policies, namespace
    assert ("monitoring", "allow-flagger-queries") in policies
    from components.delivery import NAMESPACES

    assert {"argo-rollouts", "flagger-system", gateway_module.NAMESPACE} <= set(NAMESPACES)


# --------------------------------------------------------------------------------------------------
# Release notifications: the tenant's Slack receiver, by reference


def test_a_tenant_with_a_slack_receiver_hears_of_its_releases(flagger_plan: PlanRun) -> None:
    providers = by_name(flagger_plan, ALERT_PROVIDER)
    assert set(providers) == {("payments", "release-slack")}
    provider = providers[("payments", "release-slack")]
    assert provider["spec"] == {
        "type": "slack",
        "username": "flagger",
        "channel": "#payments-alerts",
        "secretRef": {"name": "release-slack"},
    }
    secret = by_name(flagger_plan, EXTERNAL_SECRET)[("payments", "release-slack")]["spec"]
    assert secret["secretStoreRef"] == {"name": "tenant-secrets", "kind": "SecretStore"}
    assert secret["data"] == [
        {
            "secretKey": "address",
            "remoteRef": {
                "key": "paved-road/staging/tenants/payments/alerts/slack",
                # The tenant file's `key`: the webhook URL's property in the JSON secret.
                "property": "webhookUrl",
            },
        }
    ]
    for (namespace, name), canary in by_name(flagger_plan, CANARY).items():
        alerts = canary["spec"]["analysis"].get("alerts")
        if namespace == "payments":
            # Every grade of Flagger's events: started, failed or rolled back, promoted.
            assert alerts == [
                {
                    "name": "release-slack",
                    "severity": "info",
                    "providerRef": {"name": "release-slack"},
                }
            ], name
        else:
            assert alerts is None, name  # storefront declares no receiver
    # The webhook URL itself is nowhere in the plan: only the secret's name is.
    text = yaml.safe_dump(kubernetes_objects(flagger_plan.resources))
    assert "alerts/slack" in text and "hooks.slack.com" not in text


def test_a_bare_secret_is_read_whole(tmp_path: Path) -> None:
    config = flagger_config()
    root = make_project(tmp_path, config, STACK)
    payments = yaml.safe_load((root / "tenants" / "payments.yaml").read_text())
    for receiver in payments["alerts"]["receivers"]:
        if receiver["type"] == "slack":
            receiver.pop("key")
    (root / "tenants" / "payments.yaml").write_text(yaml.safe_dump(payments))
    run = PlanEngine(STACK, root).run()
    secret = by_name(run, EXTERNAL_SECRET)[("payments", "release-slack")]["spec"]
    assert "property" not in secret["data"][0]["remoteRef"]


# --------------------------------------------------------------------------------------------------
# What Flagger cannot express: configuration errors naming file and field


def refused(tmp_path: Path, config: dict[str, Any], release: Optional[dict[str, Any]] = None):
    """The project with storefront-web's release replaced; the ConfigError's issues."""
    from components.config import ConfigError

    root = make_project(tmp_path, config, STACK)
    if release is not None:
        path = root / "tenants" / "storefront.yaml"
        storefront = yaml.safe_load(path.read_text())
        storefront["apps"][0]["release"] = release
        path.write_text(yaml.safe_dump(storefront))
    engine = PlanEngine(STACK, root)
    with pytest.raises(ConfigError) as raised:
        engine.run()
    assert engine.recorded == []
    return raised.value.issues


@pytest.mark.parametrize(
    ("steps", "field", "message"),
    [
        (
            [{"setWeight": 20}, {"pause": "5m"}, {"setWeight": 50}, {"pause": "10m"}],
            "apps[0].release.steps[3].pause",
            "10m differs from the first pause (5m at release.steps[1])",
        ),
        (
            [{"setWeight": 20}, {"pause": {}}, {"setWeight": 100}],
            "apps[0].release.steps[1].pause",
            "a pause without a duration waits for a person",
        ),
        (
            [{"setWeight": 20}, {"pause": "5m"}, {"pause": "5m"}, {"setWeight": 100}],
            "apps[0].release.steps[2].pause",
            "a pause must follow a setWeight",
        ),
        (
            [{"setWeight": 20}, {"setWeight": 50}, {"pause": "5m"}],
            "apps[0].release.steps[0].setWeight",
            "follow setWeight 20 with a pause",
        ),
        (
            [{"setWeight": 50}, {"pause": "5m"}, {"setWeight": 20}, {"pause": "5m"}],
            "apps[0].release.steps[2].setWeight",
            "Flagger only moves traffic forward",
        ),
        (
            [{"setWeight": 100}],
            "apps[0].release.steps",
            "Flagger needs at least one weight held by a pause",
        ),
    ],
)
def test_steps_flagger_cannot_express_are_refused(
    tmp_path: Path, steps: list[Any], field: str, message: str
) -> None:
    release = {"strategy": "canary", "steps": steps, "analysis": {"startingStep": 0}}
    issues = refused(tmp_path, flagger_config(), release)
    matching = [i for i in issues if i.file == "tenants/storefront.yaml" and i.field == field]
    assert matching and any(message in i.message for i in matching), issues


def test_the_same_steps_are_fine_under_argo_rollouts(tmp_path: Path) -> None:
    root = make_project(tmp_path, stack_config("staging"), "staging")
    path = root / "tenants" / "storefront.yaml"
    storefront = yaml.safe_load(path.read_text())
    storefront["apps"][0]["release"]["steps"] = [
        {"setWeight": 20},
        {"pause": "5m"},
        {"setWeight": 50},
        {"pause": "10m"},
    ]
    path.write_text(yaml.safe_dump(storefront))
    assert PlanEngine("staging", root).run().by_type(ROLLOUT)


def test_a_blue_green_switch_waiting_for_a_person_is_refused_in_production(
    tmp_path: Path,
) -> None:
    issues = refused(tmp_path, flagger_config("prod"))
    (issue,) = [i for i in issues if i.field == "apps[0].release.autoPromotion"]
    assert issue.file == "tenants/payments.yaml"
    assert "by default in production" in issue.message and "autoPromotion: true" in issue.message


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"paved-road:delivery": {"engine": "flagger", "analysisProvider": "datadog"}},
            "paved-road:delivery.analysisProvider",
            "'datadog' is not available with engine 'flagger'",
        ),
        (
            {"paved-road:core": {"certManager": {"enabled": False}}},
            "paved-road:delivery.engine",
            "'flagger' needs paved-road:core.certManager with an issuer",
        ),
    ],
)
def test_flagger_needs_prometheus_and_certificates(
    tmp_path: Path, change: dict[str, Any], field: str, message: str
) -> None:
    config = flagger_config()
    for key, value in change.items():
        if key == "paved-road:core":
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    issues = refused(tmp_path, config)
    matching = [i for i in issues if i.field == field]
    assert matching and any(message in i.message for i in matching), issues
    assert all(i.file == "stacks/Pulumi.staging.yaml" for i in matching)


def test_an_app_named_like_another_apps_primary_is_refused(tmp_path: Path) -> None:
    from components.config import ConfigError

    root = make_project(tmp_path, flagger_config(), STACK)
    path = root / "tenants" / "storefront.yaml"
    storefront = yaml.safe_load(path.read_text())
    storefront["apps"].append(
        {
            "name": "storefront-web-primary",
            "template": "api-service",
            "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/storefront/web:1.0.0",
        }
    )
    path.write_text(yaml.safe_dump(storefront))
    engine = PlanEngine(STACK, root)
    with pytest.raises(ConfigError) as raised:
        engine.run()
    (issue,) = raised.value.issues
    assert (issue.file, issue.field) == ("tenants/storefront.yaml", "apps[3].name")
    assert "canary version of app 'storefront-web'" in issue.message


def test_production_on_flagger_plans_clean_with_two_of_each_controller(tmp_path: Path) -> None:
    """Production on Flagger, once its blue/green app promotes without a person: HA controllers
    and data plane, and schema, CRD and policy checks (production's rules) pass."""
    root = make_project(tmp_path, flagger_config("prod"), "prod")
    # Production's policy options (the ECR repositories with immutable tags), as shipped.
    shutil.copytree(ROOT / "policies" / "config", root / "policies" / "config")
    path = root / "tenants" / "payments.yaml"
    payments = yaml.safe_load(path.read_text())
    payments["apps"][0]["release"]["autoPromotion"] = True
    path.write_text(yaml.safe_dump(payments))
    run = PlanEngine("prod", root).run()
    values = release_values(run, "flagger")
    assert values["leaderElection"] == {"enabled": True, "replicaCount": 2}
    assert values["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert release_values(run, "gateway-helm")["deployment"]["replicas"] == 2
    (proxy,) = kubernetes_objects(
        run.by_type("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
    )
    envoy = proxy["spec"]["provider"]["kubernetes"]
    assert envoy["envoyDeployment"]["replicas"] == 2 and envoy["envoyPDB"] == {"minAvailable": 1}
    for canary in kubernetes_objects(run.by_type(CANARY)):
        assert canary["spec"]["analysis"]["metrics"], canary["metadata"]["name"]
    result = pavedroad("plan", "prod", "-C", str(root), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No policy violations." in result.stdout


def test_more_hosts_than_a_gateway_has_listeners_are_refused(tmp_path: Path) -> None:
    config = flagger_config()
    granted = [f"shop{n}.staging.paved-road.example" for n in range(60)]
    config["paved-road:tenants"] = [
        {"name": "storefront", "hosts": granted} if t == "storefront" else t
        for t in config["paved-road:tenants"]
    ]
    issues = refused(tmp_path, config)
    (issue,) = [i for i in issues if i.field == "paved-road:delivery.engine"]
    assert issue.file == "stacks/Pulumi.staging.yaml"
    assert "which holds at most 64" in issue.message


def test_the_gateways_routes_are_published_in_dns(
    rollouts_plan: PlanRun, flagger_plan: PlanRun
) -> None:
    """external-dns reads the tenants' Gateway's HTTPRoutes, only those carrying the platform's
    annotation, which Flagger copies from each Canary's apex metadata."""
    values = release_values(flagger_plan, "external-dns")
    assert values["sources"] == ["ingress", "gateway-httproute"]
    assert {
        "--gateway-name=tenants",
        f"--gateway-namespace={gateway_module.NAMESPACE}",
        "--ignore-hostname-annotation",
    } <= set(values["extraArgs"])
    assert values["annotationFilter"] == "paved-road/external-dns=publish"
    for route in routes_flagger_writes(flagger_plan):
        assert route["metadata"]["annotations"] == {"paved-road/external-dns": "publish"}
    # Argo Rollouts' stacks keep publishing Ingresses only.
    assert release_values(rollouts_plan, "external-dns")["sources"] == ["ingress"]


def test_the_burn_rate_gate_carries_over_with_the_slos_objective(flagger_plan: PlanRun) -> None:
    """storefront-web gates its canary on its SLO's burn rate: under Flagger the same limit,
    with the objective as the MetricTemplate's variable."""
    canary = by_name(flagger_plan, CANARY)[("storefront", "storefront-web")]
    (burn,) = [m for m in canary["spec"]["analysis"]["metrics"] if m["name"] == analysis.BURN_RATE]
    assert burn["thresholdRange"] == {"max": 14.4}
    assert burn["templateVariables"] == {"objective": "0.999"}
    assert burn["templateRef"] == {"name": analysis.BURN_RATE}
