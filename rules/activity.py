"""Per-account features of CSM activity (meetings and other touches) and support cases:
counts and days-since, one numpy pass over the records read.

An account with nothing in the window read is not unknown: it had no touch for at least the
window (days since = the window) and no case. Without the records read at all (switched off),
every column is missing data."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cs_sync.rules.usage_metrics import positions

ACTIVITY_COLUMNS = ("days_since_meeting", "meetings_90d", "days_since_touch", "touches_90d")
CASE_COLUMNS = ("open_cases", "recent_cases", "high_priority_cases", "escalated_cases")
RECENT_DAYS = 90  # the window of meetings_90d and touches_90d


def _empty(index: pd.Index, columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: np.nan for c in columns}, index=index)


def activity_features(
    accounts: pd.DataFrame, activities: pd.DataFrame | None, as_of: date, window_days: int
) -> pd.DataFrame:
    """`activities`: account_id, day (date of the touch), meeting (bool); None when activity
    is not read. Touches after the run date (planned meetings) do not count."""
    index = pd.Index(accounts["account_id"])
    if activities is None:
        return _empty(index, ACTIVITY_COLUMNS)
    today = np.datetime64(as_of, "D")
    day = pd.to_datetime(activities["day"], errors="coerce").to_numpy("datetime64[D]")
    position = positions(index, activities["account_id"])
    past = (position >= 0) & ~np.isnat(day) & (day <= today)
    ago = (today - day).astype("timedelta64[D]").astype(np.int64)
    meeting = activities["meeting"].to_numpy(dtype=bool)
    out = pd.DataFrame(index=index)
    for name, plural, rows in (("meeting", "meetings", past & meeting), ("touch", "touches", past)):
        latest = np.full(len(index), window_days, dtype=np.int64)
        np.minimum.at(latest, position[rows], np.minimum(ago[rows], window_days))
        out[f"days_since_{name}"] = latest.astype(float)
        recent = rows & (ago < RECENT_DAYS)
        out[f"{plural}_90d"] = np.bincount(position[recent], minlength=len(index)).astype(float)
    return out[list(ACTIVITY_COLUMNS)]


def case_features(
    accounts: pd.DataFrame, cases: pd.DataFrame | None, as_of: date, window_days: int
) -> pd.DataFrame:
    """`cases`: account_id, created and closed (timestamps), is_closed, high (priority),
    escalated; None when cases are not read. A case is open on the run date when it was
    created by then and not closed by then (so past dates of a backfill count right); the
    others count when created within `window_days` of the run date."""
    index = pd.Index(accounts["account_id"])
    if cases is None:
        return _empty(index, CASE_COLUMNS)
    today = np.datetime64(as_of, "D")
    day, closed = (_day(cases[column]) for column in ("created", "closed"))
    position = positions(index, cases["account_id"])
    known = (position >= 0) & (day <= today)
    recent = known & (day > today - window_days)
    still_open = ~cases["is_closed"].to_numpy(dtype=bool) | (closed > today)
    flags = {
        "open_cases": known & still_open,
        "recent_cases": recent,
        "high_priority_cases": recent & cases["high"].to_numpy(dtype=bool),
        "escalated_cases": recent & cases["escalated"].to_numpy(dtype=bool),
    }
    return pd.DataFrame(
        {
            name: np.bincount(position[rows], minlength=len(index)).astype(float)
            for name, rows in flags.items()
        },
        index=index,
    )


def _day(stamps: pd.Series) -> np.ndarray:
    """Salesforce date-times as UTC days (NaT where empty)."""
    parsed = pd.to_datetime(stamps, errors="coerce", utc=True, format="ISO8601")
    return parsed.dt.tz_localize(None).to_numpy("datetime64[D]")
