"""Usage from a file, CSV (the embedded default) or Parquet, and the checks every usage source
shares (`validate_usage`): one row per account and month.

Columns: account_id (a Salesforce id: 18 characters in any case, or 15 exactly as Salesforce
writes them, since case tells 15-character ids apart; or the external key), month (YYYY-MM, or a
date in the month), then the metrics. Ids stay strings. Every bad row (a value that is no
finite non-negative number, a month that is none, a duplicated account and month) is reported
by its line number and column; with `on_bad_rows = "skip"` the rest are used, with "stop"
nothing is. A blank cell is no bad row: it is an unknown value, reported once per column, and
the measures that use it count that month as missing data.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cs_sync.connectors.usage_settings import KEY_COLUMN, METRIC_COLUMNS, MONTH_COLUMN
from cs_sync.errors import InputError
from cs_sync.sfid import try_to18

log = logging.getLogger(__name__)


@dataclass
class UsageProblem:
    line: int | None  # line number in the file (the header is line 1), or row number
    column: str | None
    key: str | None
    message: str
    unit: str = "line"  # "line" (files, sheets) or "row" (query results)

    def __str__(self) -> str:
        where = f"{self.unit} {self.line}" if self.line else "file"
        column = f", column {self.column}" if self.column else ""
        key = f" (account {self.key})" if self.key else ""
        return f"{where}{column}{key}: {self.message}"


@dataclass
class UsageTable:
    """Clean monthly usage: account_key, month (Timestamp, first of month), metrics; line."""

    frame: pd.DataFrame
    problems: list[UsageProblem] = field(default_factory=list)
    source: str = ""
    blanks: list[UsageProblem] = field(default_factory=list)  # one per metric with blanks


def read_usage_csv(
    path: Path,
    as_of: date,
    account_key: str,
    on_bad_rows: str,
    metrics: tuple[str, ...] = METRIC_COLUMNS,
    columns: dict[str, str] | None = None,
    encoding: str = "auto",
    delimiter: str = "auto",
) -> UsageTable:
    """Read and validate. `account_key` is "salesforce_id" (ids normalised to 18 characters)
    or "external_key" (kept as written). `encoding` "auto" takes UTF-8 (with or without a
    BOM), then CP932 (what Excel in Japan saves); `delimiter` "auto" reads it from the header."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"usage file {path} does not exist; check usage.path in the configuration"
        ) from None
    except OSError as exc:
        raise InputError(f"usage file {path} cannot be read: {exc.strerror}") from None
    text = decode_text(data, path, encoding)
    header_line = text.split("\n", 1)[0].rstrip("\r")
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
    try:
        raw = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise InputError(f"usage file {path} is not a readable CSV: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    return validate_usage(
        raw, f"usage file {path}", as_of, account_key, on_bad_rows, metrics=metrics, columns=columns
    )


def decode_text(
    data: bytes, path: Path, encoding: str, what: str = "usage file", setting: str = "usage"
) -> str:
    """A CSV file's text: in `encoding`, or with "auto" UTF-8 (with or without a BOM), then
    CP932 (what Excel in Japan saves); undecodable bytes are named by line and byte."""
    if encoding != "auto":
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{what} {path}: not {encoding} text ({_where(data, exc.start)}); save it "
                f'as UTF-8, or set {setting}.encoding to what it is ("utf-8" or "cp932")'
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as first:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError:
            raise InputError(
                f"{what} {path}: neither UTF-8 nor CP932 (Shift-JIS) text "
                f"({_where(data, first.start)}); save it as CSV UTF-8"
            ) from None
        log.info("%s %s read as CP932 (Shift-JIS), as Excel in Japan saves CSV", what, path)
        return text


def _where(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, byte {column}"


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


def _per_value(column: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """`convert` applied once per distinct value, then spread back: a usage column repeats
    its values (12 months, a few thousand seat counts) across a million rows."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    converted = convert(pd.Series(uniques, dtype=object).astype(str)).to_numpy()
    return pd.Series(converted[codes], index=column.index)


def _month(text: pd.Series) -> pd.Series:
    """YYYY-MM, or a date in that month (YYYY-MM-DD, YYYY/MM/DD, YYYY/MM) as spreadsheets and
    warehouses write it; anything else is missing."""
    cleaned = text.str.strip().str.replace("/", "-", regex=False)
    month = pd.to_datetime(cleaned, format="%Y-%m", errors="coerce")
    day = pd.to_datetime(cleaned.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    return month.fillna(day.dt.to_period("M").dt.to_timestamp())


def validate_usage(
    raw: pd.DataFrame,
    source: str,
    as_of: date,
    account_key: str,
    on_bad_rows: str,
    first_line: int = 2,
    unit: str = "line",
    metrics: tuple[str, ...] = METRIC_COLUMNS,
    columns: dict[str, str] | None = None,
) -> UsageTable:
    """Check and type rows given as text (any source): every bad row is reported by its line
    (or row) number, column and account key; "skip" uses the rest, "stop" nothing.
    `metrics`: the usage columns the rules read; `columns`: metric -> the source's own name
    for it (usage.columns), when they differ."""
    named = {metric: (columns or {}).get(metric, metric) for metric in metrics}
    if len(raw):
        raw = raw.astype(object).where(raw.notna(), "").astype(str)
    path = source
    wanted = [KEY_COLUMN, MONTH_COLUMN, *named.values()]
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; the header must name "
            f"{', '.join(wanted)} (map other names with usage.columns)"
        )
    raw = raw.rename(columns={source: metric for metric, source in named.items()})
    if raw.empty:
        raise InputError(f"{path} has a header but no rows: add one row per account and month")
    problems: list[UsageProblem] = []
    blanks: list[UsageProblem] = []
    lines = pd.Series(range(first_line, len(raw) + first_line), index=raw.index)
    bad = pd.Series(False, index=raw.index)

    keys = _per_value(raw[KEY_COLUMN], lambda v: v.str.strip())
    if account_key == "salesforce_id":
        canonical = {key: try_to18(key) or "" for key in keys.unique()}  # once per account
        keys = keys.map(canonical)
        for index in raw.index[keys == ""]:
            problems.append(
                UsageProblem(
                    int(lines[index]),
                    KEY_COLUMN,
                    None,
                    f"{raw.at[index, KEY_COLUMN]!r} is not a Salesforce id",
                )
            )
        bad |= keys == ""
    else:
        for index in raw.index[keys == ""]:
            problems.append(UsageProblem(int(lines[index]), KEY_COLUMN, None, "empty key"))
        bad |= keys == ""

    months = pd.to_datetime(_per_value(raw[MONTH_COLUMN], _month))
    for index in raw.index[months.isna()]:
        problems.append(
            UsageProblem(
                int(lines[index]),
                MONTH_COLUMN,
                keys[index] or None,
                f"{raw.at[index, MONTH_COLUMN]!r} is not a month (YYYY-MM)",
            )
        )
    bad |= months.isna()
    current = pd.Timestamp(as_of.year, as_of.month, 1)
    future = months > current
    for index in raw.index[future.fillna(False)]:
        problems.append(
            UsageProblem(
                int(lines[index]),
                MONTH_COLUMN,
                keys[index] or None,
                f"{raw.at[index, MONTH_COLUMN]} is after the run date {as_of.isoformat()}",
            )
        )
    bad |= future.fillna(False)

    clean = pd.DataFrame({"account_key": keys, "month": months, "line": lines})
    for column in metrics:
        text = _per_value(raw[column], lambda v: v.str.strip())
        values = pd.to_numeric(
            _per_value(
                raw[column],
                lambda v: pd.to_numeric(v.str.strip().replace("", None), errors="coerce"),
            ),
            errors="coerce",
        )
        wrong = (values.isna() & (text != "")) | values.isin([np.inf, -np.inf])
        negative = values < 0
        for index in raw.index[wrong | negative]:
            problems.append(
                UsageProblem(
                    int(lines[index]),
                    column,
                    keys[index] or None,
                    f"{raw.at[index, column]!r} is not a finite non-negative number",
                )
            )
        bad |= wrong | negative
        blank = text == ""
        if blank.any():
            first = raw.index[blank][0]
            blanks.append(
                UsageProblem(
                    int(lines[first]),
                    column,
                    keys[first] or None,
                    f"{int(blank.sum())} blank cell(s) in {column}, the first here: read as "
                    "unknown, so the measures that use that month count it as missing data",
                )
            )
        clean[column] = values

    duplicated = clean.duplicated(["account_key", "month"], keep=False) & ~bad
    for index in raw.index[duplicated]:
        problems.append(
            UsageProblem(
                int(lines[index]),
                MONTH_COLUMN,
                keys[index],
                "more than one row for this account and month",
            )
        )
    bad |= duplicated

    if problems and on_bad_rows == "stop":
        listed = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise InputError(
            f"{path}: {len(problems)} bad row(s); nothing was "
            f'used (usage.on_bad_rows = "stop"):\n{listed}{more}'
        )
    for problem in problems + blanks:
        problem.unit = unit
    return UsageTable(
        frame=clean[~bad].reset_index(drop=True), problems=problems, source=source, blanks=blanks
    )
