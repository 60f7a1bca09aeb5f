"""What the dashboard's Google Sheets tabs hold: which tabs there are (today's accounts, the
KPIs by date and by period, the targets, each CSM's book, and from the history each account's
health by date and the runs), and how they are cut to fit Google's cell limit.

Google's limit of 10,000,000 cells counts every sheet of the spreadsheet; cs-sync keeps 20%
of it for the admin's own tabs (CELL_BUDGET), and its tabs get half of the rest while a
refresh stages copies beside them (sheets_dashboard.py). A tab with a row an account (accounts,
health_history) passes that room in a book of a hundred thousand accounts or more: such a tab
is left out of the refresh (`fit_tabs`), named with the fix, and the others are refreshed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd

CELL_BUDGET = 8_000_000  # leave room for the admin's own tabs and formulas


def tab_cells(rows: int, columns: int) -> int:
    """The cells a tab of `rows` rows takes: its header row too, one column at least."""
    return (rows + 1) * max(columns, 1)


def frame_cells(frame: pd.DataFrame) -> int:
    return tab_cells(len(frame), len(frame.columns))


def fit_rows(
    tabs: dict[str, pd.DataFrame], budget: int, date_column: dict[str, str]
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Keep the tabs within `budget` cells: when they would not fit, the tabs that have a date
    column keep every date of the last 35 days and one date a month before that (the first
    of each month), then drop their oldest months until they fit. Returns the tabs and a
    warning per tab cut."""

    def cells(frames: dict[str, pd.DataFrame]) -> int:
        return sum(frame_cells(f) for f in frames.values())

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


def fit_tabs(
    tabs: dict[str, pd.DataFrame], budget_of: Callable[[list[str]], int]
) -> tuple[dict[str, pd.DataFrame], list[str], list[str]]:
    """The tabs that fit the spreadsheet, cut by `fit_rows`; when even cut they would not fit,
    the largest tab is left out (it keeps what it holds), then the next, until the rest fit.
    `budget_of`: the cells the given tabs may take (a tab left out counts as the admin's).
    Returns the tabs to write, the warnings of tabs cut and a message per tab left out."""
    titles = list(tabs)
    left_out: list[str] = []
    while True:
        budget = budget_of(titles)
        kept = {title: tabs[title] for title in titles}
        fitted, warnings = fit_rows(kept, budget, {k: v for k, v in TAB_DATES.items() if k in kept})
        if sum(frame_cells(frame) for frame in fitted.values()) <= budget:
            return fitted, warnings, left_out
        largest = max(titles, key=lambda title: frame_cells(fitted[title]))
        frame = fitted[largest]
        left_out.append(
            f"the {largest} tab was not refreshed and keeps its previous rows: "
            f"{len(frame):,} rows of {len(frame.columns)} columns "
            f"({frame_cells(frame) / 1e6:.1f} million cells) do not fit in the "
            f"{budget / 1e6:.1f} million cells the dashboard's tabs have in this spreadsheet "
            "(Google Sheets holds 10 million cells a spreadsheet, every tab counted; cs-sync "
            "keeps 20% for your own tabs and room to stage its new rows). For a book this size "
            'read it from BigQuery ([history] backend = "bigquery" keeps the accounts and '
            "the health by date for Looker Studio) or from the local dashboard's CSV files, "
            f'and set [dashboard] sheets_leave_out = ["{largest}"] to stop sending it'
        )
        titles.remove(largest)


def health_tab_dates(
    dates: list[date], accounts: int, columns: int, beside: int = 0
) -> tuple[list[date], str | None]:
    """The snapshot dates the health_history tab can show: every date of the last 35 days and
    the first of each month, newest first, as many as the cell budget allows for this book
    beside `beside` cells of the other tabs (the accounts tab, when it fits at all: a tab
    that does not fit is left out). None may fit: then the tab shows none, and the second
    value says so."""
    if not dates:
        return [], None
    days = pd.Series(pd.to_datetime(sorted(set(dates))))
    recent = days[days >= days.max() - pd.Timedelta(days=35)]
    firsts = days.groupby(days.dt.to_period("M")).min()
    candidates = sorted(set(recent) | set(firsts), reverse=True)
    room = CELL_BUDGET // 2  # a staging copy beside the tabs
    if beside <= room:
        room -= beside
    per_date = columns * max(accounts, 1)
    shown = sorted(day.date() for day in candidates[: room // per_date])
    if shown:
        return shown, None
    fix = (
        '[dashboard] sheets_leave_out = ["accounts"] gives this tab the room'
        if per_date <= CELL_BUDGET // 2
        else 'set [dashboard] sheets_leave_out = ["health_history"] to stop sending it'
    )
    return [], (
        f"the health_history tab shows no date: one date of {accounts:,} accounts "
        f"({per_date / 1e6:.1f} million cells) does not fit in the "
        f"{room / 1e6:.1f} million cells left beside the other tabs of the spreadsheet; "
        f"the history store keeps every date (read it from BigQuery for Looker Studio); {fix}"
    )


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
