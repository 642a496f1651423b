"""One comment per pull request, edited in place: ``python -m pavedroad.sticky_comment PR BODY_FILE``.

The plan workflows post the plan comment with this. It lists the pull request's comments through
GitHub's REST API, takes the first one written by the workflow's own identity (``--author``,
default ``github-actions[bot]``) whose body starts with the body file's first line — the hidden
marker, e.g. ``<!-- paved-road-plan -->`` — and edits it (PATCH); with none, it posts a new one
(POST). Only the bot's own comment counts: anyone can write a comment starting with the marker,
and the bot could not edit it anyway.

Standard library only, so it runs on a runner's Python from a checkout without installing
anything. Environment: ``GH_TOKEN`` (or ``GITHUB_TOKEN``), ``GITHUB_REPOSITORY`` and
``GITHUB_API_URL`` (set by GitHub Actions; default https://api.github.com).
Exit codes: 0 posted or edited (the comment's URL printed), 1 the API refused, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

PER_PAGE = 100
_MARKER = re.compile(r"^<!--.*-->$")


class ApiError(Exception):
    """GitHub answered with an error; the message names the request."""


class GitHub:
    """The three REST calls this needs, with the token of the workflow run."""

    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.base = f"{api_url.rstrip('/')}/repos/{repository}"
        self.token = token

    def request(self, method: str, path: str, payload: Optional[dict[str, Any]] = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            raise ApiError(f"{method} {path}: HTTP {error.code} {detail}") from None
        except urllib.error.URLError as error:
            raise ApiError(f"{method} {path}: {error.reason}") from None

    def comments(self, pr: int) -> list[dict[str, Any]]:
        """Every comment of the pull request, oldest first, page by page."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.request("GET", f"/issues/{pr}/comments?per_page={PER_PAGE}&page={page}")
            found += batch
            if len(batch) < PER_PAGE:
                return found
            page += 1


def find_previous(comments: list[dict[str, Any]], marker: str, author: str) -> Optional[int]:
    """The id of the first comment by ``author`` whose body starts with ``marker``."""
    for comment in comments:
        login = (comment.get("user") or {}).get("login")
        if login == author and str(comment.get("body", "")).startswith(marker):
            return int(comment["id"])
    return None


def post(github: GitHub, pr: int, body: str, author: str) -> str:
    """Edit the previous comment or post a new one; returns the comment's URL."""
    marker = body.split("\n", 1)[0]
    previous = find_previous(github.comments(pr), marker, author)
    if previous is not None:
        comment = github.request("PATCH", f"/issues/comments/{previous}", {"body": body})
    else:
        comment = github.request("POST", f"/issues/{pr}/comments", {"body": body})
    return str(comment.get("html_url", ""))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pavedroad.sticky_comment",
        description="Post a pull-request comment, or edit the one posted before.",
    )
    parser.add_argument("pr", type=int, help="pull request number")
    parser.add_argument("body", help="file with the comment; its first line is the marker")
    parser.add_argument("--author", default="github-actions[bot]", help="who posted it before")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    if not token or not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        print("error: GH_TOKEN and GITHUB_REPOSITORY (OWNER/NAME) must be set", file=sys.stderr)
        return 2
    try:
        body = Path(args.body).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: {args.body}: cannot read it ({error})", file=sys.stderr)
        return 2
    if not _MARKER.match(body.split("\n", 1)[0]):
        print(
            f"error: {args.body}: the first line must be a marker (<!-- ... -->)", file=sys.stderr
        )
        return 2
    github = GitHub(os.environ.get("GITHUB_API_URL", "https://api.github.com"), repository, token)
    try:
        print(post(github, args.pr, body, args.author))
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
