"""Month arithmetic and business days (weekends, public holidays, company closures)."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pandas as pd


def month_floor(day: date) -> pd.Timestamp:
    return pd.Timestamp(day.year, day.month, 1)


def last_complete_month(as_of: date) -> pd.Timestamp:
    """Usage for the run's own month is still arriving: measures read the month before."""
    return month_floor(as_of) - pd.DateOffset(months=1)


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
