"""Per-account features of any monthly usage metric: the functions the domain's health scores
are made of (last month, totals and trends, months without it, its season against the last
one, months until it first reached a level), each one numpy pass over the usage rows.

A blank cell is a value nobody knows, never a zero: a function whose window holds one gives
no value (NaN) for that account, and a measure then counts it as missing data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd

from cs_sync.rules.calendar import month_numbers

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
PART_ROWS = 1 << 18  # usage rows converted at a time where a conversion needs copies
SEASON_SPAN = 24  # a season begun within 12 months, and the same months a year before


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


def positions(index: pd.Index, keys: pd.Series, dtype: type = np.int64) -> np.ndarray:
    """Each key's position in `index` (-1 where absent), as `dtype`. Rows of one account
    usually come together, so only the first key of each run is looked up."""
    if isinstance(keys.dtype, pd.CategoricalDtype):  # a code a row: each key looked up once
        found: np.ndarray = np.append(index.get_indexer(keys.cat.categories), -1).astype(dtype)
        return found[keys.cat.codes.to_numpy()]  # a missing key's code (-1) reads the -1
    values = keys.to_numpy(dtype=object)
    if len(values) == 0:
        return np.empty(0, dtype=dtype)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    found = index.get_indexer(values[starts]).astype(dtype)
    return np.repeat(found, np.diff(np.append(starts, len(values))))


def parts(length: int, size: int = PART_ROWS) -> list[slice]:
    """The rows `0..length` as slices of `size`: a conversion or a lookup that copies its
    rows takes a part at a time, never a copy of a million accounts' usage at once."""
    return [slice(start, start + size) for start in range(0, length, size)]


def month_number(stamps: pd.Series, dtype: type = float) -> np.ndarray:
    """Months since 1970-01, for month arithmetic: floats with NaN where the date is missing,
    or `dtype` int32 (usage rows, which always have a month: 4 bytes a row, not 8). A part
    of the rows at a time: the conversion takes five arrays of its rows' length at once (70
    MB at 100,000 accounts' usage, were they taken whole)."""
    out: np.ndarray = np.empty(len(stamps), dtype=dtype)
    missing = np.nan if out.dtype.kind == "f" else np.iinfo(out.dtype).min
    for part in parts(len(stamps)):
        values = stamps.iloc[part].to_numpy(dtype="datetime64[ns]")
        numbers: np.ndarray = month_numbers(values.astype("datetime64[D]")).astype(dtype)
        numbers[np.isnat(values)] = missing
        out[part] = numbers
    return out


class Metric:
    """One usage column on the usage rows (float32, NaN where the cell was blank); `grid` is
    set by PerAccount.grid the first time a window function reads it."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.grid: np.ndarray | None = None

    @cached_property
    def blank(self) -> np.ndarray:
        return np.isnan(self.values)


def months_needed(feature: MetricFeature) -> int:
    """How many months back from the last complete month `feature` reads (its grid span);
    0 for the functions that read the whole history from the rows."""
    if feature.function == "trend":
        return 2 * feature.months
    if feature.function in ("total", "average"):
        return feature.months
    if feature.function == "months_without":
        return MAX_MISSING_MONTHS
    if feature.function in SEASON_FUNCTIONS:
        return SEASON_SPAN
    return 1 if feature.function == "last" else 0


class PerAccount:
    """Usage rows by account position (an index into the accounts table), up to the last
    complete month `last`. Functions over the whole history make single numpy passes over
    the rows; windows of recent months read a grid of accounts × the `span` months ending with
    `last` (a row's cell; no row: 0 and not present), so a window total is a sum over a few
    columns rather than a pass over every row: a million accounts take seconds."""

    def __init__(self, accounts: pd.Index, usage: pd.DataFrame, last: int, span: int) -> None:
        # 32-bit positions, months and metrics keep a million accounts' usage well under
        # a gigabyte; counts stay exact (below 16 million) and sums are taken in 64 bits.
        position = positions(accounts, usage["account_id"], np.int32)
        self.known = position >= 0
        self.all_known = bool(self.known.all())
        self.size = len(accounts)
        self.position = position if self.all_known else position[self.known]
        del position
        month = month_number(usage["month"], np.int32)
        self.month = month if self.all_known else month[self.known]
        del month
        self.usage = usage
        self.last = last
        self.past = self.month <= last
        self.months_used = self.count(self.past)  # rows up to the last complete month
        self.no_usage = self.months_used == 0
        # the grid: the span's months, or fewer when the usage begins later
        earliest = int(self.month.min()) if len(self.month) else last
        self.first = max(last - max(span, 1) + 1, min(earliest, last))
        self.cut_short = self.first > earliest  # rows before the grid exist
        width = last - self.first + 1
        in_grid = self.past & (self.month >= self.first)
        self._in_grid = None if in_grid.all() else in_grid  # None: every row
        # a cell's number in the grid, 32 bits while the grid is smaller than 2**31 cells
        kind = np.int32 if self.size * width < 2**31 else np.int64
        self._cells = np.empty(int(np.count_nonzero(in_grid)), dtype=kind)
        at = 0
        for part in parts(len(self.month)):
            position = self._in_grid_part(self.position, part).astype(kind)
            month = self._in_grid_part(self.month, part).astype(kind)
            self._cells[at : at + len(month)] = position * width + (month - self.first)
            at += len(month)
        present = np.zeros(self.size * width, dtype=bool)
        present[self._cells] = True
        # keys mapped together: fewer cells hold a row than there are rows
        self._repeated = int(np.count_nonzero(present)) < len(self._cells)
        self.present = present.reshape(self.size, width)
        self._columns: dict[str, Metric] = {}  # each column prepared once

    def column(self, name: str) -> Metric:
        if name not in self._columns:
            values = self.usage[name]
            if not pd.api.types.is_numeric_dtype(values):
                values = pd.to_numeric(values, errors="coerce")
            array = values.to_numpy(dtype=np.float32)
            self._columns[name] = Metric(array if self.all_known else array[self.known])
        return self._columns[name]

    def forget(self, names: set[str]) -> None:
        """Let these columns (and their grids) go: no feature left to compute reads them, and
        on a large book each holds hundreds of megabytes."""
        for name in names:
            self._columns.pop(name, None)

    def grid(self, metric: Metric) -> np.ndarray:
        """accounts × months: the cell's value (NaN when blank), 0 where no row."""
        if metric.grid is None:
            width = self.present.shape[1]
            if self._repeated:  # several rows in one cell add up, as everywhere else
                values = metric.values if self._in_grid is None else metric.values[self._in_grid]
                flat = np.bincount(self._cells, weights=values, minlength=self.size * width)
                cells = flat.astype(np.float32)
            else:
                cells = np.zeros(self.size * width, dtype=np.float32)
                at = 0
                for part in parts(len(metric.values)):
                    values = self._in_grid_part(metric.values, part)
                    cells[self._cells[at : at + len(values)]] = values
                    at += len(values)
            metric.grid = cells.reshape(self.size, width)
        return metric.grid

    def columns(self, first: int, last: int) -> slice:
        """The grid's columns of months `first` to `last` (months before the usage began have
        no column: nothing was used then)."""
        if first < self.first and self.cut_short:
            raise ValueError(f"month {first} is before the grid's first month {self.first}")
        return slice(max(first - self.first, 0), max(last - self.first + 1, 0))

    def _in_grid_part(self, values: np.ndarray, part: slice) -> np.ndarray:
        """A part of a row array, only its rows in the grid."""
        return values[part] if self._in_grid is None else values[part][self._in_grid[part]]

    def _chosen(self, rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions, months) of the `rows` chosen, a part of the rows at a time."""
        for part in parts(len(rows), 8 * PART_ROWS):
            yield self.position[part][rows[part]], self.month[part][rows[part]]

    def count(self, rows: np.ndarray) -> np.ndarray:
        """How many of `rows` each account has (counted a part at a time: numpy counts in
        64 bits, a copy of twice the 32-bit positions were they taken whole)."""
        out = np.zeros(self.size, dtype=np.int64)
        for part in parts(len(rows), 8 * PART_ROWS):
            out += np.bincount(self.position[part][rows[part]], minlength=self.size)
        return out

    def latest(self, metric: Metric) -> np.ndarray:
        """The value in each account's row of the last complete month, else NaN. Read off
        the rows of that month when the metric has no grid yet (seats and active users need
        no other month: their grids would be 80 MiB each at a million accounts); several
        rows in one cell add up in 64 bits and are kept in 32, as in the grid."""
        if metric.grid is None:
            cells = np.zeros(self.size, dtype=np.float64)
            for part in parts(len(metric.values), 8 * PART_ROWS):
                chosen = self.month[part] == self.last
                np.add.at(cells, self.position[part][chosen], metric.values[part][chosen])
            found = cells.astype(np.float32)
        else:
            found = metric.grid[:, -1]
        return np.where(self.present[:, -1], found, np.nan)

    def last_month(self, rows: np.ndarray) -> np.ndarray:
        """Each account's latest month number among `rows`; -1 where none."""
        out = np.full(self.size, -1, dtype=np.int32)
        for position, month in self._chosen(rows):
            np.maximum.at(out, position, month)
        return out

    def first_month(self, rows: np.ndarray) -> np.ndarray:
        """Each account's earliest month number among `rows`; a huge number where none."""
        out = np.full(self.size, np.iinfo(np.int32).max, dtype=np.int32)
        for position, month in self._chosen(rows):
            np.minimum.at(out, position, month)
        return out


def _last_column(cells: np.ndarray) -> np.ndarray:
    """Each row's last True column, -1 where none."""
    found = cells.any(axis=1)
    last = cells.shape[1] - 1 - np.argmax(cells[:, ::-1], axis=1)
    return np.where(found, last, -1)


def window_total(rows: PerAccount, metric: Metric, months: int, end: int) -> np.ndarray:
    """The metric summed over `months` months ending with `end`; a month without a row counts
    as nothing used, a blank cell makes the total unknown, and so does having no usage."""
    cells = rows.grid(metric)[:, rows.columns(end - months + 1, end)]
    total = cells.sum(axis=1, dtype=np.float64)  # NaN where a cell is blank
    return np.where(rows.no_usage, np.nan, total)


def trend(rows: PerAccount, metric: Metric, months: int) -> np.ndarray:
    """The last `months` complete months against the `months` before (1.0: held); unknown
    without a full earlier window, with a blank cell, or when the earlier total is 0."""
    recent_from = rows.last - months + 1
    prior_rows = rows.present[:, rows.columns(recent_from - months, recent_from - 1)]
    recent = window_total(rows, metric, months, rows.last)
    prior = window_total(rows, metric, months, recent_from - 1)
    full_prior = prior_rows.sum(axis=1) == months
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = recent / np.where(prior > 0, prior, np.nan)
    return np.where(full_prior, ratio, np.nan)


def months_without(
    rows: PerAccount, metric: Metric, cap: int | None = MAX_MISSING_MONTHS
) -> np.ndarray:
    """How many months in a row, ending with the last complete month, the metric was zero or
    not reported (at most `cap`; None: back to the first usage row, and never used is
    unknown). Unknown for accounts without usage, and where a blank cell comes after the
    latest month of use: the count cannot be told."""
    if cap is None:  # the whole history: the rows
        latest_use = rows.last_month(rows.past & (metric.values > 0))
        latest_blank = rows.last_month(rows.past & metric.blank)
        months = np.where(latest_use >= 0, rows.last - latest_use, np.nan).astype(float)
    else:
        window = rows.columns(rows.last - cap + 1, rows.last)
        cells = rows.grid(metric)[:, window]
        first = rows.last - cells.shape[1] + 1  # the month of the window's first column
        latest_use = _last_column(cells > 0) + first
        latest_blank = _last_column(np.isnan(cells)) + first
        used = latest_use >= first
        months = np.where(used, rows.last - latest_use, cap).astype(float)
        latest_use = np.where(used, latest_use, -1)
        latest_blank = np.where(latest_blank >= first, latest_blank, -1)
    months[rows.no_usage | (latest_blank > latest_use)] = np.nan
    return months


@dataclass(frozen=True)
class Season:
    """The metric's season this year so far against the same months a year earlier."""

    this: np.ndarray  # this season's total so far (NaN when unknown)
    last: np.ndarray  # last season's total (NaN without data)
    dropped: np.ndarray  # 1: used last season, not this one, season over; 0: used again
    days_to_next: int  # days from the run date to the next season's first day


def season(rows: PerAccount, metric: Metric, months: tuple[int, ...], as_of: date) -> Season:
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
    grid = rows.grid(metric)

    def cells_of(months: list[int]) -> list[int]:
        return [rows.columns(m, m).start for m in months if m >= rows.first]

    current, before = cells_of(this_season), cells_of([m - 12 for m in this_season])
    this = grid[:, current].sum(axis=1, dtype=np.float64)  # NaN: a blank cell this season
    previous = grid[:, before].sum(axis=1, dtype=np.float64)
    had_data = rows.present[:, before].any(axis=1) & ~np.isnan(previous)
    unknown = rows.no_usage | np.isnan(this)  # this season cannot be told
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
    rows: PerAccount, metric: Metric, level: float, start: np.ndarray
) -> np.ndarray:
    """Months from the contract's start month to the first month the metric reached `level`
    (time to value). Not reached yet: the months so far (it has taken at least that long);
    unknown without usage or a start date."""
    reached = rows.first_month(rows.past & (metric.values >= level)).astype(float)
    reached[reached > rows.last] = np.nan
    so_far = rows.last + 1 - start
    months = np.where(np.isnan(reached), so_far, reached - start)
    months = np.maximum(months, 0)
    return np.where(rows.no_usage | np.isnan(start), np.nan, months)


def metric_feature(
    rows: PerAccount, feature: MetricFeature, start: np.ndarray, as_of: date
) -> np.ndarray:
    """One MetricFeature's value for every account."""
    metric = rows.column(feature.metric)
    function = feature.function
    if function == "last":
        return np.where(rows.no_usage, np.nan, rows.latest(metric))
    if function in ("total", "average"):
        total = window_total(rows, metric, feature.months, rows.last)
        return total if function == "total" else total / feature.months
    if function == "trend":
        return trend(rows, metric, feature.months)
    if function == "months_without":
        return months_without(rows, metric)
    if function == "months_since_use":
        return months_without(rows, metric, cap=None)
    if function == "months_to_level":
        return months_to_level(rows, metric, feature.level, start)
    seasonal = season(rows, metric, feature.season, as_of)
    if function == "season_total":
        return seasonal.this
    if function == "season_dropped":
        return seasonal.dropped
    with np.errstate(divide="ignore", invalid="ignore"):  # season_change
        return seasonal.this / np.where(seasonal.last > 0, seasonal.last, np.nan)
