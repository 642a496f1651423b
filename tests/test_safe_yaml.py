"""The one loader for input files (components/safe_yaml.py), in process: what the command-line
fuzz corpus (tests/test_fuzz_inputs.py) cannot show from the outside."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.config_base import ConfigIssue
from components.safe_yaml import MAX_BYTES, InputFileError, load_file, parse, read_input, sanitize


def test_scalars_are_read_as_the_pulumi_cli_reads_them() -> None:
    """go-yaml v3 (the Pulumi CLI's YAML library) decodes YAML 1.1's `yes`/`on`, timestamps and
    sexagesimal numbers into untyped values as strings; only `true`/`false` are booleans. The
    plan must see the value `pulumi up` hands the program."""
    document = parse(
        "a: yes\nb: on\nc: 2024-01-01\nd: 1:20\ne: true\nf: False\ng: 8\nh: 0x1f\ni: 1.5\nj: ~\n",
        "f.yaml",
    )
    assert document == {
        "a": "yes",
        "b": "on",
        "c": "2024-01-01",
        "d": "1:20",
        "e": True,
        "f": False,
        "g": 8,
        "h": 31,
        "i": 1.5,
        "j": None,
    }


def test_aliases_a_yaml_writer_emits_are_read() -> None:
    """Aliases are bounded, not banned: PyYAML's own `safe_dump` writes them for shared values."""
    shared = ["10.0.0.0/16"]
    text = yaml.safe_dump({"a": shared, "b": shared})
    assert "&id001" in text and "*id001" in text
    assert parse(text, "f.yaml") == {"a": shared, "b": shared}


def test_a_relative_path_cannot_climb_out_of_the_project(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (tmp_path / "secret.yaml").write_text("token: s3cr3t\n")
    with pytest.raises(InputFileError) as raised:
        load_file(root, "../secret.yaml")
    assert "outside the project" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(InputFileError, match="larger than 1024 KiB"):
        read_input(tmp_path, "big.yaml")
    (tmp_path / "fits.yaml").write_bytes(b"#" * MAX_BYTES)
    assert len(read_input(tmp_path, "fits.yaml")) == MAX_BYTES


def test_text_from_a_file_is_printed_on_one_bounded_line() -> None:
    assert sanitize("a\nb\x1b[2J\u202ec") == "a\\nb\\x1b[2J\\u202ec"
    assert len(sanitize("x" * 10_000)) == 200
    issue = ConfigIssue("tenants/a.yaml", "apps[0].name\nforged: line", "bad " + "y" * 100_000)
    shown = str(issue)
    assert "\n" not in shown and len(shown) < 800
    assert shown.startswith("tenants/a.yaml: apps[0].name\\nforged: line: bad yyy")
