"""Revenue KPIs from opportunities alone, on a book small enough to check by hand: ARR read
off won and lost opportunities in close-date order, worked back from the ARR field where no
amount says it, and the period movements the definitions give."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_sync.revenue import _account_steps, arr_timeline, period_kpis, periods, revenue_movements
from tests.conftest import traced_peak

AS_OF = date(2026, 6, 30)
OPPORTUNITIES = [
    # account, type, close date, amount, won (all closed)
    ("A", "New Business", "2024-04-01", 1_200_000, True),
    ("A", "Renewal", "2025-04-01", 1_200_000, True),
    ("A", "Upsell", "2026-02-10", 300_000, True),
    ("A", "Renewal", "2026-04-01", 1_500_000, True),
    ("B", "New Business", "2024-06-01", 600_000, True),
    ("B", "Renewal", "2026-05-20", 600_000, False),
    ("D", "Renewal", "2025-09-01", 1_000_000, True),  # no New Business in the org
    ("D", "Upsell", "2026-03-01", 200_000, True),
    ("E", "Upsell", "2026-01-15", 100_000, True),  # the only one: worked back from the field
    ("E", "Upsell", "2025-12-01", 999_000, False),  # lost: changes nothing
]
ACCOUNTS = [  # account, ARR field today, contract start
    ("A", 1_500_000, "2024-04-01"),
    ("B", 0, "2024-06-01"),
    ("C", 800_000, "2023-01-01"),  # no opportunity at all: the field, since its start
    ("D", 1_200_000, "2024-09-01"),
    ("E", 500_000, "2025-01-01"),
    ("F", 900_000, "2026-05-01"),  # started within the year: not in its cohort
]


def timeline():  # type: ignore[no-untyped-def]
    opportunities = pd.DataFrame(
        [
            {
                "account_id": a,
                "type": t,
                "close_date": d,
                "amount": m,
                "is_closed": True,
                "is_won": w,
            }
            for a, t, d, m, w in OPPORTUNITIES
        ]
    )
    accounts = pd.DataFrame(ACCOUNTS, columns=["account_id", "arr", "contract_start"])
    return arr_timeline(opportunities, accounts, ("Renewal",), ("Upsell",), ("New Business",))


def period(label: str):  # type: ignore[no-untyped-def]
    return next(p for p in periods(AS_OF) if p.label == label)


def test_arr_on_a_day_follows_the_opportunities() -> None:
    arr = timeline().arr_on(date(2025, 3, 31))
    assert arr.to_dict() == {
        "A": 1_200_000,  # its New Business
        "B": 600_000,
        "C": 800_000,
        "D": 1_000_000,  # before its first renewal: renewing at the same ARR
        "E": 400_000,  # today's 500,000 less the upsell won since
        "F": 0,  # not started yet
    }


def movements(label: str) -> dict[str, float]:
    found = revenue_movements(timeline(), period(label))
    assert {dimension for _, dimension in found} == {"all"}
    return {metric: value for (metric, _), value in found.items()}


def test_last_fiscal_year_nrr_counts_the_upsells() -> None:
    found = movements("FY2025")
    assert found["starting_arr"] == 4_000_000
    assert found["expansion_arr"] == 600_000
    assert found["nrr"] == pytest.approx(1.15)
    assert found["grr"] == 1.0
    assert (found["renewals_due"], found["renewal_rate"]) == (2, 1.0)


def test_this_fiscal_year_so_far_loses_an_account() -> None:
    found = movements("FY2026")
    assert found["starting_arr"] == 4_600_000
    assert found["churned_arr"] == 600_000
    assert found["nrr"] == pytest.approx(4_000_000 / 4_600_000)
    assert found["logo_churn_rate"] == pytest.approx(1 / 5)
    assert found["renewal_rate"] == 0.5  # A renewed, B did not


def test_periods_by_month_fiscal_quarter_and_year() -> None:
    shown = periods(AS_OF, fiscal_start=4)
    by_grain = {g: [p.label for p in shown if p.grain == g] for g in ("quarter", "fiscal_year")}
    assert by_grain["quarter"] == [
        "FY2025 Q1",
        "FY2025 Q2",
        "FY2025 Q3",
        "FY2025 Q4",
        "FY2026 Q1",
    ]
    assert by_grain["fiscal_year"] == ["FY2025", "FY2026"]
    q4 = next(p for p in shown if p.label == "FY2025 Q4")
    assert (q4.start, q4.end, q4.complete) == (date(2026, 1, 1), date(2026, 3, 31), True)
    now = next(p for p in shown if p.label == "FY2026 Q1")
    assert (now.start, now.end, now.complete) == (date(2026, 4, 1), AS_OF, False)
    months = [p for p in shown if p.grain == "month"]
    assert (months[0].label, months[-1].label, months[-1].complete) == ("2025-05", "2026-06", False)
    ttm = [p for p in shown if p.grain == "ttm"]
    assert (ttm[-1].start, ttm[-1].end) == (date(2025, 6, 1), date(2026, 5, 31))


def test_a_calendar_fiscal_year() -> None:
    years = [p for p in periods(AS_OF, fiscal_start=1) if p.grain == "fiscal_year"]
    assert [(p.label, p.start) for p in years] == [
        ("FY2025", date(2025, 1, 1)),
        ("FY2026", date(2026, 1, 1)),
    ]


def test_the_history_replaces_a_period_it_covers() -> None:
    shown = [period("FY2025"), period("FY2026")]
    table = period_kpis(timeline(), shown, {("fiscal_year", "FY2026"): {("nrr", "all"): 0.9}})
    nrr = table[table["metric"] == "nrr"].set_index("period")
    assert nrr.loc["FY2026", "basis"] == "history"
    assert nrr.loc["FY2026", "value"] == 0.9
    assert nrr.loc["FY2025", "basis"] == "opportunities"
    assert nrr.loc["FY2025", "value"] == pytest.approx(1.15)


def test_arr_on_any_day_is_the_last_step_by_then() -> None:
    """The vectorised look-up against the plain one: the last step on or before each day,
    else the ARR before the first step (0 before the contract started)."""
    book = timeline()
    steps = book.steps
    for day in pd.date_range("2024-01-01", "2026-07-31", freq="13D").date:
        done = steps[steps["day"] <= pd.Timestamp(day)].groupby("account_id")["arr"].last()
        started = book.contract_start.reindex(book.before.index)
        expected = book.before.where(~(started > pd.Timestamp(day)), 0.0)
        expected.loc[done.index] = done
        pd.testing.assert_series_equal(book.arr_on(day), expected, check_names=False)


kinds = st.sampled_from([(0, True), (1, True), (1, False), (2, True)])
amounts = st.one_of(st.sampled_from([100.0, 250.0, 0.0]), st.just(float("nan")))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), kinds, amounts, st.integers(0, 40)), min_size=1, max_size=30
    ),
    st.lists(st.sampled_from([0.0, 300.0, float("nan")]), min_size=4, max_size=4),
)
def test_all_accounts_at_once_walk_as_one_at_a_time(
    events: list[tuple[int, tuple[int, bool], float, int]], now: list[float]
) -> None:
    """The vectorised ARR steps against the plain walk of each account, amounts missing
    or not, with or without a first contract and an ARR field."""
    names = {0: "New Business", 1: "Renewal", 2: "Upsell"}
    opportunities = pd.DataFrame(
        [
            {
                "account_id": f"a{account}",
                "type": names[kind],
                "close_date": f"2025-{1 + day // 28:02d}-{1 + day % 28:02d}",
                "amount": amount,
                "is_closed": True,
                "is_won": won,
            }
            for account, (kind, won), amount, day in events
        ]
    )
    accounts = pd.DataFrame({"account_id": [f"a{i}" for i in range(4)], "arr": now})
    got = arr_timeline(opportunities, accounts, ("Renewal",), ("Upsell",), ("New Business",))
    for account, rows in got.steps.groupby("account_id", sort=False):
        source = opportunities.loc[opportunities["account_id"] == account].assign(
            day=lambda t: pd.to_datetime(t["close_date"]),
            kind=lambda t: t["type"].map({v: k for k, v in names.items()}),
        )
        source = source[source["is_won"] | (source["kind"] == 1)]
        source = source.sort_values(["day", "kind"], kind="stable")
        listed = [
            (account, int(r.kind), bool(r.is_won), float(r.amount)) for r in source.itertuples()
        ]
        arr_now = float(accounts.set_index("account_id")["arr"].get(account, float("nan")))
        after, first = _account_steps(listed, arr_now)
        assert rows["arr"].tolist() == pytest.approx(after)
        assert got.before[account] == pytest.approx(first)


def test_no_opportunity_at_all_keeps_each_arr_field() -> None:
    accounts = pd.DataFrame({"account_id": ["A", "B"], "arr": [100.0, None]})
    empty = pd.DataFrame(
        columns=["account_id", "type", "close_date", "amount", "is_closed", "is_won"]
    )
    book = arr_timeline(empty, accounts, ("Renewal",), ("Upsell",), ("New Business",))
    assert book.arr_on(AS_OF).to_dict() == {"A": 100.0, "B": 0.0}
    assert revenue_movements(book, period("FY2026"))[("nrr", "all")] == 1.0


def test_unit_economics_over_twelve_months() -> None:
    """ARPA 800,000 (4,000,000 over five accounts), one of five lost in the twelve months: LTV
    = 800,000 × 0.8 / 0.2, against a CAC of 300,000; paid back in 300,000 / (800,000 / 12 ×
    0.8) months. Only over a whole year: not for this fiscal year so far."""
    table = period_kpis(timeline(), periods(AS_OF), None, (0.8, 300_000.0))
    ttm = table[table["period"] == "TTM 2026-05"].set_index("metric")["value"]
    assert ttm["ltv"] == pytest.approx(3_200_000)
    assert ttm["ltv_cac"] == pytest.approx(3_200_000 / 300_000)
    assert ttm["cac_payback_months"] == pytest.approx(5.625)
    so_far = table[table["period"] == "FY2026"]
    assert "ltv" not in set(so_far["metric"])
    last_year = table[table["period"] == "FY2025"].set_index("metric")["value"]
    assert "ltv" not in last_year and last_year["cac_payback_months"] > 0  # nobody left


def test_the_timeline_is_made_without_copies_of_the_opportunities() -> None:
    # the demo book's 430,000 opportunities at 100,000 accounts: the closed ones copied as a
    # table and sorted as another peaked at 75 MB (51 now), beside a timeline of 25
    n = 400_000
    opportunities = pd.DataFrame(
        {
            "account_id": pd.array([f"001{i % 100_000:015d}" for i in range(n)], dtype=str),
            "type": pd.array(
                ["New Business", "Renewal", "Upsell", "Renewal"] * (n // 4), dtype=str
            ),
            "close_date": pd.array(
                [f"202{i % 6}-0{1 + i % 9}-1{i % 9}" for i in range(n)], dtype=str
            ),
            "amount": [float(100 + i % 50) for i in range(n)],
            "is_closed": [i % 10 != 0 for i in range(n)],
            "is_won": [i % 7 != 0 for i in range(n)],
        }
    )
    accounts = pd.DataFrame({"account_id": [f"001{i:015d}" for i in range(100_000)], "arr": 1200.0})
    made = arr_timeline(opportunities, accounts, ("Renewal",), ("Upsell",), ("New Business",))
    held = made.steps.memory_usage(deep=False).sum()
    assert len(made.steps) > 300_000 and made.before.index.is_unique
    peak = traced_peak(
        lambda: arr_timeline(opportunities, accounts, ("Renewal",), ("Upsell",), ("New Business",))
    )
    assert peak < 7.5 * held  # 8.9 times the steps' columns with the copies, 6.5 now
