"""What a run did: its status, counts, problems and the plan's figures, as `--json` prints
them; the same for a backfill's write of today's values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cs_sync.apply import Written
from cs_sync.config import Config
from cs_sync.errors import EXIT_OK
from cs_sync.plan import Plan, Problem
from cs_sync.rules.phases import phase_order

# Problems that leave the run's status ok: they are reported, not failures.
WARNING_KINDS = {
    "usage_unknown_account",
    "task_cap",
    "usage_stale",
    "usage_blank",
    "dashboard_partial",
    "sponsors_unknown",
    "alert_unconfirmed",
    "alert_dropped",
    "field_history",
}


@dataclass(kw_only=True)
class RunResult(Written):
    """What a run did, as `cs-sync run --json` prints it and the history records it."""

    status: str  # ok | partial | failed | interrupted
    as_of: date
    dry_run: bool
    accounts_read: int = 0
    warnings: list[Problem] = field(default_factory=list)
    salesforce_api_calls: int = 0
    sheets_api_calls: int = 0
    salesforce_bytes: int = 0  # request and response bodies moved
    sheets_bytes: int = 0
    duration_s: float = 0.0
    grade_counts: dict[str, int] = field(default_factory=dict)
    phase_counts: dict[str, int] = field(default_factory=dict)  # in the configured order
    phases_delayed: int = 0
    phase_moves: dict[str, int] = field(default_factory=dict)  # up / down since last run
    strategy_counts: dict[str, int] = field(default_factory=dict)  # renewals in the window
    dashboard: str | None = None
    history: str | None = None  # the store the run's snapshot went to
    run_id: str = ""
    plan: Plan | None = None
    api_usage: str | None = None
    exit_code: int = EXIT_OK
    # what became of the alerts this run delivered: sent, summarised (counted in a webhook
    # message's last line), held_back (left for the next run), unconfirmed, failed, dropped
    alerts: dict[str, int] = field(default_factory=dict)
    webhook_calls: int = 0
    # how the book was read: whole (and why) or by its changes since the last run (per
    # object: changed, removed, read again for a parent's change); None: no local copy
    read: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "accounts_read": self.accounts_read,
            "accounts_changed": self.accounts_changed,
            "fields_written": self.fields_written,
            "tasks_created": self.tasks_created,
            "tasks_closed": self.tasks_closed,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
            "salesforce_api_calls": self.salesforce_api_calls,
            "sheets_api_calls": self.sheets_api_calls,
            "salesforce_bytes": self.salesforce_bytes,
            "sheets_bytes": self.sheets_bytes,
            "webhook_calls": self.webhook_calls,
            "alerts": self.alerts,
            "alerts_planned": len(self.plan.alerts) if self.plan else 0,
            "duration_s": round(self.duration_s, 2),
            "grade_counts": self.grade_counts,
            "phase_counts": self.phase_counts,
            "phases_delayed": self.phases_delayed,
            "phase_moves": self.phase_moves,
            "strategy_counts": self.strategy_counts,
            "fields_planned": self.plan.fields_to_write if self.plan else 0,
            "tasks_planned": len(self.plan.tasks) if self.plan else 0,
            "tasks_to_close_planned": len(self.plan.closes) if self.plan else 0,
            # wanted but kept for later runs by tasks.max_per_run / max_per_owner
            "tasks_held_back": self.plan.tasks_wanted - len(self.plan.tasks) if self.plan else 0,
            "dashboard": self.dashboard,
            "history": self.history,
            "run_id": self.run_id,
            "brakes": [check.as_dict() for check in self.plan.brakes] if self.plan else [],
            "salesforce_api_usage": self.api_usage,
            "read": self.read,
        }


def summarise(plan: Plan, config: Config, result: RunResult) -> None:
    """The plan's problems sorted into errors and warnings, and its counts by grade, phase and
    strategy."""
    for problem in plan.problems:
        target = result.warnings if problem.kind in WARNING_KINDS else result.errors
        target.append(problem)
    result.grade_counts = {
        str(k): int(v)
        for k, v in plan.scored["grade"].fillna("none").value_counts().sort_index().items()
    }
    phases = plan.scored["phase"]
    result.phase_counts = {
        name: int((phases == name).sum()) for name in phase_order(config.phases.phases)
    }
    result.phases_delayed = int(plan.scored["phase_delayed"].sum())
    moves = plan.scored["phase_change"]
    result.phase_moves = {"up": int((moves == "up").sum()), "down": int((moves == "down").sum())}
    strategies = plan.scored["renewal_strategy"]
    result.strategy_counts = {
        s.name: int((strategies == s.name).sum()) for s in config.renewal.strategies
    }
