"""Entrypoint: `python -m app`. Serves until SIGTERM, then drains: readiness turns off first, so
the load balancer stops sending requests before the server stops accepting them."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Optional

from app.logs import configure_logging
from app.probes import Health, Metrics, make_handler, serve
from app.service import ROUTES

# The port the platform's tenant file declares for this app (its `port`); PORT overrides it.
DEFAULT_PORT = int("${{ values.port }}")
# Long enough for the load balancer to see the failing readiness probe (periodSeconds 5).
DEFAULT_DRAIN_SECONDS = 10.0


def main() -> None:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    log = logging.getLogger("app")
    port = int(os.environ.get("PORT", DEFAULT_PORT))
    drain = float(os.environ.get("DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))
    metrics, health = Metrics(), Health()
    server = serve(port, make_handler(metrics, health, ROUTES))
    stopping = threading.Event()

    def stop(signum: int, _frame: Optional[FrameType]) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("signal %d: draining for %.0f s", signum, drain)
        health.set_ready(False)
        threading.Timer(drain, server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    health.set_ready(True)
    log.info("listening on port %d", port)
    server.serve_forever()
    server.server_close()
    log.info("stopped")


if __name__ == "__main__":
    main()
