"""`cs-sync setup salesforce`: the custom fields cs-sync needs; --apply creates the missing.
`cs-sync setup dashboard`: the KPI spreadsheet in Google Drive, shared with the managers;
--apply creates and shares it."""

from __future__ import annotations

import argparse

from cs_sync.commands.common import Subparsers, emit_failure
from cs_sync.config import load_config
from cs_sync.connectors.drive import Drive, drive_service
from cs_sync.dashboard_setup import DEFAULT_NAME, describe_dashboard_setup, setup_dashboard
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
    dashboard = setup_commands.add_parser(
        "dashboard",
        help="the KPI spreadsheet in Google Drive, shared with dashboard.share_with; --apply "
        "creates and shares it",
    )
    dashboard.add_argument("--config", required=True)
    dashboard.add_argument(
        "--apply", action="store_true", help="create the spreadsheet and share it (Drive API)"
    )
    dashboard.add_argument(
        "--name", default=DEFAULT_NAME, help=f"the new spreadsheet's name (default: {DEFAULT_NAME})"
    )
    dashboard.set_defaults(handler=main_dashboard)


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        report = setup_salesforce(config, apply=args.apply)
    except CsSyncError as error:
        return emit_failure(error, False, None)
    print(describe_setup(report, config, args.apply))
    return EXIT_OK if setup_ok(report) else EXIT_BAD_INPUT


def main_dashboard(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        service, account = drive_service(config.dashboard.credentials_file, config.sandbox.url)
        result = setup_dashboard(config, Drive(service, account), args.apply, args.name)
    except CsSyncError as error:
        return emit_failure(error, False, None)
    print(describe_dashboard_setup(result, args.config))
    return EXIT_OK
