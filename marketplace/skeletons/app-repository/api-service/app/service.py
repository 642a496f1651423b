"""The service's own routes. Replace `hello` with the real API; keep each route a function that
returns (status code, content type, body), so it is tested without a socket."""

from __future__ import annotations

import json

from app.probes import Route

NAME = "${{ values.name }}"


def hello() -> tuple[int, str, bytes]:
    body = json.dumps({"service": NAME, "message": "hello"}, sort_keys=True).encode() + b"\n"
    return 200, "application/json", body


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/"): hello,
}
