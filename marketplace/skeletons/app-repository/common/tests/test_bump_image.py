"""The release job's edit of the platform repository: one line, or a clear refusal."""

from __future__ import annotations

import importlib.util
import tempfile
import unittest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / ".github" / "scripts" / "bump_image.py"
spec = importlib.util.spec_from_file_location("bump_image", SCRIPT)
assert spec is not None and spec.loader is not None
bump_image = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bump_image)

NEW = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:0123abc" "@sha256:" + "a" * 64


class BumpTest(unittest.TestCase):
    def test_only_the_image_line_changes(self) -> None:
        before = (
            "# owned by the team\n"
            "name: app\n"
            "template: api-service\n"
            "image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.0.0  # first\n"
            "env:\n"
            "  image: not-this-one\n"
        )
        after = bump_image.bump(before, NEW)
        self.assertEqual(
            after.splitlines(),
            [
                "# owned by the team",
                "name: app",
                "template: api-service",
                f"image: {NEW}  # first",
                "env:",
                "  image: not-this-one",
            ],
        )
        self.assertEqual(bump_image.bump(after, NEW), after)

    def test_refuses_a_file_without_exactly_one_image(self) -> None:
        with self.assertRaisesRegex(ValueError, "found 0"):
            bump_image.bump("name: app\n", NEW)
        with self.assertRaisesRegex(ValueError, "found 2"):
            bump_image.bump("image: a\nimage: b\n", NEW)

    def test_command_line(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "app.yaml"
            path.write_text("name: app\nimage: old:1\n", encoding="utf-8")
            self.assertEqual(bump_image.main(["bump_image.py", str(path), NEW]), 0)
            self.assertIn(f"image: {NEW}\n", path.read_text(encoding="utf-8"))
            self.assertEqual(bump_image.main(["bump_image.py", str(path), "app:latest"]), 2)
            self.assertEqual(bump_image.main(["bump_image.py", str(path) + ".missing", NEW]), 2)


if __name__ == "__main__":
    unittest.main()
