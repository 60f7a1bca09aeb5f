"""`cs-sync setup salesforce`: the custom fields cs-sync needs; --apply creates the missing."""

from __future__ import annotations

import argparse

from cs_sync.commands.common import Subparsers, emit_failure
from cs_sync.config import load_config
from cs_sync.errors import EXIT_BAD_INPUT, EXIT_OK, CsSyncError
from cs_sync.setup import describe_setup, setup_ok, setup_salesforce


def register(commands: Subparsers) -> None:
    setup = commands.add_parser("setup", help="prepare an org for cs-sync")
    setup_commands = setup.add_subparsers(dest="setup_command", required=True)
    salesforce = setup_commands.add_parser(
        "salesforce", help="list the custom fields cs-sync needs; --apply creates the missing"
    )
    salesforce.add_argument("--config", required=True)
    salesforce.add_argument(
        "--apply", action="store_true", help="create the missing fields (Tooling API)"
    )
    salesforce.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        report = setup_salesforce(config, apply=args.apply)
    except CsSyncError as error:
        return emit_failure(error, False, None)
    print(describe_setup(report, config, args.apply))
    return EXIT_OK if setup_ok(report) else EXIT_BAD_INPUT
