"""Health score (0–100), grade, trend and a one-sentence reason, from configured measures.

Each measure is scaled linearly between a bad and a good threshold (either direction), weighted,
and skipped when its data is missing (the remaining weights are renormalised; `coverage` says
how much of the weight had data). A CSM's override grade is respected until it expires.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # rules stay free of cs_sync at run time
    from cs_sync.config import HealthConfig, Measure


# Columns score_health adds, which phase and task conditions can name.
HEALTH_COLUMNS = (
    "score",
    "grade",
    "computed_grade",
    "coverage",
    "trend",
    "reasons",
    "override_active",
)


def _display_key(measure: Measure, values: np.ndarray) -> np.ndarray:
    """What the reason sentence shows of a raw value, as a number (so equal texts share it)."""
    if measure.name == "active_ratio":
        return np.round(values * 100) + 0.0  # a percentage; + 0.0 turns -0 into 0
    if measure.name == "login_trend":
        return np.round((values - 1) * 100) + 0.0  # the change, in percent
    if measure.name == "seasonal_dropped":
        return np.zeros_like(values)  # the sentence says it all
    return np.trunc(values)  # whole months


def _describe(measure: Measure, key: float, language: str) -> str:
    if measure.name == "active_ratio":
        target = f"{measure.good:.0%}"
        if language == "ja":
            return f"アクティブ率 {key:.0f}%（目標 {target}）"
        return f"active users {key:.0f}% of seats (target {target})"
    if measure.name == "login_trend":
        if language == "ja":
            return f"ログイン数 前3か月比 {key:+.0f}%"
        return f"logins {key:+.0f}% vs the prior 3 months"
    if measure.name == "seasonal_dropped":
        if language == "ja":
            return "年次の重要機能を今季未使用（昨季は利用）"
        return "yearly key feature unused this season (used last season)"
    if language == "ja":
        return f"毎月利用機能が{key:.0f}か月未使用"
    return f"monthly feature unused for {key:.0f} month(s)"


def _texts_by_key(keys: np.ndarray, render: Callable[[complex], str]) -> np.ndarray:
    """`render` once per distinct key, spread back to every row (an object array)."""
    if len(keys) == 0:
        return np.array([], dtype=object)
    distinct, inverse = np.unique(keys, return_inverse=True)
    texts = np.array([render(key) for key in distinct], dtype=object)
    return texts[inverse.reshape(-1)]


def score_health(
    features: pd.DataFrame, config: HealthConfig, as_of: date, language: str
) -> pd.DataFrame:
    """Adds score, grade, computed_grade, trend, reasons, coverage to a copy of `features`.

    Needs columns named after each measure, plus prev_score, prev_trend, override_grade,
    override_reason, override_expiry (any may be empty)."""
    out = features.copy(deep=False)  # copy on write: the caller's frame never changes
    total_weight = sum(m.weight for m in config.measures)
    earned = pd.Series(0.0, index=out.index)
    available = pd.Series(0.0, index=out.index)
    lost: dict[str, pd.Series] = {}
    for measure in config.measures:
        values = pd.to_numeric(out[measure.name], errors="coerce")
        scaled = ((values - measure.bad) / (measure.good - measure.bad)).clip(0, 1)
        present = values.notna()
        earned += (scaled * measure.weight).where(present, 0.0)
        available += pd.Series(np.where(present, measure.weight, 0.0), index=out.index)
        lost[measure.name] = ((1 - scaled) * measure.weight).where(present)
    has_data = available > 0
    out["score"] = (100 * earned / available.where(has_data)).round(1)
    out["coverage"] = (available / total_weight).round(2) if total_weight else 0.0

    out["computed_grade"] = _grade(out["score"], config.grades)
    expiry = pd.to_datetime(out.get("override_expiry"), errors="coerce")
    override = out.get("override_grade")
    active_override = (
        override.notna()
        & (override.astype(str) != "")
        & (expiry.isna() | (expiry >= pd.Timestamp(as_of)))
    )
    out["override_active"] = active_override
    out["grade"] = out["computed_grade"].where(~active_override, override)

    out["trend"] = _trend(out, config.trend_threshold)
    out["reasons"] = _reasons(out, config, lost, language)
    return out


def _grade(score: pd.Series, grades: tuple[tuple[str, float], ...]) -> pd.Series:
    """The first grade (best first) whose minimum the score reaches; None without a score."""
    values = score.to_numpy(dtype=float)
    conditions = [values >= minimum for _, minimum in grades]
    chosen = np.select(conditions, [grade for grade, _ in grades], default=grades[-1][0])
    result = pd.Series(chosen, index=score.index, dtype=object)
    return result.where(~np.isnan(values), None)


def _trend(out: pd.DataFrame, threshold: float) -> pd.Series:
    """Up / Down / Flat against the score on the record; unchanged score keeps its trend, so a
    rerun on the same data changes nothing."""
    previous = pd.to_numeric(out["prev_score"], errors="coerce")
    change = out["score"] - previous
    trend = pd.Series(
        np.where(change >= threshold, "Up", np.where(change <= -threshold, "Down", "Flat")),
        index=out.index,
    )
    trend = trend.where(previous.notna(), "New")
    same = (change.abs() < 0.05) & out["prev_trend"].notna() & (out["prev_trend"] != "")
    trend = trend.where(~same, out["prev_trend"])
    return trend.astype(object).where(out["score"].notna(), None)


def _reasons(
    out: pd.DataFrame, config: HealthConfig, lost: dict[str, pd.Series], language: str
) -> pd.Series:
    """ "B (72): active users 45% of seats (target 80%) −16 pts; …": the grade and score, then
    the two measures that cost the most points (at least 1), built a column at a time."""
    ja = language == "ja"
    measures = config.measures
    rows = len(out)
    values = np.column_stack(
        [pd.to_numeric(out[m.name], errors="coerce").to_numpy(dtype=float) for m in measures]
    ).reshape(rows, len(measures))
    weights = np.array([m.weight for m in measures], dtype=float)
    available = np.where(~np.isnan(values), weights, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        points = np.column_stack([lost[m.name].to_numpy(dtype=float) for m in measures])
        points = 100 * points.reshape(rows, len(measures)) / available[:, None]
    counts = np.nan_to_num(points, nan=-1.0) >= 1
    order = np.argsort(np.where(counts, -points, np.inf), axis=1, kind="stable")

    unit = "点" if ja else " pts"
    pieces = np.full((rows, len(measures)), "", dtype=object)
    for j, measure in enumerate(measures):
        shown = counts[:, j]
        key = _display_key(measure, values[shown, j]) + 1j * np.round(points[shown, j])
        pieces[shown, j] = _texts_by_key(
            key,
            lambda k, m=measure: f"{_describe(m, k.real, language)} −{k.imag:.0f}{unit}",
        )
    everyone = np.arange(rows)
    first, second = order[:, 0], order[:, 1] if len(measures) > 1 else order[:, 0]
    has_first = counts[everyone, first]
    has_second = counts[everyone, second] & (second != first)
    parts = np.where(
        has_first, pieces[everyone, first], "全指標が目標水準" if ja else "all measures on target"
    )
    parts = np.where(has_second, parts + ("、" if ja else "; ") + pieces[everyone, second], parts)

    score = out["score"].to_numpy(dtype=float)
    scored = ~np.isnan(score)
    grade_codes, grade_names = pd.factorize(out["computed_grade"])
    head_key = grade_codes[scored] + 1j * np.round(score[scored])
    heads = np.full(rows, "", dtype=object)
    heads[scored] = _texts_by_key(
        head_key,
        lambda k: (
            f"{grade_names[int(k.real)]}（{k.imag:.0f}点）："
            if ja
            else f"{grade_names[int(k.real)]} ({k.imag:.0f}): "
        ),
    )
    text = np.where(scored, heads + parts, "利用データなし" if ja else "no usage data")

    reasons = pd.Series(text, index=out.index, dtype=object)
    for index in out.index[out["override_active"].to_numpy(dtype=bool) & scored]:
        note = out.at[index, "override_reason"] or ""
        grade = out.at[index, "grade"]
        prefix = (
            f"CSMによる上書き {grade}：{note}／算出 "
            if ja
            else f"CSM override {grade}: {note} / computed "
        )
        reasons[index] = (prefix + reasons[index])[:1000]
    return reasons
