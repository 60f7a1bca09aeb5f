"""What the dashboard's tabs hold, as cs-sync last wrote them, kept in the local copy's DuckDB
file ([local_copy] path): each tab's fingerprint and the hash of each of its rows in order,
and each row's text once (by its hash). With it a refresh sends only the rows and cells that
changed (sheet_delta.py) instead of every tab whole.

The record is trusted only for a tab whose fingerprint on the spreadsheet (developer
metadata, written in the same batchUpdate as the rows) is the one recorded, and whose grid
has the recorded size: a tab written by another machine, an older record restored, or a
refresh whose record was never saved (a crash after the batchUpdate) gets the tab replaced
whole, which records it anew. The record is saved after the spreadsheet is written, in one
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from cs_sync.connectors.copy_store import open_copy
from cs_sync.connectors.duck import ROWS_MEMORY, append, write
from cs_sync.connectors.sheet_cells import PART_ROWS, TabRows
from cs_sync.connectors.sheet_delta import row_text

_TABLES = """
CREATE TABLE IF NOT EXISTS sheet_tabs (spreadsheet_id VARCHAR, title VARCHAR,
                                       fingerprint VARCHAR, columns INTEGER, hashes BLOB);
CREATE TABLE IF NOT EXISTS sheet_rows (hash BIGINT, body VARCHAR);
"""


@dataclass
class TabRecord:
    fingerprint: str
    columns: int
    hashes: np.ndarray  # int64, one per row, header first


@dataclass
class TabWritten:
    """A tab as the spreadsheet holds it after a refresh: its record and its rows (their
    text is made again for the rows the record does not hold yet, a part at a time)."""

    record: TabRecord
    rows: Sequence[list[Any]]


class SheetRecord:
    """The record's tables in the file at `path`; each method opens the file and closes it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return open_copy(self.path, _TABLES, " to read what the dashboard tabs hold")

    def tabs(self, spreadsheet_id: str) -> dict[str, TabRecord]:
        if not self.path.exists():
            return {}
        db = self._connect()
        try:
            found = db.execute(
                "SELECT title, fingerprint, columns, hashes FROM sheet_tabs "
                "WHERE spreadsheet_id = ?",
                [spreadsheet_id],
            ).fetchall()
        finally:
            db.close()
        return {
            title: TabRecord(fingerprint, int(columns), np.frombuffer(hashes, dtype=np.int64))
            for title, fingerprint, columns, hashes in found
        }

    def rows(self, hashes: list[int]) -> dict[int, list[Any]]:
        """The recorded rows with these hashes (the cells of the rows a refresh compares)."""
        db = self._connect()
        try:
            db.register("wanted", pd.DataFrame({"hash": np.array(hashes, dtype=np.int64)}))
            found = db.execute(
                "SELECT hash, body FROM sheet_rows WHERE hash IN (SELECT hash FROM wanted)"
            ).fetchall()
        finally:
            db.close()
        return {int(key): json.loads(body) for key, body in found}

    def save(self, spreadsheet_id: str, written: dict[str, TabWritten]) -> None:
        """Record these tabs of the spreadsheet (the others recorded for it stay); a record of
        another spreadsheet, and rows no tab holds any more, are dropped."""
        db = self._connect()
        try:

            def body() -> None:
                db.execute("DELETE FROM sheet_tabs WHERE spreadsheet_id <> ?", [spreadsheet_id])
                for title, tab in written.items():
                    db.execute(
                        "DELETE FROM sheet_tabs WHERE spreadsheet_id = ? AND title = ?",
                        [spreadsheet_id, title],
                    )
                    db.execute(
                        "INSERT INTO sheet_tabs VALUES (?, ?, ?, ?, ?)",
                        [
                            spreadsheet_id,
                            title,
                            tab.record.fingerprint,
                            tab.record.columns,
                            tab.record.hashes.astype(np.int64).tobytes(),
                        ],
                    )
                held = [
                    np.frombuffer(blob, dtype=np.int64)
                    for (blob,) in db.execute("SELECT hashes FROM sheet_tabs").fetchall()
                ]
                db.register(
                    "held",
                    pd.DataFrame(
                        {"hash": np.unique(np.concatenate(held or [np.empty(0, np.int64)]))}
                    ),
                )
                db.execute("DELETE FROM sheet_rows WHERE hash NOT IN (SELECT hash FROM held)")
                (recorded,) = db.execute("SELECT hash FROM sheet_rows").fetchnumpy().values()
                for part in _new_rows(written.values(), np.asarray(recorded, dtype=np.int64)):
                    append(db, "sheet_rows", part)

            write(db, body, ROWS_MEMORY)
        finally:
            db.close()


def _new_rows(written: Iterable[TabWritten], recorded: np.ndarray) -> Iterator[pd.DataFrame]:
    """The rows the record does not hold yet, each once, as (hash, body) parts of at most
    PART_ROWS rows of one tab: a first refresh records every row, and their texts all at once
    would be some 80 MB at 100,000 accounts; a refresh after a few changes makes only the
    changed rows again (a tab with none, none of its rows)."""
    tabs = list(written)
    every = np.concatenate([t.record.hashes for t in tabs] or [np.empty(0, np.int64)])
    wanted = np.zeros(len(every), dtype=bool)
    wanted[np.unique(every, return_index=True)[1]] = True  # a row in two places: once
    wanted &= ~np.isin(every, recorded)
    start = 0
    for tab in tabs:
        places = np.flatnonzero(wanted[start : start + len(tab.record.hashes)])
        for first in range(0, len(places), PART_ROWS):
            chosen = places[first : first + PART_ROWS]
            rows = _rows_at(tab.rows, chosen)
            bodies = [row_text(row) for row in rows]
            yield pd.DataFrame({"hash": every[start + chosen], "body": bodies})
        start += len(tab.record.hashes)


def _rows_at(rows: Sequence[list[Any]], places: np.ndarray) -> list[list[Any]]:
    if isinstance(rows, TabRows):
        return rows.rows_at(places)
    return [rows[place] for place in places.tolist()]
