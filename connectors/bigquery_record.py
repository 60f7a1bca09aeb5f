"""What the BigQuery tables cs-sync writes hold, as it last wrote them, kept in the local copy's
DuckDB file ([local_copy] path): per table, the destination written (a date's partition or the
whole table), a fingerprint, and a hash of each row by its key. With it a run sends BigQuery
only the rows that changed (bigquery_history.py: a small load into the table's changes table,
then one MERGE), and nothing at all for a table whose rows did not change.

The record is trusted only while the table is as cs-sync left it: the fingerprint holds the
columns and their types, and the table's last modification time and row count as BigQuery
reported them right after cs-sync's write. A table written by anyone else since (a backfill,
another machine, a hand-run DML statement), a record restored from an older file, or a run that
stopped between its write and the record, gets the table's rows loaded whole, which records
them anew. The record is saved after BigQuery has the rows, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from cs_sync.connectors.copy_store import open_copy
from cs_sync.connectors.duck import write
from cs_sync.connectors.sheet_delta import row_hashes

GONE = "_cs_sync_gone"  # the changes table's mark of a row to delete
_TABLES = """
CREATE TABLE IF NOT EXISTS bq_tables (name VARCHAR, destination VARCHAR, fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS bq_rows (name VARCHAR, key VARCHAR, hash BIGINT);
"""


@dataclass
class Rows:
    """A table's rows as keys and hashes: `keys` the JSON of each row's key values (the whole
    row's position when the table has no key), `hashes` of each row's text as loaded."""

    keys: list[str]
    hashes: np.ndarray


@dataclass
class Held:
    destination: str
    fingerprint: str
    rows: pd.Series  # hash by key


@dataclass
class Changes:
    """What a write must do to make the held rows the new ones: the new rows to upsert (their
    positions), the keys of the rows to delete."""

    upsert: np.ndarray
    gone: list[str]

    @property
    def none(self) -> bool:
        return len(self.upsert) == 0 and not self.gone


def keyed_rows(lines: list[str], keys: list[str] | None) -> Rows | None:
    """Each row's key (the JSON array of its key values, see bigquery_rows.key_texts) and
    hash; None when the keys do not tell the rows apart (a repeated key: such a table is
    loaded whole). Without keys the rows are keyed by their position, so any change loads the
    table whole."""
    if keys is None:
        keys = [str(n) for n in range(len(lines))]
    elif len(set(keys)) != len(keys):
        return None
    return Rows(keys, row_hashes(lines))


def changes(held: pd.Series, rows: Rows) -> Changes:
    """The rows new or changed since the held ones, and the held keys no longer there."""
    index = pd.Index(rows.keys, dtype=object)
    known = index.isin(held.index)
    before = held.reindex(index, fill_value=0).to_numpy(dtype=np.int64)  # exact, not floats
    upsert = np.flatnonzero(~known | (before != rows.hashes))
    gone = held.index.difference(index, sort=False)
    return Changes(upsert, [str(key) for key in gone])


def merge_sql(
    table: str, changes: str, columns: list[str], keys: tuple[str, ...], partition: str | None
) -> str:
    """MERGE the changes table into `table` (within the @day partition of `partition`): a
    row marked gone is deleted, a row whose key is there replaces it, a new one is added."""
    on = [f"T.`{k}` = S.`{k}`" for k in keys]
    if partition is not None:
        on.insert(0, f"T.`{partition}` = @day")
    kept = [c for c in columns if c not in keys and c != partition]
    names = ", ".join(f"`{c}`" for c in columns)
    return (
        f"MERGE `{table}` T USING `{changes}` S ON {' AND '.join(on)} "
        f"WHEN MATCHED AND S.`{GONE}` THEN DELETE "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(f'`{c}` = S.`{c}`' for c in kept)} "
        f"WHEN NOT MATCHED AND NOT S.`{GONE}` THEN INSERT ({names}) "
        f"VALUES ({', '.join(f'S.`{c}`' for c in columns)})"
    )


class TableRecord:
    """The record's tables in the file at `path`; each method opens the file and closes it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return open_copy(self.path, _TABLES, " to read what the BigQuery tables hold")

    def held(self, name: str) -> Held | None:
        if not self.path.exists():
            return None
        db = self._connect()
        try:
            found = db.execute(
                "SELECT destination, fingerprint FROM bq_tables WHERE name = ?", [name]
            ).fetchone()
            if found is None:
                return None
            rows = db.execute("SELECT key, hash FROM bq_rows WHERE name = ?", [name]).fetchall()
        finally:
            db.close()
        keys = pd.Index([key for key, _ in rows], dtype=object)
        hashes = np.array([value for _, value in rows], dtype=np.int64)
        return Held(found[0], found[1], pd.Series(hashes, index=keys))

    def save(self, name: str, destination: str, fingerprint: str, rows: Rows) -> None:
        db = self._connect()
        try:

            def body() -> None:
                db.execute("DELETE FROM bq_tables WHERE name = ?", [name])
                db.execute("DELETE FROM bq_rows WHERE name = ?", [name])
                db.execute(
                    "INSERT INTO bq_tables VALUES (?, ?, ?)", [name, destination, fingerprint]
                )
                db.register(
                    "fresh",
                    pd.DataFrame({"key": pd.Series(rows.keys, dtype=object), "hash": rows.hashes}),
                )
                db.execute("INSERT INTO bq_rows SELECT ?, key, hash FROM fresh", [name])

            write(db, body)
        finally:
            db.close()
