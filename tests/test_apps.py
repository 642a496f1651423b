"""App templates from tenant files: safe pods, safe releases, valid objects — and bad apps refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Optional

import kubernetes_validate
import pytest
import yaml

from components.apps_config import CLASSIC_STEPS, AppConfig, rendered_objects
from components.config import ConfigError
from pavedroad.diff import diff_plans
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from pavedroad.plan import plan_document
from tests.conftest import assert_refused, make_project, one, pavedroad, shipped_plan, stack_config
from tests.crds import crd_errors, require_crds
from tests.test_tenants import tenants_of

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRON_JOB = "kubernetes:batch/v1:CronJob"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
ANALYSIS_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:ClusterAnalysisTemplate"
APP_LABEL = "app.kubernetes.io/name"
TENANT_LABEL = "paved-road/tenant"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bad/api:1.0.0"
# What the platform's ClusterAnalysisTemplates declare (the delivery layer's contract).
TEMPLATE_ARGS = {
    "success-rate": {"service-name", "namespace", "threshold"},
    "latency-p99": {"service-name", "namespace", "threshold-ms"},
    "kafka-consumer-lag": {"consumer-group", "topic", "max-lag"},
    "burn-rate": {"service-name", "namespace", "objective", "max-burn-rate"},
}


# --------------------------------------------------------------------------------------------------
# Helpers


def app_resources(plan: PlanRun, app: Optional[str] = None) -> list[RecordedResource]:
    """The Kubernetes objects apps render: tenant children labelled with an app name."""
    found = []
    for resource in plan.resources:
        if "paved-road:tenants:Tenant$kubernetes:" not in resource.urn:
            continue
        labels = (resource.inputs.get("metadata") or {}).get("labels") or {}
        if APP_LABEL in labels and (app is None or labels[APP_LABEL] == app):
            found.append(resource)
    return found


def manifest(resource: RecordedResource) -> dict[str, Any]:
    inputs = dict(resource.inputs)
    return {"apiVersion": inputs.pop("apiVersion"), "kind": inputs.pop("kind"), **inputs}


def named(
    plan: PlanRun, type_: str, name: str, namespace: Optional[str] = None
) -> RecordedResource:
    return one(
        r
        for r in plan.by_type(type_)
        if r.inputs["metadata"]["name"] == name
        and namespace in (None, r.inputs["metadata"].get("namespace"))
    )


def pod_templates(plan: PlanRun) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, name, pod template) of every app workload."""
    found = []
    for resource in app_resources(plan):
        spec = resource.inputs.get("spec") or {}
        name = resource.inputs["metadata"]["name"]
        if resource.type in (ROLLOUT, DEPLOYMENT):
            found.append((resource.inputs["kind"], name, spec["template"]))
        elif resource.type == CRON_JOB:
            found.append(("CronJob", name, spec["jobTemplate"]["spec"]["template"]))
    return found


def rollout_strategy(plan: PlanRun, name: str) -> dict[str, Any]:
    return named(plan, ROLLOUT, name).inputs["spec"]["strategy"]


def args_of(analysis: dict[str, Any]) -> dict[str, str]:
    return {arg["name"]: arg["value"] for arg in analysis["args"]}


def project_with_apps(
    tmp_path: Path, apps: list[dict[str, Any]], stack: str = "dev", **tenant: Any
) -> Path:
    """The shipped stack plus a tenant `bad` whose file declares `apps`."""
    config = copy.deepcopy(stack_config(stack))
    config["paved-road:tenants"].append("bad")
    root = make_project(tmp_path, config, stack)
    document = {
        "name": "bad",
        "costCenter": "cc-1",
        "domain": "commerce",
        "owners": ["arn:aws:iam::123456789012:role/bad-admins"],
        "namespaces": ["bad", "bad-jobs"],
        **tenant,
        "apps": apps,
    }
    (root / "tenants" / "bad.yaml").write_text(yaml.safe_dump(document))
    return root


def api(**fields: Any) -> dict[str, Any]:
    return {"name": "api", "template": "api-service", "image": IMAGE, **fields}


# --------------------------------------------------------------------------------------------------
# The shipped dev plan


def test_dev_tenants_use_every_template_and_every_strategy() -> None:
    apps = [app for tenant in tenants_of("dev") for app in tenant.apps]
    assert {app.template for app in apps} == {"api-service", "batch-job", "kafka-consumer"}
    strategies = {app.release.strategy for app in apps if app.template == "api-service"}
    assert strategies == {"canary", "blueGreen", "serviceSwitch"}
    plan = shipped_plan("dev")
    kinds = {
        next(iter(r.inputs["spec"]["strategy"])) for r in app_resources(plan) if r.type == ROLLOUT
    }
    assert kinds == {"canary", "blueGreen"}
    assert plan.by_type(CRON_JOB) and app_resources(plan) and plan.by_type(DEPLOYMENT)
    consumers = [a for a in apps if a.template == "kafka-consumer"]
    assert consumers and all(named(plan, ROLLOUT, a.name) for a in consumers)


def test_every_pod_passes_restricted_with_resources_probes_and_the_tenant_label(
    stack: str,
) -> None:
    plan = shipped_plan(stack)
    templates = pod_templates(plan)
    assert {kind for kind, _, _ in templates} == {"Rollout", "Deployment", "CronJob"}
    for kind, name, template in templates:
        spec, labels = template["spec"], template["metadata"]["labels"]
        assert labels[TENANT_LABEL], name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["serviceAccountName"] == "workload"
        assert spec["automountServiceAccountToken"] is False
        assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in spec["volumes"]
        (container,) = spec["containers"]
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"] == {"drop": ["ALL"]}, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["runAsNonRoot"] is True
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert set(container["resources"]) == {"requests", "limits"}
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}, name
        assert not container["image"].endswith(":latest")
        if kind == "CronJob":
            assert "livenessProbe" not in container and "readinessProbe" not in container
            assert spec["restartPolicy"] == "Never"
        else:
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["port"] == "http", name
            assert container["ports"][0]["name"] == "http"


def test_every_app_object_validates_against_its_schema(stack: str) -> None:
    require_crds()
    plan = shipped_plan(stack)
    version = stack_config(stack)["paved-road:cluster"]["version"]
    custom = {"Rollout", "ServiceMonitor"}
    objects = [manifest(r) for r in app_resources(plan)]
    assert {m["kind"] for m in objects} >= custom | {"Service", "Ingress", "CronJob"}
    for obj in objects:
        if obj["kind"] in custom:
            assert crd_errors(obj) == [], obj["metadata"]["name"]
        else:
            kubernetes_validate.validate(obj, f"{version}.0", strict=True)
    # The CRD types a Rollout's pod template only loosely: check it as the core PodTemplateSpec.
    for obj in (m for m in objects if m["kind"] == "Rollout"):
        as_deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": obj["metadata"],
            "spec": {"selector": obj["spec"]["selector"], "template": obj["spec"]["template"]},
        }
        kubernetes_validate.validate(as_deployment, f"{version}.0", strict=True)


def test_each_app_renders_exactly_the_objects_its_names_are_checked_for() -> None:
    """The collision check in apps_config knows every name a template renders."""
    plan = shipped_plan("dev")
    for tenant in tenants_of("dev"):
        for app in tenant.apps:
            rendered = {
                (r.inputs["kind"], r.inputs["metadata"]["name"])
                for r in app_resources(plan, app.name)
            }
            assert rendered == set(rendered_objects(app)), app.name


def test_app_objects_belong_to_their_tenant_and_wait_for_namespace_and_identity() -> None:
    plan = shipped_plan("dev")
    provider = one(plan.by_type("pulumi:providers:kubernetes"))
    for tenant in tenants_of("dev"):
        component = one(
            r for r in plan.by_type("paved-road:tenants:Tenant") if r.name == tenant.name
        )
        for app in tenant.apps:
            namespace = app.namespace or tenant.namespace_names[0]
            ns = named(plan, "kubernetes:core/v1:Namespace", namespace)
            account = named(plan, "kubernetes:core/v1:ServiceAccount", "workload", namespace)
            for resource in app_resources(plan, app.name):
                assert resource.parent == component.urn
                assert resource.provider.startswith(provider.urn)
                assert resource.inputs["metadata"]["namespace"] == namespace
                assert resource.name.startswith(f"{tenant.name}/{app.name}/")
                assert {ns.urn, account.urn} <= set(resource.dependencies), resource.name


def test_rollouts_wait_for_the_delivery_layer_and_the_services_they_name() -> None:
    """The rollout controller's release brings the Rollout CRD; the ClusterAnalysisTemplates are
    what the Rollouts' analysis names. Nothing else is needed: the layer's Kyverno policy
    (`restrict-tenant-analysis`) only refuses what tenants write themselves, and the controller's
    runs from these templates pass it whenever it arrives."""
    plan = shipped_plan("dev")
    # The rollout controller's layer; a flag-reading app also waits for the flag operator
    # (tests/test_flags.py).
    rollouts = "$paved-road:delivery:Delivery$"
    in_delivery = [r for r in plan.resources if r.custom and rollouts in r.urn]
    needed = {
        r.urn for r in in_delivery if r.type in ("kubernetes:helm.sh/v3:Release", ANALYSIS_TEMPLATE)
    }
    assert len(needed) == 5, "the release and the four analysis templates"
    for rollout in (r for r in app_resources(plan) if r.type == ROLLOUT):
        delivery = {urn for urn in rollout.dependencies if rollouts in urn}
        assert delivery == needed, rollout.name
        strategy = next(iter(rollout.inputs["spec"]["strategy"].values()))
        namespace = rollout.inputs["metadata"]["namespace"]
        referenced = [
            strategy[key]
            for key in ("stableService", "canaryService", "activeService", "previewService")
            if key in strategy
        ]
        alb = strategy.get("trafficRouting", {}).get("alb")
        for name in referenced:
            service = named(plan, SERVICE, name, namespace)
            assert service.urn in rollout.dependencies
            # Its readiness comes from the Rollout: Pulumi must not wait for it first.
            assert service.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
        if alb:
            ingress = named(plan, INGRESS, alb["ingress"])
            assert ingress.urn in rollout.dependencies
            assert ingress.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


def test_canary_routes_alb_traffic_through_the_ingress() -> None:
    plan = shipped_plan("dev")
    canary = rollout_strategy(plan, "storefront-web")["canary"]
    alb = canary["trafficRouting"]["alb"]
    assert alb == {"ingress": "storefront-web", "rootService": "storefront-web", "servicePort": 80}
    ingress = named(plan, INGRESS, "storefront-web").inputs
    assert ingress["spec"]["ingressClassName"] == "alb"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
    assert path["backend"]["service"] == {
        "name": alb["rootService"],
        "port": {"name": "use-annotation"},
    }
    stable = named(plan, SERVICE, canary["stableService"]).inputs["spec"]
    assert stable["ports"][0]["port"] == alb["servicePort"]


def test_analysis_args_name_the_service_under_test_and_fill_every_template_arg() -> None:
    plan = shipped_plan("dev")
    declared = {
        r.inputs["metadata"]["name"]: {arg["name"] for arg in r.inputs["spec"]["args"]}
        for r in plan.by_type("kubernetes:argoproj.io/v1alpha1:ClusterAnalysisTemplate")
    }
    assert declared == TEMPLATE_ARGS, "the platform's templates take the agreed arguments"
    analyses = []
    for rollout in (r for r in app_resources(plan) if r.type == ROLLOUT):
        strategy = rollout.inputs["spec"]["strategy"]
        namespace = rollout.inputs["metadata"]["namespace"]
        if "canary" in strategy:
            analysis, service = strategy["canary"]["analysis"], strategy["canary"].get(
                "canaryService"
            )
        else:
            blue_green = strategy["blueGreen"]
            analysis, service = blue_green["prePromotionAnalysis"], blue_green["previewService"]
        args = args_of(analysis)
        templates = [t["templateName"] for t in analysis["templates"]]
        assert all(t["clusterScope"] is True for t in analysis["templates"])
        assert set(args) == set().union(*(declared[t] for t in templates)), rollout.name
        assert all(value for value in args.values()), "no argument may be empty"
        if "service-name" in args:
            assert args["service-name"] == service, rollout.name
            assert args["namespace"] == namespace
        analyses.append((rollout.inputs["metadata"]["name"], templates, args))
    by_app = {name: (templates, args) for name, templates, args in analyses}
    assert by_app["storefront-web"] == (
        ["success-rate", "latency-p99", "burn-rate"],
        {
            "service-name": "storefront-web-canary",
            "namespace": "storefront",
            "threshold": "0.99",
            "threshold-ms": "500",
            # Its SLO's availability (99.9%) as a ratio, and its tenant file's limit.
            "objective": "0.999",
            "max-burn-rate": "14.4",
        },
    )
    assert by_app["checkout-api"][1]["service-name"] == "checkout-api-preview"
    assert by_app["ledger-consumer"] == (
        ["kafka-consumer-lag"],
        {"consumer-group": "ledger-writer", "topic": "payments.ledger", "max-lag": "500"},
    )


def test_service_monitors_scrape_the_services_the_analysis_names() -> None:
    plan = shipped_plan("dev")
    monitors = [r for r in app_resources(plan) if r.type == SERVICE_MONITOR]
    assert monitors
    for monitor in monitors:
        spec, namespace = monitor.inputs["spec"], monitor.inputs["metadata"]["namespace"]
        assert spec["namespaceSelector"] == {"matchNames": [namespace]}
        assert spec["endpoints"][0]["path"] == "/metrics"
        selected = [
            r
            for r in plan.by_type(SERVICE)
            if r.inputs["metadata"]["namespace"] == namespace
            and spec["selector"]["matchLabels"].items() <= r.inputs["metadata"]["labels"].items()
        ]
        assert selected
        for service in selected:
            ports = {p["name"] for p in service.inputs["spec"]["ports"]}
            assert spec["endpoints"][0]["port"] in ports
    names = {
        r.inputs["metadata"]["name"]
        for m in monitors
        for r in plan.by_type(SERVICE)
        if m.inputs["spec"]["selector"]["matchLabels"].items()
        <= r.inputs["metadata"]["labels"].items()
    }
    assert {"storefront-web-canary", "checkout-api-preview"} <= names


def test_autoscalers_target_the_workload_and_rollouts_leave_replicas_to_them() -> None:
    plan = shipped_plan("dev")
    autoscalers = [r for r in app_resources(plan) if r.type == HPA]
    assert autoscalers
    for autoscaler in autoscalers:
        spec = autoscaler.inputs["spec"]
        ref = spec["scaleTargetRef"]
        type_ = ROLLOUT if ref["kind"] == "Rollout" else DEPLOYMENT
        if ref["kind"] == "Rollout":
            assert ref["apiVersion"] == "argoproj.io/v1alpha1"
        workload = named(plan, type_, ref["name"])
        assert "replicas" not in workload.inputs["spec"], "the autoscaler owns the scale"
        assert workload.urn in autoscaler.dependencies
        assert spec["minReplicas"] <= spec["maxReplicas"]
    storefront = named(plan, HPA, "storefront-web").inputs["spec"]
    assert (storefront["minReplicas"], storefront["maxReplicas"]) == (4, 8)
    budget = named(plan, "kubernetes:policy/v1:PodDisruptionBudget", "storefront-web").inputs
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == {"matchLabels": {APP_LABEL: "storefront-web"}}


def test_batch_job_is_a_cron_job_with_safe_defaults() -> None:
    plan = shipped_plan("dev")
    spec = named(plan, CRON_JOB, "sitemap").inputs["spec"]
    assert spec["schedule"] == "0 4 * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (2, 3600)
    settlement = named(plan, CRON_JOB, "settlement").inputs
    assert settlement["metadata"]["namespace"] == "payments-jobs"
    assert settlement["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 5400


def test_spot_apps_tolerate_the_spot_taint_and_prefer_spot_nodes() -> None:
    from components.kubernetes import CAPACITY_TYPE_KEY, SPOT_TAINT

    plan = shipped_plan("staging")
    spot = named(plan, CRON_JOB, "settlement").inputs["spec"]["jobTemplate"]["spec"]["template"]
    assert spot["spec"]["tolerations"] == [{**SPOT_TAINT, "operator": "Equal"}]
    (preferred,) = spot["spec"]["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert preferred["preference"]["matchExpressions"] == [
        {"key": CAPACITY_TYPE_KEY, "operator": "In", "values": ["spot"]}
    ]
    # The stack's SPOT node group carries exactly the taint tolerated and the label preferred.
    groups = {
        g.inputs["nodeGroupNamePrefix"]: g.inputs
        for g in plan.by_type("aws:eks/nodeGroup:NodeGroup")
    }
    spot_group = groups["paved-road-staging-spot-"]
    assert spot_group["capacityType"] == "SPOT"
    assert spot_group["labels"][CAPACITY_TYPE_KEY] == "spot"
    assert spot_group["taints"] == [{**SPOT_TAINT, "effect": "NO_SCHEDULE"}]
    system = groups["paved-road-staging-system-"]
    assert system["labels"][CAPACITY_TYPE_KEY] == "on-demand" and not system.get("taints")
    # Apps that did not ask stay off spot: no toleration anywhere else.
    for _, name, template in pod_templates(plan):
        if name != "settlement":
            assert "tolerations" not in template["spec"], name


def test_kafka_consumer_is_a_replica_weighted_canary() -> None:
    canary = rollout_strategy(shipped_plan("dev"), "ledger-consumer")["canary"]
    assert "trafficRouting" not in canary and "canaryService" not in canary
    assert canary["steps"] == [step.manifest() for step in CLASSIC_STEPS]
    assert canary["analysis"]["startingStep"] == 2


# --------------------------------------------------------------------------------------------------
# Defaults and environments


def test_name_template_and_image_alone_give_the_classic_analysed_canary(tmp_path: Path) -> None:
    plan = PlanEngine("dev", project_with_apps(tmp_path, [api()])).run()
    rollout = named(plan, ROLLOUT, "api").inputs["spec"]
    canary = rollout["strategy"]["canary"]
    assert canary["steps"] == [
        {"setWeight": 20},
        {"pause": {"duration": "10m"}},
        {"setWeight": 50},
        {"pause": {"duration": "10m"}},
        {"setWeight": 100},
    ]
    analysis = canary["analysis"]
    assert analysis["startingStep"] == 2
    assert [t["templateName"] for t in analysis["templates"]] == ["success-rate"]
    assert args_of(analysis) == {
        "service-name": "api-canary",
        "namespace": "bad",
        "threshold": "0.99",
    }
    assert canary["trafficRouting"]["alb"]["ingress"] == "api"
    assert rollout["progressDeadlineAbort"] is True
    assert named(plan, HPA, "api").inputs["spec"]["minReplicas"] == 2


def test_blue_green_waits_for_a_person_in_production_only(tmp_path: Path) -> None:
    prod = rollout_strategy(shipped_plan("prod"), "checkout-api")["blueGreen"]
    dev = rollout_strategy(shipped_plan("dev"), "checkout-api")["blueGreen"]
    assert prod["autoPromotionEnabled"] is False
    assert dev["autoPromotionEnabled"] is True
    assert prod["prePromotionAnalysis"] == dev["prePromotionAnalysis"]
    explicit = api(release={"strategy": "blueGreen", "autoPromotion": True})
    plan = PlanEngine("prod", project_with_apps(tmp_path, [explicit], "prod")).run()
    assert rollout_strategy(plan, "api")["blueGreen"]["autoPromotionEnabled"] is True


def test_switching_active_changes_exactly_the_service_selector(tmp_path: Path) -> None:
    head_root = make_project(tmp_path, stack_config("dev"), "dev")
    search = yaml.safe_load((head_root / "tenants" / "search.yaml").read_text())
    (app,) = search["apps"]
    assert app["release"]["active"] == "green"
    app["release"]["active"] = "blue"
    (head_root / "tenants" / "search.yaml").write_text(yaml.safe_dump(search))
    base = plan_document(shipped_plan("dev"))
    head = plan_document(PlanEngine("dev", head_root).run())
    diff = diff_plans(base, head)
    assert not diff.added and not diff.removed
    (change,) = diff.changed
    assert change.type == SERVICE and change.name == "search/search-api/service"
    (selector,) = change.inputs
    assert "paved-road/color" in selector.path and selector.path.startswith("spec.selector")
    assert (selector.old, selector.new) == ("green", "blue")
    plan = shipped_plan("dev")
    blue, green = (named(plan, DEPLOYMENT, f"search-api-{c}").inputs for c in ("blue", "green"))
    assert blue["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":5.2.0")
    assert green["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":5.3.0")
    assert not [r for r in app_resources(plan, "search-api") if r.type == ROLLOUT]


def test_without_ingress_a_canary_has_no_traffic_routing(tmp_path: Path) -> None:
    root = project_with_apps(tmp_path, [api()])
    config = yaml.safe_load((root / "stacks" / "Pulumi.dev.yaml").read_text())
    config["config"]["paved-road:core"]["ingress"] = {"enabled": False}
    # The portal is served through the ALB: it goes with the controller.
    config["config"]["paved-road:core"]["portal"] = {"enabled": False}
    (root / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump(config))
    plan = PlanEngine("dev", root).run()
    assert not [r for r in app_resources(plan) if r.type == INGRESS]
    canary = rollout_strategy(plan, "api")["canary"]
    assert "trafficRouting" not in canary and canary["canaryService"] == "api-canary"


def test_opt_outs_are_explicit_and_visible(tmp_path: Path) -> None:
    app = api(
        readOnlyRootFilesystem=False,
        autoscaling={"enabled": False},
        release={"analysis": {"enabled": False}},
        runAsUser=10001,
    )
    plan = PlanEngine("dev", project_with_apps(tmp_path, [app])).run()
    rollout = named(plan, ROLLOUT, "api").inputs["spec"]
    pod = rollout["template"]["spec"]
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False
    assert pod["securityContext"]["runAsUser"] == 10001
    assert rollout["replicas"] == 2 and "analysis" not in rollout["strategy"]["canary"]
    assert not [r for r in app_resources(plan, "api") if r.type == HPA]


# --------------------------------------------------------------------------------------------------
# Bad apps

BAD_APPS: dict[str, tuple[list[dict[str, Any]], str, str]] = {
    "latest tag": ([api(image=IMAGE.replace(":1.0.0", ":latest"))], "apps[0].image", "latest"),
    "no tag": ([api(image=IMAGE.replace(":1.0.0", ""))], "apps[0].image", "no tag or digest"),
    "weight above 100": (
        [api(release={"steps": [{"setWeight": 120}]})],
        "apps[0].release.steps[0].setWeight",
        "0 to 100",
    ),
    "negative weight": (
        [api(release={"steps": [{"setWeight": -5}, {"setWeight": 100}]})],
        "apps[0].release.steps[0].setWeight",
        "0 to 100",
    ),
    "unknown template": ([api(template="web-app")], "apps[0].template", "api-service"),
    "duplicate name": ([api(), api()], "apps[1].name", "already the name of apps[0]"),
    "bad pause": (
        [api(release={"steps": [{"setWeight": 10}, {"pause": "5min"}]})],
        "apps[0].release.steps[1].pause",
        "'5min' is not a pause duration",
    ),
    "step with two actions": (
        [api(release={"steps": [{"setWeight": 10, "pause": "5m"}]})],
        "apps[0].release.steps[0]",
        "either",
    ),
    "analysis after the last step": (
        [
            api(
                release={
                    "steps": [{"setWeight": 50}, {"pause": "1m"}],
                    "analysis": {"startingStep": 2},
                }
            )
        ],
        "apps[0].release.analysis.startingStep",
        "beyond the last step",
    ),
    "success rate as a percentage": (
        [api(release={"analysis": {"successRate": 99}})],
        "apps[0].release.analysis.successRate",
        "not a ratio",
    ),
    "namespace of no tenant": ([api(namespace="payments")], "apps[0].namespace", "bad, bad-jobs"),
    "field of another template": (
        [api(schedule="0 3 * * *")],
        "apps[0].schedule",
        "not a field of template api-service",
    ),
    "batch job without schedule": (
        [{"name": "job", "template": "batch-job", "image": IMAGE}],
        "apps[0].schedule",
        "required by template batch-job",
    ),
    "consumer with blue/green": (
        [
            {
                "name": "consumer",
                "template": "kafka-consumer",
                "image": IMAGE,
                "kafka": {"topic": "orders"},
                "release": {"strategy": "blueGreen"},
            }
        ],
        "apps[0].release.strategy",
        "expected canary",
    ),
    "steps on blue/green": (
        [api(release={"strategy": "blueGreen", "steps": [{"setWeight": 50}]})],
        "apps[0].release.steps",
        "applies to strategy canary",
    ),
    "requests above limits": (
        [api(resources={"requests": {"cpu": "2", "memory": "128Mi"}})],
        "apps[0].resources.requests.cpu",
        "more than the limit 500m",
    ),
    "two apps rendering one Service": (
        [api(name="web"), api(name="web-canary", release={"strategy": "serviceSwitch"})],
        "apps[1].name",
        "Service 'web-canary'",
    ),
    "privileged port": ([api(port=80)], "apps[0].port", "unprivileged"),
    "one replica on spot": (
        [api(replicas=1, capacity="spot", autoscaling={"enabled": False})],
        "apps[0].capacity",
        "replicas of 2 or more",
    ),
    "unknown capacity": ([api(capacity="reserved")], "apps[0].capacity", "'spot'"),
    "app name too long": ([api(name="a" * 41)], "apps[0].name", "at most 40"),
}


@pytest.mark.parametrize("case", sorted(BAD_APPS))
def test_a_bad_app_is_refused_with_file_and_field(case: str, tmp_path: Path) -> None:
    apps, field, message = BAD_APPS[case]
    assert_refused(
        PlanEngine("dev", project_with_apps(tmp_path, apps)), "tenants/bad.yaml", field, message
    )


def test_an_app_override_error_names_the_stack_file(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:tenants"] = [
        "payments",
        "search",
        {"name": "storefront", "apps": [api(namespace="elsewhere")]},
    ]
    engine = PlanEngine("dev", make_project(tmp_path, config, "dev"))
    with pytest.raises(ConfigError) as raised:
        engine.run()
    fields = {(i.file, i.field) for i in raised.value.issues}
    assert ("stacks/Pulumi.dev.yaml", "paved-road:tenants[2].apps[0].namespace") in fields
    assert engine.recorded == []


def test_cli_refuses_a_latest_image_with_exit_2(tmp_path: Path) -> None:
    root = project_with_apps(tmp_path, [api(image="nginx:latest")])
    result = pavedroad("plan", "dev", "-C", str(root))
    assert result.returncode == 2
    assert "tenants/bad.yaml: apps[0].image: 'nginx:latest' uses the mutable tag" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "build").exists()


def test_images_pinned_by_digest_or_tag_are_accepted() -> None:
    digest = "sha256:" + "a" * 64
    for image in (f"{IMAGE}@{digest}", "registry.local:5000/team/app:v2", f"app@{digest}"):
        assert AppConfig.model_validate(api(image=image)).image == image
