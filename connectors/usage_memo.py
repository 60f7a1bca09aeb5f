"""The usage source's checked rows, kept in the local copy's DuckDB file ([local_copy] path)
under the source's signature: for a file, a hash of its bytes; for a BigQuery table, when its
data last changed (its metadata, read anyway); with the run's date and every setting that
decides what is read. A run whose usage source has not changed since the last read takes the
checked, typed rows (and the problems found in them) back from there instead of reading and
checking them again: a usage export changes once a day, a schedule runs every 15 minutes.

Only the last read is kept. Hashing the file costs a fraction of reading it (BLAKE2b runs at
hundreds of megabytes a second); a file changed in any byte, a new day, or another setting
is read again.

A categorical column (the account key) is kept as its codes, its values in a table of their
own: DuckDB makes an ENUM of a categorical it is given, and an ENUM of 87,000 keys took
117 MB of its memory beyond the bound of the write (the first run's peak at 100,000
accounts); codes are numbers like any other column.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cs_sync.connectors.copy_store import open_copy
from cs_sync.connectors.duck import ROWS_MEMORY, read_scan, write
from cs_sync.connectors.usage_checks import UsageProblem, UsageTable
from cs_sync.errors import CsSyncError

log = logging.getLogger(__name__)
FORMAT = "3"  # of what is kept: another format is read again
_TABLES = """
CREATE TABLE IF NOT EXISTS usage_memo (signature VARCHAR, dtypes VARCHAR, problems VARCHAR,
                                       blanks VARCHAR, source VARCHAR);
CREATE TABLE IF NOT EXISTS usage_memo_values (column_name VARCHAR, code INTEGER, value VARCHAR);
"""
CATEGORY = "category"  # a kept column's dtype: codes in the rows, values in usage_memo_values


def text_signature(settings: dict[str, Any]) -> str:
    """The settings (and whatever says the source changed), hashed."""
    text = json.dumps({"format": FORMAT, **settings}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def file_signature(path: Path, settings: dict[str, Any]) -> str | None:
    """The file's bytes and the settings, hashed; None when the file cannot be read (the
    reader then says why)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(text_signature(settings).encode())
    try:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _column(db: duckdb.DuckDBPyConnection, column: str, dtype: str) -> pd.Series:
    """One kept column, typed as it was read. A column at a time: DuckDB's answer and its
    pandas copy of every column at once held over 200 MB at 2 million rows; a part at a
    time within a bound (`read_scan`), as DuckDB kept the blocks it had read. A scan gives
    the rows in the order they were inserted (DuckDB's preserve_insertion_order), so the
    columns line up."""
    values = read_scan(db, f'SELECT "{column}" FROM usage_memo_rows')[column]  # noqa: S608
    if dtype != CATEGORY:
        return values.astype(dtype)
    kept = db.execute(
        "SELECT value FROM usage_memo_values WHERE column_name = ? ORDER BY code", [column]
    ).fetchall()
    categories = pd.Index([value for (value,) in kept], dtype=str)
    return pd.Series(pd.Categorical.from_codes(values.to_numpy(), categories), name=column)


class UsageMemo:
    """The last usage read, in the DuckDB file at `path` (opened and closed by each method)."""

    def __init__(self, path: Path, keep: bool = True) -> None:
        self.path = path
        self.keep = keep  # a dry run reads the memo but leaves it as it was

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return open_copy(self.path, _TABLES, " for the usage read last")

    def read(self, signature: str | None, read: Callable[[], UsageTable]) -> UsageTable:
        """The rows kept under `signature`, else `read()` (kept for next time). A file held
        by another process stops a run (named) and sends a dry run to the usage file."""
        if signature is not None and self.path.exists():
            try:
                found = self._load(signature)
            except CsSyncError:
                if self.keep:
                    raise
                found = None
            if found is not None:
                log.info("the usage source is as the last run read it: its checked rows reused")
                return found
        table = read()
        if signature is not None and self.keep:
            self._save(signature, table)
        return table

    def _load(self, signature: str) -> UsageTable | None:
        db = self._connect()
        try:
            kept = db.execute(
                "SELECT dtypes, problems, blanks, source FROM usage_memo WHERE signature = ?",
                [signature],
            ).fetchone()
            if kept is None:
                return None
            dtypes, problems, blanks, source = kept
            types = json.loads(dtypes)
            frame = pd.DataFrame(
                {column: _column(db, column, types[column]) for column in types}, copy=False
            )
        finally:
            db.close()
        return UsageTable(
            frame,
            [UsageProblem(**item) for item in json.loads(problems)],
            source,
            [UsageProblem(**item) for item in json.loads(blanks)],
        )

    def _save(self, signature: str, table: UsageTable) -> None:
        db = self._connect()
        try:

            def body() -> None:
                db.execute("DELETE FROM usage_memo")
                db.execute("DELETE FROM usage_memo_values")
                db.execute("DROP TABLE IF EXISTS usage_memo_rows")
                db.register("usage_rows", _coded(db, table.frame))
                db.execute("CREATE TABLE usage_memo_rows AS SELECT * FROM usage_rows")
                db.unregister("usage_rows")
                db.execute(
                    "INSERT INTO usage_memo VALUES (?, ?, ?, ?, ?)",
                    [
                        signature,
                        json.dumps({c: str(t) for c, t in table.frame.dtypes.items()}),
                        json.dumps([asdict(p) for p in table.problems]),
                        json.dumps([asdict(p) for p in table.blanks]),
                        table.source,
                    ],
                )

            write(db, body, ROWS_MEMORY)
        finally:
            db.close()


def _coded(db: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame to keep: each categorical column as its codes (the frame's other columns
    shared, not copied), its values written to usage_memo_values."""
    coded = {}
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            categories = values.cat.categories
            db.register(
                "usage_values",
                pd.DataFrame(
                    {
                        "column_name": column,
                        "code": np.arange(len(categories), dtype=np.int32),
                        "value": categories.astype(str),
                    }
                ),
            )
            db.execute("INSERT INTO usage_memo_values SELECT * FROM usage_values")
            db.unregister("usage_values")
            coded[column] = values.cat.codes
    return frame.assign(**coded) if coded else frame
