"""What every core service is built from: the cluster context, a labelled namespace, a pinned chart.

Each service (ingress, observability, secrets, policy, GitOps) is a small component that takes a
`ClusterContext` and its own config section, creates its namespace, its IRSA role and its Helm
release, and then any custom resources — which depend on the release, since the chart brings their
CRDs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.core.network_policies import Openings, openings_for, platform_network_policies
from components.iam import OidcProvider, irsa_role
from components.kubernetes import MANAGED_BY_LABELS
from components.versions import Chart

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
PLATFORM_LABEL = "paved-road/platform"
# A platform container under Pod Security `restricted`, stated in full (where a chart's defaults
# already say it) so the plan shows it.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True)
class ClusterContext:
    """What the core services need from the layers below, as plain values and outputs."""

    project: str
    environment: str
    prefix: str
    region: str
    account_id: pulumi.Output[str]
    production: bool
    cluster_name: str
    # The cluster's Kubernetes minor ("1.35"): what minor-bound software (the autoscaler) must match.
    kubernetes_version: str
    # The EKS cluster (pulumi-eks' component, not SecureCluster): depend on it for AWS resources
    # that need the cluster to exist (e.g. access entries), since `cluster_name` is a plain string
    # and carries no dependency. Depending on SecureCluster would also wait for the node groups.
    cluster: pulumi.Resource
    vpc_id: pulumi.Input[str]
    oidc: OidcProvider
    provider: k8s.Provider
    tags: dict[str, str]


def service_role(
    name: str,
    context: ClusterContext,
    *,
    role_suffix: str,
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """The IRSA role of one platform service account, named `<prefix>-<role_suffix>`."""
    return irsa_role(
        name,
        role_name=f"{context.prefix}-{role_suffix}",
        oidc=context.oidc,
        namespace=namespace,
        service_account=service_account,
        tags=context.tags,
        parent=parent,
        inline_policy=policy,
    )


def platform_namespace(
    name: str,
    namespace: str,
    *,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    enforce: PodSecurityLevel = "restricted",
    openings: Optional[Openings] = None,
) -> k8s.core.v1.Namespace:
    """A platform-owned namespace. Pod Security is enforced at `enforce` and always audited and
    warned at `restricted`, so any platform pod that needs more than `restricted` shows up.

    Its network is default-deny with the openings its components need: `openings`, or the
    namespace's entry in network_policies.OPENINGS (a namespace without one stops the program).
    """
    openings = openings if openings is not None else openings_for(namespace)
    created = k8s.core.v1.Namespace(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace,
            labels={
                **MANAGED_BY_LABELS,
                PLATFORM_LABEL: "true",
                "pod-security.kubernetes.io/enforce": enforce,
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        ),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
    platform_network_policies(name, created, openings, parent=parent, provider=provider)
    return created


def ordered_after(opts: Optional[pulumi.ResourceOptions]) -> list[pulumi.Resource]:
    """What CoreServices ordered this service after: specific resources (releases), never whole
    components. Pulumi does not hand a component's `depends_on` down to its children, so the
    children that must wait (charts, custom resources) name these dependencies themselves."""
    depends_on = opts.depends_on if opts is not None else None
    if depends_on is None:
        return []
    return list(depends_on) if isinstance(depends_on, Sequence) else [depends_on]


def helm_release(
    name: str,
    chart: Chart,
    *,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
    release_name: Optional[str] = None,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart. A failed upgrade rolls back by itself (`atomic`).

    `atomic` waits for the chart's workloads to be ready, which needs nodes: the Kubernetes
    provider itself waits for the node groups, so every release does. It does not wait for the
    CoreDNS add-on (started when the nodes are, ~1.5 min): the platform charts' readiness checks
    are local health endpoints and API-server calls (by IP), and controllers that call AWS at
    start retry until DNS answers. Name in
    `depends_on` only what the chart's objects need at install: the AWS Load Balancer
    Controller's release for any chart with a Service (its Service webhook fails closed), the
    release bringing a CRD the chart uses (a ServiceMonitor needs kube-prometheus-stack).
    """
    # An OCI registry names the chart by its full reference; a Helm repository by repo and name.
    oci = chart.repository.startswith("oci://")
    return k8s.helm.v3.Release(
        name,
        name=release_name or chart.name,
        chart=f"{chart.repository}/{chart.name}" if oci else chart.name,
        version=chart.version,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        namespace=namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        max_history=10,
        timeout=900,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )


def resources(cpu: str, memory: str, cpu_limit: Optional[str] = None) -> dict[str, Any]:
    """Requests and limits for a platform workload; memory limit = request (no OOM surprises)."""
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit or cpu, "memory": memory},
    }


def irsa_annotation(role_arn: pulumi.Input[str]) -> dict[str, Any]:
    return {"eks.amazonaws.com/role-arn": role_arn}
