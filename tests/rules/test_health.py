"""Health score, grade, trend and reasons: each row a case a CS lead can agree with or not."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from cs_sync.rules.health import DEFAULT_MEASURES, HealthConfig, Measure, score_health
from cs_sync.rules.health_reasons import codes_by_key

AS_OF = date(2026, 11, 24)
CONFIG = HealthConfig(
    measures=DEFAULT_MEASURES,
    grades=(("A", 80.0), ("B", 60.0), ("C", 40.0), ("D", 0.0)),
    trend_threshold=5,
)
NAN = np.nan


def one(
    active_ratio: float = NAN,
    login_trend: float = NAN,
    monthly_feature: float = NAN,
    seasonal_dropped: float = NAN,
    prev_score: float | None = None,
    prev_trend: str | None = None,
    override_grade: str | None = None,
    override_expiry: str | None = None,
    language: str = "en",
) -> pd.Series:
    features = pd.DataFrame(
        [
            {
                "account_id": "001",
                "active_ratio": active_ratio,
                "login_trend": login_trend,
                "monthly_feature": monthly_feature,
                "seasonal_dropped": seasonal_dropped,
                "prev_score": prev_score,
                "prev_trend": prev_trend,
                "override_grade": override_grade,
                "override_reason": "exec sponsor re-engaged",
                "override_expiry": override_expiry,
            }
        ]
    )
    return score_health(features, CONFIG, AS_OF, language).iloc[0]


@pytest.mark.parametrize(
    ("active", "trend", "missing", "score", "grade"),
    [
        pytest.param(0.85, 1.1, 0, 100.0, "A", id="everything-on-target"),
        pytest.param(0.8, 1.0, 0, 100.0, "A", id="exactly-on-target"),
        pytest.param(0.5, 1.0, 0, 75.0, "B", id="half-way-active"),
        pytest.param(0.2, 0.5, 3, 0.0, "D", id="everything-at-worst"),
        pytest.param(0.1, 0.2, 12, 0.0, "D", id="below-worst-is-clamped"),
        pytest.param(0.8, 0.5, 3, 50.0, "C", id="active-but-fading"),
        pytest.param(0.44, 1.0, 1, 20 + 25 + 16.7, "B", id="one-month-missing"),
    ],
)
def test_score_and_grade(
    active: float, trend: float, missing: float, score: float, grade: str
) -> None:
    row = one(active, trend, missing)  # the seasonal measure has nothing to judge here
    assert row["score"] == pytest.approx(score, abs=0.1)
    assert row["grade"] == grade
    assert row["coverage"] == 0.8


def test_missing_measures_are_skipped_and_reweighted() -> None:
    row = one(active_ratio=0.5, monthly_feature=0)  # no login trend yet (new account)
    assert row["score"] == pytest.approx(100 * (20 + 20) / 60, abs=0.1)
    assert row["coverage"] == 0.6


@pytest.mark.parametrize(
    ("dropped", "score", "reasons"),
    [
        pytest.param(
            1.0,
            80.0,
            "A (80): yearly key feature unused this season (used last season) −20 pts",
            id="year-end adjustment used last season, not this one: costs its full weight",
        ),
        pytest.param(0.0, 100.0, "A (100): all measures on target", id="used again"),
    ],
)
def test_seasonal_feature(dropped: float, score: float, reasons: str) -> None:
    row = one(0.9, 1.0, 0, seasonal_dropped=dropped)
    assert (row["score"], row["reasons"], row["coverage"]) == (score, reasons, 1.0)


def test_no_data_at_all_gives_no_grade() -> None:
    row = one()
    assert np.isnan(row["score"]) and row["grade"] is None and row["trend"] is None
    assert row["reasons"] == "no usage data"


def test_reasons_name_the_measures_that_cost_most() -> None:
    row = one(0.5, 0.9, 0)
    assert row["reasons"] == (
        "B (70): active users 50% of seats (target 80%) −25 pts; "
        "logins -10% vs the prior 3 months −5 pts"
    )
    japanese = one(0.5, 0.9, 0, language="ja")
    assert japanese["reasons"] == (
        "B（70点）：アクティブ率 50%（目標 80%） −25点、ログイン数 前3か月比 -10% −5点"
    )


def test_reasons_when_all_on_target() -> None:
    assert one(0.9, 1.0, 0)["reasons"] == "A (100): all measures on target"


@pytest.mark.parametrize(
    ("prev_score", "prev_trend", "expected"),
    [
        pytest.param(None, None, "New", id="first-score"),
        pytest.param(60.0, "Flat", "Up", id="up-by-15"),
        pytest.param(90.0, "Flat", "Down", id="down-by-15"),
        pytest.param(73.0, "Down", "Flat", id="small-change-is-flat"),
        pytest.param(75.0, "Down", "Down", id="same-score-keeps-trend"),
    ],
)
def test_trend(prev_score: float | None, prev_trend: str | None, expected: str) -> None:
    assert one(0.5, 1.0, 0, prev_score=prev_score, prev_trend=prev_trend)["trend"] == expected


@pytest.mark.parametrize(
    ("expiry", "grade"),
    [
        pytest.param("2026-12-31", "B", id="override-before-expiry"),
        pytest.param("2026-11-24", "B", id="override-on-expiry-day"),
        pytest.param("2026-11-23", "D", id="override-expired"),
        pytest.param(None, "B", id="override-without-expiry"),
    ],
)
def test_override_is_respected_until_it_expires(expiry: str | None, grade: str) -> None:
    row = one(0.2, 0.5, 3, override_grade="B", override_expiry=expiry)
    assert row["grade"] == grade
    assert row["computed_grade"] == "D"
    if grade == "B":
        assert row["reasons"].startswith("CSM override B: exec sponsor re-engaged / computed D")


def test_reverse_direction_measure() -> None:
    config = HealthConfig(
        measures=(Measure(name="monthly_feature", weight=1, bad=3, good=0),),
        grades=CONFIG.grades,
        trend_threshold=5,
    )
    features = pd.DataFrame(
        [
            {
                "account_id": str(m),
                "monthly_feature": m,
                "prev_score": None,
                "prev_trend": None,
                "override_grade": None,
                "override_reason": None,
                "override_expiry": None,
            }
            for m in (0, 1, 2, 3, 6)
        ]
    )
    scores = score_health(features, config, AS_OF, "en")["score"].tolist()
    assert scores == pytest.approx([100.0, 66.7, 33.3, 0.0, 0.0], abs=0.1)


def scored_with(measures: tuple[Measure, ...], **values: object) -> pd.Series:
    config = HealthConfig(measures=measures, grades=CONFIG.grades, trend_threshold=5)
    row = {
        "prev_score": None,
        "prev_trend": None,
        "override_grade": None,
        "override_reason": None,
        "override_expiry": None,
        **values,
    }
    return score_health(pd.DataFrame([row]), config, AS_OF, "en").iloc[0]


LOGIN_BANDS = Measure(
    name="months_without_login",
    weight=50,
    bands=((0, 1.0), (1, 0.5), (2, 0.2)),
    direction="lower",
    label=(("en", "months without a login"), ("ja", "ログインなし月数")),
)
BUDGET = Measure(
    name="budget_status",
    weight=50,
    values=(("Secured", 1.0), ("Planned", 0.7), ("Unknown", 0.4), ("Cut", 0.0)),
    label=(("en", "budget"), ("ja", "予算")),
)


@pytest.mark.parametrize(
    ("months", "budget", "score", "reasons"),
    [
        pytest.param(0, "Secured", 100.0, "A (100): all measures on target", id="best bands"),
        pytest.param(
            1, "Secured", 75.0, "B (75): months without a login 1 −25 pts", id="one silent month"
        ),
        pytest.param(
            3,
            "Planned",
            35.0,
            "D (35): months without a login 3 −50 pts; budget: Planned −15 pts",
            id="below every band: nothing; budget planned: 70%",
        ),
        pytest.param(
            0, "Cut", 50.0, "C (50): budget: Cut −50 pts", id="budget cut costs its weight"
        ),
    ],
)
def test_bands_and_text_values(months: int, budget: str, score: float, reasons: str) -> None:
    row = scored_with((LOGIN_BANDS, BUDGET), months_without_login=months, budget_status=budget)
    assert (row["score"], row["reasons"]) == (score, reasons)


@pytest.mark.parametrize(
    ("policy", "score", "coverage", "reasons"),
    [
        pytest.param(
            "skip",
            100.0,
            0.5,
            "A (100): all measures on target",
            id="skip: the others are reweighted",
        ),
        pytest.param(
            "neutral", 75.0, 0.5, "B (75): budget: no data −25 pts", id="neutral: half the weight"
        ),
        pytest.param(
            "worst",
            50.0,
            0.5,
            "C (50): budget: no data −50 pts",
            id="worst: nothing, as if it were bad",
        ),
    ],
)
def test_missing_data_policy(policy: str, score: float, coverage: float, reasons: str) -> None:
    budget = Measure(
        name="budget_status", weight=50, values=BUDGET.values, missing=policy, label=BUDGET.label
    )
    row = scored_with((LOGIN_BANDS, budget), months_without_login=0, budget_status=None)
    assert (row["score"], row["coverage"], row["reasons"]) == (score, coverage, reasons)


def test_each_segment_is_scored_by_its_own_scorecard() -> None:
    from cs_sync.rules.health import Scorecard

    meetings = Measure(name="days_since_touch", weight=1, bad=60, good=14)
    config = CONFIG.model_copy(
        update={
            "scorecards": (
                Scorecard(name="high_touch", segments=("High Touch",), measures=(meetings,)),
                Scorecard(name="renewing", phases=("Renewal window",), measures=(meetings,)),
            )
        }
    )
    features = pd.DataFrame(
        {
            "account_id": ["h", "l", "r"],
            "segment": ["High Touch", "Low Touch", "Low Touch"],
            "prev_phase": ["Adoption", "Adoption", "Renewal window"],
            "active_ratio": [0.2, 0.8, 0.8],
            "login_trend": [0.5, 1.0, 1.0],
            "monthly_feature": [3, 0, 0],
            "seasonal_dropped": [1, 0, 0],
            "days_since_touch": [14, 90, 37],
            "prev_score": None,
            "prev_trend": None,
            "override_grade": None,
            "override_reason": None,
            "override_expiry": None,
        }
    )
    scored = score_health(features, config, AS_OF, "en").set_index("account_id")
    # the high-touch account has poor usage but a CSM met it two weeks ago: its scorecard
    # only weighs the touch; the low-touch one is scored on usage whatever its touches
    assert scored.loc["h", ["score", "scorecard"]].tolist() == [100.0, "high_touch"]
    assert scored.loc["l", ["score", "scorecard"]].tolist() == [100.0, "default"]
    assert scored.loc["r", ["score", "scorecard"]].tolist() == [50.0, "renewing"]
    assert scored.loc["r", "reasons"] == "C (50): last CSM touch 37 days ago −50 pts"


@pytest.mark.parametrize(
    ("shape", "value", "reason"),
    [
        pytest.param(("change", 6), 0.5, "requests -50% vs the prior 6 months", id="trend"),
        pytest.param(("change", 0), 0.5, "requests -50% vs last season", id="season-change"),
        pytest.param(("unused_months", 0), 4, "requests unused for 4 month(s)", id="unused"),
        pytest.param(("months", 0), 4, "requests: 4 month(s)", id="time-to-value"),
        pytest.param(
            ("dropped", 0), 1, "requests unused this season (used last season)", id="dropped"
        ),
    ],
)
def test_a_features_function_decides_how_its_reason_reads(
    shape: tuple[str, int], value: float, reason: str
) -> None:
    measure = Measure(name="requests_signal", weight=1, bad=value, good=value + 1)
    if shape[0] in ("unused_months", "months", "dropped"):
        measure = Measure(name="requests_signal", weight=1, bad=value, good=value - 1)
    features = pd.DataFrame(
        [
            {
                "account_id": "001",
                "requests_signal": value,
                "prev_score": None,
                "prev_trend": None,
                "override_grade": None,
                "override_reason": None,
                "override_expiry": None,
            }
        ]
    )
    labelled = measure.model_copy(update={"label": (("en", "requests"),)})
    config = CONFIG.model_copy(update={"measures": (labelled,)})
    scored = score_health(features, config, AS_OF, "en", {"requests_signal": shape})
    assert scored.iloc[0]["reasons"] == f"D (0): {reason} −100 pts"


def test_points_equal_but_for_float_rounding_tie_and_the_first_listed_leads() -> None:
    # a third of the weight reached two ways: 0.1 of 0.3 and 1 of 3 lose 6.666666666666666
    # and 6.666666666666667 points; the sentence names the measure listed first first
    listed_first = Measure(name="tenths", weight=10, bad=0, good=0.3)
    listed_second = Measure(name="units", weight=10, bad=0, good=3)
    on_target = Measure(name="other", weight=10, bad=0, good=1)
    row = scored_with((listed_first, listed_second, on_target), tenths=0.1, units=1, other=1)
    assert row["reasons"] == "C (56): tenths 0.1 −22 pts; units 1 −22 pts"
    swapped = scored_with((listed_second, listed_first, on_target), tenths=0.1, units=1, other=1)
    assert swapped["reasons"] == "C (56): units 1 −22 pts; tenths 0.1 −22 pts"


def test_repeated_words_are_one_object_each() -> None:
    # a million accounts' trends as one string each cost 57 MB; shared, 8 MB of pointers
    frame = pd.DataFrame(
        {
            "active_ratio": np.linspace(0, 1, 400),
            **{m.name: np.nan for m in DEFAULT_MEASURES if m.name != "active_ratio"},
            "prev_score": np.tile([0.0, 50.0, 100.0, np.nan], 100),
            "prev_trend": None,
            "override_grade": None,
            "override_reason": None,
            "override_expiry": None,
        }
    )
    scored = score_health(frame, CONFIG, AS_OF, "en")
    trends = scored["trend"].dropna()
    assert set(trends) == {"Up", "Down", "Flat", "New"}
    assert len({id(value) for value in trends}) == 4


def test_a_reason_piece_is_rendered_once_per_value_and_points_missing_values_too() -> None:
    """Keys are (value + 1j * points): an unknown value with different points is a different
    piece (sorting complex keys put every key with a NaN part into one)."""
    keys = np.array([complex(np.nan, 3), complex(np.nan, 5), complex(np.nan, 3), 2 + 3j, 2 + 3j])
    codes, texts = codes_by_key(keys, lambda key: f"{key.real:g} −{key.imag:.0f}")
    assert [texts[code] for code in codes] == ["nan −3", "nan −5", "nan −3", "2 −3", "2 −3"]
    assert len(texts) == 3


def test_missing_data_costs_each_account_its_own_points_in_the_reasons() -> None:
    """Two accounts without a budget (counted as worst) lose it over different weights: each
    sentence says its own points."""
    budget = Measure(
        name="budget_status", weight=50, values=BUDGET.values, missing="worst", label=BUDGET.label
    )
    cases = Measure(name="open_cases", weight=50, bad=3, good=0)
    measures = (LOGIN_BANDS, budget, cases)
    config = HealthConfig(measures=measures, grades=CONFIG.grades, trend_threshold=5)
    rows = pd.DataFrame(
        {
            "account_id": ["a", "b"],
            "months_without_login": [0, 0],
            "budget_status": [None, None],
            "open_cases": [0, None],  # b: no case data, skipped (a counts 150, b 100)
            "prev_score": None,
            "prev_trend": None,
            "override_grade": None,
            "override_reason": None,
            "override_expiry": None,
        }
    )
    reasons = score_health(rows, config, AS_OF, "en")["reasons"].tolist()
    assert reasons[0].endswith("budget: no data −33 pts")
    assert reasons[1].endswith("budget: no data −50 pts")
