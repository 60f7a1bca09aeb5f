"""Features of any usage metric: each function on a small history a CS lead can check by hand,
with blank cells (unknown) kept apart from zeros."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cs_sync.rules.features import FeatureSettings, _at_least, build_features
from cs_sync.rules.usage_metrics import MetricFeature, PerAccount, month_number, positions
from tests.conftest import traced_peak

AS_OF = date(2026, 11, 24)  # last complete month: 2026-10
NAN = np.nan


def months_back(count: int) -> list[str]:
    """`count` months ending with 2026-10, oldest first."""
    periods = pd.period_range(end="2026-10", periods=count, freq="M")
    return [str(p) for p in periods]


def value_of(
    values: list[float],
    feature: MetricFeature,
    contract_start: str = "2024-04-01",
    months: list[str] | None = None,
) -> float:
    """The feature for one account whose metric `requests` has `values` (oldest first) in
    the months ending with the last complete month."""
    months = months or months_back(len(values))
    usage = pd.DataFrame(
        [
            {
                "account_id": "a",
                "month": pd.Timestamp(f"{m}-01"),
                "seats": 10,
                "active_users": 5,
                "logins": 10,
                "payslips_sent": 1,
                "requests": v,
            }
            for m, v in zip(months, values, strict=True)
        ]
    )
    accounts = pd.DataFrame(
        [{"account_id": "a", "renewal_date": "2027-06-30", "contract_start": contract_start}]
    )
    settings = FeatureSettings(seasonal_feature=None, metric_features=(feature,))
    return float(build_features(accounts, usage, AS_OF, settings).loc["a", feature.name])


def feature(function: str, **options: object) -> MetricFeature:
    return MetricFeature("f", "requests", function, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "made", "expected"),
    [
        pytest.param([3, 4, 7], feature("last"), 7, id="last-month"),
        pytest.param([3, 4, NAN], feature("last"), NAN, id="last-month-blank-is-unknown"),
        pytest.param([3, 4, 7], feature("total", months=2), 11, id="total-of-two-months"),
        pytest.param([3, NAN, 7], feature("total", months=2), NAN, id="total-with-a-blank"),
        pytest.param([3, 4, 8], feature("average", months=2), 6, id="average"),
        pytest.param([2, 2, 1, 1], feature("trend", months=2), 0.5, id="trend-halved"),
        pytest.param([1, 1], feature("trend", months=2), NAN, id="trend-without-earlier-months"),
        pytest.param([0, 0, 1, 1], feature("trend", months=2), NAN, id="trend-from-nothing"),
        pytest.param([5, 0, 0, 0], feature("months_without"), 3, id="three-months-without"),
        pytest.param([0] * 14, feature("months_without"), 12, id="without-caps-at-12"),
        pytest.param([5, 0, NAN, 0], feature("months_without"), NAN, id="without-blank"),
        pytest.param([5] + [0] * 13, feature("months_since_use"), 13, id="since-use-no-cap"),
        pytest.param([0] * 5, feature("months_since_use"), NAN, id="since-use-never-used"),
    ],
)
def test_functions_over_the_last_complete_months(
    values: list[float], made: MetricFeature, expected: float
) -> None:
    assert value_of(values, made) == pytest.approx(expected, nan_ok=True)


def test_a_month_without_a_row_counts_as_nothing_used_in_totals() -> None:
    got = value_of([4, 6], feature("total", months=3), months=["2026-08", "2026-10"])
    assert got == 10


def test_the_latest_season_that_has_begun_is_this_season() -> None:
    # by October 2026 the latest Nov-Dec season that has begun is 2025's: it was used
    # (4 + 6), and Nov-Dec 2024 is not in the data, so a drop cannot be judged
    months = months_back(12)  # 2025-11 .. 2026-10
    values = [4, 6] + [0] * 10
    assert value_of(values, feature("season_total", season=(11, 12)), months=months) == 10
    dropped = value_of(values, feature("season_dropped", season=(11, 12)), months=months)
    assert np.isnan(dropped)


def test_season_against_last_season_in_its_own_months() -> None:
    # the 3-4 season (fiscal year-end reports): 2025 used 10 + 10, 2026 used 5 + 0
    values = {"2025-03": 10, "2025-04": 10, "2026-03": 5, "2026-04": 0}
    months = months_back(20)  # 2025-03 .. 2026-10
    series = [values.get(m, 0) for m in months]
    assert value_of(series, feature("season_total", season=(3, 4)), months=months) == 5
    assert value_of(series, feature("season_change", season=(3, 4)), months=months) == 0.25
    assert value_of(series, feature("season_dropped", season=(3, 4)), months=months) == 0
    series = [0 if m.startswith("2026") else v for m, v in zip(months, series, strict=True)]
    assert value_of(series, feature("season_dropped", season=(3, 4)), months=months) == 1


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([0, 0, 1, 3], 2, id="first-request-in-the-third-month"),
        pytest.param([2, 0, 0, 0], 0, id="in-the-first-month"),
        pytest.param([0, 0, 0, 0], 4, id="not-yet-four-months-so-far"),
    ],
)
def test_months_to_level_counts_from_the_contract_start(
    values: list[float], expected: float
) -> None:
    got = value_of(values, feature("months_to_level", level=1), contract_start="2026-07-10")
    assert got == expected


def test_no_usage_at_all_is_unknown_for_every_function() -> None:
    usage = pd.DataFrame(
        [
            {
                "account_id": "b",
                "month": pd.Timestamp("2026-10-01"),
                "seats": 1,
                "active_users": 1,
                "logins": 1,
                "payslips_sent": 1,
                "requests": 3,
            }
        ]
    )
    accounts = pd.DataFrame(
        [
            {"account_id": a, "renewal_date": "2027-06-30", "contract_start": "2026-01-01"}
            for a in ("a", "b")
        ]
    )
    functions = ["last", "total", "trend", "months_without", "months_since_use", "months_to_level"]
    made = tuple(MetricFeature(f, "requests", f) for f in functions)  # type: ignore[arg-type]
    built = build_features(accounts, usage, AS_OF, FeatureSettings(metric_features=made))
    assert built.loc["a", functions].isna().all()
    assert built.loc["b", "last"] == 3


def test_a_long_trend_reads_back_further_than_the_built_in_windows() -> None:
    # 40 months of history: the last 18 against the 18 before, 36 months back
    values = [9] * 4 + [2] * 18 + [1] * 18
    assert value_of(values, feature("trend", months=18)) == 0.5
    assert value_of(values[-24:], feature("average", months=24)) == 1.25


def test_months_without_looks_only_at_its_window() -> None:
    # a blank cell 14 months back is outside the 12 months counted
    assert value_of([NAN, 5] + [0] * 12, feature("months_without")) == 12
    assert value_of([NAN, 5] + [0] * 12, feature("months_since_use")) == 12


def test_rows_of_one_account_and_month_add_up() -> None:
    # two usage keys mapped to one account: their rows in a month count together
    row = {"account_id": "a", "seats": 10, "active_users": 5, "logins": 10, "payslips_sent": 1}
    usage = pd.DataFrame(
        [
            {**row, "month": pd.Timestamp("2026-10-01"), "requests": 2},
            {**row, "month": pd.Timestamp("2026-10-01"), "requests": 3},
            {**row, "month": pd.Timestamp("2026-09-01"), "requests": 1},
        ]
    )
    accounts = pd.DataFrame(
        [{"account_id": "a", "renewal_date": "2027-06-30", "contract_start": "2024-04-01"}]
    )
    made = (feature("total", months=2), MetricFeature("l", "requests", "last"))
    settings = FeatureSettings(seasonal_feature=None, metric_features=made)
    built = build_features(accounts, usage, AS_OF, settings)
    assert built.loc["a", "f"] == 6
    assert built.loc["a", "l"] == 5


def test_positions_of_keys_held_as_codes_are_those_of_the_keys() -> None:
    # usage keeps its account ids as a categorical: each distinct id is looked up once
    index = pd.Index(["001A", "001B", "001C"], dtype=object)
    keys = ["001C", "001C", None, "001X", "001A", "001B", "001B"]
    as_codes = pd.Series(pd.Categorical(keys, categories=["001X", "001B", "001C", "001A"]))
    expected = [2, 2, -1, -1, 0, 1, 1]
    assert positions(index, pd.Series(keys, dtype=object)).tolist() == expected
    assert positions(index, as_codes).tolist() == expected
    assert positions(index, as_codes.iloc[0:0]).tolist() == []


def test_month_numbers_are_worked_out_a_part_of_the_rows_at_a_time() -> None:
    months = pd.Series(pd.date_range("1969-06-01", periods=30, freq="MS")).sample(
        4_000_000, replace=True, random_state=1
    )
    months.iloc[::7] = pd.NaT
    found = month_number(months)
    expected = (months.dt.year - 1970) * 12 + months.dt.month - 1
    np.testing.assert_array_equal(found, expected.to_numpy(dtype=float))
    # the answer (8 bytes a row) and a part's copies: converting every row at once held five
    # arrays of the column's length
    assert traced_peak(lambda: month_number(months)) < 2 * found.nbytes


def test_onboarding_s_share_of_seats_is_compared_in_64_bits_a_part_at_a_time() -> None:
    rng = np.random.default_rng(3)
    seats = rng.integers(0, 40, 3_000_000).astype(np.float32)
    active = rng.integers(0, 40, 3_000_000).astype(np.float32)
    found = _at_least(active, 0.6, seats)
    np.testing.assert_array_equal(found, active.astype(float) >= 0.6 * seats.astype(float))
    assert _at_least(np.float32([3]), 0.6, np.float32([5]))[0]  # a little over 3 in 32 bits
    whole = 3 * seats.astype(float).nbytes  # the 64-bit copies of every row at once
    assert traced_peak(lambda: _at_least(active, 0.6, seats)) < whole / 2


def _large_usage(accounts: int, months: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A book's accounts and their usage as the run keeps it (account ids as a categorical,
    32-bit metrics), every account with a row each month up to October 2026, a few blank."""
    ids = pd.Index([f"001A{n:011d}AAA" for n in range(accounts)], dtype=object)
    rng = np.random.default_rng(7)
    rows = accounts * months
    metrics = {
        name: rng.integers(0, 50, rows).astype(np.float32)
        for name in ("seats", "active_users", "logins", "payslips_sent", "year_end_adjustments")
    }
    metrics["logins"][::97] = np.nan
    usage = pd.DataFrame(
        {
            "account_id": pd.Categorical.from_codes(
                np.repeat(np.arange(accounts, dtype=np.int32), months), ids
            ),
            "month": np.tile(pd.date_range(end="2026-10-01", periods=months, freq="MS"), accounts),
            **metrics,
        },
        copy=False,
    )
    book = pd.DataFrame(
        {
            "account_id": ids.to_numpy(),
            "renewal_date": "2027-06-30",
            "contract_start": "2024-04-01",
        }
    )
    return book, usage


def test_the_usage_features_peak_well_within_the_usage_rows_they_read() -> None:
    """At a million accounts the usage features were the rerun's peak: 920 MiB over the book
    on 670 MiB of usage rows (64-bit copies of every row's position and month, a grid for
    seats and active users, the float columns gathered as each feature was added); 592 MiB
    now. Here, 20,000 accounts' 27 months: 1.28 times the rows (1.52 before)."""
    book, usage = _large_usage(20_000, 27)
    rows_bytes = usage.memory_usage(index=False).sum()
    peak = traced_peak(lambda: build_features(book, usage, AS_OF))
    assert peak < 1.4 * rows_bytes


def test_the_last_month_read_off_the_rows_is_the_grid_s() -> None:
    """Seats and active users read only the last complete month: off the rows, without a
    grid, the same values as the grid's, blanks and rows of one cell added included."""
    book, usage = _large_usage(500, 14)
    usage = pd.concat([usage, usage.iloc[::5]], ignore_index=True)  # keys mapped together
    usage.loc[::13, ["seats", "active_users"]] = np.nan  # 13: account 0's last month
    without = usage.drop(index=[27])  # account 1 has no row in the last month
    for table in (usage, without):
        rows = PerAccount(pd.Index(book["account_id"]), table, 681, 24)  # 681: 2026-10
        for name in ("seats", "active_users", "logins"):
            off_the_rows = rows.latest(rows.column(name))
            rows.grid(rows.column(name))
            np.testing.assert_array_equal(off_the_rows, rows.latest(rows.column(name)))
            assert np.isnan(off_the_rows[0]) == (name != "logins")
            assert np.isnan(off_the_rows[1]) == (table is without)
