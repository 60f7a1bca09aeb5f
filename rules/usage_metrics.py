"""Per-account features of any monthly usage metric: the functions the domain's health scores
are made of (last month, totals and trends, months without it, its season against the last
one, months until it first reached a level), each one numpy pass over the usage rows.

A blank cell is a value nobody knows, never a zero: a function whose window holds one gives
no value (NaN) for that account, and a measure then counts it as missing data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

Function = Literal[
    "last",
    "total",
    "average",
    "trend",
    "months_without",
    "months_since_use",
    "season_total",
    "season_change",
    "season_dropped",
    "months_to_level",
]
SEASON_FUNCTIONS = ("season_total", "season_change", "season_dropped")
MAX_MISSING_MONTHS = 12  # months_without counts at most this far back


@dataclass(frozen=True)
class MetricFeature:
    """A feature computed from one usage metric: `function` over `months` (total, average,
    trend), `season` (the season functions) or `level` (months_to_level)."""

    name: str
    metric: str
    function: Function = "last"
    months: int = 3
    season: tuple[int, ...] = ()
    level: float = 1.0


def positions(index: pd.Index, keys: pd.Series) -> np.ndarray:
    """Each key's position in `index` (-1 where absent). Rows of one account usually come
    together, so only the first key of each run is looked up."""
    values = keys.to_numpy(dtype=object)
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    found = index.get_indexer(values[starts])
    return np.repeat(found, np.diff(np.append(starts, len(values))))


def month_number(stamps: pd.Series) -> np.ndarray:
    """Months since 1970-01 (NaN where the date is missing), for month arithmetic."""
    values = stamps.to_numpy(dtype="datetime64[ns]")
    numbers = values.astype("datetime64[M]").astype(np.int64).astype(float)
    numbers[np.isnat(values)] = np.nan
    return numbers


class PerAccount:
    """Usage rows grouped by account position (an index into the accounts table), up to the
    last complete month `last`: the aggregations are single numpy passes, so a million
    accounts take seconds."""

    def __init__(self, accounts: pd.Index, usage: pd.DataFrame, last: int) -> None:
        # 32-bit positions, months and metrics keep a million accounts' usage well under
        # a gigabyte; counts stay exact (below 16 million) and sums are taken in 64 bits.
        position = positions(accounts, usage["account_id"]).astype(np.int32)
        self.known = position >= 0
        self.size = len(accounts)
        self.position = position[self.known]
        month = usage["month"].to_numpy(dtype="datetime64[M]")[self.known]
        self.month = month.astype(np.int64).astype(np.int32)
        self.usage = usage
        self.last = last
        self.past = self.month <= last
        self.no_usage = self.count(self.past) == 0
        # several features read the same metric over the same months: each column and each
        # window is worked out once (a million accounts' rows are large)
        self._columns: dict[str, np.ndarray] = {}
        self._windows: dict[tuple[int, int], np.ndarray] = {}

    def column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            values = self.usage[name]
            if not pd.api.types.is_numeric_dtype(values):
                values = pd.to_numeric(values, errors="coerce")
            self._columns[name] = values.to_numpy(dtype=np.float32)[self.known]
        return self._columns[name]

    def count(self, rows: np.ndarray) -> np.ndarray:
        return np.bincount(self.position[rows], minlength=self.size)

    def total(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.bincount(self.position[rows], weights=values[rows], minlength=self.size)

    def latest(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The value in each account's row among `rows` (one per account), else NaN."""
        out = np.full(self.size, np.nan)
        out[self.position[rows]] = values[rows]
        return out

    def last_month(self, rows: np.ndarray) -> np.ndarray:
        """Each account's latest month number among `rows`; -1 where none."""
        out = np.full(self.size, -1, dtype=np.int32)
        np.maximum.at(out, self.position[rows], self.month[rows])
        return out

    def first_month(self, rows: np.ndarray) -> np.ndarray:
        """Each account's earliest month number among `rows`; a huge number where none."""
        out = np.full(self.size, np.iinfo(np.int32).max, dtype=np.int32)
        np.minimum.at(out, self.position[rows], self.month[rows])
        return out

    def window(self, first: int, last: int) -> np.ndarray:
        if (first, last) not in self._windows:
            self._windows[(first, last)] = (self.month >= first) & (self.month <= last)
        return self._windows[(first, last)]

    def blank_in(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Accounts with a blank (unknown) cell among `rows`."""
        return self.count(rows & np.isnan(values)) > 0


def window_total(rows: PerAccount, values: np.ndarray, months: int, end: int) -> np.ndarray:
    """The metric summed over `months` months ending with `end`; a month without a row counts
    as nothing used, a blank cell makes the total unknown, and so does having no usage."""
    window = rows.window(end - months + 1, end)
    total = rows.total(np.nan_to_num(values), window)
    return np.where(rows.no_usage | rows.blank_in(values, window), np.nan, total)


def trend(rows: PerAccount, values: np.ndarray, months: int) -> np.ndarray:
    """The last `months` complete months against the `months` before (1.0: held); unknown
    without a full earlier window, with a blank cell, or when the earlier total is 0."""
    recent_from = rows.last - months + 1
    prior_rows = rows.window(recent_from - months, recent_from - 1)
    recent = window_total(rows, values, months, rows.last)
    prior = window_total(rows, values, months, recent_from - 1)
    full_prior = rows.count(prior_rows) == months
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = recent / np.where(prior > 0, prior, np.nan)
    return np.where(full_prior, ratio, np.nan)


def months_without(
    rows: PerAccount, values: np.ndarray, cap: int | None = MAX_MISSING_MONTHS
) -> np.ndarray:
    """How many months in a row, ending with the last complete month, the metric was zero or
    not reported (at most `cap`; None: back to the first usage row, and never used is
    unknown). Unknown for accounts without usage, and where a blank cell comes after the
    latest month of use: the count cannot be told."""
    window = rows.past & (rows.month > rows.last - cap) if cap else rows.past
    latest_use = rows.last_month(window & (values > 0))
    latest_blank = rows.last_month(window & np.isnan(values))
    never = cap if cap else np.nan
    months = np.where(latest_use >= 0, rows.last - latest_use, never).astype(float)
    months[rows.no_usage | (latest_blank > latest_use)] = np.nan
    return months


@dataclass(frozen=True)
class Season:
    """The metric's season this year so far against the same months a year earlier."""

    this: np.ndarray  # this season's total so far (NaN when unknown)
    last: np.ndarray  # last season's total (NaN without data)
    dropped: np.ndarray  # 1: used last season, not this one, season over; 0: used again
    days_to_next: int  # days from the run date to the next season's first day


def season(
    rows: PerAccount, values_raw: np.ndarray, months: tuple[int, ...], as_of: date
) -> Season:
    """`dropped` is missing when there is nothing to judge (not used last season, or the
    season still under way without a use so far)."""
    first = months[0]
    offsets = [(m - first) % 12 for m in months]  # months after the season's first month
    last = rows.last
    start = (last // 12) * 12 + (first - 1)
    if start > last:
        start -= 12  # the latest season that has begun by the last complete month
    this_season = [start + k for k in offsets if start + k <= last]
    season_over = start + max(offsets) <= last
    values = np.nan_to_num(values_raw)
    current = np.isin(rows.month, this_season)
    this = rows.total(values, current)
    before = np.isin(rows.month, [m - 12 for m in this_season])
    previous = rows.total(values, before)
    blank = np.isnan(values_raw)
    had_data = (rows.count(before) > 0) & (rows.count(before & blank) == 0)
    unknown = rows.no_usage | (rows.count(current & blank) > 0)  # this season cannot be told
    used_before = had_data & (previous > 0)
    dropped = np.where(this > 0, 0.0, 1.0 if season_over else np.nan)
    dropped = np.where(unknown, np.nan, dropped)
    next_start = date(as_of.year, first, 1)
    if next_start <= as_of:
        next_start = date(as_of.year + 1, first, 1)
    return Season(
        this=np.where(unknown, np.nan, this),
        last=np.where(had_data, previous, np.nan),
        dropped=np.where(used_before, dropped, np.nan),
        days_to_next=(next_start - as_of).days,
    )


def months_to_level(
    rows: PerAccount, values: np.ndarray, level: float, start: np.ndarray
) -> np.ndarray:
    """Months from the contract's start month to the first month the metric reached `level`
    (time to value). Not reached yet: the months so far (it has taken at least that long);
    unknown without usage or a start date."""
    reached = rows.first_month(rows.past & (values >= level)).astype(float)
    reached[reached > rows.last] = np.nan
    so_far = rows.last + 1 - start
    months = np.where(np.isnan(reached), so_far, reached - start)
    months = np.maximum(months, 0)
    return np.where(rows.no_usage | np.isnan(start), np.nan, months)


def metric_feature(
    rows: PerAccount, feature: MetricFeature, start: np.ndarray, as_of: date
) -> np.ndarray:
    """One MetricFeature's value for every account."""
    values = rows.column(feature.metric)
    function = feature.function
    if function == "last":
        return np.where(rows.no_usage, np.nan, rows.latest(values, rows.month == rows.last))
    if function in ("total", "average"):
        total = window_total(rows, values, feature.months, rows.last)
        return total if function == "total" else total / feature.months
    if function == "trend":
        return trend(rows, values, feature.months)
    if function == "months_without":
        return months_without(rows, values)
    if function == "months_since_use":
        return months_without(rows, values, cap=None)
    if function == "months_to_level":
        return months_to_level(rows, values, feature.level, start)
    seasonal = season(rows, values, feature.season, as_of)
    if function == "season_total":
        return seasonal.this
    if function == "season_dropped":
        return seasonal.dropped
    with np.errstate(divide="ignore", invalid="ignore"):  # season_change
        return seasonal.this / np.where(seasonal.last > 0, seasonal.last, np.nan)
