"""`pavedroad plan`: what `pulumi up` would create, as reviewable files, without cloud credentials.

Writes `plan.json` (every registration, sorted by urn) and `kubernetes.yaml` (every Kubernetes
object as it would be applied, ordered by namespace, kind, name) — both byte-identical across runs
of the same input — and prints a summary a reviewer can read at a glance.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from json.encoder import INFINITY, encode_basestring
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, TextIO

import yaml

from pavedroad.engine import PlanRun, RecordedResource
from components.apps import SLO_ANNOTATION
from components.insight.release_notifications import STATUS_ANNOTATION as RELEASE_NOTIFICATIONS
from components.insight import slo
from pavedroad.uptime import modelled_up_time, summary_lines

# libyaml's emitter, always: PyYAML's own folds long quoted strings elsewhere, so a machine
# without libyaml would write other bytes for the same plan (PyYAML's wheels all bundle it).
_DUMPER = yaml.CSafeDumper
# Kubernetes resources that are not objects in the cluster themselves.
_NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml", "pulumi:providers:kubernetes")


def plan_document(run: PlanRun, resources: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    """plan.json's content; `resources`: each resource's `to_json()`, when the caller has them."""
    return {
        "project": run.project,
        "stack": run.stack,
        "resources": [r.to_json() for r in run.resources] if resources is None else resources,
        "outputs": run.outputs,
    }


def is_kubernetes_object(resource: RecordedResource) -> bool:
    return (
        resource.custom
        and resource.type.startswith("kubernetes:")
        and not resource.type.startswith(_NOT_OBJECTS)
    )


def manifest_of(resource: RecordedResource) -> dict[str, Any]:
    """A Kubernetes object resource as the manifest the provider applies."""
    inputs = dict(resource.inputs)
    manifest = {"apiVersion": inputs.pop("apiVersion"), "kind": inputs.pop("kind")}
    manifest.update(inputs)
    return manifest


def kubernetes_objects(resources: Iterable[RecordedResource]) -> list[dict[str, Any]]:
    """The manifests the Kubernetes provider would apply, in a stable GitOps-readable order."""
    return [manifest for _, manifest in kubernetes_objects_of(resources)]


def kubernetes_objects_of(
    resources: Iterable[RecordedResource],
) -> list[tuple[RecordedResource, dict[str, Any]]]:
    """`kubernetes_objects`, each manifest with the resource it is made from."""
    objects = [(r, manifest_of(r)) for r in resources if is_kubernetes_object(r)]

    def order(pair: tuple[RecordedResource, dict[str, Any]]) -> tuple[str, str, str]:
        manifest = pair[1]
        metadata = manifest.get("metadata") or {}
        return (metadata.get("namespace") or "", manifest["kind"], metadata.get("name") or "")

    return sorted(objects, key=order)


def kubernetes_version_of(resource: RecordedResource) -> Optional[str]:
    """The Kubernetes minor a resource says the cluster runs, when it is the cluster."""
    from components.versions import DEFAULT_KUBERNETES_VERSION

    if resource.type != "eks:index:Cluster":
        return None
    return resource.inputs.get("version", DEFAULT_KUBERNETES_VERSION)


def kubernetes_version(run: PlanRun) -> str:
    """The minor the planned cluster runs, which is the schema its objects must satisfy."""
    from components.versions import DEFAULT_KUBERNETES_VERSION

    clusters = run.by_type("eks:index:Cluster")
    return (
        clusters[0].inputs.get("version", DEFAULT_KUBERNETES_VERSION)
        if clusters
        else DEFAULT_KUBERNETES_VERSION
    )


def render_plan_json(run: PlanRun) -> str:
    return dumps_indented(plan_document(run)) + "\n"


def dumps_indented(document: Any) -> str:
    """Exactly `json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)`, twice as fast.

    With `indent` the standard library leaves its C encoder for a generator per nesting level;
    this writes the same bytes with plain recursion (strings still go through the C string
    encoder). Anything outside plain JSON data — a non-string key, an unknown type, a cycle —
    goes to `json.dumps` itself, which encodes it or raises exactly as before.
    tests/test_plan_output.py proves the bytes equal on the plans and on edge cases.
    """
    text = io.StringIO()
    write_indented(document, text)
    return text.getvalue()


def write_indented(document: Any, file: TextIO) -> None:
    """`dumps_indented(document)` written to `file` (at its start) a piece at a time: a
    500-tenant plan.json is 29 MB of text, and built whole it raised the plan's peak memory from
    950 to 1,020 MiB."""
    try:
        for piece in _pieces(document, "\n", _PIECE_DEPTH):
            file.write(piece)
    except (_NotPlainJson, RecursionError):
        file.seek(0)
        file.truncate()
        file.write(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))


# Items of the outer containers are encoded one at a time: plan.json's resources, one by one.
_PIECE_DEPTH = 2


def _pieces(value: Any, newline: str, depth: int) -> Iterator[str]:
    """The indented text of `value`, a piece for each item of its outer `depth` levels."""
    if depth == 0 or not value or not isinstance(value, (list, tuple, dict)):
        parts: list[str] = []
        _encode(value, parts, newline)
        yield "".join(parts)
        return
    inner = newline + "  "
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise _NotPlainJson  # json converts such keys first; leave it to json
        brackets = "{}"
        items = [(encode_basestring(key) + ": ", value[key]) for key in sorted(value)]
    else:
        brackets, items = "[]", [("", item) for item in value]
    separator = brackets[0] + inner
    for prefix, item in items:
        yield separator + prefix
        yield from _pieces(item, inner, depth - 1)
        separator = "," + inner
    yield newline + brackets[1]


class _NotPlainJson(Exception):
    pass


def _encode(value: Any, parts: list[str], newline: str) -> None:
    # The order of the checks is json's own (a bool is an int; str, int and float subclasses
    # encode as their base type).
    if isinstance(value, str):
        parts.append(encode_basestring(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_float(value))
    elif isinstance(value, (list, tuple)):
        if not value:
            parts.append("[]")
            return
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            parts.append(separator)
            _encode(item, parts, inner)
            separator = "," + inner
        parts.append(newline + "]")
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key in sorted(value):
            if not isinstance(key, str):
                raise _NotPlainJson  # json converts such keys first; leave it to json
            parts.append(separator + encode_basestring(key) + ": ")
            _encode(value[key], parts, inner)
            separator = "," + inner
        parts.append(newline + "}")
    else:
        raise _NotPlainJson


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == INFINITY:
        return "Infinity"
    if value == -INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def render_manifest(manifest: dict[str, Any]) -> str:
    """One Kubernetes object as its document in kubernetes.yaml."""
    return yaml.dump(manifest, Dumper=_DUMPER, sort_keys=True, default_flow_style=False, width=100)


def join_manifests(documents: Iterable[str]) -> str:
    """kubernetes.yaml from its documents (`render_manifest` of each, in plan order): the bytes
    `yaml.dump_all` writes for the objects, which starts every document after the first with
    `---`, so the documents can be rendered one at a time, as they are planned."""
    return "---\n".join(documents)


def render_kubernetes_yaml(run: PlanRun, manifests: Optional[list[dict[str, Any]]] = None) -> str:
    """`manifests`: `kubernetes_objects(run.resources)` when the caller has it already."""
    objects = kubernetes_objects(run.resources) if manifests is None else manifests
    return join_manifests(render_manifest(manifest) for manifest in objects)


def write_plan_json(
    run: PlanRun, out_dir: Path, resources: Optional[list[dict[str, Any]]] = None
) -> Path:
    """plan.json into `out_dir`, the bytes of `render_plan_json` (kubernetes.yaml is rendered as
    objects are planned, by the checking process: `render_kubernetes_yaml` gives its bytes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plan_path = out_dir / "plan.json"
    with plan_path.open("w", encoding="utf-8") as file:
        write_indented(plan_document(run, resources), file)
        file.write("\n")
    return plan_path


def layer_of(resource: RecordedResource) -> str:
    """The component directly under the Platform that a resource belongs to (its layer)."""
    qualified = resource.urn.split("::")[2].split("$")
    if len(qualified) >= 2 and qualified[0] == "paved-road:index:Platform":
        return qualified[1].split(":")[-1]
    return qualified[-1] if len(qualified) == 1 else qualified[0].split(":")[-1]


def summary(run: PlanRun) -> str:
    custom = [r for r in run.resources if r.custom]
    by_layer = Counter(layer_of(r) for r in custom)
    by_type = Counter(r.type for r in run.resources)
    protected = sorted(r.name for r in run.resources if r.protect)
    objects = sum(1 for r in run.resources if is_kubernetes_object(r))
    width = max((len(t) for t in by_type), default=10)
    releases = sorted(
        f"  {r.inputs.get('chart')} {r.inputs.get('version')} in {r.inputs.get('namespace')}"
        f" ({r.urn.split('::')[2].split('$')[-2].split(':')[-1]})"
        for r in run.resources
        if r.type == "kubernetes:helm.sh/v3:Release"
    )
    lines = [
        "A model of what `pulumi up` would register, made offline under mocks: a model of a "
        "`pulumi preview`, not a preview (see the README's offline plan section).",
        f"Plan for stack {run.stack!r} of {run.project}: {len(run.resources)} resources "
        f"({len(custom)} cloud and Kubernetes resources, {len(run.resources) - len(custom)} "
        f"components), {objects} Kubernetes objects",
        "",
        "By layer:",
        *(f"  {layer:<24} {count:>5}" for layer, count in sorted(by_layer.items())),
        "",
        "By type:",
        *(f"  {type_:<{width}} {count:>5}" for type_, count in sorted(by_type.items())),
        "",
        f"Helm releases ({len(releases)}):",
        *releases,
        "",
        f"Protected ({len(protected)}): {', '.join(protected) if protected else 'none'}",
        "",
        *_internet_egress_lines(run),
        *_tenant_resource_lines(run),
        *_portal_lines(run),
        *_slo_lines(run),
        *_release_notification_lines(run),
        *summary_lines(modelled_up_time(run.resources)),
    ]
    return "\n".join(lines)


def _internet_egress_lines(run: PlanRun) -> list[str]:
    """Tenants the stack lets reach the internet (`allowInternetEgress`): an opt-out stays
    visible in every plan, not only in the stack file."""
    granted = sorted(
        f"  {_metadata_field(r, 'namespace')}/{_metadata_field(r, 'name')}"
        for r in run.resources
        if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
        and "paved-road/internet-egress" in (_metadata_field(r, "annotations") or {})
    )
    if not granted:
        return []
    return [f"Internet egress allowed by the stack ({len(granted)}):", *granted, ""]


# Self-service resources (components/resources/) by component type, as the summary names them.
RESOURCE_COMPONENTS = {
    "paved-road:resources:Postgres": "postgres",
    "paved-road:resources:Redis": "redis",
    "paved-road:resources:DnsName": "dns",
    "paved-road:resources:EventTrigger": "events",
}


def _tenant_resource_lines(run: PlanRun) -> list[str]:
    """Each tenant's resources (`<tenant>/<name>`), with what its size and environment made of
    it: the review of a tenant file's `resources:` change starts here."""
    children: dict[str, list[RecordedResource]] = {}
    for resource in run.resources:
        if resource.parent:
            children.setdefault(resource.parent, []).append(resource)
    lines = []
    for component in run.resources:
        kind = RESOURCE_COMPONENTS.get(component.type)
        # The portal's database is the platform's, shown on the portal's line.
        if kind is None or PORTAL_COMPONENT in component.urn.split("::")[2].split("$"):
            continue
        inner = {r.type: r for r in children.get(component.urn, [])}
        lines.append(f"  {component.name}: {_resource_detail(kind, inner)}")
    if not lines:
        return []
    return [f"Tenant resources ({len(lines)}; README, 'Ask for infrastructure'):", *lines, ""]


PORTAL_COMPONENT = "paved-road:core:Portal"


def _portal_lines(run: PlanRun) -> list[str]:
    """The developer portal: where, which build of Backstage, and on what database (the
    chart's bundled one is development only, and said so)."""
    release = next(
        (
            r
            for r in run.resources
            if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs.get("chart") == "backstage"
        ),
        None,
    )
    if release is None:
        return []
    values = release.inputs.get("values") or {}
    image = values.get("backstage", {}).get("image", {})
    pinned = image.get("digest") or image.get("tag")
    separator = "@" if image.get("digest") else ":"
    if values.get("postgresql", {}).get("enabled"):
        database = "the chart's bundled PostgreSQL (development only)"
    else:
        children: dict[str, list[RecordedResource]] = {}
        for resource in run.resources:
            if resource.parent:
                children.setdefault(resource.parent, []).append(resource)
        database = next(
            (
                "RDS "
                + _resource_detail("postgres", {r.type: r for r in children.get(component.urn, [])})
                for component in run.resources
                if component.type == "paved-road:resources:Postgres"
                and PORTAL_COMPONENT in component.urn.split("::")[2].split("$")
            ),
            "none",
        )
    host = values.get("ingress", {}).get("host")
    return [
        "Developer portal (README, 'Marketplace'):",
        f"  https://{host}: Backstage chart {release.inputs.get('version')}, image "
        f"{image.get('registry')}/{image.get('repository')}{separator}{pinned}",
        f"  database: {database}",
        "",
    ]


def _resource_detail(kind: str, inner: dict[str, RecordedResource]) -> str:
    def flag(value: Any) -> str:
        return "yes" if value is True else "no"

    if kind == "postgres" and "aws:rds/instance:Instance" in inner:
        db = inner["aws:rds/instance:Instance"]
        i = db.inputs
        return (
            f"postgres {i.get('engineVersion')} on {i.get('instanceClass')}, Multi-AZ "
            f"{flag(i.get('multiAz'))}, backups {i.get('backupRetentionPeriod')} days, "
            f"protected {flag(db.protect)}"
        )
    if kind == "redis" and "aws:elasticache/replicationGroup:ReplicationGroup" in inner:
        group = inner["aws:elasticache/replicationGroup:ReplicationGroup"]
        i = group.inputs
        return (
            f"{i.get('engine')} {i.get('engineVersion')} on {i.get('numCacheClusters')} x "
            f"{i.get('nodeType')}, failover {flag(i.get('automaticFailoverEnabled'))}, "
            f"protected {flag(group.protect)}"
        )
    if kind == "dns" and "aws:acm/certificate:Certificate" in inner:
        return f"dns {inner['aws:acm/certificate:Certificate'].inputs.get('domainName')}"
    if kind == "events" and "aws:cloudwatch/eventRule:EventRule" in inner:
        rule = inner["aws:cloudwatch/eventRule:EventRule"].inputs
        source = rule.get("scheduleExpression") or f"pattern {rule.get('eventPattern')}"
        consumer = "aws:iam/rolePolicy:RolePolicy" in inner
        return f"events {source} into queue {rule.get('name')}" + (
            ", consumed by the tenant's workload role" if consumer else ""
        )
    return kind


def _slo_lines(run: PlanRun) -> list[str]:
    """Each api-service's SLO rules, what differs from what its tenant file wrote (a latency
    threshold counted at a lower bucket) and each explicit opt-out."""
    lines = []
    for resource in run.resources:
        # App objects are named `<tenant>/<app>/<role>`.
        where = f"{_metadata_field(resource, 'namespace')}/{resource.name.split('/')[-2:][0]}"
        annotations = _metadata_field(resource, "annotations") or {}
        if resource.type == f"kubernetes:{slo.API_VERSION}:{slo.KIND}" and resource.name.endswith(
            "/slo-rule"
        ):
            groups = resource.inputs["spec"]["groups"]
            count = sum(len(group["rules"]) for group in groups)
            kinds = ", ".join(group["name"].rsplit("-slo-", 1)[-1] for group in groups)
            lines.append(f"  {where}: {kinds} ({count} rules)")
            if slo.SLO_NOTE_ANNOTATION in annotations:
                lines.append(f"  {where}: {annotations[slo.SLO_NOTE_ANNOTATION]}")
        elif resource.type == "kubernetes:monitoring.coreos.com/v1:ServiceMonitor":
            if SLO_ANNOTATION in annotations:
                lines.append(f"  {where}: {annotations[SLO_ANNOTATION]}")
    if not lines:
        return []
    return ["SLOs (README, 'Observe'):", *sorted(lines), ""]


def _release_notification_lines(run: PlanRun) -> list[str]:
    """Where each Rollout's release events go, or why nowhere (a team without a Slack
    receiver hears nothing, and the plan says so)."""
    lines = sorted(
        f"  {_metadata_field(r, 'namespace')}/{_metadata_field(r, 'name')}: "
        f"{(_metadata_field(r, 'annotations') or {})[RELEASE_NOTIFICATIONS]}"
        for r in run.resources
        if r.type == "kubernetes:argoproj.io/v1alpha1:Rollout"
        and RELEASE_NOTIFICATIONS in (_metadata_field(r, "annotations") or {})
    )
    if not lines:
        return []
    return ["Release notifications (README, 'Release notifications'):", *lines, ""]


def _metadata_field(resource: RecordedResource, key: str) -> Any:
    metadata = resource.inputs.get("metadata")
    return metadata.get(key) if isinstance(metadata, dict) else None
