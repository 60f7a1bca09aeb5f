"""`cs-sync dashboard link`: the Looker Studio address that creates the report on your data:
the cs-sync template copied onto every tab (dashboard.looker_template_id or --template), or,
with no template, Looker Studio's default template over one tab (--tab, default
kpi_periods)."""

from __future__ import annotations

import argparse

from cs_sync.commands.common import Subparsers, emit_failure
from cs_sync.config import load_config
from cs_sync.connectors.sheets_dashboard import open_dashboard
from cs_sync.errors import EXIT_OK, CsSyncError
from cs_sync.looker import (
    DATA_SOURCES,
    DEFAULT_TAB,
    bigquery_link,
    default_bigquery_link,
    default_sheets_link,
    sheets_link,
)


def register(commands: Subparsers) -> None:
    dashboard = commands.add_parser("dashboard", help="the Looker Studio report")
    dashboard_commands = dashboard.add_subparsers(dest="dashboard_command", required=True)
    link = dashboard_commands.add_parser(
        "link",
        help="print the Looker Studio address that creates the report on your data",
    )
    link.add_argument("--config", required=True)
    link.add_argument(
        "--template",
        help="the template report id (default: the config's; with none, Looker Studio's "
        "default template over one tab)",
    )
    link.add_argument(
        "--tab",
        choices=[tab for _, tab, _ in DATA_SOURCES],
        default=DEFAULT_TAB,
        help=f"without a template: the tab (or its BigQuery table) to open ({DEFAULT_TAB})",
    )
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
        if config.dashboard.spreadsheet_id is not None and args.source != "bigquery":
            sink = open_dashboard(config.dashboard, config.sandbox.url, None)
            spreadsheet = config.dashboard.spreadsheet_id
            try:
                link = (
                    sheets_link(template, spreadsheet, sink.tab_ids(), args.name)
                    if template
                    else default_sheets_link(spreadsheet, sink.tab_ids(), args.tab, args.name)
                )
            except ValueError as error:
                raise CsSyncError(str(error)) from None
        elif config.history.backend == "bigquery":
            project, dataset = str(config.history.project), str(config.history.dataset)
            link = (
                bigquery_link(template, project, dataset, args.name)
                if template
                else default_bigquery_link(project, dataset, args.tab, args.name)
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
