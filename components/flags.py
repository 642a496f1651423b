"""A tenant's feature flags, and what its apps that set `flags: true` get to read them.

`openfeature` (components/delivery/flags.py installs the operator): the tenant file's `flags:`
become one flag set, `flags`, in each of the tenant's namespaces, as

- a `FeatureFlag` (core.openfeature.dev/v1beta1): the record the operator validates against
  flagd's schema, and from which its webhook would build the file below if it were missing;
- a ConfigMap `flags` holding the same flags as flagd's JSON file
  (`<namespace>_flags.flagd.json`, the name and key the operator's `file` sync mounts,
  api/core/v1beta1 `GenerateConfigMap`). The platform writes it: the operator creates it once,
  when the first pod is admitted, and never updates it, so without this a changed flag would not
  reach running pods. The kubelet refreshes a mounted ConfigMap and flagd's file sync watches it;
- a `FeatureFlagSource` `flags`: the sidecar's settings, its one source that file.

Pods of a flag-reading app carry the operator's annotations and the label its webhook selects;
their containers get `FLAGD_HOST` (the sidecar, on localhost) and, from the operator at
admission, `FLAGD_PORT`, `FLAGD_RESOLVER=rpc` and the sidecar's other settings — what the
OpenFeature SDKs' flagd provider reads. The tenant's service accounts hold no permission on
FeatureFlags: nothing here reads flags through the API server.

`launchdarkly`: flags live in LaunchDarkly. Each flag-reading app gets the SDK key from the
tenant's Secrets Manager prefix (`<project>/<env>/tenants/<tenant>/launchdarkly`, property
`sdk-key`) through an ExternalSecret and the tenant's SecretStore, into a Secret its pods read as
`LAUNCHDARKLY_SDK_KEY`: the key is never in config, the plan or the state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import kubernetes
from components.apps_config import AppConfig
from components.delivery.flags import (
    ENABLED_ANNOTATION,
    FLAGD_MANAGEMENT_PORT,
    FLAGD_PORT,
    FLAGS_LABEL,
    SOURCE_ANNOTATION,
)
from components.flags_config import FlagConfig

FEATURE_FLAG_API = "core.openfeature.dev/v1beta1"
# One flag set per namespace: the FeatureFlag, its ConfigMap and the FeatureFlagSource.
FLAG_SET = "flags"
LAUNCHDARKLY_SECRET = "launchdarkly"
LAUNCHDARKLY_KEY = "sdk-key"
LAUNCHDARKLY_ENV = "LAUNCHDARKLY_SDK_KEY"


@dataclass(frozen=True)
class AppFlags:
    """What a flag-reading app's pods carry, and what their workload waits for."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    env: tuple[dict[str, Any], ...] = ()
    depends_on: tuple[pulumi.Resource, ...] = ()


def flag_spec(flags: Sequence[FlagConfig]) -> dict[str, Any]:
    """The flag set as flagd's flag definition file (and the FeatureFlag's `flagSpec`)."""
    return {"flags": {flag.name: flag.flagd() for flag in sorted(flags, key=lambda f: f.name)}}


def flagd_file(namespace: str) -> str:
    """The ConfigMap key the operator's `file` sync mounts (internal/common/utils:
    `FeatureFlagConfigMapKey`): `<namespace>_<name>.flagd.json`."""
    return f"{namespace}_{FLAG_SET}.flagd.json"


def flag_set(
    namespace: str,
    flags: Sequence[FlagConfig],
    *,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    after: Sequence[pulumi.Resource],
) -> list[pulumi.Resource]:
    """The tenant's flags in one of its namespaces; `after`: the namespace and the operator's
    release (CRDs and the FeatureFlag webhook, which fails closed)."""
    spec = flag_spec(flags)
    opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(after))

    def metadata(**extra: Any) -> dict[str, Any]:
        return {"name": FLAG_SET, "namespace": namespace, "labels": dict(labels), **extra}

    feature_flag = k8s.apiextensions.CustomResource(
        f"{namespace}-feature-flags",
        api_version=FEATURE_FLAG_API,
        kind="FeatureFlag",
        metadata=metadata(),
        spec={"flagSpec": spec},
        opts=opts,
    )
    config_map = k8s.core.v1.ConfigMap(
        f"{namespace}-feature-flags-file",
        metadata=metadata(annotations={"openfeature.dev/featureflag": FLAG_SET}),
        data={flagd_file(namespace): json.dumps(spec, sort_keys=True, separators=(",", ":"))},
        opts=opts,
    )
    source = k8s.apiextensions.CustomResource(
        f"{namespace}-feature-flag-source",
        api_version=FEATURE_FLAG_API,
        kind="FeatureFlagSource",
        metadata=metadata(),
        spec={
            "sources": [{"source": FLAG_SET, "provider": "file"}],
            "defaultSyncProvider": "file",
            "port": FLAGD_PORT,
            "managementPort": FLAGD_MANAGEMENT_PORT,
            "evaluator": "json",
            "probesEnabled": True,
        },
        opts=opts,
    )
    return [feature_flag, config_map, source]


def openfeature_app(flag_objects: Sequence[pulumi.Resource]) -> AppFlags:
    """The operator's annotations (inject flagd, reading this namespace's `flags` source) and
    the label its webhook selects on; the pod waits for the flag set it mounts."""
    return AppFlags(
        labels={FLAGS_LABEL: "true"},
        annotations={ENABLED_ANNOTATION: "true", SOURCE_ANNOTATION: FLAG_SET},
        env=({"name": "FLAGD_HOST", "value": "localhost"},),
        depends_on=tuple(flag_objects),
    )


def launchdarkly_secret_name(app: AppConfig) -> str:
    return f"{app.name}-{LAUNCHDARKLY_SECRET}"


def launchdarkly_app(
    app: AppConfig,
    namespace: str,
    *,
    tenant: str,
    secret_prefix: str,
    store_name: str,
    labels: Mapping[str, str],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    after: Sequence[pulumi.Resource],
) -> AppFlags:
    """The SDK key, copied by External Secrets from the tenant's prefix into a Secret of the
    app's namespace; the pod reads it by reference. `after`: the namespace's SecretStore (and
    what it needs)."""
    name = launchdarkly_secret_name(app)
    manifest = kubernetes.external_secret(
        name,
        namespace,
        labels,
        store_name=store_name,
        data=[
            {
                "secretKey": LAUNCHDARKLY_KEY,
                "remoteRef": {
                    "key": f"{secret_prefix}{LAUNCHDARKLY_SECRET}",
                    "property": LAUNCHDARKLY_KEY,
                },
            }
        ],
    )
    external_secret = k8s.apiextensions.CustomResource(
        f"{tenant}/{app.name}/launchdarkly-sdk-key",
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(after)),
    )
    return AppFlags(
        env=(
            {
                "name": LAUNCHDARKLY_ENV,
                "valueFrom": {"secretKeyRef": {"name": name, "key": LAUNCHDARKLY_KEY}},
            },
        ),
        depends_on=(external_secret,),
    )
