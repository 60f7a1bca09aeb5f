"""The sample book's product usage: a row a month per account, as its story tells it.

Healthy and steady accounts keep their level after a roll-out; declining and churned ones
decay before they leave (so backtests have something to find); new ones ramp up, some stall.
The year-end adjustment is a seasonal feature (November and December). Some rows name the
account by its 15-character or lower-cased id, as hand-kept sheets do.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date
from typing import Any

from cs_sync.sandbox.seed_data import add_months, month_start


def usage_months(
    rng: random.Random,
    months: tuple[date, date],
    account_id: str,
    profile: str,
    start: date,
    churn_date: date | None,
    seats: tuple[int, int],
) -> Iterator[dict[str, Any]]:
    """An account's monthly usage rows from its start (or the first month kept) to the last
    complete month (`months`: first and last), told by its story (`profile`): a roll-out,
    then its everyday level, decaying before a churn; `seats`: as signed and as now (the
    last ten months)."""
    first_month, last_month = months
    signed, current_seats = seats
    month = max(month_start(start), first_month)
    decline_from = add_months(last_month, -rng.randint(0, 7))
    decay = rng.uniform(0.86, 0.95)
    if churn_date:
        decline_from = add_months(month_start(churn_date), -rng.randint(5, 8))
        decay = rng.uniform(0.72, 0.82)
    stalled = profile == "new" and rng.random() < 0.35
    skips_season = profile in ("declining", "churned") or rng.random() < 0.05
    id_form = rng.random()
    shown_id = (
        account_id[:15] if id_form < 0.1 else account_id.lower() if id_form < 0.15 else account_id
    )
    base_ratio = {
        "healthy": rng.uniform(0.78, 0.95),
        "steady": rng.uniform(0.55, 0.75),
        "declining": rng.uniform(0.6, 0.85),
        "churned": rng.uniform(0.55, 0.8),
        "new": rng.uniform(0.8, 0.92),
    }[profile]
    # Most roll-outs get nearly everyone to log in once (the loose "onboarded" mark),
    # then settle to the account's everyday level.
    rollout_peak = rng.uniform(0.82, 0.96) if not stalled and rng.random() < 0.8 else 0.0
    # Some fading accounts stop logging in altogether for their last months (dormant).
    silent_from = (
        add_months(last_month, -rng.randint(1, 3))
        if profile == "declining" and rng.random() < 0.3
        else None
    )
    while month <= last_month:
        if churn_date and month >= add_months(month_start(churn_date), -1):
            break  # usage stops in the last month of the contract, or before
        tenure = (month.year - start.year) * 12 + month.month - start.month
        ratio = base_ratio
        monthly_feature = True
        if profile == "new" or tenure < 3:
            ramp = 0.35 if stalled else 1.0
            ratio = base_ratio * min(1.0, (tenure + 1) / 3) * (ramp if tenure >= 1 else 0.5)
            monthly_feature = tenure >= 1 and not stalled
            if tenure in (1, 2):
                ratio = max(ratio, rollout_peak)
        if profile in ("declining", "churned") and month >= decline_from:
            months_in = (month.year - decline_from.year) * 12 + month.month - decline_from.month
            ratio = base_ratio * (decay ** (months_in + 1))
            monthly_feature = months_in < 3 and rng.random() < 0.75
        ratio = max(0.0, min(1.0, ratio * rng.uniform(0.93, 1.05)))
        if silent_from is not None and month >= silent_from:
            ratio = 0.0
            monthly_feature = False
        month_seats = current_seats if month >= add_months(last_month, -10) else signed
        active = int(round(month_seats * ratio))
        logins = int(active * rng.uniform(8, 16))
        season = month.month in (11, 12)
        annual_used = season and not (skips_season and month >= add_months(last_month, -14))
        yield (
            {
                "account_id": shown_id,
                "month": month.strftime("%Y-%m"),
                "seats": month_seats,
                "active_users": active,
                "logins": logins,
                "payslips_sent": int(active * rng.uniform(0.9, 1.1)) if monthly_feature else 0,
                "year_end_adjustments": int(active * rng.uniform(0.8, 1.0)) if annual_used else 0,
                "surveys_run": rng.choice([0, 1, 1, 2]) if ratio > 0.6 else rng.choice([0, 0, 1]),
            }
        )
        month = add_months(month, 1)
