"""Each CSM's book, worked by hand: accounts, ARR and the grade mix, behind schedule and ARR at
risk, and the Tasks created over 30 days as Salesforce holds them (a rerun that creates none
does not make them 0)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cs_sync.csm_book import csm_labels, csm_table, recent_tasks
from tests.conftest import traced_peak

AS_OF = date(2026, 11, 24)
SCORED = pd.DataFrame(
    {
        "owner_id": ["005A", "005A", "005A", "005B"],
        "owner_name": ["佐藤 花子", "佐藤 花子", "佐藤 花子", "田中 翔"],
        "arr": [1_000_000.0, 500_000.0, None, 2_000_000.0],
        "grade": ["A", "D", None, "C"],
        "phase_delayed": [False, True, None, True],
        "days_to_renewal": [30, 60, 10, 200],  # 005B's renewal is beyond 120 days
    }
)
TASKS = pd.DataFrame(
    {
        "owner_id": ["005A", "005A", "005B"],
        "owner_name": ["佐藤 花子", "佐藤 花子", "田中 翔"],
        "created_date": [
            "2026-11-20T01:00:00.000+0000",  # this month
            "2026-10-01T01:00:00.000+0000",  # 54 days ago: not in the 30
            "2026-11-23T23:00:00.000+0000",
        ],
        "is_closed": [True, False, False],
        "key": ["k1", "k2", "k3"],
        "rule": ["r", "r", "r"],
        "account_id": ["a", "b", "c"],
        "activity_date": ["2026-11-27", "2026-10-08", "2026-11-30"],
    }
)


def test_a_book_per_csm() -> None:
    labels = csm_labels(SCORED, TASKS)
    day = pd.DataFrame(
        {
            "date": ["2026-11-24"] * 2,
            "metric": ["tasks_overdue", "tasks_overdue"],
            "dimension": ["佐藤 花子", "all"],
            "value": [1.0, 1.0],
        }
    )
    new = pd.DataFrame({"owner_id": ["005B"]})
    table = csm_table(SCORED, ["A", "B", "C", "D"], ("C", "D"), labels, day, TASKS, new, AS_OF)
    found = {(r.csm, r.metric, r.dimension): r.value for r in table.itertuples()}
    assert found[("佐藤 花子", "accounts", "all")] == 3
    assert found[("佐藤 花子", "arr", "all")] == 1_500_000
    assert found[("佐藤 花子", "accounts_by_grade", "D")] == 1
    assert found[("佐藤 花子", "accounts_by_grade", "none")] == 1
    assert found[("佐藤 花子", "phase_delayed", "all")] == 1
    assert found[("佐藤 花子", "renewal_arr_at_risk_120d", "all")] == 500_000  # the D
    assert found[("田中 翔", "renewal_arr_at_risk_120d", "all")] == 0  # renews later
    assert found[("佐藤 花子", "tasks_created_30d", "all")] == 1  # not the one of October
    assert found[("田中 翔", "tasks_created_30d", "all")] == 2  # one read, one made now
    assert found[("佐藤 花子", "tasks_overdue", "all")] == 1


def test_the_task_list_keeps_the_last_30_days_and_every_open_one() -> None:
    new = pd.DataFrame(
        {
            "key": ["k9"],
            "rule": ["r"],
            "account_id": ["d"],
            "owner_id": ["005A"],
            "due_date": ["2026-12-01"],
        }
    )
    listed = recent_tasks(TASKS, new, AS_OF)
    assert list(listed["key"]) == ["k9", "k1", "k2", "k3"]  # k2: old, but still open
    assert list(listed["created_this_run"]) == [True, False, False, False]
    closed_old = TASKS.assign(is_closed=[True, True, False])
    assert "k2" not in set(recent_tasks(closed_old, new.iloc[0:0], AS_OF)["key"])


def test_no_task_read_and_none_made() -> None:
    assert recent_tasks(pd.DataFrame(), pd.DataFrame(), AS_OF).empty


def test_playbooks_and_their_steps_per_csm() -> None:
    """Playbooks running (and started this run) by the account's CSM; steps open, overdue and
    done by their owner, as Salesforce held them when the run began."""
    scored = SCORED.assign(account_id=["a", "b", "c", "d"])
    steps = pd.DataFrame(
        {
            "owner_id": ["005A", "005A", "005B", "005B"],
            "owner_name": ["佐藤 花子", "佐藤 花子", "田中 翔", "田中 翔"],
            "created_date": ["2026-11-01T01:00:00.000+0000"] * 4,
            "is_closed": [False, False, True, False],
            "key": [f"cs-sync:delay/s{i}:a:2026-11-01" for i in range(4)],
            "rule": ["delay/s0", "delay/s1", "delay/s2", "renewal_x/quote"],
            "account_id": ["a", "a", "a", "d"],
            "activity_date": ["2026-11-20", "2026-12-01", "2026-11-10", "2026-11-24"],
        }
    )
    running = pd.DataFrame(
        {
            "playbook": ["delay", "delay", "renewal_x"],
            "account_id": ["a", "b", "d"],
            "period": ["2026-11-01", "2026-11-24", "2027-02-01"],
            "started": [False, True, False],
        }
    )
    labels = csm_labels(scored, steps)
    table = csm_table(
        scored,
        ["A", "B", "C", "D"],
        ("C", "D"),
        labels,
        pd.DataFrame(columns=["metric", "dimension", "value"]),
        steps,
        pd.DataFrame(columns=["owner_id"]),
        AS_OF,
        running,
    )
    got = {(r.csm, r.metric, r.dimension): r.value for r in table.itertuples()}
    assert got[("佐藤 花子", "playbooks_running", "delay")] == 2
    assert got[("佐藤 花子", "playbooks_started", "delay")] == 1
    assert got[("田中 翔", "playbooks_running", "renewal_x")] == 1
    assert got[("佐藤 花子", "playbook_steps_open", "all")] == 2
    assert got[("佐藤 花子", "playbook_steps_overdue", "all")] == 1  # due 11-20, open
    assert got[("田中 翔", "playbook_steps_done", "all")] == 1
    assert ("田中 翔", "playbook_steps_overdue", "all") not in got  # due today is not late


def test_the_books_are_counted_without_a_copy_of_the_scored_table() -> None:
    # grouping the whole scored table (over a hundred columns) by CSM sorted a copy of every
    # column first: at 100,000 accounts, tens of MB at the dashboards' peak
    n, wide = 50_000, 60
    scored = pd.DataFrame(
        {f"feature_{i}": np.arange(n, dtype=float) for i in range(wide)}
        | {
            "owner_id": [f"005{i % 40:015d}" for i in range(n)],
            "arr": 1000.0,
            "grade": ["A", "B", "C", "D"] * (n // 4),
            "phase_delayed": False,
            "days_to_renewal": 30,
        }
    )
    empty = TASKS.iloc[:0]
    day = pd.DataFrame(columns=["date", "metric", "dimension", "value"])
    table = csm_table(scored, ["A", "B", "C", "D"], ("D",), {}, day, empty, empty, AS_OF)
    found = {(r.csm, r.metric, r.dimension): r.value for r in table.itertuples()}
    assert found[(f"005{0:015d}", "accounts", "all")] == n // 40
    peak = traced_peak(
        lambda: csm_table(scored, ["A", "B", "C", "D"], ("D",), {}, day, empty, empty, AS_OF)
    )
    assert peak < 20 * 8 * n  # 72 times with the sorted copy of every column, 9 now
