"""One row per account: the inputs of every rule, built from accounts and monthly usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

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
)
TREND_WINDOW_MONTHS = 3
MAX_MISSING_MONTHS = 12


def positions(index: pd.Index, keys: pd.Series) -> np.ndarray:
    """Each key's position in `index` (-1 where absent). Rows of one account usually come
    together, so only the first key of each run is looked up."""
    values = keys.to_numpy(dtype=object)
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    found = index.get_indexer(values[starts])
    return np.repeat(found, np.diff(np.append(starts, len(values))))


class _PerAccount:
    """Usage rows grouped by account position (an index into the accounts table): the
    aggregations below are single numpy passes, so a million accounts take seconds."""

    def __init__(self, accounts: pd.Index, usage: pd.DataFrame) -> None:
        # 32-bit positions, months and metrics keep a million accounts' usage well under
        # a gigabyte; counts stay exact (below 16 million) and sums are taken in 64 bits.
        position = positions(accounts, usage["account_id"]).astype(np.int32)
        self.known = position >= 0
        self.size = len(accounts)
        self.position = position[self.known]
        month = usage["month"].to_numpy(dtype="datetime64[M]")[self.known]
        self.month = month.astype(np.int64).astype(np.int32)
        self.usage = usage

    def column(self, name: str) -> np.ndarray:
        values = self.usage[name]
        if not pd.api.types.is_numeric_dtype(values):
            values = pd.to_numeric(values, errors="coerce")
        return values.to_numpy(dtype=np.float32)[self.known]

    def count(self, rows: np.ndarray) -> np.ndarray:
        return np.bincount(self.position[rows], minlength=self.size)

    def total(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.bincount(self.position[rows], weights=values[rows], minlength=self.size)

    def latest(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The value in each account's row among `rows` (one per account), else NaN."""
        out = np.full(self.size, np.nan)
        out[self.position[rows]] = values[rows]
        return out

    def last_month(self, rows: np.ndarray) -> np.ndarray:
        """Each account's latest month number among `rows`; -1 where none."""
        out = np.full(self.size, -1, dtype=np.int32)
        np.maximum.at(out, self.position[rows], self.month[rows])
        return out

    def first_month(self, rows: np.ndarray) -> np.ndarray:
        """Each account's earliest month number among `rows`; a huge number where none."""
        out = np.full(self.size, np.iinfo(np.int32).max, dtype=np.int32)
        np.minimum.at(out, self.position[rows], self.month[rows])
        return out


def _month_number(stamps: pd.Series) -> np.ndarray:
    """Months since 1970-01 (NaN where the date is missing), for month arithmetic."""
    values = stamps.to_numpy(dtype="datetime64[ns]")
    numbers = values.astype("datetime64[M]").astype(np.int64).astype(float)
    numbers[np.isnat(values)] = np.nan
    return numbers


@dataclass(frozen=True)
class FeatureSettings:
    onboarding_active_ratio: float = 0.8  # the loose definition of "onboarded"
    onboarding_window_months: int = 3
    monthly_feature: str = "payslips_sent"  # usage column of the feature used every month
    seasonal_feature: str | None = "year_end_adjustments"  # used once a year
    season_months: tuple[int, ...] = (11, 12)  # its season, in order (may wrap the year)


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
    today = pd.Timestamp(as_of)
    renewal = pd.to_datetime(features["renewal_date"], format="ISO8601")
    features["days_to_renewal"] = (renewal - today).dt.days
    start = _month_number(pd.to_datetime(features["contract_start"], format="ISO8601"))
    this_month = (as_of.year - 1970) * 12 + as_of.month - 1
    features["months_since_start"] = this_month - start

    last = this_month - 1  # the last complete month
    rows = _PerAccount(features.index, usage)
    past = rows.month <= last
    count = rows.count(past)
    no_usage = count == 0
    features["usage_months"] = count

    seats, active = rows.column("seats"), rows.column("active_users")
    logins, key_feature = rows.column("logins"), rows.column(settings.monthly_feature)
    seats_now = rows.latest(seats, rows.month == last)  # per account, in 64 bits
    active_now = rows.latest(active, rows.month == last)
    with np.errstate(divide="ignore", invalid="ignore"):
        features["active_ratio"] = np.minimum(
            active_now / np.where(seats_now > 0, seats_now, np.nan), 1.0
        )

    recent_from = last - TREND_WINDOW_MONTHS + 1
    prior_from = recent_from - TREND_WINDOW_MONTHS
    recent_rows = past & (rows.month >= recent_from)
    prior_rows = (rows.month >= prior_from) & (rows.month < recent_from)
    recent = rows.total(np.nan_to_num(logins), recent_rows)
    prior = rows.total(np.nan_to_num(logins), prior_rows)
    full_prior = rows.count(prior_rows) == TREND_WINDOW_MONTHS
    blank = rows.count((recent_rows | prior_rows) & np.isnan(logins)) > 0  # unknown months
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = recent / np.where(prior > 0, prior, np.nan)
    features["login_trend"] = np.where(full_prior & ~blank, trend, np.nan)

    for column, values in (("monthly_feature", key_feature), ("months_without_login", logins)):
        features[column] = _months_without(rows, values, past, last, no_usage)
    features["feature_months_used"] = rows.count(past & (key_feature > 0))

    reached = (
        past
        & (seats > 0)
        & (active.astype(np.float64) >= settings.onboarding_active_ratio * seats.astype(np.float64))
    )
    first_reached = rows.first_month(reached).astype(float)
    first_reached[first_reached > last] = np.nan
    after = np.maximum(first_reached - start, 0)
    window = settings.onboarding_window_months
    before_the_data = ~no_usage & (rows.first_month(past) > start + window)
    features["onboarded_after_months"] = np.where(before_the_data, np.nan, after)
    features["onboarded"] = ~np.isnan(after) | before_the_data
    _seasonal(features, rows, settings, last, as_of, no_usage)
    return features


def _seasonal(
    features: pd.DataFrame,
    rows: _PerAccount,
    settings: FeatureSettings,
    last: int,
    as_of: date,
    no_usage: np.ndarray,
) -> None:
    """The feature used once a year: this season (so far) against the same months a year
    earlier. `seasonal_dropped` is 1 when it was used last season and not at all this season
    once the season is over, 0 when it is used again, missing when there is nothing to judge
    (not used last season, or the season still under way without a use so far)."""
    months = settings.season_months
    if not settings.seasonal_feature or not months or settings.seasonal_feature not in rows.usage:
        for column in SEASONAL_COLUMNS:
            features[column] = np.nan
        return
    first = months[0]
    offsets = [(m - first) % 12 for m in months]  # months after the season's first month
    start = (last // 12) * 12 + (first - 1)
    if start > last:
        start -= 12  # the latest season that has begun by the last complete month
    this_season = [start + k for k in offsets if start + k <= last]
    season_over = start + max(offsets) <= last
    raw = rows.column(settings.seasonal_feature)
    values = np.nan_to_num(raw)
    current = np.isin(rows.month, this_season)
    this = rows.total(values, current)
    before = np.isin(rows.month, [m - 12 for m in this_season])
    previous = rows.total(values, before)
    blank = np.isnan(raw)
    had_data = (rows.count(before) > 0) & (rows.count(before & blank) == 0)
    no_usage = no_usage | (rows.count(current & blank) > 0)  # this season cannot be told
    used_before = had_data & (previous > 0)
    dropped = np.where(this > 0, 0.0, 1.0 if season_over else np.nan)
    dropped = np.where(no_usage, np.nan, dropped)
    features["seasonal_this_season"] = np.where(no_usage, np.nan, this)
    features["seasonal_last_season"] = np.where(had_data, previous, np.nan)
    features["seasonal_dropped"] = np.where(used_before, dropped, np.nan)
    next_start = date(as_of.year, first, 1)
    if next_start <= as_of:
        next_start = date(as_of.year + 1, first, 1)
    features["days_to_season"] = (next_start - as_of).days


def _months_without(
    rows: _PerAccount, values: np.ndarray, past: np.ndarray, last: int, no_usage: np.ndarray
) -> np.ndarray:
    """How many months in a row, ending with `last`, the metric was zero or not reported
    (at most MAX_MISSING_MONTHS); NaN for accounts without usage, and where a blank cell
    (a value nobody knows) comes after the latest month of use: the count cannot be told."""
    window = past & (rows.month > last - MAX_MISSING_MONTHS)
    latest_use = rows.last_month(window & (values > 0))
    latest_blank = rows.last_month(window & np.isnan(values))
    months = np.where(latest_use >= 0, last - latest_use, MAX_MISSING_MONTHS).astype(float)
    months[no_usage | (latest_blank > latest_use)] = np.nan
    return months


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
    contact, _ = pd.factorize(contact_roles["contact_id"])
    width = int(contact.max()) + 1 if len(contact) else 1
    for stakeholder, values in roles:
        rows = (position >= 0) & (contact >= 0) & contact_roles["role"].isin(values).to_numpy()
        pairs = pd.unique(position[rows].astype(np.int64) * width + contact[rows])
        out[stakeholder] = np.bincount(pairs // width, minlength=len(index))
    return out
