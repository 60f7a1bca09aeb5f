"""The plan writes a field only when its value really changes: each row a value on the record
(read back from Salesforce), a value the rules computed, and whether the plan writes it."""

from __future__ import annotations

import tracemalloc
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cs_sync.connectors.settings import SalesforceFields
from cs_sync.plan import _clean, _stored, build_plan, same_value

FIELDS = SalesforceFields()
COLUMN_OF = {
    "score": FIELDS.score,
    "grade": FIELDS.grade,
    "phase_delayed": FIELDS.phase_delayed,
    "next_action_date": FIELDS.next_action_date,
    "reasons": FIELDS.reasons,
}
NAN = float("nan")


def written(column: str, on_record: Any, computed: Any) -> bool:
    """Does the plan write `column` when the record holds `on_record` and the rules say
    `computed`? Every other output is the same on both sides."""
    outputs = ["score", "grade", "trend", "reasons", "phase", "phase_delayed"]
    outputs += ["renewal_strategy", "next_action", "next_action_date"]
    row: dict[str, Any] = {"account_id": "001A", "name": "A社"}
    for name in outputs:
        row[name] = row[f"prev_{name}"] = "same"
    row[column], row[f"prev_{column}"] = computed, on_record
    plan = build_plan(
        pd.DataFrame([row]), pd.DataFrame(columns=["key"]), FIELDS, date(2026, 11, 24)
    )
    return COLUMN_OF[column] in plan.updates.get("001A", {})


@pytest.mark.parametrize(
    ("column", "on_record", "computed", "expected"),
    [
        # scores are shown with one decimal: a move under 0.05 is no change
        ("score", 72.0, 72.04, False),
        ("score", 72.0, 71.96, False),
        ("score", 72.0, 72.06, True),
        ("score", 72.0, 71.94, True),
        ("score", 72, 72.0, False),
        ("score", 0.0, np.float64(0.0), False),
        # blanks: None, "" and NaN are one "no value"; a value against a blank is a change
        ("score", None, NAN, False),
        ("reasons", "", None, False),
        ("reasons", None, "", False),
        ("score", None, 72.0, True),
        ("score", 72.0, NAN, True),
        ("grade", "B", None, True),
        ("grade", None, "B", True),
        ("grade", "B", "B", False),
        ("grade", "B", "C", True),
        # dates: Salesforce returns ISO text; the rules give timestamps or dates
        ("next_action_date", "2026-12-01", pd.Timestamp("2026-12-01"), False),
        ("next_action_date", "2026-12-01", np.datetime64("2026-12-01"), False),
        ("next_action_date", "2026-12-01", date(2026, 12, 1), False),
        ("next_action_date", "2026-12-01", pd.Timestamp("2026-12-02"), True),
        ("next_action_date", None, pd.NaT, False),
        ("next_action_date", "2026-12-01", pd.NaT, True),
        # checkboxes: Salesforce reads false, never null
        ("phase_delayed", False, False, False),
        ("phase_delayed", False, np.False_, False),
        ("phase_delayed", True, np.True_, False),
        ("phase_delayed", False, True, True),
        ("phase_delayed", True, False, True),
    ],
    ids=lambda value: repr(value) if not isinstance(value, str) else value,
)
def test_a_field_is_written_only_when_it_changes(
    column: str, on_record: Any, computed: Any, expected: bool
) -> None:
    assert written(column, on_record, computed) is expected


def test_the_value_written_is_plain_json() -> None:
    row: dict[str, Any] = {"account_id": "001A", "name": "A社"}
    for name in ["score", "grade", "trend", "reasons", "phase", "phase_delayed"]:
        row[name], row[f"prev_{name}"] = None, None
    for name in ["renewal_strategy", "next_action", "next_action_date"]:
        row[name], row[f"prev_{name}"] = None, None
    row |= {"score": np.float64(61.5), "phase_delayed": np.True_}
    row["next_action_date"] = pd.Timestamp("2026-12-01")
    plan = build_plan(
        pd.DataFrame([row]), pd.DataFrame(columns=["key"]), FIELDS, date(2026, 11, 24)
    )
    sent = plan.updates["001A"]
    assert sent[FIELDS.score] == 61.5 and type(sent[FIELDS.score]) is float
    assert sent[FIELDS.phase_delayed] is True
    assert sent[FIELDS.next_action_date] == "2026-12-01"


def test_the_column_wise_diff_is_the_value_by_value_one() -> None:
    """The plan compares a column at a time and looks value by value only where the values
    are not plainly equal; on a random book (typed columns as the rules give them, values on
    the records near, equal, blank or of another spelling, a score field of scale 0 or 1) it
    writes exactly what same_value says, value by value, in the same order."""
    rng = np.random.default_rng(19)
    n = 3_000
    score = rng.choice([12.3, 72.04, 71.96, 0.30000000000000004, 50.0, NAN], n)
    book = pd.DataFrame(
        {
            "account_id": [f"001{i:015d}" for i in range(n)],
            "name": "A社",
            "score": score,
            "grade": rng.choice(["A", "B", "", None], n),
            "trend": "flat",
            "reasons": rng.choice(["利用率が低下", "a; b", ""], n),
            "phase": "adopt",
            "phase_delayed": rng.random(n) < 0.5,
            "renewal_strategy": "x",
            "next_action": "call",
            "next_action_date": pd.to_datetime(
                rng.choice(["2026-12-01", "2026-12-02", None], n)  # type: ignore[arg-type]
            ),
        }
    )
    book["prev_score"] = np.where(rng.random(n) < 0.5, score, rng.choice([72.0, 12.3, NAN], n))
    book["prev_grade"] = rng.choice(["A", "B", "", None], n)
    book["prev_trend"] = rng.choice(["flat", "up"], n)
    book["prev_reasons"] = rng.choice(["利用率が低下", "a; b", None], n)
    book["prev_phase"] = "adopt"
    book["prev_phase_delayed"] = rng.random(n) < 0.5
    book["prev_renewal_strategy"] = "x"
    book["prev_next_action"] = rng.choice(["call", None], n)
    book["prev_next_action_date"] = rng.choice(["2026-12-01", "2026-12-02", None], n)
    outputs = ["score", "grade", "trend", "reasons", "phase", "phase_delayed"]
    outputs += ["renewal_strategy", "next_action", "next_action_date"]
    api = {name: getattr(FIELDS, name) for name in outputs}
    for scales in ({}, {FIELDS.score: 0}, {FIELDS.score: 1}):
        plan = build_plan(book, pd.DataFrame(columns=["key"]), FIELDS, date(2026, 11, 24), scales)
        expected = []
        for row in book.itertuples(index=False):
            for name in outputs:
                new = _stored(_clean(getattr(row, name)), scales.get(api[name]))
                old = _clean(getattr(row, f"prev_{name}"))
                if not same_value(old, new):
                    expected.append((row.account_id, api[name], old, new))
        got = [(c.account_id, c.field, c.old, c.new) for c in plan.changes]
        assert len(got) == len(expected) > n // 2
        for mine, theirs in zip(got, expected, strict=True):
            assert mine[:2] == theirs[:2] and same_value(mine[2], theirs[2])
            assert same_value(mine[3], theirs[3]) and type(mine[3]) is type(theirs[3])


OUTPUTS = ["score", "grade", "trend", "reasons", "phase", "phase_delayed"]
OUTPUTS += ["renewal_strategy", "next_action", "next_action_date"]


def _first_run(n: int) -> pd.DataFrame:
    """A book no run has written yet: every output new on every account."""
    rng = np.random.default_rng(3)
    book = pd.DataFrame(
        {
            "account_id": [f"001{i:015d}" for i in range(n)],
            "name": [f"取引先 {i}" for i in range(n)],
            "score": rng.random(n) * 100,
            "grade": rng.choice(["A", "B", "C", "D"], n).astype(object),
            "trend": rng.choice(["up", "flat", "down"], n).astype(object),
            "reasons": [f"usage fell {i % 50}%; renewal in {i % 90} days" for i in range(n)],
            "phase": rng.choice(["onboard", "adopt", "renew"], n).astype(object),
            "phase_delayed": rng.random(n) < 0.3,
            "renewal_strategy": rng.choice(["standard", "save"], n).astype(object),
            "next_action": rng.choice(["call", "qbr"], n).astype(object),
            "next_action_date": pd.Timestamp("2026-12-01")
            + pd.to_timedelta(rng.integers(0, 90, n), "D"),
        }
    )
    for name in OUTPUTS:
        book[f"prev_{name}"] = None
    return book


def test_a_plan_s_changes_and_updates_agree_account_by_account() -> None:
    book = _first_run(50)
    book.loc[3:5, "prev_grade"] = book.loc[3:5, "grade"]  # unchanged there
    for name in OUTPUTS:  # nothing to write on account 7
        book.at[7, f"prev_{name}"] = book.at[7, name]
    plan = build_plan(book, pd.DataFrame(columns=["key"]), FIELDS, date(2026, 11, 24))
    grouped: dict[str, dict[str, Any]] = {}
    for change in plan.changes:
        grouped.setdefault(change.account_id, {})[change.field] = change.new
    assert dict(plan.updates.items()) == grouped and list(plan.updates) == list(grouped)
    assert len(plan.updates) == 49 and plan.fields_to_write == len(plan.changes) == 49 * 9 - 3
    assert (
        book.account_id[7] not in plan.updates
        and FIELDS.grade not in plan.updates[book.account_id[4]]
    )
    assert (
        plan.changes[-1] == plan.changes[len(plan.changes) - 1]
        and plan.changes[:2][1] == plan.changes[1]
    )
    part = plan.updates.part(40, 60)  # a write step's accounts, past the end
    assert (
        list(part) == list(grouped)[40:]
        and part[book.account_id[49]] == grouped[book.account_id[49]]
    )
    with pytest.raises(KeyError):
        part[book.account_id[0]]
    with pytest.raises(IndexError):
        plan.changes[len(plan.changes)]
    empty = build_plan(book.iloc[:0], pd.DataFrame(columns=["key"]), FIELDS, date(2026, 11, 24))
    assert len(empty.changes) == len(empty.updates) == 0 and list(empty.updates.part(0, 10)) == []


def test_a_plan_holds_its_changes_as_numbers_not_objects() -> None:
    # a first run at 100,000 accounts plans some 780,000 changes: as an object each, with a
    # dict of values for each account, the plan held 122 bytes a change to the run's end
    book = _first_run(20_000)
    tasks = pd.DataFrame(columns=["key"])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        plan = build_plan(book, tasks, FIELDS, date(2026, 11, 24))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(plan.changes) == 180_000
    assert held < 40 * len(plan.changes)  # 122 bytes a change as objects, 24 now
    sent = plan.updates[book.account_id[0]]
    assert sent[FIELDS.next_action_date] == book.next_action_date[0].date().isoformat()
    assert type(sent[FIELDS.score]) is float and sent[FIELDS.phase_delayed] is bool(
        book.phase_delayed[0]
    )
