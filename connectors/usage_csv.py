"""Usage from a CSV file (the embedded default source): one row per account and month.

Columns: account_id (a Salesforce id, 15 or 18 characters in any case, or the external key),
month (YYYY-MM), then the metrics. Ids stay strings. Every bad row is reported by its line
number and column; with `on_bad_rows = "skip"` the rest are used, with "stop" nothing is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from cs_sync.errors import InputError
from cs_sync.sfid import try_to18

KEY_COLUMN = "account_id"
MONTH_COLUMN = "month"
METRIC_COLUMNS = (
    "seats",
    "active_users",
    "logins",
    "payslips_sent",
    "year_end_adjustments",
    "surveys_run",
)


@dataclass
class UsageProblem:
    line: int | None  # line number in the file (the header is line 1)
    column: str | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        column = f", column {self.column}" if self.column else ""
        key = f" (account {self.key})" if self.key else ""
        return f"{where}{column}{key}: {self.message}"


@dataclass
class UsageTable:
    """Clean monthly usage: account_key, month (Timestamp, first of month), metrics; line."""

    frame: pd.DataFrame
    problems: list[UsageProblem] = field(default_factory=list)
    source: str = ""


def read_usage_csv(path: Path, as_of: date, account_key: str, on_bad_rows: str) -> UsageTable:
    """Read and validate. `account_key` is "salesforce_id" (ids normalised to 18 characters)
    or "external_key" (kept as written)."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(
            f"usage file {path} does not exist; check usage.path in the configuration"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"usage file {path} is not a readable UTF-8 CSV: {exc}") from None
    except pd.errors.EmptyDataError:
        raise InputError(
            f"usage file {path} is empty; it needs a header row "
            f"({KEY_COLUMN},{MONTH_COLUMN},...) and one row per account and "
            "month"
        ) from None
    missing = [c for c in (KEY_COLUMN, MONTH_COLUMN, *METRIC_COLUMNS) if c not in raw.columns]
    if missing:
        raise InputError(
            f"usage file {path}: missing column(s) {', '.join(missing)}; the "
            f"header must name {KEY_COLUMN}, {MONTH_COLUMN}, "
            f"{', '.join(METRIC_COLUMNS)}"
        )
    if raw.empty:
        raise InputError(f"usage file {path} has a header but no rows")
    problems: list[UsageProblem] = []
    lines = pd.Series(range(2, len(raw) + 2), index=raw.index)
    bad = pd.Series(False, index=raw.index)

    keys = raw[KEY_COLUMN].str.strip()
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

    months = pd.to_datetime(raw[MONTH_COLUMN].str.strip(), format="%Y-%m", errors="coerce")
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
    for column in METRIC_COLUMNS:
        text = raw[column].str.strip()
        values = pd.to_numeric(text.where(text != ""), errors="coerce")
        wrong = values.isna() & (text != "")
        negative = values < 0
        for index in raw.index[wrong | negative]:
            problems.append(
                UsageProblem(
                    int(lines[index]),
                    column,
                    keys[index] or None,
                    f"{raw.at[index, column]!r} is not a non-negative number",
                )
            )
        bad |= wrong | negative
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
            f"usage file {path}: {len(problems)} bad row(s); nothing was "
            f'used (usage.on_bad_rows = "stop"):\n{listed}{more}'
        )
    return UsageTable(frame=clean[~bad].reset_index(drop=True), problems=problems, source=str(path))
