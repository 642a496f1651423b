"""The real `Source`: confluent-kafka (librdkafka). Imported only when the app starts, so the
loop and its tests need no Kafka client."""

from __future__ import annotations

from typing import Optional

from confluent_kafka import Consumer, KafkaException, TopicPartition

from app.consumer import Message


class KafkaSource:
    def __init__(self, bootstrap_servers: str, group_id: str, topic: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group_id,
                "client.id": group_id,
                # Offsets are committed by the loop after each message is handled.
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self._consumer.subscribe([topic])

    def poll(self, timeout: float) -> Optional[Message]:
        record = self._consumer.poll(timeout)
        if record is None:
            return None
        if record.error():
            raise KafkaException(record.error())
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
