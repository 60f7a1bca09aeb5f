"""Array helpers the rules share: work done once per distinct value, not once per row."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd


def lookup(keys: pd.Series, table: Mapping[Any, float], missing: float = np.nan) -> np.ndarray:
    """`table[key]` for each row as floats (`missing` where the key is absent or blank). The
    keys are factorized first, so a million rows of a few picklist values cost one pass,
    not a dictionary look-up per row."""
    codes, distinct = pd.factorize(keys, use_na_sentinel=True)
    values = np.array([table.get(key, missing) for key in distinct] + [missing], dtype=float)
    return values[codes]  # the sentinel -1 reads the trailing `missing`


def shared_texts(
    frame: pd.DataFrame, sample: int = 1000, columns: list[str] | None = None
) -> pd.DataFrame:
    """The frame with each text column (of `columns`, default all) whose values repeat
    (picklists, dates as text) holding one object per distinct value, every row pointing at
    it: 8 bytes a row instead of a string of 50 or more. Values, missing values and dtypes
    stay as they were. A column whose spread sample of `sample` rows is nearly all distinct
    (over nine in ten: ids, names) is left alone, so it costs no pass; dates as text (a few
    thousand days over a hundred thousand rows) are shared. Reads from the local copy's file
    give each row its own string, where pandas' CSV parser shares them: the rules stage's
    million accounts hold 0.3 GiB less."""
    out = frame.copy(deep=False)
    for column in frame.columns if columns is None else columns:
        values = frame[column]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
            continue
        probe = values.iloc[:: max(1, len(values) // sample)].dropna()
        if len(probe) == 0 or probe.nunique() * 10 > len(probe) * 9:
            continue
        out[column] = shared_values(values)
    return out


def shared_values(values: pd.Series, held: pd.Index | None = None) -> pd.Series:
    """The column with each distinct value held by one object that every row holding it
    points at (values, missing values, dtype and index unchanged). With `held` (unique
    values held elsewhere: an object's ids), a value among them points at that object
    instead, so a parent's id read on every child is one string in the whole run."""
    codes, distinct = pd.factorize(values)
    if held is not None and len(distinct):
        at = held.get_indexer(distinct)
        objects = np.asarray(distinct, dtype=object).copy()
        found = at >= 0
        objects[found] = held.to_numpy(dtype=object)[at[found]]
        out = values.to_numpy(dtype=object).copy()
        present = codes >= 0
        out[present] = objects[codes[present]]
        return pd.Series(out, index=values.index, dtype=values.dtype, name=values.name)
    rows = np.arange(len(codes))
    present_rows = np.flatnonzero(codes >= 0)
    holder = np.zeros(len(distinct), dtype=np.int64)
    holder[codes[present_rows]] = present_rows  # some row holding each value (which: no matter)
    # each row points at its value's holder; a missing value at itself
    pointed = np.where(codes >= 0, holder[np.maximum(codes, 0)] if len(holder) else 0, rows)
    return values.take(pointed).set_axis(values.index)


def owned(values: pd.Series, dtype: Any = None) -> np.ndarray:
    """The column's values in an array of their own. A column's `to_numpy()` can be a view
    into its frame's two-dimensional block (pandas keeps columns of one dtype together), and
    a view keeps the whole block alive: a table made of views of a read's columns would hold
    every column read, ids no rule uses among them (half a million strings at 100,000
    accounts). Copying the pointers costs 8 bytes a row, once."""
    return values.to_numpy(dtype=dtype, copy=True)


def owned_columns(rows: pd.DataFrame, **paths: str) -> dict[str, np.ndarray]:
    """A table's columns (name = the read's column) from a read's rows, each `owned`."""
    return {name: owned(rows[path]) for name, path in paths.items()}


def per_distinct(values: np.ndarray, convert: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`convert(values)` worked out once per distinct value and shared by the rows holding
    it: dates as text or as `date` objects for half a million steps cost a few hundred
    objects, not one a row."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return np.asarray(convert(distinct), dtype=object)[inverse.reshape(-1)]
