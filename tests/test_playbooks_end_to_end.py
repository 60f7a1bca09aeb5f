"""Playbooks on the sandbox org, through simple-salesforce over HTTP: the renewal plans and the
phase-delay flow become dated Tasks that agree with the Account's next action, none overdue,
none twice; a later run brings the next steps; a strategy that changes closes the old
playbook's open steps and does not ask again for a step already done."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from cs_sync.cli import main
from cs_sync.demo import DemoFolder, prepare_demo
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, login, one_json, served

KEY = "CS_Sync_Key__c"


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    folder = prepare_demo(tmp_path / "demo", 150, AS_OF, port=0)
    text = folder.config_path.read_text("utf-8")
    # no cap in the way: every step a run wants is created in that run
    folder.config_path.write_text(text.replace("max_per_owner = 25", "max_per_owner = 0"))
    with served(folder) as sandbox:
        yield folder, sandbox


def run(capsys: pytest.CaptureFixture[str], folder: DemoFolder, day: date) -> dict[str, Any]:
    code, result = one_json(
        capsys, "run", "--config", str(folder.config_path), "--as-of", day.isoformat()
    )
    assert code == 0, result["errors"]
    return result


def steps(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        task
        for task in login(sandbox).query_all(
            f"SELECT Id, {KEY}, ActivityDate, IsClosed, Description, WhatId FROM Task "
            f"WHERE {KEY} LIKE 'cs-sync:%/%'"
        )["records"]
    ]


def test_steps_are_dated_never_overdue_never_twice_and_agree_with_the_plan(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    first = run(capsys, folder, AS_OF)
    assert first["tasks_held_back"] == 0
    made = steps(sandbox)
    playbooks = {task[KEY].split(":")[1].split("/")[0] for task in made}
    assert {"phase_delay", "renewal_aggressive"} <= playbooks
    assert all(task["ActivityDate"] >= AS_OF.isoformat() for task in made)  # none overdue
    # each renewal's earliest plan step is the Account's next action, on the same date
    accounts = {
        a["Id"]: a
        for a in login(sandbox).query_all(
            "SELECT Id, CS_Next_Action_Date__c FROM Account WHERE CS_Renewal_Strategy__c != null"
        )["records"]
    }
    earliest: dict[str, str] = {}
    for task in made:
        rule = task[KEY].split(":")[1]
        if rule.startswith("renewal_") and not rule.endswith("/escalation"):
            account = task["WhatId"]
            earliest[account] = min(earliest.get(account, "9999"), task["ActivityDate"])
    assert earliest
    for account, day in earliest.items():
        assert accounts[account]["CS_Next_Action_Date__c"] == day

    again = run(capsys, folder, AS_OF)
    assert (again["tasks_created"], again["tasks_closed"]) == (0, 0)

    # six days on (still in the usage data's month): the next steps appear, no key twice
    later = run(capsys, folder, AS_OF + timedelta(days=6))
    assert later["tasks_created"] > 0
    keys = [task[KEY] for task in steps(sandbox)]
    assert len(keys) == len(set(keys)) > len(made)


def test_a_changed_strategy_closes_the_old_steps_and_keeps_what_was_done(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    run(capsys, folder, AS_OF)
    sf = login(sandbox)
    aggressive = [
        t for t in steps(sandbox) if "/value_review:" in t[KEY] and "renewal_aggr" in t[KEY]
    ]
    assert aggressive
    task = aggressive[0]
    account = task["WhatId"]
    sf.Task.update(task["Id"], {"Status": "Completed"})  # the CSM held the value review
    sf.Account.update(account, {"CS_Budget_Status__c": "Cut"})  # → Rescue
    result = run(capsys, folder, AS_OF + timedelta(days=1))
    mine = [t for t in steps(sandbox) if t["WhatId"] == account]
    still_open = [t for t in mine if "renewal_aggressive" in t[KEY] and not t["IsClosed"]]
    assert still_open == []  # the aggressive playbook's open steps closed, saying why
    closed_now = [
        t
        for t in mine
        if "renewal_aggressive" in t[KEY] and "自動クローズ" in (t["Description"] or "")
    ]
    assert closed_now and result["tasks_closed"] >= len(closed_now)
    rescue = {t[KEY].split(":")[1] for t in mine if "renewal_rescue" in t[KEY]}
    assert rescue, "the rescue playbook started"
    assert "renewal_rescue/value_review" not in rescue  # done under the other strategy


def test_explain_lists_each_playbook_step(demo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    folder, sandbox = demo
    run(capsys, folder, AS_OF)
    account = steps(sandbox)[0]["WhatId"]
    code, explained = one_json(
        capsys,
        "explain",
        "--config",
        str(folder.config_path),
        "--as-of",
        AS_OF.isoformat(),
        account,
    )
    assert code == 0
    running = [p for p in explained["playbooks"] if p["running_since"]]
    assert running and all(p["condition_met"] for p in running)
    states = {s["state"] for p in running for s in p["steps"]}
    assert "exists" in states
    assert main(["explain", "--config", str(folder.config_path), account]) == 0
    assert "Playbooks" in capsys.readouterr().out
