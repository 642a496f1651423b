"""Every version the platform installs, pinned in one place.

Nothing floats: an upgrade is a one-line change here that a reviewer sees in the plan diff, never a
side effect of re-running `pulumi up` on a later day. EKS add-on builds are tied to a Kubernetes
minor, so they are pinned per supported minor; moving the cluster to a new minor moves its add-ons
with it, in the same reviewed change.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

# Kubernetes minors this release of Paved Road is tested against: EKS standard support.
DEFAULT_KUBERNETES_VERSION = "1.35"


def _addons(**builds: str) -> Mapping[str, str]:
    return MappingProxyType({name.replace("_", "-"): build for name, build in builds.items()})


# EKS managed add-ons, as `aws eks describe-addon-versions` names their builds, per minor.
EKS_ADDONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "1.34": _addons(
            vpc_cni="v1.21.1-eksbuild.3",
            coredns="v1.13.2-eksbuild.1",
            kube_proxy="v1.34.3-eksbuild.5",
            aws_ebs_csi_driver="v1.56.0-eksbuild.1",
            eks_pod_identity_agent="v1.3.10-eksbuild.2",
        ),
        "1.35": _addons(
            vpc_cni="v1.21.1-eksbuild.3",
            coredns="v1.13.2-eksbuild.1",
            kube_proxy="v1.35.0-eksbuild.2",
            aws_ebs_csi_driver="v1.57.1-eksbuild.1",
            eks_pod_identity_agent="v1.3.10-eksbuild.3",
        ),
        "1.36": _addons(
            vpc_cni="v1.22.4-eksbuild.3",
            coredns="v1.14.3-eksbuild.16",
            kube_proxy="v1.36.0-eksbuild.21",
            aws_ebs_csi_driver="v1.63.1-eksbuild.1",
            eks_pod_identity_agent="v1.3.10-eksbuild.3",
        ),
    }
)

# The EKS-optimized AL2023 AMI release each node group runs, per minor (`releaseVersion` of a
# managed node group, the "Release version" column of awslabs/amazon-eks-ami's release notes):
# release v20260714. Without it a node group takes whatever AMI is newest when it is created or
# updated, and two node groups of one cluster drift apart.
NODE_AMI_RELEASE_VERSIONS: Mapping[str, str] = MappingProxyType(
    {"1.34": "1.34.9-20260714", "1.35": "1.35.6-20260714", "1.36": "1.36.2-20260714"}
)

# A minor is supported when every pin it needs is there: add-on builds and a node AMI release.
SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = tuple(
    sorted(
        set(EKS_ADDONS) & set(NODE_AMI_RELEASE_VERSIONS),
        key=lambda v: tuple(map(int, v.split("."))),
    )
)

# Kubernetes' version skew policy (since 1.28): a kubelet may be up to three minors older than
# the API server, never newer. Node groups roll after the control plane, so they lag it for the
# length of an upgrade.
MAX_NODE_SKEW = 3

# The Kubernetes cluster autoscaler's image, per minor: its minor must equal the cluster's (each
# release is built and tested against the Kubernetes minor of the same number). Latest patches of
# each line: tags cluster-autoscaler-1.34.5, -1.35.2 and -1.36.1 of kubernetes/autoscaler.
CLUSTER_AUTOSCALER_IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler"
CLUSTER_AUTOSCALER: Mapping[str, str] = MappingProxyType(
    {"1.34": "v1.34.5", "1.35": "v1.35.2", "1.36": "v1.36.1"}
)


# The AMI Karpenter's nodes boot: the EKS-optimized AL2023 image of the cluster's minor, of the
# same release as the node groups' pin. Karpenter resolves `al2023@v<date>` for the minor the
# cluster runs, so its nodes never float to a new release (`al2023@latest` would, through drift)
# and they move to the next minor's image, by drift, when the control plane does.
def karpenter_ami_alias(kubernetes_version: str) -> str:
    release_date = NODE_AMI_RELEASE_VERSIONS[kubernetes_version].rsplit("-", 1)[1]
    return f"al2023@v{release_date}"


# The EKS-optimized AMI family for managed node groups (AL2 is retired from 1.33 on).
NODE_AMI_TYPE = "AL2023_x86_64_STANDARD"


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned to one version, from its publisher's repository."""

    name: str
    version: str
    repository: str
    app_version: str
    # The Kubernetes versions the release supports (Helm semver syntax): its Chart.yaml's
    # `kubeVersion`, or the range of the project's own compatibility matrix where the chart sets
    # none but one is published ("" when neither exists). `pavedroad upgrade` refuses a target
    # Kubernetes version outside it.
    kube_version: str = ""


# Helm charts of the core services and the delivery layer. Charts that bring CRDs are pinned to
# the app versions whose CRDs ../shared/crds holds, so the tests validate against what installs.
# `kube_version` is the `kubeVersion` of each chart's Chart.yaml at the pinned version (none set:
# the chart declares no range), so moving a chart moves its recorded range in the same change.
CHARTS: Mapping[str, Chart] = MappingProxyType(
    {
        chart.name: chart
        for chart in (
            Chart(
                "aws-load-balancer-controller",
                "1.13.2",
                "https://aws.github.io/eks-charts",
                "v2.13.2",
            ),
            Chart(
                "cert-manager",
                "v1.21.1",
                "https://charts.jetstack.io",
                "v1.21.1",
                kube_version=">= 1.22.0-0",
            ),
            Chart(
                "external-dns",
                "1.21.1",
                "https://kubernetes-sigs.github.io/external-dns/",
                "v0.21.0",
            ),
            Chart(
                "kube-prometheus-stack",
                "90.2.0",
                "https://prometheus-community.github.io/helm-charts",
                "v0.93.0",
                # The constraint of chart 88.5.3; 90.2.0's Chart.yaml is still to be checked.
                kube_version=">=1.25.0-0",
            ),
            Chart("aws-for-fluent-bit", "0.2.0", "https://aws.github.io/eks-charts", "3.2.1"),
            Chart(
                "external-secrets",
                "2.9.0",
                "https://charts.external-secrets.io",
                "v2.9.0",
                kube_version=">= 1.19.0-0",
            ),
            Chart(
                "kyverno",
                "3.9.0",
                "https://kyverno.github.io/kyverno/",
                "v1.19.0",
                kube_version=">=1.25.0-0",
            ),
            Chart(
                "argo-cd",
                "10.4.0",
                "https://argoproj.github.io/argo-helm",
                "v3.5.1",
                # The constraint of chart 10.1.1; 10.4.0's Chart.yaml is still to be checked.
                kube_version=">=1.25.0-0",
            ),
            # metrics-server 0.8 serves the Metrics API on Kubernetes 1.31 and later.
            Chart(
                "metrics-server",
                "3.13.1",
                "https://kubernetes-sigs.github.io/metrics-server/",
                "0.8.1",
            ),
            # Runs the image of the cluster's minor (CLUSTER_AUTOSCALER), not the chart's default.
            Chart(
                "cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler", "1.35.0"
            ),
            # Karpenter (aws/karpenter-provider-aws, an OCI chart): its crds/ are those of
            # ../shared/crds/karpenter (NodePool and EC2NodeClass v1 of 1.14.1). Its Chart.yaml
            # sets no kubeVersion; the range is that of the v1.14 compatibility matrix
            # (upgrading/compatibility.md: 1.30 from 0.37 on, up to 1.36 from 1.13 on).
            Chart(
                "karpenter",
                "1.14.1",
                "oci://public.ecr.aws/karpenter",
                "1.14.1",
                kube_version=">= 1.30.0-0, < 1.37.0-0",
            ),
            # KEDA: scales tenants' queue consumers on queue depth; its CRDs (ScaledObject,
            # TriggerAuthentication) are those of ../shared/crds/keda (v2.20.2).
            Chart(
                "keda",
                "2.20.2",
                "https://kedacore.github.io/charts",
                "2.20.2",
                kube_version=">=v1.23.0-0",
            ),
            # Argo Rollouts: the chart carries the CRDs of its appVersion (templates/crds).
            Chart("argo-rollouts", "2.41.0", "https://argoproj.github.io/argo-helm", "v1.9.0"),
            # The OpenFeature operator (open-feature/open-feature-operator chart/): its chart
            # templates the CRDs of ../shared/crds/open-feature (FeatureFlag and
            # FeatureFlagSource v1beta1 of v0.9.2) and injects the flagd sidecar (FLAGD below).
            Chart(
                "open-feature-operator",
                "v0.9.2",
                "https://open-feature.github.io/open-feature-operator",
                "v0.9.2",
                kube_version=">=1.29.0-0",
            ),
            # Flagger, the delivery engine `paved-road:delivery.engine: flagger` installs instead
            # of Argo Rollouts (fluxcd/flagger charts/flagger): its crds/ are those of
            # ../shared/crds/flagger (Canary, MetricTemplate, AlertProvider of v1.44.0).
            Chart(
                "flagger",
                "1.44.0",
                "https://flagger.app",
                "1.44.0",
                kube_version=">=1.19.0-0",
            ),
            # Envoy Gateway (envoyproxy/gateway charts/gateway-helm, an OCI chart): the Gateway
            # API implementation Flagger's `gatewayapi:v1` provider shifts weight on. v1.9.0 is
            # built on, and its crds subchart installs, Gateway API v1.6.1 (../shared/crds/
            # gateway-api). Its Chart.yaml sets no kubeVersion.
            Chart(
                "gateway-helm",
                "v1.9.0",
                "oci://docker.io/envoyproxy",
                "v1.9.0",
            ),
            # Backstage's official chart (backstage/charts charts/backstage). It has no
            # appVersion: Backstage publishes no production image, each organisation runs its
            # own build (paved-road:core.portal.image).
            Chart(
                "backstage",
                "2.8.2",
                "https://backstage.github.io/charts",
                "",
                kube_version=">= 1.19.0-0",
            ),
            # OpenCost (opencost/opencost-helm-chart charts/opencost): cost allocation from the
            # in-cluster Prometheus; its images are pinned by the chart (tag and digest).
            Chart(
                "opencost",
                "2.5.17",
                "https://opencost.github.io/opencost-helm-chart",
                "1.120.1",
            ),
            # The upstream OpenTelemetry collector chart; runs the contrib image of its appVersion.
            Chart(
                "opentelemetry-collector",
                "0.170.0",
                "https://open-telemetry.github.io/opentelemetry-helm-charts",
                "0.158.0",
            ),
        )
    }
)


# The flagd image the OpenFeature operator injects beside apps that evaluate feature flags: the
# chart's own default at v0.9.2 (values.yaml `sidecarConfiguration.image`), stated so the plan
# and the registry check (components/config.py) name it.
FLAGD_IMAGE = "ghcr.io/open-feature/flagd"
FLAGD_VERSION = "v0.15.4"
