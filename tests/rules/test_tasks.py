"""Follow-up Tasks: which rule fires for which situation, for whom, when due, and when closed."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cs_sync.book_reads import TASK_COLUMNS
from cs_sync.config import YEAR_END_BREAK
from cs_sync.rules.calendar import closed_days
from cs_sync.rules.expressions import ExpressionError
from cs_sync.rules.phases import PhaseSettings
from cs_sync.rules.task_presets import build_rule, preset_rules
from cs_sync.rules.tasks import (
    TaskSettings,
    Template,
    choose_owners,
    new_tasks,
    task_key,
    tasks_to_close,
    wanted_pairs,
)

AS_OF = date(2026, 11, 24)  # a Tuesday; 2026-11-23 was a public holiday
CLOSED = closed_days("JP", YEAR_END_BREAK, range(2026, 2028))
PRESETS = preset_rules(PhaseSettings())
RULES = tuple(build_rule(name, raw, {}) for name, raw in PRESETS.items())
SETTINGS = TaskSettings(default_owner_id="005MANAGER", max_per_run=200, rules=RULES)
NAN = np.nan

# A healthy, established High Touch account: no rule fires for it.
BASE: dict[str, Any] = {
    "name": "株式会社テスト",
    "segment": "High Touch",
    "arr": 1_200_000,
    "seats": 100,
    "grade": "B",
    "score": 72.0,
    "reasons": "B (72): active users 60% of seats (target 80%) −13 pts",
    "onboarded": True,
    "active_ratio": 0.6,
    "months_since_start": 8,
    "months_without_login": 0.0,
    "monthly_feature": 0.0,
    "days_to_renewal": 200,
    "renewal_date": "2027-06-12",
    "renewal_strategy": None,
    "next_action": None,
    "next_action_date": None,
    "days_to_season": 120,
    "seasonal_last_season": 40.0,
    "champion": 1,
    "sponsors_lost": 0.0,
    "days_since_touch": 20.0,
    "sponsors_left": None,
    "phase": "Self-running",
    "prev_grade": "B",
    "prev_score": 72.0,
    "prev_phase": "Self-running",
    "owner_id": "005OWNER",
    "owner_active": True,
    "sub_csm_id": "005SUB",
    "sub_csm_active": True,
}


def table(*situations: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [{**BASE, "account_id": f"001{i:015d}", **s} for i, s in enumerate(situations)]
    )


def fired(settings: TaskSettings = SETTINGS, **situation: Any) -> list[str]:
    return wanted_pairs(table(situation), settings)["rule"].tolist()


@pytest.mark.parametrize(
    ("situation", "rules"),
    [
        pytest.param({}, [], id="healthy established account: nothing to do"),
        pytest.param({"grade": "D"}, ["reonboard"], id="health D: re-onboarding"),
        pytest.param(
            {"grade": "D", "segment": "Tech Touch"},
            [],
            id="health D in the tech-touch tail: left to automated programmes",
        ),
        pytest.param(
            {"onboarded": False, "months_since_start": 4},
            ["onboarding_overdue"],
            id="not onboarded 4 months in: escalate",
        ),
        pytest.param(
            {"onboarded": False, "months_since_start": 2}, [], id="month 2: still in the window"
        ),
        pytest.param(
            {"months_without_login": 2.0}, ["dormant_checkin"], id="no login for 2 months"
        ),
        pytest.param(
            {"monthly_feature": 2.0},
            ["tool_switch_check"],
            id="payslips not sent for 2 months: did they switch tools?",
        ),
        pytest.param({"monthly_feature": 1.0}, [], id="one month without it: not yet"),
        pytest.param(
            {"days_to_renewal": 90}, ["renewal_review"], id="renewal window: value review"
        ),
        pytest.param({"days_to_renewal": -3}, [], id="renewal date passed"),
        pytest.param(
            {"sponsors_lost": 1.0, "sponsors_left": "山田 太郎 (economic_buyer)"},
            ["sponsor_left"],
            id="the economic buyer left since the last run: meet whoever takes over",
        ),
        pytest.param({"sponsors_lost": NAN}, [], id="no earlier run to compare: nothing"),
        pytest.param(
            {"days_since_touch": 75.0}, ["no_touch"], id="high touch, no touch for 75 days"
        ),
        pytest.param(
            {"days_since_touch": 75.0, "segment": "Low Touch"},
            [],
            id="no touch matters for high touch only",
        ),
        pytest.param(
            {"days_to_season": 30},
            ["seasonal_checkin"],
            id="year-end adjustment season in 30 days, used last year: will you use it?",
        ),
        pytest.param(
            {"days_to_season": 30, "seasonal_last_season": 0.0},
            [],
            id="season coming but never used: no check-in",
        ),
        pytest.param(
            {"grade": "A", "months_since_start": 14},
            ["advocate_ask"],
            id="grade A, 14 months in, a champion: ask for a case study or expansion",
        ),
        pytest.param(
            {"grade": "A", "months_since_start": 14, "segment": "Low Touch"},
            [],
            id="advocate ask is for high touch only",
        ),
        pytest.param(
            {"grade": "A", "months_since_start": 14, "champion": 0},
            [],
            id="no champion to ask",
        ),
        pytest.param(
            {"grade": "D", "days_to_renewal": 30, "monthly_feature": 3.0},
            ["reonboard", "tool_switch_check", "renewal_review"],
            id="several situations at once: one Task per rule",
        ),
        pytest.param(
            {
                "grade": None,
                "onboarded": False,
                "months_since_start": NAN,
                "monthly_feature": NAN,
                "months_without_login": NAN,
                "days_to_renewal": NAN,
                "days_to_season": NAN,
                "champion": NAN,
            },
            [],
            id="nothing known: no rule fires, none raises",
        ),
    ],
)
def test_which_presets_fire(situation: dict[str, Any], rules: list[str]) -> None:
    assert fired(**situation) == rules


def edge_rule(**extra: Any) -> TaskSettings:
    rule = build_rule(
        "health_drop",
        {
            "when": 'grade in ["C", "D"]',
            "trigger": "edge",
            "subject": "drop {name}",
            "description": "{reasons}",
            **extra,
        },
        {},
    )
    return TaskSettings(rules=(rule,))


@pytest.mark.parametrize(
    ("previous", "now", "fires"),
    [
        pytest.param("B", "C", True, id="fell from B to C: fires"),
        pytest.param("C", "D", False, id="already C at the last run: no new episode"),
        pytest.param("D", "D", False, id="still D: nothing"),
        pytest.param(None, "D", True, id="first run: fires"),
        pytest.param("D", "B", False, id="recovered"),
    ],
)
def test_edge_trigger_compares_with_the_last_run(
    previous: str | None, now: str, fires: bool
) -> None:
    assert fired(edge_rule(), prev_grade=previous, grade=now) == (["health_drop"] if fires else [])


def existing(
    account: str, rule: str, period: str, is_closed: bool, created: str | None
) -> dict[str, Any]:
    return {
        "task_id": f"00T{rule[:3]}{period}",
        "key": f"cs-sync:{rule}:{account}:{period}",
        "rule": rule,
        "account_id": account,
        "is_closed": is_closed,
        "description": "Health is D.",
        "created_date": created,
    }


ACCOUNT = "001000000000000000"
NO_TASKS = pd.DataFrame(columns=TASK_COLUMNS)  # nothing in Salesforce yet


@pytest.mark.parametrize(
    ("tasks", "created"),
    [
        pytest.param([], True, id="no Task yet: create"),
        pytest.param(
            [existing(ACCOUNT, "reonboard", "2026-11", True, "2026-11-02T09:00:00.000+0000")],
            False,
            id="this month's Task exists (closed): the same key, nothing new",
        ),
        pytest.param(
            [existing(ACCOUNT, "reonboard", "2026-08", False, "2026-08-03T09:00:00.000+0000")],
            False,
            id="an open Task from August: not a second one",
        ),
        pytest.param(
            [existing(ACCOUNT, "reonboard", "2026-10", True, "2026-10-01T09:00:00.000+0000")],
            False,
            id="closed 54 days ago, cooldown 60: wait",
        ),
        pytest.param(
            [existing(ACCOUNT, "reonboard", "2026-09", True, "2026-09-01T09:00:00.000+0000")],
            True,
            id="closed 84 days ago: past the cooldown, create",
        ),
        pytest.param(
            [existing(ACCOUNT, "dormant_checkin", "2026-11", False, None)],
            True,
            id="an open Task of another rule does not block",
        ),
    ],
)
def test_keys_open_tasks_and_cooldowns(tasks: list[dict[str, Any]], created: bool) -> None:
    frame = pd.DataFrame(tasks, columns=TASK_COLUMNS)
    accounts = table({"grade": "D"})
    made = new_tasks(wanted_pairs(accounts, SETTINGS), accounts, frame, SETTINGS, AS_OF, "en")
    assert len(made.tasks) == (1 if created else 0)


def test_task_text_due_date_priority_and_key() -> None:
    accounts = table({"grade": "D"})
    made = new_tasks(
        wanted_pairs(accounts, SETTINGS),
        accounts,
        NO_TASKS,
        SETTINGS,
        AS_OF,
        "ja",
        CLOSED,
    )
    task = made.tasks.iloc[0]
    assert task["key"] == "cs-sync:reonboard:001000000000000000:2026-11"
    assert task["subject"] == "【cs-sync】再オンボーディング：株式会社テスト（ヘルス D）"
    assert task["description"].startswith("ヘルススコアが D です。理由：B (72)")
    assert task["description"].endswith("（cs-sync が自動作成）")
    assert task["due_date"] == date(2026, 12, 1)  # five business days
    assert task["priority"] == "High"
    assert (task["owner_id"], task["owner_source"]) == ("005OWNER", "owner")


def test_due_dates_skip_the_year_end_break() -> None:
    accounts = table({"grade": "D"})
    made = new_tasks(
        wanted_pairs(accounts, SETTINGS),
        accounts,
        NO_TASKS,
        SETTINGS,
        date(2026, 12, 24),
        "en",
        CLOSED,
    )
    # 12-25 Fri, 12-28 Mon, then the break (12-29 to 01-03), 01-04 Mon, 01-05 Tue, 01-06 Wed
    assert made.tasks.iloc[0]["due_date"] == date(2027, 1, 6)


def test_task_key_is_stable_per_account_and_month() -> None:
    assert task_key("reonboard", ACCOUNT, AS_OF) == task_key(
        "reonboard", ACCOUNT, date(2026, 11, 30)
    )
    assert task_key("reonboard", ACCOUNT, date(2026, 12, 1)).endswith(":2026-12")


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
    accounts = table({"owner_active": owner_active, "sub_csm_active": sub_active})
    owner, source = choose_owners(accounts, default)
    assert (owner[0], source[0]) == expected


def test_no_owner_is_reported_not_created() -> None:
    accounts = table({"grade": "D", "owner_active": False, "sub_csm_active": False})
    settings = TaskSettings(rules=RULES)
    made = new_tasks(
        wanted_pairs(accounts, settings),
        accounts,
        NO_TASKS,
        settings,
        AS_OF,
        "en",
    )
    assert made.tasks.empty and made.no_owner == [(ACCOUNT, "株式会社テスト")]


def test_caps_serve_rules_in_order_and_big_accounts_first() -> None:
    accounts = table(
        {"grade": "D", "arr": 100},
        {"grade": "D", "arr": 900},
        {"monthly_feature": 3.0, "arr": 5000, "owner_id": "005OTHER"},
        {"grade": "D", "arr": 500},
    )
    settings = TaskSettings(rules=RULES, max_per_run=3, max_per_owner=2)
    empty = NO_TASKS
    made = new_tasks(wanted_pairs(accounts, settings), accounts, empty, settings, AS_OF, "en")
    chosen = list(zip(made.tasks["rule"], made.tasks["account_id"].str[-1], strict=True))
    # reonboard first, largest ARR first, two per owner; then the other owner's task
    assert chosen == [("reonboard", "1"), ("reonboard", "3"), ("tool_switch_check", "2")]
    assert made.held_back == {"reonboard": 1}


def open_task(account: str, rule: str = "reonboard") -> dict[str, Any]:
    return existing(account, rule, "2026-10", False, "2026-10-05T09:00:00.000+0000")


@pytest.mark.parametrize(
    ("task", "situation", "closes"),
    [
        pytest.param(open_task(ACCOUNT), {"grade": "B"}, True, id="recovered to B: close"),
        pytest.param(open_task(ACCOUNT), {"grade": "D"}, False, id="still D: stays open"),
        pytest.param(
            open_task("001999999999999999"), {"grade": "B"}, False, id="account not in this run"
        ),
        pytest.param(
            open_task(ACCOUNT, rule="custom"), {"grade": "B"}, False, id="rule no longer configured"
        ),
        pytest.param(
            open_task(ACCOUNT, rule="dormant_checkin"),
            {"months_without_login": 0.0},
            True,
            id="logging in again: the dormant check-in closes",
        ),
    ],
)
def test_open_tasks_close_when_the_condition_clears(
    task: dict[str, Any], situation: dict[str, Any], closes: bool
) -> None:
    accounts = table(situation)
    closing = tasks_to_close(
        pd.DataFrame([task]), wanted_pairs(accounts, SETTINGS), accounts, SETTINGS, AS_OF, "en"
    )
    assert len(closing) == (1 if closes else 0)


def test_closing_note_says_why() -> None:
    accounts = table({"grade": "B"})
    closing = tasks_to_close(
        pd.DataFrame([open_task(ACCOUNT)]),
        wanted_pairs(accounts, SETTINGS),
        accounts,
        SETTINGS,
        AS_OF,
        "ja",
    )
    assert closing.iloc[0]["description"] == (
        "Health is D.\n\n[cs-sync 2026-11-24] 自動クローズ：「再オンボーディング」の条件に"
        "当てはまらなくなりました（現在：ヘルス B、フェーズ Self-running）。"
    )


def test_a_rule_without_auto_close_leaves_its_tasks_open() -> None:
    rule = build_rule("reonboard", {**PRESETS["reonboard"], "auto_close": False}, {})
    settings = TaskSettings(rules=(rule,))
    accounts = table({"grade": "B"})
    closing = tasks_to_close(
        pd.DataFrame([open_task(ACCOUNT)]),
        wanted_pairs(accounts, settings),
        accounts,
        settings,
        AS_OF,
        "en",
    )
    assert closing.empty


def test_disabled_means_no_tasks() -> None:
    settings = TaskSettings(enabled=False, rules=RULES)
    assert fired(settings, grade="D") == []


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        (
            "{name}: {active_ratio:.0%} active",
            {"name": "Acme", "active_ratio": 0.456},
            "Acme: 46% active",
        ),
        ("{arr:,.0f} yen", {"arr": 1200000.0}, "1,200,000 yen"),
        ("next: {next_action}", {"next_action": None}, "next: -"),
        ("{{literal}} {grade}", {"grade": "A"}, "{literal} A"),
        (
            "due {next_action_date}",
            {"next_action_date": pd.Timestamp("2027-01-25")},
            "due 2027-01-25",
        ),
    ],
)
def test_templates(text: str, values: dict[str, Any], expected: str) -> None:
    assert Template("rule", text).render(values) == expected


@pytest.mark.parametrize(
    "text",
    ["{name.__class__}", "{0}", "{name!r}", "open {brace", "{name:>{width}}"],
)
def test_templates_evaluate_nothing_but_fields(text: str) -> None:
    with pytest.raises(ExpressionError, match="a field is written"):
        Template("tasks.x.subject.en", text)
