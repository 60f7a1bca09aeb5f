"""Features from accounts and monthly usage, with the run date passed in."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cs_sync.rules.calendar import add_business_days, closed_days
from cs_sync.rules.features import build_features

AS_OF = date(2026, 11, 24)  # last complete month: 2026-10


def usage_rows(
    account: str,
    months: list[str],
    active: list[int],
    logins: list[int],
    payslips: list[int],
    seats: int = 100,
) -> list[dict]:
    return [
        {
            "account_id": account,
            "month": pd.Timestamp(f"{m}-01"),
            "seats": seats,
            "active_users": a,
            "logins": lg,
            "payslips_sent": p,
        }
        for m, a, lg, p in zip(months, active, logins, payslips, strict=True)
    ]


MONTHS = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]


def build(rows: list[dict], accounts: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {"account_id": a, "renewal_date": "2027-01-23", "contract_start": "2024-04-01"}
            for a in accounts
        ]
    )
    return build_features(frame, pd.DataFrame(rows), AS_OF)


def test_measures_read_the_last_complete_month() -> None:
    rows = usage_rows(
        "a",
        MONTHS,
        [80, 80, 80, 80, 80, 60, 5],
        [100, 100, 100, 50, 50, 50, 1],
        [1, 1, 1, 1, 1, 1, 0],
    )
    row = build(rows, ["a"]).loc["a"]
    assert row["active_ratio"] == 0.6  # October, not the half-finished November
    assert row["login_trend"] == pytest.approx(150 / 300)
    assert row["monthly_feature"] == 0
    assert row["days_to_renewal"] == 60
    assert row["months_since_start"] == 31


@pytest.mark.parametrize(
    ("payslips", "expected"),
    [
        pytest.param([1, 1, 1, 1, 1, 1], 0, id="used-last-month"),
        pytest.param([1, 1, 1, 1, 0, 0], 2, id="two-months-missing"),
        pytest.param([1, 0, 0, 0, 0, 0], 5, id="five-months-missing"),
        pytest.param([0, 0, 0, 0, 0, 0], 12, id="never-in-window"),
    ],
)
def test_months_without_the_monthly_feature(payslips: list[int], expected: int) -> None:
    rows = usage_rows("a", MONTHS[:6], [50] * 6, [10] * 6, payslips)
    assert build(rows, ["a"]).loc["a", "monthly_feature"] == expected


def test_a_missing_month_counts_as_not_used() -> None:
    rows = usage_rows("a", ["2026-08", "2026-10"], [50, 50], [10, 10], [1, 0])
    assert build(rows, ["a"]).loc["a", "monthly_feature"] == 2


def test_login_trend_needs_a_full_prior_window() -> None:
    rows = usage_rows("a", MONTHS[2:6], [50] * 4, [10] * 4, [1] * 4)
    assert np.isnan(build(rows, ["a"]).loc["a", "login_trend"])


def test_account_without_usage_has_no_measures() -> None:
    rows = usage_rows("a", MONTHS[:6], [50] * 6, [10] * 6, [1] * 6)
    features = build(rows, ["a", "b"])
    assert features.loc["b", "usage_months"] == 0
    assert features.loc["b", ["active_ratio", "login_trend", "monthly_feature"]].isna().all()


def test_active_ratio_is_capped_and_zero_seats_is_missing() -> None:
    rows = usage_rows("a", ["2026-10"], [120], [1], [1]) + usage_rows(
        "b", ["2026-10"], [5], [1], [1], seats=0
    )
    features = build(rows, ["a", "b"])
    assert features.loc["a", "active_ratio"] == 1.0
    assert np.isnan(features.loc["b", "active_ratio"])


JAPAN = closed_days("JP", ("12-29", "12-30", "12-31", "01-02", "01-03"), range(2026, 2028))


@pytest.mark.parametrize(
    ("start", "days", "closed", "expected"),
    [
        pytest.param(date(2026, 11, 24), 5, frozenset(), date(2026, 12, 1), id="tue+5"),
        pytest.param(date(2026, 11, 27), 1, frozenset(), date(2026, 11, 30), id="fri+1-is-mon"),
        pytest.param(date(2026, 11, 28), 0, frozenset(), date(2026, 11, 28), id="zero-days"),
        pytest.param(
            date(2026, 11, 20),
            1,
            JAPAN,
            date(2026, 11, 24),
            id="labor-thanksgiving-substitute-monday-skipped",
        ),
        pytest.param(
            date(2026, 12, 25), 3, JAPAN, date(2027, 1, 5), id="year-end-and-new-year-skipped"
        ),
        pytest.param(date(2027, 1, 8), 1, JAPAN, date(2027, 1, 12), id="coming-of-age-day-skipped"),
    ],
)
def test_business_days(start: date, days: int, closed: frozenset[date], expected: date) -> None:
    assert add_business_days(start, days, closed) == expected


def test_renewal_features() -> None:
    from cs_sync.rules.features import renewal_features

    accounts = pd.DataFrame({"account_id": ["a", "b", "c"]})
    opps = pd.DataFrame(
        [
            # a: won last year, next renewal open in Proposal; an older open one counts first
            {
                "account_id": "a",
                "type": "Renewal",
                "stage": "Closed Won",
                "close_date": "2025-12-01",
                "amount": 100.0,
                "is_closed": True,
                "is_won": True,
            },
            {
                "account_id": "a",
                "type": "Renewal",
                "stage": "Proposal",
                "close_date": "2026-12-01",
                "amount": 120.0,
                "is_closed": False,
                "is_won": False,
            },
            {
                "account_id": "a",
                "type": "Renewal",
                "stage": "Prospecting",
                "close_date": "2027-12-01",
                "amount": 130.0,
                "is_closed": False,
                "is_won": False,
            },
            # b: lost its last renewal, an upsell is not a renewal
            {
                "account_id": "b",
                "type": "Renewal",
                "stage": "Closed Lost",
                "close_date": "2026-10-01",
                "amount": 50.0,
                "is_closed": True,
                "is_won": False,
            },
            {
                "account_id": "b",
                "type": "Upsell",
                "stage": "Proposal",
                "close_date": "2026-12-01",
                "amount": 10.0,
                "is_closed": False,
                "is_won": False,
            },
        ]
    )
    out = renewal_features(accounts, opps, ("Renewal",), AS_OF)
    assert out.loc["a", "renewal_stage"] == "Proposal"
    assert out.loc["a", "renewal_amount"] == 120.0
    assert out.loc["a", "renewal_close_date"] == pd.Timestamp("2026-12-01")
    assert bool(out.loc["a", "last_renewal_won"]) is True
    assert pd.isna(out.loc["b", "renewal_stage"])
    assert bool(out.loc["b", "last_renewal_won"]) is False
    assert out.loc["c"].isna().all()


def test_stakeholders_are_mapped_from_role_values() -> None:
    from cs_sync.rules.features import stakeholder_features

    accounts = pd.DataFrame({"account_id": ["a", "b"]})
    roles = pd.DataFrame(
        [
            {"account_id": "a", "contact_id": "003A", "role": "Decision Maker"},
            {"account_id": "a", "contact_id": "003A", "role": "Economic Buyer"},  # same person
            {"account_id": "a", "contact_id": "003B", "role": "Business User"},
            {"account_id": "a", "contact_id": "003C", "role": "Business User"},
            {"account_id": "b", "contact_id": "003D", "role": "Champion"},
        ]
    )
    mapping = (
        ("economic_buyer", ("Economic Buyer", "Decision Maker")),
        ("champion", ("Champion",)),
        ("end_user", ("Business User",)),
    )
    out = stakeholder_features(accounts, roles, mapping)
    assert out.loc["a"].tolist() == [1, 0, 2]
    assert out.loc["b"].tolist() == [0, 1, 0]


def onboarding(start: str, months: list[str], active: list[int]) -> pd.Series:
    frame = pd.DataFrame(
        [{"account_id": "a", "renewal_date": "2027-05-01", "contract_start": start}]
    )
    rows = usage_rows("a", months, active, [10] * len(active), [1] * len(active))
    return build_features(frame, pd.DataFrame(rows), AS_OF).loc["a"]


@pytest.mark.parametrize(
    ("start", "months", "active", "onboarded", "after"),
    [
        pytest.param(
            "2026-05-10",
            MONTHS[:6],
            [30, 60, 80, 70, 65, 70],
            True,
            2,
            id="80 of 100 seats active in month 2: onboarded, even if it settles lower",
        ),
        pytest.param(
            "2026-05-10",
            MONTHS[:6],
            [30, 60, 79, 75, 78, 79],
            False,
            None,
            id="never quite 80%: not onboarded",
        ),
        pytest.param(
            "2026-05-10",
            MONTHS[:6],
            [10, 20, 30, 50, 70, 85],
            True,
            5,
            id="80% reached late, in month 5: onboarded after 5 months",
        ),
        pytest.param(
            "2023-01-15",
            MONTHS[:6],
            [60, 60, 60, 60, 60, 60],
            True,
            None,
            id="usage history starts years after the contract: onboarded before the data",
        ),
        pytest.param(
            "2026-03-01",
            MONTHS[:6],
            [60, 60, 60, 60, 60, 60],
            False,
            None,
            id="history covers the window and shows no 80% month: not onboarded",
        ),
    ],
)
def test_onboarding_by_the_loose_definition(
    start: str, months: list[str], active: list[int], onboarded: bool, after: int | None
) -> None:
    row = onboarding(start, months, active)
    assert bool(row["onboarded"]) is onboarded
    if after is None:
        assert np.isnan(row["onboarded_after_months"])
    else:
        assert row["onboarded_after_months"] == after


@pytest.mark.parametrize(
    ("logins", "expected"),
    [
        pytest.param([5, 5, 5, 5, 5, 5], 0, id="logged in last month"),
        pytest.param([5, 5, 5, 5, 0, 0], 2, id="two silent months"),
        pytest.param([0, 0, 0, 0, 0, 0], 12, id="silent for the whole window"),
    ],
)
def test_months_without_a_login(logins: list[int], expected: int) -> None:
    rows = usage_rows("a", MONTHS[:6], [50] * 6, logins, [1, 0, 1, 1, 0, 1])
    row = build(rows, ["a"]).loc["a"]
    assert row["months_without_login"] == expected
    assert row["feature_months_used"] == 4


def test_account_without_usage_has_no_usage_features() -> None:
    row = build(usage_rows("a", MONTHS[:2], [50] * 2, [5] * 2, [1] * 2), ["a", "b"]).loc["b"]
    assert np.isnan(row["months_without_login"]) and np.isnan(row["monthly_feature"])
    assert row["feature_months_used"] == 0 and not row["onboarded"]


def seasonal(uses: dict[str, float], as_of: date, months: tuple[int, ...] = (11, 12)) -> pd.Series:
    """One account with usage every month from 2024-01 to the month before `as_of`; the
    seasonal feature used in the months given."""
    from cs_sync.rules.features import FeatureSettings

    last = pd.Timestamp(as_of.year, as_of.month, 1) - pd.DateOffset(months=1)
    rows = [
        {
            "account_id": "a",
            "month": month,
            "seats": 10,
            "active_users": 8,
            "logins": 50,
            "payslips_sent": 8,
            "year_end_adjustments": uses.get(f"{month:%Y-%m}", 0),
        }
        for month in pd.date_range("2024-01-01", last, freq="MS")
    ]
    frame = pd.DataFrame(
        [{"account_id": "a", "renewal_date": "2027-05-01", "contract_start": "2023-04-01"}]
    )
    settings = FeatureSettings(season_months=months)
    return build_features(frame, pd.DataFrame(rows), as_of, settings).loc["a"]


@pytest.mark.parametrize(
    ("uses", "as_of", "dropped", "this", "last"),
    [
        pytest.param(
            {"2024-11": 5, "2024-12": 3, "2025-11": 6},
            date(2026, 11, 24),
            0.0,
            6,
            8,
            id="year-end adjustment used last season and this one",
        ),
        pytest.param(
            {"2024-11": 5, "2024-12": 3},
            date(2026, 11, 24),
            1.0,
            0,
            8,
            id="used the season before, not in the last one: a serious risk",
        ),
        pytest.param({}, date(2026, 11, 24), None, 0, 0, id="never used: nothing to judge"),
        pytest.param(
            {"2025-11": 4},
            date(2026, 12, 15),
            None,
            0,
            4,
            id="season under way, no use in November yet: too early to say",
        ),
        pytest.param(
            {"2025-11": 4, "2026-11": 2},
            date(2026, 12, 15),
            0.0,
            2,
            4,
            id="season under way, used again in November",
        ),
        pytest.param(
            {"2024-12": 1, "2025-01": 1, "2025-12": 1},
            date(2026, 2, 10),
            0.0,
            1,
            2,
            id="a season across the new year (Dec-Feb), judged on the months so far",
        ),
    ],
)
def test_seasonal_feature_this_season_against_the_same_season_last_year(
    uses: dict[str, int], as_of: date, dropped: float | None, this: int, last: int
) -> None:
    months = (12, 1, 2) if as_of.month == 2 else (11, 12)
    row = seasonal(uses, as_of, months)
    if dropped is None:
        assert np.isnan(row["seasonal_dropped"])
    else:
        assert row["seasonal_dropped"] == dropped
    assert (row["seasonal_this_season"], row["seasonal_last_season"]) == (this, last)


@pytest.mark.parametrize(
    ("as_of", "days"),
    [
        pytest.param(date(2026, 10, 20), 12, id="12 days before November"),
        pytest.param(date(2026, 11, 1), 365, id="on the first day: the next one is a year off"),
        pytest.param(date(2026, 11, 24), 342, id="in season: counts to next year's"),
    ],
)
def test_days_to_the_next_season(as_of: date, days: int) -> None:
    assert seasonal({}, as_of)["days_to_season"] == days


NAN = float("nan")


@pytest.mark.parametrize(
    ("logins", "payslips", "trend_known", "without_login", "without_feature"),
    [
        pytest.param([5, 5, 5, 5, 5, NAN], [1] * 6, False, NAN, 0, id="blank login after a use"),
        pytest.param([5, 5, 5, 5, 5, 5], [1, 1, 1, 1, 0, NAN], True, 0, NAN, id="blank feature"),
        pytest.param([5, 5, 5, NAN, 5, 5], [1] * 6, False, 0, 0, id="blank inside the window"),
        pytest.param([5, 5, NAN, 5, 0, 0], [1] * 6, False, 2, 0, id="blank before the last use"),
    ],
)
def test_a_blank_cell_is_unknown_never_zero(
    logins: list[float],
    payslips: list[float],
    trend_known: bool,
    without_login: float,
    without_feature: float,
) -> None:
    """A blank usage cell (NaN) is a value nobody knows: a trend over it, or a count of months
    without use that runs across it, is missing (the measure's missing-data policy applies),
    never the zero that would lower the grade."""
    rows = usage_rows("a", MONTHS[:6], [50] * 6, logins, payslips)  # type: ignore[arg-type]
    row = build(rows, ["a"]).loc["a"]
    assert (not np.isnan(row["login_trend"])) is trend_known
    assert row["months_without_login"] == without_login or (
        np.isnan(without_login) and np.isnan(row["months_without_login"])
    )
    assert row["monthly_feature"] == without_feature or (
        np.isnan(without_feature) and np.isnan(row["monthly_feature"])
    )


def test_a_blank_in_the_season_leaves_the_season_unknown() -> None:
    uses = {"2025-11": 3, "2025-12": 2}
    assert seasonal(uses, date(2027, 1, 10))["seasonal_dropped"] == 1  # used last season only
    row = seasonal({**uses, "2026-12": NAN}, date(2027, 1, 10))  # a blank in this season
    assert np.isnan(row["seasonal_dropped"]) and np.isnan(row["seasonal_this_season"])
