"""The health reason sentence: "B (72): active users 45% of seats (target 80%) −16 pts; …",
the grade and score, then the two measures that cost the most points, each described by the
shape of its value (a share, a change, months unused, a season dropped, months, a number)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cs_sync.rules.usage_metrics import MetricFeature

if TYPE_CHECKING:  # health.py scores through this module
    from cs_sync.rules.health import Measure

# How a feature's value reads in a sentence: (shape, months) where shape is one of share,
# change (against `months` months before; 0: against last season), unused_months, dropped,
# months, days_ago, number. Features not listed read as numbers; text measures read as their value.
Shape = tuple[str, int]
BUILT_IN_SHAPES: dict[str, Shape] = {
    "active_ratio": ("share", 0),
    "login_trend": ("change", 3),
    "monthly_feature": ("unused_months", 0),
    "seasonal_dropped": ("dropped", 0),
    "onboarded_after_months": ("months", 0),
    "days_since_meeting": ("days_ago", 0),
    "days_since_touch": ("days_ago", 0),
}
BUILT_IN_LABELS = {
    "active_ratio": {"ja": "アクティブ率", "en": "active users"},
    "login_trend": {"ja": "ログイン数", "en": "logins"},
    "monthly_feature": {"ja": "毎月利用機能", "en": "monthly feature"},
    "seasonal_dropped": {"ja": "年次の重要機能", "en": "yearly key feature"},
    "days_since_meeting": {"ja": "最終面談", "en": "last meeting"},
    "days_since_touch": {"ja": "最終接点", "en": "last CSM touch"},
    "high_priority_cases": {"ja": "優先度高の問い合わせ", "en": "high-priority cases"},
    "open_cases": {"ja": "未解決の問い合わせ", "en": "open cases"},
}


def metric_shapes(features: Iterable[MetricFeature]) -> dict[str, Shape]:
    """How each feature of a usage metric reads, by its function."""
    by_function = {
        "months_without": "unused_months",
        "months_since_use": "unused_months",
        "season_dropped": "dropped",
        "months_to_level": "months",
    }
    shapes = {}
    for feature in features:
        if feature.function in ("trend", "season_change"):
            months = feature.months if feature.function == "trend" else 0
            shapes[feature.name] = ("change", months)
        else:
            shapes[feature.name] = (by_function.get(feature.function, "number"), 0)
    return shapes


def label(measure: Measure, language: str) -> str:
    own = dict(measure.label)
    return own.get(language) or BUILT_IN_LABELS.get(measure.name, {}).get(language) or measure.name


def display_key(shape: Shape, values: np.ndarray) -> np.ndarray:
    """What the sentence shows of a raw value, as a number (so equal texts share it)."""
    kind = shape[0]
    if kind == "share":
        return np.round(values * 100) + 0.0  # a percentage; + 0.0 turns -0 into 0
    if kind == "change":
        return np.round((values - 1) * 100) + 0.0  # the change, in percent
    if kind == "dropped":
        return np.where(np.isnan(values), np.nan, 0.0)  # the sentence says it all
    if kind in ("unused_months", "months", "days_ago"):
        return np.trunc(values)  # whole months
    return np.round(values, 2) + 0.0


def describe(measure: Measure, shape: Shape, key: float, language: str) -> str:
    """One measure's value in words."""
    name = label(measure, language)
    ja = language == "ja"
    if np.isnan(key):
        return f"{name}：データなし" if ja else f"{name}: no data"
    if measure.kind == "values":
        return (
            f"{name}：{measure.values[int(key)][0]}"
            if ja
            else f"{name}: {measure.values[int(key)][0]}"
        )
    kind, months = shape
    if kind == "share":
        of_seats = " of seats" if measure.name == "active_ratio" and not ja else ""
        if measure.kind != "linear":
            return f"{name} {key:.0f}%{of_seats}"
        target = f"{measure.good:.0%}"
        return (
            f"{name} {key:.0f}%（目標 {target}）"
            if ja
            else f"{name} {key:.0f}%{of_seats} (target {target})"
        )
    if kind == "change":
        if months:
            return (
                f"{name} 前{months}か月比 {key:+.0f}%"
                if ja
                else f"{name} {key:+.0f}% vs the prior {months} months"
            )
        return f"{name} 昨季比 {key:+.0f}%" if ja else f"{name} {key:+.0f}% vs last season"
    if kind == "unused_months":
        return f"{name}が{key:.0f}か月未使用" if ja else f"{name} unused for {key:.0f} month(s)"
    if kind == "dropped":
        return (
            f"{name}を今季未使用（昨季は利用）"
            if ja
            else f"{name} unused this season (used last season)"
        )
    if kind == "days_ago":
        return f"{name} {key:.0f}日前" if ja else f"{name} {key:.0f} days ago"
    if kind == "months":
        return f"{name}：{key:.0f}か月" if ja else f"{name}: {key:.0f} month(s)"
    return f"{name} {key:g}"


def _piece(key: complex, measure: Measure, shape: Shape, language: str, unit: str) -> str:
    """One measure's part of the reason: its value, and the points it cost."""
    return f"{describe(measure, shape, key.real, language)} −{key.imag:.0f}{unit}"


def texts_by_key(keys: np.ndarray, render: Callable[[complex], str]) -> np.ndarray:
    """`render` once per distinct key, spread back to every row (an object array)."""
    if len(keys) == 0:
        return np.array([], dtype=object)
    distinct, inverse = np.unique(keys, return_inverse=True)
    texts = np.array([render(key) for key in distinct], dtype=object)
    return texts[inverse.reshape(-1)]


def reasons(
    score: np.ndarray,
    computed_grade: pd.Series,
    measures: tuple[Measure, ...],
    lost: dict[str, np.ndarray],
    shown: dict[str, np.ndarray],
    language: str,
    shapes: Mapping[str, Shape],
) -> np.ndarray:
    """The sentence of each row (one scorecard's rows): the grade and score, then the two
    measures that cost the most points (at least 1), built a column at a time."""
    ja = language == "ja"
    rows = len(score)
    lost_points = np.column_stack([lost[m.name] for m in measures]).reshape(rows, len(measures))
    available = np.nansum(
        np.where(np.isnan(lost_points), 0.0, 1.0) * [m.weight for m in measures], axis=1
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        points = 100 * lost_points / available[:, None]
    counts = np.nan_to_num(points, nan=-1.0) >= 1
    # the two costliest measures of each row (ties: the one listed first), without sorting
    ranked = np.where(counts, points, -np.inf)
    everyone = np.arange(rows)
    first = np.argmax(ranked, axis=1) if len(measures) else np.zeros(rows, dtype=np.int64)
    if len(measures) > 1:
        ranked[everyone, first] = -np.inf
        second = np.argmax(ranked, axis=1)
    else:
        second = first

    unit = "点" if ja else " pts"
    has_first = counts[everyone, first]
    has_second = counts[everyone, second] & (second != first)
    # only the two pieces each row shows are rendered, one measure at a time
    shown_first = np.full(rows, "", dtype=object)
    shown_second = np.full(rows, "", dtype=object)
    for j, measure in enumerate(measures):
        shape = shapes.get(measure.name, ("number", 0))
        render = partial(_piece, measure=measure, shape=shape, language=language, unit=unit)
        for target, rank, present in (
            (shown_first, first, has_first),
            (shown_second, second, has_second),
        ):
            listed = present & (rank == j)
            raw = shown[measure.name][listed]
            value = raw if measure.kind == "values" else display_key(shape, raw)
            target[listed] = texts_by_key(value + 1j * np.round(points[listed, j]), render)

    scored = ~np.isnan(score)
    grade_codes, grade_names = pd.factorize(computed_grade)
    head_key = grade_codes[scored] + 1j * np.round(score[scored])
    heads = np.full(rows, "", dtype=object)
    heads[scored] = texts_by_key(
        head_key,
        lambda k: (
            f"{grade_names[int(k.real)]}（{k.imag:.0f}点）："
            if ja
            else f"{grade_names[int(k.real)]} ({k.imag:.0f}): "
        ),
    )
    on_target = "全指標が目標水準" if ja else "all measures on target"
    no_data = "利用データなし" if ja else "no usage data"
    between = "、" if ja else "; "
    # one pass of plain Python over the rows: faster than a numpy pass per concatenation
    return np.array(
        [
            (head + (one if has_one else on_target) + (between + two if has_two else ""))
            if known
            else no_data
            for head, one, two, has_one, has_two, known in zip(
                heads,
                shown_first,
                shown_second,
                has_first.tolist(),
                has_second.tolist(),
                scored.tolist(),
                strict=True,
            )
        ],
        dtype=object,
    )
