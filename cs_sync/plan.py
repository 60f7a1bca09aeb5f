"""The plan: what a run would write where, as a value. `plan` prints it; `run` applies it.

Diffs are taken against the values read from Salesforce in the same run, so only fields whose
value really changes are sent, and a rerun on the same data plans nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, overload

import numpy as np
import pandas as pd

from cs_sync.connectors.settings import SalesforceFields
from cs_sync.revenue import Timeline


@dataclass(frozen=True, slots=True)  # made as a plan's changes are read (Changes)
class FieldChange:
    account_id: str
    account_name: str
    field: str
    old: Any
    new: Any


def _by_row(column: pd.Series) -> Callable[[int], Any]:
    """A column's value at a row: a column of dates through its Series (pd.NaT where
    missing, which _clean knows), every other column through its array."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.iat.__getitem__
    return column.to_numpy().__getitem__


class _Output:
    """One field the plan writes, and the record's values of it (a FieldChange's `old`)."""

    def __init__(self, api_name: str, old: pd.Series) -> None:
        self.api_name, self._old = api_name, _by_row(old)

    def was(self, row: int) -> Any:
        """The value on the record, as read."""
        return _clean(self._old(row))


class Changes(Sequence[FieldChange]):
    """A plan's field changes, by account then field, as arrays: each one's row in the scored
    table, its field and the value to send (worked out once, as the plan compares it); a
    FieldChange, with the value on the record, is made when one is read. A first run at
    100,000 accounts plans some 780,000 changes: as objects, with a dict of values for each
    account beside them, they were held from the rules stage to the run's end."""

    def __init__(
        self,
        ids: np.ndarray,
        names: np.ndarray,
        outputs: list[_Output],
        rows: np.ndarray,
        places: np.ndarray,
        values: np.ndarray,
    ) -> None:
        self.ids, self.names, self.outputs = ids, names, outputs
        self.rows, self.places, self.values = rows, places, values

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, at: int) -> FieldChange: ...

    @overload
    def __getitem__(self, at: slice) -> list[FieldChange]: ...

    def __getitem__(self, at: int | slice) -> FieldChange | list[FieldChange]:
        if isinstance(at, slice):
            return [self[k] for k in range(*at.indices(len(self)))]
        if not -len(self) <= at < len(self):
            raise IndexError(f"change {at} of {len(self)}")
        row, output = int(self.rows[at]), self.outputs[self.places[at]]
        return FieldChange(
            self.ids[row], self.names[row], output.api_name, output.was(row), self.values[at]
        )

    def sent(self, start: int, stop: int) -> dict[str, Any]:
        """The fields and values to send of changes `start` to `stop` (an account's)."""
        names = [self.outputs[place].api_name for place in self.places[start:stop].tolist()]
        return dict(zip(names, self.values[start:stop].tolist(), strict=True))


class AccountUpdates(Mapping[str, dict[str, Any]]):
    """What a plan writes to each account (id -> {field: value}), in the changes' order, each
    account's dict made when it is read; `part` gives a run of accounts the same way (a
    write step)."""

    def __init__(
        self, changes: Changes, starts: np.ndarray | None = None, stops: np.ndarray | None = None
    ) -> None:
        self.changes = changes
        if starts is None or stops is None:  # each account's changes are next to each other
            rows = changes.rows
            starts = np.flatnonzero(np.diff(rows, prepend=-1) != 0)
            stops = np.append(starts[1:], len(rows)) if len(starts) else starts
        self.starts, self.stops = starts, stops
        self._at: dict[str, int] | None = None  # account id -> its place, made when asked

    def __len__(self) -> int:
        return len(self.starts)

    def __iter__(self) -> Iterator[str]:
        ids, rows = self.changes.ids, self.changes.rows
        return (ids[rows[start]] for start in self.starts.tolist())

    def __getitem__(self, account_id: str) -> dict[str, Any]:
        if self._at is None:
            self._at = {account: at for at, account in enumerate(self)}
        at = self._at[account_id]
        return self.changes.sent(int(self.starts[at]), int(self.stops[at]))

    def part(self, start: int, stop: int) -> AccountUpdates:
        """The accounts from `start` to `stop` (by place)."""
        return AccountUpdates(self.changes, self.starts[start:stop], self.stops[start:stop])


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
    updates: AccountUpdates  # each account's fields to write, made as they are read
    changes: Changes  # by account, then field
    tasks: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    closes: pd.DataFrame = field(default_factory=pd.DataFrame)  # open Tasks to close
    existing_tasks: pd.DataFrame = field(default_factory=pd.DataFrame)  # as read this run
    tasks_wanted: int = 0  # new tasks the rules want, before tasks.max_per_run / max_per_owner
    brakes: list[Any] = field(default_factory=list)  # cs_sync.brakes.BrakeCheck, when checked
    sponsors: pd.DataFrame | None = None  # who holds the sponsor roles now (for the history)
    timeline: Timeline | None = None  # each account's ARR over time (the revenue KPIs)
    # how `timeline` is made when it is first asked for (revenue_timeline), holding only the
    # columns it reads: a run's plan leaves it to the dashboards (see score.compute_plan)
    timeline_maker: Callable[[], Timeline] | None = field(default=None, repr=False)
    playbooks: pd.DataFrame = field(default_factory=pd.DataFrame)  # running instances
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)  # the outbox (cs_sync.alerts)

    @property
    def fields_to_write(self) -> int:
        return len(self.changes)  # one change a field of an account

    def revenue_timeline(self) -> Timeline | None:
        """Each account's ARR over time: made on the first call when the plan holds only the
        way to make it (None: a plan without one, whose revenue KPIs stay empty)."""
        if self.timeline is None and self.timeline_maker is not None:
            self.timeline, self.timeline_maker = self.timeline_maker(), None
        return self.timeline


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
    columns = (
        (fields.score, "score"),
        (fields.grade, "grade"),
        (fields.trend, "trend"),
        (fields.reasons, "reasons"),
        (fields.phase, "phase"),
        (fields.phase_delayed, "phase_delayed"),
        (fields.renewal_strategy, "renewal_strategy"),
        (fields.next_action, "next_action"),
        (fields.next_action_date, "next_action_date"),
    )
    outputs = [_Output(api_name, scored[f"prev_{column}"]) for api_name, column in columns]
    rows: list[int] = []  # a field at a time: the rows whose value changes, the new values
    values: list[Any] = []
    places: list[np.ndarray] = []
    for place, ((api_name, column), output) in enumerate(zip(columns, outputs, strict=True)):
        scale = (scales or {}).get(api_name)
        found, now = len(rows), _by_row(scored[column])
        for row in np.flatnonzero(
            ~_surely_same(scored[column], scored[f"prev_{column}"], scale)
        ).tolist():
            new = _stored(_clean(now(row)), scale)
            if not same_value(output.was(row), new):
                rows.append(row)
                values.append(new)
        places.append(np.full(len(rows) - found, place, dtype=np.int8))
    every, fields_of = np.array(rows, dtype=np.int32), np.concatenate(places)
    order = np.lexsort((fields_of, every))  # by account, then field, as the plan is read
    sent = np.empty(len(values), dtype=object)
    sent[:] = values
    del rows, values
    changes = Changes(
        scored["account_id"].to_numpy(),
        scored["name"].to_numpy(),
        outputs,
        every[order],
        fields_of[order],
        sent[order],
    )
    return Plan(
        as_of=as_of,
        scored=scored,
        updates=AccountUpdates(changes),
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
