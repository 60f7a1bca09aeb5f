"""Rows as BigQuery takes them: each column's type (the history tables' fixed schema, the
dashboard tables' declared kinds), each value typed for it, and newline-delimited JSON, one
object a row, for a load job."""

from __future__ import annotations

import hashlib
import json
import math

import pandas as pd

DATE_COLUMNS = {"as_of", "next_action_date", "renewal_date", "date"}
FLOAT_COLUMNS = {"arr", "seats", "score", "coverage", "days_to_renewal", "value"}
INT_COLUMNS = {
    "accounts",
    "fields_written",
    "tasks_created",
    "tasks_closed",
    "errors",
    "warnings",
}


def column_type(column: str) -> str:
    if column in DATE_COLUMNS:
        return "DATE"
    if column in FLOAT_COLUMNS:
        return "FLOAT64"
    if column in INT_COLUMNS:
        return "INT64"
    if column == "phase_delayed":
        return "BOOL"
    if column in ("started_at", "finished_at", "logged_at"):
        return "TIMESTAMP"
    return "STRING"


# The column kinds the app declares for the dashboard tables, as BigQuery types.
KIND_TYPES = {"number": "FLOAT64", "date": "DATE", "bool": "BOOL"}


def typed_values(frame: pd.DataFrame, types: dict[str, str]) -> dict[str, list[object]]:
    """Every value as its column's type will take it: numbers or null, dates as YYYY-MM-DD,
    booleans, text."""
    out: dict[str, list[object]] = {}  # lists, not a frame: a frame turns None back into NaN
    for column, kind in types.items():
        values = frame[column]
        if kind in ("FLOAT64", "INT64"):
            numbers = pd.to_numeric(values, errors="coerce")
            cast = int if kind == "INT64" else float
            out[column] = [cast(v) if math.isfinite(v) else None for v in numbers]
        elif kind in ("DATE", "TIMESTAMP"):
            stamps = pd.to_datetime(values, errors="coerce", format="mixed")
            shape = "%Y-%m-%d" if kind == "DATE" else "%Y-%m-%d %H:%M:%S.%f"
            out[column] = [None if pd.isna(v) else v.strftime(shape) for v in stamps]
        elif kind == "BOOL":
            out[column] = [None if _missing(v) else bool(v) for v in values]
        else:
            out[column] = [None if _missing(v) else str(v) for v in values]
    return out


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def ndjson(frame: pd.DataFrame, types: dict[str, str]) -> bytes:
    return "".join(line + "\n" for line in json_lines(typed_values(frame, types))).encode("utf-8")


def json_lines(typed: dict[str, list[object]]) -> list[str]:
    """One JSON object a row, each value as its column's type takes it. Floats keep every
    digit (Python's shortest exact repr; pandas' JSON writer rounds to 10 or 15)."""
    return [
        json.dumps(dict(zip(typed, row, strict=True)), ensure_ascii=False, allow_nan=False)
        for row in zip(*typed.values(), strict=True)
    ]


def schema_hash(types: dict[str, str]) -> str:
    return hashlib.blake2b(json.dumps(types).encode(), digest_size=8).hexdigest()
