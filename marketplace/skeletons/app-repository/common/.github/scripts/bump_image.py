"""Point an app file of the platform repository at a new image: `bump_image.py FILE IMAGE`.

FILE is `tenants/<team>/apps/<app>.yaml`, one app mapping with a top-level `image:` key. Only
that line changes, so comments, key order and the rest of the file stay as the team wrote them
and the pull request's diff is one line. Exit 0 when the file now names IMAGE (also when it
already did), 2 with a message naming the file otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# registry/path:tag@sha256:digest, the reference the release job pushes: the tag (the commit)
# for people, the digest so that what runs is exactly what was scanned and signed.
IMAGE = re.compile(
    r"^[a-z0-9.-]+(?::[0-9]+)?/[a-z0-9]+(?:[._/-][a-z0-9]+)*"
    r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[0-9a-f]{64}\Z"
)
IMAGE_LINE = re.compile(r"^image:[ \t]*(?P<value>[^#\n]*?)[ \t]*(?P<comment>#.*)?$", re.MULTILINE)


def bump(text: str, image: str) -> str:
    """The file with its top-level `image:` value replaced; ValueError when there is not
    exactly one such line."""
    lines = IMAGE_LINE.findall(text)
    if len(lines) != 1:
        raise ValueError(f"expected one top-level 'image:' line, found {len(lines)}")
    return IMAGE_LINE.sub(
        lambda m: f"image: {image}" + (f"  {m.group('comment')}" if m.group("comment") else ""),
        text,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: bump_image.py FILE IMAGE", file=sys.stderr)
        return 2
    path, image = Path(argv[1]), argv[2]
    if not IMAGE.fullmatch(image):
        print(f"{image!r} is not registry/repository:tag@sha256:digest", file=sys.stderr)
        return 2
    try:
        text = path.read_text(encoding="utf-8")
        path.write_text(bump(text, image), encoding="utf-8")
    except (OSError, ValueError) as error:
        print(f"{path}: image: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
