"""KMS keys: rotated yearly, and never usable by anyone anywhere.

A key policy statement that allows `"*"` without a condition lets every AWS account use the key;
with a condition (`aws:PrincipalOrgID`, `kms:CallerAccount`, `kms:ViaService`) it is the
documented way to share a key within an organisation or a service.
"""

from __future__ import annotations

from typing import Iterator

from . import documents
from .core import CRITICAL, MEDIUM, Context, Resource, is_unknown, resource_rule

KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
REPLICA_KEY = "aws:kms/replicaKey:ReplicaKey"
SYMMETRIC = "SYMMETRIC_DEFAULT"


@resource_rule(
    name="kms-key-rotation",
    description="Symmetric customer-managed KMS keys rotate their key material automatically.",
    remediation="Set `enable_key_rotation=True` on the key.",
    severity=MEDIUM,
    types=(KEY,),
)
def key_rotation(resource: Resource, context: Context) -> Iterator[str]:
    spec = resource.get("customerMasterKeySpec") or SYMMETRIC
    if is_unknown(spec) or spec != SYMMETRIC:
        return  # AWS rotates only symmetric encryption keys
    if resource.get("keyUsage") not in (None, "ENCRYPT_DECRYPT"):
        return
    rotation = resource.get("enableKeyRotation")
    if not is_unknown(rotation) and rotation is not True:
        yield "enableKeyRotation is not true: the key material never rotates"


@resource_rule(
    name="kms-no-public-principal",
    description="No KMS key policy allows the `*` principal without a condition.",
    remediation=(
        "Name the principals (account roots, roles) in the key policy, or add a condition that "
        "limits `*` (e.g. `aws:PrincipalOrgID`, `kms:CallerAccount`, `kms:ViaService`)."
    ),
    severity=CRITICAL,
    types=(KEY, KEY_POLICY, REPLICA_KEY),
)
def no_public_principal(resource: Resource, context: Context) -> Iterator[str]:
    for index, statement in enumerate(documents.statements(resource.get("policy"))):
        if not documents.allows(statement) or statement.get("Condition"):
            continue
        if "*" in documents.principals(statement, "AWS"):
            sid = statement.get("Sid") or f"#{index}"
            yield f"key policy statement {sid} allows principal '*' without a condition"
