"""The values of the expression language: column-wise operations with missing data as
"unknown" (three-valued logic), and the functions a condition or feature may call.

Every operation takes pandas Series or scalars that broadcast, and never raises on missing
data: arithmetic with a missing value is missing, a comparison with one is unknown.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

Value = Any  # a pandas Series, or a scalar that broadcasts


def is_missing(value: Value) -> Value:
    if isinstance(value, pd.Series):
        return value.isna()
    return value is None or (isinstance(value, float) and np.isnan(value))


def as_bool(value: Value) -> Value:
    """A three-valued boolean: pandas' nullable "boolean" (True / False / <NA>)."""
    if isinstance(value, pd.Series):
        if value.dtype == "boolean":
            return value
        if is_text(value):
            raise TypeError("text is not true / false")
        missing = value.isna()
        result = value.fillna(0).astype(bool).astype("boolean")
        result[missing] = pd.NA
        return result
    if is_missing(value) or value is pd.NA:
        return pd.NA
    return bool(value)


def as_number(value: Value) -> Value:
    if isinstance(value, pd.Series):
        if value.dtype == "boolean":
            return value.astype("Float64").astype(float)
        if value.dtype == bool:
            return value.astype(float)
        try:
            return pd.to_numeric(value, errors="raise").astype(float)
        except (ValueError, TypeError):
            sample = value.dropna().iloc[0] if value.notna().any() else ""
            raise TypeError(f"text such as {sample!r} is not a number") from None
    if value is None or value is pd.NA:
        return np.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"the text {value!r} is not a number")


def where(condition: Value, then: Value, otherwise: Value) -> Value:
    cond = as_bool(condition)
    if not isinstance(cond, pd.Series):
        return then if cond is True else otherwise
    mask = cond.fillna(False).to_numpy(dtype=bool)
    index = cond.index
    left = then.to_numpy() if isinstance(then, pd.Series) else then
    right = otherwise.to_numpy() if isinstance(otherwise, pd.Series) else otherwise
    return pd.Series(np.where(mask, left, right), index=index).infer_objects()


def compare(
    op: Callable[[Any, Any], Any],
    left: Value,
    right: Value,
    missing_of: Callable[[Value], Any] = lambda v: np.asarray(is_missing(v)),
) -> Value:
    if not isinstance(left, pd.Series) and not isinstance(right, pd.Series):
        if is_missing(left) or is_missing(right):
            return pd.NA
        return bool(op(left, right))
    numeric_left = isinstance(left, pd.Series) and pd.api.types.is_numeric_dtype(left)
    if numeric_left and isinstance(right, str):
        raise TypeError(f"cannot compare numbers with the text {right!r}")
    index = left.index if isinstance(left, pd.Series) else right.index
    missing = missing_of(left) | missing_of(right)
    with np.errstate(invalid="ignore"):
        raw = op(left, right)
    values = np.asarray(raw.to_numpy(dtype=bool, na_value=False), dtype=bool)
    mask = np.broadcast_to(missing, values.shape).copy()
    return pd.Series(pd.arrays.BooleanArray(values, mask), index=index)


def equal_text(
    codes: np.ndarray, distinct: np.ndarray, text: str, negate: bool, index: pd.Index
) -> pd.Series:
    """`column == text` (or !=) from the column's codes: missing where the column is."""
    hits = np.append(distinct == text, False)  # code -1 (missing) reads the last entry
    values = hits[codes] != negate
    return pd.Series(pd.arrays.BooleanArray(values, codes < 0), index=index)


def membership(
    left: Value,
    choices: list[Any],
    negate: bool,
    missing_of: Callable[[Value], Any] = lambda v: np.asarray(is_missing(v)),
) -> Value:
    if isinstance(left, pd.Series):
        values = left.isin(choices).to_numpy(dtype=bool)
        mask = np.asarray(missing_of(left), dtype=bool).copy()
        result = pd.Series(pd.arrays.BooleanArray(values, mask), index=left.index)
        return ~result if negate else result
    if is_missing(left):
        return pd.NA
    return (left not in choices) if negate else (left in choices)


def is_text(value: Value) -> bool:
    if isinstance(value, pd.Series):
        return not pd.api.types.is_numeric_dtype(value) and value.dtype != "boolean"
    return isinstance(value, str)


def _divide(left: Value, right: Value) -> Value:
    with np.errstate(divide="ignore", invalid="ignore"):
        result = as_number(left) / as_number(right)
    if isinstance(result, pd.Series):
        return result.replace([np.inf, -np.inf], np.nan)
    return result if np.isfinite(result) else np.nan


def _arith(op: Callable[[Any, Any], Any]) -> Callable[[Value, Value], Value]:
    def apply(left: Value, right: Value) -> Value:
        if op is operator.add and is_text(left) and is_text(right):
            return left + right
        with np.errstate(all="ignore"):
            result = op(as_number(left), as_number(right))
        if isinstance(result, pd.Series):
            return result.replace([np.inf, -np.inf], np.nan)
        return result

    return apply


BINARY: dict[type, Callable[[Value, Value], Value]] = {
    ast.Add: _arith(operator.add),
    ast.Sub: _arith(operator.sub),
    ast.Mult: _arith(operator.mul),
    ast.Div: _divide,
    ast.FloorDiv: _arith(operator.floordiv),
    ast.Mod: _arith(operator.mod),
    ast.Pow: _arith(operator.pow),
}
COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def _series_of(values: Iterable[Value], index: pd.Index) -> list[pd.Series]:
    return [
        v.astype(float) if isinstance(v, pd.Series) else pd.Series(v, index=index, dtype=float)
        for v in (as_number(value) for value in values)
    ]


def _fn_min(index: pd.Index, *args: Value) -> Value:
    return pd.concat(_series_of(args, index), axis=1).min(axis=1, skipna=True)


def _fn_max(index: pd.Index, *args: Value) -> Value:
    return pd.concat(_series_of(args, index), axis=1).max(axis=1, skipna=True)


def _fn_abs(index: pd.Index, value: Value) -> Value:
    return abs(as_number(value))


def _fn_round(index: pd.Index, value: Value, digits: Value = 0) -> Value:
    return np.round(as_number(value), int(digits))


def _fn_clip(index: pd.Index, value: Value, low: Value, high: Value) -> Value:
    number = as_number(value)
    if isinstance(number, pd.Series):
        return number.clip(low, high)
    return min(max(number, low), high)


def _fn_missing(index: pd.Index, value: Value) -> Value:
    missing = is_missing(value)
    return missing.astype("boolean") if isinstance(missing, pd.Series) else bool(missing)


def _fn_present(index: pd.Index, value: Value) -> Value:
    missing = is_missing(value)
    return (~missing).astype("boolean") if isinstance(missing, pd.Series) else not missing


def _fn_coalesce(index: pd.Index, *args: Value) -> Value:
    result: Value = args[0]
    for value in args[1:]:
        result = where(_fn_missing(index, result), value, result)
    return result


def _fn_contains(index: pd.Index, text: Value, part: Value) -> Value:
    if isinstance(text, pd.Series):
        result = text.astype("string").str.contains(str(part), regex=False)
        return result.astype("boolean")
    return pd.NA if is_missing(text) else str(part) in str(text)


FUNCTIONS: dict[str, tuple[Callable[..., Value], int, int, str]] = {
    # name: (implementation, fewest arguments, most arguments, what it does)
    "min": (_fn_min, 2, 9, "smallest of its arguments, row by row (missing ones ignored)"),
    "max": (_fn_max, 2, 9, "largest of its arguments, row by row (missing ones ignored)"),
    "abs": (_fn_abs, 1, 1, "absolute value"),
    "round": (_fn_round, 1, 2, "round(x) or round(x, digits)"),
    "clip": (_fn_clip, 3, 3, "clip(x, low, high)"),
    "missing": (_fn_missing, 1, 1, "true where the value is missing"),
    "present": (_fn_present, 1, 1, "true where the value is not missing"),
    "coalesce": (_fn_coalesce, 2, 9, "the first of its arguments that is not missing"),
    "contains": (_fn_contains, 2, 2, 'contains(text, "part")'),
}


def kleene(left: Value, right: Value, conjunction: bool) -> Value:
    """`and` / `or` with unknowns: pandas' nullable booleans implement Kleene logic."""
    if isinstance(right, pd.Series) and not isinstance(left, pd.Series):
        left, right = right, left
    if isinstance(left, pd.Series):
        return (left & right) if conjunction else (left | right)
    unknown = left is pd.NA or right is pd.NA
    if conjunction:
        return False if (left is False or right is False) else (pd.NA if unknown else True)
    return True if (left is True or right is True) else (pd.NA if unknown else False)
