"""IAM: no administrator grants, IRSA roles pinned to one service account, tenants kept apart.

`*` on `*` makes a role an administrator of the account. An IRSA trust that does not pin `:sub`
lets any pod in the cluster assume the role, and one that does not pin `:aud` accepts tokens minted
for other audiences. A tenant role that can read another tenant's secrets prefix breaks the one
promise multi-tenancy makes.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Optional

from . import documents
from .core import (
    CRITICAL,
    ENVIRONMENT_TAG,
    TENANT_TAG,
    Context,
    Finding,
    Resource,
    Stack,
    as_list,
    resource_rule,
    stack_rule,
)

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
ROLE_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ATTACHMENTS = (
    ROLE_ATTACHMENT,
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
DOCUMENT_TYPES = (ROLE_POLICY, POLICY, USER_POLICY, GROUP_POLICY)
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
STS_AUDIENCE = "sts.amazonaws.com"
# AWS-managed policies that amount to `*` on `*`, or to every secret in the account.
ADMIN_POLICIES = ("AdministratorAccess",)
ALL_SECRETS_POLICIES = ("AdministratorAccess", "PowerUserAccess", "SecretsManagerReadWrite")
SECRET_READS = ("secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue")


def _aws_managed(arn: Any, names: Iterable[str]) -> bool:
    return isinstance(arn, str) and any(arn.endswith(f":iam::aws:policy/{n}") for n in names)


def _role_documents(resource: Resource) -> Iterator[tuple[str, Any]]:
    """(where, document) for every permission document a resource carries itself."""
    if resource.type == ROLE:
        for index, inline in enumerate(as_list(resource.get("inlinePolicies"))):
            if isinstance(inline, Mapping):
                yield f"inlinePolicies[{index}] ({inline.get('name')})", inline.get("policy")
    elif resource.type in DOCUMENT_TYPES:
        yield "policy", resource.get("policy")


@resource_rule(
    name="iam-no-wildcard-admin",
    description="No IAM policy allows every action (`*`) on every resource (`*`).",
    remediation=(
        "Grant the actions the workload calls on the ARNs it needs (`components.iam.allow`); "
        "never attach AdministratorAccess to a platform or workload role."
    ),
    severity=CRITICAL,
    types=(ROLE, *DOCUMENT_TYPES, *ATTACHMENTS),
)
def no_wildcard_admin(resource: Resource, context: Context) -> Iterator[str]:
    for where, document in _role_documents(resource):
        for index, statement in enumerate(documents.statements(document)):
            if not documents.allows(statement):
                continue
            every_action = "*" in documents.values(statement, "Action") or (
                "NotAction" in statement and not documents.values(statement, "NotAction")
            )
            if every_action and "*" in documents.resource_globs(statement):
                sid = statement.get("Sid") or f"#{index}"
                yield f"{where}: statement {sid} allows '*' on '*'"
    arns = as_list(resource.get("managedPolicyArns")) + as_list(resource.get("policyArn"))
    for arn in arns:
        if _aws_managed(arn, ADMIN_POLICIES):
            yield f"attaches {arn}, which allows '*' on '*'"


def _irsa_issuer(statement: Mapping[str, Any]) -> Optional[str]:
    """The issuer as IAM names it in condition keys: the OIDC provider ARN's path after
    `oidc-provider/` (host and path, no `https://`)."""
    for federated in documents.principals(statement, "Federated"):
        if ":oidc-provider/" in federated:
            return federated.split(":oidc-provider/", 1)[1]
    return None


def _condition_values(condition: Mapping[str, Any], key: str) -> dict[str, list[Any]]:
    """operator → values of the condition key `key` exactly (e.g. '<issuer>:sub')."""
    found: dict[str, list[Any]] = {}
    for operator, clauses in condition.items():
        if isinstance(clauses, Mapping) and key in clauses:
            found.setdefault(operator, []).extend(as_list(clauses[key]))
    return found


def _foreign_claim_keys(condition: Mapping[str, Any], issuer: str) -> list[str]:
    """Claim keys (`…:sub`, `…:aud`) that name another issuer than the trusted provider's —
    `https://<issuer>:sub`, say. IAM never matches them, so they pin nothing."""
    return sorted(
        {
            key
            for clauses in condition.values()
            if isinstance(clauses, Mapping)
            for key in clauses
            if isinstance(key, str)
            and key.rsplit(":", 1)[-1] in ("sub", "aud")
            and key.rsplit(":", 1)[0] != issuer
        }
    )


def _pinned(found: dict[str, list[Any]], valid: Any) -> Optional[str]:
    """Why a condition does not pin a claim to exact values, or None when it does."""
    if not found:
        return "is not conditioned"
    for operator, claim_values in found.items():
        if operator not in ("StringEquals", "StringLike"):
            return f"uses {operator}, which does not pin it"
        for value in claim_values:
            if not isinstance(value, str) or not valid(value):
                return f"allows {value!r}"
            if operator == "StringLike" and ("*" in value or "?" in value):
                return f"matches the wildcard {value!r}"
    return None


@resource_rule(
    name="iam-irsa-trust-pinned",
    description=(
        "IRSA trust policies pin `:sub` to exact service accounts and `:aud` to sts.amazonaws.com."
    ),
    remediation=(
        "Build the trust with `components.iam.irsa_trust_policy` (StringEquals on "
        "`<issuer>:sub` = system:serviceaccount:<namespace>:<name> and `<issuer>:aud`, where "
        "<issuer> is the OIDC provider ARN's path after `oidc-provider/`, without https://)."
    ),
    severity=CRITICAL,
    types=(ROLE,),
)
def irsa_trust_pinned(resource: Resource, context: Context) -> Iterator[str]:
    for index, statement in enumerate(documents.statements(resource.get("assumeRolePolicy"))):
        if not documents.grants_action(statement, WEB_IDENTITY):
            continue
        issuer = _irsa_issuer(statement)
        if issuer is None:
            continue  # another identity provider (not the cluster's OIDC issuer)
        condition = statement.get("Condition") or {}
        sid = statement.get("Sid") or f"#{index}"
        for key in _foreign_claim_keys(condition, issuer):
            yield (
                f"trust statement {sid}: condition key {key!r} does not name the provider's "
                f"issuer {issuer!r} (the ARN's path after 'oidc-provider/', without https://), "
                "so IAM never matches it"
            )
        sub = _pinned(
            _condition_values(condition, f"{issuer}:sub"),
            lambda v: v.startswith("system:serviceaccount:") and v.count(":") == 3,
        )
        if sub:
            yield f"trust statement {sid}: {issuer}:sub {sub}"
        aud = _pinned(_condition_values(condition, f"{issuer}:aud"), lambda v: v == STS_AUDIENCE)
        if aud:
            yield f"trust statement {sid}: {issuer}:aud {aud}"


# Tenant secrets -------------------------------------------------------------------------------


def _tenant_of(role: Resource) -> Optional[str]:
    tags = role.tags if isinstance(role.tags, Mapping) else {}
    tenant = tags.get(TENANT_TAG)
    return tenant if isinstance(tenant, str) and tenant else None


def _attached(stack: Stack, role: Resource, types: tuple[str, ...]) -> list[Resource]:
    """Resources of `types` that name the role in `role` (by name, or through the engine's
    dependency graph when the name is not known yet)."""
    name = role.get("name")
    found = []
    for candidate in stack.of_type(*types):
        target = candidate.get("role")
        if isinstance(name, str) and target == name:
            found.append(candidate)
        elif not isinstance(target, str) and role.urn in candidate.dependencies:
            found.append(candidate)
    return found


def _managed_policy(stack: Stack, attachment: Resource) -> Optional[Resource]:
    arn = attachment.get("policyArn")
    for policy in stack.of_type(POLICY):
        name = policy.get("name")
        if isinstance(arn, str) and isinstance(name, str) and arn.endswith(f"/{name}"):
            return policy
        if not isinstance(arn, str) and policy.urn in attachment.dependencies:
            return policy
    return None


def _permission_documents(stack: Stack, role: Resource) -> Iterator[tuple[str, Any]]:
    for where, document in _role_documents(role):
        yield where, document
    for policy in _attached(stack, role, (ROLE_POLICY,)):
        yield f"role policy {policy.name}", policy.get("policy")
    arns = as_list(role.get("managedPolicyArns"))
    for attachment in _attached(stack, role, (ROLE_ATTACHMENT,)):
        managed = _managed_policy(stack, attachment)
        if managed is not None:
            yield f"policy {managed.name}", managed.get("policy")
        else:
            arns.append(attachment.get("policyArn"))
    for arn in arns:
        if _aws_managed(arn, ALL_SECRETS_POLICIES):
            yield f"managed policy {arn}", {
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
            }


def _literal(part: str, default: str) -> str:
    return default if not part or "*" in part or "?" in part else part


def _probe_arn(glob: str, secret_name: str) -> str:
    """A secret ARN in the glob's own partition, region and account, so only the name decides
    (Secrets Manager appends a random 6-character suffix to every secret's ARN)."""
    parts = glob.split(":", 6)
    if len(parts) < 7 or parts[0] != "arn":
        parts = ["arn", "aws", "secretsmanager", "", "", "secret", ""]
    partition = _literal(parts[1], "aws")
    region, account = _literal(parts[3], "eu-west-1"), _literal(parts[4], "123456789012")
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_name}-AbCdEf"


def _secrets_root(role: Resource) -> str:
    """`<project>/<environment>/tenants`, from the role's tags (else its URN's project/stack)."""
    tags = role.tags if isinstance(role.tags, Mapping) else {}
    head = role.urn.split("::")
    stack = head[0].split(":")[-1] if head else ""
    project = head[1] if len(head) > 1 else ""
    environment = tags.get(ENVIRONMENT_TAG) or stack
    return f"{tags.get('paved-road:project') or project}/{environment}/tenants"


@stack_rule(
    name="iam-tenant-secrets-isolation",
    description="No tenant role can read another tenant's Secrets Manager prefix.",
    remediation=(
        "Scope tenant roles' secretsmanager:GetSecretValue to "
        "arn:aws:secretsmanager:<region>:<account>:secret:<project>/<env>/tenants/<tenant>/*."
    ),
    severity=CRITICAL,
)
def tenant_secrets_isolation(stack: Stack, context: Context) -> Iterator[Finding]:
    """A tenant role is an IAM role tagged `paved-road:tenant`. Its permissions are its inline
    policies, role policies, attached customer policies of the stack and AWS-managed policies
    that read every secret. Each readable resource pattern is tried against a secret under every
    other tenant's prefix (`<project>/<environment>/tenants/<other>/`), including a tenant that
    does not exist yet — `tenants/*` is as wrong with one tenant as with fifty."""
    roles = [r for r in stack.of_type(ROLE) if _tenant_of(r)]
    tenants = sorted({t for t in map(_tenant_of, roles) if t})
    for role in roles:
        tenant = _tenant_of(role)
        root = _secrets_root(role)
        # A name no tenant has yet stands for the tenants still to come.
        others = [t for t in tenants if t != tenant] + [f"not-{tenant}"]
        for where, document in _permission_documents(stack, role):
            for statement in documents.statements(document):
                if not any(documents.grants_action(statement, a) for a in SECRET_READS):
                    continue
                for glob in documents.resource_globs(statement):
                    readable = [
                        other
                        for other in others
                        if documents.matches(glob, _probe_arn(glob, f"{root}/{other}/app"))
                    ]
                    if not readable:
                        continue
                    named = [t for t in readable if t in tenants]
                    whose = ", ".join(f"{root}/{t}/" for t in named) or f"{root}/<any tenant>/"
                    yield Finding(
                        role.urn,
                        f"tenant {tenant}'s role can read secrets under {whose} through {where} "
                        f"(resource {glob!r})",
                    )
