"""The usage query cs-sync writes for BigQuery, executed: transpiled by sqlglot from BigQuery's
dialect to DuckDB's and run on a table of events, with the parameters bound as cs-sync binds
them. What is checked is the answer, not the text: months in the run's time zone, `last` as
the latest day's value, bounds on the raw date column, a date column named like an alias."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pandas as pd
import pytest

from cs_sync.connectors.usage_bigquery import months_window, query_parameters, usage_query
from cs_sync.connectors.usage_settings import BigQueryUsage

sqlglot = pytest.importorskip("sqlglot")
AS_OF = date(2026, 11, 24)
TABLE = "acme-cs.product.events"
DUCK_TYPES = {"DATE": "DATE", "DATETIME": "TIMESTAMP", "TIMESTAMP": "TIMESTAMPTZ"}


def run(
    events: list[tuple[str, str, float, float]],
    date_type: str,
    date_column: str = "ts",
    timezone: str = "Asia/Tokyo",
) -> list[tuple[Any, ...]]:
    """(account, when, logins, seats) rows in a table whose date column has `date_type`."""
    settings = BigQueryUsage(
        table=TABLE,
        key_column="account",
        date_column=date_column,
        aggregate={"logins": "sum", "seats": "last"},
    )
    sql = usage_query(settings, {"logins": "logins", "seats": "seats"}, date_type)
    duck = sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]
    db = duckdb.connect(config={"autoinstall_known_extensions": False, "TimeZone": "UTC"})
    db.execute("ATTACH ':memory:' AS \"acme-cs\"")
    db.execute('CREATE SCHEMA "acme-cs".product')
    db.execute(
        f'CREATE TABLE "acme-cs".product.events (account VARCHAR, "{date_column}" '
        f"{DUCK_TYPES[date_type]}, logins DOUBLE, seats DOUBLE)"
    )
    db.executemany('INSERT INTO "acme-cs".product.events VALUES (?, ?, ?, ?)', events)
    since, until = months_window(AS_OF, settings.months)
    parameters = {
        name: (
            pd.Timestamp(value).tz_convert("UTC").to_pydatetime() if kind == "TIMESTAMP" else value
        )
        for name, kind, value in query_parameters(date_type, since, until, timezone)
    }
    used = {name: value for name, value in parameters.items() if f"${name}" in duck}
    return db.execute(duck, used).fetchall()


def test_a_tokyo_month_starts_at_midnight_tokyo() -> None:
    """00:30 on 1 October in Tokyo is 15:30 on 30 September in UTC: it counts for October."""
    rows = run(
        [
            ("001A", "2026-09-30 15:30:00+00", 3.0, 10.0),  # 2026-10-01 00:30 in Tokyo
            ("001A", "2026-09-30 14:30:00+00", 5.0, 9.0),  # 2026-09-30 23:30 in Tokyo
        ],
        "TIMESTAMP",
    )
    assert rows == [("001A", "2026-09", 5.0, 9.0), ("001A", "2026-10", 3.0, 10.0)]


def test_last_is_the_value_of_the_latest_day() -> None:
    rows = run(
        [
            ("001A", "2026-10-03", 1.0, 12.0),
            ("001A", "2026-10-28", 1.0, 15.0),  # the latest day: its seats count
            ("001A", "2026-10-15", 1.0, 30.0),
        ],
        "DATE",
    )
    assert rows == [("001A", "2026-10", 3.0, 15.0)]


def test_the_bounds_are_the_window_of_months() -> None:
    """27 months back from the run's month, up to its end; rows outside are not read."""
    rows = run(
        [
            ("001A", "2024-07-31 12:00:00", 1.0, 1.0),  # before the window
            ("001A", "2024-08-01 00:00:00", 2.0, 1.0),
            ("001A", "2026-11-30 23:59:00", 4.0, 1.0),
            ("001A", "2026-12-01 00:00:00", 8.0, 1.0),  # after the run's month
        ],
        "DATETIME",
    )
    assert [(month, logins) for _, month, logins, _ in rows] == [("2024-08", 2.0), ("2026-11", 4.0)]


def test_a_date_column_named_month_is_not_ambiguous() -> None:
    rows = run([("001A", "2026-10-03", 2.0, 5.0)], "DATE", date_column="month")
    assert rows == [("001A", "2026-10", 2.0, 5.0)]


def test_your_own_metrics_are_aggregated_too() -> None:
    """usage.metrics come back from BigQuery like the core ones, under their own column names
    and with their own aggregate."""
    from cs_sync.connectors.usage_settings import BigQueryUsageSource

    source = BigQueryUsageSource.model_validate(
        {
            "source": "bigquery",
            "metrics": ["candidate_requests"],
            "columns": {"candidate_requests": "requests"},
            "bigquery": {"table": TABLE, "aggregate": {"candidate_requests": "max"}},
        },
        context={},
    )
    columns = source.table_columns()
    assert columns["candidate_requests"] == "requests"
    sql = usage_query(source.bigquery, columns, "DATE")
    assert "MAX(`requests`) AS candidate_requests" in " ".join(sql.split())
