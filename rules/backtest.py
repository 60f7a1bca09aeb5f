"""How well a health score predicted churn: pure measures over observations.

An observation is one account on one past date: its score and grade then, its ARR, days to
renewal and segment, and whether it churned (or contracted) within the horizon after that
date. The same account appears once per date, so observations are not independent: the
measures on them describe the score's ranking and calibration; backtest_stats counts each
account once, resamples accounts for intervals and tests the trend across grades.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from cs_sync.rules.backtest_stats import (
    MIN_CHURNED_ACCOUNTS,
    account_view,
    bootstrap,
    by_grade_accounts,
    grade_columns,
    grade_masks,
    lead_time,
    roc_auc,
    trend_test,
)
from cs_sync.settings import Between, Settings

CALIBRATION_EDGES = (0, 20, 40, 60, 80, 100)
# What an observation holds of its account on its date, and the outcome columns added to it;
# the measures read these (the health measures' own columns are not among them)
OBSERVED = ("date", "account_id", "segment", "arr", "score", "grade", "days_to_renewal")
EVALUATED = (*OBSERVED, "churned", "contracted", "days_to_churn")
CHURN_EVENTS = ("lost_renewal", "contract_ended", "arr_zero")
ChurnEvent = Literal["lost_renewal", "contract_ended", "arr_zero"]


class BacktestSettings(Settings):
    """`cs-sync backtest`: which past dates, what counts as churn, which alert to judge."""

    horizon_days: Annotated[int, Between(7, 1095)] = 180
    """Churn within this many days after a date counts."""
    months: Annotated[int, Between(1, 120)] = 12
    """Snapshot dates: one a month over this many months."""
    churn: tuple[ChurnEvent, ...] = Field(("lost_renewal", "contract_ended"), strict=False)
    """What counts as churn: lost_renewal (a renewal opportunity closed lost),
    contract_ended (a former customer's renewal date passed), arr_zero (the ARR recorded in
    the history fell to 0 from a positive value)."""
    alert_window_days: Annotated[int, Between(1, 365)] = 90
    """The alert judged: an at-risk grade (health.at_risk_grades) within this many days of
    renewal."""
    resamples: Annotated[int, Between(0, 10_000)] = 1000
    """Resamplings of the accounts for the 95% intervals of the AUC, the lift and each
    grade's churn rate (0: no intervals)."""


def by_grade(frame: pd.DataFrame, grades: list[str]) -> list[dict[str, Any]]:
    """Accounts, churned accounts, churn rate, ARR and churned ARR per grade, best grade
    first; a grade with no accounts has a rate of None. Accounts without a grade come last
    as "none" when there are any."""
    arr, churned = grade_columns(frame)
    rows = []
    for name, mask in grade_masks(frame, grades):
        accounts = int(mask.sum())
        lost = int((mask & churned).sum())
        rows.append(
            {
                "grade": name,
                "accounts": accounts,
                "churned": lost,
                "churn_rate": lost / accounts if accounts else None,
                "arr": float(arr[mask].sum()),
                "churned_arr": float(arr[mask & churned].sum()),
                "contracted": int((mask & frame["contracted"].astype(bool)).sum())
                if "contracted" in frame
                else 0,
            }
        )
    return rows


def worst_grade_lift(rows: list[dict[str, Any]], base_rate: float | None) -> float | None:
    """The worst grade's churn rate over the base rate (None when either is missing)."""
    graded = [r for r in rows if r["grade"] != "none"]
    if not graded or graded[-1]["churn_rate"] is None or not base_rate:
        return None
    return float(graded[-1]["churn_rate"] / base_rate)


def renewal_alert(
    frame: pd.DataFrame, at_risk: tuple[str, ...], window_days: int
) -> dict[str, Any]:
    """The alert "grade in `at_risk` within `window_days` of renewal", judged on the accounts
    that were that close to renewal: precision (of the flagged, how many churned) and recall
    (of those that churned, how many were flagged)."""
    days = pd.to_numeric(frame["days_to_renewal"], errors="coerce")
    near = (days >= 0) & (days <= window_days)
    flagged = near & frame["grade"].isin(at_risk)
    churned = frame["churned"].astype(bool)
    hits = int((flagged & churned).sum())
    flagged_n = int(flagged.sum())
    churned_near = int((near & churned).sum())
    return {
        "grades": list(at_risk),
        "window_days": window_days,
        "population": int(near.sum()),
        "flagged": flagged_n,
        "churned": churned_near,
        "caught": hits,
        "precision": hits / flagged_n if flagged_n else None,
        "recall": hits / churned_near if churned_near else None,
    }


def calibration(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Churn rate per score band (0-20, 20-40, ... 80-100; the last band includes 100)."""
    scores = pd.to_numeric(frame["score"], errors="coerce")
    churned = frame["churned"].astype(bool)
    band = np.digitize(scores.fillna(-1).to_numpy(), CALIBRATION_EDGES[1:-1], right=False)
    rows = []
    for index, (low, high) in enumerate(
        zip(CALIBRATION_EDGES, CALIBRATION_EDGES[1:], strict=False)
    ):
        mask = scores.notna().to_numpy() & (band == index)
        accounts = int(mask.sum())
        rows.append(
            {
                "band": f"{low}-{high}",
                "accounts": accounts,
                "churned": int(churned.to_numpy()[mask].sum()),
                "churn_rate": float(churned.to_numpy()[mask].mean()) if accounts else None,
                "mean_score": float(scores.to_numpy()[mask].mean()) if accounts else None,
            }
        )
    return rows


def evaluate(
    frame: pd.DataFrame,
    grades: list[str],
    at_risk: tuple[str, ...],
    window_days: int,
    resamples: int = 0,
    horizon_days: int = 180,
) -> dict[str, Any]:
    """Every measure for one set of observations: on account-dates, then on accounts counted
    once (backtest_stats.account_view), with intervals from `resamples` resamplings of the
    accounts (0: none) and a trend test across the grades."""
    churned = frame["churned"].astype(bool)
    base_rate = float(churned.mean()) if len(frame) else None
    grade_rows = by_grade(frame, grades)
    view = account_view(frame)
    account_rows = by_grade_accounts(view, grades)
    lost = view[view["churned"].astype(bool)] if len(view) else view
    churned_accounts = len(lost)
    arr_lost = (
        float(pd.to_numeric(lost["arr"], errors="coerce").fillna(0).sum()) if len(lost) else 0.0
    )
    auc = roc_auc(frame["score"], churned)
    return {
        "observations": len(frame),
        "accounts": int(frame["account_id"].nunique()) if len(frame) else 0,
        "churned": int(churned.sum()),
        "churned_accounts": churned_accounts,
        "conclusive": churned_accounts >= MIN_CHURNED_ACCOUNTS,
        "arr_lost": arr_lost,
        "arr_lost_per_churned_account": arr_lost / churned_accounts if churned_accounts else None,
        "base_rate": base_rate,
        "contracted": int(frame["contracted"].astype(bool).sum()) if "contracted" in frame else 0,
        "auc": auc,
        "unscored": int(frame["score"].isna().sum()),
        "by_grade": grade_rows,
        "by_grade_accounts": account_rows,
        "trend": trend_test(account_rows),
        "lead_time": lead_time(frame, at_risk, horizon_days) if "days_to_churn" in frame else [],
        "intervals": bootstrap(frame, grades, auc, resamples).as_json(),
        "worst_grade_lift": worst_grade_lift(grade_rows, base_rate),
        "renewal_alert": renewal_alert(frame, at_risk, window_days),
        "calibration": calibration(frame),
    }


def evaluate_by_segment(
    frame: pd.DataFrame, grades: list[str], at_risk: tuple[str, ...], window_days: int
) -> dict[str, dict[str, Any]]:
    """evaluate() per segment (without intervals: each is marked conclusive or not by its
    churned accounts)."""
    segment = frame["segment"].astype(object).where(frame["segment"].notna(), "(none)")
    frame = frame[[c for c in EVALUATED if c in frame]]  # not the measures: a copy per segment
    return {
        str(name): evaluate(frame[segment == name], grades, at_risk, window_days)
        for name in sorted(segment.unique(), key=str)
    }
