"""The local copy of the Salesforce records a run reads: a DuckDB file of one table per copied
object (each repeated text as numbers into its distinct values, `duck.write_coded`), the
org's clock where each object's next read of changes starts, and the changes already taken
in (record id and SystemModstamp) inside the overlap that read looks back over.

The whole copy is replaced in one transaction, after the reads and before anything is
written: a run stopped between its reads and the save leaves the previous copy and its
watermarks, so the next run reads the same changes again and none is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path

import duckdb
import pandas as pd

from cs_sync.connectors.duck import (
    ROWS_MEMORY,
    connect,
    read_coded,
    table_columns,
    values_table,
    write,
    write_coded,
)
from cs_sync.errors import CsSyncError

FORMAT = "4"
_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR, value VARCHAR);
CREATE TABLE IF NOT EXISTS objects (name VARCHAR, signature VARCHAR, full_read_at TIMESTAMP,
                                    as_of DATE);
CREATE TABLE IF NOT EXISTS watermarks (sobject VARCHAR, read_from TIMESTAMP);
CREATE TABLE IF NOT EXISTS seen (sobject VARCHAR, id VARCHAR, stamp VARCHAR);
"""
_NAME = re.compile(r"[a-z][a-z_]*")
# what a load does with each part of an object's rows (given the object's name) as it comes
EachPart = Callable[[str, pd.DataFrame], pd.DataFrame]


@dataclass
class CopiedState:
    """One copied object: its rows (typed columns and SystemModstamp), the signature of the
    read that made them (its query and what else decides which rows are kept), when its last
    full read began by the org's clock, and the date that read was for (when it was last read
    is its watermark in `Copy`)."""

    rows: pd.DataFrame
    signature: str
    full_read_at: datetime
    as_of: date
    count: int | None = None  # the records in the file, when `rows` were left there
    unchanged: bool = False  # `rows` are what the file holds: saving leaves its table be

    @property
    def size(self) -> int:
        """How many records the object has in the copy."""
        return len(self.rows) if self.count is None else self.count


@dataclass
class Copy:
    """The copy as a run finds it and leaves it."""

    objects: dict[str, CopiedState] = field(default_factory=dict)
    # per copied object (its name) and per parent object read on its own (User, Contact): the
    # org's clock where its next read of changes starts, and the changes taken in
    watermarks: dict[str, datetime] = field(default_factory=dict)
    seen: dict[str, set[tuple[str, str]]] = field(default_factory=dict)


def _sql_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "BOOLEAN"
    if pd.api.types.is_float_dtype(values):
        return "DOUBLE"
    if pd.api.types.is_datetime64_dtype(values):
        return "TIMESTAMP"
    return "VARCHAR"


def open_copy(path: Path, tables: str, doing: str = "") -> duckdb.DuckDBPyConnection:
    """The local copy's file, open, with `tables` made where missing (the copy's own, the
    dashboard's record, the usage memo: one file). One that cannot be opened is named, with
    what to do (`doing`: what it was opened for)."""
    try:
        db = connect(str(path))
    except duckdb.Error as error:
        raise CsSyncError(
            f"cannot open the local copy {path}{doing} ({error}). If another process holds it "
            "(a DuckDB client), close that; if the file is damaged, delete it: the next run "
            "reads every record again and makes a new one"
        ) from None
    db.execute(tables)
    return db


class CopyStore:
    """The copy's file; `load` and `save` each open it, so no connection outlives a run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return open_copy(self.path, _TABLES)

    def load(self, each_part: EachPart = lambda name, part: part, rows: bool = True) -> Copy:
        """The copy as the last run left it (empty when there is none, or when it was made by
        another version of cs-sync: then every object is read whole). Rows come in parts of
        about 100,000, each passed through `each_part` before the next is read (`read_coded`:
        repeated texts come one string per value; a caller that shares what else repeats, or
        points lookups at ids held elsewhere, does it a part at a time); `each_part` is given
        the object's name and the part, objects in the order they were saved. Without `rows`,
        each object's rows stay in the file and only their count is read (a run that reads
        every object whole needs no more)."""
        if not self.path.exists():
            return Copy()
        db = self._connect()
        try:
            version = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if version is None or version[0] != FORMAT:
                return Copy()
            copy = Copy()
            for name, signature, full_read_at, as_of in db.execute(
                "SELECT name, signature, full_read_at, as_of FROM objects"
            ).fetchall():
                (count,) = db.execute(f'SELECT count(*) FROM "rows_{name}"').fetchone() or (0,)  # noqa: S608
                copy.objects[name] = CopiedState(
                    pd.DataFrame(), signature, full_read_at, as_of, count
                )
            if rows:
                self._fill(db, copy, each_part)
            marks = db.execute("SELECT sobject, read_from FROM watermarks").fetchall()
            copy.watermarks = dict(marks)
            for sobject, record_id, stamp in db.execute(
                "SELECT sobject, id, stamp FROM seen"
            ).fetchall():
                copy.seen.setdefault(sobject, set()).add((record_id, stamp))
            return copy
        finally:
            db.close()

    def load_rows(self, copy: Copy, each_part: EachPart = lambda name, part: part) -> None:
        """The rows of a copy loaded without them (`load(rows=False)`), read into it."""
        db = self._connect()
        try:
            self._fill(db, copy, each_part)
        finally:
            db.close()

    @staticmethod
    def _fill(db: duckdb.DuckDBPyConnection, copy: Copy, each_part: EachPart) -> None:
        """Every object's ids first, then each object's other columns. A run lets most of
        the ids go once its book is made (the opportunities', roles', activities', Cases'),
        and Python's allocator gives memory back only in blocks every object in which is
        gone: the ids read beside the texts kept (names, contacts) left their blocks held to
        the run's end, a gigabyte at a million accounts; made before anything else, they
        fill blocks of their own."""
        tables = {name: f"rows_{name}" for name in copy.objects}
        columns = {name: [c for c, _ in table_columns(db, table)] for name, table in tables.items()}
        ids = {
            name: read_coded(db, tables[name], partial(each_part, name), ["Id"])
            for name in copy.objects
            if "Id" in columns[name]
        }
        for name, state in copy.objects.items():
            others = [c for c in columns[name] if c != "Id"]
            read = dict(ids.pop(name).items()) if name in ids else {}
            if others:
                read.update(read_coded(db, tables[name], partial(each_part, name), others).items())
            # the columns in the order saved, none copied
            state.rows = pd.DataFrame({c: read[c] for c in columns[name]}, copy=False)
            state.count = None

    def save(self, copy: Copy) -> None:
        """Replace the copy in one transaction; the rows of an object marked `unchanged` stay
        in the file as they are (an unchanged book rewrites no row)."""
        db = self._connect()
        try:
            write(db, partial(self._replace, db, copy), ROWS_MEMORY)
        finally:
            db.close()

    @classmethod
    def _replace(cls, db: duckdb.DuckDBPyConnection, copy: Copy) -> None:
        found = {
            table
            for (table,) in db.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_name LIKE 'rows_%' OR table_name LIKE 'values:rows_%'"
            ).fetchall()
        }
        kept = found & {
            table
            for n, state in copy.objects.items()
            if state.unchanged
            for table in (f"rows_{n}", values_table(f"rows_{n}"))
        }
        for table in found - kept:
            db.execute(f'DROP TABLE "{table}"')
        for table in ("meta", "objects", "watermarks", "seen"):  # made anew: a copy of
            db.execute(f"DROP TABLE {table}")  # another format may have other columns
        db.execute(_TABLES)
        db.execute("INSERT INTO meta VALUES ('format', ?)", [FORMAT])
        for name, state in copy.objects.items():
            if not _NAME.fullmatch(name):
                raise ValueError(f"not a copy name: {name}")
            if f"rows_{name}" not in kept:
                cls._write_rows(db, name, state.rows)
            db.execute(
                "INSERT INTO objects VALUES (?, ?, ?, ?)",
                [name, state.signature, state.full_read_at, state.as_of],
            )
        for sobject, at in copy.watermarks.items():
            db.execute("INSERT INTO watermarks VALUES (?, ?)", [sobject, at])
        pairs = pd.DataFrame(
            [(s, i, stamp) for s, seen in copy.seen.items() for i, stamp in seen],
            columns=["sobject", "id", "stamp"],
            dtype=object,
        )
        db.register("seen_pairs", pairs)
        db.execute("INSERT INTO seen SELECT sobject, id, stamp FROM seen_pairs")

    @staticmethod
    def _write_rows(db: duckdb.DuckDBPyConnection, name: str, rows: pd.DataFrame) -> None:
        write_coded(db, f"rows_{name}", rows, _sql_type)
