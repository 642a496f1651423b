"""Tests for the plan diff used in pull-request comments (``pavedroad.diff``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pavedroad.diff import (
    ChangeKind,
    MAX_VALUE_CHARS,
    PropertyChange,
    diff_plans,
    main,
    render_markdown,
    render_text,
)

PREFIX = "urn:pulumi:dev::paved-road::"
PLATFORM = "paved-road:index:Platform"
NETWORK = f"{PLATFORM}$paved-road:foundation:Network"
PLATFORM_URN = f"{PREFIX}{PLATFORM}::platform"
NETWORK_URN = f"{PREFIX}{NETWORK}::platform-network"
VPC_URN = f"{PREFIX}{NETWORK}$aws:ec2/vpc:Vpc::platform-vpc"
SUBNET_URN = f"{PREFIX}{NETWORK}$aws:ec2/subnet:Subnet::platform-private-a"
LT_URN = f"{PREFIX}{PLATFORM}$aws:ec2/launchTemplate:LaunchTemplate::platform-nodes"
NS_URN = f"{PREFIX}{PLATFORM}$kubernetes:core/v1:Namespace::team-apps"
AWS_PROVIDER = f"{PREFIX}pulumi:providers:aws::default_7_51_1::04da6b54-80e4-46f7-96ec-b56ff0331ba9"
K8S_PROVIDER = f"{PREFIX}{PLATFORM}$pulumi:providers:kubernetes::platform-k8s::6f1c2d3e"


def _resource(
    urn: str,
    inputs: dict[str, Any],
    *,
    parent: str | None,
    provider: str = "",
    custom: bool = True,
    protect: bool = False,
    dependencies: list[str] | None = None,
) -> dict[str, Any]:
    """One resource in the plan-file contract; type and name are derived from the urn."""
    qualified_type, name = urn.split("::")[2:]
    return {
        "urn": urn,
        "type": qualified_type.split("$")[-1],
        "name": name,
        "parent": parent,
        "custom": custom,
        "provider": provider,
        "protect": protect,
        "dependencies": dependencies or [],
        "inputs": inputs,
        "options": {},
    }


def _plan(resources: list[dict[str, Any]], outputs: dict[str, Any] | None = None) -> dict:
    """A plan dict with resources sorted by urn, as the exporter writes them."""
    return {
        "project": "paved-road",
        "stack": "dev",
        "resources": sorted(resources, key=lambda r: r["urn"]),
        "outputs": outputs if outputs is not None else {},
    }


@pytest.fixture
def base() -> dict:
    """A small but realistic platform: component, network, VPC, launch template, namespace."""
    tags = {"paved-road:environment": "dev", "paved-road:owner": "platform-team"}
    return _plan(
        [
            _resource(PLATFORM_URN, {}, parent=None, custom=False),
            _resource(NETWORK_URN, {}, parent=PLATFORM_URN, custom=False),
            _resource(
                VPC_URN,
                {
                    "cidrBlock": "10.0.0.0/16",
                    "enableDnsHostnames": True,
                    "tags": dict(tags),
                },
                parent=NETWORK_URN,
                provider=AWS_PROVIDER,
            ),
            _resource(
                LT_URN,
                {
                    "imageId": "ami-0123456789abcdef0",
                    "instanceType": "t3.medium",
                    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
                    "blockDeviceMappings": [
                        {"deviceName": "/dev/xvda", "ebs": {"volumeSize": 20, "encrypted": True}}
                    ],
                    "userData": "[secret]",
                    "tags": dict(tags),
                },
                parent=PLATFORM_URN,
                provider=AWS_PROVIDER,
            ),
            _resource(
                NS_URN,
                {
                    "metadata": {
                        "name": "team-apps",
                        "labels": {
                            "app.kubernetes.io/managed-by": "pulumi",
                            "pod-security.kubernetes.io/enforce": "baseline",
                        },
                    }
                },
                parent=PLATFORM_URN,
                provider=K8S_PROVIDER,
            ),
        ],
        outputs={"vpcId": "vpc-0abc", "namespace": "team-apps", "clusterName": "platform"},
    )


def _find(resources: list[dict], urn: str) -> dict:
    """The resource with this urn (so tests can mutate a copy of the base plan)."""
    return next(r for r in resources if r["urn"] == urn)


def _edited(plan: dict) -> dict:
    """A deep copy to turn into the head plan without touching the base."""
    return copy.deepcopy(plan)


# --- detection ----------------------------------------------------------------------------


def test_identical_plans_have_no_changes(base: dict) -> None:
    d = diff_plans(base, _edited(base))

    assert not d.has_changes
    assert (d.added, d.changed, d.removed, d.outputs) == ((), (), (), ())
    assert d.unchanged == 5
    assert "No changes." in render_text(d)
    assert "No changes." in render_markdown(d)


def test_detects_added_removed_and_changed_resources(base: dict) -> None:
    head = _edited(base)
    head["resources"] = [r for r in head["resources"] if r["urn"] != NS_URN]
    head["resources"].append(
        _resource(
            SUBNET_URN,
            {"cidrBlock": "10.0.1.0/24", "vpcId": "vpc-0abc"},
            parent=NETWORK_URN,
            provider=AWS_PROVIDER,
            dependencies=[VPC_URN],
        )
    )
    _find(head["resources"], VPC_URN)["inputs"]["cidrBlock"] = "10.1.0.0/16"

    d = diff_plans(base, head)

    assert [(r.type, r.name) for r in d.added] == [("aws:ec2/subnet:Subnet", "platform-private-a")]
    assert [(r.type, r.name) for r in d.removed] == [("kubernetes:core/v1:Namespace", "team-apps")]
    assert [c.urn for c in d.changed] == [VPC_URN]
    assert d.unchanged == 3
    text = render_text(d)
    assert "+1 to add, ~1 to change, -1 to remove, 3 unchanged" in text
    assert "+ aws:ec2/subnet:Subnet" in text
    assert "- kubernetes:core/v1:Namespace" in text


def test_nested_property_change_has_dotted_path_and_old_new_values(base: dict) -> None:
    head = _edited(base)
    _find(head["resources"], LT_URN)["inputs"]["metadataOptions"]["httpTokens"] = "optional"

    d = diff_plans(base, head)

    assert len(d.changed) == 1
    assert d.changed[0].inputs == (
        PropertyChange("metadataOptions.httpTokens", ChangeKind.UPDATE, "required", "optional"),
    )
    assert '~ metadataOptions.httpTokens: "required" → "optional"' in render_text(d)


def test_keys_with_special_characters_are_quoted_in_brackets(base: dict) -> None:
    head = _edited(base)
    labels = _find(head["resources"], NS_URN)["inputs"]["metadata"]["labels"]
    labels["pod-security.kubernetes.io/enforce"] = "restricted"
    labels["team"] = "apps"
    _find(head["resources"], VPC_URN)["inputs"]["tags"]["paved-road:environment"] = "prod"

    d = diff_plans(base, head)

    changes = {c.path: c for change in d.changed for c in change.inputs}
    assert set(changes) == {
        'metadata.labels["pod-security.kubernetes.io/enforce"]',
        "metadata.labels.team",
        'tags["paved-road:environment"]',
    }
    assert changes["metadata.labels.team"].kind is ChangeKind.ADD
    assert changes["metadata.labels.team"].new == "apps"
    assert '~ tags["paved-road:environment"]: "dev" → "prod"' in render_text(d)


def test_list_element_change_uses_index_path(base: dict) -> None:
    head = _edited(base)
    inputs = _find(head["resources"], LT_URN)["inputs"]
    inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] = 50
    inputs["blockDeviceMappings"].append({"deviceName": "/dev/xvdb", "ebs": {"volumeSize": 100}})

    d = diff_plans(base, head)

    (change,) = d.changed
    assert change.inputs == (
        PropertyChange("blockDeviceMappings[0].ebs.volumeSize", ChangeKind.UPDATE, 20, 50),
        PropertyChange(
            "blockDeviceMappings[1]",
            ChangeKind.ADD,
            new={"deviceName": "/dev/xvdb", "ebs": {"volumeSize": 100}},
        ),
    )
    text = render_text(d)
    assert "~ blockDeviceMappings[0].ebs.volumeSize: 20 → 50" in text
    assert '+ blockDeviceMappings[1]: {"deviceName":"/dev/xvdb","ebs":{"volumeSize":100}}' in text


def test_removed_property_is_reported(base: dict) -> None:
    head = _edited(base)
    del _find(head["resources"], VPC_URN)["inputs"]["enableDnsHostnames"]

    d = diff_plans(base, head)

    assert d.changed[0].inputs == (
        PropertyChange("enableDnsHostnames", ChangeKind.REMOVE, old=True),
    )
    assert "- enableDnsHostnames: true" in render_text(d)


def test_bool_and_number_are_not_treated_as_equal(base: dict) -> None:
    head = _edited(base)
    _find(head["resources"], VPC_URN)["inputs"]["enableDnsHostnames"] = 1

    d = diff_plans(base, head)

    assert d.changed[0].inputs == (
        PropertyChange("enableDnsHostnames", ChangeKind.UPDATE, True, 1),
    )


def test_protect_only_change_counts_as_change(base: dict) -> None:
    head = _edited(base)
    _find(head["resources"], VPC_URN)["protect"] = True

    d = diff_plans(base, head)

    assert [c.urn for c in d.changed] == [VPC_URN]
    assert d.changed[0].inputs == ()
    assert d.changed[0].options == (PropertyChange("protect", ChangeKind.UPDATE, False, True),)
    assert "~ protect: false → true" in render_text(d)
    assert "~1 to change" in render_markdown(d)


def test_provider_parent_and_dependency_changes(base: dict) -> None:
    head = _edited(base)
    ns = _find(head["resources"], NS_URN)
    ns["provider"] = AWS_PROVIDER
    ns["parent"] = NETWORK_URN
    ns["dependencies"] = [VPC_URN]

    d = diff_plans(base, head)

    options = {(c.path, c.kind): c for c in d.changed[0].options}
    assert set(options) == {
        ("provider", ChangeKind.UPDATE),
        ("parent", ChangeKind.UPDATE),
        ("dependencies", ChangeKind.ADD),
    }
    assert options[("parent", ChangeKind.UPDATE)].old == PLATFORM_URN
    assert options[("parent", ChangeKind.UPDATE)].new == NETWORK_URN
    text = render_text(d)
    # urns are shown without the repeated stack/project prefix
    assert f'~ parent: "{PLATFORM}::platform" → "{NETWORK}::platform-network"' in text
    assert f'+ dependencies: "{NETWORK}$aws:ec2/vpc:Vpc::platform-vpc"' in text


def test_update_option_changes_are_shown_as_options(base: dict) -> None:
    """A node group that starts to delete before replacing, or to ignore a field, changes how
    the next update runs: the diff shows it beside protect and dependencies, not as inputs."""
    head = _edited(base)
    _find(head["resources"], LT_URN)["options"] = {
        "deleteBeforeReplace": True,
        "ignoreChanges": ["scalingConfig.desiredSize"],
    }
    _find(base["resources"], VPC_URN)["options"] = {"retainOnDelete": True}

    d = diff_plans(base, head)

    by_urn = {c.urn: c for c in d.changed}
    assert set(by_urn) == {LT_URN, VPC_URN}
    assert by_urn[LT_URN].inputs == ()
    assert by_urn[LT_URN].options == (
        PropertyChange("options.deleteBeforeReplace", ChangeKind.ADD, new=True),
        PropertyChange("options.ignoreChanges", ChangeKind.ADD, new=["scalingConfig.desiredSize"]),
    )
    assert by_urn[VPC_URN].options == (
        PropertyChange("options.retainOnDelete", ChangeKind.REMOVE, old=True),
    )
    text = render_text(d)
    assert "+ options.deleteBeforeReplace: true" in text
    assert "- options.retainOnDelete: true" in text


def test_plans_without_recorded_options_still_diff(base: dict) -> None:
    """A base plan written before options were recorded compares as having none."""
    old = _edited(base)
    for resource in old["resources"]:
        del resource["options"]
    assert not diff_plans(old, base).has_changes


def test_dependency_order_is_not_a_change(base: dict) -> None:
    base = _edited(base)
    _find(base["resources"], LT_URN)["dependencies"] = [NETWORK_URN, VPC_URN]
    head = _edited(base)
    _find(head["resources"], LT_URN)["dependencies"] = [VPC_URN, NETWORK_URN]

    assert not diff_plans(base, head).has_changes


def test_outputs_diff(base: dict) -> None:
    head = _edited(base)
    head["outputs"]["vpcId"] = "vpc-0def"
    del head["outputs"]["namespace"]
    head["outputs"]["kubeconfig"] = "[secret]"

    d = diff_plans(base, head)

    assert d.outputs == (
        PropertyChange("kubeconfig", ChangeKind.ADD, new="[secret]"),
        PropertyChange("namespace", ChangeKind.REMOVE, old="team-apps"),
        PropertyChange("vpcId", ChangeKind.UPDATE, "vpc-0abc", "vpc-0def"),
    )
    assert d.added == d.removed == d.changed == ()
    text = render_text(d)
    assert "Outputs: +1 added, ~1 changed, -1 removed" in text
    assert '~ vpcId: "vpc-0abc" → "vpc-0def"' in text
    assert '+ kubeconfig: "[secret]"' in text


def test_long_values_are_truncated(base: dict) -> None:
    head = _edited(base)
    _find(head["resources"], VPC_URN)["inputs"]["tags"]["description"] = "x" * 500

    text = render_text(diff_plans(base, head))

    (line,) = [ln for ln in text.splitlines() if "tags.description" in ln]
    assert line.endswith("…")
    assert "x" * MAX_VALUE_CHARS not in line
    assert "x" * (MAX_VALUE_CHARS - 1) in line


# --- rendering ----------------------------------------------------------------------------


def _busy_head(base: dict) -> dict:
    """A head plan touching every section, used by the rendering and determinism tests."""
    head = _edited(base)
    head["resources"] = [r for r in head["resources"] if r["urn"] != NS_URN]
    head["resources"].append(
        _resource(SUBNET_URN, {"cidrBlock": "10.0.1.0/24"}, parent=NETWORK_URN)
    )
    lt = _find(head["resources"], LT_URN)
    lt["inputs"]["metadataOptions"]["httpTokens"] = "optional"
    lt["inputs"]["tags"] = {**lt["inputs"]["tags"], "cost|center": "42"}
    _find(head["resources"], VPC_URN)["protect"] = True
    head["outputs"]["vpcId"] = "vpc-0def"
    return head


def test_markdown_has_heading_summary_details_and_diff_block(base: dict) -> None:
    md = render_markdown(diff_plans(base, _busy_head(base)))

    assert md.startswith("### ")
    assert "`paved-road/dev`" in md
    assert "+1 to add, ~2 to change, -1 to remove, 2 unchanged" in md
    assert "```diff\n" in md
    assert '~ metadataOptions.httpTokens: "required" → "optional"' in md
    assert md.count("<details") == md.count("</details>") == 4
    assert "`aws:ec2/vpc:Vpc`" in md
    # added/removed rows carry the short urn form
    assert f"`{PLATFORM}$kubernetes:core/v1:Namespace::team-apps`" in md
    assert PREFIX not in md


def test_markdown_escapes_pipes_in_table_cells(base: dict) -> None:
    head = _edited(base)
    odd_urn = f"{PREFIX}{PLATFORM}$aws:s3/bucket:Bucket::logs|archive"
    head["resources"].append(_resource(odd_urn, {}, parent=PLATFORM_URN))

    md = render_markdown(diff_plans(base, head))

    rows = [ln for ln in md.splitlines() if "logs" in ln and ln.startswith("|")]
    assert rows, md
    assert all("logs\\|archive" in row for row in rows)
    assert not any("logs|archive" in row for row in rows)


def test_output_is_deterministic(base: dict) -> None:
    head = _busy_head(base)
    shuffled_base = _edited(base)
    shuffled_base["resources"].reverse()
    shuffled_base["outputs"] = dict(reversed(list(shuffled_base["outputs"].items())))

    first = diff_plans(base, head)
    second = diff_plans(shuffled_base, _busy_head(base))

    assert first == second
    assert render_text(first).encode() == render_text(second).encode()
    assert render_markdown(first).encode() == render_markdown(second).encode()


# --- CLI ----------------------------------------------------------------------------------


def _write(path: Path, plan: Any) -> str:
    path.write_text(json.dumps(plan), encoding="utf-8")
    return str(path)


def test_main_missing_file_returns_2_and_names_it(
    base: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = _write(tmp_path / "base.json", base)
    missing = str(tmp_path / "head-missing.json")

    assert main([existing, missing]) == 2

    captured = capsys.readouterr()
    assert missing in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    "content",
    ["this is not json", json.dumps({"project": "paved-road", "stack": "dev"}), "[]"],
    ids=["not-json", "no-resources", "not-an-object"],
)
def test_main_rejects_files_that_are_not_plans(
    base: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")

    assert main([str(bad), _write(tmp_path / "head.json", base)]) == 2

    err = capsys.readouterr().err
    assert str(bad) in err
    assert "not a plan" in err
    assert len(err.strip().splitlines()) == 1


def test_main_with_two_plans_prints_diff_and_returns_0(
    base: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_file = _write(tmp_path / "base.json", base)
    head_file = _write(tmp_path / "head.json", _busy_head(base))

    assert main([base_file, head_file]) == 0
    text = capsys.readouterr().out
    assert main([base_file, head_file, "--markdown"]) == 0
    md = capsys.readouterr().out

    assert "~2 to change" in text and "```" not in text
    assert "```diff" in md and md.startswith("### ")


def test_main_with_identical_plans_says_no_changes(
    base: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = _write(tmp_path / "plan.json", base)

    assert main([plan_file, plan_file]) == 0
    assert "No changes." in capsys.readouterr().out


def test_main_usage_error_returns_2_without_raising(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["only-one.json"]) == 2
    assert "usage:" in capsys.readouterr().err
