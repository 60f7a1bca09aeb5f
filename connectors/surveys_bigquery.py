"""Survey answers from a BigQuery table, one row per answer (account, contact, when, score).

A run needs each contact's latest answer up to the run date: BigQuery works it out and only
one row per account and contact comes back. A backfill or backtest scores earlier dates
too, each of which needs the answers as they stood then, so it reads every answer from the
earliest date's window on. The rows then go through the checks a CSV file's answers get,
numbered by result row. Table and column names are checked identifiers; the dates are
parameters on the raw date column (so BigQuery prunes partitions), days in the run's time
zone for a TIMESTAMP.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from cs_sync.connectors.bigquery_calls import run_query
from cs_sync.connectors.google_calls import bigquery_client
from cs_sync.connectors.surveys_csv import COLUMNS, validate_answers
from cs_sync.connectors.usage_bigquery import (
    DAY_OF,
    check_names,
    date_column_type,
    months_window,
    query_parameters,
)
from cs_sync.connectors.usage_settings import SurveysBigQuery

SURVEY_ACCESS = "BigQuery Data Viewer on the table's dataset and BigQuery Job User on the project"


def survey_query(settings: SurveysBigQuery, date_type: str, latest_only: bool) -> str:
    """The answers between the bounds; `latest_only`: each account and contact's latest."""
    keys = ("account_column", "contact_column", "date_column", "score_column")
    check_names(
        settings.table,
        "surveys.bigquery.table",
        [(f"surveys.bigquery.{key}", getattr(settings, key)) for key in keys],
    )
    day_of, bounds = DAY_OF[date_type]
    when = f"`{settings.date_column}`"
    day, score = day_of.format(col=when), f"`{settings.score_column}`"
    if latest_only:
        answered, scored = f"MAX({day})", f"MAX_BY({score}, {when})"
        grouped = "GROUP BY 1, 2\n"
    else:
        answered, scored, grouped = day, score, ""
    return (
        f"SELECT\n  CAST(`{settings.account_column}` AS STRING) AS account_id,\n"
        f"  CAST(`{settings.contact_column}` AS STRING) AS contact_id,\n"
        f"  {answered} AS answered,\n  {scored} AS score\n"
        f"FROM `{settings.table}`\n"
        f"WHERE {bounds.format(col=when)} AND {score} IS NOT NULL\n"
        f"{grouped}ORDER BY 1, 2, 3"
    )


def read_surveys_bigquery(
    settings: SurveysBigQuery,
    credentials_file: Any,
    scale: str,
    months: int,
    as_of: date,
    since: date | None = None,
    timezone: str = "UTC",
    client: Any | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The answers (account_id, contact_id, day, score) that can count on any date from
    `since` (a backfill's earliest; default the run date) to `as_of`, and the bad rows named
    "row N, column: what is wrong"."""
    if client is None:
        client = bigquery_client(
            settings.project, settings.location, credentials_file, "surveys.credentials_file"
        )
    wanted = {
        "surveys.bigquery.account_column": settings.account_column,
        "surveys.bigquery.contact_column": settings.contact_column,
        "surveys.bigquery.date_column": settings.date_column,
        "surveys.bigquery.score_column": settings.score_column,
    }
    date_type = date_column_type(
        client, settings.table, wanted, "surveys.bigquery.date_column", SURVEY_ACCESS
    )
    earliest, _ = months_window(since or as_of, months)  # a little wider than the rule's
    frame = run_query(
        client,
        survey_query(settings, date_type, latest_only=since is None),
        query_parameters(date_type, earliest, as_of + timedelta(days=1), timezone),
        settings.maximum_bytes_billed,
        settings.location,
        f"reading survey answers from {settings.table}",
        "surveys.bigquery.maximum_bytes_billed",
        {
            "setting": f"surveys.bigquery.table ({settings.table}) and surveys.bigquery.location",
            "role": SURVEY_ACCESS,
            "missing_is_empty": False,
        },
    )
    if frame.empty:
        frame = pd.DataFrame(columns=list(COLUMNS))
    text = frame[list(COLUMNS)].map(lambda v: "" if v is None or pd.isna(v) else str(v))
    return validate_answers(text, f"survey query on {settings.table}", scale, first_row=1)
