"""Looker Studio: the Linking API address that copies the cs-sync report template onto your
own data (the Google Sheets tabs, or the BigQuery tables).

The template's data sources carry these aliases (see docs/looker-studio.md, which describes
the report page by page); the link replaces each with the matching tab or table. Pure: the
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
