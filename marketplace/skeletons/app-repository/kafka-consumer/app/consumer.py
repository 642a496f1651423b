"""The consumer loop, apart from any Kafka client: a `Source` hands out messages and takes
commits, `handle` does the work. Tests drive it with an in-memory source; `app.kafka` is the
real one.

Delivery is at least once: an offset is committed only after its message was handled, so a crash
replays the uncommitted messages and `handle` must tolerate seeing one twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger("consumer")


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: Optional[bytes]
    value: bytes


class Source(Protocol):
    def poll(self, timeout: float) -> Optional[Message]:
        """The next message, or None when none arrived within `timeout` seconds; raises when
        the broker cannot be reached."""

    def commit(self, message: Message) -> None:
        """Record that `message` (and everything before it in its partition) is done."""

    def close(self) -> None: ...


def handle(message: Message) -> None:
    """The work for one message. Replace with the real thing; raise to mark it failed."""
    event = json.loads(message.value)
    if not isinstance(event, dict):
        raise ValueError("expected a JSON object")
    log.info("handled %s[%d]@%d", message.topic, message.partition, message.offset)


class ConsumerMetrics:
    """The consumer's own series (the platform reads lag from the Kafka exporter instead)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "kafka_consumer_messages",
            "Messages taken from Kafka, by topic and outcome (handled or failed).",
            ["topic", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "kafka_consumer_handle_duration_seconds",
            "Time to handle one message.",
            ["topic"],
            registry=registry,
        )
        self.last_poll = Gauge(
            "kafka_consumer_last_poll_timestamp_seconds",
            "When the consumer last heard from the broker (Unix time).",
            registry=registry,
        )


class ConsumerLoop:
    """Polls until stopped. Ready while the broker answered within `stale_after` seconds: a
    replica that cannot reach Kafka is reported, and a release waits for the new ones."""

    def __init__(
        self,
        source: Source,
        metrics: ConsumerMetrics,
        handler: Callable[[Message], None] = handle,
        *,
        poll_timeout: float = 1.0,
        stale_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source, self.metrics, self.handler = source, metrics, handler
        self.poll_timeout, self.stale_after, self.clock = poll_timeout, stale_after, clock
        self._last_poll: Optional[float] = None

    def ready(self) -> bool:
        return self._last_poll is not None and self.clock() - self._last_poll < self.stale_after

    def step(self) -> bool:
        """Poll once and handle what came; False when nothing came (or the poll failed)."""
        try:
            message = self.source.poll(self.poll_timeout)
        except Exception:
            log.exception("poll failed")
            return False
        self._last_poll = self.clock()
        self.metrics.last_poll.set_to_current_time()
        if message is None:
            return False
        started = time.perf_counter()
        try:
            self.handler(message)
            outcome = "handled"
        except Exception:
            # A message that cannot be handled would block its partition for ever if retried
            # here; it is logged and counted (send it to a dead-letter topic if it matters).
            log.exception("failed %s[%d]@%d", message.topic, message.partition, message.offset)
            outcome = "failed"
        self.metrics.duration.labels(topic=message.topic).observe(time.perf_counter() - started)
        self.metrics.messages.labels(topic=message.topic, outcome=outcome).inc()
        self.source.commit(message)
        return True

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.source.close()
