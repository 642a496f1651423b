"""The service's routes, probes and metrics, over a real socket on a free port."""

from __future__ import annotations

import json
import threading
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from app.probes import Health, Metrics, make_handler, serve
from app.service import ROUTES, hello


class RoutesTest(unittest.TestCase):
    def test_hello(self) -> None:
        code, content_type, body = hello()
        self.assertEqual(code, 200)
        self.assertEqual(content_type, "application/json")
        self.assertEqual(json.loads(body)["message"], "hello")


class ServerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.metrics, self.health = Metrics(), Health()
        self.server = serve(0, make_handler(self.metrics, self.health, ROUTES))
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tearDown(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        text = self.get("/metrics")[1].decode()
        return [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def test_liveness_and_readiness(self) -> None:
        self.assertEqual(self.get("/healthz")[0], 200)
        self.assertEqual(self.get("/readyz")[0], 503)
        self.health.set_ready(True)
        self.assertEqual(self.get("/readyz")[0], 200)
        self.health.set_ready(False)
        self.assertEqual(self.get("/readyz")[0], 503)

    def test_requests_are_counted_by_code(self) -> None:
        self.assertEqual(self.get("/")[0], 200)
        self.assertEqual(self.get("/missing")[0], 404)
        counts = {
            (labels["route"], labels["code"]): value
            for name, labels, value in self.samples()
            if name == "http_requests_total"
        }
        self.assertEqual(counts, {("/", "200"): 1.0, ("unmatched", "404"): 1.0})

    def test_probes_and_scrapes_are_not_traffic(self) -> None:
        for path in ("/healthz", "/readyz", "/metrics", "/metrics"):
            self.get(path)
        names = {name for name, _, _ in self.samples()}
        self.assertNotIn("http_requests_total", names)

    def test_latency_histogram_has_the_slo_boundaries(self) -> None:
        self.get("/")
        bounds = {
            float(labels["le"])
            for name, labels, _ in self.samples()
            if name == "http_request_duration_seconds_bucket"
        }
        for milliseconds in (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000):
            self.assertIn(milliseconds / 1000, bounds)

    def test_a_failing_route_is_a_500(self) -> None:
        def broken() -> tuple[int, str, bytes]:
            raise RuntimeError("boom")

        self.server.RequestHandlerClass = make_handler(
            self.metrics, self.health, {("GET", "/broken"): broken}
        )
        self.assertEqual(self.get("/broken")[0], 500)
        codes = {
            labels["code"] for name, labels, _ in self.samples() if name == "http_requests_total"
        }
        self.assertEqual(codes, {"500"})


if __name__ == "__main__":
    unittest.main()
