"""The plan writes a field only when its value really changes: each row a value on the record
(read back from Salesforce), a value the rules computed, and whether the plan writes it."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cs_sync.connectors.settings import SalesforceFields
from cs_sync.plan import build_plan

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
