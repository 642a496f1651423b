"""The HTTP side every long-running app of the platform shares: liveness, readiness and metrics.

The platform's pods probe `/healthz` (liveness) and `/readyz` (readiness) on the container port
named `http`, and Prometheus scrapes `/metrics` on the same port (its ServiceMonitor adds the
`namespace` and `service` labels, so the app must not export labels by those names). Probe and
scrape requests are not counted as traffic: a kubelet probing every few seconds would otherwise
hold the success rate up while real requests fail, and the canary analysis would pass a broken
release.
"""

from __future__ import annotations

import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"
UNCOUNTED_PATHS = frozenset({LIVENESS_PATH, READINESS_PATH, METRICS_PATH})

# The client's default buckets (seconds). They contain every boundary a latency SLO may count at
# (5 ms to 10 s): an SLO threshold between two boundaries is counted at the lower one.
LATENCY_BUCKETS = Histogram.DEFAULT_BUCKETS

Route = Callable[[], tuple[int, str, bytes]]


class Metrics:
    """The series the platform's release analysis and SLO rules read, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        # Exposed as `http_requests_total{method, route, code}`: the analysis counts `code=~"2.."`
        # against all codes, the SLO counts `code=~"5.."`.
        self.requests = Counter(
            "http_requests",
            "HTTP requests served, by method, route and status code.",
            ["method", "route", "code"],
            registry=self.registry,
        )
        # Exposed as `http_request_duration_seconds_bucket{method, route, le}` (plus _sum, _count).
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to serve an HTTP request, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, code: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, code=str(code)).inc()
        self.duration.labels(method=method, route=route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Health:
    """Readiness is a switch the app flips: on once it can serve, off while it drains."""

    def __init__(self, ready: Optional[Callable[[], bool]] = None) -> None:
        self._ready = threading.Event()
        self._check = ready

    def set_ready(self, ready: bool) -> None:
        if ready:
            self._ready.set()
        else:
            self._ready.clear()

    def is_ready(self) -> bool:
        return self._ready.is_set() and (self._check is None or self._check())


def make_handler(
    metrics: Metrics, health: Health, routes: dict[tuple[str, str], Route]
) -> type[BaseHTTPRequestHandler]:
    """A request handler serving the app's routes plus the probes and `/metrics`."""
    log = logging.getLogger("http")

    class Handler(BaseHTTPRequestHandler):
        server_version = "app"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 (the standard library's naming)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def _serve(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            if path == LIVENESS_PATH:
                self._send(HTTPStatus.OK, "text/plain; charset=utf-8", b"ok\n")
                return
            if path == READINESS_PATH:
                ready = health.is_ready()
                status = HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE
                self._send(
                    status, "text/plain; charset=utf-8", b"ready\n" if ready else b"not ready\n"
                )
                return
            if path == METRICS_PATH:
                self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, metrics.exposition())
                return
            started = time.perf_counter()
            route = routes.get((method, path))
            # Unknown paths share one label value, so scanners cannot blow up the series count.
            label = path if route is not None else "unmatched"
            try:
                if route is None:
                    code, content_type, body = 404, "application/json", b'{"error":"not found"}\n'
                else:
                    code, content_type, body = route()
            except Exception:
                log.exception("request failed: %s %s", method, path)
                code, content_type, body = 500, "application/json", b'{"error":"internal"}\n'
            # Counted before the answer is written, so a client that has its answer also finds
            # it in /metrics (the time to write the body to the socket is not included).
            metrics.observe(method, label, code, time.perf_counter() - started)
            self._send(HTTPStatus(code), content_type, body)

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            # Access logs would repeat every probe; errors are logged where they happen.
            return

    return Handler


def serve(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Bind on every interface (the pod's IP); the caller runs `serve_forever`."""
    server = ThreadingHTTPServer(("0.0.0.0", port), handler)
    server.daemon_threads = True
    return server
