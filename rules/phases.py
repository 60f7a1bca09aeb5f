"""Lifecycle phase, whether it is behind schedule, and the move since the last run.

Phases are an ordered list. *Steps* form the ladder an account climbs (Onboarding → Adoption →
Self-running → Advocate); *overlays* (Renewal window, Dormant) have no step and take precedence
while their condition holds. The phase is the first overlay whose condition is met, else the
highest step whose condition is met (the lowest step is the fallback).

A step may say by which month since contract start (or since another date: `clock_start`,
e.g. the go-live date) an account should have reached it (`expected_by_month`); an account
below the step expected for its age is `phase_delayed`.
Moving between steps since the value on the record is an "up" or a "down" (the monthly
"phase-ups" KPI); entering or leaving an overlay is neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pandas as pd

from cs_sync.rules.expressions import Columns, Expression, compile_expression
from cs_sync.settings import Between, Settings

# Columns assign_phases adds, which later rules (renewal axes, task triggers) can name.
PHASE_COLUMNS = ("phase", "phase_step", "expected_step", "phase_delayed", "phase_change")


@dataclass(frozen=True)
class Phase:
    name: str
    when: Expression
    step: int | None = None  # None: an overlay
    expected_by_month: int | None = None


class PhaseSettings(Settings):
    """The numbers the presets are written with; shown in config.example.toml."""

    onboarding_active_ratio: Annotated[float, Between(0.05, 1)] = 0.8
    """Onboarding is done (the loose definition) the first month this share of seats is
    active."""
    onboarding_window_months: Annotated[int, Between(1, 36)] = 3
    """Onboarding is expected within this many months of contract start, else delayed."""
    renewal_window_days: Annotated[int, Between(1, 366)] = 90
    """Days before the renewal date that count as the renewal window."""
    dormant_after_months: Annotated[int, Between(1, 12)] = 2
    """Months in a row without any login that make an account dormant."""
    self_running_by_month: Annotated[int, Between(1, 120)] = 9
    """Month by which an account should be self-running (lifecycle); later is delayed."""
    advocate_min_months: Annotated[int, Between(0, 120)] = 12
    """Months since contract start before an account can count as an advocate."""
    clock_start: str = "contract_start"
    """The date the schedule counts from (expected_by_month): the contract start, or a date
    column of your own such as the go-live date (a [salesforce.fields] key, e.g.
    go_live = "GoLive__c"); before that date, or without it, nothing is behind schedule."""


def lifecycle_preset(s: PhaseSettings) -> list[tuple[str, str, int | None, int | None]]:
    """(name, condition, step, expected by month), overlays first."""
    self_running = (
        "onboarded and active_ratio >= 0.6 and monthly_feature <= 1 and months_since_start >= 6"
    )
    return [
        ("Dormant", f"months_without_login >= {s.dormant_after_months}", None, None),
        ("Renewal window", f"0 <= days_to_renewal <= {s.renewal_window_days}", None, None),
        (
            "Advocate",
            f'{self_running} and grade == "A" and champion > 0 '
            f"and months_since_start >= {s.advocate_min_months}",
            4,
            None,
        ),
        ("Self-running", self_running, 3, s.self_running_by_month),
        ("Adoption", "onboarded", 2, s.onboarding_window_months),
        ("Onboarding", "true", 1, None),
    ]


def staging_preset(s: PhaseSettings) -> list[tuple[str, str, int | None, int | None]]:
    """The A–E staging of a survey-tool team, with the monthly key feature as "the survey":
    A repeat user willing to be a case study, B repeat and self-sufficient, C first use done,
    D contracted with no use yet, E no use or no login for N months."""
    n = s.dormant_after_months + 1
    repeat = "feature_months_used >= 3 and onboarded"
    return [
        (
            "Stage E",
            f"months_without_login >= {n} "
            f"or (monthly_feature >= {n} and months_since_start >= {n})",
            None,
            None,
        ),
        ("Stage A", f'{repeat} and champion > 0 and sentiment == "Positive"', 4, None),
        ("Stage B", repeat, 3, 6),
        ("Stage C", "feature_months_used >= 1", 2, 2),
        ("Stage D", "true", 1, None),
    ]


PRESETS = {"lifecycle": lifecycle_preset, "staging": staging_preset}


def build_phases(
    rows: list[tuple[str, str, int | None, int | None]], label: str = "phases"
) -> tuple[Phase, ...]:
    """Compile each condition (raises ExpressionError naming `label.<name>.when`)."""
    return tuple(
        Phase(name, compile_expression(f"{label}.{name}.when", when), step, expected)
        for name, when, step, expected in rows
    )


def assign_phases(
    table: pd.DataFrame, phases: tuple[Phase, ...], clock: str = "months_since_start"
) -> pd.DataFrame:
    """Columns phase, phase_step, expected_step, phase_delayed, phase_change, for every row.

    Needs the columns the conditions use, prev_phase and `clock`: the months the schedule
    counts (since contract start, or since the go-live date)."""
    out = pd.DataFrame(index=table.index)
    ladder = sorted((p for p in phases if p.step is not None), key=lambda p: -p.step)  # type: ignore[operator]
    overlays = [p for p in phases if p.step is None]

    step = pd.Series(np.nan, index=table.index)
    ladder_name = pd.Series(None, index=table.index, dtype=object)
    columns = Columns(table)
    for phase in ladder:  # highest first: the first met wins
        open_rows = step.isna() & phase.when.condition(columns)
        step[open_rows] = phase.step
        ladder_name[open_rows] = phase.name
    lowest = ladder[-1]
    ladder_name = ladder_name.fillna(lowest.name)
    step = step.fillna(lowest.step)

    name = ladder_name.copy()
    taken = pd.Series(False, index=table.index)
    for phase in reversed(overlays):  # the first overlay listed wins: assign it last
        met = phase.when.condition(columns)
        name[met] = phase.name
        taken |= met

    months = pd.to_numeric(table[clock], errors="coerce")
    months = months.where(months >= 0)  # before the clock starts, nothing is expected
    expected = pd.Series(np.nan, index=table.index)
    for phase in sorted(ladder, key=lambda p: p.step):  # type: ignore[arg-type, return-value]
        if phase.expected_by_month is not None:
            expected[months >= phase.expected_by_month] = phase.step

    steps = {p.name: p.step for p in ladder}
    previous = table["prev_phase"].map(steps) if "prev_phase" in table else np.nan
    previous = pd.to_numeric(pd.Series(previous, index=table.index), errors="coerce")
    current = step.where(~taken)
    change = np.where(
        current > previous, "up", np.where(current < previous, "down", np.array(None))
    )

    out["phase"] = name
    out["phase_step"] = step.astype(int)
    out["expected_step"] = expected
    out["phase_delayed"] = (expected.notna() & (step < expected)).astype(bool)
    out["phase_change"] = pd.Series(change, index=table.index, dtype=object)
    return out


def phase_order(phases: tuple[Phase, ...]) -> list[str]:
    """Phase names as the dashboard lists them: the ladder bottom-up, then the overlays."""
    ladder = sorted((p for p in phases if p.step is not None), key=lambda p: p.step)  # type: ignore[arg-type, return-value]
    return [p.name for p in ladder] + [p.name for p in phases if p.step is None]
