"""The developer portal: Backstage from its official chart, reading the catalog this repository
commits, behind the platform's ALB with an ACM certificate at `portal.<first zone>`.

Backstage publishes no production image: each organisation builds its own app with the plugins
it wants, so the stack names that build (`paved-road:core.portal.image`). What this module
configures expects the image to carry the GitHub sign-in provider, the GitHub org catalog module
(`@backstage/plugin-catalog-backend-module-github-org`), the scaffolder's GitHub actions, and —
with `database: postgres` — Amazon RDS's CA bundle at `RDS_CA_BUNDLE`, so the database's
certificate is verified rather than merely accepted.

Secrets never pass through config, values or the plan:

- the GitHub token (catalog, org data, pull requests) and the GitHub OAuth app's client id and
  secret (sign-in) are Secrets Manager entries under the platform's prefix, copied by an
  ExternalSecret through the platform's ClusterSecretStore into the `backstage-github` Secret,
  which the chart hands to Backstage as environment variables;
- with `database: postgres` the database is an RDS instance built by the self-service Postgres
  code (components/resources/postgres.py) for a platform-owned target: its security group admits
  only the portal pods' own security group, its master password is managed by RDS, and a
  namespaced SecretStore, authenticating as a service account no pod runs as, copies it into
  `portal-connection`;
- with `database: bundled` (development only, refused in production) the chart's PostgreSQL
  subchart runs in the namespace with a password it generates. The Bitnami subchart's containers
  are not verified against Pod Security `restricted`, so in that mode the namespace enforces
  `baseline` (still auditing and warning at `restricted`).

Backstage's pods need no AWS identity (no IRSA) and no Kubernetes API: the Kubernetes plugin is
left out, so there is no cluster-wide RBAC and the pods mount no service account token.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.acm import validated_certificate
from components.alb import ALB, certificate_annotation, https_annotations
from components.apps_config import IMAGE
from components.config import PORTAL_DATABASE, PORTAL_DATABASE_OWNER, PortalConfig
from components.config_base import zone_for
from components.core.base import (
    RESTRICTED_CONTAINER,
    ClusterContext,
    helm_release,
    ordered_after,
    platform_namespace,
    resources,
)
from components.core.network_policies import OPENINGS, Openings
from components.core.secrets import platform_secret_prefix
from components.iam import irsa_role
from components.kubernetes import DNS_PUBLISH, MANAGED_BY_LABELS
from components.resources.common import ResourceTarget
from components.resources.pods import pods_security_group, security_group_policy
from components.resources.postgres import PORT as POSTGRES_PORT
from components.resources.postgres import Postgres
from components.resources_config import ResourceConfig
from components.versions import CHARTS

NAMESPACES = ("backstage",)
(NAMESPACE,) = NAMESPACES
CHART = CHARTS["backstage"]
# Release and fullnameOverride: the Deployment, Service and Ingress are all `backstage`.
RELEASE_NAME = "backstage"
# The chart's `containerPorts.backend` and `service.ports.backend`.
PORT = 7007
# Backstage's readiness endpoint (the chart's default probe): the ALB's health check.
READINESS_PATH = "/.backstage/health/v1/readiness"
SERVICE_ACCOUNT = "backstage"
# The identity of the namespace's SecretStore (it reads the database's RDS-managed secret); no
# pod runs as it, and only its IRSA role may read that secret.
SECRETS_SERVICE_ACCOUNT = "portal-secrets"
DATABASE_STORE = "portal-database"
GITHUB_SECRET = "backstage-github"
# Where the image carries Amazon RDS's CA bundle (global-bundle.pem from
# https://truststore.pki.rds.amazonaws.com): Backstage verifies the database's certificate with it.
RDS_CA_BUNDLE = "/app/certs/rds-global-bundle.pem"
# The official Backstage image runs as the `node` user; a number lets the kubelet prove the
# container is not root.
RUN_AS_USER = 1000
# Kinds the catalog accepts from its locations: what `pavedroad catalog` writes, the software
# templates, and the users and teams the GitHub org provider reads.
CATALOG_KINDS = ("Component", "System", "Resource", "Group", "User", "Location", "Template", "API")

# The GitHub secrets: environment variable → (secret name under the platform prefix's config
# field, JSON property).
GITHUB_ENV = {
    "GITHUB_TOKEN": ("token", "token"),
    "AUTH_GITHUB_CLIENT_ID": ("oauth", "clientId"),
    "AUTH_GITHUB_CLIENT_SECRET": ("oauth", "clientSecret"),
}
# The database's connection, as environment variables, from the keys of `portal-connection`
# (components/resources/common.py, connection_secret).
DATABASE_ENV = {
    "POSTGRES_HOST": "host",
    "POSTGRES_PORT": "port",
    "POSTGRES_USER": "username",
    "POSTGRES_PASSWORD": "password",
}

RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_USER,
    "runAsGroup": RUN_AS_USER,
    "fsGroup": RUN_AS_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class PortalArgs:
    context: ClusterContext
    # Resolved: `host` is set (config.py refuses an enabled portal without one).
    config: PortalConfig
    # The platform's ClusterSecretStore: the GitHub secrets live under the platform prefix.
    secret_store_name: str
    ingress_class_name: str
    # Route 53 zone id by domain, where the host's certificate is validated.
    dns_zones: Mapping[str, str] = field(default_factory=dict)
    # The External Secrets release (SecretStore CRD and webhook) for the database's store.
    external_secrets: Optional[pulumi.Resource] = None
    # Where the database goes and who reaches it (database: postgres).
    private_subnet_ids: Optional[pulumi.Input[Sequence[str]]] = None
    data_store_cidrs: tuple[str, ...] = ()
    cluster_security_group_id: Optional[pulumi.Input[str]] = None


class Portal(pulumi.ComponentResource):
    namespace: str
    url: str
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: PortalArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Portal", name, None, opts)
        context, config = args.context, args.config
        if config.host is None or config.image is None or config.github_org is None:
            raise ValueError("config.py refuses an enabled portal without host, image, org")
        self.namespace = NAMESPACE
        self.url = f"https://{config.host}"
        on_rds = config.database == "postgres"
        after = ordered_after(opts)

        namespace = platform_namespace(
            f"{name}-namespace",
            NAMESPACE,
            parent=self,
            provider=context.provider,
            enforce="restricted" if on_rds else "baseline",
            openings=openings(args.data_store_cidrs if on_rds else ()),
        )
        github = self._github_secret(name, context, config, args.secret_store_name, after)
        database_host: Optional[pulumi.Output[str]] = None
        if on_rds:
            database_host = self._database(name, context, args, namespace)
        certificate = self._certificate(name, context, config.host, args.dns_zones)
        self.release = helm_release(
            f"{name}-backstage",
            CHART,
            namespace=namespace.metadata.name,
            values=chart_values(
                config,
                production=context.production,
                ingress=ingress_values(config, args.ingress_class_name, certificate, context.tags),
                database_host=database_host,
            ),
            parent=self,
            provider=context.provider,
            depends_on=[*after, namespace, github],
            release_name=RELEASE_NAME,
        )
        self.register_outputs({"namespace": self.namespace, "url": self.url})

    def _github_secret(
        self,
        name: str,
        context: ClusterContext,
        config: PortalConfig,
        store_name: str,
        after: Sequence[pulumi.Resource],
    ) -> k8s.apiextensions.CustomResource:
        """`backstage-github`: the token and the OAuth app, from the platform's prefix, which the
        platform's store may read and serves to this (platform) namespace."""
        prefix = platform_secret_prefix(context.project, context.environment)
        secrets = {
            "token": prefix + config.github_token_secret_name,
            "oauth": prefix + config.github_oauth_secret_name,
        }
        return k8s.apiextensions.CustomResource(
            f"{name}-github-secret",
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=GITHUB_SECRET, namespace=NAMESPACE, labels=dict(MANAGED_BY_LABELS)
            ),
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"name": store_name, "kind": "ClusterSecretStore"},
                "target": {"name": GITHUB_SECRET, "creationPolicy": "Owner"},
                "data": [
                    {"secretKey": env, "remoteRef": {"key": secrets[which], "property": prop}}
                    for env, (which, prop) in sorted(GITHUB_ENV.items())
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=context.provider, depends_on=list(after)
            ),
        )

    def _database(
        self,
        name: str,
        context: ClusterContext,
        args: PortalArgs,
        namespace: k8s.core.v1.Namespace,
    ) -> pulumi.Output[str]:
        """An RDS Postgres built by the self-service code for a platform-owned target; returns
        its address (the release takes it as a value, so it waits for the instance)."""
        if args.cluster_security_group_id is None or args.external_secrets is None:
            raise ValueError("the portal's database needs the cluster and the secrets service")
        k8s_after = pulumi.ResourceOptions(
            parent=self, provider=context.provider, depends_on=[namespace]
        )
        # The store's identity. Its role gets its only permissions from the database itself
        # (grant_secret: that one secret, decrypted with that one key).
        role = irsa_role(
            f"{name}-database-secrets",
            role_name=f"{context.prefix}-portal-database-secrets",
            oidc=context.oidc,
            namespace=NAMESPACE,
            service_account=SECRETS_SERVICE_ACCOUNT,
            tags=context.tags,
            parent=self,
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-secrets-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SECRETS_SERVICE_ACCOUNT,
                namespace=NAMESPACE,
                labels=dict(MANAGED_BY_LABELS),
                annotations={"eks.amazonaws.com/role-arn": role.arn},
            ),
            automount_service_account_token=False,
            opts=k8s_after,
        )
        store = k8s.apiextensions.CustomResource(
            f"{name}-database-store",
            api_version="external-secrets.io/v1",
            kind="SecretStore",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DATABASE_STORE, namespace=NAMESPACE, labels=dict(MANAGED_BY_LABELS)
            ),
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": context.region,
                        "auth": {"jwt": {"serviceAccountRef": {"name": SECRETS_SERVICE_ACCOUNT}}},
                    }
                }
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=context.provider,
                depends_on=[namespace, account, args.external_secrets],
            ),
        )
        # Every pod of the namespace (Backstage's) carries this group: the database admits it
        # and nothing else. The cluster's group beside it admits what the cluster needs.
        pods = pods_security_group(
            "portal",
            prefix=context.prefix,
            vpc_id=context.vpc_id,
            tags=context.tags,
            parent=self,
            physical_name=f"{context.prefix}-portal-pods",
            description="Pods of the developer portal: what its database admits",
        )
        policy = security_group_policy(
            NAMESPACE,
            group_ids=[pods.id, args.cluster_security_group_id],
            labels=MANAGED_BY_LABELS,
            parent=self,
            provider=context.provider,
            depends_on=[namespace],
            name="portal-pods",
        )
        target = ResourceTarget(
            tenant=PORTAL_DATABASE_OWNER,
            namespace=NAMESPACE,
            prefix=context.prefix,
            region=context.region,
            account_id=context.account_id,
            production=context.production,
            tags=context.tags,
            labels=MANAGED_BY_LABELS,
            vpc_id=context.vpc_id,
            subnet_ids=args.private_subnet_ids or [],
            client_security_group_id=pods.id,
            workload_role=role,
            secrets_prefix=platform_secret_prefix(context.project, context.environment),
            store_name=DATABASE_STORE,
            provider=context.provider,
            secret_after=(namespace, store, args.external_secrets, policy),
            owner="the developer portal",
        )
        database = Postgres(
            f"{name}-database",
            ResourceConfig(name=PORTAL_DATABASE, type="postgres"),
            target,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return database.endpoint

    def _certificate(
        self, name: str, context: ClusterContext, host: str, zones: Mapping[str, str]
    ) -> pulumi.Output[str]:
        zone = zone_for(host, zones)
        assert zone is not None, "config.py checks the host's zone"
        return validated_certificate(
            f"{name}-backstage", host=host, zone_id=zones[zone], tags=context.tags, parent=self
        )


def openings(data_store_cidrs: Sequence[str]) -> Openings:
    """The namespace's openings: the shared entry, plus its database's port in the private
    subnets when it has one (its security group admits only the portal's pods)."""
    base = OPENINGS[NAMESPACE]
    if not data_store_cidrs:
        return base
    database = {
        "to": [{"ipBlock": {"cidr": cidr}} for cidr in data_store_cidrs],
        "ports": [{"protocol": "TCP", "port": POSTGRES_PORT}],
    }
    return replace(
        base,
        egress={**base.egress, "allow-database": database},
        why=f"{base.why}; its database",
    )


def image_values(reference: str) -> dict[str, Any]:
    """`backstage.image` from a pinned reference. With a digest the chart uses it and ignores
    the tag (bitnami common.images.image); the tag then stays the chart's default, which its
    template requires to be non-empty."""
    match = IMAGE.fullmatch(reference)
    assert match is not None, "config.py validates the image"
    name = reference.split("@", 1)[0]
    if match.group("tag") is not None:
        name = name[: -len(match.group("tag")) - 1]
    first, _, rest = name.partition("/")
    # The distribution rule: a first component with '.' or ':' (or localhost) is a registry.
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "docker.io", name
    image: dict[str, Any] = {"registry": registry, "repository": repository, "pullPolicy": ""}
    if match.group("tag") is not None:
        image["tag"] = match.group("tag")
    if match.group("digest") is not None:
        image["digest"] = match.group("digest")
    return image


def app_config(config: PortalConfig, database: str) -> dict[str, Any]:
    """Backstage's app-config (the chart renders it into a ConfigMap). Only `${VAR}`
    references to the environment, never a secret value: the values are in the plan."""
    url = f"https://{config.host}"
    connection: dict[str, Any] = {
        "host": "${POSTGRES_HOST}",
        "port": "${POSTGRES_PORT}",
        "user": "${POSTGRES_USER}",
        "password": "${POSTGRES_PASSWORD}",
    }
    if database == "postgres":
        # RDS refuses connections without TLS (rds.force_ssl); the certificate is verified.
        connection["ssl"] = {"rejectUnauthorized": True, "ca": {"$file": RDS_CA_BUNDLE}}
    return {
        "app": {"title": "Paved Road", "baseUrl": url},
        "organization": {"name": config.github_org},
        "backend": {
            "baseUrl": url,
            "listen": {"port": PORT},
            "cors": {"origin": url, "credentials": True},
            "database": {"client": "pg", "connection": connection},
        },
        "integrations": {"github": [{"host": "github.com", "token": "${GITHUB_TOKEN}"}]},
        "auth": {
            "environment": "production",
            "providers": {
                "github": {
                    "production": {
                        "clientId": "${AUTH_GITHUB_CLIENT_ID}",
                        "clientSecret": "${AUTH_GITHUB_CLIENT_SECRET}",
                        # Only members of the organisation (Users the org provider ingests).
                        "signIn": {"resolvers": [{"resolver": "usernameMatchingUserEntityName"}]},
                    }
                }
            },
        },
        "catalog": {
            "rules": [{"allow": list(CATALOG_KINDS)}],
            "locations": [{"type": "url", "target": config.catalog_location}],
            "providers": {
                "githubOrg": [
                    {
                        "id": "github",
                        "githubUrl": "https://github.com",
                        "orgs": [config.github_org],
                        "schedule": {
                            "initialDelay": {"seconds": 30},
                            "frequency": {"hours": 1},
                            "timeout": {"minutes": 50},
                        },
                    }
                ]
            },
        },
    }


def ingress_values(
    config: PortalConfig,
    class_name: str,
    certificate_arn: pulumi.Input[str],
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """The chart's `ingress`: an ALB at the host, HTTPS only with the ACM certificate, to the
    pods by IP over HTTP inside the VPC (as tenants' apps), published by external-dns."""
    annotations: dict[str, Any] = {
        **https_annotations(config.scheme, tags),
        **certificate_annotation(certificate_arn),
        f"{ALB}/healthcheck-path": READINESS_PATH,
        **DNS_PUBLISH,
    }
    if config.inbound_cidrs:
        annotations[f"{ALB}/inbound-cidrs"] = ",".join(config.inbound_cidrs)
    return {
        "enabled": True,
        "className": class_name,
        "host": config.host,
        "path": "/",
        "annotations": annotations,
        # The hosts the certificate covers; the ALB holds it, so there is no Secret.
        "tls": {"enabled": True, "secretName": ""},
    }


def chart_values(
    config: PortalConfig,
    production: bool,
    ingress: dict[str, Any],
    database_host: Optional[pulumi.Input[str]] = None,
) -> dict[str, Any]:
    """Values of the `backstage` chart (2.8.2: values.yaml and values.schema.json)."""
    replicas = 2 if production else 1
    assert config.image is not None
    env: list[dict[str, Any]] = []
    if config.database == "postgres":
        env = [
            (
                # The address itself (not secret): the release then waits for the instance.
                {"name": variable, "value": database_host}
                if variable == "POSTGRES_HOST" and database_host is not None
                else {
                    "name": variable,
                    "valueFrom": {
                        "secretKeyRef": {"name": f"{PORTAL_DATABASE}-connection", "key": key}
                    },
                }
            )
            for variable, key in DATABASE_ENV.items()
        ]
    return {
        "fullnameOverride": RELEASE_NAME,
        "backstage": {
            "replicas": replicas,
            "image": image_values(config.image),
            "appConfig": app_config(config, config.database),
            "extraEnvVarsSecrets": [GITHUB_SECRET],
            "extraEnvVars": env,
            # The root filesystem is read-only; the backend's working directory (the
            # scaffolder's workspaces) is the OS temporary directory.
            "extraVolumes": [{"name": "tmp", "emptyDir": {}}],
            "extraVolumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            "resources": resources("250m", "1Gi", "1"),
            "podSecurityContext": RESTRICTED_POD,
            "containerSecurityContext": RESTRICTED_CONTAINER,
            "pdb": {"create": replicas > 1, "minAvailable": 1},
        },
        "service": {"type": "ClusterIP"},
        "ingress": ingress,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            # No Kubernetes plugin: nothing in the pod talks to the API server.
            "automountServiceAccountToken": False,
            "annotations": {},
        },
        # The namespace's own default-deny policies govern; the chart's would only add to them.
        "networkPolicy": {"enabled": False},
        "postgresql": {"enabled": config.database == "bundled"},
    }
