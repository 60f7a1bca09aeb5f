"""Safety brakes: a plan that regrades or re-phases too many accounts at once, or wants too many
new Tasks, is refused (exit 4) unless the admin passes --force.

A mistyped threshold should cost a look at `cs-sync plan`, not a morning of confused CSMs.
Only accounts that already had a value count as changed: the first fill after install is not
a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from cs_sync.config import BrakesConfig


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


def check_brakes(scored: pd.DataFrame, tasks_wanted: int, brakes: BrakesConfig) -> list[BrakeCheck]:
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
            tasks_wanted,
            None,
            brakes.max_new_tasks,
            tasks_wanted > brakes.max_new_tasks,
        )
    )
    return checks


def brake_message(checks: list[BrakeCheck]) -> str:
    fired = [c for c in checks if c.fired]
    lines = "; ".join(c.describe() for c in fired)
    return (
        f"safety brake: {lines}. Nothing was written. Check the plan with `cs-sync plan` "
        "(a changed threshold in [health], [phases] or [tasks]?); if the change is meant, "
        "run again with --force, or raise the limits in [brakes]"
    )
