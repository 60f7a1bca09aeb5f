"""The Salesforce stand-in, driven through simple-salesforce over real HTTP: the shapes,
errors and limits of shared reference/salesforce.md."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.sandbox.seed import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_USERNAME
from cs_sync.sandbox.server import Sandbox, set_faults
from tests.conftest import API_VERSION, login, seed_database


def test_login_returns_session_and_instance(sandbox: Sandbox) -> None:
    session_id, instance = SalesforceLogin(
        username=SANDBOX_USERNAME,
        password="sandbox-password",
        security_token="SANDBOXTOKEN00",
        sf_version=API_VERSION,
        session=build_session(sandbox.url),
    )
    assert session_id.startswith("00D")
    assert instance == f"127.0.0.1:{sandbox.port}"


def test_wrong_password_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as raised:
        SalesforceLogin(
            username=SANDBOX_USERNAME,
            password="wrong",
            security_token="x",
            sf_version=API_VERSION,
            session=build_session(sandbox.url),
        )
    assert raised.value.code == "INVALID_LOGIN"


def test_client_credentials_give_the_run_as_users_session(sandbox: Sandbox) -> None:
    """The client credentials flow at the org's My Domain (the secret in HTTP Basic)."""
    session = build_session(sandbox.url)
    session_id, instance = SalesforceLogin(
        consumer_key=SANDBOX_CLIENT_ID,
        consumer_secret=SANDBOX_CLIENT_SECRET,
        domain="cs-sync-demo.my",
        sf_version="68.0",
        session=session,
    )
    sf = Salesforce(session_id=session_id, instance=instance, version="68.0", session=session)
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    token = f"http://127.0.0.1:{sandbox.port}/services/oauth2/token"
    answers = [
        requests.post(token, data={"grant_type": "client_credentials", **form}, timeout=10)
        for form in (
            {"client_id": SANDBOX_CLIENT_ID, "client_secret": "wrong"},
            {"client_id": "3MVG9-nobody", "client_secret": SANDBOX_CLIENT_SECRET},
            {"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET},
        )
    ]
    assert [(a.status_code, a.json().get("error")) for a in answers] == [
        (400, "invalid_client"),
        (400, "invalid_client_id"),
        (200, None),
    ]
    assert {"access_token", "instance_url", "id", "token_type", "issued_at"} <= set(
        answers[2].json()
    )


@pytest.mark.parametrize(
    ("version", "code"),
    [("64.0", None), ("65.0", "UNSUPPORTED_API_VERSION"), ("30.0", "UNSUPPORTED_API_VERSION")],
)
def test_soap_login_only_where_salesforce_still_offers_it(
    sandbox: Sandbox, version: str, code: str | None
) -> None:
    """SOAP login() is not offered from API 65.0; 21.0-30.0 are retired altogether."""

    def soap_login() -> tuple[str, str]:
        return SalesforceLogin(
            username=SANDBOX_USERNAME,
            password="sandbox-password",
            security_token="SANDBOXTOKEN00",
            sf_version=version,
            session=build_session(sandbox.url),
        )

    if code is None:
        assert soap_login()[0].startswith("00D")
        return
    with pytest.raises(SalesforceAuthenticationFailed) as raised:
        soap_login()
    assert raised.value.code == code


def test_retired_and_unknown_rest_versions(sf: Salesforce, sandbox: Sandbox) -> None:
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    base = f"http://127.0.0.1:{sandbox.port}/services/data"
    assert requests.get(f"{base}/v30.0/limits", headers=headers, timeout=10).status_code == 410
    assert requests.get(f"{base}/v69.0/limits", headers=headers, timeout=10).status_code == 404
    assert requests.get(f"{base}/v31.0/limits", headers=headers, timeout=10).status_code == 200


@pytest.fixture(scope="module")
def big_sandbox(tmp_path_factory: pytest.TempPathFactory):
    database, _ = seed_database(tmp_path_factory.mktemp("big"), 120)
    with Sandbox(database) as running:
        yield running


def test_pagination_across_pages_with_batch_size(big_sandbox: Sandbox) -> None:
    sf = login(big_sandbox)
    total = big_sandbox.store.count("Opportunity")
    assert total > 400
    headers = {"Sforce-Query-Options": "batchSize=200"}
    page = sf.query("SELECT Id, Name FROM Opportunity ORDER BY Id", headers=headers)
    seen = list(page["records"])
    pages = 1
    assert page["totalSize"] == total and page["done"] is False and len(seen) == 200
    assert page["nextRecordsUrl"].startswith(f"/services/data/v{API_VERSION}/query/01g")
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        seen.extend(page["records"])
        pages += 1
    assert "nextRecordsUrl" not in page
    assert pages == -(-total // 200)
    assert len({r["Id"] for r in seen}) == total
    assert [r["Id"] for r in seen] == sorted(r["Id"] for r in seen)


def test_batch_size_is_clamped_and_default_is_2000(big_sandbox: Sandbox) -> None:
    sf = login(big_sandbox)
    page = sf.query("SELECT Id FROM Opportunity", headers={"Sforce-Query-Options": "batchSize=5"})
    assert len(page["records"]) == 200
    assert len(sf.query("SELECT Id FROM Opportunity")["records"]) == min(
        2000, sf.query("SELECT Id FROM Opportunity")["totalSize"]
    )


def test_records_carry_attributes_and_nested_parents(sf: Salesforce) -> None:
    records = sf.query_all(
        "SELECT Id, Name, Owner.Email, Owner.IsActive, CS_Sub_CSM__r.Name FROM Account LIMIT 3"
    )["records"]
    record = records[0]
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v{API_VERSION}/sobjects/Account/{record['Id']}",
    }
    assert set(record["Owner"]) == {"attributes", "Email", "IsActive"}
    assert record["Owner"]["attributes"]["type"] == "User"
    assert record["Owner"]["Email"].endswith("@example.co.jp")
    assert isinstance(record["CS_Sub_CSM__r"]["Name"], str)


def test_null_parent_comes_back_as_null(sf: Salesforce) -> None:
    contact = sf.Contact.create({"LastName": "孤立"})
    record = sf.query(f"SELECT Id, Account.Name FROM Contact WHERE Id = '{contact['id']}'")
    assert record["records"][0]["Account"] is None


def test_unknown_field_and_object_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Id, Nope__c FROM Account")
    assert raised.value.content == [
        {
            "message": "No such column 'Nope__c' on entity 'Account'.",
            "errorCode": "INVALID_FIELD",
            "fields": [],
        }
    ]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Id FROM Nope__c")
    assert raised.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_unsupported_soql_is_malformed_query(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Id, (SELECT Id FROM Opportunities) FROM Account")
    assert raised.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_filter_with_escaped_literal(sf: Salesforce) -> None:
    sf.Account.create({"Name": "O'Reilly \\ Co", "OwnerId": _owner(sf)})
    from simple_salesforce import format_soql

    found = sf.query(format_soql("SELECT Name FROM Account WHERE Name = {}", "O'Reilly \\ Co"))
    assert [r["Name"] for r in found["records"]] == ["O'Reilly \\ Co"]


def _owner(sf: Salesforce) -> str:
    return str(sf.query("SELECT Id FROM User WHERE IsActive = true LIMIT 1")["records"][0]["Id"])


def test_single_record_create_read_update(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "新規テスト株式会社", "OwnerId": _owner(sf)})
    assert created["success"] is True and created["id"].startswith("001")
    assert sf.Account.update(created["id"], {"CS_Health_Grade__c": "B"}) == 204
    record = sf.Account.get(created["id"])
    assert record["CS_Health_Grade__c"] == "B"
    assert record["attributes"]["type"] == "Account"
    assert sf.Account.get(created["id"][:15])["Id"] == created["id"]  # 15-character id works
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get("001000000000000AAA")


def test_describe_lists_custom_fields(sf: Salesforce) -> None:
    described = sf.Account.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["CS_Health_Grade__c"]["type"] == "picklist"
    assert fields["CS_Health_Grade__c"]["restrictedPicklist"] is True
    assert [v["value"] for v in fields["CS_Health_Grade__c"]["picklistValues"]] == [
        "A",
        "B",
        "C",
        "D",
    ]
    assert fields["CS_Health_Score__c"]["updateable"] is True
    assert fields["Id"]["updateable"] is False


def _collection_update(sf: Salesforce, records: list[dict]) -> list[dict]:
    return sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
    )


def test_collections_report_each_record(sandbox: Sandbox, sf: Salesforce) -> None:
    """Errors of a record's values fail that record; the others are written."""
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 5")["records"]]
    records = [
        {"attributes": {"type": "Account"}, "id": ids[0], "CS_Health_Grade__c": "A"},
        {"attributes": {"type": "Account"}, "id": ids[1], "CS_Health_Grade__c": "E"},
        {"attributes": {"type": "Account"}, "id": ids[2], "CS_Health_Reasons__c": "x" * 1001},
        {"attributes": {"type": "Account"}, "id": ids[3], "CS_Health_Score__c": 123456.7},
        {"attributes": {"type": "Account"}, "id": "001bad", "CS_Health_Grade__c": "A"},
    ]
    results = _collection_update(sf, records)
    assert len(results) == 5
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    codes = [r["errors"][0]["statusCode"] if not r["success"] else None for r in results]
    assert codes == [
        None,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "STRING_TOO_LONG",
        "NUMBER_OUTSIDE_VALID_RANGE",
        "MALFORMED_ID",
    ]
    assert results[1]["errors"][0]["fields"] == ["CS_Health_Grade__c"]
    assert sf.Account.get(ids[0])["CS_Health_Grade__c"] == "A"
    assert sf.Account.get(ids[1]).get("CS_Health_Grade__c") is None


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ({"Nope__c": 1}, "INVALID_FIELD"),
        ({"CS_Health_Score__c": "high"}, "JSON_PARSER_ERROR"),
        ({"CS_Phase_Delayed__c": "yes"}, "JSON_PARSER_ERROR"),
        ({"CS_Next_Action_Date__c": "2026-13-01"}, "JSON_PARSER_ERROR"),
    ],
)
def test_what_json_cannot_read_fails_the_whole_request(
    sf: Salesforce, bad: dict[str, object], code: str
) -> None:
    """An unknown field or a value of the wrong JSON type anywhere in a Collections request
    fails the request: 400, nothing written, not one result per record."""
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 2")["records"]]
    records = [
        {"attributes": {"type": "Account"}, "id": ids[0], "CS_Health_Grade__c": "A"},
        {"attributes": {"type": "Account"}, "id": ids[1], **bad},
    ]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        _collection_update(sf, records)
    assert raised.value.content[0]["errorCode"] == code
    assert sf.Account.get(ids[0]).get("CS_Health_Grade__c") is None


def test_all_or_none_rolls_back_the_valid_records(sf: Salesforce) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 2")["records"]]
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "id": ids[0], "CS_Health_Grade__c": "A"},
                {"attributes": {"type": "Account"}, "id": ids[1], "CS_Health_Grade__c": "Z"},
            ],
        },
    )
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.Account.get(ids[0]).get("CS_Health_Grade__c") is None


def test_collections_accept_at_most_200(sf: Salesforce) -> None:
    owner = _owner(sf)
    records = [
        {"attributes": {"type": "Task"}, "Subject": str(i), "OwnerId": owner} for i in range(201)
    ]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
        )
    assert raised.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_upsert_by_external_id_creates_once(sf: Salesforce) -> None:
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    task = {
        "attributes": {"type": "Task"},
        "CS_Sync_Key__c": "cs-sync:test:1",
        "Subject": "a",
        "OwnerId": _owner(sf),
        "WhatId": account,
    }
    body = {"allOrNone": False, "records": [task]}
    first = sf.restful("composite/sobjects/Task/CS_Sync_Key__c", method="PATCH", json=body)
    second = sf.restful(
        "composite/sobjects/Task/CS_Sync_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": [dict(task, Subject="b")]},
    )
    assert first[0]["created"] is True and second[0]["created"] is False
    assert first[0]["id"] == second[0]["id"]
    found = sf.query(
        "SELECT Id, Subject, Status, IsClosed FROM Task WHERE CS_Sync_Key__c = 'cs-sync:test:1'"
    )
    assert found["totalSize"] == 1
    assert found["records"][0]["Subject"] == "b"
    assert found["records"][0]["Status"] == "Not Started"
    assert found["records"][0]["IsClosed"] is False


def test_task_for_inactive_owner_is_refused(sf: Salesforce) -> None:
    inactive = sf.query("SELECT Id FROM User WHERE IsActive = false LIMIT 1")["records"][0]["Id"]
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Task"}, "Subject": "x", "OwnerId": inactive}],
        },
    )
    assert results[0]["errors"][0]["statusCode"] == "INACTIVE_OWNER_OR_USER"


def test_limits_and_header_count_every_call(sandbox: Sandbox) -> None:
    counter = CallCounter()
    sf = login(sandbox, counter)
    sf.query("SELECT Id FROM User")
    first = counter.api_used
    sf.query("SELECT Id FROM User")
    assert counter.api_used == first + 1  # type: ignore[operator]
    assert counter.api_max == 15000
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert limits["DailyApiRequests"]["Remaining"] == 15000 - counter.api_used


def test_daily_allowance_exhausted(sandbox: Sandbox, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM User")
    sandbox.faults.set(daily_api_max=sandbox.store.api_calls_today(datetime.now(UTC).date()))
    with pytest.raises(SalesforceRefusedRequest) as raised:
        sf.query("SELECT Id FROM User")
    assert raised.value.content == [
        {
            "message": "TotalRequests Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
            "fields": [],
        }
    ]


def test_faults_over_http(sandbox: Sandbox, sf: Salesforce) -> None:
    set_faults(sandbox.url, server_errors=2, server_error_status=503)
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as raised:
            sf.query("SELECT Id FROM User")
        assert raised.value.status == 503
        assert raised.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT Id FROM User")["totalSize"] > 0

    set_faults(sandbox.url, request_limit=1, request_limit_kind="ConcurrentPerOrgLongTxn")
    with pytest.raises(SalesforceRefusedRequest) as raised:
        sf.query("SELECT Id FROM User")
    assert raised.value.content[0]["message"] == "ConcurrentPerOrgLongTxn Limit exceeded."


def test_expired_session_gives_401(sandbox: Sandbox, sf: Salesforce) -> None:
    sandbox.faults.set(expire_sessions=True)
    with pytest.raises(SalesforceExpiredSession) as raised:
        sf.query("SELECT Id FROM User")
    assert raised.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_locked_rows_fail_alone(sandbox: Sandbox, sf: Salesforce) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 3")["records"]]
    sandbox.faults.set(lock_ids=[ids[1]])
    results = _collection_update(
        sf, [{"attributes": {"type": "Account"}, "id": i, "CS_Health_Grade__c": "B"} for i in ids]
    )
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"


def test_requests_without_session_are_401(sandbox: Sandbox) -> None:
    response = requests.get(f"{sandbox.url}/services/data/v{API_VERSION}/limits", timeout=5)
    assert response.status_code == 401
    assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_state_survives_a_restart(tmp_path) -> None:
    database, _ = seed_database(tmp_path, 5)
    with Sandbox(database) as first:
        sf = login(first)
        account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
        sf.Account.update(account, {"CS_Health_Grade__c": "C"})
    with Sandbox(database) as again:
        assert login(again).Account.get(account)["CS_Health_Grade__c"] == "C"


@pytest.mark.parametrize(
    ("sent", "stored"), [(12.345, 12.3), (12.35, 12.4), (-12.35, -12.4), (9999.94, 9999.9), (7, 7)]
)
def test_numbers_are_rounded_to_the_fields_scale(
    sf: Salesforce, sent: float, stored: float
) -> None:
    """CS_Health_Score__c is Number(4,1): four whole digits, one decimal place (precision 5)."""
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    sf.Account.update(account, {"CS_Health_Score__c": sent})
    assert sf.Account.get(account)["CS_Health_Score__c"] == stored


@pytest.mark.parametrize("sent", [123456.7, 10000, 9999.96, -10000.0])
def test_a_number_too_large_for_its_field_is_refused(sf: Salesforce, sent: float) -> None:
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Account.update(account, {"CS_Health_Score__c": sent})
    error = raised.value.content[0]
    assert error["errorCode"] == "NUMBER_OUTSIDE_VALID_RANGE"
    assert error["fields"] == ["CS_Health_Score__c"]
