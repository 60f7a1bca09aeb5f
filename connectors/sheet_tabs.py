"""What the dashboard's Google Sheets tabs hold: which tabs there are (today's accounts, the
KPIs by date and by period, the targets, each CSM's book, and from the history each account's
health by date and the runs), and how they are cut to fit Google's cell limit.

Google's limit of 10,000,000 cells counts every sheet of the spreadsheet; cs-sync keeps 20%
of it for the admin's own tabs (CELL_BUDGET), and its tabs get half of the rest while a
refresh stages copies beside them (sheets_dashboard.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

CELL_BUDGET = 8_000_000  # leave room for the admin's own tabs and formulas


def fit_rows(
    tabs: dict[str, pd.DataFrame], budget: int, date_column: dict[str, str]
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Keep the tabs within `budget` cells: when they would not fit, the tabs that have a date
    column keep every date of the last 35 days and one date a month before that (the first
    of each month), then drop their oldest months until they fit. Returns the tabs and a
    warning per tab cut."""

    def cells(frames: dict[str, pd.DataFrame]) -> int:
        return sum((len(f) + 1) * max(len(f.columns), 1) for f in frames.values())

    if cells(tabs) <= budget:
        return tabs, []
    out, warnings = dict(tabs), []
    for name, column in date_column.items():
        frame = out[name]
        days = pd.to_datetime(frame[column])
        latest = days.max()
        recent = days >= latest - pd.Timedelta(days=35)
        first_of_month = days == days.groupby(days.dt.to_period("M")).transform("min")
        kept = frame[recent | first_of_month]
        months = sorted(pd.to_datetime(kept[column]).dt.to_period("M").unique())
        while cells({**out, name: kept}) > budget and len(months) > 2:
            months = months[1:]
            kept = kept[pd.to_datetime(kept[column]).dt.to_period("M") >= months[0]]
        if len(kept) < len(frame):
            warnings.append(
                f"the {name} tab would pass Google Sheets' cell limit: it keeps every date of "
                f"the last 35 days and the first date of each month since {months[0]} "
                f"({len(kept):,} of {len(frame):,} rows); the history store has them all"
            )
        out[name] = kept
    return out, warnings


TAB_DATES = {"kpi_daily": "date", "health_history": "as_of"}


def health_tab_dates(dates: list[date], accounts: int, columns: int) -> list[date]:
    """The snapshot dates the health_history tab can show: every date of the last 35 days and
    the first of each month, newest first, as many as the cell budget allows for this book."""
    if not dates:
        return []
    days = pd.Series(pd.to_datetime(sorted(set(dates))))
    recent = days[days >= days.max() - pd.Timedelta(days=35)]
    firsts = days.groupby(days.dt.to_period("M")).min()
    candidates = sorted(set(recent) | set(firsts), reverse=True)
    room = CELL_BUDGET // 2 // max(columns, 1) // max(accounts, 1)  # a staging copy beside
    return sorted(day.date() for day in candidates[: max(room, 1)])


def sheet_tabs(
    accounts: pd.DataFrame,
    kpis: pd.DataFrame,
    revenue: pd.DataFrame,
    targets: pd.DataFrame,
    csm: pd.DataFrame,
    view: Any,
) -> dict[str, pd.DataFrame]:
    """The dashboard's tabs: today's accounts, the revenue KPIs by period and the targets,
    and from the history (when kept) every date's KPIs, each account's health by date, and
    the runs."""
    periods = revenue.copy()
    for column in ("period_start", "period_end"):
        periods[column] = pd.to_datetime(periods[column]).dt.strftime("%Y-%m-%d")
    if view is None:
        return {
            "accounts": accounts,
            "kpi_daily": kpis,
            "kpi_periods": periods,
            "kpi_targets": targets,
            "kpi_csm": csm,
        }
    # a column replaced, the others shared with the history's read (copy on write)
    series = view.series.assign(as_of=pd.to_datetime(view.series["as_of"]).dt.strftime("%Y-%m-%d"))
    daily = view.kpis.assign(date=pd.to_datetime(view.kpis["date"]).dt.strftime("%Y-%m-%d"))
    return {
        "accounts": accounts,
        "kpi_daily": daily,
        "kpi_periods": periods,
        "kpi_targets": targets,
        "kpi_csm": csm,
        "health_history": series,
        "runs": view.runs,
    }
