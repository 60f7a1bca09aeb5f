"""Backtest measures against an independent computation (every pair counted) and cases
worked by hand, ties and empty grades included."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_sync.rules.backtest import (
    by_grade,
    calibration,
    evaluate,
    renewal_alert,
    roc_auc,
    worst_grade_lift,
)


def pairwise_auc(scores: list[float | None], churned: list[bool]) -> float | None:
    """The definition itself: over every (churned, stayed) pair, 1 when the churned account
    scored lower, 1/2 on a tie."""
    known = [(s, c) for s, c in zip(scores, churned, strict=True) if s is not None]
    lost = [s for s, c in known if c]
    kept = [s for s, c in known if not c]
    if not lost or not kept:
        return None
    total = sum(1.0 if a < b else 0.5 if a == b else 0.0 for a, b in itertools.product(lost, kept))
    return total / (len(lost) * len(kept))


def test_auc_by_hand() -> None:
    # churned scored 10 and 50; stayed 40, 50, 90: pairs (10<40,10<50,10<90) = 3,
    # (50>40) = 0, (50=50) = 0.5, (50<90) = 1 -> 4.5 of 6
    scores = pd.Series([10, 50, 40, 50, 90], dtype=float)
    churned = pd.Series([True, True, False, False, False])
    assert roc_auc(scores, churned) == pytest.approx(0.75)
    assert roc_auc(pd.Series([80.0, 20.0]), pd.Series([False, True])) == 1.0
    assert roc_auc(pd.Series([20.0, 80.0]), pd.Series([False, True])) == 0.0
    assert roc_auc(pd.Series([50.0, 50.0]), pd.Series([False, True])) == 0.5  # a tie
    assert roc_auc(pd.Series([50.0, 60.0]), pd.Series([False, False])) is None  # no churn
    # an account without a score is left out, not counted as 0
    assert roc_auc(pd.Series([None, 80.0, 20.0]), pd.Series([False, False, True])) == 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 10).map(float)),  # few values: many ties
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_auc_equals_counting_every_pair(rows: list[tuple[float | None, bool]]) -> None:
    scores = [s for s, _ in rows]
    churned = [c for _, c in rows]
    expected = pairwise_auc(scores, churned)
    found = roc_auc(pd.Series(scores, dtype=float), pd.Series(churned))
    assert (found is None) == (expected is None)
    if expected is not None:
        assert found == pytest.approx(expected)


def observations() -> pd.DataFrame:
    # A: 4 accounts, 1 churned; B: none; C: 2, 1 churned; D: 2, 2 churned; one ungraded
    return pd.DataFrame(
        {
            "account_id": list("abcdefghi"),
            "grade": ["A", "A", "A", "A", "C", "C", "D", "D", None],
            "score": [90, 85, 95, 82, 45, 50, 10, 30, None],
            "arr": [100, 100, 100, 100, 50, 50, 20, 30, 10],
            "churned": [True, False, False, False, True, False, True, True, False],
            "contracted": [False, True, False, False, False, False, False, False, False],
            "days_to_renewal": [30, 200, 60, 10, 45, 400, 80, 95, 20],
            "segment": ["High", "High", "Low", "Low", "High", "Low", "Low", "High", None],
        }
    )


def test_churn_by_grade_with_an_empty_grade() -> None:
    rows = by_grade(observations(), ["A", "B", "C", "D"])
    table = {r["grade"]: r for r in rows}
    assert [r["grade"] for r in rows] == ["A", "B", "C", "D", "none"]
    assert (table["A"]["accounts"], table["A"]["churned"], table["A"]["churn_rate"]) == (4, 1, 0.25)
    assert table["B"]["accounts"] == 0 and table["B"]["churn_rate"] is None
    assert table["C"]["churn_rate"] == 0.5 and table["D"]["churn_rate"] == 1.0
    assert (table["D"]["arr"], table["D"]["churned_arr"]) == (50.0, 50.0)
    assert table["A"]["contracted"] == 1
    base = 4 / 9
    assert worst_grade_lift(rows, base) == pytest.approx(1.0 / base)


def test_no_lift_when_the_worst_grade_has_no_accounts() -> None:
    rows = [
        {"grade": "A", "churn_rate": 0.1},
        {"grade": "B", "churn_rate": 0.3},
        {"grade": "C", "churn_rate": 0.2},
        {"grade": "D", "churn_rate": None},
    ]
    assert worst_grade_lift(rows, 0.2) is None


def test_renewal_alert_by_hand() -> None:
    # within 90 days of renewal: a(30, A, churned) c(60, A) d(10, A) e(45, C, churned)
    # g(80, D, churned) i(20, none); flagged C/D: e, g -> both churned
    alert = renewal_alert(observations(), ("C", "D"), 90)
    assert alert["population"] == 6 and alert["flagged"] == 2 and alert["caught"] == 2
    assert alert["precision"] == 1.0
    assert alert["recall"] == pytest.approx(2 / 3)  # a churned unflagged


def test_calibration_bands() -> None:
    frame = pd.DataFrame(
        {"score": [0, 19.9, 20, 100, 80, None], "churned": [True, True, False, False, True, True]}
    )
    bands = {b["band"]: b for b in calibration(frame)}
    assert bands["0-20"]["accounts"] == 2 and bands["0-20"]["churn_rate"] == 1.0
    assert bands["20-40"]["accounts"] == 1
    assert bands["80-100"]["accounts"] == 2 and bands["80-100"]["churn_rate"] == 0.5
    assert bands["40-60"]["churn_rate"] is None
    assert sum(b["accounts"] for b in bands.values()) == 5  # the unscored one left out


def test_evaluate_puts_it_together() -> None:
    report = evaluate(observations(), ["A", "B", "C", "D"], ("C", "D"), 90)
    assert report["observations"] == 9 and report["churned"] == 4 and report["unscored"] == 1
    expected = pairwise_auc(
        [90, 85, 95, 82, 45, 50, 10, 30, None],
        [True, False, False, False, True, False, True, True, False],
    )
    assert report["auc"] == pytest.approx(expected)
    assert np.isclose(report["base_rate"], 4 / 9)
