"""The backtest's dates and outcomes: the monthly snapshot dates whose horizon has passed, the
churn and contraction events read off the records, and for each observation whether (and how
many days after its date) its account churned within the horizon.

An account churned within the horizon after a date when, in that window, a renewal
opportunity closed lost, its contract ended (a former customer's renewal date), or (with the
history store) its recorded ARR fell to zero from a positive value. Contraction (a renewal won
for less than the one before) is counted apart.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from cs_sync.backfill import backfill_dates, contract_end
from cs_sync.errors import InputError
from cs_sync.extract import Extracted
from cs_sync.rules.backtest import BacktestSettings


def snapshot_dates(
    today: date, settings: BacktestSettings, since: date | None, until: date | None
) -> list[date]:
    """Monthly dates whose whole horizon has passed: by default the `months` months ending
    `horizon_days` before today."""
    latest = today - timedelta(days=settings.horizon_days)
    until = until or latest
    if until > latest:
        raise InputError(
            f"--until {until} plus the {settings.horizon_days}-day horizon reaches past today "
            f"({today}): what happened after it is not known yet. Use --until {latest} or "
            "earlier, or a shorter --horizon-days"
        )
    since = since or _months_before(until, settings.months - 1)
    return backfill_dates(since, until, "month")


def _months_before(day: date, months: int) -> date:
    month = day.month - 1 - months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, 28))


def churn_events(
    extracted: Extracted,
    kinds: tuple[str, ...],
    renewal_types: tuple[str, ...],
    arr_history: pd.DataFrame | None,
) -> pd.DataFrame:
    """Every churn event: (account_id, on, reason)."""
    events = []
    opportunities = extracted.opportunities
    if "lost_renewal" in kinds:
        lost = opportunities[
            opportunities["type"].isin(renewal_types)
            & opportunities["is_closed"].astype(bool)
            & ~opportunities["is_won"].astype(bool)
        ]
        events.append(
            pd.DataFrame(
                {
                    "account_id": lost["account_id"],
                    "on": pd.to_datetime(lost["close_date"], format="ISO8601", errors="coerce"),
                    "reason": "lost_renewal",
                }
            )
        )
    if "contract_ended" in kinds:
        ended = contract_end(extracted.accounts, opportunities, renewal_types)
        events.append(
            pd.DataFrame(
                {
                    "account_id": extracted.accounts["account_id"],
                    "on": ended,
                    "reason": "contract_ended",
                }
            )
        )
    if "arr_zero" in kinds and arr_history is not None and len(arr_history):
        # ARR falling to zero from a positive value: an account that never paid did not churn
        ordered = arr_history.assign(
            arr=pd.to_numeric(arr_history["arr"], errors="coerce"),
            as_of=pd.to_datetime(arr_history["as_of"]),
        ).sort_values(["account_id", "as_of"])
        before = ordered.groupby("account_id")["arr"].shift()
        zero = ordered[(ordered["arr"] == 0) & (before > 0)]
        events.append(
            pd.DataFrame(
                {
                    "account_id": zero["account_id"],
                    "on": pd.to_datetime(zero["as_of"]),
                    "reason": "arr_zero",
                }
            )
        )
    if not events:
        return pd.DataFrame(columns=["account_id", "on", "reason"])
    table = pd.concat(events, ignore_index=True).dropna(subset=["on"])
    table["on"] = table["on"].astype("datetime64[ns]")
    return table


def contraction_events(extracted: Extracted, renewal_types: tuple[str, ...]) -> pd.DataFrame:
    """Renewals won for less than the renewal won before them: (account_id, on)."""
    opportunities = extracted.opportunities
    won = opportunities[
        opportunities["type"].isin(renewal_types) & opportunities["is_won"].astype(bool)
    ].assign(
        on=lambda t: pd.to_datetime(t["close_date"], format="ISO8601", errors="coerce"),
        amount=lambda t: pd.to_numeric(t["amount"], errors="coerce"),
    )
    won = won.sort_values(["account_id", "on"])
    before = won.groupby("account_id")["amount"].shift()
    shrunk = won[won["amount"] < before]
    return pd.DataFrame({"account_id": shrunk["account_id"], "on": shrunk["on"]}).astype(
        {"on": "datetime64[ns]"}
    )


def _next_event_within(
    observations: pd.DataFrame, events: pd.DataFrame, horizon_days: int
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """For each observation: whether an event falls after its date and within the horizon,
    the first such event's reason, and how many days after the date it came."""
    left = observations[["account_id", "date"]].assign(
        row=range(len(observations)), date=lambda t: t["date"].astype("datetime64[ns]")
    )
    if events.empty:
        return (
            pd.Series(False, index=observations.index),
            pd.Series(None, index=observations.index, dtype=object),
            pd.Series(np.nan, index=observations.index),
        )
    right = events.rename(columns={"on": "event_on"}).sort_values("event_on")
    right = right.assign(key=right["event_on"])
    matched = pd.merge_asof(
        left.sort_values("date"),
        right,
        left_on="date",
        right_on="key",
        by="account_id",
        direction="forward",
        allow_exact_matches=False,
    ).sort_values("row")
    within = matched["event_on"].notna() & (
        matched["event_on"] <= matched["date"] + pd.Timedelta(days=horizon_days)
    )
    reason = matched["reason"] if "reason" in matched else pd.Series(None, index=matched.index)
    days = (matched["event_on"] - matched["date"]).dt.days.where(within)
    return (
        pd.Series(within.to_numpy(), index=observations.index),
        pd.Series(
            reason.astype(object).where(within, None).to_numpy(),
            index=observations.index,
            dtype=object,
        ),
        pd.Series(days.to_numpy(dtype=float), index=observations.index),
    )


def with_outcomes(
    observations: pd.DataFrame,
    churn: pd.DataFrame,
    contraction: pd.DataFrame,
    horizon_days: int,
) -> pd.DataFrame:
    """The observations with churned, churn_reason, days_to_churn and contracted added (a
    shallow copy: the observations' own columns are shared, not copied)."""
    out = observations.copy(deep=False)
    out["churned"], out["churn_reason"], out["days_to_churn"] = _next_event_within(
        out, churn, horizon_days
    )
    out["contracted"], _, _ = _next_event_within(out, contraction, horizon_days)
    return out
