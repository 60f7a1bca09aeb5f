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


def codes_by_key(
    keys: np.ndarray, render: Callable[[complex], str]
) -> tuple[np.ndarray, list[str]]:
    """Each row's code into a table of texts, `render` called once per distinct key (found
    by hashing, not sorting: twice as fast on a million keys; a missing value is a key too)."""
    if len(keys) == 0:
        return np.empty(0, dtype=np.int64), []
    codes, distinct = pd.factorize(keys, use_na_sentinel=False)
    return codes, [render(key) for key in distinct]


class Costliest:
    """The two measures that cost each row the most points so far (at least something; ties:
    the one listed first) with the values they show, kept up as the measures are scored: no
    table of every measure's points for every row is held (at a million accounts and 20
    measures, 320 MB)."""

    def __init__(self, rows: int) -> None:
        self.lost = [np.full(rows, -np.inf), np.full(rows, -np.inf)]
        self.key = [np.full(rows, -np.inf), np.full(rows, -np.inf)]  # lost, compared
        self.measure = [np.full(rows, -1), np.full(rows, -1)]
        self.shown = [np.full(rows, np.nan), np.full(rows, np.nan)]

    def add(self, index: int, lost: np.ndarray, shown: np.ndarray) -> None:
        """Measure `index` (in the order listed) lost these points (NaN: not counted).
        Points equal but for float rounding (a third of a weight reached two ways) are a
        tie, which the measure listed first wins."""
        lost = np.where(np.isnan(lost), -np.inf, lost)
        key = np.round(lost, 9)
        top = key > self.key[0]
        runner = ~top & (key > self.key[1])
        every = ((self.key, key), (self.lost, lost), (self.measure, index), (self.shown, shown))
        for (first, second), new in every:  # in place: no new arrays for each measure
            np.copyto(second, new, where=runner)
            np.copyto(second, first, where=top)
            np.copyto(first, new, where=top)


def reasons(
    score: np.ndarray,
    computed_grade: pd.Series,
    measures: tuple[Measure, ...],
    available: np.ndarray,
    costliest: Costliest,
    language: str,
    shapes: Mapping[str, Shape],
) -> np.ndarray:
    """The sentence of each row (one scorecard's rows): the grade and score, then the two
    measures that cost the most points (at least 1 of the 100), built a column at a time.
    `available`: the weight each row's score counted."""
    ja = language == "ja"
    rows = len(score)
    # only the two pieces each row shows are rendered, once per distinct value and points
    unit = "点" if ja else " pts"
    pieces: list[str] = []
    first_code, second_code = np.full(rows, -1), np.full(rows, -1)
    for rank in (0, 1):
        with np.errstate(divide="ignore", invalid="ignore"):
            cost = 100 * costliest.lost[rank] / available
        shows = cost >= 1  # NaN compares false: not shown
        code = first_code if rank == 0 else second_code
        for j, measure in enumerate(measures):
            shape = shapes.get(measure.name, ("number", 0))
            render = partial(_piece, measure=measure, shape=shape, language=language, unit=unit)
            listed = shows & (costliest.measure[rank] == j)
            raw = costliest.shown[rank][listed]
            value = raw if measure.kind == "values" else display_key(shape, raw)
            codes, texts = codes_by_key(value + 1j * np.round(cost[listed]), render)
            code[listed] = codes + len(pieces)
            pieces += texts

    scored = ~np.isnan(score)
    grade_codes, grade_names = pd.factorize(computed_grade)
    head_code = np.full(rows, -1)
    head_code[scored], heads = codes_by_key(
        grade_codes[scored] + 1j * np.round(score[scored]),
        lambda k: (
            f"{grade_names[int(k.real)]}（{k.imag:.0f}点）："
            if ja
            else f"{grade_names[int(k.real)]} ({k.imag:.0f}): "
        ),
    )
    # a sentence per distinct (head, first piece, second piece): rows share most of them,
    # and a million new strings cost more than the rest of the score
    width = len(pieces) + 1
    combined = ((head_code + 1) * width + (first_code + 1)) * width + (second_code + 1)
    inverse, distinct = pd.factorize(combined)
    on_target = "全指標が目標水準" if ja else "all measures on target"
    no_data = "利用データなし" if ja else "no usage data"
    between = "、" if ja else "; "
    head, rest = np.divmod(distinct, width * width)
    one, two = np.divmod(rest, width)
    # put together by numpy's element-wise `+` on texts (no Python loop over the sentences):
    # code 0 is "no head" (no usage data), "no first piece" (on target), "no second piece"
    firsts = np.array([on_target, *pieces], dtype=object)
    seconds = np.array(["", *(between + piece for piece in pieces)], dtype=object)
    sentences = np.array(["", *heads], dtype=object)[head] + firsts[one] + seconds[two]
    sentences[head == 0] = no_data
    return sentences[inverse]
