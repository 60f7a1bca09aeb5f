"""How sure a backtest may be: each account counted once, the trend test against an
independent computation, and the resampled intervals against resampling done the slow way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cs_sync.rules.backtest import evaluate, roc_auc
from cs_sync.rules.backtest_stats import (
    MIN_CHURNED_ACCOUNTS,
    account_view,
    bootstrap,
    by_grade_accounts,
    lead_time,
    trend_test,
)

GRADES = ["A", "B", "C", "D"]


def table(accounts: list[int], churned: list[int]) -> list[dict[str, object]]:
    return [
        {"grade": g, "accounts": n, "churned": r, "churn_rate": r / n if n else None}
        for g, n, r in zip(GRADES, accounts, churned, strict=True)
    ]


def test_the_trend_test_is_the_correlation_of_grade_and_churn_over_accounts() -> None:
    accounts, churned = [100, 80, 60, 40], [5, 10, 20, 30]
    found = trend_test(table(accounts, churned))
    # Cochran-Armitage's z squared is N times the squared correlation between each account's
    # grade (0..3) and whether it churned
    grade = np.repeat(np.arange(4), accounts)
    outcome = np.concatenate(
        [np.r_[np.ones(r), np.zeros(n - r)] for n, r in zip(accounts, churned, strict=True)]
    )
    r = np.corrcoef(grade, outcome)[0, 1]
    assert found["z"] == pytest.approx(np.sqrt(len(grade)) * r)
    assert found["p"] < 0.001 and found["verdict"] == "rises"


def test_a_flat_or_falling_churn_is_no_rise_and_few_churned_accounts_are_not_conclusive() -> None:
    flat = trend_test(table([100, 100, 100, 100], [10, 11, 9, 10]))
    assert flat["verdict"] == "no clear rise" and flat["p"] > 0.3
    falling = trend_test(table([100, 100, 100, 100], [20, 15, 10, 5]))
    assert falling["verdict"] == "no clear rise" and falling["z"] < 0
    few = trend_test(table([10, 10, 10, 10], [0, 1, 3, 8]))  # 12 churned accounts
    assert few["verdict"] == "not conclusive" and few["p"] < 0.05
    assert trend_test(table([10, 10, 0, 0], [0, 0, 0, 0]))["verdict"] == "not conclusive"


def observations() -> pd.DataFrame:
    # X churned after 2026-03: observed in B then D; Y stayed, last seen in A
    return pd.DataFrame(
        {
            "account_id": ["X", "X", "X", "Y", "Y"],
            "date": pd.to_datetime(
                ["2026-01-01", "2026-02-01", "2026-04-01", "2026-01-01", "2026-02-01"]
            ),
            "grade": ["B", "D", "C", "C", "A"],
            "arr": [100.0, 90.0, 0.0, 50.0, 55.0],
            "churned": [True, True, False, False, False],
            "score": [65.0, 20.0, 45.0, 45.0, 90.0],
            "days_to_renewal": [120.0, 90.0, 30.0, 200.0, 170.0],
            "segment": "High Touch",
        }
    )


def test_each_account_once_at_its_last_date_before_churning() -> None:
    view = account_view(observations()).set_index("account_id")
    assert view.loc["X", "grade"] == "D" and view.loc["X", "arr"] == 90.0
    assert view.loc["Y", "grade"] == "A"
    rows = {r["grade"]: r for r in by_grade_accounts(view.reset_index(), GRADES)}
    assert (rows["D"]["accounts"], rows["D"]["churned"], rows["D"]["arr_lost"]) == (1, 1, 90.0)
    assert rows["A"]["churn_rate"] == 0.0 and not rows["D"]["conclusive"]
    report = evaluate(observations(), GRADES, ("C", "D"), 90)
    assert (report["churned"], report["churned_accounts"]) == (2, 1)  # two dates, one account
    assert report["arr_lost"] == 90.0 and report["arr_lost_per_churned_account"] == 90.0
    assert report["conclusive"] is False and MIN_CHURNED_ACCOUNTS == 20


def book(accounts: int = 600, dates: int = 6, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=accounts)
    index = np.repeat(np.arange(accounts), dates)
    score = np.clip(60 - 15 * risk[index] + rng.normal(scale=6, size=len(index)), 0, 100)
    churned = (rng.random(accounts) < 1 / (1 + np.exp(2 - 1.5 * risk)))[index]
    grade = np.select([score >= 80, score >= 60, score >= 40], ["A", "B", "C"], "D")
    return pd.DataFrame(
        {
            "account_id": index.astype(str),
            "score": score.round(1),
            "churned": churned,
            "grade": grade,
        }
    )


def slow_intervals(frame: pd.DataFrame, resamples: int, seed: int) -> tuple[float, float]:
    """Resampling accounts the slow way: draw accounts, stack their rows, compute the AUC."""
    rng = np.random.default_rng(seed)
    groups = [g for _, g in frame.groupby("account_id")]
    aucs = []
    for _ in range(resamples):
        drawn = pd.concat([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        aucs.append(roc_auc(drawn["score"], drawn["churned"]))
    low, high = np.percentile(aucs, [2.5, 97.5])
    return float(low), float(high)


def test_resampled_intervals_agree_with_resampling_the_slow_way() -> None:
    frame = book()
    auc = roc_auc(frame["score"], frame["churned"])
    assert auc is not None
    fast = bootstrap(frame, GRADES, auc, 400, seed=1)
    slow = slow_intervals(frame, 400, seed=2)
    assert fast.auc is not None
    assert fast.auc[0] < auc < fast.auc[1]
    assert fast.auc[0] == pytest.approx(slow[0], abs=0.015)
    assert fast.auc[1] == pytest.approx(slow[1], abs=0.015)
    for grade in GRADES:
        spread = fast.churn_rate[grade]
        rate = frame.loc[frame["grade"] == grade, "churned"].mean()
        assert spread is not None and 0 <= spread[0] <= rate <= spread[1] <= 1
    assert fast.lift is not None and fast.lift[0] > 1
    # the same seed, the same intervals; none asked for, none given
    assert bootstrap(frame, GRADES, auc, 400, seed=1) == fast
    assert bootstrap(frame, GRADES, auc, 0).auc is None


def test_how_early_the_score_warns_by_days_before_churn() -> None:
    frame = pd.DataFrame(
        {
            "account_id": ["P", "P", "Q", "S", "T"],
            "score": [20.0, 70.0, 30.0, 60.0, 90.0],
            "grade": ["D", "B", "D", "B", "A"],
            "churned": [True, True, True, False, False],
            "days_to_churn": [30.0, 150.0, 60.0, np.nan, np.nan],
        }
    )
    bands = {b["days_before_churn"]: b for b in lead_time(frame, ("C", "D"), 180)}
    assert list(bands) == ["0-60", "60-120", "120-180"]
    near = bands["0-60"]  # P at 30 days and Q at 60 (the band's end counts): both below S, T
    assert (near["observations"], near["accounts"], near["auc"]) == (2, 2, 1.0)
    assert near["at_risk_share"] == 1.0 and not near["conclusive"]
    far = bands["120-180"]  # P at 150 days scored 70: above S (60), below T (90)
    assert far["auc"] == 0.5 and far["at_risk_share"] == 0.0
    assert bands["60-120"]["auc"] is None
    assert [b["days_before_churn"] for b in lead_time(frame, ("D",), 365)][-1] == "180-365"


def test_each_measure_alone_and_the_score_without_it() -> None:
    from cs_sync.rules.backtest_stats import measure_report
    from cs_sync.rules.health import Measure

    # usage ranks churn as configured; "tickets" says the opposite of its good/bad values
    frame = pd.DataFrame(
        {
            "usage": [0.1, 0.2, 0.8, 0.9, 0.7, 0.6],
            "tickets": [0.0, 1.0, 5.0, 6.0, 4.0, 5.0],  # few tickets where they churned
            "churned": [True, True, False, False, False, False],
        }
    )
    measures = (
        Measure(name="usage", weight=60, bad=0, good=1),
        Measure(name="tickets", weight=40, bad=6, good=0),
    )
    rows = {r["measure"]: r for r in measure_report(frame, measures, frozenset({"usage"}))}
    assert rows["usage"]["alone_auc"] == 1.0 and not rows["usage"]["contradicts"]
    assert rows["tickets"]["alone_auc"] == 0.0 and rows["tickets"]["contradicts"]
    assert rows["tickets"]["notes"] == ["ranks churn the other way round"]
    assert rows["usage"]["no_history"] and not rows["tickets"]["no_history"]
    # the whole score, by hand: 100 * (60 * usage + 40 * (6 - tickets) / 6) / 100
    score = 60 * frame["usage"] + 40 * (6 - frame["tickets"]) / 6
    full = roc_auc(score, frame["churned"])
    assert rows["tickets"]["auc_without"] == 1.0  # usage alone
    assert rows["tickets"]["drop_one_change"] == pytest.approx(1.0 - full)
    assert rows["usage"]["auc_without"] == 0.0
