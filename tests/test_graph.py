"""The dependency graph: each thing waits for the specific resources it needs, nothing more.

A dependency on a component is sent to the engine as one on every resource in it, so a layer
that depended on a whole layer below waited for all of it and `pulumi up` ran in series. These
tests pin what each resource really waits for, and why.
"""

from __future__ import annotations

from pavedroad.engine import PlanRun, RecordedResource
from pavedroad.plan import summary
from pavedroad.uptime import modelled_up_time
from tests.conftest import one, shipped_plan

RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER_POLICY = "kubernetes:kyverno.io/v1:ClusterPolicy"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
TENANT = "paved-road:tenants:Tenant"
ALB = "aws-load-balancer-controller"

# The other releases each platform chart waits for. Every chart creates Services, which the
# load balancer controller's webhook admits and fails closed on (eks-charts,
# stable/aws-load-balancer-controller/templates/webhook.yaml, `mservice.elbv2.k8s.aws`).
# With SSO (prod), Argo CD also waits for its client secret's ExternalSecret (External Secrets'
# CRD and webhook); argo-rollouts' chart creates a ServiceMonitor (kube-prometheus-stack's CRD).
# Kyverno waits for nothing else: its policies exclude the platform namespaces.
RELEASES_WAITED_FOR = {
    ALB: set(),
    "argo-rollouts": {ALB, "kube-prometheus-stack"},
    # OpenCost's ServiceMonitor needs the Prometheus Operator's CRD.
    "opencost": {ALB, "kube-prometheus-stack"},
    # The portal starts with its GitHub secret, an ExternalSecret (External Secrets' CRD and
    # webhook).
    "backstage": {ALB, "external-secrets"},
    # The OpenFeature operator's webhook certificates: cert-manager's Issuer and Certificate.
    "open-feature-operator": {ALB, "cert-manager"},
}
ARGO_CD_WITH_SSO = {ALB, "external-secrets"}

# The modelled `pulumi up` of the dev stack at the start of this work (commit 2bd582f), with
# the create times of `pavedroad/uptime.py`: Delivery waited for all of core, and Argo CD and
# Kyverno each for every earlier service, so five releases ran one after another.
DEV_UP_SECONDS_BEFORE = 26 * 60 + 50


def releases(plan: PlanRun) -> dict[str, RecordedResource]:
    return {r.urn: r for r in plan.by_type(RELEASE)}


def chart(release: RecordedResource) -> str:
    return release.inputs["chart"]


def in_tenant(resource: RecordedResource) -> bool:
    return f"${TENANT}$" in resource.urn


def test_every_tenant_service_and_ingress_waits_for_the_load_balancer_controller(
    plan: PlanRun,
) -> None:
    """Its webhooks on Services and Ingresses fail closed: created before the controller is
    ready, they are rejected on the first `pulumi up`."""
    controller = one(r for r in plan.by_type(RELEASE) if chart(r) == ALB)
    admitted = [
        r
        for r in plan.resources
        if in_tenant(r)
        and r.type in ("kubernetes:core/v1:Service", "kubernetes:networking.k8s.io/v1:Ingress")
    ]
    assert admitted, "the shipped tenants have Services and Ingresses"
    for resource in admitted:
        assert controller.urn in resource.dependencies, resource.name


def test_each_platform_release_waits_only_for_the_releases_it_needs(plan: PlanRun) -> None:
    by_urn = releases(plan)
    sso = any(
        r.type == EXTERNAL_SECRET and r.name == "gitops-sso-client-secret" for r in plan.resources
    )
    for release in by_urn.values():
        waited = {chart(by_urn[urn]) for urn in release.dependencies if urn in by_urn}
        expected = RELEASES_WAITED_FOR.get(chart(release), {ALB})
        if chart(release) == "argo-cd" and sso:
            expected = ARGO_CD_WITH_SSO
        assert waited == expected, chart(release)


def test_delivery_does_not_wait_for_kyverno_argo_cd_or_their_objects(plan: PlanRun) -> None:
    rollouts = one(r for r in plan.by_type(RELEASE) if chart(r) == "argo-rollouts")
    unrelated = {
        r.urn
        for r in plan.resources
        if "$paved-road:core:Policy" in r.urn or "$paved-road:core:GitOps" in r.urn
    }
    assert unrelated
    assert not unrelated & set(rollouts.dependencies)


def test_tenant_access_entries_wait_for_the_eks_cluster_not_its_node_groups(
    plan: PlanRun,
) -> None:
    """An access entry is a control-plane object: it needs the cluster, not nodes, add-ons or
    the Kubernetes provider that SecureCluster also holds."""
    cluster = one(plan.by_type("eks:index:Cluster"))
    entries = [r for r in plan.by_type("aws:eks/accessEntry:AccessEntry") if in_tenant(r)]
    assert entries
    for entry in entries:
        assert set(entry.dependencies) == {cluster.urn}, entry.name


def test_tenant_workloads_are_created_after_the_baseline_policies(plan: PlanRun) -> None:
    """So they are admitted (in production: enforced) by the baseline from the first `up`. The
    delivery layer's analysis guardrail admits no workload, so they do not wait for it (nor for
    the rollouts chart it waits for); the flag guardrail admits flag-reading pods, which wait for
    it (tests/test_flags.py)."""
    policies = {r.urn for r in plan.by_type(CLUSTER_POLICY) if "$paved-road:core:" in r.urn}
    delivery = {
        r.urn for r in plan.by_type(CLUSTER_POLICY) if "$paved-road:delivery:Delivery$" in r.urn
    }
    assert policies and delivery
    workloads = [
        r
        for r in plan.resources
        if in_tenant(r)
        and r.type
        in (
            "kubernetes:apps/v1:Deployment",
            "kubernetes:batch/v1:CronJob",
            "kubernetes:argoproj.io/v1alpha1:Rollout",
        )
    ]
    assert workloads
    for workload in workloads:
        assert policies <= set(workload.dependencies), workload.name
        assert not delivery & set(workload.dependencies), workload.name


# Guardrails that match another chart's kinds also wait for that chart (its CRDs).
GUARDRAIL_CHARTS = {
    "restrict-tenant-secret-stores": "external-secrets",
    "restrict-tenant-analysis": "argo-rollouts",
    "restrict-tenant-flags": "open-feature-operator",
}


def test_kyverno_policies_wait_only_for_kyverno() -> None:
    plan = shipped_plan("dev")
    releases = {chart(r): r.urn for r in plan.by_type(RELEASE)}
    for policy in plan.by_type(CLUSTER_POLICY):
        also = GUARDRAIL_CHARTS.get(policy.inputs["metadata"]["name"])
        expected = {releases["kyverno"], *([releases[also]] if also else [])}
        assert set(policy.dependencies) == expected, policy.name


def test_the_dev_stack_comes_up_faster_than_before() -> None:
    """The modelled `up` is shorter, and no longer runs Argo CD and Kyverno on the way."""
    up = modelled_up_time(shipped_plan("dev").resources)
    assert up.seconds < DEV_UP_SECONDS_BEFORE
    releases_on_path = [step.name for step in up.chain if step.type == RELEASE]
    assert "policy-kyverno" not in releases_on_path
    assert "gitops-argocd" not in releases_on_path


def test_the_plan_summary_prints_the_modelled_time_and_its_chain() -> None:
    plan = shipped_plan("dev")
    up = modelled_up_time(plan.resources)
    text = summary(plan)
    assert "Modelled `pulumi up` from an empty account: " in text
    chain = text[text.index("Critical path") :].splitlines()
    timed = [step for step in up.chain if step.seconds > 0]
    assert [line.split()[0] for line in chain[2 : 2 + len(timed)]] == [s.name for s in timed]
