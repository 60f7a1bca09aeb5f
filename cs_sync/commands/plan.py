"""`cs-sync plan`: show what `run` would write, and write nothing."""

from __future__ import annotations

import argparse

from cs_sync.commands.common import Subparsers, run_options
from cs_sync.commands.run import run_or_plan


def register(commands: Subparsers) -> None:
    plan = commands.add_parser("plan", help="show what `run` would write (a dry run)")
    run_options(plan)
    plan.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    return run_or_plan(args, dry_run=True)
