"""How sure a backtest may be: each account counted once, intervals from resampling accounts,
a trend test for "churn rises as grades fall", and a flag on figures resting on too few
churned accounts.

The observations are account-dates: the same account seen on twelve dates is twelve rows,
and its rows are not independent. So the intervals resample *accounts* (all of an account's
rows go in or out together: a clustered bootstrap), and the by-account view keeps each
account once: its last observation before it churned, or its last observation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from cs_sync.rules.health import Measure, measure_points, score_of

MIN_CHURNED_ACCOUNTS = 20  # below this, a figure is shown but marked as not conclusive
SCORE_BINS = 1001  # the bootstrap's AUC reads scores to 0.1 point (0.0 ... 100.0)


def roc_auc(scores: pd.Series, churned: pd.Series) -> float | None:
    """The probability that an account that churned had a lower score than one that stayed
    (ties count half): 1.0 is a perfect ranking, 0.5 a coin. Accounts without a score are
    left out; None when no account churned or none stayed. Computed from ranks (the
    Mann-Whitney U statistic), so it takes n log n, not n²."""
    known = scores.notna()
    risk = -pd.to_numeric(scores[known], errors="coerce").astype(float)
    outcome = churned[known].astype(bool).to_numpy()
    positives = int(outcome.sum())
    negatives = len(outcome) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = risk.rank(method="average").to_numpy()
    u = ranks[outcome].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def account_view(frame: pd.DataFrame) -> pd.DataFrame:
    """One observation per account: for an account that churned, its last observation
    before churning (the grade and ARR it had then); for the others, their last."""
    if frame.empty:
        return frame
    order = ["account_id", "_churned"] + (["date"] if "date" in frame else [])
    ordered = frame.assign(_churned=frame["churned"].astype(bool)).sort_values(order, kind="stable")
    return ordered.groupby("account_id", sort=False).tail(1).drop(columns="_churned")


def grade_masks(frame: pd.DataFrame, grades: list[str]) -> list[tuple[str, pd.Series]]:
    """Each grade with the rows it holds, best first; "none" last when some had no grade."""
    grade = frame["grade"].astype(object).where(frame["grade"].notna(), "none")
    names = list(grades) + (["none"] if (grade == "none").any() else [])
    return [(name, grade == name) for name in names]


def grade_columns(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The rows' ARR (missing: 0) and whether they churned, as the grade tables count them."""
    return pd.to_numeric(frame["arr"], errors="coerce").fillna(0.0), frame["churned"].astype(bool)


def by_grade_accounts(view: pd.DataFrame, grades: list[str]) -> list[dict[str, Any]]:
    """Accounts (each once), churned accounts, churn rate, and the ARR the churned accounts
    had before they left, per grade; "none" last when some had no grade."""
    arr, churned = grade_columns(view)
    rows = []
    for name, mask in grade_masks(view, grades):
        accounts, lost = int(mask.sum()), int((mask & churned).sum())
        rows.append(
            {
                "grade": name,
                "accounts": accounts,
                "churned": lost,
                "churn_rate": lost / accounts if accounts else None,
                "arr_lost": float(arr[mask & churned].sum()),
                "conclusive": lost >= MIN_CHURNED_ACCOUNTS,
            }
        )
    return rows


def trend_test(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The Cochran-Armitage test for a trend in churn across the grades, best to worst
    (scores 0, 1, 2 …), on accounts counted once: z > 0 when churn rises as grades fall; p is
    one-sided (that it rises). Grades without accounts and "none" are left out."""
    graded = [r for r in rows if r["grade"] != "none" and r["accounts"]]
    n = np.array([r["accounts"] for r in graded], dtype=float)
    r = np.array([r["churned"] for r in graded], dtype=float)
    t = np.arange(len(graded), dtype=float)
    total, churned = n.sum(), r.sum()
    out: dict[str, Any] = {"z": None, "p": None, "churned_accounts": int(churned)}
    if len(graded) < 2 or churned == 0 or churned == total:
        return out | {"verdict": "not conclusive"}
    share = churned / total
    statistic = float((t * (r - n * share)).sum())
    variance = share * (1 - share) * float((n * t**2).sum() - (n * t).sum() ** 2 / total)
    if variance <= 0:
        return out | {"verdict": "not conclusive"}
    z = statistic / math.sqrt(variance)
    p = 0.5 * math.erfc(z / math.sqrt(2))
    if churned < MIN_CHURNED_ACCOUNTS:
        verdict = "not conclusive"
    elif p < 0.05:
        verdict = "rises"
    else:
        verdict = "no clear rise"
    return out | {"z": z, "p": p, "verdict": verdict}


LEAD_EDGES = (0, 60, 120, 180)  # days before churn; past 180, up to the horizon


def lead_time(
    frame: pd.DataFrame, at_risk: tuple[str, ...], horizon_days: int
) -> list[dict[str, Any]]:
    """How early the score warns: for the observations 0-60, 60-120, 120-180 (and, with a
    longer horizon, 180 to the horizon) days before their account churned, the AUC against
    every observation that did not churn within the horizon, and the share of them graded at
    risk. Each band marked conclusive when at least MIN_CHURNED_ACCOUNTS accounts churned in
    it."""
    edges = [e for e in LEAD_EDGES if e < horizon_days] + [horizon_days]
    days = pd.to_numeric(frame.get("days_to_churn"), errors="coerce")
    churned = frame["churned"].astype(bool).to_numpy()
    score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
    stayed = score[~churned]  # the columns it reads, not the frame: 4 million rows add up
    rows = []
    for low, high in zip(edges, edges[1:], strict=False):
        band = churned & (days > low).to_numpy() & (days <= high).to_numpy()
        count = int(band.sum())
        accounts = int(frame["account_id"][band].nunique())
        both = pd.Series(np.concatenate([score[band], stayed]))
        outcome = pd.Series(np.arange(len(both)) < count)
        at_risk_share = float(frame["grade"][band].isin(at_risk).mean()) if count else None
        rows.append(
            {
                "days_before_churn": f"{low}-{high}",
                "observations": count,
                "accounts": accounts,
                "auc": roc_auc(both, outcome) if count else None,
                "at_risk_share": at_risk_share,
                "conclusive": accounts >= MIN_CHURNED_ACCOUNTS,
            }
        )
    return rows


CONTRADICTS_BELOW = 0.45  # a measure alone under this AUC ranks churn the other way round


def measure_report(
    frame: pd.DataFrame, measures: tuple[Measure, ...], no_history: frozenset[str]
) -> list[dict[str, Any]]:
    """Each measure of the score on the observations it scored: alone (the AUC of the share
    of its weight it earns: above 0.5, churners earned less, as configured; under
    CONTRADICTS_BELOW, the other way round), and the AUC of the whole score without it (the
    drop-one change: negative, the score needs it). `no_history`: measures read at today's
    value on every past date (an Account field without history), flagged."""
    if frame.empty or not measures:
        return []
    churned = frame["churned"].astype(bool).reset_index(drop=True)
    present = tuple(m for m in measures if m.name in frame)
    if not present:
        return []
    # two passes, one measure's arrays alive at a time: the totals, then each measure
    earned, counted, with_data = (np.zeros(len(frame)) for _ in range(3))
    for measure in present:
        points = measure_points(frame, measure)
        earned += points.earned
        counted += points.counted
        with_data += points.with_data
    full = roc_auc(pd.Series(score_of(earned, counted, with_data)), churned)
    rows = []
    for measure in present:
        own = measure_points(frame, measure)
        share = np.where(own.with_data > 0, own.earned / measure.weight, np.nan)
        alone = roc_auc(pd.Series(share), churned)
        without = score_of(earned - own.earned, counted - own.counted, with_data - own.with_data)
        dropped = roc_auc(pd.Series(without), churned)
        contradicts = alone is not None and alone < CONTRADICTS_BELOW
        stale = measure.name in no_history
        rows.append(
            {
                "measure": measure.name,
                "weight": measure.weight,
                "with_data": float((own.with_data > 0).mean()),
                "alone_auc": alone,
                "contradicts": contradicts,
                "auc_without": dropped,
                "drop_one_change": None if dropped is None or full is None else dropped - full,
                "no_history": stale,
                "notes": [
                    note
                    for flag, note in (
                        (contradicts, "ranks churn the other way round"),
                        (stale, "no history: today's value on every date"),
                    )
                    if flag
                ],
            }
        )
    return rows


@dataclass(frozen=True)
class Intervals:
    """95% intervals (2.5th and 97.5th percentiles) from resampling accounts."""

    auc: tuple[float, float] | None
    lift: tuple[float, float] | None
    churn_rate: dict[str, tuple[float, float] | None]  # by grade
    resamples: int

    def as_json(self) -> dict[str, Any]:
        return {
            "resamples": self.resamples,
            "auc": _pair(self.auc),
            "worst_grade_lift": _pair(self.lift),
            "churn_rate_by_grade": {g: _pair(v) for g, v in self.churn_rate.items()},
        }


def _pair(value: tuple[float, float] | None) -> list[float] | None:
    return None if value is None else [round(float(value[0]), 4), round(float(value[1]), 4)]


def bootstrap(
    frame: pd.DataFrame,
    grades: list[str],
    auc: float | None,
    resamples: int,
    seed: int = 0,
    chunk: int = 50,
) -> Intervals:
    """Intervals for the AUC, the worst grade's lift and each grade's churn rate, drawing
    accounts with replacement (as many as there are) `resamples` times. Each account's rows
    are summed once into sparse per-account tables (score bin × outcome, grade × outcome),
    so a resample is a product of its account weights with them, `chunk` resamples at a time.
    The AUC's interval is the exact AUC plus the resampled spread of the binned one."""
    if frame.empty or resamples <= 0:
        return Intervals(None, None, dict.fromkeys(grades), 0)
    account_index, accounts = pd.factorize(frame["account_id"])
    churned = frame["churned"].astype(bool).to_numpy()
    scores = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(scores)
    # bins by risk: bin 0 holds a score of 100.0 (the lowest risk), the last bin 0.0
    bins = np.clip(np.rint((100.0 - scores[known]) * 10), 0, SCORE_BINS - 1).astype(np.int64)
    columns = bins + SCORE_BINS * churned[known]
    by_score = sparse.csr_matrix(
        (np.ones(len(bins)), (account_index[known], columns)),
        shape=(len(accounts), 2 * SCORE_BINS),
    )
    grade_codes = pd.Categorical(frame["grade"], categories=grades).codes
    graded = grade_codes >= 0
    by_grade = sparse.csr_matrix(
        (
            np.ones(int(graded.sum())),
            (account_index[graded], grade_codes[graded] + len(grades) * churned[graded]),
        ),
        shape=(len(accounts), 2 * len(grades)),
    )
    rng = np.random.default_rng(seed)
    aucs, lifts, rates = [], [], []
    point = _binned_auc(np.asarray(by_score.sum(axis=0)).ravel()[None, :])[0]
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        weights = rng.multinomial(len(accounts), np.full(len(accounts), 1 / len(accounts)), size)
        hist = np.asarray((by_score.T @ weights.T.astype(float)).T)
        aucs.append(_binned_auc(hist) - point)
        counts = np.asarray((by_grade.T @ weights.T.astype(float)).T)
        lost = counts[:, len(grades) :]
        seen = counts[:, : len(grades)] + lost
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = lost / seen
            base = lost.sum(axis=1) / seen.sum(axis=1)
            lifts.append(rate[:, -1] / base)
        rates.append(rate)
    spread = np.concatenate(aucs)
    auc_interval = None
    if auc is not None and np.isfinite(spread).any():
        low, high = np.nanpercentile(spread, [2.5, 97.5])
        auc_interval = (max(0.0, auc + low), min(1.0, auc + high))
    all_rates = np.concatenate(rates)
    return Intervals(
        auc=auc_interval,
        lift=_percentiles(np.concatenate(lifts)),
        churn_rate={g: _percentiles(all_rates[:, i]) for i, g in enumerate(grades)},
        resamples=resamples,
    )


def _percentiles(values: np.ndarray) -> tuple[float, float] | None:
    finite = values[np.isfinite(values)]
    if len(finite) < 0.9 * len(values) or not len(finite):
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _binned_auc(hist: np.ndarray) -> np.ndarray:
    """AUC per row of [stayed histogram | churned histogram] over score bins ordered from the
    lowest risk: the chance a churned account's score is below a staying one's, ties half."""
    stayed, left = hist[:, :SCORE_BINS], hist[:, SCORE_BINS:]
    # the stayed observations of lower risk than each bin: those of the bins before it
    lower = np.cumsum(stayed, axis=1) - stayed
    pairs = left.sum(axis=1) * stayed.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((left * (lower + 0.5 * stayed)).sum(axis=1) / pairs)
