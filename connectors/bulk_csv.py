"""Bulk API 2.0 speaks CSV: values written into cells, and rows read back into records typed
by the object's describe."""

from __future__ import annotations

import csv
import io
from typing import Any


def bulk_cell(value: Any) -> str:
    """A CSV cell as Bulk API 2.0 reads it: an empty cell means unchanged, #N/A means null."""
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def record_from_csv(row: dict[str, str], types: dict[str, str]) -> dict[str, Any]:
    """A Bulk query CSV row shaped like a REST record: typed values, parents nested."""
    record: dict[str, Any] = {}
    for column, text in row.items():
        kind = types.get(column, "string")
        value: Any
        if text == "":
            value = None
        elif kind == "boolean":
            value = text.lower() == "true"
        elif kind in ("double", "currency", "percent"):
            value = float(text)
        elif kind == "int":
            value = int(float(text))
        else:
            value = text
        *relationships, name = column.split(".")
        target = record
        for relationship in relationships:
            target = target.setdefault(relationship, {})
        target[name] = value
    return record


def parse_csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
