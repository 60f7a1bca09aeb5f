"""Safety brakes: a plan that regrades or re-phases too many accounts at once, or would create
too many new Tasks in this run, is refused (exit 4) unless the admin passes --force.

A mistyped threshold should cost a look at `cs-sync plan`, not a morning of confused CSMs.
Only accounts that already had a value count as changed: the first fill after install is not
a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from cs_sync.config import BrakesConfig

# How a run stopped by a brake begins its message (and so its history record's detail).
BRAKE_PREFIX = "safety brake:"


@dataclass(frozen=True)
class BrakeCheck:
    name: str  # grade_changes | phase_changes | new_tasks
    changed: int
    of: int | None  # the accounts that could change (None for a count brake)
    limit: float  # a share (0..1) or a count
    fired: bool

    def describe(self) -> str:
        if self.of is None:
            state = "over the limit" if self.fired else "ok"
            return f"{self.name}: {self.changed} (limit {int(self.limit)}) {state}"
        share = self.changed / self.of if self.of else 0.0
        state = "over the limit" if self.fired else "ok"
        return (
            f"{self.name}: {self.changed} of {self.of} accounts ({share:.0%}; limit "
            f"{self.limit:.0%}) {state}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "changed": self.changed,
            "of": self.of,
            "limit": self.limit,
            "fired": self.fired,
        }


def _changed(scored: pd.DataFrame, column: str) -> tuple[int, int]:
    previous = scored[f"prev_{column}"]
    had = previous.notna() & (previous.astype(object) != "")
    now = scored[column].astype(object)
    changed = had & (now.where(now.notna(), None) != previous.astype(object))
    return int(changed.sum()), int(had.sum())


def check_brakes(
    scored: pd.DataFrame, tasks_to_create: int, brakes: BrakesConfig
) -> list[BrakeCheck]:
    """Each brake on what this run would write: grades and phases changed, and the Tasks it
    would create (after tasks.max_per_run and max_per_owner; what the caps hold back comes in
    later runs and is no reason to stop this one)."""
    checks = []
    for name, column, limit in (
        ("grade_changes", "grade", brakes.max_grade_change_share),
        ("phase_changes", "phase", brakes.max_phase_change_share),
    ):
        changed, had = _changed(scored, column)
        fired = changed >= max(brakes.min_accounts, 1) and changed > limit * had
        checks.append(BrakeCheck(name, changed, had, limit, fired))
    checks.append(
        BrakeCheck(
            "new_tasks",
            tasks_to_create,
            None,
            brakes.max_new_tasks,
            tasks_to_create > brakes.max_new_tasks,
        )
    )
    return checks


def brake_message(checks: list[BrakeCheck]) -> str:
    fired = [c for c in checks if c.fired]
    lines = "; ".join(c.describe() for c in fired)
    return (
        f"{BRAKE_PREFIX} {lines}. Nothing was written. Check the plan with `cs-sync plan` "
        "(a changed threshold in [health], [phases] or [tasks]?); if the change is meant, "
        "run again with --force, or raise the limits in [brakes]"
    )


def brake_streak(runs: pd.DataFrame) -> tuple[int, str]:
    """How many of the latest runs in a row a brake stopped, and the latest one's detail; a
    scheduled run stopped every time writes nothing until someone looks."""
    if runs.empty:
        return 0, ""
    latest = runs[runs["kind"] == "run"].sort_values("finished_at", ascending=False)
    stopped = 0
    for detail in latest["detail"].fillna(""):
        if not str(detail).startswith(BRAKE_PREFIX):
            break
        stopped += 1
    return stopped, str(latest["detail"].iloc[0]) if stopped else ""


def brake_summary(detail: str) -> str:
    """The brakes a stopped run names, without the advice around them."""
    return detail.removeprefix(BRAKE_PREFIX).split(". Nothing was written")[0].strip()
