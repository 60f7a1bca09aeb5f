"""Health score (0–100), grade, trend and a one-sentence reason, from configured measures.

Each measure is scaled linearly between a bad and a good threshold (either direction), weighted,
and skipped when its data is missing (the remaining weights are renormalised; `coverage` says
how much of the weight had data). A CSM's override grade is respected until it expires.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BeforeValidator, Strict, WithJsonSchema

from cs_sync.settings import Between, Settings


def _bands(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of [threshold, share] pairs, got {value!r}")
    for pair in value:
        if not (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair)
            and 0 <= pair[1] <= 1
        ):
            raise ValueError(f"{list(pair)!r} is not [threshold, share] with a share from 0 to 1")
    return tuple((float(t), float(s)) for t, s in value)


def _shares(value: Any) -> Any:
    pairs = value.items() if isinstance(value, dict) else value
    if not isinstance(pairs, tuple) and not isinstance(value, dict):
        raise ValueError(f"expected a table of text = share, got {value!r}")
    for text, share in pairs:
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 1:
            raise ValueError(f"{text}: expected a share from 0 to 1")
    return tuple((str(text), float(share)) for text, share in pairs)


def _labels(value: Any) -> Any:
    if isinstance(value, str):
        return (("ja", value), ("en", value))
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return tuple((str(k), v) for k, v in value.items())
    if isinstance(value, tuple):
        return value
    raise ValueError(f'expected text, or {{ ja = "...", en = "..." }}, got {value!r}')


def _grades(value: Any) -> Any:
    if isinstance(value, tuple):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of grade = minimum score, got {value!r}")
    grades = []
    for grade, low in value.items():
        if not isinstance(low, int | float) or isinstance(low, bool) or not 0 <= low <= 100:
            raise ValueError(f"{grade}: expected a minimum score from 0 to 100, got {low!r}")
        grades.append((str(grade), float(low)))
    return tuple(sorted(grades, key=lambda g: -g[1]))


_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_LANGUAGES = {"type": "object", "additionalProperties": {"type": "string"}}


class Measure(Settings):
    """One input of the health score. Scaled to a share of its weight (0 to 1) by one of:
    linear between `bad` and `good`; `bands` [(threshold, share)] checked in order (value at
    least the threshold, or at most with direction "lower"); `values` {text: share}."""

    name: str
    """A feature column (the built-in features or your own [[features]])."""
    weight: Annotated[float, Between(0)]
    """The measure's weight; weights are relative to each other."""
    bad: float = 0.0
    """Linear: the value that earns nothing."""
    good: float = 1.0
    """Linear: the value that earns the whole weight."""
    bands: Annotated[
        tuple[tuple[float, float], ...],
        BeforeValidator(_bands),
        WithJsonSchema(
            {
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [{"type": "number"}, _SHARE],
                    "minItems": 2,
                    "maxItems": 2,
                },
            }
        ),
    ] = ()
    """[[threshold, share], ...]: the first threshold the value reaches gives its share."""
    direction: Literal["higher", "lower"] = "higher"
    """Bands: "higher" means at least the threshold, "lower" at most."""
    values: Annotated[
        tuple[tuple[str, float], ...],
        BeforeValidator(_shares),
        WithJsonSchema({"type": "object", "additionalProperties": _SHARE}),
    ] = ()
    """For text: { Secured = 1.0, Planned = 0.7, Unknown = 0.4, Cut = 0 }."""
    missing: Literal["skip", "neutral", "worst"] = "skip"
    """No data: skip (the others are reweighted), neutral (half the weight), worst (none)."""
    label: Annotated[
        tuple[tuple[str, str], ...],
        BeforeValidator(_labels),
        WithJsonSchema({"anyOf": [{"type": "string"}, _LANGUAGES]}),
    ] = ()
    """The name in the reason sentence: text, or { ja = "...", en = "..." }."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        given: list[str] = [k for k in ("bands", "values") if k in data]
        if "bad" in data or "good" in data:
            given.append("bad/good")
        if len(given) != 1:
            return ["give one way to scale it: bad and good (linear), bands, or values"]
        if given == ["bad/good"]:
            if "bad" not in data or "good" not in data:
                return ["a linear measure needs both bad and good"]
            if data["bad"] == data["good"]:
                return ["bad and good must differ"]
        return []

    @property
    def kind(self) -> str:
        return "bands" if self.bands else "values" if self.values else "linear"


DEFAULT_MEASURES = (
    Measure(name="active_ratio", weight=40, bad=0.2, good=0.8),
    Measure(name="login_trend", weight=20, bad=0.5, good=1.0),
    Measure(name="monthly_feature", weight=20, bad=3, good=0),
    Measure(name="seasonal_dropped", weight=20, bad=1, good=0),
)


class HealthConfig(Settings):
    """[health]: the measures, the grades and when a score change is a trend."""

    measures: Annotated[tuple[Measure, ...], Strict(False)] = DEFAULT_MEASURES
    """The measures of the score ([[health.measures]]); at least one."""
    grades: Annotated[
        tuple[tuple[str, float], ...],
        BeforeValidator(_grades),
        WithJsonSchema(
            {
                "type": "object",
                "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
            }
        ),
    ] = (("A", 80.0), ("B", 60.0), ("C", 40.0), ("D", 0.0))
    """Grades and the minimum score of each; the lowest must start at 0."""
    trend_threshold: Annotated[float, Between(0, 100)] = 5
    """A score change of at least this many points marks the trend Up or Down."""
    at_risk_grades: Annotated[tuple[str, ...], Strict(False)] = ()
    """The grades that count as at risk in KPIs, dashboards and the backtest ([]: the two
    worst)."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        problems = []
        if data.get("measures") == []:
            problems.append("measures: at least one measure is needed")
        grades = data.get("grades")
        lows = [
            v
            for v in (grades.values() if isinstance(grades, dict) else [])
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]  # a minimum that is no number is reported by the field itself
        if lows and min(lows) != 0:
            problems.append("grades: the lowest grade must start at 0 (e.g. D = 0)")
        if len(set(lows)) != len(lows):
            problems.append("grades: two grades share the same minimum score")
        names = list(grades) if isinstance(grades, dict) else ["A", "B", "C", "D"]
        at_risk = data.get("at_risk_grades", [])
        problems += [
            f"at_risk_grades: {g!r} is not a grade in health.grades ({', '.join(names)})"
            for g in (at_risk if isinstance(at_risk, list) else [])
            if g not in names
        ]
        return problems

    @property
    def at_risk(self) -> tuple[str, ...]:
        """The at-risk grades: as configured, else the two worst."""
        return self.at_risk_grades or tuple(g for g, _ in self.grades[-2:])


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


BUILT_IN_LABELS = {
    "active_ratio": {"ja": "アクティブ率", "en": "active users"},
    "login_trend": {"ja": "ログイン数", "en": "logins"},
    "monthly_feature": {"ja": "毎月利用機能", "en": "monthly feature"},
    "seasonal_dropped": {"ja": "年次の重要機能", "en": "yearly key feature"},
}


def _label(measure: Measure, language: str) -> str:
    own = dict(measure.label)
    return own.get(language) or BUILT_IN_LABELS.get(measure.name, {}).get(language) or measure.name


def measure_share(measure: Measure, raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The share of the weight earned (0 to 1, NaN where no data) and the number the reason
    sentence shows (NaN where no data; for a text measure, the index of its value)."""
    if measure.kind == "values":
        shares = dict(measure.values)
        names = [text for text, _ in measure.values]
        index = raw.map({text: i for i, text in enumerate(names)}).to_numpy(dtype=float)
        share = raw.map(shares).to_numpy(dtype=float)
        return share, index
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    if measure.kind == "bands":
        share = np.zeros(len(values))
        decided = np.zeros(len(values), dtype=bool)
        for threshold, band_share in measure.bands:
            reached = values >= threshold if measure.direction == "higher" else values <= threshold
            share = np.where(~decided & reached, band_share, share)
            decided |= reached
        share = np.where(np.isnan(values), np.nan, share)
    else:
        with np.errstate(invalid="ignore"):
            share = np.clip((values - measure.bad) / (measure.good - measure.bad), 0, 1)
    return share, _display_key(measure, values)


def _display_key(measure: Measure, values: np.ndarray) -> np.ndarray:
    """What the reason sentence shows of a raw value, as a number (so equal texts share it)."""
    if measure.name == "active_ratio":
        return np.round(values * 100) + 0.0  # a percentage; + 0.0 turns -0 into 0
    if measure.name == "login_trend":
        return np.round((values - 1) * 100) + 0.0  # the change, in percent
    if measure.name == "seasonal_dropped":
        return np.where(np.isnan(values), np.nan, 0.0)  # the sentence says it all
    if measure.name == "monthly_feature":
        return np.trunc(values)  # whole months
    return np.round(values, 2) + 0.0


def _piece(key: complex, measure: Measure, language: str, unit: str) -> str:
    """One measure's part of the reason: its value, and the points it cost."""
    return f"{_describe(measure, key.real, language)} −{key.imag:.0f}{unit}"


def _describe(measure: Measure, key: float, language: str) -> str:
    label = _label(measure, language)
    if np.isnan(key):
        return f"{label}：データなし" if language == "ja" else f"{label}: no data"
    if measure.kind == "values":
        return (
            f"{label}：{measure.values[int(key)][0]}"
            if language == "ja"
            else (f"{label}: {measure.values[int(key)][0]}")
        )
    if measure.name == "active_ratio" and measure.kind == "linear":
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
    if measure.name == "monthly_feature":
        if language == "ja":
            return f"毎月利用機能が{key:.0f}か月未使用"
        return f"monthly feature unused for {key:.0f} month(s)"
    if measure.name == "active_ratio":
        return f"アクティブ率 {key:.0f}%" if language == "ja" else f"active users {key:.0f}%"
    return f"{label} {key:g}"


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
    rows = len(out)
    earned = np.zeros(rows)
    counted = np.zeros(rows)  # weight in the score: with data, or filled by the missing policy
    with_data = np.zeros(rows)
    lost: dict[str, np.ndarray] = {}
    shown: dict[str, np.ndarray] = {}
    for measure in config.measures:
        share, shown[measure.name] = measure_share(measure, out[measure.name])
        present = ~np.isnan(share)
        if measure.missing != "skip":
            share = np.where(present, share, 0.5 if measure.missing == "neutral" else 0.0)
        used = ~np.isnan(share)
        earned += np.where(used, share * measure.weight, 0.0)
        counted += np.where(used, measure.weight, 0.0)
        with_data += np.where(present, measure.weight, 0.0)
        lost[measure.name] = np.where(used, (1 - share) * measure.weight, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(with_data > 0, 100 * earned / counted, np.nan)
    out["score"] = pd.Series(score, index=out.index).round(1)
    out["coverage"] = (
        pd.Series(with_data / total_weight, index=out.index).round(2) if total_weight else 0.0
    )

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
    out["reasons"] = _reasons(out, config, lost, shown, language)
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
    out: pd.DataFrame,
    config: HealthConfig,
    lost: dict[str, np.ndarray],
    shown: dict[str, np.ndarray],
    language: str,
) -> pd.Series:
    """ "B (72): active users 45% of seats (target 80%) −16 pts; …": the grade and score, then
    the two measures that cost the most points (at least 1), built a column at a time."""
    ja = language == "ja"
    measures = config.measures
    rows = len(out)
    values = np.column_stack([shown[m.name] for m in measures]).reshape(rows, len(measures))
    lost_points = np.column_stack([lost[m.name] for m in measures]).reshape(rows, len(measures))
    available = np.nansum(
        np.where(np.isnan(lost_points), 0.0, 1.0) * [m.weight for m in measures], axis=1
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        points = 100 * lost_points / available[:, None]
    counts = np.nan_to_num(points, nan=-1.0) >= 1
    order = np.argsort(np.where(counts, -points, np.inf), axis=1, kind="stable")

    unit = "点" if ja else " pts"
    pieces = np.full((rows, len(measures)), "", dtype=object)
    for j, measure in enumerate(measures):
        listed = counts[:, j]
        key = values[listed, j] + 1j * np.round(points[listed, j])
        pieces[listed, j] = _texts_by_key(
            key,
            partial(_piece, measure=measure, language=language, unit=unit),
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
