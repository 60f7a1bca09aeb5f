"""Month arithmetic and business days, shared by the rules."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd


def month_floor(day: date) -> pd.Timestamp:
    return pd.Timestamp(day.year, day.month, 1)


def last_complete_month(as_of: date) -> pd.Timestamp:
    """Usage for the run's own month is still arriving: measures read the month before."""
    return month_floor(as_of) - pd.DateOffset(months=1)


def add_business_days(start: date, days: int) -> date:
    """`days` weekdays after `start` (Saturday and Sunday skipped)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current
