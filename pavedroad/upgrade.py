"""`pavedroad upgrade STACK --to X`: the preflight of a Kubernetes upgrade, never the upgrade.

An EKS upgrade is one minor at a time, and everything tied to the minor moves with it: the control
plane, each managed add-on's build, the node AMI, the cluster autoscaler's image, and any chart
that does not declare the new minor. The preflight plans the stack as it is today, names every one
of those, checks each planned Kubernetes object against the target's API schemas, and prints the
order a rollout takes and the one stack-file line to change, so the upgrade is one reviewed pull
request whose plan diff shows every version that moves. Exit 0: clean; 1: something blocks the
upgrade (each blocker named); 2: bad usage, nothing written.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

EXIT_OK, EXIT_BLOCKED, EXIT_BAD_INPUT = 0, 1, 2

MINOR = re.compile(r"^(\d+)\.(\d+)\Z")
CLUSTER_KEY = "paved-road:cluster"
CLUSTER_TYPE = "eks:index:Cluster"
ADDON_TYPE = "aws:eks/addon:Addon"
NODE_GROUP_TYPE = "aws:eks/nodeGroup:NodeGroup"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
NODE_CLASS_TYPE = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_POOL_TYPE = "kubernetes:karpenter.sh/v1:NodePool"
AUTOSCALER_CHART = "cluster-autoscaler"


class UsageError(Exception):
    """Bad arguments: exit 2 before anything is planned."""


def minor_of(version: str) -> tuple[int, int]:
    match = MINOR.match(version)
    if match is None:
        raise UsageError(f"--to: {version!r} is not a Kubernetes minor version (e.g. '1.36')")
    return int(match.group(1)), int(match.group(2))


# Helm's kubeVersion constraints: comparisons joined by ',' or spaces (all must hold), and
# alternatives joined by '||'. Pre-release suffixes (`-0`) only let EKS's `-eks-…` builds match.
_COMPARISON = re.compile(
    r"\s*(>=|<=|!=|>|<|=)?\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?\s*,?"
)
_COMPARE = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _comparisons(constraint: str) -> list[tuple[str, tuple[int, int, int]]]:
    found, position = [], 0
    while position < len(constraint):
        match = _COMPARISON.match(constraint, position)
        if match is None or match.end() == position:
            raise ValueError(f"unsupported kubeVersion constraint {constraint!r}")
        op, major, minor, patch = match.groups()
        found.append((op or "=", (int(major), int(minor or 0), int(patch or 0))))
        position = match.end()
    return found


def chart_supports(constraint: str, minor: tuple[int, int]) -> bool:
    """Whether a chart's kubeVersion admits every patch of a minor ("" admits all).

    The lowest and a high patch are both tried: EKS moves patches without asking, so a chart that
    excludes any of them does not support the minor.
    """
    if not constraint.strip():
        return True
    alternatives = [_comparisons(part) for part in constraint.split("||")]
    return all(
        any(all(_COMPARE[op](version, bound) for op, bound in part) for part in alternatives)
        for version in ((*minor, 0), (*minor, 999))
    )


@dataclass
class Report:
    stack: str
    current: str
    target: str
    blockers: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    api_notes: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    config_change: list[str] = field(default_factory=list)
    objects_checked: int = 0
    graph_note: str = ""

    def render(self) -> str:
        lines = [
            f"Upgrade preflight for stack {self.stack}: Kubernetes {self.current} → {self.target}"
        ]
        lines += ["", "What changes together:"]
        lines += [f"  - {change}" for change in self.changes] or ["  (nothing)"]
        checked = f"Kubernetes objects checked against the {self.target} schemas"
        lines += ["", f"{checked}: {self.objects_checked}"]
        lines += [f"  - {note}" for note in self.api_notes] or [
            "  no removed, deprecated or invalid API in use"
        ]
        lines += ["", "Order of operations:"]
        lines += [f"  {number}. {step}" for number, step in enumerate(self.steps, 1)]
        if self.graph_note:
            lines.append(f"  {self.graph_note}")
        lines += ["", "Stack-config change (the whole upgrade pull request):"]
        lines += [f"  {line}" for line in self.config_change]
        lines.append("")
        if self.blockers:
            lines.append(f"BLOCKED: {len(self.blockers)} blocker(s)")
            lines += [f"  - {blocker}" for blocker in self.blockers]
        else:
            lines.append(f"Clean: {self.stack} can move to {self.target} in one reviewed change.")
        return "\n".join(lines)


def _addon_changes(report: Report, run: Any, target: str) -> list[str]:
    from components import versions

    pins = versions.EKS_ADDONS.get(target, {})
    moved = []
    for addon in sorted(run.by_type(ADDON_TYPE), key=lambda r: r.inputs["addonName"]):
        name, build = addon.inputs["addonName"], addon.inputs.get("addonVersion")
        wanted = pins.get(name)
        if wanted is None:
            report.blockers.append(
                f"EKS add-on {name}: no build pinned for {target} in versions.py"
            )
            continue
        note = "unchanged" if wanted == build else f"{build} → {wanted}"
        report.changes.append(f"EKS add-on {name}: {note}")
        moved.append(f"{name} {wanted}")
    return moved


def chart_name(release: Any) -> str:
    """The chart a Release installs: its name, or the last segment of an OCI reference
    (`oci://public.ecr.aws/karpenter/karpenter`), which names the chart too."""
    chart = str(release.inputs["chart"])
    return chart.rsplit("/", 1)[-1] if chart.startswith("oci://") else chart


def _chart_changes(report: Report, run: Any, current: str, target: str) -> list[str]:
    from components import versions

    minor = minor_of(target)
    moved = []
    releases = sorted(run.by_type(RELEASE_TYPE), key=chart_name)
    for release in releases:
        name, pinned = chart_name(release), release.inputs.get("version")
        chart = versions.CHARTS.get(name)
        constraint = chart.kube_version if chart is not None else ""
        if chart is None:
            report.blockers.append(f"chart {name} {pinned}: not pinned in versions.py")
        elif not chart_supports(constraint, minor):
            report.blockers.append(
                f"chart {name} {pinned}: kubeVersion {constraint!r} excludes {target}; "
                "pin a release that supports it in versions.py"
            )
        if name == AUTOSCALER_CHART:
            image = versions.CLUSTER_AUTOSCALER.get(target)
            if image is None:
                report.blockers.append(f"cluster-autoscaler: no image pinned for {target}")
            else:
                old = versions.CLUSTER_AUTOSCALER.get(current)
                report.changes.append(f"chart cluster-autoscaler {pinned}: image {old} → {image}")
                moved.append(f"cluster-autoscaler image {image}")
    supported = [
        f"{chart_name(r)} {r.inputs.get('version')}"
        for r in releases
        if chart_name(r) in versions.CHARTS
        and chart_supports(versions.CHARTS[chart_name(r)].kube_version, minor)
    ]
    report.changes.append(
        f"charts whose kubeVersion admits {target} (unchanged): {', '.join(supported) or 'none'}"
    )
    return moved


def _node_group_changes(report: Report, run: Any, target: str) -> list[str]:
    from components import versions

    release = versions.NODE_AMI_RELEASE_VERSIONS.get(target)
    target_minor = minor_of(target)
    rolls = []
    for group in sorted(run.by_type(NODE_GROUP_TYPE), key=lambda r: r.name):
        inputs = group.inputs
        name = inputs.get("nodeGroupNamePrefix", group.name).rstrip("-")
        version = inputs.get("version", report.current)
        skew = target_minor[1] - minor_of(version)[1]
        if skew > versions.MAX_NODE_SKEW:
            report.blockers.append(
                f"node group {name}: {version} would be {skew} minors behind a {target} control "
                f"plane (at most {versions.MAX_NODE_SKEW})"
            )
        rolling = ", ".join(
            f"{k} {v}" for k, v in sorted((inputs.get("updateConfig") or {}).items())
        )
        report.changes.append(
            f"node group {name}: {version} (AMI {inputs.get('releaseVersion')}) → {target} "
            f"(AMI {release}); {skew} minor(s) behind the control plane until it rolls "
            f"(allowed {versions.MAX_NODE_SKEW})"
        )
        rolls.append(f"{name} ({rolling or 'EKS default: 1 node'})")
    if release is None:
        report.blockers.append(f"node AMI: no release version pinned for {target} in versions.py")
    return rolls


@lru_cache(maxsize=None)
def _api_index(version: str) -> dict[tuple[str, str], str]:
    """(apiVersion, kind) → the OpenAPI description of each built-in kind a minor serves."""
    from kubernetes_validate import utils as kv_utils

    definitions = kv_utils.schema_contents(
        f"kubernetes-json-schema/v{version}.0-local-strict/_definitions.json", f"{version}.0"
    )["$defs"]
    index = {}
    for definition in definitions.values():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            api = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            index[(api, gvk["kind"])] = definition.get("description", "")
    return index


def schemas_available(version: str) -> bool:
    from kubernetes_validate import utils as kv_utils

    return any(".".join(v.split(".")[:2]) == version for v in kv_utils.all_versions())


def _check_objects(report: Report, run: Any) -> None:
    from pavedroad.plan import kubernetes_objects_of
    from pavedroad.schema import check_manifests, describe

    manifests = [manifest for _, manifest in kubernetes_objects_of(run.resources)]
    report.objects_checked = len(manifests)
    if not schemas_available(report.target):
        report.blockers.append(f"kubernetes-validate has no schemas for {report.target}")
        return
    served_now, served_then = _api_index(report.current), _api_index(report.target)
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        shown = f"{describe(manifest)} ({manifest['apiVersion']})"
        if key in served_now and key not in served_then:
            report.blockers.append(f"{shown}: removed in {report.target}")
            report.api_notes.append(f"{shown}: removed in {report.target}")
        elif "Deprecated: This API is deprecated" in served_then.get(key, ""):
            report.api_notes.append(f"{shown}: deprecated in {report.target}")
    for violation in check_manifests(manifests, report.target):
        report.blockers.append(f"{violation} (schema of {report.target})")
        report.api_notes.append(f"{violation}")


@dataclass(frozen=True)
class ConfigEdit:
    """The `version:` line of the stack file's `paved-road:cluster` block: its 1-based number and
    text before (empty: the line is added there) and after. None when the block is not written
    in block style, so no line edit is safe and the change is only printed."""

    path: Path
    number: int
    old: str
    new: str


def stack_config_edit(root: Path, stack: str, target: str) -> Optional[ConfigEdit]:
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    lines = path.read_text().splitlines()
    start = next((n for n, line in enumerate(lines) if line.strip() == f"{CLUSTER_KEY}:"), None)
    if start is None:
        return None
    depth = len(lines[start]) - len(lines[start].lstrip())
    children = [
        (n, line)
        for n, line in enumerate(lines[start + 1 :], start + 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    block = []
    for number, line in children:
        if len(line) - len(line.lstrip()) <= depth:
            break
        block.append((number, line))
    indent = len(block[0][1]) - len(block[0][1].lstrip()) if block else depth + 2
    new = f'{" " * indent}version: "{target}"'
    for number, line in block:
        if len(line) - len(line.lstrip()) == indent and re.match(r"^\s*version\s*:", line):
            return ConfigEdit(path, number + 1, line, new)
    return ConfigEdit(path, start + 2, "", new)


def _config_change(report: Report, root: Path, write: bool) -> None:
    report.config_change.append(f'{CLUSTER_KEY}.version: "{report.current}" → "{report.target}"')
    edit = stack_config_edit(root, report.stack, report.target)
    shown = f"stacks/Pulumi.{report.stack}.yaml"
    if edit is None:
        report.config_change.append(f"{shown}: set it by hand (no `{CLUSTER_KEY}:` block)")
        return
    report.config_change.append(f"{shown}:{edit.number}")
    if edit.old:
        report.config_change.append(f"- {edit.old}")
    report.config_change.append(f"+ {edit.new}")
    if write and not report.blockers:
        lines = edit.path.read_text().splitlines(keepends=True)
        if edit.old:
            lines[edit.number - 1] = edit.new + "\n"
        else:
            lines.insert(edit.number - 1, edit.new + "\n")
        edit.path.write_text("".join(lines))
        report.config_change.append(f"written to {shown}")


def _karpenter_changes(report: Report, run: Any, target: str) -> list[str]:
    """Karpenter's nodes are not in a node group: they boot the EC2NodeClass's AMI alias, which
    resolves for the minor the control plane runs, so they roll by drift once it has moved."""
    from components import versions

    classes = sorted(run.by_type(NODE_CLASS_TYPE), key=lambda r: r.name)
    if not classes or target not in versions.NODE_AMI_RELEASE_VERSIONS:
        return []
    alias = versions.karpenter_ami_alias(target)
    pools = sorted(pool.inputs["metadata"]["name"] for pool in run.by_type(NODE_POOL_TYPE))
    for node_class in classes:
        terms = node_class.inputs["spec"].get("amiSelectorTerms", [])
        old = ", ".join(term.get("alias", "?") for term in terms)
        report.changes.append(
            f"Karpenter nodes (NodePools {', '.join(pools)}): AMI {old} of {report.current} → "
            f"{alias} of {target}, replaced by drift after the control plane moves"
        )
    return [f"Karpenter NodePools {', '.join(pools)} (drift, within their disruption budgets)"]


def preflight(stack: str, target: str, root: Path, write: bool = False) -> Report:
    """Plan `stack` as it is and judge a move of its cluster to `target`."""
    from components import versions
    from pavedroad.engine import run_program
    from pavedroad.plan import kubernetes_version

    target_minor = minor_of(target)
    run = run_program(stack, root)
    current = kubernetes_version(run)
    report = Report(stack, current, target)
    current_minor = minor_of(current)
    if target_minor <= current_minor:
        report.blockers.append(f"{target} is not newer than the cluster's {current}")
    elif target_minor[0] != current_minor[0] or target_minor[1] - current_minor[1] > 1:
        report.blockers.append(
            f"{current} → {target} skips a minor: EKS upgrades one minor at a time "
            f"(next: {current_minor[0]}.{current_minor[1] + 1})"
        )
    if target not in versions.SUPPORTED_KUBERNETES_VERSIONS:
        report.blockers.append(
            f"{target} is not supported by components/versions.py "
            f"(supported: {', '.join(versions.SUPPORTED_KUBERNETES_VERSIONS)})"
        )
    report.changes.append(f"control plane: {current} → {target}")
    addons = _addon_changes(report, run, target)
    charts = _chart_changes(report, run, current, target)
    groups = _node_group_changes(report, run, target) + _karpenter_changes(report, run, target)
    _check_objects(report, run)
    report.steps = [
        f"control plane: EKS updates the cluster in place to {target}",
        f"EKS add-ons, each to its {target} build: " + (", ".join(addons) or "none"),
        "core charts: " + (", ".join(charts) or "no chart version moves"),
        "node groups, rolling (new nodes first, old ones drained within max unavailable): "
        + (", ".join(groups) or "none"),
    ]
    report.graph_note = _graph_note(run)
    _config_change(report, root, write)
    return report


def _graph_note(run: Any) -> str:
    """Where one `pulumi up` of the change departs from the order above: resources that depend on
    the node groups (they run as pods, or need nodes to be reached) wait for them to roll."""
    groups = {group.urn for group in run.by_type(NODE_GROUP_TYPE)}
    waiting = sorted(
        addon.inputs["addonName"]
        for addon in run.by_type(ADDON_TYPE)
        if groups & set(addon.dependencies)
    )
    providers = [
        p.urn for p in run.by_type("pulumi:providers:kubernetes") if groups & set(p.dependencies)
    ]
    charts = [r for r in run.by_type(RELEASE_TYPE) if r.provider.rpartition("::")[0] in providers]
    parts = [f"the EKS add-ons {' and '.join(waiting)}"] if waiting else []
    if charts:
        parts.append(f"the {len(charts)} charts (their Kubernetes provider needs nodes)")
    if not parts:
        return ""
    return (
        "In one `pulumi up` of this change the resource graph makes "
        + ", and ".join(parts)
        + ", wait for the node groups to roll."
    )


def main(stack: str, target: str, root: Path, write: bool = False) -> int:
    from components.config import ConfigError
    from pavedroad.engine import StackFileError

    try:
        minor_of(target)
        report = preflight(stack, target, root, write)
    except (UsageError, ConfigError, StackFileError) as error:
        print(str(error), file=sys.stderr)
        print("Nothing was checked. Fix the input and run the preflight again.", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(report.render())
    return EXIT_BLOCKED if report.blockers else EXIT_OK
