"""The real `Source`: confluent-kafka (librdkafka). Imported only when the app starts, so the
loop and its tests need no Kafka client."""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from confluent_kafka import Consumer, KafkaException, TopicPartition

from app.consumer import Message

# A poll that returns nothing cannot tell a quiet topic from an unreachable broker, so a quiet
# consumer asks the broker for the topic's metadata this often; a failure raises, and the loop
# reports the replica not ready once the broker stayed silent for its `stale_after`.
CHECK_EVERY_SECONDS = 10.0
CHECK_TIMEOUT_SECONDS = 5.0


class KafkaSource:
    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topic: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group_id,
                "client.id": group_id,
                # Offsets are committed by the loop after each message is handled.
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                # librdkafka's own messages go through the app's JSON logs.
                "logger": logging.getLogger("kafka"),
            }
        )
        self._consumer.subscribe([topic])
        self._topic, self._clock = topic, clock
        self._last_contact: Optional[float] = None

    def poll(self, timeout: float) -> Optional[Message]:
        record = self._consumer.poll(timeout)
        if record is None:
            now = self._clock()
            if self._last_contact is None or now - self._last_contact >= CHECK_EVERY_SECONDS:
                # Raises KafkaException when no broker answers.
                self._consumer.list_topics(self._topic, timeout=CHECK_TIMEOUT_SECONDS)
                self._last_contact = now
            return None
        if record.error():
            raise KafkaException(record.error())
        self._last_contact = self._clock()
        return Message(
            topic=record.topic(),
            partition=record.partition(),
            offset=record.offset(),
            key=record.key(),
            value=record.value() or b"",
        )

    def commit(self, message: Message) -> None:
        # The committed offset is the next one to read.
        position = TopicPartition(message.topic, message.partition, message.offset + 1)
        self._consumer.commit(offsets=[position], asynchronous=False)

    def close(self) -> None:
        self._consumer.close()
