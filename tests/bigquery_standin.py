"""A stand-in for google.cloud.bigquery.Client that executes what it is sent, for the tests:
tables made with their schema, load jobs (NDJSON, a partition decorator with WRITE_TRUNCATE
replacing that date's rows), and queries in BigQuery's dialect transpiled to DuckDB's by
sqlglot and run with their parameters. It answers the SQL cs-sync writes, so a query BigQuery
would answer differently from the DuckDB store shows up as a difference between the stores."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from google.api_core import exceptions as google_errors
from google.cloud import bigquery

DUCK = {
    "STRING": "VARCHAR",
    "FLOAT64": "DOUBLE",
    "INT64": "BIGINT",
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
}


class _Done:
    def result(self, **_: Any) -> _Done:
        return self


class _Row(dict[str, Any]):
    """What query_and_wait yields: rows whose items() are (column, value)."""


class DuckBigQuery:
    def __init__(self) -> None:
        self.db = duckdb.connect(config={"autoinstall_known_extensions": False, "TimeZone": "UTC"})
        self.partition: dict[str, str | None] = {}  # table -> its partition column
        self.schemas: dict[str, list[bigquery.SchemaField]] = {}  # every table's columns
        self.queries: list[str] = []
        self.loads: list[str] = []  # each load job's destination
        self.inserts: list[str] = []  # each tables.insert
        self.changes: dict[str, int] = {}  # table -> how many writes changed it

    def add_table(self, name: str, columns: dict[str, str], rows: list[tuple[Any, ...]]) -> None:
        """A source table (column -> BigQuery type) holding `rows`: a TIMESTAMP is an instant
        (DuckDB's TIMESTAMPTZ), a DATETIME a wall-clock time (DuckDB's TIMESTAMP)."""
        types = {**DUCK, "TIMESTAMP": "TIMESTAMPTZ", "DATETIME": "TIMESTAMP"}
        listed = ", ".join(f'"{column}" {types[kind]}' for column, kind in columns.items())
        table = self._quoted(name)
        self.db.execute(f"CREATE TABLE {table} ({listed})")
        if rows:
            marks = ", ".join("?" for _ in columns)
            self.db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        self.partition[name] = None
        self.schemas[name] = [bigquery.SchemaField(c, kind) for c, kind in columns.items()]

    def get_table(self, name: str, **_: Any) -> bigquery.Table:
        """tables.get: the columns, and as BigQuery reports them, the time of the last change
        (lastModifiedTime, a millisecond count that moves with every load or DML statement)
        and the row count."""
        name = name.replace(":", ".")
        if name not in self.schemas:
            raise google_errors.NotFound(f"Not found: Table {name}")
        project, dataset, table = name.split(".")
        count = self.db.execute(f"SELECT COUNT(*) FROM {self._quoted(name)}").fetchone()
        return bigquery.Table.from_api_repr(
            {
                "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
                "type": "TABLE",
                "schema": {"fields": [f.to_api_repr() for f in self.schemas[name]]},
                "lastModifiedTime": str(1_764_000_000_000 + self.changes.get(name, 0)),
                "numRows": str(count[0] if count else 0),
            }
        )

    def changed(self, name: str) -> None:
        """Someone else wrote to the table (its last change moves on)."""
        self.changes[name] = self.changes.get(name, 0) + 1

    def close(self) -> None:
        """The store closes its client after each use; the stand-in keeps its tables."""

    def _quoted(self, name: str) -> str:
        project, dataset, table = name.split(".")
        attached = {
            r[0] for r in self.db.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }
        if project not in attached:
            self.db.execute(f"ATTACH ':memory:' AS \"{project}\"")
        self.db.execute(f'CREATE SCHEMA IF NOT EXISTS "{project}"."{dataset}"')
        return f'"{project}"."{dataset}"."{table}"'

    def _create(self, name: str, schema: list[Any], partition: str | None) -> None:
        columns = ", ".join(f'"{f.name}" {DUCK[f.field_type]}' for f in schema)
        self.db.execute(f"CREATE OR REPLACE TABLE {self._quoted(name)} ({columns})")
        self.partition[name] = partition
        self.schemas[name] = list(schema)

    def create_table(self, table: bigquery.Table, exists_ok: bool = False, **_: Any) -> None:
        name = f"{table.project}.{table.dataset_id}.{table.table_id}"
        self.inserts.append(name)
        if name in self.partition:
            if exists_ok:
                return
            raise google_errors.Conflict(f"Already Exists: Table {name}")
        field = table.time_partitioning.field if table.time_partitioning else None
        self._create(name, table.schema, field)

    def load_table_from_file(self, file: Any, destination: str, job_config: Any, **_: Any) -> _Done:
        name, _, decorator = destination.partition("$")
        self.loads.append(destination)
        truncate = job_config.write_disposition == bigquery.WriteDisposition.WRITE_TRUNCATE
        if name not in self.partition or (truncate and not decorator):
            # a whole table truncated takes the load's columns, as BigQuery's load does
            self._create(name, job_config.schema, self.partition.get(name))
        table = self._quoted(name)
        self.changed(name)
        if truncate and decorator:
            day = date(int(decorator[:4]), int(decorator[4:6]), int(decorator[6:]))
            self.db.execute(f'DELETE FROM {table} WHERE "{self.partition[name]}" = ?', [day])
        body = file.read()
        if body.strip():  # DuckDB parses the newline-delimited JSON, typed by the schema
            types = {f.name: DUCK[f.field_type] for f in job_config.schema}
            quoted = ", ".join(f'"{n}"' for n in types)
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "load.json"
                path.write_bytes(body)
                self.db.execute(
                    f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM read_json(?, "
                    f"format = 'newline_delimited', columns = {json.dumps(types)})",
                    [str(path)],
                )
        return _Done()

    def query_and_wait(self, sql: str, job_config: Any, **_: Any) -> list[_Row]:
        self.queries.append(sql)
        duck = sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]
        parameters = {}
        for p in job_config.query_parameters:
            parameters[p.name] = (
                p.values if isinstance(p, bigquery.ArrayQueryParameter) else p.value
            )
        for name in self.partition:  # the SQL names tables with backquotes; DuckDB quotes parts
            duck = duck.replace(
                ".".join(f'"{part}"' for part in name.split(".")), self._quoted(name)
            )
        try:
            cursor = self.db.execute(duck, {k: v for k, v in parameters.items() if f"${k}" in duck})
        except duckdb.CatalogException as error:
            raise google_errors.NotFound(f"Not found: Table ({error})") from None
        target = re.match(r"\s*MERGE\s+`([^`]+)`", sql)
        if target:
            self.changed(target.group(1))
            return []
        columns = [d[0] for d in cursor.description or []]
        return [_Row(zip(columns, row, strict=True)) for row in cursor.fetchall()]
