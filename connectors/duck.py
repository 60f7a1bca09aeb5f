"""DuckDB as cs-sync opens it (the history file, Parquet usage): offline. DuckDB would
otherwise download and load an extension when a file needs one (a SQLite file at the history
path, say); cs-sync runs unattended and never reaches the internet for code, so such a file
is an error, named by the caller.

cs-sync's writes run in one transaction each, in bounded memory (`write`): DuckDB otherwise
keeps the rows a transaction inserts in its own buffers until the commit has written them,
beside the frame they came from (870,000 history rows held 680 MiB more than the frame;
bounded, 80 MiB).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import duckdb
import pandas as pd

log = logging.getLogger(__name__)
OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    return duckdb.connect(path, config=dict(OFFLINE))


# DuckDB's own memory while cs-sync writes its files, on one thread (a limit shared by many
# threads could leave one without a block to work in). Reads are not bounded: DuckDB holds an
# answer whole before pandas gets it, and one past the limit would fail, not spill.
WRITE_MEMORY = "128MB"
# The same for writes of many short rows (the local copy's records, the dashboard's record of
# its rows, the usage memo's numbers): DuckDB sends them to the file as its buffers fill, so a
# smaller bound holds less beside the rows' frame (a million rows of 700 characters written
# within it, 39 MB over the frame, where the larger bound held 128 MB more).
ROWS_MEMORY = "32MB"
# how DuckDB says a bounded statement (or the commit) needed more
_OUT_OF_MEMORY = ("out of memory", "could not allocate block", "failed to pin block")


@contextmanager
def bounded(db: duckdb.DuckDBPyConnection, memory: str | None = None) -> Iterator[None]:
    """The statements inside run on one thread in at most `memory` (default WRITE_MEMORY) of
    DuckDB's memory: the
    rows a transaction inserts go to the file as its buffers fill, not at the commit. The
    connection's own settings come back after (also when a statement fails)."""
    db.execute("SET threads = 1")
    db.execute(f"SET memory_limit = '{memory or WRITE_MEMORY}'")
    try:
        yield
    finally:
        db.execute("RESET memory_limit")
        db.execute("RESET threads")


def write(
    db: duckdb.DuckDBPyConnection, body: Callable[[], None], memory: str | None = None
) -> None:
    """`body`'s statements in one transaction (all written, or none), in bounded memory
    (`memory`, default WRITE_MEMORY). A
    write that needs more is rolled back and done again without the bound: the commit
    compresses each row group of up to 122,880 rows in memory, and a column of long texts
    (the history's measures of many rules) can need more than the bound for one."""
    try:
        with bounded(db, memory):
            _transaction(db, body)
        return
    except duckdb.Error as error:
        if not any(words in str(error).lower() for words in _OUT_OF_MEMORY):
            raise
        log.info(
            "a write needed more than %s of DuckDB's memory: written unbounded",
            memory or WRITE_MEMORY,
        )
    _transaction(db, body)


def _transaction(db: duckdb.DuckDBPyConnection, body: Callable[[], None]) -> None:
    db.execute("BEGIN TRANSACTION")
    try:
        body()
        db.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):  # a commit that failed has ended the transaction already
            db.execute("ROLLBACK")
        raise


def append(db: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """The frame's rows added to `table` (its columns in the table's order). Not through a
    registered view: DuckDB holds a frame registered in a transaction until the commit, so
    parts written one after another would all be alive at its end (a first dashboard
    refresh's 175,000 recorded rows: some 80 MB of text)."""
    db.from_df(frame).insert_into(table)
