"""`cs-sync backfill`: fill the history store with past dates; optionally write today's
values to every account (the first install)."""

from __future__ import annotations

import argparse

from cs_sync.backfill import backfill_dates, run_backfill
from cs_sync.commands.common import Subparsers, date_arg, emit_failure, print_json, today
from cs_sync.config import load_config
from cs_sync.errors import CsSyncError
from cs_sync.report import backfill_text
from cs_sync.worker import RunLock, StopFlag


def register(commands: Subparsers) -> None:
    backfill = commands.add_parser(
        "backfill",
        help="fill the history store with past dates; optionally write today's values to all",
    )
    backfill.add_argument("--config", required=True)
    backfill.add_argument("--since", required=True, help="first date (YYYY-MM-DD)")
    backfill.add_argument("--until", help="last date (YYYY-MM-DD); default today")
    backfill.add_argument("--every", choices=["week", "month"], default="week")
    backfill.add_argument(
        "--write-salesforce",
        action="store_true",
        help="then write today's values to every account (first install; Bulk API 2.0)",
    )
    backfill.add_argument("--dry-run", action="store_true", help="compute, write nothing")
    backfill.add_argument(
        "--restart", action="store_true", help="recompute dates a previous backfill finished"
    )
    backfill.add_argument(
        "--max-calls-per-minute",
        type=float,
        help="cap on Salesforce API calls a minute (leave room for other integrations)",
    )
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar")
    backfill.add_argument("--json", action="store_true", help="print one JSON object")
    backfill.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        day = today(config.timezone)
        until = date_arg(args.until, "--until") if args.until else day
        dates = backfill_dates(date_arg(args.since, "--since"), until, args.every)
        with StopFlag() as stop, RunLock(config.worker.lock_file):
            result = run_backfill(
                config,
                dates,
                day,
                write_salesforce=args.write_salesforce,
                dry_run=args.dry_run,
                restart=args.restart,
                max_calls_per_minute=args.max_calls_per_minute,
                progress=not args.no_progress and not args.json,
                stop_requested=stop,
            )
    except CsSyncError as error:
        return emit_failure(error, args.json, None)
    if args.json:
        print_json(result.as_json())
    else:
        print(backfill_text(result, config))
    return result.exit_code
