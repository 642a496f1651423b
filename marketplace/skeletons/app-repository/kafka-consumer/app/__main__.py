"""Entrypoint: `python -m app`. Consumes until SIGTERM, serving probes and metrics meanwhile.

Settings come from the environment (the app's `env` in its tenant file):
KAFKA_BOOTSTRAP_SERVERS and KAFKA_TOPIC are required; KAFKA_GROUP_ID defaults to the app's name,
the consumer group the platform's lag analysis watches unless the tenant file names another.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Optional

from app.consumer import ConsumerLoop, ConsumerMetrics
from app.logs import configure_logging
from app.probes import Health, Metrics, make_handler, serve

NAME = "${{ values.name }}"
DEFAULT_PORT = int("${{ values.port }}")


def main() -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    log = logging.getLogger("app")
    missing = [key for key in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC") if not os.environ.get(key)]
    if missing:
        log.error("missing environment: %s", ", ".join(missing))
        return 2
    from app.kafka import KafkaSource

    source = KafkaSource(
        os.environ["KAFKA_BOOTSTRAP_SERVERS"],
        os.environ.get("KAFKA_GROUP_ID", NAME),
        os.environ["KAFKA_TOPIC"],
    )
    metrics = Metrics()
    loop = ConsumerLoop(source, ConsumerMetrics(metrics.registry))
    health = Health(ready=loop.ready)
    server = serve(int(os.environ.get("PORT", DEFAULT_PORT)), make_handler(metrics, health, {}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Optional[FrameType]) -> None:
        log.info("signal %d: stopping", signum)
        health.set_ready(False)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    health.set_ready(True)
    loop.run(stop)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
