"""The history store in BigQuery: the same three tables as the DuckDB file, partitioned by date.

- A date's account and KPI rows are written with one load job each into that date's
  partition (`table$YYYYMMDD`) with WRITE_TRUNCATE: a rerun replaces the partition, never
  adds to it, and a reader sees the old partition or the new one, never a mix. The run record
  goes last (WRITE_APPEND): it is the backfill's checkpoint, so a date cut short before it is
  simply computed again.
- Each table is created before its first load (tables.insert, once per run and table:
  partitioned by its date column, clustered by account), so the service account needs
  BigQuery Data Editor on the dataset and Job User on the project; nothing to set up by hand
  beyond the dataset. Every table has a fixed schema, the dashboard tables included (their
  column kinds come from the app): a column's type never depends on a run's values, and
  floats keep every digit.
- Every query is parameterised, filtered on the partition column and capped by
  `maximum_bytes_billed`; "the previous snapshot" is found with one query over the date column
  alone, then read from its single partition.
- With the local copy's record of what each table holds (bigquery_record.py), a run sends
  only what changed: nothing for a table whose rows are the same, else the new and changed
  rows (and the keys of the rows gone) loaded into the table's `<table>_changes` table and
  applied by one MERGE (atomic, and the same if run twice). A table changed by anyone else
  since, or a change too large to gain by it, is loaded whole as above.
- The client, queries and error translation are shared with the usage source
  (bigquery_calls.py).
"""

from __future__ import annotations

import io
import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from cs_sync.connectors.bigquery_calls import (
    RETRY_DEADLINE_S,
    Missing,
    bigquery,
    bq_retry,
    last_change,
    run_query,
    translated_errors,
)
from cs_sync.connectors.bigquery_record import (
    GONE,
    Rows,
    TableRecord,
    changes,
    keyed_rows,
    merge_sql,
)
from cs_sync.connectors.bigquery_rows import (
    DATE_COLUMNS,
    KIND_TYPES,
    column_type,
    json_columns,
    json_lines,
    key_texts,
    ndjson,
    ndjson_body,
    schema_hash,
)
from cs_sync.connectors.google_calls import bigquery_client
from cs_sync.connectors.output_settings import HistoryConfig
from cs_sync.errors import CsSyncError
from cs_sync.history import (
    ALERT_LOG_COLUMNS,
    PHASE_SINCE_COLUMNS,
    RUN_COLUMNS,
    SERIES_COLUMNS,
    SNAPSHOT_COLUMNS,
    SPONSOR_COLUMNS,
    RunRecord,
    phase_since_sql,
)

log = logging.getLogger(__name__)

TABLES: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    # name: (columns, partition column, clustering)
    "account_history": (SNAPSHOT_COLUMNS, "as_of", ("account_id",)),
    "kpi_history": (("date", "metric", "dimension", "value"), "date", ("metric",)),
    "runs": (RUN_COLUMNS, "as_of", ()),
    "sponsor_history": (SPONSOR_COLUMNS, "as_of", ("account_id",)),
    "alert_log": (ALERT_LOG_COLUMNS, "as_of", ("channel", "key")),
}


# The columns that tell a table's rows apart (within a date's partition): such a table takes
# a changed row alone; the others are sent whole when anything in them changed.
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "account_history": ("account_id",),
    "sponsor_history": ("account_id", "role", "contact_id"),
    "accounts": ("account_id",),
}
MERGE_SHARE = 0.25  # changes above this share of the table's bytes load the table whole


def _client(settings: HistoryConfig) -> Any:
    return bigquery_client(
        settings.project, settings.location, settings.credentials_file, "history.credentials_file"
    )


class BigQueryHistory:
    """`record`: the local copy's file, to send only what changed (None: every write whole)."""

    def __init__(
        self, settings: HistoryConfig, client: Any | None = None, record: Path | None = None
    ) -> None:
        self.settings = settings
        self.client = client if client is not None else _client(settings)
        self.prefix = f"{settings.project}.{settings.dataset}"
        self._ready: set[str] = set()  # tables known to exist
        self.record = TableRecord(record) if record is not None else None
        self.sent: dict[str, str] = {}  # table -> how this store last wrote it (the tests')

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> BigQueryHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writing

    def write_date(
        self,
        as_of: date,
        accounts: pd.DataFrame,
        kpis: pd.DataFrame,
        run: RunRecord,
        sponsors: pd.DataFrame | None = None,
    ) -> None:
        self._load("account_history", accounts[list(SNAPSHOT_COLUMNS)], as_of)
        if sponsors is not None:
            self._load("sponsor_history", sponsors[list(SPONSOR_COLUMNS)], as_of)
        self._load("kpi_history", kpis[["date", "metric", "dimension", "value"]], as_of)
        self.record_run(run)

    def record_run(self, run: RunRecord) -> None:
        self._load("runs", pd.DataFrame([run.as_row()], columns=list(RUN_COLUMNS)), None)

    def record_alerts(self, rows: pd.DataFrame) -> None:
        self._load("alert_log", rows[list(ALERT_LOG_COLUMNS)], None)

    def _load(self, table: str, frame: pd.DataFrame, partition: date | None) -> None:
        columns, partition_column, clustering = TABLES[table]
        types = {c: column_type(c) for c in columns}
        config = bigquery.LoadJobConfig(
            schema=[bigquery.SchemaField(c, kind) for c, kind in types.items()],
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=(
                bigquery.WriteDisposition.WRITE_TRUNCATE
                if partition is not None
                else bigquery.WriteDisposition.WRITE_APPEND
            ),
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
            time_partitioning=bigquery.TimePartitioning(field=partition_column),
            clustering_fields=list(clustering) or None,
        )
        if partition is None:  # appended: the runs and the alert log
            self._ensure_table(table)
            self._run_load(ndjson(frame, types), f"{self.prefix}.{table}", config)
        else:
            self._replace(table, frame, types, config, (partition_column, partition))

    def _replace(
        self,
        table: str,
        frame: pd.DataFrame,
        types: dict[str, str],
        config: Any,
        partition: tuple[str, date] | None = None,
    ) -> None:
        """The table's rows (a date's partition when `partition` names its column and date)
        replaced by `frame`'s: with the record, by what changed only, or not at all."""
        destination = f"{self.prefix}.{table}"
        if partition is not None:
            destination += f"${partition[1]:%Y%m%d}"
        columns = json_columns(frame, types)
        lines = json_lines(columns)
        if self.record is None:
            self._whole(table, lines, destination, config)
            return
        keys = ROW_KEYS.get(table)
        texts = key_texts(columns, keys) if keys else None
        rows = None if keys and texts is None else keyed_rows(lines, texts)
        held = self.record.held(table)
        schema = schema_hash(types)
        if (
            rows is not None
            and held is not None
            and held.destination == destination
            and held.fingerprint == self._fingerprint(table, schema)
        ):
            delta = changes(held.rows, rows)
            if delta.none:
                self.sent[table] = "unchanged"
                return
            upsert = [lines[i] for i in delta.upsert]
            size = sum(map(len, upsert)) + 40 * len(delta.gone)
            if keys and size < MERGE_SHARE * sum(map(len, lines)):
                self._merge(table, types, upsert, delta.gone, partition)
                self._recorded(table, destination, schema, rows)
                return
        self._whole(table, lines, destination, config)
        if rows is not None:
            self._recorded(table, destination, schema, rows)

    def _whole(self, table: str, lines: list[str], destination: str, config: Any) -> None:
        """A load of every row; a history table is made first where missing (a table whose
        record held is not, nor one left unchanged: no tables.insert for them)."""
        if table in TABLES:
            self._ensure_table(table)
        self._run_load(ndjson_body(lines), destination, config)
        self.sent[table] = "whole"

    def _merge(
        self,
        table: str,
        types: dict[str, str],
        upsert: list[str],
        gone: list[str],
        partition: tuple[str, date] | None,
    ) -> None:
        """The new and changed rows, and the keys of the rows gone, into `<table>_changes`
        (one load job), then one MERGE into the table (or its date's partition)."""
        keys = ROW_KEYS[table]
        marked = [line[:-1] + f', "{GONE}": false}}' for line in upsert] + [
            json.dumps({**dict(zip(keys, json.loads(key), strict=True)), GONE: True})
            for key in gone
        ]
        staged = f"{self.prefix}.{table}_changes"
        config = bigquery.LoadJobConfig(
            schema=[
                *(bigquery.SchemaField(c, kind) for c, kind in types.items()),
                bigquery.SchemaField(GONE, "BOOL"),
            ],
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
        )
        self._run_load(ndjson_body(marked), staged, config)
        parameters = [("day", "DATE", partition[1])] if partition is not None else []
        sql = merge_sql(
            f"{self.prefix}.{table}", staged, list(types), keys, partition and partition[0]
        )
        run_query(
            self.client,
            sql,
            parameters,
            self.settings.maximum_bytes_billed,
            self.settings.location,
            f"applying the changed rows to {self.prefix}.{table}",
            "history.maximum_bytes_billed",
            {"missing_is_empty": False},
        )
        self.sent[table] = f"merge: {len(upsert)} rows, {len(gone)} gone"
        log.info("BigQuery %s: %d row(s) changed, %d gone", table, len(upsert), len(gone))

    def _fingerprint(self, table: str, schema: str) -> str | None:
        """The columns and the table's last change as BigQuery reports it (None: no table, or
        metadata that does not say when its rows changed: never trusted then)."""
        try:
            with translated_errors(f"reading {self.prefix}.{table}'s metadata"):
                found = self.client.get_table(
                    f"{self.prefix}.{table}",
                    retry=bq_retry.DEFAULT_RETRY.with_deadline(RETRY_DEADLINE_S),
                    timeout=60.0,
                )
        except Missing:
            return None
        changed = last_change(found)
        return f"{schema}|{changed}" if changed is not None else None

    def _recorded(self, table: str, destination: str, schema: str, rows: Rows) -> None:
        """What the table holds now, with its fingerprint read after the write; when that
        cannot be read, no record (the next run loads the table whole)."""
        try:
            fingerprint = self._fingerprint(table, schema)
        except CsSyncError as error:
            log.warning(
                "what %s holds is not recorded (%s): the next run loads it whole", table, error
            )
            fingerprint = None
        if self.record is not None and fingerprint is not None:
            self.record.save(table, destination, fingerprint, rows)

    def _ensure_table(self, table: str) -> None:
        """Create a history table, partitioned by its date column and clustered, before its
        first load (a load into a partition decorator would not make it so); once per run."""
        if table in self._ready:
            return
        columns, partition_column, clustering = TABLES[table]
        definition = bigquery.Table(
            f"{self.prefix}.{table}",
            schema=[bigquery.SchemaField(c, column_type(c)) for c in columns],
        )
        definition.time_partitioning = bigquery.TimePartitioning(field=partition_column)
        definition.clustering_fields = list(clustering) or None
        with translated_errors(f"creating {self.prefix}.{table}", missing_is_empty=False):
            self.client.create_table(definition, exists_ok=True, timeout=60.0)
        self._ready.add(table)

    def _run_load(self, body: bytes, destination: str, config: Any) -> None:
        """One load job from newline-delimited JSON, waited for (bounded retries)."""
        with translated_errors(f"writing {destination}"):
            job = self.client.load_table_from_file(
                io.BytesIO(body),
                destination,
                size=len(body),
                num_retries=4,
                job_config=config,
                location=self.settings.location,
                timeout=60.0,
            )
            job.result(
                retry=bq_retry.DEFAULT_RETRY.with_deadline(RETRY_DEADLINE_S),
                timeout=RETRY_DEADLINE_S * 5,
            )

    def publish_tables(
        self, tables: dict[str, pd.DataFrame], kinds: dict[str, dict[str, str]]
    ) -> None:
        """Looker Studio reads kpi_periods and accounts beside the history tables."""
        for name, frame in tables.items():
            self.replace_table(name, frame, kinds.get(name, {}))

    def replace_table(self, table: str, frame: pd.DataFrame, kinds: dict[str, str]) -> None:
        """A dashboard table replaced (whole, or by its changed rows), with each column's type
        fixed by its declared kind (text when none), never guessed from today's values: a
        column empty in one run would otherwise turn from FLOAT64 into STRING."""
        types = {c: KIND_TYPES.get(kinds.get(c, ""), "STRING") for c in frame.columns}
        config = bigquery.LoadJobConfig(
            schema=[bigquery.SchemaField(c, kind) for c, kind in types.items()],
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_IF_NEEDED,
        )
        self._replace(table, frame, types, config)

    # ------------------------------------------------------------ reading

    def _query(self, sql: str, parameters: list[tuple[str, str, Any]]) -> pd.DataFrame | None:
        """Rows as a frame; None when the table does not exist yet (nothing written)."""
        try:
            return run_query(
                self.client,
                sql,
                parameters,
                self.settings.maximum_bytes_billed,
                self.settings.location,
                "reading the history",
                "history.maximum_bytes_billed",
            )
        except Missing:
            return None

    def _table(self, name: str) -> str:
        return f"`{self.prefix}.{name}`"

    def snapshot(self, as_of: date) -> pd.DataFrame:
        found = self._query(
            f"SELECT * FROM {self._table('account_history')} WHERE as_of = @as_of "  # noqa: S608
            "ORDER BY account_id",
            [("as_of", "DATE", as_of)],
        )
        return _shaped(found, SNAPSHOT_COLUMNS)

    def latest_before(self, as_of: date) -> pd.DataFrame:
        found = self._query(
            f"SELECT MAX(as_of) AS latest FROM {self._table('account_history')} "  # noqa: S608
            "WHERE as_of < @as_of",
            [("as_of", "DATE", as_of)],
        )
        if found is None or found.empty or pd.isna(found["latest"].iloc[0]):
            return _shaped(None, SNAPSHOT_COLUMNS)
        return self.snapshot(found["latest"].iloc[0])

    def sponsors_before(self, as_of: date) -> pd.DataFrame:
        table = self._table("sponsor_history")
        found = self._query(
            f"SELECT * FROM {table} WHERE as_of = (SELECT MAX(as_of) FROM {table} "  # noqa: S608
            "WHERE as_of < @as_of) ORDER BY account_id, role, contact_id",
            [("as_of", "DATE", as_of)],
        )
        return _shaped(found, SPONSOR_COLUMNS)

    def series(self, dates: list[date], columns: tuple[str, ...] = SERIES_COLUMNS) -> pd.DataFrame:
        chosen = tuple(c for c in SERIES_COLUMNS if c in columns)
        found = self._query(
            f"SELECT {', '.join(chosen)} FROM "  # noqa: S608
            f"{self._table('account_history')} WHERE as_of IN UNNEST(@dates)",
            [("dates", "DATE", list(dates))],
        )
        return _shaped(found, chosen)

    def alert_log(self, since: date) -> pd.DataFrame:
        found = self._query(
            f"SELECT * FROM {self._table('alert_log')} WHERE as_of >= @since "  # noqa: S608
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY key, channel ORDER BY logged_at DESC) = 1 "
            "ORDER BY as_of, key, channel",
            [("since", "DATE", since)],
        )
        return _shaped(found, ALERT_LOG_COLUMNS)

    def phase_since(self, as_of: date) -> pd.DataFrame:
        sql = phase_since_sql(self._table("account_history"), "@as_of")
        return _shaped(self._query(sql, [("as_of", "DATE", as_of)]), PHASE_SINCE_COLUMNS)

    def dates(self) -> list[date]:
        found = self._query(
            f"SELECT DISTINCT as_of FROM {self._table('account_history')} "  # noqa: S608
            "WHERE as_of IS NOT NULL ORDER BY as_of",
            [],
        )
        return [] if found is None or found.empty else list(found["as_of"])

    def kpis(self, since: date | None = None) -> pd.DataFrame:
        found = self._query(
            f"SELECT date, metric, dimension, value FROM {self._table('kpi_history')} "  # noqa: S608
            "WHERE date >= @since ORDER BY date, metric, dimension",
            [("since", "DATE", since or date(1900, 1, 1))],
        )
        return _shaped(found, ("date", "metric", "dimension", "value"))

    def runs(self) -> pd.DataFrame:
        found = self._query(
            f"SELECT * FROM {self._table('runs')} WHERE as_of IS NOT NULL "  # noqa: S608
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY finished_at DESC) = 1 "
            "ORDER BY started_at, run_id",
            [],
        )
        return _shaped(found, RUN_COLUMNS)

    def run_dates(self) -> set[date]:
        return self._run_dates("kind = 'run' AND status IN ('ok', 'partial')", [])

    def backfilled(self, config_hash: str) -> set[date]:
        return self._run_dates(
            "kind = 'backfill' AND status = 'ok' AND config_hash = @config_hash",
            [("config_hash", "STRING", config_hash)],
        )

    def _run_dates(self, condition: str, parameters: list[tuple[str, str, Any]]) -> set[date]:
        found = self._query(
            f"SELECT DISTINCT as_of FROM {self._table('runs')} "  # noqa: S608
            f"WHERE as_of IS NOT NULL AND {condition}",
            parameters,
        )
        return set() if found is None or found.empty else set(found["as_of"])


def _shaped(found: pd.DataFrame | None, columns: tuple[str, ...]) -> pd.DataFrame:
    if found is None or found.empty:
        return pd.DataFrame(columns=list(columns))
    for column in DATE_COLUMNS & set(found.columns):
        found[column] = pd.to_datetime(found[column])
    return found
