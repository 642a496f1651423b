"""Validate custom resources against the upstream CRDs in ../shared/crds, as the API server would.

A CRD's `openAPIV3Schema` is close to JSON Schema but not quite: `x-kubernetes-int-or-string`
accepts an integer or a string, `nullable` allows null, and — the trap — the API server prunes or,
with strict field validation, rejects unknown fields everywhere except under
`x-kubernetes-preserve-unknown-fields`. The translation below makes unknown fields errors, so a
misspelt field fails here instead of being silently dropped in the cluster.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

CRD_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "crds"


def require_crds() -> Path:
    """The CRDs live beside the checkout; in CI their absence is a failure, never a skip."""
    if not CRD_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CRD_DIR} is missing: CI must provide ../shared/crds")
        pytest.skip(f"{CRD_DIR} is not present on this machine")
    return CRD_DIR


def _to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if schema.pop("x-kubernetes-int-or-string", False):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = schema.pop("x-kubernetes-preserve-unknown-fields", False)
    for key in [k for k in schema if k.startswith("x-kubernetes-")]:
        schema.pop(key)
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    if "properties" in schema:
        schema["properties"] = {k: _to_json_schema(v) for k, v in schema["properties"].items()}
        if not preserve and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _to_json_schema(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        schema["items"] = _to_json_schema(schema["items"])
    for combinator in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list):
            schema[combinator] = [_to_json_schema(s) for s in schema[combinator]]
    if "not" in schema:
        schema["not"] = _to_json_schema(schema["not"])
    return schema


@lru_cache(maxsize=None)
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → JSON Schema, for every served version of every shared CRD."""
    found = {}
    for path in sorted(require_crds().glob("*/*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served"):
                    continue
                schema = _to_json_schema(version["schema"]["openAPIV3Schema"])
                # The API server validates metadata itself; status is ignored on create.
                schema["properties"]["metadata"] = {"type": "object"}
                schema["properties"].pop("status", None)
                found[(f"{group}/{version['name']}", kind)] = schema
    return found


def has_crd(manifest: dict[str, Any]) -> bool:
    return (manifest.get("apiVersion"), manifest.get("kind")) in _schemas()


# Kinds whose CRD is not in ../shared/crds yet, each with the test that holds its shape to the
# upstream type's fields instead. Remove an entry once its CRD is added there.
SHAPE_TESTED_ELSEWHERE = {
    ("vpcresources.k8s.aws/v1beta1", "SecurityGroupPolicy"): (
        "tests/test_resources.py::"
        "test_every_namespace_of_a_tenant_with_a_data_store_gives_its_pods_both_groups"
    ),
}


def awaiting_shared_crd(manifest: dict[str, Any]) -> bool:
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    return key in SHAPE_TESTED_ELSEWHERE and not has_crd(manifest)


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """Every schema violation of `manifest`, as 'path: message'; raises if no CRD serves it."""
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    schema = _schemas().get(key)
    if schema is None:
        raise LookupError(f"no served CRD for {key[0]} {key[1]} in {CRD_DIR}")
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]
