"""One check for every IRSA trust policy: exact claim keys of the provider the role trusts.

IAM names a web identity's claims `<issuer>:sub` and `<issuer>:aud`, where the issuer is the OIDC
provider's URL without `https://` — exactly the path that ends the provider's ARN
(`arn:aws:iam::<account>:oidc-provider/<issuer>`, see the AWS IAM User Guide, "Available keys for
AWS web identity federation"). Deriving the expected keys from the statement's own Federated
principal makes the check hold whatever the mocks invent for the cluster's outputs; a suffix
check (`key.endswith(":sub")`) would accept `https://<issuer>:sub`, which IAM never matches.
"""

from __future__ import annotations

from typing import Any

STS_AUDIENCE = "sts.amazonaws.com"


def issuer_path(federated_arn: str) -> str:
    """The issuer as condition keys name it: the provider ARN's path after `oidc-provider/`."""
    assert federated_arn.startswith("arn:aws:iam::"), federated_arn
    assert ":oidc-provider/" in federated_arn, federated_arn
    issuer = federated_arn.split(":oidc-provider/", 1)[1]
    assert issuer and "://" not in issuer, federated_arn
    return issuer


def assert_irsa_trust(statement: dict[str, Any], namespace: str, service_account: str) -> None:
    """The statement lets exactly `namespace/service_account` assume the role, with STS tokens."""
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    issuer = issuer_path(statement["Principal"]["Federated"])
    assert statement["Condition"] == {
        "StringEquals": {
            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
            f"{issuer}:aud": STS_AUDIENCE,
        }
    }, statement["Condition"]
