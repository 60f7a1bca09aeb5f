"""A table's cells as the Sheets API is sent them: numbers as numbers, dates as YYYY-MM-DD
text, a missing value as an empty cell, and text that a spreadsheet would run as a formula
made inert (also once the sheet is downloaded as CSV).

`cell_value` says it for one value; `frame_rows` does it a column at a time (a float, int,
bool or date column in one numpy or pandas pass, any other column once per distinct value),
which is what a 100,000-row tab needs, with the same result as `cell_value` on every cell;
`TabRows` gives the same rows a part at a time, as they are read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, overload

import numpy as np
import pandas as pd

from cs_sync.connectors.formula_safe import neutralise

PART_ROWS = 20_000  # a tab's rows made into API values this many at a time


def cell_value(value: Any) -> Any:
    """One value as the API is sent it."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return ""
    if isinstance(value, datetime | pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool | int | float):
        return value
    return neutralise(str(value))


def column_values(column: pd.Series) -> list[Any]:
    """A column's cells as the API is sent them (cell_value of each)."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) and dtype == np.bool_:
        return column.tolist()
    if pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
        return column.tolist()
    if pd.api.types.is_float_dtype(dtype) and isinstance(dtype, np.dtype):
        values = column.to_numpy()
        cells = values.astype(object)
        cells[~np.isfinite(values)] = ""
        return cells.tolist()
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return column.dt.strftime("%Y-%m-%d").fillna("").tolist()
    values = column.to_numpy(dtype=object)
    kinds = set(map(type, values))
    numbers = {
        kind for kind in kinds if issubclass(kind, bool | int | float | np.number | np.bool_)
    }
    if len(numbers) > 1:  # 1, 1.0 and True are one value to factorize, not to the API
        return [cell_value(value) for value in values.tolist()]
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # a value that cannot be hashed: one at a time
        return [cell_value(value) for value in values.tolist()]
    converted = np.empty(len(uniques) + 1, dtype=object)
    converted[:-1] = [cell_value(value) for value in uniques]
    converted[-1] = ""  # code -1: a missing value
    return converted[codes].tolist()


def frame_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """The header, then every row as API values."""
    columns = [column_values(frame.iloc[:, i]) for i in range(frame.shape[1])]
    rows = [list(map(str, frame.columns))]
    rows.extend(map(list, zip(*columns, strict=True)))
    return rows


class TabRows(Sequence[list[Any]]):
    """A tab's rows as `frame_rows` gives them (the header, then each row as API values),
    made `part` rows at a time as they are read, the last part kept for the next read: a
    100,000-row tab's cells are never all Python objects at once (they were over 100 MB at
    100,000 accounts, for each of the accounts and health tabs)."""

    def __init__(self, frame: pd.DataFrame, part: int = PART_ROWS) -> None:
        self.frame = frame
        self.part = part
        self.width = frame.shape[1] or 1  # every row is as wide as the header
        self._header = list(map(str, frame.columns))
        self._last: tuple[int, list[list[Any]]] = (-1, [])

    def __len__(self) -> int:
        return len(self.frame) + 1

    def _rows(self, part: int) -> list[list[Any]]:
        if self._last[0] != part:
            start = part * self.part
            self._last = (part, frame_rows(self.frame.iloc[start : start + self.part])[1:])
        return self._last[1]

    @overload
    def __getitem__(self, index: int) -> list[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[list[Any]]: ...

    def __getitem__(self, index: int | slice) -> list[Any] | list[list[Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        if index == 0:
            return self._header
        part, at = divmod(index - 1, self.part)
        return self._rows(part)[at]

    def rows_at(self, places: np.ndarray) -> list[list[Any]]:
        """The rows at these positions (0: the header), made at once from just those rows:
        a refresh that records a few changed rows makes no other row."""
        picked = places[places > 0] - 1
        made = iter(frame_rows(self.frame.iloc[picked])[1:])
        return [self._header if place == 0 else next(made) for place in places.tolist()]

    def __iter__(self) -> Iterator[list[Any]]:
        yield self._header
        for part in range(-(-len(self.frame) // self.part)):
            yield from self._rows(part)
