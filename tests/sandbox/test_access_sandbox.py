"""Field-level security and sharing in the sandbox org, as a real org applies them: a new field
is hidden until a permission set grants it, and a user without View All sees only their own
records and the children of what they see."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceMalformedRequest

from cs_sync.connectors.transport import build_session
from cs_sync.sandbox.access import add_permission_set
from cs_sync.sandbox.server import Sandbox
from tests.conftest import API_VERSION, login

RESTRICTED = "restricted@example.co.jp"


def _new_field(sf: Salesforce, name: str = "CS_Test_Score__c") -> dict[str, Any]:
    return sf.restful(
        "tooling/sobjects/CustomField",
        method="POST",
        json={
            "FullName": f"Account.{name}",
            "Metadata": {"label": "Test score", "type": "Number", "precision": 5, "scale": 1},
        },
    )


def _grant(sf: Salesforce, set_id: str, field: str, edit: bool = True) -> dict[str, Any]:
    return sf.FieldPermissions.create(
        {
            "ParentId": set_id,
            "SobjectType": field.partition(".")[0],
            "Field": field,
            "PermissionsRead": True,
            "PermissionsEdit": edit,
        }
    )


def _account_fields(sf: Salesforce) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in sf.Account.describe()["fields"]}


def test_a_new_field_is_hidden_until_a_permission_set_grants_it(sf: Salesforce) -> None:
    created = _new_field(sf)
    assert created["success"] is True and created["id"].startswith("00N")
    assert "CS_Test_Score__c" not in _account_fields(sf)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT CS_Test_Score__c FROM Account LIMIT 1")
    assert raised.value.content[0]["errorCode"] == "INVALID_FIELD"
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Account.update(account, {"CS_Test_Score__c": 1.5})
    assert raised.value.content[0]["errorCode"] == "INVALID_FIELD"

    # the field exists all the same: the Tooling API says so, and it cannot be created twice
    found = sf.restful(
        "tooling/query",
        params={"q": "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Account'"},
    )["records"]
    assert {"Id": created["id"], "DeveloperName": "CS_Test_Score"} in [
        {k: r[k] for k in ("Id", "DeveloperName")} for r in found
    ]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        _new_field(sf)
    assert raised.value.content[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"

    set_id = sf.PermissionSet.create({"Name": "Scores", "Label": "Scores"})["id"]
    _grant(sf, set_id, "Account.CS_Test_Score__c", edit=False)
    me = sf.query(f"SELECT Id FROM User WHERE Username = '{'cs-sync@example.co.jp'}'")["records"]
    sf.PermissionSetAssignment.create({"PermissionSetId": set_id, "AssigneeId": me[0]["Id"]})
    described = _account_fields(sf)["CS_Test_Score__c"]
    assert (described["createable"], described["updateable"]) == (False, False)
    assert sf.query("SELECT CS_Test_Score__c FROM Account LIMIT 1")["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Account.update(account, {"CS_Test_Score__c": 1.5})
    assert raised.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"

    grant = sf.query("SELECT Id FROM FieldPermissions WHERE Field = 'Account.CS_Test_Score__c'")[
        "records"
    ][0]["Id"]
    sf.FieldPermissions.update(grant, {"PermissionsEdit": True})
    sf.Account.update(account, {"CS_Test_Score__c": 1.5})
    assert sf.Account.get(account)["CS_Test_Score__c"] == 1.5


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"Field": "Account.Nope__c"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Field": "Account.Name"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),  # standard
        ({"PermissionsRead": False}, "FIELD_INTEGRITY_EXCEPTION"),  # Edit needs Read
    ],
)
def test_field_permissions_are_checked(sf: Salesforce, values: dict[str, Any], code: str) -> None:
    set_id = sf.PermissionSet.create({"Name": "Checks", "Label": "Checks"})["id"]
    record = {
        "ParentId": set_id,
        "SobjectType": "Account",
        "Field": "Account.CS_ARR__c",
        "PermissionsRead": True,
        "PermissionsEdit": True,
        **values,
    }
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.FieldPermissions.create(record)
    assert raised.value.content[0]["errorCode"] == code


def test_a_second_grant_of_the_same_field_is_a_duplicate(sf: Salesforce) -> None:
    set_id = sf.PermissionSet.create({"Name": "Twice", "Label": "Twice"})["id"]
    _grant(sf, set_id, "Account.CS_ARR__c")
    with pytest.raises(SalesforceMalformedRequest) as raised:
        _grant(sf, set_id, "Account.CS_ARR__c")
    assert raised.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def _restricted_login(
    sandbox: Sandbox, permissions: tuple[str, ...] = ()
) -> tuple[Salesforce, str]:
    """A second API user whose profile has no View All: it sees what it owns."""
    store = sandbox.store
    user_id = store.insert(
        "User",
        {
            "LastName": "Restricted",
            "Email": RESTRICTED,
            "Username": RESTRICTED,
            "IsActive": True,
            "Name": "Restricted",
        },
    )
    store.add_login(RESTRICTED, "pw" + "tok", user_id)
    fields = [
        f"Account.{name}"
        for name, definition in store.org_schema.objects["Account"].items()
        if definition.custom
    ]
    add_permission_set(
        store,
        "X00eRestricted",
        "Standard User",
        profile=True,
        permissions=permissions,
        fields=fields,
        assignees=[user_id],
    )
    session = build_session(sandbox.url)
    session_id, instance = SalesforceLogin(
        username=RESTRICTED,
        password="pw",
        security_token="tok",  # noqa: S106
        sf_version=API_VERSION,
        session=session,
    )
    return Salesforce(
        session_id=session_id, instance=instance, version=API_VERSION, session=session
    ), user_id


def test_without_view_all_a_user_sees_only_what_it_owns(sandbox: Sandbox, sf: Salesforce) -> None:
    everything = sf.query("SELECT Id, OwnerId FROM Account")["records"]
    restricted, user_id = _restricted_login(sandbox)
    assert restricted.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    mine = everything[0]["Id"]
    sf.Account.update(mine, {"OwnerId": user_id})
    assert [r["Id"] for r in restricted.query("SELECT Id FROM Account")["records"]] == [mine]
    # the account's contacts follow it; others' records cannot be read or changed
    contacts = sf.query(f"SELECT Id FROM Contact WHERE AccountId = '{mine}'")["totalSize"]
    assert restricted.query("SELECT Id FROM Contact")["totalSize"] == contacts
    other = everything[1]["Id"]
    response = restricted.session.get(
        f"{restricted.base_url}sobjects/Account/{other}", headers=restricted.headers, timeout=5
    )
    assert response.status_code == 404
    results = restricted.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Account"}, "id": other, "Name": "x"}]},
    )
    assert results[0]["errors"][0]["statusCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    with pytest.raises(SalesforceMalformedRequest) as raised:
        restricted.Task.create({"Subject": "x", "OwnerId": user_id, "WhatId": other})
    assert raised.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY"
    # and it may not hand itself more rights
    with pytest.raises(SalesforceMalformedRequest) as raised:
        restricted.PermissionSet.create({"Name": "More", "Label": "More"})
    assert raised.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"


def test_view_all_data_sees_the_whole_book(sandbox: Sandbox, sf: Salesforce) -> None:
    total = sf.query("SELECT COUNT() FROM Account")["totalSize"]
    restricted, _ = _restricted_login(sandbox, permissions=("PermissionsViewAllData",))
    assert restricted.query("SELECT COUNT() FROM Account")["totalSize"] == total == 40


def test_userinfo_names_the_tokens_user(sandbox: Sandbox, sf: Salesforce) -> None:
    me = sf.query("SELECT Id FROM User WHERE Username = 'cs-sync@example.co.jp'")["records"]
    answer = requests.get(
        f"{sandbox.url}/services/oauth2/userinfo", headers=sf.headers, timeout=5
    ).json()
    assert answer["user_id"] == me[0]["Id"]
    assert answer["preferred_username"] == "cs-sync@example.co.jp"
    refused = requests.get(
        f"{sandbox.url}/services/oauth2/userinfo",
        headers={"Authorization": "Bearer nope"},
        timeout=5,
    )
    assert refused.status_code == 403


def test_only_customize_application_creates_fields(sandbox: Sandbox) -> None:
    restricted, _ = _restricted_login(sandbox)
    response = restricted.session.post(
        f"{restricted.base_url}tooling/sobjects/CustomField",
        headers=restricted.headers,
        json={"FullName": "Account.X__c", "Metadata": {"type": "Number", "label": "x"}},
        timeout=5,
    )
    assert response.status_code == 403
    assert response.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS"


def test_the_seeded_user_sees_every_field_it_was_granted(sandbox: Sandbox) -> None:
    fields = _account_fields(login(sandbox))
    assert fields["CS_Health_Score__c"]["updateable"] is True  # cs-sync's permission set
    assert fields["CS_ARR__c"]["updateable"] is True  # the profile


def test_a_new_record_without_an_owner_belongs_to_its_creator(sf: Salesforce) -> None:
    me = sf.query("SELECT Id FROM User WHERE Username = 'cs-sync@example.co.jp'")["records"]
    task = sf.Task.create({"Subject": "no owner given"})["id"]
    assert sf.Task.get(task)["OwnerId"] == me[0]["Id"]
