"""One row per account: the inputs of every rule, built from accounts and monthly usage."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from rules.calendar import last_complete_month, month_floor

STAKEHOLDERS = ("economic_buyer", "champion", "administrator", "end_user")
# What expressions in config can name (checked when the config is loaded; a test keeps the
# lists equal to what the pipeline really builds).
ACCOUNT_INPUTS = (
    "name",
    "arr",
    "seats",
    "segment",
    "contract_start",
    "renewal_date",
    "budget_status",
    "sentiment",
    "busy_months",
    "approval_lead_days",
    "owner_active",
    "sub_csm_active",
)
FEATURE_COLUMNS = (
    "days_to_renewal",
    "months_since_start",
    "usage_months",
    "active_ratio",
    "login_trend",
    "monthly_feature",
    "months_without_login",
    "feature_months_used",
    "onboarded_after_months",
    "onboarded",
    "renewal_stage",
    "renewal_amount",
    "renewal_close_date",
    "last_renewal_won",
    *STAKEHOLDERS,
)
TREND_WINDOW_MONTHS = 3
MAX_MISSING_MONTHS = 12


def build_features(
    accounts: pd.DataFrame,
    usage: pd.DataFrame,
    as_of: date,
    onboarding_active_ratio: float = 0.8,
    onboarding_window_months: int = 3,
) -> pd.DataFrame:
    """`accounts`: one row per account (account_id, arr, seats, contract_start, renewal_date…).
    `usage`: account_id, month (first of month), seats, active_users, logins, payslips_sent.
    Returns accounts indexed by account_id with feature columns added.

    Onboarding uses the loose definition: the account is `onboarded` from the first month
    in which `onboarding_active_ratio` of its seats were active; `onboarded_after_months`
    counts the months from contract start to that month. An account whose usage history
    begins after its onboarding window is taken as onboarded (it happened before the data),
    with `onboarded_after_months` left empty."""
    features = accounts.set_index("account_id", drop=False).copy()
    last = last_complete_month(as_of)
    today = pd.Timestamp(as_of)
    features["days_to_renewal"] = (pd.to_datetime(features["renewal_date"]) - today).dt.days
    start = pd.to_datetime(features["contract_start"])
    features["months_since_start"] = (month_floor(as_of).year - start.dt.year) * 12 + (
        month_floor(as_of).month - start.dt.month
    )

    usage = usage[usage["month"] <= last]
    by_account = usage.groupby("account_id")
    features["usage_months"] = by_account.size().reindex(features.index).fillna(0).astype(int)

    latest = usage[usage["month"] == last].set_index("account_id")
    seats = latest["seats"].where(latest["seats"] > 0)
    ratio = (latest["active_users"] / seats).clip(upper=1.0)
    features["active_ratio"] = ratio.reindex(features.index)

    recent_start = last - pd.DateOffset(months=TREND_WINDOW_MONTHS - 1)
    prior_start = recent_start - pd.DateOffset(months=TREND_WINDOW_MONTHS)
    recent = usage[usage["month"] >= recent_start].groupby("account_id")["logins"].sum()
    prior_rows = usage[(usage["month"] >= prior_start) & (usage["month"] < recent_start)]
    prior = prior_rows.groupby("account_id")["logins"].sum()
    prior_months = prior_rows.groupby("account_id").size()
    trend = recent.reindex(prior.index).fillna(0) / prior.where(prior > 0)
    trend = trend.where(prior_months.reindex(trend.index) == TREND_WINDOW_MONTHS)
    features["login_trend"] = trend.reindex(features.index)

    features["monthly_feature"] = _months_without(usage, "payslips_sent", last).reindex(
        features.index
    )
    no_usage = features["usage_months"] == 0
    features.loc[no_usage, "monthly_feature"] = np.nan
    features["months_without_login"] = _months_without(usage, "logins", last).reindex(
        features.index
    )
    features.loc[no_usage, "months_without_login"] = np.nan
    used = usage[usage["payslips_sent"] > 0].groupby("account_id").size()
    features["feature_months_used"] = used.reindex(features.index).fillna(0).astype(int)
    features["onboarded_after_months"] = _onboarded_after(
        usage, start, onboarding_active_ratio
    ).reindex(features.index)
    first_seen = by_account["month"].min().reindex(features.index)
    window_end = start.dt.to_period("M").dt.to_timestamp() + pd.DateOffset(
        months=onboarding_window_months
    )
    before_the_data = first_seen > window_end
    features.loc[before_the_data, "onboarded_after_months"] = np.nan
    features["onboarded"] = features["onboarded_after_months"].notna() | before_the_data
    return features


def _onboarded_after(usage: pd.DataFrame, start: pd.Series, ratio: float) -> pd.Series:
    """Months from contract start to the first month with `ratio` of seats active."""
    active = usage[(usage["seats"] > 0) & (usage["active_users"] >= ratio * usage["seats"])]
    first = active.groupby("account_id")["month"].min()
    begun = start.reindex(first.index)
    months = (first.dt.year - begun.dt.year) * 12 + (first.dt.month - begun.dt.month)
    return months.clip(lower=0).astype(float)


def _months_without(usage: pd.DataFrame, column: str, last: pd.Timestamp) -> pd.Series:
    """How many months in a row, ending with `last`, the metric was zero or not reported."""
    window = [last - pd.DateOffset(months=k) for k in range(MAX_MISSING_MONTHS)]
    used = usage[(usage[column] > 0) & (usage["month"].isin(window))]
    latest_use = used.groupby("account_id")["month"].max()
    months = (last.year - latest_use.dt.year) * 12 + (last.month - latest_use.dt.month)
    accounts = usage["account_id"].unique()
    return months.reindex(accounts).fillna(MAX_MISSING_MONTHS).astype(float)


def renewal_features(
    accounts: pd.DataFrame, opportunities: pd.DataFrame, renewal_types: tuple[str, ...], as_of: date
) -> pd.DataFrame:
    """Per account: the next open renewal opportunity (stage, amount, close date) and whether
    the last closed renewal was won. `opportunities`: account_id, type, stage, close_date,
    amount, is_closed, is_won."""
    out = pd.DataFrame(index=accounts["account_id"])
    renewals = opportunities[opportunities["type"].isin(renewal_types)].copy()
    renewals["close_date"] = pd.to_datetime(renewals["close_date"])
    upcoming = renewals[~renewals["is_closed"].astype(bool)].sort_values("close_date")
    upcoming = upcoming.drop_duplicates("account_id").set_index("account_id")
    out["renewal_stage"] = upcoming["stage"].reindex(out.index)
    out["renewal_amount"] = upcoming["amount"].reindex(out.index)
    out["renewal_close_date"] = upcoming["close_date"].reindex(out.index).dt.date
    closed = renewals[
        renewals["is_closed"].astype(bool) & (renewals["close_date"] <= pd.Timestamp(as_of))
    ]
    last = closed.sort_values("close_date").drop_duplicates("account_id", keep="last")
    out["last_renewal_won"] = last.set_index("account_id")["is_won"].reindex(out.index)
    return out


def stakeholder_features(
    accounts: pd.DataFrame,
    contact_roles: pd.DataFrame,
    roles: tuple[tuple[str, tuple[str, ...]], ...],
) -> pd.DataFrame:
    """Per account: how many distinct contacts hold each stakeholder role (mapped from the
    org's contact role values by config). `contact_roles`: account_id, contact_id, role."""
    out = pd.DataFrame(index=accounts["account_id"])
    for stakeholder, values in roles:
        holders = contact_roles[contact_roles["role"].isin(values)]
        counts = holders.groupby("account_id")["contact_id"].nunique()
        out[stakeholder] = counts.reindex(out.index).fillna(0).astype(int)
    return out
