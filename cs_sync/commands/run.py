"""`cs-sync run`: compute and write health fields, Tasks and the dashboard."""

from __future__ import annotations

import argparse
import logging
from datetime import date

from cs_sync.commands.common import Subparsers, as_of, emit_failure, print_json, run_options
from cs_sync.config import load_config
from cs_sync.errors import CsSyncError
from cs_sync.pipeline import run_once
from cs_sync.plan import describe_plan, plan_json
from cs_sync.report import summary_text
from cs_sync.worker import RunLock, StopFlag

log = logging.getLogger("cs_sync")


def register(commands: Subparsers) -> None:
    run = commands.add_parser("run", help="compute and write health fields, tasks, dashboard")
    run_options(run)
    run.add_argument("--dry-run", action="store_true", help="plan only; write nothing")
    run.add_argument(
        "--force", action="store_true", help="apply even when a safety brake ([brakes]) fires"
    )
    run.add_argument(
        "--full",
        action="store_true",
        help="read every record, not only what changed since the last run ([local_copy])",
    )
    run.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    return run_or_plan(args, dry_run=args.dry_run)


def run_or_plan(args: argparse.Namespace, dry_run: bool) -> int:
    run_date: date | None = None
    try:
        config = load_config(args.config)
        run_date = as_of(args.as_of, config.timezone)
        if dry_run:
            result = run_once(config, run_date, dry_run=True, full=getattr(args, "full", False))
        else:
            with StopFlag() as stop, RunLock(config.worker.lock_file):
                result = run_once(
                    config,
                    run_date,
                    False,
                    force=args.force,
                    stop_requested=stop,
                    full=args.full,
                )
    except CsSyncError as error:
        return emit_failure(error, args.json, run_date)
    if args.json:
        for problem in result.errors:  # stdout holds the one object; the log says it too
            log.error("%s", problem.message)
        output = result.as_json()
        if result.dry_run and result.plan is not None:
            output["plan"] = plan_json(result.plan)
        print_json(output)
    else:
        if result.dry_run and result.plan is not None:
            print(describe_plan(result.plan))
            print()
        print(summary_text(result, "cs-sync plan" if result.dry_run else "cs-sync run"))
    return result.exit_code
