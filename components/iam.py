"""IAM building blocks shared by every layer: IRSA roles that trust exactly one service account.

An IRSA trust policy that pins only `:aud`, or matches `:sub` with a wildcard, lets any pod in the
cluster assume the role. Every workload role here pins both, so the role is usable by one service
account in one namespace and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws

STS_AUDIENCE = "sts.amazonaws.com"


def policy_document(*statements: dict[str, Any]) -> str:
    """An IAM policy document, serialized the same way every time so plans stay byte-identical."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def allow(actions: Sequence[str], resources: Sequence[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": list(resources), **extra}


@dataclass(frozen=True)
class OidcProvider:
    """The cluster's IAM OIDC provider: its ARN and its issuer without the scheme.

    IAM names the claims of a web identity `<issuer>:sub` and `<issuer>:aud`, where the issuer is
    the provider's URL without `https://` — the same string that ends the provider's ARN
    (`arn:aws:iam::<account>:oidc-provider/<issuer>`).
    """

    arn: pulumi.Output[str]
    issuer: pulumi.Output[str]


def irsa_trust_policy(
    oidc: OidcProvider, namespace: str, service_account: str
) -> pulumi.Output[str]:
    def document(args: list[str]) -> str:
        arn, issuer = args
        return policy_document(
            {
                "Effect": "Allow",
                "Principal": {"Federated": arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": STS_AUDIENCE,
                    }
                },
            }
        )

    return pulumi.Output.all(oidc.arn, oidc.issuer).apply(document)


def irsa_role(
    name: str,
    *,
    role_name: str,
    oidc: OidcProvider,
    namespace: str,
    service_account: str,
    tags: dict[str, str],
    parent: pulumi.Resource,
    managed_policy_arns: Sequence[str] = (),
    inline_policy: Optional[pulumi.Input[str]] = None,
) -> aws.iam.Role:
    """A role for one Kubernetes service account, with AWS-managed and/or inline permissions."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        name,
        name=role_name,
        assume_role_policy=irsa_trust_policy(oidc, namespace, service_account),
        tags=tags,
        opts=child,
    )
    for policy_arn in managed_policy_arns:
        short = policy_arn.rsplit("/", 1)[-1]
        aws.iam.RolePolicyAttachment(
            f"{name}-{short}", role=role.name, policy_arn=policy_arn, opts=child
        )
    if inline_policy is not None:
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=inline_policy, opts=child)
    return role


def aws_managed_policy(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


def service_trust_policy(service: str, **conditions: Any) -> str:
    """Trust for one AWS service principal (EC2 for nodes), optionally conditioned."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if conditions:
        statement["Condition"] = conditions
    return policy_document(statement)
