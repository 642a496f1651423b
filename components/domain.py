"""A domain's platform squad: what it may see and do in its own teams' namespaces, and nothing else.

A squad (domains/<domain>.yaml) looks after the tenants that name its domain. It gets:

- RBAC: a RoleBinding of the `view` (or, where the domain says so, `edit`) ClusterRole to its
  Kubernetes group in each of those namespaces — never a ClusterRoleBinding;
- EKS access entries for its IAM principals, mapped to that group, with the matching EKS access
  policy scoped to the same namespaces;
- an Argo CD project of its own (`domain-<name>`) whose destinations are exactly those namespaces
  and whose sources are its teams' repositories, with the squad's SSO groups as the project role.

Its alerts ride on the platform's routing tree (components/insight/routing.py, `DomainAlerts`).
The namespace list is plain data from the stack's tenants: the squad never reaches into a
tenant's component.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.access import namespaced_access
from components.core.base import ClusterContext
from components.governance_config import DomainConfig
from components.kubernetes import DOMAIN_LABEL, DOMAIN_TAG, MANAGED_BY_LABELS
from components.tenant import GUARDRAIL_KINDS, IN_CLUSTER

# Squad access → (ClusterRole bound in its teams' namespaces, EKS namespace-scoped access policy).
ACCESS = {
    "view": ("view", "AmazonEKSViewPolicy"),
    "edit": ("edit", "AmazonEKSEditPolicy"),
}
# What the squad's Argo CD role may do with its project's Applications.
PROJECT_ACTIONS = {
    "view": ("get",),
    "edit": ("get", "create", "update", "delete", "sync", "override", "action/*"),
}


def squad_group(domain: str, access: str) -> str:
    """The Kubernetes group a squad's principals are mapped to (tenants' groups have one part
    fewer: `paved-road:<tenant>:<role>`)."""
    return f"paved-road:domain:{domain}:{access}"


def project_name(domain: str) -> str:
    return f"domain-{domain}"


@dataclass(frozen=True)
class DomainArgs:
    domain: DomainConfig
    context: ClusterContext
    # The namespaces of the domain's tenants in this stack, and their Argo CD source patterns.
    namespaces: tuple[str, ...]
    repositories: tuple[str, ...]
    # Argo CD's namespace and release (the AppProject CRD); None: GitOps is off.
    gitops_namespace: Optional[str] = None
    argo_cd: Optional[pulumi.Resource] = None
    # Each namespace's Namespace object: the squad's binding in it waits for it.
    namespace_objects: Mapping[str, pulumi.Resource] = field(default_factory=dict)


class Domain(pulumi.ComponentResource):
    namespaces: list[str]

    def __init__(
        self, name: str, args: DomainArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:domains:Domain", name, None, opts)
        self._args = args
        domain = args.domain
        self.namespaces = list(args.namespaces)
        self._labels = {**MANAGED_BY_LABELS, DOMAIN_LABEL: domain.name}
        group = squad_group(domain.name, domain.squad.access)
        for namespace in self.namespaces:
            after = args.namespace_objects.get(namespace)
            self._role_binding(
                namespace,
                group,
                pulumi.ResourceOptions(
                    parent=self,
                    provider=args.context.provider,
                    depends_on=[after] if after is not None else [],
                ),
            )
        if self.namespaces:
            self._access_entries(group)
        if args.argo_cd is not None and args.gitops_namespace and self.namespaces:
            self._app_project(args.gitops_namespace, args.argo_cd)
        self.register_outputs({"namespaces": self.namespaces, "group": group})

    def _role_binding(self, namespace: str, group: str, opts: pulumi.ResourceOptions) -> None:
        cluster_role, _ = ACCESS[self._args.domain.squad.access]
        k8s.rbac.v1.RoleBinding(
            f"{namespace}-squad",
            metadata={"name": "domain-squad", "namespace": namespace, "labels": self._labels},
            role_ref={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role,
            },
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
            opts=opts,
        )

    def _access_entries(self, group: str) -> None:
        domain = self._args.domain
        _, access_policy = ACCESS[domain.squad.access]
        for index, principal in enumerate(domain.squad.principals):
            namespaced_access(
                f"{domain.name}-squad-{index}",
                self._args.context,
                principal=principal,
                group=group,
                access_policy=access_policy,
                namespaces=self.namespaces,
                tags={**self._args.context.tags, DOMAIN_TAG: domain.name},
                parent=self,
            )

    def _app_project(self, gitops_namespace: str, argo_cd: pulumi.Resource) -> None:
        domain = self._args.domain
        project = project_name(domain.name)
        spec: dict = {
            "description": f"{domain.title}: the platform squad's project over its teams' "
            "namespaces",
            "sourceRepos": sorted(set(self._args.repositories)),
            "destinations": [
                {"server": IN_CLUSTER, "namespace": namespace} for namespace in self.namespaces
            ],
            "clusterResourceWhitelist": [],
            "namespaceResourceBlacklist": [
                {"group": group, "kind": kind} for group, kind in GUARDRAIL_KINDS
            ],
        }
        if domain.squad.sso_groups:
            spec["roles"] = [
                {
                    "name": "squad",
                    "description": f"The {domain.title} platform squad",
                    "policies": [
                        f"p, proj:{project}:squad, applications, {action}, {project}/*, allow"
                        for action in PROJECT_ACTIONS[domain.squad.access]
                    ],
                    "groups": list(domain.squad.sso_groups),
                }
            ]
        k8s.apiextensions.CustomResource(
            f"{domain.name}-app-project",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata={"name": project, "namespace": gitops_namespace, "labels": self._labels},
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self, provider=self._args.context.provider, depends_on=[argo_cd]
            ),
        )
