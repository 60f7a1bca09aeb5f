"""Playbooks: a named sequence of steps that a condition starts, each step a dated Task for the
right person.

A playbook runs one instance per account at a time. Its steps are dated either from the day
the instance started (`days`: business days after it) or from an anchor date column such as
the renewal date, the notice deadline or the contract start (`days` before or after it, or
`date`: a column holding the step's own date, as the renewal plan's steps do). A date lands on
a business day outside the customer's busy months: steps before the anchor move earlier, the
others later.

Each step is a Task keyed `cs-sync:<playbook>/<step>:<account>:<YYYY-MM-DD>`, the date being
the instance's start (or its anchor), so a rerun, a retry or a crash never creates a step
twice, and the key itself tells the next run when the instance started. A step's Task appears
`show_days_ahead` days before it is due. Nothing is created overdue: a step whose date has
passed is due on the run's business day (re-dated); a later step is never due before an
earlier one; a step whose `skip_when` holds (the renewal opportunity's stage shows it done) is
skipped. Playbooks of one `family` (the renewal playbooks, one per strategy) share their
steps: a value review done under one strategy is not asked for again under the next.

An instance stops when its condition clears (its open steps close with a note saying why), or
when its anchor moves (the renewal was rescheduled: the old instance's open steps close). A
finished instance of a start-dated playbook starts again, while its condition holds, after
`restart_after_days`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated

import numpy as np
import pandas as pd

from cs_sync.rules.arrays import per_distinct
from cs_sync.rules.calendar import workable
from cs_sync.rules.expressions import Columns, Expression
from cs_sync.rules.playbook_state import (
    INSTANCE_COLUMNS,
    START,
    StepTasks,
    instances,
    start_periods,
    to_close,
)
from cs_sync.rules.tasks import (
    CLOSE_COLUMNS,
    KEY_PREFIX,
    NEW_TASK_COLUMNS,
    Template,
    choose_owners,
    last_run_values,
)
from cs_sync.settings import Between, Settings

STEP_COLUMNS = [  # a step's Task to create, before the caps (rendered after them)
    *NEW_TASK_COLUMNS,
    "row",
    "arr",
    "order",
    "redated",
    "step_index",
    "anchor_date",
]
# cs-sync explain: each step's state (exists, skipped, no date, creates, scheduled; a
# playbook not running has one row with no step) and its date (the instance's, not running)
TRACE_COLUMNS = ["playbook", "step", "account_id", "state", "date"]


@dataclass(frozen=True)
class Step:
    name: str
    subject: Mapping[str, Template]
    description: Mapping[str, Template]
    days: int = 0  # start: business days after it; an anchor: calendar days (negative: before)
    date: str | None = None  # a column holding the step's date (instead of days)
    owner: str = "csm"  # csm | sub_csm | user:<User id>
    priority: str = "Normal"
    skip_when: Expression | None = None


@dataclass(frozen=True)
class Playbook:
    name: str
    label: Mapping[str, str]
    when: Expression
    steps: tuple[Step, ...]
    trigger: str = "level"  # level | edge (edge compares with the last run's stored values)
    anchor: str = START  # START, or a date column
    family: str | None = None
    segments: tuple[str, ...] = ()
    restart_after_days: int = 180
    auto_close: bool = True

    @property
    def span_days(self) -> int:
        """How long an instance of a start-dated playbook runs: its last step, in calendar
        days, and a month to finish it."""
        return max((s.days for s in self.steps), default=0) * 7 // 5 + 30


class PlaybookLimits(Settings):
    """When steps appear and how long cs-sync remembers them."""

    show_days_ahead: Annotated[int, Between(0, 120)] = 7
    """A step's Task is created this many days before it is due."""
    memory_days: Annotated[int, Between(30, 1095)] = 400
    """Closed steps younger than this are read back each run, so no step is created twice;
    keep it longer than your longest playbook."""


@dataclass(frozen=True)
class PlaybookSettings:
    limits: PlaybookLimits = field(default_factory=PlaybookLimits)
    playbooks: tuple[Playbook, ...] = ()


@dataclass
class PlaybookPlan:
    steps: pd.DataFrame  # STEP_COLUMNS: the steps to create now (before the caps)
    closes: pd.DataFrame  # CLOSE_COLUMNS: open steps whose instance stopped
    instances: pd.DataFrame  # INSTANCE_COLUMNS: every running instance
    trace: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TRACE_COLUMNS))

    @classmethod
    def empty(cls) -> PlaybookPlan:
        return cls(
            pd.DataFrame(columns=STEP_COLUMNS),
            pd.DataFrame(columns=CLOSE_COLUMNS),
            pd.DataFrame(columns=INSTANCE_COLUMNS),
        )


def step_rule(playbook: str, step: str) -> str:
    """The rule part of a step's key."""
    return f"{playbook}/{step}"


def plan_playbooks(
    scored: pd.DataFrame,
    existing: pd.DataFrame,
    settings: PlaybookSettings,
    as_of: date,
    language: str,
    closed: frozenset[date] = frozenset(),
    default_owner_id: str | None = None,
    trace: bool = False,
) -> PlaybookPlan:
    """The steps to create and close now (with `trace`, every step's state for every account
    too: for `cs-sync explain`, on a few accounts). `scored`: one row per account with the columns
    the conditions and dates name (and busy_mask, the customer's busy months as bits);
    `existing`: cs-sync's Tasks read back (task_id, key, rule, account_id, is_closed,
    description)."""
    known = StepTasks(existing, {p.name: p.family or p.name for p in settings.playbooks})
    holidays = np.array(sorted(closed), dtype="datetime64[D]")
    today = np.busday_offset(np.datetime64(as_of, "D"), 0, roll="forward", holidays=holidays)
    horizon = np.datetime64(as_of, "D") + settings.limits.show_days_ahead
    columns = Columns(scored)
    account_ids = scored["account_id"].astype(str).to_numpy(dtype=object)
    position = pd.Series(np.arange(len(scored)), index=account_ids)
    busy = scored["busy_mask"].to_numpy(dtype=np.int64) if "busy_mask" in scored else None
    steps, closes, found, traced = [], [], [], []
    previous: Columns | None = None  # the last run's stored values, for edge triggers
    for order, playbook in enumerate(settings.playbooks):
        met = playbook.when.condition(columns).to_numpy()
        if playbook.segments:
            met = met & scored["segment"].isin(playbook.segments).to_numpy()
        starts = met
        if playbook.trigger == "edge":
            if previous is None:
                previous = columns.with_columns(last_run_values(scored))
            starts = met & ~playbook.when.condition(previous).to_numpy()
        if playbook.anchor == START:
            period = start_periods(playbook, known, account_ids, met, starts, as_of)
        else:
            period = np.where(met, _dates(scored, playbook.anchor), np.datetime64("NaT"))
        running = ~np.isnat(period)
        if trace:
            traced.append(_trace(playbook.name, "", account_ids, ~running, period, "not running"))
        closes.append(to_close(playbook, known, scored, position, met, period, as_of, language))
        if not running.any():
            continue
        # the rest is worked out for the running instances only (a few in a large book)
        at = np.flatnonzero(running)
        part = scored[sorted({s.date for s in playbook.steps if s.date})].iloc[at]
        accounts, started = account_ids[at], period[at]
        text = per_distinct(started, lambda days: np.datetime_as_string(days, unit="D"))
        found.append(instances(playbook.name, accounts, text, known))
        customer_busy = busy[at] if busy is not None else None
        previous_due = np.full(len(at), np.datetime64("NaT"), dtype="datetime64[D]")
        family = playbook.family or playbook.name
        for index, step in enumerate(playbook.steps):
            due = _step_dates(part, playbook, step, started, customer_busy, holidays)
            there = known.has(family, step.name, accounts, text)
            skip = np.zeros(len(at), dtype=bool)
            if step.skip_when is not None:
                skip = step.skip_when.condition(columns).to_numpy()[at]
            pending = ~there & ~skip & ~np.isnat(due)
            redated = pending & (due < today)
            due = np.where(redated, today, due)
            later = ~np.isnat(previous_due) & (due < previous_due)
            due = np.where(pending & later, previous_due, due)
            previous_due = np.where(pending, due, previous_due)
            create = pending & (due <= horizon)
            if trace:
                for mask, state in (
                    (there, "exists"),
                    (~there & skip, "skipped"),
                    (~there & ~skip & np.isnat(due), "no date"),
                    (create, "creates"),
                    (pending & ~create, "scheduled"),
                ):
                    traced.append(_trace(playbook.name, step.name, accounts, mask, due, state))
            chosen = np.flatnonzero(create)
            if len(chosen):
                steps.append(
                    _step_rows(
                        scored,
                        playbook,
                        step,
                        (order, index),
                        at[chosen],
                        text[chosen],
                        due[chosen],
                        redated[chosen],
                        default_owner_id,
                    )
                )
    return PlaybookPlan(
        _concat(steps, STEP_COLUMNS),
        _concat(closes, CLOSE_COLUMNS),
        _concat(found, INSTANCE_COLUMNS),
        _concat(traced, TRACE_COLUMNS),
    )


def _trace(
    playbook: str, step: str, accounts: np.ndarray, mask: np.ndarray, due: np.ndarray, state: str
) -> pd.DataFrame:
    rows = np.flatnonzero(mask)
    return pd.DataFrame(
        {
            "playbook": playbook,
            "step": step,
            "account_id": accounts[rows],
            "state": state,
            "date": [None if np.isnat(d) else pd.Timestamp(d).date() for d in due[rows]],
        }
    )


def _dates(scored: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_datetime(scored[column], errors="coerce").to_numpy("datetime64[D]")


def _step_dates(
    scored: pd.DataFrame,
    playbook: Playbook,
    step: Step,
    period: np.ndarray,
    busy: np.ndarray | None,
    holidays: np.ndarray,
) -> np.ndarray:
    """Each running instance's date for the step (NaT where none)."""
    placeholder = np.datetime64("1970-01-01")
    if step.date is not None:
        base = np.where(~np.isnat(period), _dates(scored, step.date), np.datetime64("NaT"))
        if not step.days:
            return base  # the column's own date (the renewal plan's are workable already)
        days = base + step.days
    elif playbook.anchor == START:
        days = np.busday_offset(
            np.where(np.isnat(period), placeholder, period),
            step.days,
            roll="forward",
            holidays=holidays,
        )
        days = np.where(np.isnat(period), np.datetime64("NaT"), days)
    else:
        days = period + step.days
    moved = workable(
        np.where(np.isnat(days), placeholder, days), busy, holidays, later=step.days >= 0
    )
    return np.where(np.isnat(days), np.datetime64("NaT"), moved)


def _step_rows(
    scored: pd.DataFrame,
    playbook: Playbook,
    step: Step,
    where: tuple[int, int],
    rows: np.ndarray,
    period_text: np.ndarray,
    due: np.ndarray,
    redated: np.ndarray,
    default_owner_id: str | None,
) -> pd.DataFrame:
    """The steps to create (`rows`: the accounts' positions in `scored`; the other arrays one
    value per row), not yet rendered: render_steps does that for those the caps let
    through."""
    needed = ["account_id", "name", "arr", "owner_id", "owner_active", "sub_csm_id"]
    info = scored[[*needed, "sub_csm_active"]].iloc[rows]
    owner, source = _owners(info, step.owner, default_owner_id)
    rule = step_rule(playbook.name, step.name)
    accounts = info["account_id"].astype(str).to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "key": f"{KEY_PREFIX}:{rule}:" + accounts + ":" + period_text,
            "rule": rule,
            "account_id": accounts,
            "account_name": info["name"].to_numpy(dtype=object),
            "owner_id": owner,
            "owner_source": source,
            "subject": None,
            "description": None,
            "due_date": per_distinct(due, lambda days: pd.to_datetime(days).date),
            "priority": step.priority,
            "row": rows,
            "arr": pd.to_numeric(info["arr"], errors="coerce").fillna(0).to_numpy(),
            "order": where[0],
            "redated": redated,
            "step_index": where[1],
            "anchor_date": period_text,
        }
    )


def render_steps(
    chosen: pd.DataFrame, scored: pd.DataFrame, settings: PlaybookSettings, language: str
) -> pd.DataFrame:
    """Subject and description of the steps to create, in the run's language."""
    subjects, descriptions = [], []
    for row in chosen.itertuples(index=False):
        playbook = settings.playbooks[int(row.order)]
        step = playbook.steps[int(row.step_index)]
        fields = scored.iloc[int(row.row)].to_dict() | {
            "playbook": playbook.label[language],
            "step_due": row.due_date,
            "anchor_date": date.fromisoformat(str(row.anchor_date)),
        }
        subjects.append(step.subject[language].render(fields)[:255])
        descriptions.append(step.description[language].render(fields)[:32000])
    return chosen.assign(subject=subjects, description=descriptions)


def _owners(
    info: pd.DataFrame, role: str, default_owner_id: str | None
) -> tuple[np.ndarray, np.ndarray]:
    if role.startswith("user:"):
        user = role.removeprefix("user:")
        return np.full(len(info), user, dtype=object), np.full(len(info), "user", dtype=object)
    if role == "sub_csm":
        swapped = info.rename(
            columns={
                "owner_id": "sub_csm_id",
                "owner_active": "sub_csm_active",
                "sub_csm_id": "owner_id",
                "sub_csm_active": "owner_active",
            }
        )
        owner, source = choose_owners(swapped, default_owner_id)
        relabel = {"owner": "sub_csm", "sub_csm": "owner"}
        return owner, np.array([relabel.get(s, s) for s in source], dtype=object)
    return choose_owners(info, default_owner_id)


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def memory_since(settings: PlaybookSettings, as_of: date) -> date:
    """The oldest creation date of the closed steps a run reads back."""
    return as_of - timedelta(days=settings.limits.memory_days)
