"""Lifecycle phases: each row a situation a CS lead can check against the team's playbook."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_sync.rules.phases import PRESETS, PhaseSettings, assign_phases, build_phases, phase_order

NAN = np.nan
LIFECYCLE = build_phases(PRESETS["lifecycle"](PhaseSettings()))
STAGING = build_phases(PRESETS["staging"](PhaseSettings()))

# An account in its first month, nothing used yet.
BASE: dict[str, Any] = {
    "months_since_start": 1,
    "days_to_renewal": 330,
    "active_ratio": 0.1,
    "onboarded": False,
    "monthly_feature": 12.0,
    "feature_months_used": 0,
    "months_without_login": 0.0,
    "grade": "C",
    "champion": 0,
    "sentiment": "Neutral",
    "prev_phase": None,
}
ONBOARDED = {"onboarded": True, "active_ratio": 0.85}
SELF_RUNNING = {**ONBOARDED, "monthly_feature": 0.0, "feature_months_used": 8}


def phase_of(phases: tuple, **situation: Any) -> pd.Series:
    table = pd.DataFrame([{**BASE, **situation}], index=["001"])
    return assign_phases(table, phases).iloc[0]


@pytest.mark.parametrize(
    ("situation", "phase", "delayed"),
    [
        pytest.param({}, "Onboarding", False, id="first month, nothing set up yet"),
        pytest.param(
            {"months_since_start": 3}, "Onboarding", True, id="3 months in, not onboarded: late"
        ),
        pytest.param(
            {"months_since_start": 2, "active_ratio": 0.8, "onboarded": True},
            "Adoption",
            False,
            id="80% of seats active by month 2: onboarded (loose definition)",
        ),
        pytest.param(
            {"months_since_start": 10, **ONBOARDED, "active_ratio": 0.5},
            "Adoption",
            True,
            id="month 10, half the seats active: should be self-running by 9",
        ),
        pytest.param(
            {"months_since_start": 10, **SELF_RUNNING, "active_ratio": 0.7},
            "Self-running",
            False,
            id="month 10, 70% active, monthly feature used: self-running",
        ),
        pytest.param(
            {"months_since_start": 10, **SELF_RUNNING, "monthly_feature": 2.0},
            "Adoption",
            True,
            id="monthly feature skipped 2 months: not self-running",
        ),
        pytest.param(
            {"months_since_start": 14, **SELF_RUNNING, "grade": "A", "champion": 1},
            "Advocate",
            False,
            id="14 months, grade A with a champion: advocate",
        ),
        pytest.param(
            {"months_since_start": 14, **SELF_RUNNING, "grade": "A"},
            "Self-running",
            False,
            id="grade A but no champion: not yet an advocate",
        ),
        pytest.param(
            {
                "months_since_start": 14,
                **SELF_RUNNING,
                "grade": "A",
                "champion": 1,
                "days_to_renewal": 60,
            },
            "Renewal window",
            False,
            id="renewal in 60 days: the renewal window comes first",
        ),
        pytest.param(
            {
                "months_since_start": 14,
                **SELF_RUNNING,
                "days_to_renewal": 60,
                "months_without_login": 2.0,
            },
            "Dormant",
            False,
            id="no login for 2 months: dormant, even in the renewal window",
        ),
        pytest.param(
            {"months_since_start": 5, "days_to_renewal": 30, "months_without_login": 3.0},
            "Dormant",
            True,
            id="dormant and never onboarded: still late",
        ),
        pytest.param(
            {"months_since_start": 2, "days_to_renewal": -10},
            "Onboarding",
            False,
            id="renewal date passed: not in the window",
        ),
        pytest.param(
            {
                "months_since_start": 6,
                "active_ratio": NAN,
                "months_without_login": NAN,
                "monthly_feature": NAN,
                "grade": None,
                "champion": NAN,
            },
            "Onboarding",
            True,
            id="no usage data at all: the first step, late after month 3",
        ),
    ],
)
def test_lifecycle_preset(situation: dict[str, Any], phase: str, delayed: bool) -> None:
    result = phase_of(LIFECYCLE, **situation)
    assert (result["phase"], result["phase_delayed"]) == (phase, delayed)


@pytest.mark.parametrize(
    ("situation", "phase", "delayed"),
    [
        pytest.param({}, "Stage D", False, id="D: contracted, no survey yet"),
        pytest.param(
            {"months_since_start": 2}, "Stage D", True, id="D at month 2: first survey is late"
        ),
        pytest.param(
            {"months_since_start": 2, "feature_months_used": 1, "monthly_feature": 0.0},
            "Stage C",
            False,
            id="C: first survey done",
        ),
        pytest.param(
            {"months_since_start": 8, **SELF_RUNNING},
            "Stage B",
            False,
            id="B: running repeatedly, self-sufficient",
        ),
        pytest.param(
            {"months_since_start": 8, **SELF_RUNNING, "champion": 1, "sentiment": "Positive"},
            "Stage A",
            False,
            id="A: repeat user with a champion who speaks well of us",
        ),
        pytest.param(
            {"months_since_start": 8, "feature_months_used": 2, "monthly_feature": 0.0},
            "Stage C",
            True,
            id="C at month 8: should be running repeatedly by 6",
        ),
        pytest.param(
            {"months_since_start": 4, "monthly_feature": 12.0},
            "Stage E",
            True,
            id="E: no survey in the 4 months since contract",
        ),
        pytest.param(
            {"months_since_start": 9, **SELF_RUNNING, "monthly_feature": 3.0},
            "Stage E",
            False,
            id="E: no survey for 3 months since the last one",
        ),
        pytest.param(
            {"months_since_start": 9, **SELF_RUNNING, "months_without_login": 3.0},
            "Stage E",
            False,
            id="E: no login for 3 months",
        ),
    ],
)
def test_staging_preset(situation: dict[str, Any], phase: str, delayed: bool) -> None:
    result = phase_of(STAGING, **situation)
    assert (result["phase"], result["phase_delayed"]) == (phase, delayed)


@pytest.mark.parametrize(
    ("previous", "situation", "change"),
    [
        pytest.param("Adoption", {"months_since_start": 10, **SELF_RUNNING}, "up", id="up"),
        pytest.param(
            "Onboarding",
            {"months_since_start": 14, **SELF_RUNNING, "grade": "A", "champion": 1},
            "up",
            id="up two steps",
        ),
        pytest.param("Self-running", {"months_since_start": 10, **ONBOARDED}, "down", id="down"),
        pytest.param("Adoption", {"months_since_start": 4, **ONBOARDED}, None, id="same"),
        pytest.param(None, {"months_since_start": 4, **ONBOARDED}, None, id="first run"),
        pytest.param(
            "Adoption",
            {**ONBOARDED, "days_to_renewal": 30},
            None,
            id="into the renewal window: neither",
        ),
        pytest.param(
            "Renewal window",
            {"months_since_start": 10, **SELF_RUNNING},
            None,
            id="out of the renewal window: neither",
        ),
        pytest.param("Something else", {**ONBOARDED}, None, id="a value of an old config"),
    ],
)
def test_moves_since_the_value_on_the_record(
    previous: str | None, situation: dict[str, Any], change: str | None
) -> None:
    assert phase_of(LIFECYCLE, prev_phase=previous, **situation)["phase_change"] == change


def test_order_for_the_dashboard_and_the_picklist() -> None:
    assert phase_order(LIFECYCLE) == [
        "Onboarding",
        "Adoption",
        "Self-running",
        "Advocate",
        "Dormant",
        "Renewal window",
    ]
    assert phase_order(STAGING) == ["Stage D", "Stage C", "Stage B", "Stage A", "Stage E"]


def test_settings_move_the_thresholds() -> None:
    strict = build_phases(
        PRESETS["lifecycle"](PhaseSettings(onboarding_window_months=6, renewal_window_days=120))
    )
    assert phase_of(strict, months_since_start=4)["phase_delayed"] == False  # noqa: E712
    assert phase_of(strict, days_to_renewal=100)["phase"] == "Renewal window"
    assert phase_of(LIFECYCLE, days_to_renewal=100)["phase"] == "Onboarding"


maybe = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=32))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "months_since_start": maybe,
                "days_to_renewal": maybe,
                "active_ratio": maybe,
                "onboarded": st.booleans(),
                "monthly_feature": maybe,
                "feature_months_used": maybe,
                "months_without_login": maybe,
                "grade": st.sampled_from([None, "A", "B", "C", "D"]),
                "champion": maybe,
                "sentiment": st.sampled_from([None, "", "Positive", "Negative"]),
                "prev_phase": st.sampled_from([None, "", "Adoption", "Dormant", "Stage B"]),
            }
        ),
        min_size=1,
        max_size=20,
    )
)
def test_every_account_gets_one_known_phase_whatever_is_missing(rows: list[dict]) -> None:
    table = pd.DataFrame(rows)
    for phases in (LIFECYCLE, STAGING):
        result = assign_phases(table, phases)
        assert result["phase"].isin(phase_order(phases)).all()
        assert result["phase_delayed"].dtype == bool
        assert assign_phases(table, phases).equals(result)  # same input, same output


def test_the_schedule_can_count_from_go_live() -> None:
    """Persol starts the clock at go-live: an account live for two months, signed a year ago,
    is on schedule by its go-live clock and behind by its contract's; with no go-live date
    yet (or one ahead), nothing is expected."""
    table = pd.DataFrame(
        [
            {**BASE, "months_since_start": 12, "go_live_months": 2},
            {**BASE, "months_since_start": 12, "go_live_months": NAN},
            {**BASE, "months_since_start": 12, "go_live_months": -1},
        ],
        index=["a", "b", "c"],
    )
    by_contract = assign_phases(table, LIFECYCLE)
    by_go_live = assign_phases(table, LIFECYCLE, clock="go_live_months")
    assert by_contract["phase_delayed"].tolist() == [True, True, True]
    assert by_go_live["phase_delayed"].tolist() == [False, False, False]
    assert by_go_live.loc["a", "phase"] == "Onboarding"
