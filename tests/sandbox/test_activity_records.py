"""Activities and cases as Salesforce saves them: AccountId set from what the record is
about, an event's day from its start, a case's IsClosed and ClosedDate from its status."""

from __future__ import annotations

from simple_salesforce import Salesforce

from cs_sync.sandbox.server import Sandbox
from tests.conftest import login


def test_an_activitys_account_comes_from_what_and_who(sandbox: Sandbox) -> None:
    sf: Salesforce = login(sandbox)
    opportunity = sf.query("SELECT Id, AccountId FROM Opportunity LIMIT 1")["records"][0]
    contact = sf.query("SELECT Id, AccountId FROM Contact LIMIT 1")["records"][0]
    owner = sf.query("SELECT Id FROM User WHERE IsActive = true LIMIT 1")["records"][0]["Id"]
    event = sf.Event.create(
        {
            "Subject": "定例",
            "OwnerId": owner,
            "WhatId": opportunity["Id"],
            "ActivityDateTime": "2026-11-20T01:00:00.000+0000",
            "DurationInMinutes": 60,
            "Type": "Meeting",
        }
    )["id"]
    saved = sf.Event.get(event)
    assert (saved["AccountId"], saved["ActivityDate"]) == (opportunity["AccountId"], "2026-11-20")
    task = sf.Task.create(
        {"Subject": "電話", "OwnerId": owner, "WhoId": contact["Id"], "Status": "Completed"}
    )["id"]
    assert sf.Task.get(task)["AccountId"] == contact["AccountId"]


def test_a_cases_status_decides_whether_it_is_closed(sandbox: Sandbox) -> None:
    sf: Salesforce = login(sandbox)
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    owner = sf.query("SELECT Id FROM User WHERE IsActive = true LIMIT 1")["records"][0]["Id"]
    case = sf.Case.create({"AccountId": account, "OwnerId": owner, "Status": "Working"})["id"]
    assert sf.Case.get(case)["IsClosed"] is False
    sf.Case.update(case, {"Status": "Closed"})
    closed = sf.Case.get(case)
    assert closed["IsClosed"] is True and closed["ClosedDate"]
