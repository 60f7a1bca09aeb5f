"""The plan: what a run would write where, as a value. `plan` prints it; `run` applies it.

Diffs are taken against the values read from Salesforce in the same run, so only fields whose
value really changes are sent, and a rerun on the same data plans nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from cs_sync.connectors.settings import SalesforceFields
from cs_sync.revenue import Timeline


@dataclass(frozen=True, slots=True)  # a first run makes one per account and field written
class FieldChange:
    account_id: str
    account_name: str
    field: str
    old: Any
    new: Any


@dataclass
class Problem:
    kind: str
    record: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "record": self.record, "message": self.message}


@dataclass
class Plan:
    as_of: date
    scored: pd.DataFrame
    updates: dict[str, dict[str, Any]]
    changes: list[FieldChange]  # by account, then field
    tasks: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    closes: pd.DataFrame = field(default_factory=pd.DataFrame)  # open Tasks to close
    existing_tasks: pd.DataFrame = field(default_factory=pd.DataFrame)  # as read this run
    tasks_wanted: int = 0  # new tasks the rules want, before tasks.max_per_run / max_per_owner
    brakes: list[Any] = field(default_factory=list)  # cs_sync.brakes.BrakeCheck, when checked
    sponsors: pd.DataFrame | None = None  # who holds the sponsor roles now (for the history)
    timeline: Timeline | None = None  # each account's ARR over time (the revenue KPIs)
    playbooks: pd.DataFrame = field(default_factory=pd.DataFrame)  # running instances
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)  # the outbox (cs_sync.alerts)

    @property
    def fields_to_write(self) -> int:
        return sum(len(values) for values in self.updates.values())


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def same_value(old: Any, new: Any) -> bool:
    if _blank(old) and _blank(new):
        return True
    if _blank(old) or _blank(new):
        return False
    if isinstance(new, float) or isinstance(old, float):
        try:
            return abs(float(old) - float(new)) < 0.05
        except (TypeError, ValueError):
            return False
    return bool(old == new)


def _clean(value: Any) -> Any:
    if _blank(value) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        return pd.Timestamp(value).date().isoformat()  # Salesforce Date fields read back so
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars become plain Python values for JSON
        return value.item()
    return value


def _stored(value: Any, scale: int | None) -> Any:
    """A number as a field of `scale` decimal places keeps it (half away from zero, as
    Salesforce rounds); anything else as it is."""
    if scale is None or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    return int(rounded) if scale == 0 else float(rounded)


def _surely_same(new: pd.Series, old: pd.Series, scale: int | None) -> np.ndarray:
    """The rows whose old and new values are the same without a closer look, compared a
    column at a time: both missing, or equal as they are (a date as the text it is sent as;
    a number for a field with a scale only when it is already at that scale). Every other row
    is compared by same_value, value by value."""
    if pd.api.types.is_datetime64_any_dtype(new):
        new = new.dt.strftime("%Y-%m-%d")  # as _clean sends a date; a missing one stays so
    a, b = new.to_numpy(dtype=object), old.to_numpy(dtype=object)
    missing_a, missing_b = pd.isna(a), pd.isna(b)
    present = ~missing_a & ~missing_b
    same = np.zeros(len(a), dtype=bool)
    same[present] = a[present] == b[present]
    if (
        scale is not None
        and pd.api.types.is_numeric_dtype(new)
        and not pd.api.types.is_bool_dtype(new)
    ):
        values = new.to_numpy(dtype=float)
        same &= np.round(values, scale) == values
    return same | (missing_a & missing_b)


def build_plan(
    scored: pd.DataFrame,
    tasks: pd.DataFrame,
    fields: SalesforceFields,
    as_of: date,
    scales: dict[str, int] | None = None,
) -> Plan:
    """Field changes per account against the values read in the same run, and the Tasks the
    rules create (already checked against existing ones: see rules.tasks.new_tasks). A number
    is compared and sent as the org will store it: rounded to its field's scale (`scales`, by
    API name, from describe), so a score mapped to a whole-number field is not rewritten by
    every run."""
    outputs = {
        fields.score: "score",
        fields.grade: "grade",
        fields.trend: "trend",
        fields.reasons: "reasons",
        fields.phase: "phase",
        fields.phase_delayed: "phase_delayed",
        fields.renewal_strategy: "renewal_strategy",
        fields.next_action: "next_action",
        fields.next_action_date: "next_action_date",
    }
    found: list[FieldChange] = []  # a field at a time
    rows: list[int] = []  # each change's row (its field's place follows from the order)
    places: list[int] = []
    ids, names = scored["account_id"].to_numpy(), scored["name"].to_numpy()
    for place, (api_name, column) in enumerate(outputs.items()):
        scale = (scales or {}).get(api_name)
        new_values, old_values = scored[column], scored[f"prev_{column}"]
        for row in np.flatnonzero(~_surely_same(new_values, old_values, scale)).tolist():
            new = _stored(_clean(new_values.iat[row]), scale)
            old = _clean(old_values.iat[row])
            if not same_value(old, new):
                found.append(FieldChange(ids[row], names[row], api_name, old, new))
                rows.append(row)
                places.append(place)
    # by account, then field, as the plan is read (no tuple a change: a first run makes
    # about a million changes at 100,000 accounts)
    order = np.lexsort((np.array(places, dtype=np.int32), np.array(rows, dtype=np.int64)))
    changes = [found[at] for at in order.tolist()]
    updates: dict[str, dict[str, Any]] = {}
    for change in changes:
        updates.setdefault(change.account_id, {})[change.field] = change.new
    return Plan(
        as_of=as_of,
        scored=scored,
        updates=updates,
        changes=changes,
        tasks=tasks.reset_index(drop=True),
    )


def describe_plan(plan: Plan, limit: int = 20) -> str:
    """A readable diff: field changes and the tasks to create."""
    lines = [
        f"Plan for {plan.as_of.isoformat()}: {len(plan.updates)} account(s), "
        f"{plan.fields_to_write} field(s) to write, {len(plan.tasks)} task(s) to create, "
        f"{len(plan.closes)} to close, {len(plan.alerts)} alert(s) to send"
    ]
    for change in plan.changes[:limit]:
        lines.append(
            f"  ~ {change.account_name} [{change.account_id}] {change.field}: "
            f"{_show(change.old)} -> {_show(change.new)}"
        )
    if len(plan.changes) > limit:
        lines.append(f"  ... and {len(plan.changes) - limit} more field change(s)")
    for task in plan.tasks.head(limit).itertuples(index=False):
        lines.append(f"  + Task {task.key} for {task.account_name}, due {task.due_date}")
    if len(plan.tasks) > limit:
        lines.append(f"  ... and {len(plan.tasks) - limit} more task(s)")
    for close in plan.closes.head(limit).itertuples(index=False):
        lines.append(f"  - Task {close.key} for {close.account_name}: condition cleared, close")
    for alert in plan.alerts.head(limit).itertuples(index=False):
        lines.append(f"  > Alert to {alert.channel}: {alert.title}")
    if len(plan.alerts) > limit:
        lines.append(f"  ... and {len(plan.alerts) - limit} more alert(s)")
    for problem in plan.problems:
        lines.append(f"  ! {problem.kind} {problem.record}: {problem.message}")
    lines.append(
        f"History and dashboard: {len(plan.scored)} account row(s) and the KPI rows of "
        f"{plan.as_of.isoformat()} (replacing that date's, if any)"
    )
    if plan.brakes:
        lines.append("Brakes (run refuses to apply when one is over its limit, unless --force):")
        lines.extend(f"  {'!' if check.fired else ' '} {check.describe()}" for check in plan.brakes)
    return "\n".join(lines)


def plan_json(plan: Plan) -> dict[str, Any]:
    """The whole plan as JSON-ready values: every field change, task to create and to close."""
    return {
        "as_of": plan.as_of.isoformat(),
        "field_changes": [
            {"account_id": c.account_id, "field": c.field, "old": c.old, "new": c.new}
            for c in plan.changes
        ],
        "tasks_to_create": [
            {
                "key": t.key,
                "account_id": t.account_id,
                "owner_id": t.owner_id,
                "subject": t.subject,
                "due_date": _clean(t.due_date),
                "priority": t.priority,
            }
            for t in plan.tasks.itertuples(index=False)
        ],
        "tasks_to_close": [
            {"task_id": c.task_id, "key": c.key, "account_id": c.account_id}
            for c in plan.closes.itertuples(index=False)
        ],
        "alerts": [
            {
                "key": a.key,
                "event": a.event,
                "account_id": a.account_id or None,
                "channel": a.channel,
                "title": a.title,
                "text": a.text,
                "queued_earlier": not bool(a.new),
            }
            for a in plan.alerts.itertuples(index=False)
        ],
        "history_rows": len(plan.scored),
        "brakes": [check.as_dict() for check in plan.brakes],
    }


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
