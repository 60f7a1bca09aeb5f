"""The history store: a local DuckDB file (the default; BigQuery is in bigquery_history.py)
holding every run's account snapshot, KPI rows and
run record.

Writes are per date and atomic: the rows of a date are replaced in one transaction, so a rerun
of the same date never duplicates them and an interruption leaves the previous complete rows
in place. DuckDB lets one process write a file at a time; the run lock (cs_sync/worker.py)
keeps cs-sync's own processes from meeting there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from cs_sync.connectors.duck import connect, read_answer, write
from cs_sync.connectors.output_settings import HistoryConfig
from cs_sync.errors import CsSyncError
from cs_sync.history import (
    ALERT_LOG_COLUMNS,
    RUN_COLUMNS,
    SERIES_COLUMNS,
    SNAPSHOT_COLUMNS,
    SPONSOR_COLUMNS,
    History,
    RunRecord,
    phase_since_sql,
)

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS account_history (
    as_of DATE NOT NULL, account_id VARCHAR NOT NULL, name VARCHAR, segment VARCHAR,
    owner_id VARCHAR, arr DOUBLE, seats DOUBLE, score DOUBLE, grade VARCHAR,
    computed_grade VARCHAR, trend VARCHAR, reasons VARCHAR, coverage DOUBLE, phase VARCHAR,
    phase_delayed BOOLEAN, phase_change VARCHAR, renewal_strategy VARCHAR, next_action VARCHAR,
    next_action_date DATE, renewal_date DATE, days_to_renewal DOUBLE, measures VARCHAR,
    config_hash VARCHAR
);
CREATE TABLE IF NOT EXISTS sponsor_history (
    as_of DATE NOT NULL, account_id VARCHAR NOT NULL, role VARCHAR, contact_id VARCHAR,
    contact_name VARCHAR
);
CREATE TABLE IF NOT EXISTS alert_log (
    as_of DATE NOT NULL, key VARCHAR NOT NULL, event VARCHAR, account_id VARCHAR,
    channel VARCHAR NOT NULL, state VARCHAR NOT NULL, logged_at TIMESTAMP, run_id VARCHAR,
    title VARCHAR, text VARCHAR
);
CREATE TABLE IF NOT EXISTS kpi_history (
    date DATE NOT NULL, metric VARCHAR NOT NULL, dimension VARCHAR NOT NULL, value DOUBLE
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR NOT NULL, kind VARCHAR, as_of DATE, started_at TIMESTAMP,
    finished_at TIMESTAMP, status VARCHAR, config_hash VARCHAR, accounts INTEGER,
    fields_written INTEGER, tasks_created INTEGER, tasks_closed INTEGER, errors INTEGER,
    warnings INTEGER, detail VARCHAR
);
"""


class HistoryStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = connect(str(path))
        except duckdb.Error as error:
            raise CsSyncError(_cannot_open(path, error)) from None
        try:
            self.db.execute(SCHEMA)
            version = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if version is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", [SCHEMA_VERSION])
        except duckdb.Error as error:
            self.db.close()
            raise CsSyncError(_cannot_open(path, error)) from None
        if version is not None and version[0] != SCHEMA_VERSION:
            self.db.close()
            raise CsSyncError(
                f"history store {path}: schema version {version[0]}, this cs-sync reads "
                f"version {SCHEMA_VERSION}; upgrade cs-sync or point [history] path elsewhere"
            )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, body: Callable[[], None]) -> None:
        """All or nothing, in bounded memory (connectors/duck.py); DuckDB's errors become
        cs-sync's, naming the file."""
        try:
            write(self.db, body)
        except duckdb.Error as error:
            raise CsSyncError(f"history store {self.path}: {_first_line(error)}") from None

    # ------------------------------------------------------------ writing

    def write_date(
        self,
        as_of: date,
        accounts: pd.DataFrame,
        kpis: pd.DataFrame,
        run: RunRecord,
        sponsors: pd.DataFrame | None = None,
    ) -> None:
        """Replace the rows of `as_of` with these, and record the run, all or nothing."""

        def body() -> None:
            self.db.execute("DELETE FROM account_history WHERE as_of = ?", [as_of])
            self._insert("account_history", accounts[list(SNAPSHOT_COLUMNS)])
            if sponsors is not None:
                self.db.execute("DELETE FROM sponsor_history WHERE as_of = ?", [as_of])
                self._insert("sponsor_history", sponsors[list(SPONSOR_COLUMNS)])
            self.db.execute("DELETE FROM kpi_history WHERE date = ?", [as_of])
            self._insert("kpi_history", kpis[["date", "metric", "dimension", "value"]])
            self._insert_run(run)

        self._write(body)

    def record_run(self, run: RunRecord) -> None:
        """A run that left no snapshot (failed, skipped, or a dry run) is still recorded."""
        self._write(lambda: self._insert_run(run))

    def record_alerts(self, rows: pd.DataFrame) -> None:
        self._write(lambda: self._insert("alert_log", rows[list(ALERT_LOG_COLUMNS)]))

    def publish_tables(
        self, tables: dict[str, pd.DataFrame], kinds: dict[str, dict[str, str]]
    ) -> None:
        """No dashboard reads a local DuckDB file: the local dashboard has its own CSVs."""

    def _insert_run(self, run: RunRecord) -> None:
        self._insert("runs", pd.DataFrame([run.as_row()], columns=list(RUN_COLUMNS)))

    def _insert(self, table: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self.db.register("incoming", frame)
        try:
            self.db.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")  # noqa: S608
        finally:
            self.db.unregister("incoming")

    # ------------------------------------------------------------ reading

    def snapshot(self, as_of: date) -> pd.DataFrame:
        return self._frame(
            "SELECT * FROM account_history WHERE as_of = ? ORDER BY account_id", [as_of]
        )

    def latest_before(self, as_of: date) -> pd.DataFrame:
        """The most recent snapshot strictly before `as_of` (empty when there is none)."""
        found = self._execute(
            "SELECT max(as_of) FROM account_history WHERE as_of < ?", [as_of]
        ).fetchone()
        if found is None or found[0] is None:
            return self._frame("SELECT * FROM account_history WHERE false", [])
        return self.snapshot(found[0])

    def sponsors_before(self, as_of: date) -> pd.DataFrame:
        return self._frame(
            "SELECT * FROM sponsor_history WHERE as_of = (SELECT max(as_of) FROM "
            "sponsor_history WHERE as_of < ?) ORDER BY account_id, role, contact_id",
            [as_of],
        )

    def series(self, dates: list[date], columns: tuple[str, ...] = SERIES_COLUMNS) -> pd.DataFrame:
        """`columns` (of SERIES_COLUMNS) of the snapshots of these dates only."""
        return self._frame(
            f"SELECT {', '.join(c for c in SERIES_COLUMNS if c in columns)} "  # noqa: S608
            "FROM account_history "
            "WHERE list_contains(?::DATE[], as_of) ORDER BY as_of, account_id",
            [list(dates)],
        )

    def phase_since(self, as_of: date) -> pd.DataFrame:
        return self._frame(phase_since_sql("account_history", "$1"), [as_of])

    def alert_log(self, since: date) -> pd.DataFrame:
        return self._frame(
            "SELECT * FROM alert_log WHERE as_of >= ? QUALIFY row_number() OVER "
            "(PARTITION BY key, channel ORDER BY logged_at DESC) = 1 ORDER BY as_of, key, channel",
            [since],
        )

    def dates(self) -> list[date]:
        rows = self._execute("SELECT DISTINCT as_of FROM account_history ORDER BY as_of").fetchall()
        return [row[0] for row in rows]

    def kpis(self, since: date | None = None) -> pd.DataFrame:
        return self._frame(
            "SELECT * FROM kpi_history WHERE date >= coalesce(?, DATE '1900-01-01') "
            "ORDER BY date, metric, dimension",
            [since],
        )

    def runs(self) -> pd.DataFrame:
        """One row per run: its last record (a run may add a record with its final status)."""
        return self._frame(
            "SELECT * FROM runs QUALIFY row_number() OVER "
            "(PARTITION BY run_id ORDER BY finished_at DESC) = 1 ORDER BY started_at, run_id",
            [],
        )

    def run_dates(self) -> set[date]:
        """Dates whose snapshot a real run wrote (a backfill leaves those alone)."""
        rows = self._execute(
            "SELECT DISTINCT as_of FROM runs WHERE kind = 'run' AND status IN ('ok', 'partial')"
        ).fetchall()
        return {row[0] for row in rows}

    def backfilled(self, config_hash: str) -> set[date]:
        """Dates a backfill with this configuration completed (its checkpoint)."""
        rows = self._execute(
            "SELECT DISTINCT as_of FROM runs WHERE kind = 'backfill' AND status = 'ok' "
            "AND config_hash = ?",
            [config_hash],
        ).fetchall()
        return {row[0] for row in rows}

    def _frame(self, query: str, parameters: list[object]) -> pd.DataFrame:
        """A read's answer, its repeated texts (ids over dates, grades, phases) one string
        per value (`duck.read_answer`)."""
        with self._named():
            return read_answer(self.db, query, parameters)

    def _execute(
        self, query: str, parameters: list[object] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """A read."""
        with self._named():
            return self.db.execute(query, parameters or [])

    @contextmanager
    def _named(self) -> Iterator[None]:
        """DuckDB's errors inside become cs-sync's, naming the file."""
        try:
            yield
        except duckdb.Error as error:
            raise CsSyncError(f"history store {self.path}: {_first_line(error)}") from None


def _cannot_open(path: Path, error: Exception) -> str:
    """Why the store cannot be opened, and what to do, by what DuckDB said."""
    detail = _first_line(error)
    if "lock" in detail.lower():
        return (
            f"history store {path}: another process holds it ({detail}); close the DuckDB "
            "client or the other cs-sync that has it open, then rerun (nothing is lost: the "
            "next run writes this date again)"
        )
    return (
        f"history store {path}: cannot open it ({detail}); it is damaged or not a DuckDB file. "
        "Move it aside and set [history] path to a new file (cs-sync backfill refills it), or "
        "restore it from a backup"
    )


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def open_history(settings: HistoryConfig, record: Path | None = None) -> History:
    """The configured history store, open. `record`: the local copy's file, where a BigQuery
    store keeps what its tables hold, to send only what changed (a DuckDB store is local)."""
    if settings.backend == "bigquery":
        from cs_sync.connectors.bigquery_history import BigQueryHistory

        return BigQueryHistory(settings, record=record)
    if settings.path is None:
        raise CsSyncError("[history] path is empty: the history store is off")
    return HistoryStore(settings.path)
