"""Playbooks: when an instance starts, how each step is dated, that nothing is created
overdue or twice, and when open steps close."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import pytest

from cs_sync.book_reads import TASK_COLUMNS
from cs_sync.config import YEAR_END_BREAK
from cs_sync.config_playbooks import PlaybooksFile, compile_playbooks
from cs_sync.rules.calendar import closed_days
from cs_sync.rules.expressions import compile_expression
from cs_sync.rules.playbooks import (
    Playbook,
    PlaybookLimits,
    PlaybookSettings,
    Step,
    plan_playbooks,
    render_steps,
)
from cs_sync.rules.tasks import Template

AS_OF = date(2026, 11, 24)  # a Tuesday
CLOSED = closed_days("JP", YEAR_END_BREAK, range(2026, 2028))


def account(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account_id": "001A",
        "name": "株式会社テスト",
        "segment": "High Touch",
        "arr": 1_000_000.0,
        "owner_id": "005CSM",
        "owner_active": True,
        "sub_csm_id": "005SUB",
        "sub_csm_active": True,
        "phase_delayed": True,
        "grade": "B",
        "prev_grade": "B",
        "busy_mask": 0,
        "renewal_anchor": pd.NaT,
        "plan_quote": pd.NaT,
        "renewal_steps_done": 0,
    }
    return base | changes


def step(name: str, days: int = 0, **more: Any) -> Step:
    return Step(
        name,
        {"ja": Template(name, f"{name} {{name}}"), "en": Template(name, f"{name} {{name}}")},
        {"ja": Template(name, "{playbook} {step_due}"), "en": Template(name, "{step_due}")},
        days,
        **more,
    )


def book(*steps: Step, **more: Any) -> PlaybookSettings:
    playbook = Playbook(
        "delay",
        {"ja": "遅延", "en": "Delay"},
        compile_expression("when", more.pop("when", "phase_delayed")),
        steps,
        **more,
    )
    return PlaybookSettings(PlaybookLimits(show_days_ahead=14), (playbook,))


def existing(*rows: tuple[str, bool]) -> pd.DataFrame:
    """cs-sync Tasks read back: (key, closed)."""
    frame = pd.DataFrame(
        [
            {
                "task_id": f"00T{i}",
                "key": key,
                "rule": key.split(":")[1],
                "account_id": key.split(":")[2],
                "is_closed": done,
                "description": "",
            }
            for i, (key, done) in enumerate(rows)
        ],
        columns=TASK_COLUMNS,
    )
    return frame


def plan(scored: list[dict[str, Any]], settings: PlaybookSettings, tasks: Any = None, **kw: Any):
    return plan_playbooks(
        pd.DataFrame(scored),
        tasks if tasks is not None else existing(),
        settings,
        kw.pop("as_of", AS_OF),
        "en",
        CLOSED,
        kw.pop("default_owner", None),
        kw.pop("trace", False),
    )


def test_an_instance_starts_today_with_the_steps_due_soon() -> None:
    settings = book(step("review", 0), step("plan", 5), step("escalate", 15, owner="sub_csm"))
    made = plan([account()], settings)
    assert list(made.steps["key"]) == [
        "cs-sync:delay/review:001A:2026-11-24",
        "cs-sync:delay/plan:001A:2026-11-24",
    ]
    assert list(made.steps["due_date"]) == [date(2026, 11, 24), date(2026, 12, 1)]
    shown = render_steps(made.steps, pd.DataFrame([account()]), settings, "ja")
    assert shown["subject"][0] == "review 株式会社テスト"
    assert shown["description"][1].startswith("遅延 2026-12-01")
    assert made.instances.to_dict("records") == [
        {"playbook": "delay", "account_id": "001A", "period": "2026-11-24", "started": True}
    ]
    # two weeks later the same instance (its start in the key) brings the third step, owned
    # by the sub CSM, and asks for none of the two created before
    tasks = existing(*((key, False) for key in made.steps["key"]))
    later = plan([account()], settings, tasks, as_of=date(2026, 12, 8))
    assert list(later.steps["key"]) == ["cs-sync:delay/escalate:001A:2026-11-24"]
    assert list(later.steps["owner_id"]) == ["005SUB"]
    assert later.steps["due_date"][0] == date(2026, 12, 15)  # 15 business days after the start


def test_nothing_is_created_overdue_or_out_of_order() -> None:
    settings = book(step("review", 0), step("plan", 5), step("escalate", 15))
    tasks = existing(("cs-sync:delay/review:001A:2026-11-24", True))
    # a month of runs missed: both late steps are due on the run's business day, in order
    made = plan([account()], settings, tasks, as_of=date(2026, 12, 26))  # a Saturday
    assert list(made.steps["due_date"]) == [date(2026, 12, 28), date(2026, 12, 28)]
    assert made.steps["redated"].all()


def test_the_condition_clearing_closes_the_open_steps() -> None:
    settings = book(step("review", 0), step("plan", 5))
    tasks = existing(
        ("cs-sync:delay/review:001A:2026-11-24", True),
        ("cs-sync:delay/plan:001A:2026-11-24", False),
    )
    made = plan([account(phase_delayed=False)], settings, tasks, as_of=date(2026, 12, 3))
    assert made.steps.empty
    assert list(made.closes["key"]) == ["cs-sync:delay/plan:001A:2026-11-24"]
    assert "no longer applies" in made.closes["description"][0]
    # an account not scored in this run is never closed on a guess
    other = plan([account(account_id="001B", phase_delayed=False)], settings, tasks)
    assert other.closes.empty


def test_a_finished_instance_restarts_only_after_its_pause() -> None:
    settings = book(step("review", 0), restart_after_days=90)
    tasks = existing(("cs-sync:delay/review:001A:2026-08-01", True))
    assert plan([account()], settings, tasks, as_of=date(2026, 10, 1)).steps.empty
    again = plan([account()], settings, tasks, as_of=date(2026, 11, 24))
    assert list(again.steps["key"]) == ["cs-sync:delay/review:001A:2026-11-24"]


def test_an_edge_trigger_starts_on_the_change_only() -> None:
    settings = book(step("call", 0), when='grade == "D"', trigger="edge")
    assert plan([account(grade="D", prev_grade="D")], settings).steps.empty
    assert len(plan([account(grade="D", prev_grade="B")], settings).steps) == 1


def renewal_book(**more: Any) -> PlaybookSettings:
    steps = (
        step("value_review", date="plan_value_review", skip_when=_done(0)),
        step("quote", date="plan_quote", skip_when=_done(1)),
    )
    playbook = Playbook(
        "renewal_x",
        {"en": "Renewal", "ja": "更新"},
        compile_expression("when", 'renewal_strategy == "X"'),
        steps,
        anchor="renewal_anchor",
        family="renewal",
        **more,
    )
    return PlaybookSettings(PlaybookLimits(show_days_ahead=14), (playbook,))


def _done(index: int) -> Any:
    return compile_expression("skip", f"renewal_steps_done > {index}")


def renewal_account(**changes: Any) -> dict[str, Any]:
    return account(
        renewal_strategy="X",
        renewal_anchor=pd.Timestamp("2027-02-26"),
        plan_value_review=pd.Timestamp("2026-11-20"),
        plan_quote=pd.Timestamp("2026-12-04"),
        **changes,
    )


def test_renewal_steps_take_the_plan_dates_and_skip_what_the_stage_shows_done() -> None:
    made = plan([renewal_account()], renewal_book())
    keys = list(made.steps["key"])
    assert keys == [
        "cs-sync:renewal_x/value_review:001A:2027-02-26",
        "cs-sync:renewal_x/quote:001A:2027-02-26",
    ]
    # the value review's date has passed: due today, not in the past; the quote on its date
    assert list(made.steps["due_date"]) == [AS_OF, date(2026, 12, 4)]
    done = plan([renewal_account(renewal_steps_done=1)], renewal_book())
    assert list(done.steps["key"]) == ["cs-sync:renewal_x/quote:001A:2027-02-26"]
    traced = plan([renewal_account(renewal_steps_done=1)], renewal_book(), trace=True).trace
    assert traced[traced["state"] == "skipped"]["step"].tolist() == ["value_review"]


def test_a_renewal_family_shares_its_steps_and_a_moved_anchor_closes_the_old() -> None:
    tasks = existing(("cs-sync:renewal_y/value_review:001A:2027-02-26", True))
    other = Playbook(
        "renewal_y",
        {"en": "Y", "ja": "Y"},
        compile_expression("when", 'renewal_strategy == "Y"'),
        (),
        anchor="renewal_anchor",
        family="renewal",
    )
    settings = renewal_book()
    settings = PlaybookSettings(settings.limits, (*settings.playbooks, other))
    made = plan([renewal_account()], settings, tasks)
    assert list(made.steps["key"]) == ["cs-sync:renewal_x/quote:001A:2027-02-26"]
    # the renewal was rescheduled: the old instance's open step closes, saying so
    tasks = existing(("cs-sync:renewal_x/quote:001A:2027-01-29", False))
    made = plan([renewal_account()], renewal_book(), tasks)
    assert list(made.closes["key"]) == ["cs-sync:renewal_x/quote:001A:2027-01-29"]
    assert "moved from 2027-01-29 to 2027-02-26" in made.closes["description"][0]


def test_busy_months_move_steps_out_of_them() -> None:
    december = 1 << 11
    settings = book(step("plan", 10))
    made = plan([account(busy_mask=december)], settings, as_of=date(2026, 11, 30))
    # 10 business days after 11-30 is in December: the step moves to January's first
    # business day after the year-end break, so it is not created yet (without the busy
    # month it would be: 12-14 is within the two weeks shown ahead)
    assert made.steps.empty
    assert len(plan([account()], settings, as_of=date(2026, 11, 30)).steps) == 1
    ahead = PlaybookSettings(PlaybookLimits(show_days_ahead=60), settings.playbooks)
    shown = plan([account(busy_mask=december)], ahead, as_of=date(2026, 11, 30))
    assert list(shown.steps["due_date"]) == [date(2027, 1, 4)]


def test_owners_fall_back_when_a_csm_has_left() -> None:
    settings = book(step("review", 0, owner="sub_csm"), step("call", 0))
    made = plan([account(sub_csm_active=False)], settings)
    assert list(made.steps["owner_id"]) == ["005CSM", "005CSM"]
    assert list(made.steps["owner_source"]) == ["owner", "owner"]
    named = book(step("review", 0, owner="user:005000000000001"))
    assert list(plan([account()], named).steps["owner_id"]) == ["005000000000001"]


def test_segments_limit_who_gets_a_playbook() -> None:
    settings = book(step("review", 0), segments=("Low Touch",))
    assert plan([account()], settings).steps.empty


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"anchor": "renewal_dat"}, "anchor: 'renewal_dat' is not a date column"),
        (
            {"steps": [{"name": "a", "subject": "s", "description": "d", "owner": "queue:00G1"}]},
            "a Salesforce queue cannot own a Task",
        ),
        ({"steps": [{"name": "a", "subject": "{nam}", "description": "d"}]}, "unknown field {nam}"),
        (
            {"steps": [{"name": "a", "subject": "s", "description": "d", "date": "arr"}]},
            "'arr' is not a date column",
        ),
        ({"when": "phase_delayd"}, "unknown column 'phase_delayd'"),
    ],
)
def test_a_bad_playbook_is_named(tmp_path: Any, row: dict[str, Any], message: str) -> None:
    from cs_sync.config import load_config
    from cs_sync.errors import ConfigError
    from tests.test_config import MINIMAL

    base = {
        "name": "mine",
        "when": "phase_delayed",
        "steps": [{"name": "a", "subject": "s", "description": "d"}],
    } | row
    lines = [f"{k} = {_toml(v)}" for k, v in base.items() if k != "steps"]
    steps = "".join(
        "\n[[playbooks.playbook.steps]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in s.items())
        for s in base["steps"]
    )
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL + "\n[[playbooks.playbook]]\n" + "\n".join(lines) + "\n" + steps)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert "playbooks" in str(caught.value)


def _toml(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def test_the_presets_compile_against_the_columns_a_run_has(tmp_path: Any) -> None:
    """The shipped playbooks load with the example configuration (every condition, date
    column and template field known); against too few columns each mistake is named."""
    import shutil
    from pathlib import Path

    from cs_sync.config import load_config

    root = Path(__file__).resolve().parents[2]
    shutil.copy(root / "config.example.toml", tmp_path / "config.toml")
    loaded = load_config(tmp_path / "config.toml").playbooks.playbooks
    assert [p.name for p in loaded] == [
        "renewal_rescue",
        "renewal_very_aggressive",
        "renewal_aggressive",
        "renewal_passive",
        "phase_delay",
    ]
    assert all(p.steps for p in loaded)
    problems: list[str] = []
    compile_playbooks(PlaybooksFile(), ["x"], set(), problems)
    assert problems and all(p.startswith("playbooks.") for p in problems)
    assert any(
        "renewal_rescue.anchor: 'renewal_anchor' is not a date column" in p for p in problems
    )


def test_under_a_cap_the_most_urgent_comes_first() -> None:
    """A renewal step due today goes before a rule's Task due in ten business days; the rest
    is held back for the next run, counted."""
    from cs_sync.rules.task_presets import build_rule
    from cs_sync.rules.tasks import TaskSettings, new_tasks, wanted_pairs

    rule = build_rule(
        "ask",
        {"when": "true", "subject": "ask", "description": "d", "due_in_business_days": 10},
        {},
    )
    settings = TaskSettings(max_per_run=1, rules=(rule,))
    scored = pd.DataFrame([renewal_account()])
    made = plan([renewal_account()], renewal_book())
    tasks = new_tasks(
        wanted_pairs(scored, settings),
        scored,
        existing(),
        settings,
        AS_OF,
        "en",
        CLOSED,
        made.steps,
    )
    assert list(tasks.tasks["key"]) == ["cs-sync:renewal_x/value_review:001A:2027-02-26"]
    assert tasks.held_back == {"ask": 1, "renewal_x/quote": 1}


def test_a_later_step_is_never_due_before_an_earlier_one() -> None:
    """Steps written out of order (the second dated before the first) wait for the first."""
    settings = book(step("call", 6), step("recap", 2))
    made = plan([account()], settings)
    assert list(made.steps["key"].str.split(":").str[1]) == ["delay/call", "delay/recap"]
    assert list(made.steps["due_date"]) == [date(2026, 12, 2), date(2026, 12, 2)]
