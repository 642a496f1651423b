"""Entrypoint: `python -m app` runs the job once and exits with its status."""

from __future__ import annotations

import os
import sys

from app.job import run, utc_now
from app.logs import configure_logging

if __name__ == "__main__":
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    sys.exit(run(utc_now()).exit_code)
