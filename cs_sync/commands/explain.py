"""`cs-sync explain`: why one account has its grade, phase, strategy and Tasks."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from cs_sync.commands.common import Subparsers, as_of, emit_failure, print_json, run_options
from cs_sync.config import load_config
from cs_sync.errors import EXIT_OK, CsSyncError
from cs_sync.explain import explain_account, explain_text
from cs_sync.pipeline import run_once


def register(commands: Subparsers) -> None:
    explain = commands.add_parser(
        "explain",
        help="why one account has its grade, phase, strategy and tasks (writes nothing)",
    )
    run_options(explain)
    explain.add_argument("account_id", help="the Account id (15 or 18 characters)")
    explain.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    run_date: date | None = None
    try:
        config = load_config(args.config)
        run_date = as_of(args.as_of, config.timezone)
        result = run_once(config, run_date, dry_run=True)
        if result.plan is None:  # the run stopped before it had a plan
            if args.json:
                print_json(result.as_json())
            else:
                print(f"cs-sync: {result.errors[-1].message}", file=sys.stderr)
            return result.exit_code
        explanation = explain_account(result.plan, config, args.account_id)
    except CsSyncError as error:
        return emit_failure(error, args.json, run_date)
    if args.json:
        print_json(explanation)
    else:
        print(explain_text(explanation))
    return EXIT_OK
