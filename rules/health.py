"""Health score (0–100), grade, trend and a one-sentence reason, from configured measures.

Each measure is scaled linearly between a bad and a good threshold (either direction), weighted,
and skipped when its data is missing (the remaining weights are renormalised; `coverage` says
how much of the weight had data). A CSM's override grade is respected until it expires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BeforeValidator, Field, Strict, WithJsonSchema

from cs_sync.rules.arrays import lookup
from cs_sync.rules.health_reasons import BUILT_IN_SHAPES, Costliest, reasons
from cs_sync.settings import Between, Settings, names_twice


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


def _no_duplicate_names(measures: Any) -> list[str]:
    return [f"measures: {n!r} is measured twice; give it one weight" for n in names_twice(measures)]


def unknown_grades(key: str, given: Any, names: list[str]) -> list[str]:
    """A problem for each grade of `given` (a list, as the file wrote it) not among `names`."""
    return [
        f"{key}: {g!r} is not a grade in health.grades ({', '.join(names)})"
        for g in (given if isinstance(given, list) else [])
        if g not in names
    ]


class Scorecard(Settings):
    """[[health.scorecards]]: other measures and weights for some segments (and/or the phases
    on the record from the last run); the first that matches an account scores it, the
    [[health.measures]] score the rest."""

    name: Annotated[str, Field(min_length=1, max_length=40)]
    """Shown in explain, the dashboard and the history (e.g. "high_touch")."""
    segments: Annotated[tuple[str, ...], Strict(False)] = ()
    """The segments it scores (e.g. ["High Touch"]); [] = any segment."""
    phases: Annotated[tuple[str, ...], Strict(False)] = ()
    """The phases it scores, as the account's record shows them from the last run; [] = any."""
    measures: Annotated[tuple[Measure, ...], Strict(False)]
    """Its measures ([[health.scorecards.measures]], the same keys as [[health.measures]])."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        problems = _no_duplicate_names(data.get("measures"))
        if not data.get("segments") and not data.get("phases"):
            problems.append("segments or phases: say which accounts this scorecard scores")
        if data.get("measures") == []:
            problems.append("measures: at least one measure is needed")
        return problems

    def matches(self, segment: pd.Series, phase: pd.Series) -> np.ndarray:
        chosen = np.ones(len(segment), dtype=bool)
        if self.segments:
            chosen &= segment.isin(self.segments).to_numpy()
        if self.phases:
            chosen &= phase.isin(self.phases).to_numpy()
        return chosen


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
    scorecards: Annotated[tuple[Scorecard, ...], Strict(False)] = ()
    """Other measures for some segments or phases; the first that matches wins, the measures
    above score every other account."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        problems = _no_duplicate_names(data.get("measures"))
        if data.get("measures") == []:
            problems.append("measures: at least one measure is needed")
        cards = data.get("scorecards", [])
        problems += [f"scorecards: the name {n!r} is used twice" for n in names_twice(cards)]
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
        return problems + unknown_grades("at_risk_grades", data.get("at_risk_grades"), names)

    def measures_of(self, scorecard: str | None) -> tuple[Measure, ...]:
        """The measures of a scorecard by name (the default measures for DEFAULT_SCORECARD)."""
        return next((c.measures for c in self.scorecards if c.name == scorecard), self.measures)

    def every_measure(self) -> tuple[Measure, ...]:
        return (*self.measures, *(m for c in self.scorecards for m in c.measures))

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
    "scorecard",
)
DEFAULT_SCORECARD = "default"


def measure_share(measure: Measure, raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The share of the weight earned (0 to 1, NaN where no data) and the value as a number
    (NaN where no data; for a text measure, the index of its value in the table)."""
    if measure.kind == "values":
        shares = dict(measure.values)
        names = [text for text, _ in measure.values]
        index = lookup(raw, {text: i for i, text in enumerate(names)})
        return lookup(raw, shares), index
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
    return share, values


def score_health(
    features: pd.DataFrame,
    config: HealthConfig,
    as_of: date,
    language: str,
    shapes: Mapping[str, tuple[str, int]] | None = None,
    with_reasons: bool = True,
) -> pd.DataFrame:
    """Adds score, grade, computed_grade, trend, reasons, coverage and scorecard to a copy of
    `features` (reasons empty without `with_reasons`: a backtest reads no sentence). Each
    account is scored by the first scorecard that matches it, else by the default measures.
    `shapes`: how the admin's features read in the reason sentence (see
    health_reasons.BUILT_IN_SHAPES).

    Needs columns named after each measure, plus segment, prev_phase, prev_score, prev_trend,
    override_grade, override_reason, override_expiry (any may be empty)."""
    out = features.copy(deep=False)  # copy on write: the caller's frame never changes
    rows = len(out)
    chosen = np.full(rows, -1)
    segment = out.get("segment", pd.Series(None, index=out.index, dtype=object))
    phase = out.get("prev_phase", pd.Series(None, index=out.index, dtype=object))
    for index, card in reversed(list(enumerate(config.scorecards))):  # the first match wins
        chosen = np.where(card.matches(segment, phase), index, chosen)
    cards = [(DEFAULT_SCORECARD, config.measures)] + [
        (c.name, c.measures) for c in config.scorecards
    ]
    score = np.full(rows, np.nan)
    coverage = np.zeros(rows)
    parts = []
    for index, (_, measures) in enumerate(cards):
        members = np.flatnonzero(chosen == index - 1)
        if len(members) == 0:
            continue
        part = _score_part(out, members, measures)
        score[members], coverage[members] = part[0], part[1]
        parts.append((members, measures, part[2], part[3]))
    out["score"] = pd.Series(score, index=out.index).round(1)
    out["coverage"] = pd.Series(coverage, index=out.index).round(2)
    out["scorecard"] = np.array([name for name, _ in cards], dtype=object)[chosen + 1]

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

    text = np.full(rows, "", dtype=object)
    rounded = out["score"].to_numpy(dtype=float)
    every_shape = {**BUILT_IN_SHAPES, **(shapes or {})}
    for members, measures, available, costliest in parts if with_reasons else ():
        text[members] = reasons(
            rounded[members],
            out["computed_grade"].iloc[members],
            measures,
            available,
            costliest,
            language,
            every_shape,
        )
    out["reasons"] = _with_overrides(pd.Series(text, index=out.index, dtype=object), out, language)
    return out


@dataclass(frozen=True)
class MeasurePoints:
    """One measure over some rows: the points it earns, the weight it puts in the score
    (with data, or filled by its missing policy) and the weight it has data for."""

    earned: np.ndarray
    counted: np.ndarray
    with_data: np.ndarray
    shown: np.ndarray  # the value the sentence shows


def measure_points(frame: pd.DataFrame, measure: Measure) -> MeasurePoints:
    return points_of(measure, frame[measure.name])


def points_of(measure: Measure, raw: pd.Series) -> MeasurePoints:
    """The measure's points over the values of its column."""
    share, shown = measure_share(measure, raw)
    present = ~np.isnan(share)
    if measure.missing != "skip":
        share = np.where(present, share, 0.5 if measure.missing == "neutral" else 0.0)
    used = ~np.isnan(share)
    return MeasurePoints(
        earned=np.where(used, share * measure.weight, 0.0),
        counted=np.where(used, measure.weight, 0.0),
        with_data=np.where(present, measure.weight, 0.0),
        shown=shown,
    )


def score_of(earned: np.ndarray, counted: np.ndarray, with_data: np.ndarray) -> np.ndarray:
    """The 0-100 score from the points summed over the measures (NaN without any data)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(with_data > 0, 100 * earned / counted, np.nan)


def _score_part(
    out: pd.DataFrame, members: np.ndarray, measures: tuple[Measure, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Costliest]:
    """One scorecard's rows (`members` of `out`): score, coverage, the weight counted, and
    the two measures that cost each row the most points."""
    total_weight = sum(m.weight for m in measures)
    rows = len(members)
    every_row = rows == len(out)
    earned = np.zeros(rows)
    counted = np.zeros(rows)
    with_data = np.zeros(rows)
    costliest = Costliest(rows)
    for index, measure in enumerate(measures):
        column = out[measure.name]
        points = points_of(measure, column if every_row else column.iloc[members])
        earned += points.earned
        counted += points.counted
        with_data += points.with_data
        lost = np.where(points.counted > 0, points.counted - points.earned, np.nan)
        costliest.add(index, lost, points.shown)
    coverage = with_data / total_weight if total_weight else np.zeros(rows)
    return score_of(earned, counted, with_data), coverage, counted, costliest


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
    words = np.array(["Down", "Flat", "Up"], dtype=object)  # one object each, not one a row
    trend = pd.Series(
        words[np.where(change >= threshold, 2, np.where(change <= -threshold, 0, 1))],
        index=out.index,
    )
    trend = trend.where(previous.notna(), "New")
    same = (change.abs() < 0.05) & out["prev_trend"].notna() & (out["prev_trend"] != "")
    trend = trend.where(~same, out["prev_trend"])
    return trend.astype(object).where(out["score"].notna(), None)


def _with_overrides(reasons: pd.Series, out: pd.DataFrame, language: str) -> pd.Series:
    """A CSM's active override leads the sentence, with its note, before the computed one."""
    ja = language == "ja"
    scored = out["score"].notna().to_numpy()
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
