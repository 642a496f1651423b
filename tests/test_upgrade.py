"""`pavedroad upgrade`: one minor at a time, every version that moves named, blockers exit 1."""

from __future__ import annotations

import copy
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml

from components import versions
from pavedroad import upgrade
from pavedroad.engine import PlanRun, RecordedResource
from pavedroad.upgrade import Report, chart_supports
from tests.conftest import ROOT, make_project, pavedroad, shipped_plan, stack_config


def test_the_shipped_prod_stack_upgrades_cleanly_to_the_next_minor() -> None:
    result = pavedroad("upgrade", "prod", "--to", "1.36")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Kubernetes 1.35 → 1.36" in out
    assert "control plane: 1.35 → 1.36" in out
    for addon, build in versions.EKS_ADDONS["1.36"].items():
        assert f"{addon} {build}" in out, addon
    assert "EKS add-on kube-proxy: v1.35.0-eksbuild.2 → v1.36.0-eksbuild.21" in out
    assert "image v1.35.2 → v1.36.1" in out  # the cluster autoscaler follows the minor
    assert (
        "node group paved-road-prod-system: 1.35 (AMI 1.35.6-20260714) → 1.36 "
        "(AMI 1.36.2-20260714); 1 minor(s) behind the control plane until it rolls (allowed 3)"
    ) in out
    assert "no removed, deprecated or invalid API in use" in out
    order = [
        out.index(f"  {n}. {step}")
        for n, step in enumerate(("control plane", "EKS add-ons", "core charts", "node groups"), 1)
    ]
    assert order == sorted(order)
    assert "paved-road-prod-system (maxUnavailablePercentage 33)" in out
    # What the recorded dependencies say a single `pulumi up` does besides.
    assert "the EKS add-ons aws-ebs-csi-driver and coredns, and the 15 charts" in out
    assert 'stacks/Pulumi.prod.yaml:12\n  -     version: "1.35"\n  +     version: "1.36"' in out
    assert out.rstrip().endswith("Clean: prod can move to 1.36 in one reviewed change.")


def test_output_is_deterministic() -> None:
    first = pavedroad("upgrade", "staging", "--to", "1.36").stdout
    assert first and first == pavedroad("upgrade", "staging", "--to", "1.36").stdout


def test_a_chart_that_excludes_the_target_blocks_and_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    charts = dict(versions.CHARTS)
    charts["kyverno"] = dataclasses.replace(charts["kyverno"], kube_version=">=1.25.0-0 <1.36.0-0")
    monkeypatch.setattr(versions, "CHARTS", MappingProxyType(charts))
    assert upgrade.main("prod", "1.36", ROOT) == 1
    out = capsys.readouterr().out
    assert "BLOCKED: 1 blocker(s)" in out
    assert "chart kyverno 3.9.0: kubeVersion '>=1.25.0-0 <1.36.0-0' excludes 1.36" in out


def test_a_checkout_pinning_a_chart_that_excludes_the_target_exits_1_naming_it(
    tmp_path: Path,
) -> None:
    """End to end, as a user would meet it: a checkout whose versions.py records a chart range
    that stops before 1.36."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("components", "pavedroad", "policies", "stacks", "tenants", "domains"):
        shutil.copytree(ROOT / name, checkout / name)
    for name in ("Pulumi.yaml", "__main__.py", "governance.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, checkout / name)
    pins = checkout / "components" / "versions.py"
    text = pins.read_text()
    assert text.count('kube_version=">=1.25.0-0",') == 3
    pins.write_text(
        text.replace(
            '"v1.19.0",\n                kube_version=">=1.25.0-0",',
            '"v1.19.0",\n' '                kube_version=">=1.25.0-0 <1.36.0-0",',
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pavedroad", "upgrade", "prod", "--to", "1.36"],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    blockers = result.stdout.split("BLOCKED: 1 blocker(s)")[1]
    assert "chart kyverno 3.9.0: kubeVersion '>=1.25.0-0 <1.36.0-0' excludes 1.36" in blockers


def test_a_jump_of_two_minors_blocks(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:cluster"]["version"] = "1.34"
    root = make_project(tmp_path, config, "prod")
    result = pavedroad("upgrade", "prod", "--to", "1.36", "-C", str(root))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1.34 → 1.36 skips a minor: EKS upgrades one minor at a time (next: 1.35)" in (
        result.stdout
    )
    assert "  - 1.34 → 1.36 skips a minor" in result.stdout.split("BLOCKED")[1]


def test_karpenter_nodes_roll_by_drift_to_the_next_minors_pinned_image(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:cluster"]["autoscaling"] = "karpenter"
    root = make_project(tmp_path, config, "prod")
    result = pavedroad("upgrade", "prod", "--to", "1.36", "-C", str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    alias = versions.karpenter_ami_alias("1.36")
    assert (
        f"Karpenter nodes (NodePools on-demand, spot): AMI {versions.karpenter_ami_alias('1.35')} "
        f"of 1.35 → {alias} of 1.36, replaced by drift after the control plane moves"
    ) in result.stdout
    steps = result.stdout.split("Order of operations:")[1]
    assert "Karpenter NodePools on-demand, spot (drift, within their disruption budgets)" in steps
    assert "charts whose kubeVersion admits 1.36 (unchanged):" in result.stdout
    assert "karpenter 1.14.1" in result.stdout and "cluster-autoscaler" not in result.stdout


def test_karpenter_beyond_its_compatibility_matrix_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pinned Karpenter's matrix ends at 1.36: a release that stopped at 1.35 blocks 1.36.
    older = dataclasses.replace(
        versions.CHARTS["karpenter"], kube_version=">= 1.30.0-0, < 1.36.0-0"
    )
    monkeypatch.setattr(
        versions, "CHARTS", MappingProxyType({**versions.CHARTS, "karpenter": older})
    )
    config = copy.deepcopy(stack_config("prod"))
    config["paved-road:cluster"]["autoscaling"] = "karpenter"
    root = make_project(tmp_path, config, "prod")
    report = upgrade.preflight("prod", "1.36", root)
    assert report.blockers == [
        "chart karpenter 1.14.1: kubeVersion '>= 1.30.0-0, < 1.36.0-0' excludes 1.36; pin a "
        "release that supports it in versions.py"
    ]


def test_an_unpinned_target_blocks_and_says_what_is_missing() -> None:
    result = pavedroad("upgrade", "prod", "--to", "1.37")
    assert result.returncode == 1
    blockers = result.stdout.split("BLOCKED")[1]
    assert "1.37 is not supported by components/versions.py (supported: 1.34, 1.35, 1.36)" in (
        blockers
    )
    assert "node AMI: no release version pinned for 1.37 in versions.py" in blockers
    assert "EKS add-on vpc-cni: no build pinned for 1.37 in versions.py" in blockers


def test_the_current_minor_is_not_an_upgrade() -> None:
    result = pavedroad("upgrade", "prod", "--to", "1.35")
    assert result.returncode == 1
    assert "1.35 is not newer than the cluster's 1.35" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["prod", "--to", "1.x"], "--to: '1.x' is not a Kubernetes minor version"),
        (["prod", "--to", "v1.36"], "--to: 'v1.36' is not a Kubernetes minor version"),
        (["nope", "--to", "1.36"], "stacks/Pulumi.nope.yaml: no such stack file"),
        (["prod"], "the following arguments are required: --to"),
    ],
)
def test_bad_usage_exits_2(args: list[str], message: str) -> None:
    result = pavedroad("upgrade", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_write_changes_the_version_line_only_when_clean(tmp_path: Path) -> None:
    root = make_project(tmp_path, copy.deepcopy(stack_config("staging")), "staging")
    stack_file = root / "stacks" / "Pulumi.staging.yaml"
    before = stack_file.read_text()
    blocked = pavedroad("upgrade", "staging", "--to", "1.37", "--write", "-C", str(root))
    assert blocked.returncode == 1 and stack_file.read_text() == before
    clean = pavedroad("upgrade", "staging", "--to", "1.36", "--write", "-C", str(root))
    assert clean.returncode == 0, clean.stdout
    assert "written to stacks/Pulumi.staging.yaml" in clean.stdout
    after = stack_file.read_text()
    assert after == before.replace("version: '1.35'", 'version: "1.36"')
    again = pavedroad("upgrade", "staging", "--to", "1.36", "-C", str(root))
    assert again.returncode == 1 and "1.36 is not newer than the cluster's 1.36" in again.stdout


def _object(api_version: str, kind: str, name: str, **rest: object) -> RecordedResource:
    group = api_version.split("/")[0] if "/" in api_version else "core"
    version = api_version.split("/")[-1]
    return RecordedResource(
        urn=f"urn:pulumi:prod::paved-road::kubernetes:{group}/{version}:{kind}::{name}",
        type=f"kubernetes:{group}/{version}:{kind}",
        name=name,
        parent=None,
        custom=True,
        provider="",
        protect=False,
        dependencies=(),
        inputs={"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **rest},
    )


def test_removed_deprecated_and_invalid_apis_are_named() -> None:
    """What kubernetes-validate's 1.36 schemas say: scheduling.k8s.io/v1alpha1 Workload is served
    by 1.35 and gone in 1.36; core/v1 Endpoints is deprecated (since 1.33)."""
    shipped = shipped_plan("prod")
    extra = [
        _object("scheduling.k8s.io/v1alpha1", "Workload", "gone", spec={}),
        _object("v1", "Endpoints", "old"),
        _object("v1", "ConfigMap", "bad", data={"key": 1}),
    ]
    run = PlanRun(shipped.project, shipped.stack, [*shipped.resources, *extra])
    report = Report("prod", "1.35", "1.36")
    upgrade._check_objects(report, run)
    assert "Workload gone (scheduling.k8s.io/v1alpha1): removed in 1.36" in report.blockers
    assert "Endpoints old (v1): deprecated in 1.36" in report.api_notes
    assert not any("Endpoints" in blocker for blocker in report.blockers)
    assert any(b.startswith("ConfigMap bad: data.key:") for b in report.blockers), report.blockers
    assert len(report.blockers) == 2


@pytest.mark.parametrize(
    "constraint, minor, supported",
    [
        ("", (1, 36), True),
        (">=1.25.0-0", (1, 36), True),
        (">= 1.19.0-0", (1, 36), True),
        (">=v1.23.0-0", (1, 22), False),
        (">=1.25.0-0 <1.36.0-0", (1, 36), False),
        (">=1.25.0-0, <1.36.0-0", (1, 35), True),
        ("<1.36.2", (1, 36), False),  # excludes some of 1.36's patches
        (">=1.30.0 <1.31.0 || >=1.36.0-0", (1, 36), True),
        (">=1.30.0 <1.31.0 || >=1.37.0-0", (1, 36), False),
    ],
)
def test_kube_version_constraints(constraint: str, minor: tuple[int, int], supported: bool) -> None:
    assert chart_supports(constraint, minor) is supported


def test_every_pinned_chart_constraint_parses_and_admits_every_supported_minor() -> None:
    for chart in versions.CHARTS.values():
        for version in versions.SUPPORTED_KUBERNETES_VERSIONS:
            major, minor = map(int, version.split("."))
            assert chart_supports(chart.kube_version, (major, minor)), (chart.name, version)


def test_every_supported_minor_has_every_pin() -> None:
    for version in versions.SUPPORTED_KUBERNETES_VERSIONS:
        assert versions.NODE_AMI_RELEASE_VERSIONS[version].startswith(f"{version}.")
        assert set(versions.EKS_ADDONS[version]) == set(versions.EKS_ADDONS["1.35"])
        assert versions.CLUSTER_AUTOSCALER[version].startswith(f"v{version}.")


def test_write_adds_the_version_line_when_the_stack_takes_the_default(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("staging"))
    del config["paved-road:cluster"]["version"]
    root = make_project(tmp_path, config, "staging")
    result = pavedroad("upgrade", "staging", "--to", "1.36", "--write", "-C", str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Kubernetes {versions.DEFAULT_KUBERNETES_VERSION} → 1.36" in result.stdout
    written = yaml.safe_load((root / "stacks" / "Pulumi.staging.yaml").read_text())["config"]
    assert written["paved-road:cluster"] == {**config["paved-road:cluster"], "version": "1.36"}
