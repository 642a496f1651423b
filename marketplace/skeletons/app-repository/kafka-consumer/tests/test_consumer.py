"""The consumer loop with an in-memory source: handling, commits, readiness and metrics."""

from __future__ import annotations

import json
import threading
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from app.consumer import ConsumerLoop, ConsumerMetrics, Message, handle
from app.probes import Health, Metrics, make_handler, serve
from tests.memory import MemorySource


def message(offset: int, value: object) -> Message:
    return Message("orders", 0, offset, None, json.dumps(value).encode())


class HandleTest(unittest.TestCase):
    def test_a_json_object_is_handled(self) -> None:
        handle(message(0, {"id": 1}))

    def test_anything_else_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            handle(message(0, [1, 2]))


class LoopTest(unittest.TestCase):
    def setUp(self) -> None:
        self.now = 100.0
        self.metrics = Metrics()
        self.source = MemorySource([message(0, {"id": 1}), message(1, "not an object")])
        self.loop = ConsumerLoop(
            self.source,
            ConsumerMetrics(self.metrics.registry),
            stale_after=30,
            clock=lambda: self.now,
        )

    def counts(self) -> dict[str, float]:
        text = self.metrics.exposition().decode()
        return {
            sample.labels["outcome"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "kafka_consumer_messages_total"
        }

    def test_every_message_is_committed_after_handling(self) -> None:
        self.assertTrue(self.loop.step())
        self.assertTrue(self.loop.step())
        self.assertFalse(self.loop.step())
        self.assertEqual([m.offset for m in self.source.committed], [0, 1])
        self.assertEqual(self.counts(), {"handled": 1.0, "failed": 1.0})

    def test_ready_only_while_the_broker_answers(self) -> None:
        self.assertFalse(self.loop.ready())
        self.loop.step()
        self.assertTrue(self.loop.ready())
        self.source.failing = True
        self.now += 31
        self.assertFalse(self.loop.step())
        self.assertFalse(self.loop.ready())

    def test_run_stops_and_closes_the_source(self) -> None:
        stop = threading.Event()
        stop.set()
        self.loop.run(stop)
        self.assertTrue(self.source.closed)


class ProbesTest(unittest.TestCase):
    def test_readiness_follows_the_loop(self) -> None:
        metrics = Metrics()
        loop = ConsumerLoop(MemorySource(), ConsumerMetrics(metrics.registry))
        health = Health(ready=loop.ready)
        health.set_ready(True)
        server = serve(0, make_handler(metrics, health, {}))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            self.assertEqual(status(base + "/healthz"), 200)
            self.assertEqual(status(base + "/readyz"), 503)
            loop.step()
            self.assertEqual(status(base + "/readyz"), 200)
            self.assertEqual(status(base + "/metrics"), 200)
        finally:
            server.shutdown()
            server.server_close()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


if __name__ == "__main__":
    unittest.main()
