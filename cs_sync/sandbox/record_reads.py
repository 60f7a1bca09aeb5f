"""Reading the org's records from SQLite: by id, an object's records in the order they were
made (a thousand at a time, so a million records' texts are never held at once) and those
changed since a moment (through the SystemModstamp index). `OrgStore` reads the org as it is;
a `Snapshot` reads it as it was when the snapshot was taken, however it changes after, as
Salesforce answers a query's later pages and a Bulk query job's results from the records
as they were when the query ran (SQLite's WAL readers keep the database as of their first
read: https://www.sqlite.org/wal.html).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cs_sync.sandbox.sql_count import FUNCTIONS

READ_AT_ONCE = 1000  # records fetched from SQLite together


def now_stamp(moment: datetime | None = None) -> str:
    """A Salesforce datetime string: 2026-11-23T10:00:00.000+0000."""
    value = (moment or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


class RecordReads:
    """Reads over `db`, each under `lock`. `position`: the rowid of the last record `each`
    gave, where a later read may carry on (`after`)."""

    db: sqlite3.Connection
    lock: threading.Lock | threading.RLock
    position: int = 0

    def get(self, record_id: str, deleted: bool = False) -> tuple[str, dict[str, Any]] | None:
        """A record by id; one in the Recycle Bin only with `deleted`."""
        with self.lock:
            row = self.db.execute(
                "SELECT sobject, data FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        if row is None:
            return None
        record = json.loads(row[1])
        return None if record.get("IsDeleted") and not deleted else (row[0], record)

    def all(self, sobject: str, deleted: bool = False) -> list[dict[str, Any]]:
        """The object's records in the order they were made; those in the Recycle Bin only
        with `deleted` (queryAll)."""
        return list(self.each(sobject, deleted))

    def each(self, sobject: str, deleted: bool = False, after: int = 0) -> Iterator[dict[str, Any]]:
        """`all`, one record at a time, from the record after rowid `after`."""
        while True:
            with self.lock:
                rows = self.db.execute(
                    "SELECT rowid, data FROM records WHERE sobject = ? AND rowid > ? "
                    "ORDER BY rowid LIMIT ?",
                    (sobject, after, READ_AT_ONCE),
                ).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            for rowid, data in rows:
                record = json.loads(data)
                self.position = rowid
                if deleted or not record.get("IsDeleted"):
                    yield record

    def changed_since(
        self, sobject: str, moment: datetime, deleted: bool = False
    ) -> list[dict[str, Any]]:
        """The object's records whose SystemModstamp is at or after `moment`, found through
        an index (as an org's SystemModstamp is), in the order they were made."""
        with self.lock:
            rows = self.db.execute(
                "SELECT data FROM records WHERE sobject = ? AND "
                "json_extract(data, '$.SystemModstamp') >= ? ORDER BY rowid",
                (sobject, now_stamp(moment)),
            ).fetchall()
        records = (json.loads(row[0]) for row in rows)
        return [r for r in records if deleted or not r.get("IsDeleted")]

    def rows_where(
        self, sobject: str, condition: str, params: list[Any], after: int, limit: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """The first `limit` records after rowid `after` that meet `condition`
        (sql_count.count_sql's), with their rowids."""
        with self.lock:
            rows = self.db.execute(
                f"SELECT rowid, data FROM records WHERE sobject = ? AND rowid > ? "  # noqa: S608
                f"AND {condition} ORDER BY rowid LIMIT ?",
                [sobject, after, *params, limit],
            ).fetchall()
        return [(rowid, json.loads(data)) for rowid, data in rows]

    def count_where(self, sobject: str, condition: str, params: list[Any]) -> int:
        """The object's records that meet `condition` (sql_count.count_sql's)."""
        with self.lock:
            found = self.db.execute(
                f"SELECT count(*) FROM records WHERE sobject = ? AND {condition}",  # noqa: S608
                [sobject, *params],
            ).fetchone()
        return int(found[0])


class Snapshot(RecordReads):
    """The records as they were when it was taken, on a connection of its own; `close` it
    once read (an open snapshot keeps SQLite from folding later writes into the file)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for name, arguments, function in FUNCTIONS:
            self.db.create_function(name, arguments, function, deterministic=True)
        self.lock = threading.Lock()
        self.db.execute("BEGIN")
        self.db.execute("SELECT count(*) FROM records WHERE rowid = 0").fetchone()  # fixes it

    def close(self) -> None:
        with self.lock:
            self.db.execute("COMMIT")
            self.db.close()
