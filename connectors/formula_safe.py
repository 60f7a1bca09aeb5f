"""Text a spreadsheet would run as a formula, made inert (OWASP CSV injection guidance).

A cell whose text starts, after any spaces, tabs or line breaks, with = + - @ (or their
full-width forms, which Japanese input produces) or with a tab or carriage return gets a
leading apostrophe: every spreadsheet app then shows it as text. Used for every text cell of
the CSV files and of the Google Sheets tabs. The CSV writer quotes any cell that holds a CR or
LF (CRLF line ends), so a line break inside a CRM string never starts a row of its own.
"""

from __future__ import annotations

from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "＝", "＋", "－", "＠")
_LEADING = " \t\r\n\u3000"
CSV_LINE_END = "\r\n"


def neutralise(value: Any) -> Any:
    """The value, with a ' in front when a spreadsheet would read it as a formula."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "\t\r" or value.lstrip(_LEADING).startswith(_FORMULA_START):
        return "'" + value
    return value
