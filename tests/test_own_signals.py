"""A team's own signals through the sandbox over HTTP: CSM activity and support cases read
once per object, Account fields of its own, a scorecard for High Touch, picklist values
mapped, and every setting the org cannot satisfy named with its fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cs_sync.demo import DemoFolder
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, login, one_json


def _append(folder: DemoFolder, text: str) -> str:
    path = folder.config_path
    path.write_text(path.read_text("utf-8") + text, "utf-8")
    return str(path)


def test_the_demo_scores_on_activity_cases_and_its_own_fields(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo40
    config = str(folder.config_path)
    queried = sandbox.salesforce.queries.objects_queried
    queried.clear()
    code, result = one_json(capsys, "run", "--config", config, "--as-of", AS_OF.isoformat())
    assert (code, result["status"], result["errors"]) == (0, "ok", [])
    # one query per object: cs-sync's Tasks and the completed ones are two questions of Task
    assert (queried["Event"], queried["Case"], queried["Task"]) == (1, 1, 2)
    assert queried["Contact"] == 1  # the NPS answers kept on contacts
    high_touch = next(
        a["Id"]
        for a in sandbox.store.all("Account")
        if a.get("CS_Segment__c") == "High Touch" and a.get("Type") == "Customer - Direct"
    )
    code, explained = one_json(
        capsys, "explain", high_touch, "--config", config, "--as-of", AS_OF.isoformat()
    )
    health = explained["health"]
    assert health["scorecard"] == "high_touch"
    values = {m["measure"]: m["value"] for m in health["measures"]}
    assert 0 <= values["days_since_meeting"] <= 180
    assert values["high_priority_cases"] >= 0 and values["surveys_3m"] >= 0
    assert isinstance(values["risk_flag"], bool)
    assert values["detractor_share"] is None or 0 <= values["detractor_share"] <= 1
    assert 20 <= values["days_since_last_qbr"] <= 300  # a date field, as days since


@pytest.mark.parametrize(
    ("addition", "named"),
    [
        pytest.param(
            '\n[salesforce.activity]\nmeeting_types = ["Visit"]\n',
            "salesforce.activity.meeting_types = ['Visit']: 'Visit' is not a Event.Type value",
            id="meeting-type",
        ),
        pytest.param(
            '\n[salesforce.cases]\nhigh_priorities = ["Urgent"]\n',
            "salesforce.cases.high_priorities = ['Urgent']: 'Urgent' is not a Case.Priority",
            id="case-priority",
        ),
    ],
)
def test_a_value_the_org_does_not_have_is_named(
    demo40: tuple[DemoFolder, Sandbox],
    capsys: pytest.CaptureFixture[str],
    addition: str,
    named: str,
) -> None:
    folder, _ = demo40
    config = _append(folder, addition)
    code, result = one_json(capsys, "run", "--config", config, "--as-of", AS_OF.isoformat())
    assert (code, result["status"]) == (2, "failed")
    assert named in result["errors"][0]["message"]


@pytest.mark.parametrize(
    ("typed", "instead", "named"),
    [
        pytest.param(
            "[salesforce.fields]\n",
            '[salesforce.fields]\nnps = "NPS__c"\n',
            "salesforce.fields.nps = 'NPS__c': Account has no such field",
            id="own-account-field",
        ),
        pytest.param(
            'contact_field = "CS_NPS__c"',
            'contact_field = "NPS__c"',
            "surveys.contact_field = 'NPS__c': Contact has no such field",
            id="survey-contact-field",
        ),
    ],
)
def test_a_field_the_org_lacks_is_named_by_its_setting(
    demo40: tuple[DemoFolder, Sandbox],
    capsys: pytest.CaptureFixture[str],
    typed: str,
    instead: str,
    named: str,
) -> None:
    folder, _ = demo40
    text = folder.config_path.read_text("utf-8")
    assert typed in text
    folder.config_path.write_text(text.replace(typed, instead, 1), "utf-8")
    code, result = one_json(
        capsys, "run", "--config", str(folder.config_path), "--as-of", AS_OF.isoformat()
    )
    assert code == 2 and named in result["errors"][0]["message"]


def test_picklist_values_as_the_org_spells_them_are_mapped_or_named(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo40
    account = next(a for a in sandbox.store.all("Account") if a["Type"] == "Customer - Direct")
    sandbox.store.replace(account["Id"], {**account, "CS_Support_Plan__c": "プレミアム"})
    config = _append(
        folder,
        '\n[[health.measures]]\nname = "support_plan"\nweight = 5\n'
        "values = { Premium = 1.0, Standard = 0.6 }\n",
    )
    code, result = one_json(capsys, "plan", "--config", config, "--as-of", AS_OF.isoformat())
    unknown = [p for p in result["errors"] if p["kind"] == "unknown_value"]
    assert len(unknown) == 1
    assert (
        "Account field CS_Support_Plan__c = 'プレミアム' on 1 account(s)" in unknown[0]["message"]
    )
    assert "[salesforce.values]" in unknown[0]["message"]

    config = _append(folder, '\n[salesforce.values]\nsupport_plan = { "プレミアム" = "Premium" }\n')
    code, result = one_json(capsys, "plan", "--config", config, "--as-of", AS_OF.isoformat())
    assert [p for p in result["errors"] if p["kind"] == "unknown_value"] == []


def test_a_sponsor_who_left_since_the_last_run_gets_a_task_and_is_named(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo40
    config = str(folder.config_path)
    code, _ = one_json(capsys, "run", "--config", config, "--as-of", AS_OF.isoformat())
    assert code == 0
    sf = login(sandbox)
    role = sf.query(
        "SELECT Id, Contact.Name, Opportunity.AccountId FROM OpportunityContactRole "
        "WHERE Role = 'Economic Buyer' AND Opportunity.Account.CS_Segment__c = 'High Touch' "
        "AND Opportunity.Account.Type = 'Customer - Direct' LIMIT 1"
    )["records"][0]
    account = role["Opportunity"]["AccountId"]
    sf.OpportunityContactRole.update(role["Id"], {"Role": "Other"})  # no longer the EB
    next_day = (AS_OF + timedelta(days=1)).isoformat()
    code, result = one_json(capsys, "run", "--config", config, "--as-of", next_day)
    assert code == 0, result["errors"]
    made = sf.query_all(
        f"SELECT Subject FROM Task WHERE CS_Sync_Key__c LIKE 'cs-sync:sponsor_left:%' "
        f"AND WhatId = '{account}'"
    )["records"]
    name = role["Contact"]["Name"]
    assert len(made) == 1 and name in made[0]["Subject"]
    code, explained = one_json(capsys, "explain", account, "--config", config, "--as-of", next_day)
    assert explained["health"]["sponsors_left"] == f"{name} (economic_buyer)"
