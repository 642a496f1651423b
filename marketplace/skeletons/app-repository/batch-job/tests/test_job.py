"""A run attempts every item and reports failure through its exit status."""

from __future__ import annotations

import subprocess
import sys
import unittest
from datetime import datetime, timezone
from pathlib import Path

from app.job import Outcome, items, run

NOW = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)


class RunTest(unittest.TestCase):
    def test_the_default_items_succeed(self) -> None:
        self.assertEqual(list(items(NOW)), ["2026-01-02"])
        self.assertEqual(run(NOW), Outcome(done=1, failed=0))

    def test_one_failure_fails_the_run_after_trying_the_rest(self) -> None:
        seen: list[str] = []

        def work(item: str) -> None:
            seen.append(item)
            if item == "b":
                raise RuntimeError("boom")

        outcome = run(NOW, lambda _: ["a", "b", "c"], work)
        self.assertEqual(seen, ["a", "b", "c"])
        self.assertEqual((outcome.done, outcome.failed, outcome.exit_code), (2, 1, 1))

    def test_the_entrypoint_exits(self) -> None:
        root = Path(__file__).resolve().parent.parent
        result = subprocess.run(
            [sys.executable, "-m", "app"], cwd=root, capture_output=True, text=True, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('"message": "run finished: 1 done, 0 failed', result.stderr)


if __name__ == "__main__":
    unittest.main()
