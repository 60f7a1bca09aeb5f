"""Properties of the health score that must hold for any input (hypothesis)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_sync.rules.health import DEFAULT_MEASURES, HealthConfig, score_health

AS_OF = date(2026, 11, 24)
CONFIG = HealthConfig(
    measures=DEFAULT_MEASURES,
    grades=(("A", 80.0), ("B", 60.0), ("C", 40.0), ("D", 0.0)),
    trend_threshold=5,
)
ORDER = {"A": 0, "B": 1, "C": 2, "D": 3}

values = st.one_of(
    st.none(), st.just(np.nan), st.floats(-10, 1000, allow_nan=False), st.integers(-5, 100)
)
rows = st.fixed_dictionaries(
    {
        "active_ratio": values,
        "login_trend": values,
        "monthly_feature": values,
        "seasonal_dropped": st.one_of(st.none(), st.sampled_from([0.0, 1.0])),
        "prev_score": st.one_of(st.none(), st.floats(0, 100)),
        "prev_trend": st.sampled_from([None, "", "Up", "Flat", "Down", "New"]),
        "override_grade": st.sampled_from([None, "", "A", "D"]),
        "override_expiry": st.sampled_from([None, "2026-11-23", "2026-11-24", "2027-01-01"]),
    }
)


def score(batch: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [{**row, "account_id": f"a{i}", "override_reason": "r"} for i, row in enumerate(batch)]
    )
    return score_health(frame, CONFIG, AS_OF, "en")


@settings(max_examples=60, deadline=None)
@given(st.lists(rows, min_size=1, max_size=20))
def test_score_is_within_range_and_never_raises(batch: list[dict]) -> None:
    scored = score(batch)
    present = scored["score"].dropna()
    assert ((present >= 0) & (present <= 100)).all()
    assert scored["coverage"].between(0, 1).all()
    assert scored["reasons"].map(lambda r: isinstance(r, str) and len(r) <= 1000).all()
    no_data = scored["score"].isna()
    assert scored.loc[no_data, "computed_grade"].isna().all()


@settings(max_examples=60, deadline=None)
@given(st.lists(rows, min_size=2, max_size=20))
def test_grade_is_monotonic_in_score(batch: list[dict]) -> None:
    scored = score(batch).dropna(subset=["score"]).sort_values("score")
    ranks = scored["computed_grade"].map(ORDER).tolist()
    assert ranks == sorted(ranks, reverse=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(rows, min_size=1, max_size=10))
def test_same_input_same_output(batch: list[dict]) -> None:
    pd.testing.assert_frame_equal(score(batch), score(batch))
