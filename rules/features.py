"""One row per account: the inputs of every rule, built from accounts and monthly usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from cs_sync.rules.activity import ACTIVITY_COLUMNS, CASE_COLUMNS
from cs_sync.rules.sponsors import SPONSOR_FEATURES
from cs_sync.rules.surveys import SURVEY_COLUMNS
from cs_sync.rules.usage_metrics import (
    MAX_MISSING_MONTHS,
    PART_ROWS,
    SEASON_SPAN,
    MetricFeature,
    PerAccount,
    metric_feature,
    month_number,
    months_needed,
    months_without,
    positions,
    season,
    trend,
)

STAKEHOLDERS = ("economic_buyer", "champion", "administrator", "end_user")
SEASONAL_COLUMNS = (
    "seasonal_this_season",
    "seasonal_last_season",
    "seasonal_dropped",
    "days_to_season",
)
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
    *SEASONAL_COLUMNS,
    *ACTIVITY_COLUMNS,
    *CASE_COLUMNS,
    *SURVEY_COLUMNS,
    *SPONSOR_FEATURES,
)
TREND_WINDOW_MONTHS = 3


@dataclass(frozen=True)
class FeatureSettings:
    onboarding_active_ratio: float = 0.8  # the loose definition of "onboarded"
    onboarding_window_months: int = 3
    monthly_feature: str = "payslips_sent"  # usage column of the feature used every month
    seasonal_feature: str | None = "year_end_adjustments"  # used once a year
    season_months: tuple[int, ...] = (11, 12)  # its season, in order (may wrap the year)
    metric_features: tuple[MetricFeature, ...] = ()  # the admin's features of usage metrics


def build_features(
    accounts: pd.DataFrame,
    usage: pd.DataFrame,
    as_of: date,
    settings: FeatureSettings = FeatureSettings(),  # noqa: B008 - frozen, so shared safely
) -> pd.DataFrame:
    """`accounts`: one row per account (account_id, arr, seats, contract_start, renewal_date…).
    `usage`: account_id, month (first of month), seats, active_users, logins and the monthly
    and seasonal feature columns named in `settings`.
    Returns accounts indexed by account_id with feature columns added.

    Onboarding uses the loose definition: the account is `onboarded` from the first month
    in which `onboarding_active_ratio` of its seats were active; `onboarded_after_months`
    counts the months from contract start to that month. An account whose usage history
    begins after its onboarding window is taken as onboarded (it happened before the data),
    with `onboarded_after_months` left empty."""
    features = accounts.set_index("account_id", drop=False)  # a new frame (copy on write)
    # the columns made here, added in one concatenation at the end: added one by one, pandas
    # gathers the float columns into one block more than once (a copy of them all, 140 MiB
    # at a million accounts)
    new: dict[str, np.ndarray] = {}
    today = pd.Timestamp(as_of)
    renewal = pd.to_datetime(features["renewal_date"], format="ISO8601")
    new["days_to_renewal"] = (renewal - today).dt.days.to_numpy()
    start = month_number(pd.to_datetime(features["contract_start"], format="ISO8601"))
    this_month = (as_of.year - 1970) * 12 + as_of.month - 1
    new["months_since_start"] = this_month - start

    last = this_month - 1  # the last complete month
    span = max(
        (2 * TREND_WINDOW_MONTHS, MAX_MISSING_MONTHS, SEASON_SPAN)
        + tuple(months_needed(metric) for metric in settings.metric_features)
    )
    rows = PerAccount(features.index, usage, last, span)
    no_usage = rows.no_usage
    new["usage_months"] = rows.months_used

    seats, active = rows.column("seats"), rows.column("active_users")
    logins, key_feature = rows.column("logins"), rows.column(settings.monthly_feature)
    seats_now, active_now = rows.latest(seats), rows.latest(active)
    with np.errstate(divide="ignore", invalid="ignore"):
        new["active_ratio"] = np.minimum(
            active_now / np.where(seats_now > 0, seats_now, np.nan), 1.0
        )
    new["login_trend"] = trend(rows, logins, TREND_WINDOW_MONTHS)
    new["monthly_feature"] = months_without(rows, key_feature)
    new["months_without_login"] = months_without(rows, logins)
    new["feature_months_used"] = rows.count(rows.past & (key_feature.values > 0))

    ratio = settings.onboarding_active_ratio
    reached = rows.past & (seats.values > 0) & _at_least(active.values, ratio, seats.values)
    first_reached = rows.first_month(reached).astype(float)
    first_reached[first_reached > last] = np.nan
    after = np.maximum(first_reached - start, 0)
    window = settings.onboarding_window_months
    before_the_data = ~no_usage & (rows.first_month(rows.past) > start + window)
    new["onboarded_after_months"] = np.where(before_the_data, np.nan, after)
    new["onboarded"] = ~np.isnan(after) | before_the_data
    # each column is let go once no feature left reads it (a million accounts' usage is
    # hundreds of megabytes a column)
    del seats, active, logins, key_feature, reached
    wanted = [metric.metric for metric in settings.metric_features]
    rows.forget(
        {"seats", "active_users", "logins", settings.monthly_feature}
        - set(wanted)
        - {settings.seasonal_feature}
    )
    _seasonal(new, rows, settings, as_of)
    rows.forget({name for name in [settings.seasonal_feature] if name} - set(wanted))
    for place, metric in enumerate(settings.metric_features):
        new[metric.name] = metric_feature(rows, metric, start, as_of)
        if metric.metric not in wanted[place + 1 :]:
            rows.forget({metric.metric})
    made = pd.DataFrame(new, index=features.index, copy=False)
    return pd.concat([features.drop(columns=[c for c in new if c in features]), made], axis=1)


def _at_least(values: np.ndarray, share: float, of: np.ndarray) -> np.ndarray:
    """values >= share × of, row by row, in 64 bits (0.6 × 5 seats is 3 there, a little over
    3 in 32), a part of the rows at a time: whole, the 64-bit copies of a million accounts'
    usage would be 300 MB at once."""
    out = np.empty(len(values), dtype=bool)
    for start in range(0, len(values), PART_ROWS):
        part = slice(start, start + PART_ROWS)
        out[part] = values[part].astype(np.float64) >= share * of[part].astype(np.float64)
    return out


def _seasonal(
    features: dict[str, np.ndarray],
    rows: PerAccount,
    settings: FeatureSettings,
    as_of: date,
) -> None:
    """The feature used once a year (usage.seasonal_feature): this season (so far) against
    the same months a year earlier (see usage_metrics.season)."""
    name, months = settings.seasonal_feature, settings.season_months
    if not name or not months or name not in rows.usage:
        for column in SEASONAL_COLUMNS:
            features[column] = np.full(rows.size, np.nan)
        return
    found = season(rows, rows.column(name), months, as_of)
    features["seasonal_this_season"] = found.this
    features["seasonal_last_season"] = found.last
    features["seasonal_dropped"] = found.dropped
    features["days_to_season"] = np.full(rows.size, found.days_to_next)


def renewal_features(
    accounts: pd.DataFrame, opportunities: pd.DataFrame, renewal_types: tuple[str, ...], as_of: date
) -> pd.DataFrame:
    """Per account: the next open renewal opportunity (stage, amount, close date) and whether
    the last closed renewal was won. `opportunities`: account_id, type, stage, close_date,
    amount, is_closed, is_won."""
    index = pd.Index(accounts["account_id"])
    out = pd.DataFrame(index=index)
    renewals = opportunities[opportunities["type"].isin(renewal_types)]
    position = positions(index, renewals["account_id"])
    close = pd.to_datetime(renewals["close_date"], format="ISO8601").to_numpy()
    is_closed = renewals["is_closed"].to_numpy(dtype=bool)

    upcoming = _first_per_account(position, close, (position >= 0) & ~is_closed, len(index))
    for column, source in (("renewal_stage", "stage"), ("renewal_amount", "amount")):
        out[column] = _spread(renewals[source].to_numpy(dtype=object), upcoming)
    out["renewal_amount"] = pd.to_numeric(out["renewal_amount"], errors="coerce")
    out["renewal_close_date"] = pd.to_datetime(_spread(close, upcoming))

    done = (position >= 0) & is_closed & (close <= np.datetime64(as_of))
    last = _first_per_account(position, close, done, len(index), latest=True)
    out["last_renewal_won"] = _spread(renewals["is_won"].to_numpy(dtype=object), last)
    return out


def _first_per_account(
    position: np.ndarray, when: np.ndarray, rows: np.ndarray, size: int, latest: bool = False
) -> np.ndarray:
    """For each account, the row (among `rows`) with the earliest (or latest) `when`; -1."""
    chosen = np.flatnonzero(rows)
    order = np.lexsort(
        ((when[chosen] if not latest else -when[chosen].astype(np.int64)), position[chosen])
    )
    ranked = chosen[order]
    accounts, first = np.unique(position[ranked], return_index=True)
    out = np.full(size, -1, dtype=np.int64)
    out[accounts] = ranked[first]
    return out


def _spread(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows] per account, with missing where the account has no row (-1)."""
    if values.dtype.kind == "M":
        out = np.full(len(rows), np.datetime64("NaT"), dtype=values.dtype)
    else:
        out = np.full(len(rows), None, dtype=object)
    found = rows >= 0
    out[found] = values[rows[found]]
    return out


def stakeholder_features(
    accounts: pd.DataFrame,
    contact_roles: pd.DataFrame,
    roles: tuple[tuple[str, tuple[str, ...]], ...],
) -> pd.DataFrame:
    """Per account: how many distinct contacts hold each stakeholder role (mapped from the
    org's contact role values by config). `contact_roles`: account_id, contact_id, role."""
    index = pd.Index(accounts["account_id"])
    out = pd.DataFrame(index=index)
    position = positions(index, contact_roles["account_id"])
    role, role_names = pd.factorize(contact_roles["role"])  # a few values on many rows
    held = {name: np.flatnonzero(role_names.isin(values)) for name, values in roles}
    # Only the rows of a read account and a stakeholder role name a contact worth counting.
    kept = np.flatnonzero(
        (position >= 0) & np.isin(role, np.concatenate([*held.values(), np.empty(0, np.intp)]))
    )
    position, role = position[kept], role[kept]
    contact, _ = pd.factorize(contact_roles["contact_id"].to_numpy()[kept])
    width = int(contact.max()) + 1 if len(contact) else 1
    for stakeholder, codes in held.items():
        rows = (contact >= 0) & np.isin(role, codes)
        pairs = pd.unique(position[rows].astype(np.int64) * width + contact[rows])
        out[stakeholder] = np.bincount(pairs // width, minlength=len(index))
    return out
