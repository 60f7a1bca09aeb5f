"""Safety brakes: counted against values that existed, with a floor, and a task cap."""

from __future__ import annotations

import pandas as pd

from cs_sync.brakes import BrakeCheck, brake_message, brake_streak, brake_summary, check_brakes
from cs_sync.config import BrakesConfig


def table(prev: list[str | None], now: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"grade": now, "prev_grade": prev, "phase": ["Adoption"] * len(now), "prev_phase": None}
    )


def by_name(checks: list) -> dict:
    return {c.name: c for c in checks}


def test_a_first_fill_is_not_a_change() -> None:
    checks = by_name(check_brakes(table([None] * 50, ["A"] * 50), 0, BrakesConfig()))
    assert checks["grade_changes"].changed == 0 and not checks["grade_changes"].fired
    assert checks["phase_changes"].of == 0 and not checks["phase_changes"].fired


def test_fires_above_the_share_and_the_floor() -> None:
    brakes = BrakesConfig(max_grade_change_share=0.2, min_accounts=10)
    # 11 of 50 changed (22 %) with an empty prev counted as no value
    frame = table(["B"] * 11 + ["A"] * 38 + [""], ["A"] * 50)
    check = by_name(check_brakes(frame, 0, brakes))["grade_changes"]
    assert (check.changed, check.of, check.fired) == (11, 49, True)
    assert "11 of 49 accounts (22%; limit 20%)" in brake_message([check])
    # 10 of 50 is 20 %: not over
    frame = table(["B"] * 10 + ["A"] * 40, ["A"] * 50)
    assert not by_name(check_brakes(frame, 0, brakes))["grade_changes"].fired


def test_a_small_book_needs_the_floor() -> None:
    brakes = BrakesConfig(max_grade_change_share=0.2, min_accounts=10)
    frame = table(["B"] * 5 + ["A"] * 5, ["A"] * 10)  # half of a tiny book
    assert not by_name(check_brakes(frame, 0, brakes))["grade_changes"].fired


def test_new_task_cap() -> None:
    brakes = BrakesConfig(max_new_tasks=100)
    assert not by_name(check_brakes(table([], []), 100, brakes))["new_tasks"].fired
    fired = by_name(check_brakes(table([], []), 101, brakes))["new_tasks"]
    assert fired.fired and "--force" in brake_message([fired])


def runs(*details: str) -> pd.DataFrame:
    """Run records, the latest first, each with its detail line."""
    stamps = pd.date_range("2026-11-24 07:00", periods=len(details), freq="-1D")
    return pd.DataFrame(
        {"kind": "run", "finished_at": stamps, "detail": list(details), "status": "failed"}
    )


STOPPED = brake_message([BrakeCheck("grade_changes", 40, 100, 0.25, True)])


def test_a_streak_of_runs_stopped_by_a_brake_is_counted() -> None:
    assert brake_streak(runs()) == (0, "")
    assert brake_streak(runs("", STOPPED))[0] == 0  # the latest run got through
    stopped, detail = brake_streak(runs(STOPPED, STOPPED, "", STOPPED))
    assert stopped == 2 and brake_summary(detail) == (
        "grade_changes: 40 of 100 accounts (40%; limit 25%) over the limit"
    )
