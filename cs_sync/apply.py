"""Apply a plan to Salesforce: Tasks to create, Tasks to close, then Account fields, each in
one step (one Bulk job per object and operation, or sObject Collections calls) unless
salesforce.write_step_records cuts it smaller; a stop request is answered between steps,
between Collections calls and while a Bulk job runs, with every record's outcome counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, overload

import numpy as np
import pandas as pd

from cs_sync.config import Config
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.write_report import WriteReport
from cs_sync.errors import Interrupted
from cs_sync.plan import Plan, Problem


@dataclass
class Written:
    """What the writes of a run did, record by record."""

    accounts_changed: int = 0
    fields_written: int = 0
    tasks_created: int = 0
    tasks_closed: int = 0
    errors: list[Problem] = field(default_factory=list)


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class TaskRows(Sequence[dict[str, Any]]):
    """The new Tasks' upsert rows, each made from the plan's table when it is read (an upload
    writes them one at a time and lets each go): made up front, a first run's 66,000 new
    Tasks at 100,000 accounts were a dict each beside the table for the whole write."""

    FIELDS = {  # the upsert row's field -> the plan's column
        "Subject": "subject",
        "Description": "description",
        "OwnerId": "owner_id",
        "WhatId": "account_id",
        "ActivityDate": "due_date",
        "Priority": "priority",
    }

    def __init__(self, columns: dict[str, np.ndarray], key_field: str, rows: range) -> None:
        self.columns, self.key_field, self.rows = columns, key_field, rows

    @classmethod
    def of(cls, tasks: pd.DataFrame, key_field: str) -> TaskRows:
        """The rows of the plan's `tasks`, keyed by `key_field` (a plan without Tasks may
        have no columns but the key: a backfill's)."""
        names = ["key", *cls.FIELDS.values()]
        columns = {name: column.to_numpy() for name, column in tasks.reindex(columns=names).items()}
        return cls(columns, key_field, range(len(tasks)))

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, at: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, at: slice) -> TaskRows: ...

    def __getitem__(self, at: int | slice) -> dict[str, Any] | TaskRows:
        if isinstance(at, slice):
            return TaskRows(self.columns, self.key_field, self.rows[at])
        row = self.rows[at]
        record = {self.key_field: self.columns["key"][row]}
        for field_name, column in self.FIELDS.items():
            record[field_name] = self.columns[column][row]
        record["ActivityDate"] = record["ActivityDate"].isoformat()
        record["Status"] = "Not Started"
        return record


def apply_plan(
    client: SalesforceClient,
    plan: Plan,
    config: Config,
    written: Written,
    stop_requested: Callable[[], bool] = lambda: False,
    batch_size: int | None = None,
) -> None:
    """Write the plan in steps of `batch_size` records (salesforce.write_step_records): Tasks
    to create first, then Tasks to close, then the Account fields. Tasks go first because the
    field values are what the next run compares against: a run cut short after its fields but
    before its Tasks would lose the Tasks of edge triggers; cut short the other way round, the
    rerun finds the Tasks by key and does not create them again. Between steps and calls,
    `stop_requested()` is asked; when it says yes the run ends there, nothing half written (a
    Bulk job already running is left to finish in Salesforce)."""
    f = config.salesforce.fields
    batch_size = batch_size or config.salesforce.write_step_records
    task_records = TaskRows.of(plan.tasks, f.task_key)
    closes = [
        (row.task_id, {"Status": config.tasks.closed_status, "Description": row.description})
        for row in plan.closes.itertuples(index=False)
    ]
    steps: list[tuple[str, Callable[[], WriteReport]]] = []
    for chunk in _batches(task_records, batch_size):
        steps.append(("create Tasks", partial(client.upsert, "Task", f.task_key, chunk)))
    for pairs in _batches(closes, batch_size):
        steps.append(("close Tasks", partial(client.update, "Task", dict(pairs))))
    for start in range(0, len(plan.updates), batch_size):
        part = plan.updates.part(start, start + batch_size)  # each account's fields made as sent
        steps.append(("update Accounts", partial(client.update, "Account", part)))
    client.stop_requested = stop_requested  # also asked between calls within a step
    for done, (what, step) in enumerate(steps):
        if stop_requested():
            raise Interrupted(
                f"stopped on request after {done} of {len(steps)} write step(s), before "
                f"'{what}'; every step sent was written whole, and the next run continues "
                "from what is in Salesforce"
            )
        count(written, what, step())


def count(written: Written, what: str, report: WriteReport) -> None:
    """Add one write step's outcome to the run; a failure that stopped the step ends the run
    after what it wrote is counted."""
    if what == "create Tasks":
        # Every planned Task's key was new when the run read the org (and the run lock keeps
        # other runs out), so each success is a Task this run created: a retried upsert whose
        # first answer was lost reports "updated", not "created", for the same new Task.
        written.tasks_created += len(report.succeeded)
    elif what == "close Tasks":
        written.tasks_closed += len(report.succeeded)
    else:
        written.fields_written += report.fields_written
        written.accounts_changed += len(report.succeeded)
    kind = "salesforce_record" if what == "update Accounts" else "salesforce_task"
    for failure in report.failed:
        if kind == "salesforce_record":
            where = f" on {', '.join(failure.fields) or '-'}"
            written.errors.append(
                Problem(kind, failure.record_id, f"{failure.code}{where}: {failure.message}")
            )
        else:
            record = failure.key if what == "create Tasks" else failure.record_id
            written.errors.append(Problem(kind, record, f"{failure.code}: {failure.message}"))
    if report.stopped_by is not None:
        raise report.stopped_by
