"""Health score (0–100), grade, trend and a one-sentence reason, from configured measures.

Each measure is scaled linearly between a bad and a good threshold (either direction), weighted,
and skipped when its data is missing (the remaining weights are renormalised; `coverage` says
how much of the weight had data). A CSM's override grade is respected until it expires.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # rules stay free of cs_sync at run time
    from cs_sync.config import HealthConfig, Measure


# Columns score_health adds, which phase and task conditions can name.
HEALTH_COLUMNS = ("score", "grade", "computed_grade", "coverage", "trend", "override_active")


def _fraction(value: float) -> str:
    return f"{value:.0%}"


def _describe(measure: Measure, value: float, language: str) -> str:
    if measure.name == "active_ratio":
        if language == "ja":
            return f"アクティブ率 {_fraction(value)}（目標 {_fraction(measure.good)}）"
        return f"active users {_fraction(value)} of seats (target {_fraction(measure.good)})"
    if measure.name == "login_trend":
        change = value - 1
        if language == "ja":
            return f"ログイン数 前3か月比 {change:+.0%}"
        return f"logins {change:+.0%} vs the prior 3 months"
    months = int(value)
    if language == "ja":
        return f"毎月利用機能が{months}か月未使用"
    return f"monthly feature unused for {months} month(s)"


def score_health(
    features: pd.DataFrame, config: HealthConfig, as_of: date, language: str
) -> pd.DataFrame:
    """Adds score, grade, computed_grade, trend, reasons, coverage to a copy of `features`.

    Needs columns named after each measure, plus prev_score, prev_trend, override_grade,
    override_reason, override_expiry (any may be empty)."""
    out = features.copy()
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

    bounds = list(config.grades)

    def grade_of(score: float) -> str | None:
        if pd.isna(score):
            return None
        for grade, minimum in bounds:
            if score >= minimum:
                return grade
        return bounds[-1][0]

    out["computed_grade"] = out["score"].map(grade_of)
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
    out["reasons"] = [
        _reasons(row, config, lost, language, total_weight) for row in out.itertuples()
    ]
    return out


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
    row: object,
    config: HealthConfig,
    lost: dict[str, pd.Series],
    language: str,
    total_weight: float,
) -> str | None:
    index = row.Index  # type: ignore[attr-defined]
    score = row.score  # type: ignore[attr-defined]
    if pd.isna(score):
        return "利用データなし" if language == "ja" else "no usage data"
    costs = []
    weight_available = sum(m.weight for m in config.measures if not pd.isna(getattr(row, m.name)))
    for measure in config.measures:
        points = lost[measure.name].get(index)
        if points is None or pd.isna(points) or weight_available == 0:
            continue
        points = 100 * points / weight_available
        if points >= 1:
            costs.append((points, measure))
    costs.sort(key=lambda item: -item[0])
    parts = [f"{_describe(m, getattr(row, m.name), language)} −{p:.0f}" for p, m in costs[:2]]
    unit = "点" if language == "ja" else " pts"
    parts = [p + unit for p in parts]
    if not parts:
        parts = ["全指標が目標水準" if language == "ja" else "all measures on target"]
    grade = row.computed_grade  # type: ignore[attr-defined]
    head = f"{grade} ({score:.0f})" if language == "en" else f"{grade}（{score:.0f}点）"
    text = (
        head
        + (": " if language == "en" else "：")
        + ("; " if language == "en" else "、").join(parts)
    )
    if row.override_active:  # type: ignore[attr-defined]
        note = row.override_reason or ""  # type: ignore[attr-defined]
        prefix = (
            f"CSMによる上書き {row.grade}：{note}／算出 "
            if language == "ja"
            else f"CSM override {row.grade}: {note} / computed "
        )  # type: ignore[attr-defined]
        text = prefix + text
    return text[:1000]
