"""Schema checks of the planned Kubernetes objects against the cluster's own Kubernetes version.

A manifest the API server would reject (a misspelt field, a string where an integer goes) fails
`pulumi up` half-way through; checking it in the offline plan fails the pull request instead.
Custom resources have no schema in kubernetes-validate; their upstream CRD schemas are checked in
the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import kubernetes_validate


@dataclass(frozen=True)
class SchemaViolation:
    object: str
    message: str

    def __str__(self) -> str:
        return f"{self.object}: {self.message}"


def describe(manifest: dict[str, Any]) -> str:
    metadata = manifest.get("metadata") or {}
    namespace = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{manifest.get('kind')} {namespace}{metadata.get('name')}"


def check_manifests(
    manifests: Iterable[dict[str, Any]], kubernetes_version: str
) -> list[SchemaViolation]:
    """Strictly validate core objects (unknown fields are errors, as with server-side apply)."""
    violations = []
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, f"{kubernetes_version}.0", strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            continue
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            violations.append(
                SchemaViolation(describe(manifest), f"{path or '(root)'}: {error.message}")
            )
    return violations
