"""SOQL date literals (TODAY, LAST_N_DAYS:30, THIS_FISCAL_YEAR, ...) as the ranges of days
they stand for, counted from a given day (SOQL and SOSL Reference, "Date Formats and Date
Literals"). Weeks start on Sunday and the fiscal year on January 1, the defaults of an org
that has not changed them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

PATTERN = (
    r"(?:TODAY|YESTERDAY|TOMORROW"
    r"|(?:LAST|THIS|NEXT)_(?:WEEK|MONTH|QUARTER|YEAR|FISCAL_QUARTER|FISCAL_YEAR)"
    r"|(?:LAST|NEXT)_90_DAYS"
    r"|(?:LAST|NEXT)_N_(?:DAYS|WEEKS|MONTHS|QUARTERS|YEARS|FISCAL_QUARTERS|FISCAL_YEARS):\d+"
    r"|N_(?:DAYS|WEEKS|MONTHS|QUARTERS|YEARS|FISCAL_QUARTERS|FISCAL_YEARS)_AGO:\d+)"
)


@dataclass(frozen=True)
class DateLiteral:
    text: str  # upper case, e.g. "LAST_N_DAYS:30"

    def days(self, today: date) -> tuple[date, date]:
        """The first and the last day the literal covers."""
        return date_range(self.text, today)


def _month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _unit_start(day: date, unit: str) -> date:
    if unit == "DAY":
        return day
    if unit == "WEEK":
        return day - timedelta(days=(day.weekday() + 1) % 7)  # back to Sunday
    if unit == "MONTH":
        return day.replace(day=1)
    if unit == "QUARTER":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, 1, 1)  # YEAR


def _shift(start: date, unit: str, count: int) -> date:
    """The start of the unit `count` units after the one starting at `start`."""
    if unit == "DAY":
        return start + timedelta(days=count)
    if unit == "WEEK":
        return start + timedelta(weeks=count)
    months = {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit]
    return _month(start, months * count)


def _units(start: date, unit: str, count: int) -> tuple[date, date]:
    """`count` whole units from the one starting at `start` (negative: before it)."""
    if count >= 0:
        return start, _shift(start, unit, count) - timedelta(days=1)
    return _shift(start, unit, count), start - timedelta(days=1)


def date_range(text: str, today: date) -> tuple[date, date]:
    text = text.upper().replace("FISCAL_", "")  # the fiscal year is the calendar year
    fixed = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}
    if text in fixed:
        day = today + timedelta(days=fixed[text])
        return day, day
    if text == "LAST_90_DAYS":
        return today - timedelta(days=90), today
    if text == "NEXT_90_DAYS":
        return today + timedelta(days=1), today + timedelta(days=90)
    match = re.fullmatch(r"(LAST|THIS|NEXT)_(WEEK|MONTH|QUARTER|YEAR)", text)
    if match:
        unit = match.group(2)
        start = _shift(
            _unit_start(today, unit), unit, {"LAST": -1, "THIS": 0, "NEXT": 1}[match.group(1)]
        )
        return start, _shift(start, unit, 1) - timedelta(days=1)
    match = re.fullmatch(r"(LAST|NEXT)_N_(DAYS|WEEKS|MONTHS|QUARTERS|YEARS):(\d+)", text)
    if match:
        unit, count = match.group(2)[:-1], int(match.group(3))
        if unit == "DAY":  # LAST_N_DAYS includes today; NEXT_N_DAYS starts tomorrow
            if match.group(1) == "LAST":
                return today - timedelta(days=count), today
            return today + timedelta(days=1), today + timedelta(days=count)
        current = _unit_start(today, unit)
        if match.group(1) == "LAST":
            return _units(current, unit, -count)
        return _units(_shift(current, unit, 1), unit, count)
    match = re.fullmatch(r"N_(DAYS|WEEKS|MONTHS|QUARTERS|YEARS)_AGO:(\d+)", text)
    if match:
        unit, count = match.group(1)[:-1], int(match.group(2))
        start = _shift(_unit_start(today, unit), unit, -count)
        return start, _shift(start, unit, 1) - timedelta(days=1)
    raise ValueError(f"not a date literal: {text}")
