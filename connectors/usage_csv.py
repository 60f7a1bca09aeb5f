"""Usage from a file, CSV (the embedded default) or Parquet: one row per account and month,
checked as every usage source is (connectors/usage_checks.py).

Columns: account_id (a Salesforce id: 18 characters in any case, or 15 exactly as Salesforce
writes them, since case tells 15-character ids apart; or the external key), month (YYYY-MM, or a
date in the month), then the metrics. Ids stay strings.

A CSV file is read and checked a part at a time (PART_ROWS rows): its bytes are first checked to
be text in its encoding a block at a time, then parsed in parts, so neither its bytes nor its
text are ever held whole (a million accounts' 21 months are a gigabyte of CSV; as one Python
string held by a StringIO, four).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from cs_sync.connectors.usage_checks import UsageTable, validate_usage
from cs_sync.connectors.usage_settings import KEY_COLUMN, METRIC_COLUMNS, MONTH_COLUMN
from cs_sync.errors import InputError

log = logging.getLogger(__name__)

PART_ROWS = 200_000  # CSV rows parsed and checked at a time
BLOCK_BYTES = 1 << 20  # bytes checked for their encoding at a time


def read_usage_csv(
    path: Path,
    as_of: date,
    account_key: str,
    on_bad_rows: str,
    metrics: tuple[str, ...] = METRIC_COLUMNS,
    columns: dict[str, str] | None = None,
    encoding: str = "auto",
    delimiter: str = "auto",
    part_rows: int = PART_ROWS,
) -> UsageTable:
    """Read and validate. `account_key` is "salesforce_id" (ids normalised to 18 characters)
    or "external_key" (kept as written). `encoding` "auto" takes UTF-8 (with or without a
    BOM), then CP932 (what Excel in Japan saves); `delimiter` "auto" reads it from the header."""
    codec, header_line = text_codec(path, encoding)
    if not header_line.strip():
        raise InputError(
            f"usage file {path} is empty; it needs a header row "
            f"({KEY_COLUMN},{MONTH_COLUMN},...) and one row per account and month"
        )
    separator = _delimiter(header_line, path, delimiter)
    header = next(csv.reader([header_line], delimiter=separator))
    names = [name.strip() for name in header]
    twice = sorted({name for name in names if name and names.count(name) > 1})
    if twice:
        raise InputError(
            f"usage file {path}, line 1: the header names {', '.join(twice)} more than once; "
            "each column once"
        )

    def parts() -> Iterator[pd.DataFrame]:
        try:
            with pd.read_csv(
                path,
                sep=separator,
                dtype=str,
                keep_default_na=False,
                encoding=codec,
                chunksize=part_rows,
            ) as reader:
                for part in reader:
                    part.columns = [str(c).strip() for c in part.columns]
                    yield part
        except pd.errors.ParserError as exc:
            raise InputError(f"usage file {path} is not a readable CSV: {exc}") from None

    return validate_usage(
        parts(),
        f"usage file {path}",
        as_of,
        account_key,
        on_bad_rows,
        metrics=metrics,
        columns=columns,
        header=names,
    )


def text_codec(
    path: Path, encoding: str, what: str = "usage file", setting: str = "usage"
) -> tuple[str, str]:
    """The codec to read the file with (as set, or with "auto" UTF-8 with or without a BOM,
    then CP932) and its first line, every byte checked a block of whole lines at a time;
    undecodable bytes are named by line and byte."""
    try:
        if encoding != "auto":
            where, first = _first_undecodable(path, encoding)
            if where is not None:
                raise _not_text(what, path, encoding, setting, where)
            return encoding, first
        where, first = _first_undecodable(path, "utf-8-sig")
        if where is None:
            return "utf-8-sig", first
        elsewhere, first = _first_undecodable(path, "cp932")
        if elsewhere is not None:
            raise _not_text(what, path, "auto", setting, where)
    except FileNotFoundError:
        raise InputError(
            f"{what} {path} does not exist; check {setting}.path in the configuration"
        ) from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror}") from None
    log.info("%s %s read as CP932 (Shift-JIS), as Excel in Japan saves CSV", what, path)
    return "cp932", first


def _first_undecodable(path: Path, codec: str) -> tuple[tuple[int, int] | None, str]:
    """Where the file's first byte that is no text in `codec` is (line, byte), or None; and
    the file's first line. Read in blocks cut after a newline (a newline byte is never part
    of a UTF-8 or CP932 character), each decoded on its own."""
    first: str | None = None
    line = 1  # the line the next block starts
    pending = b""
    with path.open("rb") as file:
        while True:
            block = file.read(BLOCK_BYTES)
            data = pending + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if block and cut == 0:  # no newline yet (a very long line): read on
                pending = data
                continue
            data, pending = data[:cut], data[cut:]
            try:
                text = data.decode(codec if first is None else codec.removesuffix("-sig"))
            except UnicodeDecodeError as exc:
                at_line, byte = _where(data, exc.start)
                return (line + at_line - 1, byte), first or ""
            if first is None:
                first = text.split("\n", 1)[0].rstrip("\r").removeprefix("\ufeff")
            line += data.count(b"\n")
            if not block:
                return None, first


def _not_text(
    what: str, path: Path, encoding: str, setting: str, where: tuple[int, int]
) -> InputError:
    line, byte = where
    if encoding != "auto":
        return InputError(
            f"{what} {path}: not {encoding} text (line {line}, byte {byte}); save it "
            f'as UTF-8, or set {setting}.encoding to what it is ("utf-8" or "cp932")'
        )
    return InputError(
        f"{what} {path}: neither UTF-8 nor CP932 (Shift-JIS) text "
        f"(line {line}, byte {byte}); save it as CSV UTF-8"
    )


def decode_text(
    data: bytes, path: Path, encoding: str, what: str = "usage file", setting: str = "usage"
) -> str:
    """A small CSV file's text, held whole: in `encoding`, or with "auto" UTF-8 (with or
    without a BOM), then CP932 (what Excel in Japan saves); undecodable bytes are named by
    line and byte."""
    if encoding != "auto":
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise _not_text(what, path, encoding, setting, _where(data, exc.start)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as first:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError:
            raise _not_text(what, path, "auto", setting, _where(data, first.start)) from None
        log.info("%s %s read as CP932 (Shift-JIS), as Excel in Japan saves CSV", what, path)
        return text


def _where(data: bytes, offset: int) -> tuple[int, int]:
    """The line and byte of `offset` in `data`."""
    line = data.count(b"\n", 0, offset) + 1
    return line, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


_SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _delimiter(header: str, path: Path, setting: str) -> str:
    """The column separator: as set, or the one the header uses (commas first)."""
    if setting != "auto":
        return setting
    for separator in _SEPARATORS:
        if separator in header:
            if separator != ",":
                log.info("usage file %s: columns separated by %s", path, _SEPARATORS[separator])
            return separator
    return ","


def _select(query: str, path: str) -> Any:
    import duckdb

    from cs_sync.connectors.duck import connect

    relation = connect().sql(query, params=[path])
    if relation is None:  # only statements that return nothing give None
        raise duckdb.Error(f"no result from {query}")
    return relation


def read_usage_parquet(
    path: Path,
    as_of: date,
    account_key: str,
    on_bad_rows: str,
    metrics: tuple[str, ...] = METRIC_COLUMNS,
    columns: dict[str, str] | None = None,
) -> UsageTable:
    """A Parquet file with the same columns, read by DuckDB (no pyarrow needed); every value
    is taken as text first, so ids are never turned into numbers."""
    import duckdb

    if not path.exists():
        raise InputError(f"usage file {path} does not exist; check usage.path in the configuration")
    try:
        found = _select("SELECT * FROM read_parquet(?)", str(path)).columns
        casts = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in found)
        raw = _select(f"SELECT {casts} FROM read_parquet(?)", str(path)).df()  # noqa: S608
    except duckdb.Error as exc:
        raise InputError(f"usage file {path} is not a readable Parquet file: {exc}") from None
    raw = raw.astype(object).where(raw.notna(), "")
    return validate_usage(
        raw, f"usage file {path}", as_of, account_key, on_bad_rows, metrics=metrics, columns=columns
    )
