"""The house style is Black at line length 100 (pyproject.toml); CI holds every change to it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_code_is_black_formatted() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "black", "--check", "--quiet", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"run `make fmt`:\n{result.stderr}"
