"""History rows: what each run (or backfilled date) leaves behind, as plain tables.

One row per account per date (score, grade, measure values, phase, strategy, ARR, the config's
hash) and the KPI rows of that date. Trends, KPIs over time, backfills and backtests read these
back; the store that keeps them is connectors/history_store.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd

# Outputs a run writes to Salesforce, kept so a backfill can chain one date to the next the
# way a daily run chains to the values on the record.
STORED_OUTPUTS = (
    "score",
    "grade",
    "trend",
    "reasons",
    "phase",
    "phase_delayed",
    "renewal_strategy",
    "next_action",
    "next_action_date",
)
SNAPSHOT_COLUMNS = (
    "as_of",
    "account_id",
    "name",
    "segment",
    "owner_id",
    "arr",
    "seats",
    "score",
    "grade",
    "computed_grade",
    "trend",
    "reasons",
    "coverage",
    "phase",
    "phase_delayed",
    "phase_change",
    "renewal_strategy",
    "next_action",
    "next_action_date",
    "renewal_date",
    "days_to_renewal",
    "measures",
    "config_hash",
)
SERIES_COLUMNS = (
    "as_of",
    "account_id",
    "name",
    "segment",
    "arr",
    "score",
    "grade",
    "phase",
    "renewal_strategy",
    "renewal_date",
)
# What the KPIs by period read of each snapshot (a narrower read than the health tab's)
MOVEMENT_COLUMNS = ("as_of", "account_id", "arr", "phase", "renewal_date")
TEXT_COLUMNS = (
    "account_id",
    "name",
    "segment",
    "owner_id",
    "grade",
    "computed_grade",
    "trend",
    "reasons",
    "phase",
    "phase_change",
    "renewal_strategy",
    "next_action",
    "measures",
    "config_hash",
)
NUMBER_COLUMNS = ("arr", "seats", "score", "coverage", "days_to_renewal")
# Who held a sponsor's role (economic buyer, champion) on each account at each date, so the
# next run can tell who left.
SPONSOR_COLUMNS = ("as_of", "account_id", "role", "contact_id", "contact_name")
# Every alert's life, one row a state (queued, sent, summarised, unconfirmed, failed, dropped),
# appended: the latest row of a key and channel is where it stands. `as_of` is the date of
# the run that queued it, on every row of that alert.
ALERT_LOG_COLUMNS = (
    "as_of",
    "key",
    "event",
    "account_id",
    "channel",
    "state",
    "logged_at",
    "run_id",
    "title",
    "text",
)


def _day(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values, errors="coerce", format="ISO8601")
    return stamps.dt.strftime("%Y-%m-%d").astype(object).where(stamps.notna(), None)


def snapshot_rows(
    scored: pd.DataFrame, measures: list[str], config_hash: str, as_of: date
) -> pd.DataFrame:
    """The history rows of one date: one per scored account, measure values as JSON text
    (the measures differ between configurations; JSON keeps one schema for all of them)."""
    frame = scored.reset_index(drop=True)
    out = pd.DataFrame({"account_id": frame["account_id"].astype(str)})
    out.insert(0, "as_of", as_of.isoformat())
    for column in SNAPSHOT_COLUMNS[2:-2]:
        out[column] = frame.get(column, None)
    present = [m for m in measures if m in frame]
    if present and len(frame):  # pandas' C JSON writer: NaN and None become null
        out["measures"] = _json_lines(frame[present])
    else:
        out["measures"] = "{}"
    out["config_hash"] = config_hash
    for column in NUMBER_COLUMNS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out["phase_delayed"] = out["phase_delayed"].astype("boolean")
    for column in ("next_action_date", "renewal_date"):
        out[column] = _day(out[column])
    for column in TEXT_COLUMNS:
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out[list(SNAPSHOT_COLUMNS)]


def _json_lines(frame: pd.DataFrame, part: int = 20_000) -> list[str]:
    """Each row as a JSON object, `part` rows at a time: the text of every row at once (and
    its copies while it is split) held over 100 MB at 100,000 accounts."""
    lines: list[str] = []
    for start in range(0, len(frame), part):
        text = frame.iloc[start : start + part].to_json(
            orient="records", lines=True, double_precision=10
        )
        lines += text.rstrip("\n").split("\n")
    return lines


def previous_values(snapshot: pd.DataFrame) -> pd.DataFrame:
    """A stored snapshot as the prev_* columns a run reads from the records (for backfill),
    indexed by account_id."""
    prev = snapshot.set_index("account_id")[list(STORED_OUTPUTS)]
    return prev.rename(columns={name: f"prev_{name}" for name in STORED_OUTPUTS})


@dataclass
class RunRecord:
    """One row of the runs table: every run, backfilled date and failure leaves one."""

    run_id: str
    kind: str  # run | backfill
    as_of: date
    started_at: datetime
    finished_at: datetime
    status: str  # ok | partial | failed | skipped
    config_hash: str
    accounts: int = 0
    fields_written: int = 0
    tasks_created: int = 0
    tasks_closed: int = 0
    errors: int = 0
    warnings: int = 0
    detail: str = ""

    def as_row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RUN_COLUMNS}


RUN_COLUMNS = tuple(RunRecord.__dataclass_fields__)


PHASE_SINCE_COLUMNS = ("account_id", "phase_since")


def phase_since_sql(table: str, day: str) -> str:
    """For each account of the latest snapshot on or before `day`, the first date of the
    unbroken run of its phase that ends with that snapshot (the same SQL in DuckDB and
    BigQuery; `day` is the parameter's placeholder, `table` the account history's quoted
    name)."""
    return (
        f"WITH latest AS (SELECT MAX(as_of) AS as_of FROM {table} WHERE as_of <= {day}), "  # noqa: S608
        f"cur AS (SELECT h.account_id, h.phase, h.as_of FROM {table} h "
        "JOIN latest ON h.as_of = latest.as_of), "
        f"other AS (SELECT h.account_id, MAX(h.as_of) AS last_other FROM {table} h "
        "JOIN cur ON h.account_id = cur.account_id WHERE h.as_of < cur.as_of "
        "AND h.phase IS DISTINCT FROM cur.phase GROUP BY h.account_id) "
        f"SELECT cur.account_id, MIN(h.as_of) AS phase_since FROM cur JOIN {table} h "
        "ON h.account_id = cur.account_id LEFT JOIN other o ON o.account_id = cur.account_id "
        "WHERE h.as_of <= cur.as_of AND (o.last_other IS NULL OR h.as_of > o.last_other) "
        "GROUP BY cur.account_id ORDER BY cur.account_id"
    )


class History(Protocol):
    """What the pipeline, the backfill and the backtest need of a history store."""

    def write_date(
        self,
        as_of: date,
        accounts: pd.DataFrame,
        kpis: pd.DataFrame,
        run: RunRecord,
        sponsors: pd.DataFrame | None = None,
    ) -> None: ...
    def record_run(self, run: RunRecord) -> None: ...
    def snapshot(self, as_of: date) -> pd.DataFrame: ...
    def latest_before(self, as_of: date) -> pd.DataFrame: ...
    def sponsors_before(self, as_of: date) -> pd.DataFrame:
        """The sponsors (SPONSOR_COLUMNS) of the latest date before `as_of` that has any."""
        ...

    def series(self, dates: list[date], columns: tuple[str, ...] = SERIES_COLUMNS) -> pd.DataFrame:
        """`columns` (of SERIES_COLUMNS) of the snapshots of these dates only."""
        ...

    def phase_since(self, as_of: date) -> pd.DataFrame:
        """PHASE_SINCE_COLUMNS for the accounts of the latest snapshot by `as_of`
        (phase_since_sql)."""
        ...

    def record_alerts(self, rows: pd.DataFrame) -> None:
        """Append alert log rows (ALERT_LOG_COLUMNS)."""
        ...

    def alert_log(self, since: date) -> pd.DataFrame:
        """The latest row of each alert (key and channel) queued on or after `since`."""
        ...

    def dates(self) -> list[date]: ...
    def kpis(self, since: date | None = None) -> pd.DataFrame: ...
    def runs(self) -> pd.DataFrame: ...
    def run_dates(self) -> set[date]: ...
    def backfilled(self, config_hash: str) -> set[date]: ...
    def publish_tables(
        self, tables: dict[str, pd.DataFrame], kinds: dict[str, dict[str, str]]
    ) -> None:
        """Replace the tables a dashboard reads from this store (kpi_periods, accounts), each
        column of the kind given ("number", "date", "bool", anything else text), whatever
        today's values; a store no dashboard reads keeps nothing."""
        ...

    def close(self) -> None: ...
    def __enter__(self) -> History: ...
    def __exit__(self, *exc: object) -> None: ...
