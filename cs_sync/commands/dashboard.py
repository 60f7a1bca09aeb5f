"""`cs-sync dashboard link`: the Looker Studio address that creates the report on your data."""

from __future__ import annotations

import argparse

from cs_sync.commands.common import Subparsers, emit_failure
from cs_sync.config import load_config
from cs_sync.connectors.sheets_dashboard import open_dashboard
from cs_sync.errors import EXIT_OK, CsSyncError
from cs_sync.looker import bigquery_link, sheets_link


def register(commands: Subparsers) -> None:
    dashboard = commands.add_parser("dashboard", help="the Looker Studio report")
    dashboard_commands = dashboard.add_subparsers(dest="dashboard_command", required=True)
    link = dashboard_commands.add_parser(
        "link",
        help="print the Looker Studio address that creates the report on your data",
    )
    link.add_argument("--config", required=True)
    link.add_argument("--template", help="the template report id (default: the config's)")
    link.add_argument("--name", default="cs-sync KPI dashboard", help="the new report's name")
    link.add_argument(
        "--source",
        choices=["sheets", "bigquery"],
        help="which data to use when both are set (default: sheets)",
    )
    link.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        template = args.template or config.dashboard.looker_template_id
        if not template:
            raise CsSyncError(
                f"{args.config}: set dashboard.looker_template_id (or pass --template) to the "
                "id of your copy of the cs-sync Looker Studio report (docs/looker-studio.md)"
            )
        if config.dashboard.spreadsheet_id is not None and args.source != "bigquery":
            sink = open_dashboard(config.dashboard, config.sandbox.url, None)
            try:
                link = sheets_link(
                    template, config.dashboard.spreadsheet_id, sink.tab_ids(), args.name
                )
            except ValueError as error:
                raise CsSyncError(str(error)) from None
        elif config.history.backend == "bigquery":
            link = bigquery_link(
                template, str(config.history.project), str(config.history.dataset), args.name
            )
        else:
            raise CsSyncError(
                f"{args.config}: the report needs a data source: set dashboard.spreadsheet_id, "
                'or [history] backend = "bigquery"'
            )
    except CsSyncError as error:
        return emit_failure(error, False, None)
    print(link)
    return EXIT_OK
