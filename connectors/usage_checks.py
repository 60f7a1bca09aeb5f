"""The checks every usage source shares (`validate_usage`), and the table they give.

Rows arrive as text (a file, a sheet, a query's answer) and leave typed and compact: one row
per account and month, the account's key held once per account (a categorical: four bytes a
row, where a string is fifty or more), the month a date, each metric a 32-bit float (the
precision every rule computes in, rules/usage_metrics.py), the line a 32-bit integer. A
source read in parts (a large CSV file) is checked a part at a time, so its text is never
held whole: at a million accounts and 21 months, usage held as text would take gigabytes.

Every bad row (a key that is none, a month that is none or lies after the run's date, a value
that is no finite non-negative number, a duplicated account and month) is reported by its line
(or row) number, column and account key; with `on_bad_rows = "skip"` the rest are used, with
"stop" nothing is. A blank cell is no bad row: it is an unknown value, reported once per
column, and the measures that use it count that month as missing data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from cs_sync.connectors.usage_settings import KEY_COLUMN, METRIC_COLUMNS, MONTH_COLUMN
from cs_sync.errors import InputError
from cs_sync.sfid import try_to18

# The largest value a 32-bit float holds: a usage number beyond it would reach the rules as
# infinity.
FLOAT32_MAX = float(np.finfo(np.float32).max)


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
    """Clean monthly usage: account_key (categorical), month (Timestamp, first of month), the
    metrics (float32), line (int32)."""

    frame: pd.DataFrame
    problems: list[UsageProblem] = field(default_factory=list)
    source: str = ""
    blanks: list[UsageProblem] = field(default_factory=list)  # one per metric with blanks


@dataclass
class _Blank:
    """A metric's blank cells so far: how many, and the first one's line and key."""

    count: int
    line: int
    key: str | None


def validate_usage(
    raw: pd.DataFrame | Iterable[pd.DataFrame],
    source: str,
    as_of: date,
    account_key: str,
    on_bad_rows: str,
    first_line: int = 2,
    unit: str = "line",
    metrics: tuple[str, ...] = METRIC_COLUMNS,
    columns: dict[str, str] | None = None,
    header: list[str] | None = None,
) -> UsageTable:
    """Check and type rows given as text: a table (a sheet, a query's answer), or its parts
    under `header` (consecutive rows, each let go once checked: a large file). `metrics`: the
    usage columns the rules read; `columns`: metric -> the source's own name for it
    (usage.columns), when they differ."""
    parts: Iterable[pd.DataFrame] = raw
    if isinstance(raw, pd.DataFrame):
        header, parts = [str(c) for c in raw.columns], [raw]
    named = {metric: (columns or {}).get(metric, metric) for metric in metrics}
    wanted = [KEY_COLUMN, MONTH_COLUMN, *named.values()]
    missing = [c for c in wanted if c not in (header or [])]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}; the header must name "
            f"{', '.join(wanted)} (map other names with usage.columns)"
        )
    renamed = {name: metric for metric, name in named.items()}
    problems: list[UsageProblem] = []
    blanks: dict[str, _Blank] = {}
    kept: list[dict[str, Any]] = []
    line = first_line
    for part in parts:
        if not len(part):
            continue
        part = part.rename(columns=renamed).reset_index(drop=True)
        kept.append(_check_part(part, line, as_of, account_key, metrics, problems, blanks))
        line += len(part)
    if line == first_line:
        raise InputError(f"{source} has a header but no rows: add one row per account and month")
    clean = _joined(kept, metrics)
    kept.clear()  # the parts, let go once joined
    duplicated = _repeated(clean)
    for at in np.flatnonzero(duplicated):
        problems.append(
            UsageProblem(
                int(clean["line"].iat[at]),
                MONTH_COLUMN,
                str(clean["account_key"].iat[at]),
                "more than one row for this account and month",
            )
        )
    if problems and on_bad_rows == "stop":
        listed = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise InputError(
            f"{source}: {len(problems)} bad row(s); nothing was "
            f'used (usage.on_bad_rows = "stop"):\n{listed}{more}'
        )
    noted = [
        UsageProblem(
            blank.line,
            column,
            blank.key,
            f"{blank.count} blank cell(s) in {column}, the first here: read as "
            "unknown, so the measures that use that month count it as missing data",
        )
        for column, blank in blanks.items()
    ]
    for problem in problems + noted:
        problem.unit = unit
    frame = clean[~duplicated].reset_index(drop=True) if duplicated.any() else clean
    return UsageTable(frame=frame, problems=problems, source=source, blanks=noted)


def _check_part(
    raw: pd.DataFrame,
    first_line: int,
    as_of: date,
    account_key: str,
    metrics: tuple[str, ...],
    problems: list[UsageProblem],
    blanks: dict[str, _Blank],
) -> dict[str, Any]:
    """One part's good rows, typed (column by column); its bad rows go to `problems`, its
    blank cells are counted in `blanks` (the duplicates are looked for over every part,
    later)."""
    raw = raw.astype(object).where(raw.notna(), "").astype(str)
    lines = np.arange(first_line, first_line + len(raw), dtype=np.int32)
    bad = np.zeros(len(raw), dtype=bool)

    def report(
        rows: np.ndarray, column: str, key_of: Callable[[int], str | None], says: Any
    ) -> None:
        for at in np.flatnonzero(rows).tolist():
            problems.append(UsageProblem(int(lines[at]), column, key_of(at), says(at)))
        bad[rows] = True

    keys = _per_value(raw[KEY_COLUMN], lambda v: v.str.strip())
    if account_key == "salesforce_id":
        keys = _per_value(keys, lambda v: v.map(lambda key: try_to18(key) or ""))
        report(
            (keys == "").to_numpy(),
            KEY_COLUMN,
            lambda at: None,
            lambda at: f"{raw[KEY_COLUMN].iat[at]!r} is not a Salesforce id",
        )
    else:
        report((keys == "").to_numpy(), KEY_COLUMN, lambda at: None, lambda at: "empty key")

    def key_of(at: int) -> str | None:
        return str(keys.iat[at]) or None

    months = pd.to_datetime(_per_value(raw[MONTH_COLUMN], _month))
    report(
        months.isna().to_numpy(),
        MONTH_COLUMN,
        key_of,
        lambda at: f"{raw[MONTH_COLUMN].iat[at]!r} is not a month (YYYY-MM)",
    )
    current = pd.Timestamp(as_of.year, as_of.month, 1)
    report(
        (months > current).fillna(False).to_numpy(),
        MONTH_COLUMN,
        key_of,
        lambda at: f"{raw[MONTH_COLUMN].iat[at]} is after the run date {as_of.isoformat()}",
    )

    values: dict[str, np.ndarray] = {}
    for column in metrics:
        text = _per_value(raw[column], lambda v: v.str.strip())
        number = pd.to_numeric(
            _per_value(
                raw[column],
                lambda v: pd.to_numeric(v.str.strip().replace("", None), errors="coerce"),
            ),
            errors="coerce",
        ).to_numpy(dtype=float)
        blank = (text == "").to_numpy()
        wrong = (np.isnan(number) & ~blank) | ~(np.abs(np.nan_to_num(number)) <= FLOAT32_MAX)
        report(
            wrong | (number < 0),
            column,
            key_of,
            lambda at, column=column: _not_a_number(raw[column].iat[at]),
        )
        if blank.any():
            first = int(np.flatnonzero(blank)[0])
            if column in blanks:
                blanks[column].count += int(blank.sum())
            else:
                blanks[column] = _Blank(int(blank.sum()), int(lines[first]), key_of(first))
        values[column] = np.where(bad, np.nan, number).astype(np.float32)  # bad: let go

    good = ~bad
    return {
        "account_key": pd.Categorical(keys.to_numpy(dtype=object)[good]),
        "month": months.to_numpy()[good],
        **{column: number[good] for column, number in values.items()},
        "line": lines[good],
    }


def _not_a_number(text: str) -> str:
    """Why a metric's cell is a bad row."""
    try:
        too_large = FLOAT32_MAX < abs(float(text)) < float("inf")
    except ValueError:
        too_large = False
    if too_large:
        return f"{text!r} is over 3.4e38, the largest number the rules hold"
    return f"{text!r} is not a finite non-negative number"


def _joined(parts: list[dict[str, Any]], metrics: tuple[str, ...]) -> pd.DataFrame:
    """The parts' good rows as one table, the keys' categories merged (no string hashed
    again but each distinct key). Each column's parts are let go once it is joined: the
    parts and the table are never both held whole (at 100,000 accounts' 2.1 million rows,
    the join's peak some 60 MB lower)."""
    parts = [part for part in parts if len(part["line"])]
    if not parts:
        return pd.DataFrame(
            {
                "account_key": pd.Categorical([]),
                "month": pd.Series(dtype="datetime64[us]"),
                **{m: np.empty(0, np.float32) for m in metrics},
                "line": np.empty(0, np.int32),
            }
        )
    keys = union_categoricals([part.pop("account_key") for part in parts])
    columns = {
        column: np.concatenate([part.pop(column) for part in parts])
        for column in ("month", *metrics, "line")
    }
    # each column its own array, as made: no block of them copied together
    return pd.DataFrame({"account_key": keys, **columns}, copy=False)


def _repeated(clean: pd.DataFrame) -> np.ndarray:
    """Which rows share their account and month with another. Each pair is one number (the
    key's code and the month), counted in a table of every such number when that table is
    no larger than the rows (a book's months are few), else sorted and compared with its
    neighbours: at two million rows the count holds some 35 MB less than the sort (and
    hashing the pairs as objects held some 100 MB more)."""
    if not len(clean):
        return np.zeros(0, dtype=bool)
    months = clean["month"].to_numpy().astype("datetime64[M]").view(np.int64)
    months -= months.min()
    span = int(months.max()) + 1
    pairs = clean["account_key"].cat.codes.to_numpy().astype(np.int64)
    keys = int(pairs.max()) + 1
    pairs *= span
    pairs += months
    del months
    if keys * span <= len(pairs):  # the table of counts no larger than the rows
        return (np.bincount(pairs) > 1)[pairs]
    order = np.argsort(pairs, kind="stable")
    pairs = pairs[order]
    same = pairs[1:] == pairs[:-1]
    del pairs
    repeated = np.zeros(len(order), dtype=bool)
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    return repeated


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
