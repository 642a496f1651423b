"""The real Kafka client behind the loop, against a broker address nobody listens on."""

from __future__ import annotations

import socket
import unittest

from prometheus_client import CollectorRegistry

from app.consumer import ConsumerLoop, ConsumerMetrics

try:
    from app.kafka import KafkaSource
except ImportError:  # confluent-kafka is in requirements.txt; CI always installs it
    KafkaSource = None  # type: ignore[assignment,misc]


@unittest.skipIf(KafkaSource is None, "confluent-kafka is not installed (requirements.txt)")
class KafkaSourceTest(unittest.TestCase):
    def test_an_unreachable_broker_leaves_the_replica_not_ready(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            address = "127.0.0.1:%d" % sock.getsockname()[1]
        source = KafkaSource(address, "test", "orders")
        loop = ConsumerLoop(source, ConsumerMetrics(CollectorRegistry()), poll_timeout=0.2)
        try:
            with self.assertLogs("consumer", "ERROR") as logs:
                self.assertFalse(loop.step())
            self.assertIn("poll failed", logs.output[0])
            self.assertFalse(loop.ready())
        finally:
            source.close()


if __name__ == "__main__":
    unittest.main()
