"""One run of the job. The platform starts it on its schedule (a CronJob) and reads only its exit
status: 0 is success; anything else is a failed attempt, retried up to the tenant file's
`backoffLimit`, and a run still going at `activeDeadlineSeconds` is stopped. So the job does its
work and exits; it serves nothing and keeps no state in the container (only /tmp is writable).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

log = logging.getLogger("job")


@dataclass(frozen=True)
class Outcome:
    done: int
    failed: int

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def items(now: datetime) -> Iterable[str]:
    """What this run works on. Replace with the real query (e.g. yesterday's records)."""
    return [now.date().isoformat()]


def process(item: str) -> None:
    """The work for one item. Replace with the real thing; raise to mark it failed."""
    log.info("processed %s", item)


def run(
    now: datetime,
    source: Callable[[datetime], Iterable[str]] = items,
    work: Callable[[str], None] = process,
) -> Outcome:
    """Every item is attempted; the run fails if any item failed, after trying all of them."""
    started, done, failed = time.perf_counter(), 0, 0
    for item in source(now):
        try:
            work(item)
            done += 1
        except Exception:
            log.exception("failed %s", item)
            failed += 1
    log.info(
        "run finished: %d done, %d failed in %.3f s", done, failed, time.perf_counter() - started
    )
    return Outcome(done, failed)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
