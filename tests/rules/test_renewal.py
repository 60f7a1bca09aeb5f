"""Renewal strategy and its plan: each row a situation a CS lead can check."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_sync.config import YEAR_END_BREAK
from cs_sync.rules.calendar import closed_days
from cs_sync.rules.renewal import (
    DEFAULT_AXES,
    DEFAULT_STRATEGIES,
    RenewalSettings,
    assign_renewal,
    build_axes,
    build_strategies,
    busy_month_problems,
)
from cs_sync.settings import parse_months

AS_OF = date(2026, 11, 25)  # a Wednesday
AXES = build_axes(DEFAULT_AXES)
STRATEGIES = build_strategies(DEFAULT_STRATEGIES)
CLOSED = closed_days("JP", YEAR_END_BREAK, range(2026, 2028))
NAN = np.nan

BASE: dict[str, Any] = {
    "economic_buyer": 1,
    "champion": 1,
    "grade": "A",
    "sentiment": "Positive",
    "budget_status": "Secured",
    "renewal_date": "2027-04-30",
    "busy_months": None,
    "approval_lead_days": 30,
    "renewal_stage": "Prospecting",
}


def plan(language: str = "en", **situation: Any) -> pd.Series:
    table = pd.DataFrame([{**BASE, **situation}], index=["001"])
    result = assign_renewal(table, AXES, STRATEGIES, RenewalSettings(), AS_OF, language, CLOSED)
    return result.iloc[0]


@pytest.mark.parametrize(
    ("situation", "strategy"),
    [
        pytest.param({}, "Very aggressive", id="EB and champion, grade A, budget secured"),
        pytest.param(
            {"champion": 0, "grade": "B", "sentiment": "Neutral", "budget_status": "Planned"},
            "Aggressive",
            id="EB only, grade B, budget planned: renew and add options",
        ),
        pytest.param(
            {"economic_buyer": 0, "champion": 0},
            "Passive",
            id="nobody engaged: just secure the renewal",
        ),
        pytest.param(
            {"budget_status": "Unknown"}, "Passive", id="budget unknown: no expansion ask"
        ),
        pytest.param({"grade": "D"}, "Rescue", id="health D: rescue"),
        pytest.param({"sentiment": "Negative"}, "Rescue", id="CSM reads them as unhappy"),
        pytest.param({"budget_status": "Cut"}, "Rescue", id="budget cut: rescue"),
        pytest.param(
            {
                "economic_buyer": NAN,
                "champion": NAN,
                "grade": None,
                "sentiment": None,
                "budget_status": None,
            },
            "Passive",
            id="nothing known: passive, never an error",
        ),
        pytest.param({"renewal_date": "2027-06-30"}, None, id="renewal in 217 days: not yet"),
        pytest.param({"renewal_date": "2026-11-01"}, None, id="renewal date passed"),
        pytest.param({"renewal_date": None}, None, id="no renewal date"),
    ],
)
def test_strategy(situation: dict[str, Any], strategy: str | None) -> None:
    assert plan(**situation)["renewal_strategy"] == strategy


def test_axes_are_shown_for_every_account() -> None:
    row = plan(champion=0, grade="C", budget_status="Planned")
    assert (row["stakeholders"], row["evaluation"], row["budget"]) == (
        "partial",
        "fair",
        "planned",
    )


def dates(row: pd.Series) -> list[str]:
    steps = ("plan_value_review", "plan_proposal", "plan_quote", "plan_approval")
    return [pd.Timestamp(row[s]).date().isoformat() for s in steps]


@pytest.mark.parametrize(
    ("situation", "expected"),
    [
        pytest.param(
            {},
            ["2027-01-25", "2027-02-24", "2027-03-17", "2027-03-31"],
            id="counted back from 04-30: approval 30 days, quote 14, proposal 21, review 30",
        ),
        pytest.param(
            {"approval_lead_days": 60},
            ["2026-12-25", "2027-01-25", "2027-02-15", "2027-03-01"],
            id="ringi takes 60 days: a month earlier; 12-26 is a Saturday, so 12-25",
        ),
        pytest.param(
            {"busy_months": "3"},
            ["2026-12-23", "2027-01-22", "2027-02-12", "2027-02-26"],
            id="fiscal year end in March: approval moves to the last business day of February",
        ),
        pytest.param(
            {"busy_months": "2,3"},
            ["2026-11-25", "2026-12-25", "2027-01-15", "2027-01-29"],
            id="busy in February and March: approval on the last business day of January",
        ),
        pytest.param(
            {"renewal_date": "2027-02-10"},
            ["2026-11-04", "2026-12-04", "2026-12-25", "2027-01-08"],
            id="approval would fall on Coming of Age Day (01-11): the Friday before",
        ),
        pytest.param(
            {"renewal_date": "2027-01-29", "approval_lead_days": 0, "busy_months": "1"},
            ["2026-10-21", "2026-11-20", "2026-12-14", "2026-12-28"],
            id="busy in January: 12-28, before the year-end break; proposal off 11-23 (holiday)",
        ),
        pytest.param(
            {"approval_lead_days": None},
            ["2027-01-25", "2027-02-24", "2027-03-17", "2027-03-31"],
            id="lead time unknown: the default 30 days",
        ),
    ],
)
def test_plan_dates(situation: dict[str, Any], expected: list[str]) -> None:
    assert dates(plan(**situation)) == expected


@pytest.mark.parametrize(
    ("situation", "action", "due", "language"),
    [
        pytest.param({}, "Value review", "2027-01-25", "en", id="nothing under way yet"),
        pytest.param(
            {"renewal_stage": "Proposal"}, "Quote", "2027-03-17", "en", id="proposal under way"
        ),
        pytest.param(
            {"renewal_stage": "Customer Approval"},
            "Renewal closes",
            "2027-04-30",
            "en",
            id="approval under way: the renewal itself is next",
        ),
        pytest.param(
            {"renewal_date": "2027-01-15"},
            "Value review (overdue since 2026-10-09)",
            "2026-11-25",
            "en",
            id="renewal in 7 weeks, no review yet (planned 10-09, Sports Day moved it): due today",
        ),
        pytest.param(
            {"renewal_stage": "Value Review"}, "提案", "2027-02-24", "ja", id="in Japanese"
        ),
        pytest.param(
            {"renewal_date": "2027-01-15"},
            "価値レビュー（予定日超過 2026-10-09）",
            "2026-11-25",
            "ja",
            id="overdue, in Japanese",
        ),
    ],
)
def test_next_action(situation: dict[str, Any], action: str, due: str, language: str) -> None:
    row = plan(language, **situation)
    assert row["next_action"] == action
    assert pd.Timestamp(row["next_action_date"]).date().isoformat() == due


def test_no_plan_outside_the_window() -> None:
    row = plan(renewal_date="2027-08-01")
    assert row["next_action"] is None and pd.isna(row["next_action_date"])
    assert pd.isna(row["plan_approval"])


def test_busy_months_as_teams_type_them() -> None:
    """Full-width digits and separators, 月, ranges: the same plan as "3,12"; a part that is
    no month leaves the plan to the rest and is reported (busy_month_problems)."""
    expected = dates(plan(busy_months="3,12"))
    for typed in ("3、12", "３，１２", "3月・12月", "３月 １２月", "12,3"):
        assert dates(plan(busy_months=typed)) == expected, typed
    assert dates(plan(busy_months="11-2")) == dates(plan(busy_months="11,12,1,2"))
    assert dates(plan(busy_months="3, 13, x,")) == dates(plan(busy_months="3"))
    accounts = pd.DataFrame(
        {"account_id": ["a", "b", "c"], "busy_months": ["3, 13, x", "3月・12月", None]}
    )
    assert busy_month_problems(accounts) == [("a", "3, 13, x", ["13", "x"])]


@pytest.mark.parametrize(
    ("text", "months", "bad"),
    [
        ("3,12", [3, 12], []),
        ("１１月・１２月", [11, 12], []),
        ("11〜2", [11, 12, 1, 2], []),
        ("3月と12月", [], ["3月と12月"]),
        ("0, 4", [4], ["0"]),
        ("", [], []),
    ],
)
def test_parse_months(text: str, months: list[int], bad: list[str]) -> None:
    assert parse_months(text) == (months, bad)


maybe_number = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=32))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "economic_buyer": maybe_number,
                "champion": maybe_number,
                "grade": st.sampled_from([None, "A", "B", "C", "D"]),
                "sentiment": st.sampled_from([None, "", "Positive", "Negative"]),
                "budget_status": st.sampled_from([None, "Secured", "Cut", "Unknown"]),
                "renewal_date": st.one_of(
                    st.none(), st.dates(date(2026, 1, 1), date(2028, 1, 1)).map(str)
                ),
                "busy_months": st.one_of(st.none(), st.text(alphabet="0123456789,、 x")),
                "approval_lead_days": maybe_number,
                "renewal_stage": st.sampled_from([None, "Prospecting", "Quote", "Closed Won"]),
            }
        ),
        min_size=1,
        max_size=15,
    )
)
def test_plans_never_raise_and_steps_stay_in_order(rows: list[dict]) -> None:
    table = pd.DataFrame(rows)
    result = assign_renewal(table, AXES, STRATEGIES, RenewalSettings(), AS_OF, "en", CLOSED)
    planned = result.dropna(subset=["renewal_strategy"])
    steps = ["plan_value_review", "plan_proposal", "plan_quote", "plan_approval"]
    for row in planned.itertuples(index=False):
        days = [getattr(row, s) for s in steps]
        assert days == sorted(days)
        assert pd.Timestamp(row.next_action_date) >= pd.Timestamp(AS_OF)
    assert result.equals(
        assign_renewal(table, AXES, STRATEGIES, RenewalSettings(), AS_OF, "en", CLOSED)
    )


def test_busy_months_from_the_fiscal_year_end() -> None:
    """A customer closing its year in March is busy in March (and April, closing the books):
    the same plan as busy months "3,4", whether the month is 3, 3.0, "3月" or "３"."""
    settings = RenewalSettings(fiscal_year_end="fiscal_year_end", fiscal_busy_months=(0, 1))
    expected = dates(plan(busy_months="3,4"))
    assert expected != dates(plan())  # the renewal of 04-30 does move

    def planned(fiscal: Any) -> Any:
        table = pd.DataFrame([{**BASE, "fiscal_year_end": fiscal}], index=["001"])
        row = assign_renewal(table, AXES, STRATEGIES, settings, AS_OF, "en", CLOSED).iloc[0]
        return dates(row)

    for typed in (3, 3.0, "3月", "３"):
        assert planned(typed) == expected, typed
    assert planned(None) == dates(plan())  # unknown: no busy months from it
    accounts = pd.DataFrame({"account_id": ["a", "b", "c"], "fy": ["3月", "3,9", 12.0]})
    assert busy_month_problems(accounts, "fy", single=True) == [("b", "3,9", ["3,9"])]
