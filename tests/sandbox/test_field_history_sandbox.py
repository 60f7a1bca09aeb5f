"""Field History Tracking in the sandbox org, as Salesforce keeps it: each change to a tracked
field through any write API becomes an AccountHistory / OpportunityFieldHistory row (field,
old and new value, when), read-only, its values not filterable, hidden with the field."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from cs_sync.sandbox.access import add_permission_set
from cs_sync.sandbox.server import Sandbox
from tests.sandbox.test_access_sandbox import _restricted_login


def _history(sf: Salesforce, account: str) -> list[dict[str, Any]]:
    query = (
        "SELECT Field, OldValue, NewValue, CreatedById, CreatedDate FROM AccountHistory "
        f"WHERE AccountId = '{account}' ORDER BY CreatedDate"
    )
    return [
        {k: v for k, v in r.items() if k != "attributes"}
        for r in sf.query_all(query)["records"]
        if r["CreatedDate"] >= "2026-11-25"  # not the seeded history
    ]


def _account(sf: Salesforce, where: str = "") -> dict[str, Any]:
    return sf.query(
        "SELECT Id, OwnerId, CS_Sentiment__c, CS_Budget_Status__c, CS_Seats__c FROM Account "
        f"WHERE CS_Sentiment__c = 'Positive' {where} LIMIT 1"
    )["records"][0]


def test_each_change_to_a_tracked_field_is_a_history_row(sf: Salesforce) -> None:
    account = _account(sf)
    sf.Account.update(account["Id"], {"CS_Sentiment__c": "Neutral", "CS_Seats__c": 99})
    sf.Account.update(account["Id"], {"CS_Sentiment__c": "Neutral"})  # no change: no row
    sf.restful(  # sObject Collections
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {
                    "attributes": {"type": "Account"},
                    "id": account["Id"],
                    "CS_Budget_Status__c": "Cut",
                }
            ]
        },
    )
    sf.bulk2.Account.update(  # Bulk API 2.0
        records=[{"Id": account["Id"], "CS_Sentiment__c": "Negative"}], wait=0.05
    )
    rows = _history(sf, account["Id"])
    assert [(r["Field"], r["OldValue"], r["NewValue"]) for r in rows] == [
        ("CS_Sentiment__c", "Positive", "Neutral"),
        ("CS_Budget_Status__c", account["CS_Budget_Status__c"], "Cut"),
        ("CS_Sentiment__c", "Neutral", "Negative"),
    ]  # seats are not tracked
    assert len({r["CreatedById"] for r in rows}) == 1


def test_an_opportunity_stage_change_is_kept(sf: Salesforce) -> None:
    opportunity = sf.query(
        "SELECT Id, StageName, Amount FROM Opportunity WHERE IsClosed = false LIMIT 1"
    )["records"][0]
    sf.Opportunity.update(opportunity["Id"], {"StageName": "Negotiation", "Amount": 123456})
    rows = sf.query(
        "SELECT OpportunityId, Field, OldValue, NewValue FROM OpportunityFieldHistory "
        f"WHERE OpportunityId = '{opportunity['Id']}'"
    )["records"]
    changed = {r["Field"]: (r["OldValue"], r["NewValue"]) for r in rows}
    assert changed["Amount"] == (opportunity["Amount"], 123456.0)
    if opportunity["StageName"] != "Negotiation":
        assert changed["StageName"] == (opportunity["StageName"], "Negotiation")


def test_history_is_read_only_and_its_values_cannot_be_filtered(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.AccountHistory.describe()["fields"]}
    assert set(fields) == {
        "Id",
        "AccountId",
        "Field",
        "OldValue",
        "NewValue",
        "CreatedById",
        "CreatedDate",
        "IsDeleted",
    }
    assert fields["OldValue"]["type"] == "anyType" and not fields["OldValue"]["filterable"]
    assert not any(f["createable"] or f["updateable"] for f in fields.values())
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Id FROM AccountHistory WHERE NewValue = 'Negative'")
    assert raised.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "field 'NewValue' can not be filtered" in raised.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT SystemModstamp FROM AccountHistory")
    assert raised.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_a_field_created_with_track_history_is_tracked(sandbox: Sandbox, sf: Salesforce) -> None:
    sf.restful(
        "tooling/sobjects/CustomField",
        method="POST",
        json={
            "FullName": "Account.CS_Tier__c",
            "Metadata": {"label": "Tier", "type": "Text", "length": 20, "trackHistory": True},
        },
    )
    user = sf.query("SELECT Id FROM User WHERE Username = 'cs-sync@example.co.jp'")
    add_permission_set(
        sandbox.store,
        "Tier",
        "Tier",
        fields=["Account.CS_Tier__c"],
        assignees=[user["records"][0]["Id"]],
    )
    account = _account(sf)
    sf.Account.update(account["Id"], {"CS_Tier__c": "Gold"})
    rows = _history(sf, account["Id"])
    assert [(r["Field"], r["OldValue"], r["NewValue"]) for r in rows] == [
        ("CS_Tier__c", None, "Gold")
    ]


def test_the_history_of_a_field_the_user_cannot_read_is_hidden(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    restricted, _ = _restricted_login(sandbox, permissions=("PermissionsViewAllData",))
    account = _account(sf)
    sf.Account.update(account["Id"], {"CS_Sentiment__c": "Neutral", "Name": "Renamed"})
    query = f"SELECT Field FROM AccountHistory WHERE AccountId = '{account['Id']}'"
    assert {r["Field"] for r in restricted.query(query)["records"]} >= {"CS_Sentiment__c"}
    # once the field's Read is taken away from the user, its history goes with it
    store = sandbox.store
    own = next(p["Id"] for p in store.all("PermissionSet") if p["Name"] == "X00eRestricted")
    for grant in store.all("FieldPermissions"):
        if grant["ParentId"] == own and grant["Field"] == "Account.CS_Sentiment__c":
            store.replace(
                grant["Id"], {**grant, "PermissionsRead": False, "PermissionsEdit": False}
            )
    assert "CS_Sentiment__c" not in {r["Field"] for r in restricted.query(query)["records"]}
