"""Usage from BigQuery: the aggregation runs inside BigQuery, so only one row per account and
month comes back, however many events the table holds.

The query is written from configuration (table, key column, date column, each metric's
aggregation); BigQuery cannot take table or column names as parameters, so those are checked
against a strict identifier pattern and quoted, and the date bounds are parameters. Every
query carries `maximum_bytes_billed`. The rows then go through the same checks as a CSV file,
numbered by result row.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pandas as pd

from cs_sync.connectors.bigquery_calls import bigquery_client, run_query
from cs_sync.connectors.usage_csv import UsageTable, validate_usage
from cs_sync.connectors.usage_settings import KEY_COLUMN, MONTH_COLUMN, BigQueryUsage
from cs_sync.errors import ConfigError

AGGREGATES = {"sum": "SUM", "max": "MAX", "avg": "AVG"}  # and "last": the latest day's value
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
_TABLE = re.compile(r"[a-z][a-z0-9-]{4,29}\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_$-]{1,1024}")


def usage_query(settings: BigQueryUsage, columns: dict[str, str]) -> str:
    """The aggregation, one row per account and month, dates bounded by @since / @until."""
    if not _TABLE.fullmatch(settings.table):
        raise ConfigError(
            "usage.bigquery.table", [f"{settings.table!r} is not project.dataset.table"]
        )
    for name in (settings.key_column, settings.date_column, *columns.values()):
        if not _IDENTIFIER.fullmatch(name):
            raise ConfigError("usage.bigquery", [f"{name!r} is not a column name"])
    day = f"DATE(`{settings.date_column}`)"
    metrics = ",\n  ".join(
        f"{_aggregate(settings.how(metric), column, settings.date_column)} AS {metric}"
        for metric, column in columns.items()
    )
    return (
        f"SELECT\n  CAST(`{settings.key_column}` AS STRING) AS {KEY_COLUMN},\n"
        f"  FORMAT_DATE('%Y-%m', DATE_TRUNC({day}, MONTH)) AS {MONTH_COLUMN},\n  {metrics}\n"
        f"FROM `{settings.table}`\n"
        f"WHERE {day} >= @since AND {day} < @until\n"
        # by position: an alias that is also a column name (month) is ambiguous to BigQuery
        "GROUP BY 1, 2\nORDER BY 1, 2"
    )


def _aggregate(how: str, column: str, date_column: str) -> str:
    """A month's value of a metric; `last` is the value of the month's latest day that has
    one (ANY_VALUE would give any day's)."""
    if how == "last":
        return (
            f"ARRAY_AGG(`{column}` IGNORE NULLS ORDER BY `{date_column}` DESC LIMIT 1)"
            "[SAFE_OFFSET(0)]"
        )
    return f"{AGGREGATES[how]}(`{column}`)"


def months_window(as_of: date, months: int) -> tuple[date, date]:
    """From the first day `months` months back up to the end of the run's month."""
    index = as_of.year * 12 + as_of.month - 1 - months
    since = date(index // 12, index % 12 + 1, 1)
    after = as_of.year * 12 + as_of.month
    return since, date(after // 12, after % 12 + 1, 1)


def read_usage_bigquery(
    settings: BigQueryUsage,
    columns: dict[str, str],
    as_of: date,
    account_key: str,
    on_bad_rows: str,
    client: Any | None = None,
) -> UsageTable:
    if client is None:
        client = bigquery_client(settings.project, settings.location, settings.credentials_file)
    since, until = months_window(as_of, settings.months)
    frame = run_query(
        client,
        usage_query(settings, columns),
        [("since", "DATE", since), ("until", "DATE", until)],
        settings.maximum_bytes_billed,
        settings.location,
        f"reading usage from {settings.table}",
        "usage.bigquery.maximum_bytes_billed",
        {
            "setting": f"usage.bigquery.table ({settings.table}) and usage.bigquery.location",
            "role": "BigQuery Data Viewer on the table's dataset and BigQuery Job User on the "
            "project",
            "missing_is_empty": False,
        },
    )
    metrics = tuple(columns)
    if frame.empty:
        frame = pd.DataFrame(columns=[KEY_COLUMN, MONTH_COLUMN, *metrics])
    return validate_usage(
        frame,
        f"usage query on {settings.table}",
        as_of,
        account_key,
        on_bad_rows,
        1,
        "row",
        metrics=metrics,
    )
