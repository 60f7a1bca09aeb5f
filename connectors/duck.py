"""DuckDB as cs-sync opens it (the history file, Parquet usage): offline. DuckDB would
otherwise download and load an extension when a file needs one (a SQLite file at the history
path, say); cs-sync runs unattended and never reaches the internet for code, so such a file
is an error, named by the caller. And silent: DuckDB draws a progress bar on stdout for a
query of more than two seconds, terminal or not, which at a million accounts came between
`--json`'s one object and its reader.

cs-sync's writes run in one transaction each, in bounded memory (`write`): DuckDB otherwise
keeps the rows a transaction inserts in its own buffers until the commit has written them,
beside the frame they came from (870,000 history rows held 680 MiB more than the frame;
bounded, 80 MiB).

Its reads of many rows (`read_rows`, `read_answer`, `read_coded`) come a part at a time, each
repeated text one string however many rows hold it: DuckDB's own answer gives every row's
text a string of its own, which a large read makes by the million only to let most of them
go. A table written often and read whole (the local copy's) keeps such texts as numbers
into their distinct values (`write_coded`), so reading it is a plain scan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import duckdb
import numpy as np
import pandas as pd

from cs_sync.connectors.bulk_csv import stacked

log = logging.getLogger(__name__)
OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
PART_VECTORS = 50  # reads come in parts of 50 DuckDB vectors of 2,048 rows: 102,400 rows


def connect(path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    db = duckdb.connect(path, config=dict(OFFLINE))
    db.execute("SET enable_progress_bar = false")  # a setting of the connection, not global
    return db


# DuckDB's own memory while cs-sync writes its files, on one thread (a limit shared by many
# threads could leave one without a block to work in). Reads are bounded only where they
# are plain scans read a part at a time (`read_coded`, `read_scan`): otherwise DuckDB holds
# an answer whole before pandas gets it, and one past the limit would fail, not spill.
WRITE_MEMORY = "128MB"
# The same for writes of many short rows (the local copy's records, the dashboard's record of
# its rows, the usage memo's numbers): DuckDB sends them to the file as its buffers fill, so a
# smaller bound holds less beside the rows' frame (a million rows of 700 characters written
# within it, 39 MB over the frame, where the larger bound held 128 MB more).
ROWS_MEMORY = "32MB"
# how DuckDB says a bounded statement (or the commit) needed more
_OUT_OF_MEMORY = ("out of memory", "could not allocate block", "failed to pin block")


def _out_of_memory(error: duckdb.Error) -> bool:
    return any(words in str(error).lower() for words in _OUT_OF_MEMORY)


@contextmanager
def bounded(db: duckdb.DuckDBPyConnection, memory: str | None = None) -> Iterator[None]:
    """The statements inside run on one thread in at most `memory` (default WRITE_MEMORY) of
    DuckDB's memory: the rows a transaction inserts go to the file as its buffers fill, not
    at the commit. The connection's own settings come back after (also when a statement
    fails)."""
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
    (`memory`, default WRITE_MEMORY). A write that needs more is rolled back and done again
    without the bound: the commit compresses each row group of up to 122,880 rows in memory,
    and a column of long texts (the history's measures of many rules) can need more than the
    bound for one."""
    try:
        with bounded(db, memory):
            _transaction(db, body)
        return
    except duckdb.Error as error:
        if not _out_of_memory(error):
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


def table_columns(db: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """A table's columns in order, each with its type as DuckDB names it."""
    found = db.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [(str(name), str(kind)) for name, kind in found]


def read_rows(
    db: duckdb.DuckDBPyConnection,
    table: str,
    each_part: Callable[[pd.DataFrame], pd.DataFrame] = lambda part: part,
) -> pd.DataFrame:
    """A table's rows in the order they were written, read a part at a time, each through
    `each_part`. A text column whose values repeat (picklists, lookups, dates as text) comes
    as numbers into its distinct values, each value one string however many rows hold it: a
    plain read would make a string for every row and let most of them go again, which at
    100,000 accounts is over five million strings made and dropped, and the holes they leave
    among the strings kept stay part of the process for the rest of its run."""
    columns = table_columns(db, table)
    coded = _repeated(db, table, [column for column, kind in columns if kind == "VARCHAR"])
    place = {column: i for i, column in enumerate(coded)}
    values = {column: _distinct(db, table, column, i) for column, i in place.items()}
    selected = ", ".join(
        f"coalesce(d{place[c]}.code, -1) AS {_quoted(c)}" if c in place else f"t.{_quoted(c)}"
        for c, _ in columns
    )
    joins = " ".join(
        f"LEFT JOIN coded_{i} AS d{i} ON t.{_quoted(c)} = d{i}.value" for c, i in place.items()
    )
    text = db.execute("SELECT 'text' AS text").df()["text"].dtype  # what a plain read gives
    answer = db.execute(f'SELECT {selected} FROM "{table}" AS t {joins} ORDER BY t.rowid')  # noqa: S608

    def decoded(part: pd.DataFrame) -> pd.DataFrame:
        for column, distinct in values.items():
            codes = part[column].to_numpy()
            part[column] = pd.Series(distinct[codes], index=part.index, dtype=text)
        return each_part(part)

    try:
        return _in_parts(answer, decoded)
    finally:
        for i in range(len(coded)):
            db.execute(f"DROP TABLE IF EXISTS coded_{i}")


def values_table(table: str) -> str:
    """Where `write_coded` keeps the distinct values of `table`'s coded columns."""
    return f"values:{table}"


def write_coded(
    db: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    sql_type: Callable[[pd.Series], str],
) -> None:
    """`table` made of the frame's rows (each column's type by `sql_type`), for `read_coded`:
    a text column whose values repeat (fewer than nine distinct in ten rows) is kept as
    numbers into its distinct values, which go to `values_table(table)`. Reading it back is
    then a plain scan in the order written: read_rows, which codes the texts as it reads,
    joins each coded column to its values and sorts by row number to keep the order, and
    that held about 100 MiB of DuckDB's memory reading a copy of 100,000 accounts (no
    bound helps: the sort fails within one)."""
    kinds = []
    coded: dict[str, np.ndarray] = {}
    values = []
    for column in frame.columns:
        kind = sql_type(frame[column])
        if kind == "VARCHAR" and not _unrepeated(frame[column]):
            codes, distinct = _numbered(frame[column])
            if len(distinct) * 10 < int((codes >= 0).sum()) * 9:
                coded[column] = codes
                values.append(
                    pd.DataFrame(
                        {
                            "column_name": column,
                            "code": np.arange(len(distinct), dtype=np.int32),
                            "value": np.asarray(distinct, dtype=object),
                        }
                    )
                )
                kind = "INTEGER"
        kinds.append(f"{_quoted(column)} {kind}")
    db.execute(f"CREATE TABLE {_quoted(table)} ({', '.join(kinds)})")
    db.execute(
        f"CREATE TABLE {_quoted(values_table(table))} "
        "(column_name VARCHAR, code INTEGER, value VARCHAR)"
    )
    if values:
        append(db, values_table(table), pd.concat(values, ignore_index=True))
    # the frame's own columns beside the codes, none copied (`assign` copies the 2-D block a
    # replaced column shares with the others: some 20 MB for 430,000 opportunities)
    rows = {c: coded[c] if c in coded else frame[c] for c in frame.columns}
    append(db, table, pd.DataFrame(rows, copy=False) if coded else frame)


def _numbered(values: pd.Series, part: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """Each value's number into the column's distinct values (-1: no value), and those
    values in order, worked out a part of the rows at a time: pandas sizes its hash table
    by the rows it is given, so numbering 430,000 rows at once held 31 MB whatever the
    number of distinct values (four opportunity types)."""
    numbers: dict[object, int] = {}
    codes = np.empty(len(values), dtype=np.int32)
    for start in range(0, len(values), part):
        local, uniques = pd.factorize(values.iloc[start : start + part])
        mapping = np.fromiter(
            (numbers.setdefault(value, len(numbers)) for value in uniques),
            dtype=np.int32,
            count=len(uniques),
        )
        mapped = mapping[np.maximum(local, 0)] if len(mapping) else local
        codes[start : start + part] = np.where(local >= 0, mapped, -1)
    return codes, np.array(list(numbers), dtype=object)


def _unrepeated(values: pd.Series, sample: int = 1000) -> bool:
    """Whether no value repeats in a random sample of the column (ids, names): such a column
    is written as it is, without numbering its values first (which for 430,000 ids holds
    some 20 MB while it hashes them). A lookup repeats in the sample even when its parents
    are many: a thousand rows drawn among 100,000 accounts' ids repeat about five times. A
    spread sample would not do: rows in id order hold each account's children together."""
    if len(values) > sample:  # the same draw every run
        values = values.take(np.random.default_rng(0).choice(len(values), sample, replace=False))
    probe = values.dropna()
    return probe.nunique() == len(probe)


def read_coded(
    db: duckdb.DuckDBPyConnection,
    table: str,
    each_part: Callable[[pd.DataFrame], pd.DataFrame] = lambda part: part,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """A table made by `write_coded` (its `columns`, default all), in the order it was
    written (DuckDB's scans keep it), a part at a time, each through `each_part`: each coded
    column's values one string per distinct value however many rows hold it."""
    found: dict[str, list[str]] = {}
    for column, value in db.execute(
        f"SELECT column_name, value FROM {_quoted(values_table(table))} "  # noqa: S608
        "WHERE ? OR list_contains(?, column_name) ORDER BY column_name, code",
        [columns is None, columns or []],
    ).fetchall():
        found.setdefault(column, []).append(value)
    values = {c: np.array([*texts, np.nan], dtype=object) for c, texts in found.items()}
    text = db.execute("SELECT 'text' AS text").df()["text"].dtype  # what a plain read gives

    def decoded(part: pd.DataFrame) -> pd.DataFrame:
        for column, distinct in values.items():
            codes = part[column].to_numpy()  # -1: no value (the last of `distinct`)
            part[column] = pd.Series(distinct[codes], index=part.index, dtype=text)
        return each_part(part)

    selected = "*" if columns is None else ", ".join(_quoted(c) for c in columns)
    return read_scan(db, f"SELECT {selected} FROM {_quoted(table)}", decoded)  # noqa: S608


def read_scan(
    db: duckdb.DuckDBPyConnection,
    query: str,
    each_part: Callable[[pd.DataFrame], pd.DataFrame] = lambda part: part,
) -> pd.DataFrame:
    """A plain scan's rows (no join, no sort) a part at a time, each through `each_part`,
    within ROWS_MEMORY of DuckDB's memory: unbounded, DuckDB keeps every block of the file
    it reads cached to the connection's end (loading the local copy of 100,000 accounts
    peaked 31 MiB higher). One that needs more is read again unbounded, its parts passed
    through `each_part` again."""
    try:
        with bounded(db, ROWS_MEMORY):
            return _in_parts(db.execute(query), each_part)
    except duckdb.Error as error:
        if not _out_of_memory(error):
            raise
        log.info("a read needed more than %s of DuckDB's memory: read unbounded", ROWS_MEMORY)
    return _in_parts(db.execute(query), each_part)


def _repeated(db: duckdb.DuckDBPyConnection, table: str, texts: list[str]) -> list[str]:
    """The text columns whose values repeat: fewer than nine distinct in ten rows (an id or
    a name, nearly all distinct, is read as it is)."""
    if not texts:
        return []
    counts = ", ".join(f"count({_quoted(c)}), approx_count_distinct({_quoted(c)})" for c in texts)
    (found,) = db.execute(f'SELECT {counts} FROM "{table}"').fetchall()  # noqa: S608
    return [c for i, c in enumerate(texts) if found[2 * i + 1] * 10 < found[2 * i] * 9]


def _distinct(db: duckdb.DuckDBPyConnection, table: str, column: str, i: int) -> np.ndarray:
    """The column's distinct values, numbered in a table of the connection's own (coded_i),
    and as strings in that order with a missing value last (the number -1 reads it)."""
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE coded_{i} AS SELECT value, "  # noqa: S608
        "(row_number() OVER (ORDER BY value) - 1)::BIGINT AS code "
        f'FROM (SELECT DISTINCT {_quoted(column)} AS value FROM "{table}" '
        f"WHERE {_quoted(column)} IS NOT NULL)"
    )
    ordered = db.execute(f"SELECT value FROM coded_{i} ORDER BY code").fetchall()  # noqa: S608
    return np.array([value for (value,) in ordered] + [np.nan], dtype=object)


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _in_parts(
    answer: duckdb.DuckDBPyConnection, each_part: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """The answer's rows read a part at a time, each through `each_part`."""
    part = answer.fetch_df_chunk(PART_VECTORS)
    parts = [each_part(part)]  # the first, empty when there is no row: it keeps the columns
    while len(part):
        part = answer.fetch_df_chunk(PART_VECTORS)
        if len(part):
            parts.append(each_part(part))
    return stacked(parts)


def read_answer(
    db: duckdb.DuckDBPyConnection, query: str, parameters: list[object] | None = None
) -> pd.DataFrame:
    """A query's answer as `read_rows` reads a table (repeated texts one string per value),
    through a table of the connection's own that is dropped after."""
    db.execute(f"CREATE OR REPLACE TEMP TABLE answer_read AS {query}", parameters or [])
    try:
        return read_rows(db, "answer_read")
    finally:
        db.execute("DROP TABLE IF EXISTS answer_read")
