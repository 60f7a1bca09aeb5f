"""`cs-sync demo`: seed a local sandbox org and run one sync on it."""

from __future__ import annotations

import argparse
from pathlib import Path

from cs_sync.commands.common import Subparsers, as_of, emit_failure
from cs_sync.config import load_config
from cs_sync.errors import EXIT_OK, CsSyncError
from cs_sync.pipeline import run_once
from cs_sync.report import summary_text


def register(commands: Subparsers) -> None:
    demo = commands.add_parser("demo", help="seed a local sandbox org and run one sync on it")
    demo.add_argument("--accounts", type=int, default=300, help="accounts in the sample book")
    demo.add_argument(
        "--workdir", default="demo", help="folder for the sandbox, config, usage and dashboard"
    )
    demo.add_argument(
        "--no-run", action="store_true", help="prepare the sandbox and config only; do not sync"
    )
    demo.add_argument("--as-of", help=argparse.SUPPRESS)
    demo.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from cs_sync.demo import prepare_demo, relative, start_sandbox  # loads the sandbox

    run_date = as_of(args.as_of, "Asia/Tokyo")
    folder = prepare_demo(Path(args.workdir), args.accounts, run_date)
    config_arg = relative(folder.config_path)
    state = "seeded" if folder.seeded_now else "reused"
    print(
        f"Sandbox org {state}: {args.accounts} accounts in {relative(folder.database)}, "
        f"usage in {relative(folder.usage_path)}"
    )
    print(f"Config written: {config_arg}")
    if args.no_run:
        print(
            f"\nNext: `cs-sync sandbox serve --config {config_arg}` in one terminal, then "
            f"`cs-sync plan --config {config_arg}` and `cs-sync run --config {config_arg}`."
        )
        return EXIT_OK
    try:
        with start_sandbox(folder):
            config = load_config(folder.config_path)
            result = run_once(config, run_date, dry_run=False)
    except CsSyncError as error:
        return emit_failure(error, False, run_date)
    print()
    print(summary_text(result, "cs-sync demo run"))
    posted = result.plan.alerts if result.plan is not None else None
    if posted is not None and result.alerts.get("sent"):
        print("\nAlerts posted on the Accounts' Chatter feeds, e.g.:")
        for row in posted.head(3).itertuples(index=False):
            print(f"  {row.title}")
    if result.dashboard:
        print(f"\nOpen {relative(Path(result.dashboard))} in a browser for the KPI dashboard.")
    print(
        f"To run again yourself: `cs-sync sandbox serve --config {config_arg}` in one "
        f"terminal, then `cs-sync run --config {config_arg}` in another."
    )
    return result.exit_code
