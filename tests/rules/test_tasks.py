"""Which follow-up Tasks the rules want, for whom, with which key."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from cs_sync.config import TasksConfig
from rules.tasks import choose_owner, wanted_tasks

AS_OF = date(2026, 11, 24)
CONFIG = TasksConfig(
    enabled=True,
    grades=("D",),
    due_in_business_days=5,
    default_owner_id="005MANAGER",
    max_per_run=200,
    priority="High",
)


@pytest.mark.parametrize(
    ("owner_active", "sub_active", "default", "expected"),
    [
        pytest.param(True, True, "005MANAGER", ("005OWNER", "owner"), id="owner-active"),
        pytest.param(False, True, "005MANAGER", ("005SUB", "sub_csm"), id="owner-left"),
        pytest.param(False, False, "005MANAGER", ("005MANAGER", "default"), id="both-left"),
        pytest.param(False, False, None, (None, "none"), id="nobody"),
    ],
)
def test_owner_falls_back_from_main_to_sub_to_default(
    owner_active: bool, sub_active: bool, default: str | None, expected: tuple[str | None, str]
) -> None:
    row = pd.Series(
        {
            "owner_id": "005OWNER",
            "owner_active": owner_active,
            "sub_csm_id": "005SUB",
            "sub_csm_active": sub_active,
        }
    )
    assert choose_owner(row, default) == expected


def scored(grades: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "account_id": f"001{i:015d}",
                "name": f"株式会社テスト{i}",
                "grade": grade,
                "reasons": "D (10): active users 20% of seats (target 80%) −50 pts",
                "owner_id": "005OWNER",
                "owner_active": True,
                "sub_csm_id": "005SUB",
                "sub_csm_active": True,
            }
            for i, grade in enumerate(grades)
        ]
    )


def test_only_configured_grades_get_a_task() -> None:
    tasks = wanted_tasks(scored(["A", "D", None, "C", "D"]), CONFIG, AS_OF, "en")
    assert tasks["account_name"].tolist() == ["株式会社テスト1", "株式会社テスト4"]


def test_task_key_is_stable_per_account_and_month() -> None:
    tasks = wanted_tasks(scored(["D"]), CONFIG, AS_OF, "en")
    assert tasks.loc[0, "key"] == "cs-sync:reonboard:001000000000000000:2026-11"
    later = wanted_tasks(scored(["D"]), CONFIG, date(2026, 11, 30), "en")
    assert later.loc[0, "key"] == tasks.loc[0, "key"]
    next_month = wanted_tasks(scored(["D"]), CONFIG, date(2026, 12, 1), "en")
    assert next_month.loc[0, "key"].endswith(":2026-12")


def test_text_due_date_and_priority() -> None:
    task = wanted_tasks(scored(["D"]), CONFIG, AS_OF, "ja").iloc[0]
    assert task["subject"] == "【cs-sync】再オンボーディング：株式会社テスト0（ヘルス D）"
    assert "理由：D (10)" in task["description"]
    assert task["due_date"] == date(2026, 12, 1)
    assert task["priority"] == "High"


def test_disabled_means_no_tasks() -> None:
    config = TasksConfig(False, ("D",), 5, None, 200, "High")
    assert wanted_tasks(scored(["D"]), config, AS_OF, "en").empty


def open_task(account: str, rule: str = "reonboard", period: str = "2026-10") -> dict:
    return {
        "task_id": f"00T{account[-3:]}",
        "key": f"cs-sync:{rule}:{account}:{period}",
        "rule": rule,
        "account_id": account,
        "is_closed": False,
        "description": "Health is D.",
    }


@pytest.mark.parametrize(
    ("task", "grade", "closes"),
    [
        pytest.param(open_task("001000000000000000"), "B", True, id="recovered-to-B-closes"),
        pytest.param(open_task("001000000000000000"), "D", False, id="still-D-stays-open"),
        pytest.param(
            open_task("001999999999999999"), "B", False, id="account-not-in-this-run-untouched"
        ),
        pytest.param(
            open_task("001000000000000000", rule="custom"), "B", False, id="unknown-rule-untouched"
        ),
    ],
)
def test_stale_tasks_close_when_the_condition_clears(task: dict, grade: str, closes: bool) -> None:
    from rules.tasks import tasks_to_close

    accounts = scored([grade])
    wanted = wanted_tasks(accounts, CONFIG, AS_OF, "en")
    closing = tasks_to_close(pd.DataFrame([task]), wanted, accounts, AS_OF, "en")
    assert len(closing) == (1 if closes else 0)
    if closes:
        assert closing.iloc[0]["description"] == (
            "Health is D.\n\n[cs-sync 2026-11-24] Closed automatically: health is now B, so "
            "re-onboarding is no longer needed."
        )


def test_an_open_task_from_last_month_is_not_created_again() -> None:
    from cs_sync.config import SalesforceFields
    from cs_sync.plan import build_plan

    accounts = scored(["D", "D"]).assign(
        prev_score=None,
        prev_grade=None,
        prev_trend=None,
        prev_reasons=None,
        prev_phase=None,
        prev_phase_delayed=False,
        prev_renewal_strategy=None,
        prev_next_action=None,
        prev_next_action_date=None,
        score=10.0,
        trend="New",
        phase="Onboarding",
        phase_delayed=False,
        renewal_strategy=None,
        next_action=None,
        next_action_date=None,
    )
    wanted = wanted_tasks(accounts, CONFIG, AS_OF, "en")
    existing = pd.DataFrame([open_task("001000000000000000")])
    plan = build_plan(accounts, wanted, existing, SalesforceFields(), AS_OF)
    assert plan.tasks["account_id"].tolist() == ["001000000000000001"]
