"""Looker Studio: the Linking API address that copies the cs-sync report template onto your
own data (the Google Sheets tabs, or the BigQuery tables), or, with no template, opens
Looker Studio's default template over one tab or table (kpi_periods unless asked).

The template's data sources carry these aliases (see docs/looker-studio.md, which describes
the report page by page); the link replaces each with the matching tab or table. Without a
template there is one data source, configured with alias-less `ds.` parameters. Pure: the
caller looks up the tab ids.
"""

from __future__ import annotations

from urllib.parse import urlencode

LINK_BASE = "https://lookerstudio.google.com/reporting/create"
# alias in the template -> (Sheets tab, BigQuery table)
DATA_SOURCES = (
    ("ds0", "kpi_daily", "kpi_history"),
    ("ds1", "kpi_periods", "kpi_periods"),
    ("ds2", "accounts", "accounts"),
    ("ds3", "health_history", "account_history"),
    ("ds4", "kpi_targets", "kpi_targets"),
    ("ds5", "kpi_csm", "kpi_csm"),
)


def sheets_link(
    template_id: str, spreadsheet_id: str, tab_ids: dict[str, int], report_name: str
) -> str:
    """`tab_ids`: tab title -> sheet id (gid). Every tab must exist (a run creates them)."""
    missing = [tab for _, tab, _ in DATA_SOURCES if tab not in tab_ids]
    if missing:
        raise ValueError(
            f"the spreadsheet has no tab {', '.join(missing)}: run `cs-sync run` once so that "
            "cs-sync creates and fills them"
        )
    parameters = {"c.reportId": template_id, "r.reportName": report_name}
    for alias, tab, _ in DATA_SOURCES:
        parameters |= {
            f"ds.{alias}.connector": "googleSheets",
            f"ds.{alias}.spreadsheetId": spreadsheet_id,
            f"ds.{alias}.worksheetId": str(tab_ids[tab]),
            f"ds.{alias}.refreshFields": "false",
        }
    return f"{LINK_BASE}?{urlencode(parameters)}"


def bigquery_link(template_id: str, project: str, dataset: str, report_name: str) -> str:
    parameters = {"c.reportId": template_id, "r.reportName": report_name}
    for alias, _, table in DATA_SOURCES:
        parameters |= {
            f"ds.{alias}.connector": "bigQuery",
            f"ds.{alias}.type": "TABLE",
            f"ds.{alias}.projectId": project,
            f"ds.{alias}.datasetId": dataset,
            f"ds.{alias}.tableId": table,
            f"ds.{alias}.refreshFields": "false",
        }
    return f"{LINK_BASE}?{urlencode(parameters)}"


DEFAULT_TAB = "kpi_periods"


def default_sheets_link(
    spreadsheet_id: str, tab_ids: dict[str, int], tab: str, report_name: str
) -> str:
    """Looker Studio's default template over one tab of the spreadsheet."""
    if tab not in tab_ids:
        raise ValueError(
            f"the spreadsheet has no tab {tab}: run `cs-sync run` once so that cs-sync creates "
            "and fills it"
        )
    parameters = {
        "r.reportName": report_name,
        "ds.connector": "googleSheets",
        "ds.spreadsheetId": spreadsheet_id,
        "ds.worksheetId": str(tab_ids[tab]),
    }
    return f"{LINK_BASE}?{urlencode(parameters)}"


def default_bigquery_link(project: str, dataset: str, tab: str, report_name: str) -> str:
    """Looker Studio's default template over the BigQuery table that matches the tab."""
    table = {sheet: bigquery for _, sheet, bigquery in DATA_SOURCES}[tab]
    parameters = {
        "r.reportName": report_name,
        "ds.connector": "bigQuery",
        "ds.type": "TABLE",
        "ds.projectId": project,
        "ds.datasetId": dataset,
        "ds.tableId": table,
    }
    return f"{LINK_BASE}?{urlencode(parameters)}"
