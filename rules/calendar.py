"""Month arithmetic and business days (weekends, public holidays, company closures)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import holidays
import numpy as np
import pandas as pd

NAT = np.iinfo(np.int64).min  # NaT's integer


def month_floor(day: date) -> pd.Timestamp:
    return pd.Timestamp(day.year, day.month, 1)


def last_complete_month(as_of: date) -> pd.Timestamp:
    """Usage for the run's own month is still arriving: measures read the month before."""
    return month_floor(as_of) - pd.DateOffset(months=1)


def month_numbers(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each day (datetime64[D]; NaT gives a meaningless number the
    caller masks). Many rows hold few distinct days, so each day in the range is converted
    once, through a table: a calendar conversion per row costs ten times more."""
    numbers = days.astype("datetime64[D]").view(np.int64)
    known = numbers[numbers != NAT]
    if len(known) == 0:
        return np.zeros(len(numbers), dtype=np.int64)
    low, high = int(known.min()), int(known.max())
    if high - low > 200_000:  # centuries apart: the conversion per row instead
        return days.astype("datetime64[M]").astype(np.int64)
    table = np.arange(low, high + 1).astype("datetime64[D]").astype("datetime64[M]")
    return table.astype(np.int64)[np.clip(numbers - low, 0, high - low)]


def closed_days(
    country: str | None, company_closed: tuple[str, ...], years: range
) -> frozenset[date]:
    """Days nobody works: the country's public holidays (the maintained `holidays` package)
    and the company's own closures given as MM-DD, every year (e.g. the year-end break)."""
    days: set[date] = set()
    if country:
        days.update(holidays.country_holidays(country, years=list(years)).keys())
    for year in years:
        for text in company_closed:
            month, day = (int(part) for part in text.split("-"))
            if not (month == 2 and day == 29) or year % 4 == 0:  # 02-29 only in leap years
                days.add(date(year, month, day))
    return frozenset(days)


def add_business_days(start: date, days: int, closed: frozenset[date] = frozenset()) -> date:
    """`days` business days after `start`: weekends and `closed` days are skipped."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in closed:
            remaining -= 1
    return current


def workable(
    days: np.ndarray, busy: np.ndarray | None, holidays: np.ndarray, later: bool = False
) -> np.ndarray:
    """Each date moved to the nearest business day outside the account's busy months (`busy`:
    12 bits a row, bit 0 = January): back to the last one before them, or with `later` on to
    the first one after them."""
    roll: Literal["backward", "forward"] = "forward" if later else "backward"
    days = np.busday_offset(days.astype("datetime64[D]"), 0, roll=roll, holidays=holidays)
    if busy is None:
        return days
    moving = np.arange(len(days))  # the rows still to check: after a move, only those moved
    for _ in range(14):  # at most 12 busy months in a row, plus a business-day roll
        months = month_numbers(days[moving])
        in_busy = (busy[moving] >> (months % 12)) & 1 == 1
        moving = moving[in_busy]
        if not len(moving):
            break
        month = months[in_busy].astype("datetime64[M]")
        moved = (month + 1).astype("datetime64[D]") if later else month.astype("datetime64[D]") - 1
        days[moving] = np.busday_offset(moved, 0, roll=roll, holidays=holidays)
    return days
