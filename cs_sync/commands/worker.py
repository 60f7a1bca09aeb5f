"""`cs-sync worker`: run on the [worker] schedule until stopped (SIGTERM finishes cleanly)."""

from __future__ import annotations

import argparse
import logging
from functools import partial
from pathlib import Path

from cs_sync.commands.common import Subparsers, as_of, emit_failure, today
from cs_sync.config import load_config
from cs_sync.errors import CsSyncError
from cs_sync.logs import configure_logging
from cs_sync.worker import StopFlag, serve

log = logging.getLogger("cs_sync")


def register(commands: Subparsers) -> None:
    worker = commands.add_parser(
        "worker", help="run on the [worker] schedule until stopped (SIGTERM finishes cleanly)"
    )
    worker.add_argument("--config", required=True)
    worker.add_argument(
        "--run-at-start", action="store_true", help="run once right away, then on schedule"
    )
    worker.add_argument("--as-of", help=argparse.SUPPRESS)  # every run on this date (tests)
    worker.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except CsSyncError as error:
        return emit_failure(error, False, None)
    worker = config.worker
    configure_logging(
        min(logging.getLogger().level, logging.INFO), args.json_logs or worker.json_logs
    )
    log.info(
        "worker started: schedule %r in %s, lock %s, status %s",
        worker.schedule,
        worker.timezone,
        worker.lock_file,
        worker.status_file,
    )
    try:
        with StopFlag() as stop:
            run_date = today if args.as_of is None else partial(as_of, args.as_of)
            return serve(Path(args.config), stop, run_date, args.run_at_start)
    except CsSyncError as error:
        return emit_failure(error, False, None)
