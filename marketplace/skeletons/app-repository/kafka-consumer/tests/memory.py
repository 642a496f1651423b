"""An in-memory `Source`: the consumer loop without a broker."""

from __future__ import annotations

from collections import deque
from typing import Iterable, Optional

from app.consumer import Message


class MemorySource:
    def __init__(self, messages: Iterable[Message] = ()) -> None:
        self.pending = deque(messages)
        self.committed: list[Message] = []
        self.closed = False
        self.failing = False

    def poll(self, timeout: float) -> Optional[Message]:
        if self.failing:
            raise ConnectionError("broker unreachable")
        return self.pending.popleft() if self.pending else None

    def commit(self, message: Message) -> None:
        self.committed.append(message)

    def close(self) -> None:
        self.closed = True
