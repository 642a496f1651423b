"""GitOps: Argo CD, locked down, as the one way changes reach the cluster after bootstrap.

Nothing is open by default: no anonymous access, an empty default role (a logged-in user without a
grant sees nothing), no exec into pods, TLS on the API server, and the local `admin` user only where
config allows it (off in production). With single sign-on configured, Argo CD talks OIDC to the
identity provider directly (no Dex), members of the configured groups become admins, and the client
secret arrives from AWS Secrets Manager through the platform's ClusterSecretStore — never through
config, values or the plan. People reach it at its hostname over HTTPS only, through an ALB with an
ACM certificate the platform requests (so the SSO redirect has somewhere to land); the ALB is
internal unless the stack says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.acm import validated_certificate
from components.alb import ALB, certificate_annotation, https_annotations
from components.config import GitOpsConfig, SsoConfig
from components.config_base import zone_for
from components.core.base import (
    RESTRICTED_CONTAINER,
    ordered_after,
    ClusterContext,
    helm_release,
    platform_namespace,
    resources,
)
from components.core.secrets import platform_secret_prefix
from components.kubernetes import DNS_PUBLISH, MANAGED_BY_LABELS
from components.versions import CHARTS

NAMESPACES = ("argocd",)
NAMESPACE = NAMESPACES[0]
RELEASE_NAME = "argocd"
SSO_SECRET = "argocd-sso"
SSO_SECRET_KEY = "clientSecret"
OIDC_SCOPES = ("openid", "profile", "email", "groups")
# Argo CD resolves `$<secret>:<key>` references only in Secrets carrying this label.
ARGOCD_PART_OF = {"app.kubernetes.io/part-of": "argocd"}


@dataclass(frozen=True)
class GitOpsArgs:
    context: ClusterContext
    config: GitOpsConfig
    secret_store_name: Optional[str]
    # The load balancer controller's IngressClass (None: ingress off, so no Ingress).
    ingress_class_name: Optional[str] = None
    # Route 53 zone id by domain, where the certificate of Argo CD's hostname is validated.
    dns_zones: Mapping[str, str] = field(default_factory=dict)


class GitOps(pulumi.ComponentResource):
    """Argo CD in the `argocd` namespace.

    Tenants' AppProjects (and the Applications they own) go in this same `argocd` namespace: that
    is where Argo CD reads AppProjects from. Each team's AppProject, with its allowed repositories
    and destination namespaces, is created by the multi-tenancy layer.
    """

    namespace: str
    # Brings the AppProject CRD tenants' projects need.
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: GitOpsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:GitOps", name, None, opts)
        context, config = args.context, args.config
        self.namespace = NAMESPACE

        namespace = platform_namespace(
            f"{name}-namespace", NAMESPACE, parent=self, provider=context.provider
        )
        # The ExternalSecret needs the secrets service's CRDs and store; the chart needs ingress.
        after = ordered_after(opts)
        before_release: list[pulumi.Resource] = list(after)
        if config.sso is not None:
            if args.secret_store_name is None:
                raise ValueError("Argo CD single sign-on needs the secrets service's store")
            before_release.append(
                self._sso_client_secret(name, context, namespace, args.secret_store_name, after)
            )
        # The release waits for the certificate's validation: the listener never serves a
        # certificate ACM has not issued.
        ingress: Optional[dict[str, Any]] = None
        if config.ingress.enabled and args.ingress_class_name and config.hostname:
            ingress = server_ingress(
                config,
                args.ingress_class_name,
                self._certificate(name, context, config, args.dns_zones),
                context.tags,
            )
        self.release = helm_release(
            f"{name}-argocd",
            CHARTS["argo-cd"],
            namespace=namespace.metadata.name,
            values=chart_values(config, production=context.production, ingress=ingress),
            parent=self,
            provider=context.provider,
            depends_on=before_release,
            release_name=RELEASE_NAME,
        )
        self.register_outputs({"namespace": self.namespace})

    def _certificate(
        self, name: str, context: ClusterContext, config: GitOpsConfig, zones: Mapping[str, str]
    ) -> Optional[pulumi.Output[str]]:
        """The hostname's ACM certificate, requested and validated in its zone; None when the
        load balancer controller discovers one by host (`ingress.certificate: discover`)."""
        hostname = config.hostname
        if config.ingress.certificate != "request" or hostname is None:
            return None
        zone = zone_for(hostname, zones)
        assert zone is not None, "config.py checks the hostname's zone"
        return validated_certificate(
            f"{name}-argocd", host=hostname, zone_id=zones[zone], tags=context.tags, parent=self
        )

    def _sso_client_secret(
        self,
        name: str,
        context: ClusterContext,
        namespace: k8s.core.v1.Namespace,
        store_name: str,
        after: Sequence[pulumi.Resource],
    ) -> k8s.apiextensions.CustomResource:
        """The OIDC client secret, copied from Secrets Manager into the `argocd-sso` Secret that
        `oidc.config` references. The platform's store serves `argocd` because it is a platform
        namespace; the remote key sits under the platform prefix its role may read."""
        remote_key = platform_secret_prefix(context.project, context.environment) + SSO_SECRET
        return k8s.apiextensions.CustomResource(
            f"{name}-sso-client-secret",
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SSO_SECRET, namespace=namespace.metadata.name, labels=dict(MANAGED_BY_LABELS)
            ),
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"name": store_name, "kind": "ClusterSecretStore"},
                "target": {
                    "name": SSO_SECRET,
                    "creationPolicy": "Owner",
                    "template": {"metadata": {"labels": dict(ARGOCD_PART_OF)}},
                },
                "data": [
                    {
                        "secretKey": SSO_SECRET_KEY,
                        "remoteRef": {"key": remote_key, "property": SSO_SECRET_KEY},
                    }
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=context.provider, depends_on=list(after)
            ),
        )


def oidc_config(sso: SsoConfig) -> str:
    """`argocd-cm`'s `oidc.config`: the client secret is a reference, resolved by Argo CD."""
    return yaml.safe_dump(
        {
            "name": "SSO",
            "issuer": sso.issuer,
            "clientID": sso.client_id,
            "clientSecret": f"${SSO_SECRET}:{SSO_SECRET_KEY}",
            "requestedScopes": list(OIDC_SCOPES),
        },
        sort_keys=False,
        default_flow_style=False,
    )


def admin_policy(groups: Sequence[str]) -> str:
    """`argocd-rbac-cm`'s `policy.csv`: the SSO admin groups, and nobody else, get `role:admin`."""
    return "".join(f"g, {group}, role:admin\n" for group in groups)


def server_ingress(
    config: GitOpsConfig,
    class_name: str,
    certificate_arn: Optional[pulumi.Input[str]],
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """`server.ingress` of the argo-cd chart with `controller: aws`: one ALB Ingress at the
    hostname whose rules send gRPC (by Content-Type, the chart's `conditions` annotation) to the
    chart's `argocd-server-grpc` Service and everything else to `argocd-server`.

    TLS ends at the ALB with the ACM certificate and starts again behind it: Argo CD keeps
    serving TLS (`server.insecure` stays false, so the chart points the rules at the HTTPS port)
    and the ALB speaks HTTPS to it (`backend-protocol`); nothing crosses the VPC in clear text.
    """
    ingress = config.ingress
    annotations: dict[str, Any] = {
        **https_annotations(ingress.scheme, tags),
        **certificate_annotation(certificate_arn),
        f"{ALB}/backend-protocol": "HTTPS",
        # The platform's own name: external-dns publishes only Ingresses carrying this.
        **DNS_PUBLISH,
    }
    if ingress.inbound_cidrs:
        annotations[f"{ALB}/inbound-cidrs"] = ",".join(ingress.inbound_cidrs)
    return {
        "enabled": True,
        "controller": "aws",
        "ingressClassName": class_name,
        "hostname": config.hostname,
        "annotations": annotations,
        # Pods are targets by IP, so the gRPC Service needs no node port.
        "aws": {"serviceType": "ClusterIP", "backendProtocolVersion": "GRPC"},
    }


def chart_values(
    config: GitOpsConfig, production: bool, ingress: Optional[dict[str, Any]] = None
) -> dict[str, Any]:
    """Values of the `argo-cd` chart. In production the API server and the repo server run twice,
    each with a PodDisruptionBudget; the application controller stays single (more replicas would
    shard clusters, not add failover) and so does Redis, a cache Argo CD rebuilds (no redis-ha)."""
    replicas = 2 if production else 1
    cm: dict[str, Any] = {
        "admin.enabled": "true" if config.admin_user else "false",
        "users.anonymous.enabled": "false",
        "exec.enabled": "false",
    }
    rbac: dict[str, Any] = {"policy.default": ""}
    if config.sso is not None:
        cm["oidc.config"] = oidc_config(config.sso)
        rbac["policy.csv"] = admin_policy(config.sso.admin_groups)

    def workload(cpu: str, memory: str, cpu_limit: str) -> dict[str, Any]:
        return {
            "resources": resources(cpu, memory, cpu_limit),
            "containerSecurityContext": RESTRICTED_CONTAINER,
        }

    def highly_available(cpu: str, memory: str, cpu_limit: str) -> dict[str, Any]:
        pdb = {"enabled": replicas > 1, "minAvailable": 1}
        return {**workload(cpu, memory, cpu_limit), "replicas": replicas, "pdb": pdb}

    return {
        "crds": {"install": True, "keep": True},
        "global": {
            "networkPolicy": {"create": True},
            # Argo CD's own URL (argocd-cm `url`): OIDC redirects and links point there.
            **({"domain": config.hostname} if config.hostname else {}),
        },
        "configs": {"cm": cm, "params": {"server.insecure": False}, "rbac": rbac},
        "dex": {"enabled": False},
        "controller": {**workload("250m", "1Gi", "1"), "replicas": 1},
        "server": {
            **highly_available("100m", "256Mi", "500m"),
            **({"ingress": ingress} if ingress is not None else {}),
        },
        "repoServer": highly_available("100m", "512Mi", "1"),
        "applicationSet": {**workload("50m", "128Mi", "200m"), "replicas": 1},
        "notifications": workload("25m", "64Mi", "100m"),
        "redis": workload("50m", "128Mi", "200m"),
        "redis-ha": {"enabled": False},
        "redisSecretInit": workload("25m", "64Mi", "100m"),
    }
