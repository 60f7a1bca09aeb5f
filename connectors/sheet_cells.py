"""A table's cells as the Sheets API is sent them: numbers as numbers, dates as YYYY-MM-DD
text, a missing value as an empty cell, and text that a spreadsheet would run as a formula
made inert (also once the sheet is downloaded as CSV).

`cell_value` says it for one value; `frame_rows` does it a column at a time (a float, int,
bool or date column in one numpy or pandas pass, any other column once per distinct value),
which is what a 100,000-row tab needs, with the same result as `cell_value` on every cell.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from cs_sync.connectors.formula_safe import neutralise


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
