"""A1 notation for the sandbox's Sheets API: 'Sheet name'!A1:C10, A:C, 2:5, A2:C, Sheet1."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CELL = re.compile(r"^(?P<col>[A-Za-z]*)(?P<row>\d*)$")


@dataclass(frozen=True)
class GridRange:
    sheet: str | None  # None: the first sheet
    row0: int  # zero-based, inclusive
    col0: int
    row1: int | None  # zero-based, exclusive; None = to the end of the grid
    col1: int | None


def column_index(letters: str) -> int:
    value = 0
    for char in letters.upper():
        value = value * 26 + (ord(char) - 64)
    return value - 1


def column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def split_sheet(text: str) -> tuple[str | None, str]:
    if "!" not in text:
        return None, text
    sheet, _, cells = text.rpartition("!")
    if sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return sheet, cells


def parse(text: str, sheet_titles: list[str]) -> GridRange:
    """Parse a range; a bare name that is a sheet's title means the whole sheet."""
    sheet, cells = split_sheet(text.strip())
    if sheet is None and (cells in sheet_titles or cells.strip("'") in sheet_titles):
        return GridRange(cells.strip("'"), 0, 0, None, None)
    if sheet is not None and cells == "":
        return GridRange(sheet, 0, 0, None, None)
    start_text, _, end_text = cells.partition(":")
    start = _CELL.match(start_text)
    end = _CELL.match(end_text) if end_text else start
    if not start or not end or not (start_text and (start.group("col") or start.group("row"))):
        raise ValueError(f"Unable to parse range: {text}")
    col0 = column_index(start.group("col")) if start.group("col") else 0
    row0 = int(start.group("row")) - 1 if start.group("row") else 0
    col1 = column_index(end.group("col")) + 1 if end.group("col") else None
    row1 = int(end.group("row")) if end.group("row") else None
    if not end_text:  # a single cell
        col1 = col0 + 1 if start.group("col") else None
        row1 = row0 + 1 if start.group("row") else None
    if row0 < 0 or (row1 is not None and row1 <= row0) or (col1 is not None and col1 <= col0):
        raise ValueError(f"Unable to parse range: {text}")
    return GridRange(sheet, row0, col0, row1, col1)


def quote_title(title: str) -> str:
    """As Google writes ranges back: plain titles bare, others in single quotes."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not _CELL.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def format_range(title: str, row0: int, col0: int, row1: int, col1: int) -> str:
    start = f"{column_letters(col0)}{row0 + 1}"
    end = f"{column_letters(col1 - 1)}{row1}"
    return f"{quote_title(title)}!{start}" + (f":{end}" if end != start else "")
