"""The rows a run's writes send, made from the plan as they are read: the new Tasks' upsert
rows are the plan's Tasks, field by field, in order, and are not all held at once."""

from __future__ import annotations

import tracemalloc
from datetime import date, timedelta

import pandas as pd

from cs_sync.apply import TaskRows
from cs_sync.connectors.bulk_jobs import csv_body


def _tasks(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "key": [f"cs-sync:low_usage:001{i:015d}:2026-11" for i in range(n)],
            "rule": "low_usage",
            "account_id": [f"001{i:015d}" for i in range(n)],
            "account_name": [f"取引先 {i}" for i in range(n)],
            "owner_id": "005000000000001AAA",
            "owner_source": "owner",
            "subject": [f"利用状況の確認 {i}" for i in range(n)],
            "description": [f"Usage fell {i % 40}% in the last 30 days." for i in range(n)],
            "due_date": [date(2026, 12, 1) + timedelta(days=i % 9) for i in range(n)],
            "priority": "High",
        }
    )


def test_the_upsert_rows_are_the_plan_s_tasks_field_by_field() -> None:
    tasks = _tasks(5)
    rows = TaskRows.of(tasks, "CS_Sync_Key__c")
    expected = [
        {
            "CS_Sync_Key__c": task.key,
            "Subject": task.subject,
            "Description": task.description,
            "OwnerId": task.owner_id,
            "WhatId": task.account_id,
            "ActivityDate": task.due_date.isoformat(),
            "Priority": task.priority,
            "Status": "Not Started",
        }
        for task in tasks.itertuples(index=False)
    ]
    assert list(rows) == expected and len(rows) == 5 and rows[-1] == expected[-1]
    assert list(rows[1:4]) == expected[1:4] and list(rows[1:4][1:]) == expected[2:4]
    assert list(rows[3:9]) == expected[3:] and len(rows[7:]) == 0
    assert csv_body(rows[2:]) == csv_body(expected[2:])  # the upload is the same
    assert len(TaskRows.of(pd.DataFrame(columns=["key"]), "K")) == 0  # a backfill's: no Tasks


def test_the_upsert_rows_are_not_held_all_at_once() -> None:
    # made up front, a first run's 66,000 new Tasks at 100,000 accounts were a dict each
    # (340 bytes, its due date as text among them) beside the plan's table while written
    tasks = _tasks(20_000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rows = TaskRows.of(tasks, "CS_Sync_Key__c")
        held = tracemalloc.get_traced_memory()[0] - before
        body = csv_body(rows)
    finally:
        tracemalloc.stop()
    assert held < 100 * len(tasks)  # the dicts: 340 bytes a Task
    assert body.count(b"\n") == 20_001
