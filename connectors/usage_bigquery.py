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
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from cs_sync.connectors.bigquery_calls import last_change, run_query, translated_errors
from cs_sync.connectors.google_calls import bigquery_client
from cs_sync.connectors.usage_checks import UsageTable, validate_usage
from cs_sync.connectors.usage_memo import UsageMemo, text_signature
from cs_sync.connectors.usage_settings import KEY_COLUMN, MONTH_COLUMN, BigQueryUsage
from cs_sync.errors import ConfigError

AGGREGATES = {"sum": "SUM", "max": "MAX", "avg": "AVG"}  # and "last": the latest day's value
USAGE_ACCESS = "BigQuery Data Viewer on the table's dataset and BigQuery Job User on the project"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
_TABLE = re.compile(r"[a-z][a-z0-9-]{4,29}\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_$-]{1,1024}")


# How each type of date column becomes the day of a usage row (in the run's time zone for a
# TIMESTAMP) and is bounded on the raw column, so BigQuery prunes the table's partitions.
DAY_OF = {
    "DATE": ("{col}", "{col} >= @since AND {col} < @until"),
    "DATETIME": ("DATE({col})", "{col} >= @since_dt AND {col} < @until_dt"),
    "TIMESTAMP": ("DATE({col}, @tz)", "{col} >= @since_ts AND {col} < @until_ts"),
}


def check_names(table: str, table_key: str, columns: list[tuple[str, str]]) -> None:
    """Table and column names go into the SQL text (BigQuery takes no parameters for them):
    each must be a plain identifier, else a configuration error naming its setting.
    `columns`: (setting, column name) pairs."""
    if not _TABLE.fullmatch(table):
        raise ConfigError(table_key, [f"{table!r} is not project.dataset.table"])
    for key, name in columns:
        if not _IDENTIFIER.fullmatch(name):
            raise ConfigError(key, [f"{name!r} is not a column name"])


def usage_query(settings: BigQueryUsage, columns: dict[str, str], date_type: str = "DATE") -> str:
    """The aggregation, one row per account and month of the run's time zone, bounded by
    parameters on the date column itself (DATE, DATETIME or TIMESTAMP)."""
    check_names(
        settings.table,
        "usage.bigquery.table",
        [
            ("usage.bigquery", name)
            for name in (settings.key_column, settings.date_column, *columns.values())
        ],
    )
    day_of, bounds = DAY_OF[date_type]
    column = f"`{settings.date_column}`"
    day = day_of.format(col=column)
    metrics = ",\n  ".join(
        f"{_aggregate(settings.how(metric), source, settings.date_column)} AS {metric}"
        for metric, source in columns.items()
    )
    return (
        f"SELECT\n  CAST(`{settings.key_column}` AS STRING) AS {KEY_COLUMN},\n"
        f"  FORMAT_DATE('%Y-%m', DATE_TRUNC({day}, MONTH)) AS {MONTH_COLUMN},\n  {metrics}\n"
        f"FROM `{settings.table}`\n"
        f"WHERE {bounds.format(col=column)}\n"
        # by position: an alias that is also a column name (month) is ambiguous to BigQuery
        "GROUP BY 1, 2\nORDER BY 1, 2"
    )


def query_parameters(
    date_type: str, since: date, until: date, timezone: str
) -> list[tuple[str, str, Any]]:
    """The bounds as the date column's type needs them: a TIMESTAMP bound is the start of the
    day in the run's time zone."""
    if date_type == "TIMESTAMP":
        zone = ZoneInfo(timezone)
        return [
            ("tz", "STRING", timezone),
            ("since_ts", "TIMESTAMP", datetime.combine(since, time(), zone)),
            ("until_ts", "TIMESTAMP", datetime.combine(until, time(), zone)),
        ]
    if date_type == "DATETIME":
        return [
            ("since_dt", "DATETIME", datetime.combine(since, time())),
            ("until_dt", "DATETIME", datetime.combine(until, time())),
        ]
    return [("since", "DATE", since), ("until", "DATE", until)]


def _aggregate(how: str, column: str, date_column: str) -> str:
    """A month's value of a metric; `last` is the value of the month's latest day (ANY_VALUE
    would give any day's)."""
    if how == "last":
        return f"MAX_BY(`{column}`, `{date_column}`)"
    return f"{AGGREGATES[how]}(`{column}`)"


def date_column_type(
    client: Any, table: str, wanted: dict[str, str], date_key: str, role: str
) -> str:
    """The type of the date column (`wanted[date_key]`) after checking that the table has
    every column `wanted` names (setting key -> column): one metadata read, no bytes billed.
    A missing column, or a date column of another type, is a named error."""
    return checked_table(client, table, wanted, date_key, role)[0]


def checked_table(
    client: Any, table: str, wanted: dict[str, str], date_key: str, role: str
) -> tuple[str, str | None]:
    """date_column_type, and when the table's data was last changed (None for a view, an
    external table or a table with rows still in its streaming buffer: their metadata does not
    say when their rows changed)."""
    with translated_errors(
        f"reading the columns of {table}",
        setting=f"{date_key.rsplit('.', 1)[0]}.table ({table})",
        role=role,
        missing_is_empty=False,
    ):
        found = client.get_table(table)
    changed = last_change(found)
    types = {field.name: str(field.field_type).upper() for field in found.schema}
    missing = [f"{key} = {name!r}" for key, name in wanted.items() if name not in types]
    if missing:
        raise ConfigError(
            date_key.rsplit(".", 1)[0], [f"{m}: {table} has no such column" for m in missing]
        )
    date_column = wanted[date_key]
    if types[date_column] not in DAY_OF:
        raise ConfigError(
            date_key,
            [
                f"{date_column!r} is {types[date_column]} in {table}; cs-sync reads "
                "DATE, DATETIME or TIMESTAMP"
            ],
        )
    return types[date_column], changed


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
    timezone: str = "UTC",
    memo: UsageMemo | None = None,
) -> UsageTable:
    """Usage months in `timezone` (the run's): a TIMESTAMP event at 00:30 on the 1st in Tokyo
    belongs to that month, not to the one before as it is in UTC. With `memo`, a table whose
    data has not changed since the last read (its last modification, from the metadata read
    the column check makes anyway) is not queried again."""
    if client is None:
        client = bigquery_client(
            settings.project,
            settings.location,
            settings.credentials_file,
            "usage.bigquery.credentials_file",
        )
    wanted = {
        "usage.bigquery.key_column": settings.key_column,
        "usage.bigquery.date_column": settings.date_column,
        **{f"usage.bigquery.columns.{metric}": name for metric, name in columns.items()},
    }
    date_type, changed = checked_table(
        client, settings.table, wanted, "usage.bigquery.date_column", USAGE_ACCESS
    )
    since, until = months_window(as_of, settings.months)

    def query() -> UsageTable:
        frame = run_query(
            client,
            usage_query(settings, columns, date_type),
            query_parameters(date_type, since, until, timezone),
            settings.maximum_bytes_billed,
            settings.location,
            f"reading usage from {settings.table}",
            "usage.bigquery.maximum_bytes_billed",
            {
                "setting": f"usage.bigquery.table ({settings.table}) and usage.bigquery.location",
                "role": USAGE_ACCESS,
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

    if memo is None or changed is None:
        return query()
    signature = text_signature(
        {
            "kind": "bigquery",
            "settings": settings.model_dump(mode="json"),
            "columns": columns,
            "as_of": as_of,
            "account_key": account_key,
            "on_bad_rows": on_bad_rows,
            "timezone": timezone,
            "changed": changed,
        }
    )
    return memo.read(signature, query)
