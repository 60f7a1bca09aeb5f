"""The Salesforce adapter against documented payloads (responses): paging, per-record results,
retries of what is transient only, and errors translated into the project's own."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.salesforce_calls import translate
from cs_sync.connectors.settings import SalesforceConfig
from cs_sync.errors import (
    AuthError,
    BudgetExhausted,
    ConnectError,
    CsSyncError,
    SetupError,
    TransientError,
)

BASE = "https://acme.my.salesforce.com/services/data/v62.0"
LIMIT_HEADER = {"Sforce-Limit-Info": "api-usage=18/15000"}
CONFIG = SalesforceConfig(
    instance_url="https://acme.my.salesforce.com",
    auth="session",
    session_id_env="CS_SYNC_TEST_SESSION",
    account_filter="",
    timeout_s=5,
)


def rest_error(code: str, message: str) -> list[dict[str, Any]]:
    """A top-level REST error body, as documented: [{message, errorCode, fields}]."""
    return [{"message": message, "errorCode": code, "fields": []}]


def client(login: Any = None) -> SalesforceClient:
    sf = Salesforce(
        instance="acme.my.salesforce.com",
        session_id="00D!old",
        version="62.0",
        session=requests.Session(),
    )
    return SalesforceClient(sf, CONFIG, login=login, max_attempts=4, wait_max_s=0.01)


def account(n: int) -> dict[str, Any]:
    record_id = f"001{n:012d}AAA"
    return {
        "attributes": {
            "type": "Account",
            "url": f"/services/data/v62.0/sobjects/Account/{record_id}",
        },
        "Id": record_id,
        "Name": f"Account {n}",
    }


NEXT_PAGE = f"{BASE}/query/01gD0000002HU6KIAW-2"


def first_of_two_pages() -> None:
    """The first page of a query of three Accounts, pointing at the next."""
    responses.get(
        f"{BASE}/query/",
        json={
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": "/services/data/v62.0/query/01gD0000002HU6KIAW-2",
            "records": [account(1), account(2)],
        },
        headers=LIMIT_HEADER,
    )


@responses.activate
def test_query_follows_next_records_url() -> None:
    first_of_two_pages()
    responses.get(
        NEXT_PAGE,
        json={"totalSize": 3, "done": True, "records": [account(3)]},
        headers=LIMIT_HEADER,
    )
    names = [r["Name"] for r in client().query("SELECT Id, Name FROM Account", "Accounts")]
    assert names == ["Account 1", "Account 2", "Account 3"]
    assert responses.calls[0].request.headers["Sforce-Query-Options"] == "batchSize=2000"


@responses.activate
@pytest.mark.parametrize(
    "second_page",
    [
        {"totalSize": 3, "done": True},  # no records key
        {"totalSize": 3, "done": True, "records": None},
        ["not", "a", "page"],
    ],
)
def test_a_page_without_records_is_a_named_failure(second_page: Any) -> None:
    """A proxy's or an outage page's body in place of a query page: named, never a crash."""
    first_of_two_pages()
    responses.get(NEXT_PAGE, json=second_page, headers=LIMIT_HEADER)
    with pytest.raises(ConnectError, match="a page of Accounts without its records"):
        list(client().query("SELECT Id, Name FROM Account", "Accounts"))


def _result(record_id: str) -> dict[str, Any]:
    return {"id": record_id, "success": True, "errors": []}


def _failure(code: str, message: str, fields: list[str]) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": fields}],
    }


@responses.activate
def test_update_sends_200_per_call_and_reports_every_record() -> None:
    bodies: list[dict[str, Any]] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        bodies.append(body)
        results = [_result(r["id"]) for r in body["records"]]
        if len(bodies) == 1:
            results[5] = _failure(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "Health Grade: bad value for restricted picklist field: E",
                ["CS_Health_Grade__c"],
            )
        return 200, LIMIT_HEADER, json.dumps(results)

    responses.add_callback(responses.PATCH, f"{BASE}/composite/sobjects", callback=answer)
    changes = {
        f"001{n:012d}AAA": {"CS_Health_Grade__c": "A", "CS_Health_Score__c": 90.0}
        for n in range(450)
    }
    report = client().update("Account", changes)
    assert [len(b["records"]) for b in bodies] == [200, 200, 50]
    assert all(b["allOrNone"] is False for b in bodies)
    assert bodies[0]["records"][0] == {
        "attributes": {"type": "Account"},
        "id": "001000000000000AAA",
        "CS_Health_Grade__c": "A",
        "CS_Health_Score__c": 90.0,
    }
    assert len(report.succeeded) == 449 and report.fields_written == 898
    failure = report.failed[0]
    assert (failure.record_id, failure.code, failure.fields) == (
        "001000000000005AAA",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ["CS_Health_Grade__c"],
    )


@responses.activate
def test_locked_rows_are_retried_alone() -> None:
    bodies: list[list[str]] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        ids = [r["id"] for r in json.loads(request.body)["records"]]
        bodies.append(ids)
        results = [
            _result(i)
            if (i != ids[0] or len(bodies) > 1 or len(ids) == 1)
            else _failure(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records: " + i,
                [],
            )
            for i in ids
        ]
        return 200, LIMIT_HEADER, json.dumps(results)

    responses.add_callback(responses.PATCH, f"{BASE}/composite/sobjects", callback=answer)
    sf_client = client()
    pauses: list[float] = []
    sf_client.sleep = pauses.append
    report = sf_client.update(
        "Account", {f"001{n:012d}AAA": {"CS_Health_Grade__c": "B"} for n in range(3)}
    )
    assert bodies == [
        ["001000000000000AAA", "001000000000001AAA", "001000000000002AAA"],
        ["001000000000000AAA"],
    ]
    assert report.failed == [] and len(report.succeeded) == 3
    # one pause before the locked record's retry, jittered around the configured second
    assert len(pauses) == 1 and 0.5 <= pauses[0] <= 1.5


@responses.activate
def test_server_errors_are_retried_then_succeed() -> None:
    error = [{"message": "Server unavailable", "errorCode": "SERVER_UNAVAILABLE", "fields": []}]
    responses.get(f"{BASE}/limits/", json=error, status=503)
    responses.get(f"{BASE}/limits/", json=error, status=502)
    responses.get(f"{BASE}/limits/", json={"DailyApiRequests": {"Max": 15000, "Remaining": 14998}})
    sf_client = client()
    assert sf_client.limits()["DailyApiRequests"]["Remaining"] == 14998
    assert sf_client.retries == 2


@responses.activate
def test_persistent_server_errors_give_up_with_a_connect_error() -> None:
    responses.get(
        f"{BASE}/limits/",
        json=rest_error("SERVER_UNAVAILABLE", "x"),
        status=503,
    )
    with pytest.raises(ConnectError, match="gave up after 4 attempts"):
        client().limits()
    assert len(responses.calls) == 4


@responses.activate
def test_daily_allowance_gone_is_not_retried() -> None:
    responses.get(
        f"{BASE}/limits/",
        status=403,
        json=rest_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    )
    with pytest.raises(BudgetExhausted, match="daily API allowance is used up"):
        client().limits()
    assert len(responses.calls) == 1


@responses.activate
def test_concurrent_limit_is_transient() -> None:
    responses.get(
        f"{BASE}/limits/",
        status=403,
        json=rest_error("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
    )
    responses.get(f"{BASE}/limits/", json={"DailyApiRequests": {"Max": 1, "Remaining": 1}})
    assert client().limits()["DailyApiRequests"]["Max"] == 1


@responses.activate
def test_expired_session_logs_in_again_once() -> None:
    responses.get(
        f"{BASE}/limits/",
        status=401,
        json=rest_error("INVALID_SESSION_ID", "Session expired or invalid"),
    )
    responses.get(f"{BASE}/limits/", json={"DailyApiRequests": {"Max": 1, "Remaining": 1}})
    logins = []

    def login() -> Salesforce:
        logins.append(1)
        return Salesforce(
            instance="acme.my.salesforce.com",
            session_id="00D!new",
            version="62.0",
            session=requests.Session(),
        )

    assert client(login).limits()["DailyApiRequests"]["Max"] == 1
    assert logins == [1]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer 00D!new"


@responses.activate
def test_expired_session_without_login_is_an_auth_error() -> None:
    responses.get(
        f"{BASE}/limits/",
        status=401,
        json=rest_error("INVALID_SESSION_ID", "Session expired or invalid"),
    )
    with pytest.raises(AuthError, match="session expired"):
        client().limits()


@responses.activate
def test_missing_field_says_how_to_fix_it() -> None:
    responses.get(
        f"{BASE}/query/",
        status=400,
        json=rest_error(
            "INVALID_FIELD", "No such column 'CS_Health_Grade__c' on entity 'Account'."
        ),
    )
    with pytest.raises(SetupError, match=r"CS_Health_Grade__c.*cs-sync setup salesforce"):
        list(client().query("SELECT CS_Health_Grade__c FROM Account", "Accounts"))
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        ("INVALID_FIELD", "No such column 'CS_Phase__c' on sobject of type Account", SetupError),
        (
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of double from VALUE_STRING value high",
            SetupError,
        ),
    ],
)
@responses.activate
def test_a_whole_request_failure_stops_the_writes_with_the_field_named(
    code: str, message: str, kind: type[CsSyncError]
) -> None:
    """Salesforce fails a whole Collections request for an unknown field or an unreadable
    value: no record result comes back, the writes stop there, the error names the field or
    value and what to do, never "unexpected"."""
    responses.patch(
        f"{BASE}/composite/sobjects",
        status=400,
        json=rest_error(code, message),
        headers=LIMIT_HEADER,
    )
    report = client().update("Account", {f"001{n:012d}AAA": {"CS_Phase__c": "x"} for n in range(3)})
    assert report.succeeded == [] and report.failed == []
    assert isinstance(report.stopped_by, kind) and message in str(report.stopped_by)
    assert "unexpected" not in str(report.stopped_by)
    assert report.stopped_by.exit_code == 2
    assert len(responses.calls) == 1


@responses.activate
def test_upsert_reports_created_and_the_key_of_failures() -> None:
    responses.patch(
        f"{BASE}/composite/sobjects/Task/CS_Sync_Key__c",
        json=[
            {"id": "00T000000000001AAA", "success": True, "errors": [], "created": True},
            {
                "success": False,
                "errors": [
                    {
                        "statusCode": "INACTIVE_OWNER_OR_USER",
                        "message": "operation performed with inactive user",
                        "fields": [],
                    }
                ],
            },
        ],
    )
    report = client().upsert(
        "Task",
        "CS_Sync_Key__c",
        [
            {"CS_Sync_Key__c": "cs-sync:a", "Subject": "a"},
            {"CS_Sync_Key__c": "cs-sync:b", "Subject": "b"},
        ],
    )
    assert report.succeeded[0]["created"] is True
    assert report.fields_written == 1
    assert (report.failed[0].key, report.failed[0].code) == ("cs-sync:b", "INACTIVE_OWNER_OR_USER")
    sent = json.loads(responses.calls[0].request.body)
    assert sent["records"][0] == {
        "attributes": {"type": "Task"},
        "CS_Sync_Key__c": "cs-sync:a",
        "Subject": "a",
    }


@responses.activate
def test_budget_reserve_stops_before_the_call() -> None:
    from cs_sync.connectors.salesforce_calls import ApiBudget
    from cs_sync.connectors.transport import CallCounter

    counter = CallCounter()
    session = requests.Session()
    session.hooks["response"].append(counter.hook)
    sf = Salesforce(
        instance="acme.my.salesforce.com", session_id="00D!x", version="62.0", session=session
    )
    sf_client = SalesforceClient(sf, CONFIG, budget=ApiBudget(0.2, counter), wait_max_s=0.01)
    responses.get(
        f"{BASE}/limits/",
        json={"DailyApiRequests": {"Max": 15000, "Remaining": 3001}},
        headers={"Sforce-Limit-Info": "api-usage=11999/15000"},
    )
    sf_client.limits()
    assert (counter.api_used, counter.api_max) == (11999, 15000)
    responses.get(
        f"{BASE}/query/",
        json={"totalSize": 0, "done": True, "records": []},
        headers={"Sforce-Limit-Info": "api-usage=12000/15000"},
    )
    assert list(sf_client.query("SELECT Id FROM Account", "Accounts")) == []
    with pytest.raises(BudgetExhausted, match=r"3000 of the org's 15000 .* 3000 \(20%\)"):
        list(sf_client.query("SELECT Id FROM Account", "Accounts"))
    assert len(responses.calls) == 2


@responses.activate
def test_fields_outside_the_allowlist_are_never_sent() -> None:
    with pytest.raises(SetupError, match=r"refused to write Account field\(s\) AnnualRevenue"):
        client().update(
            "Account", {"001000000000001AAA": {"AnnualRevenue": 1, "CS_Health_Grade__c": "A"}}
        )
    with pytest.raises(SetupError, match="refused to write Contact"):
        client().update("Contact", {"003000000000001AAA": {"LastName": "x"}})
    with pytest.raises(SetupError, match="IsClosed"):
        client().upsert("Task", "CS_Sync_Key__c", [{"CS_Sync_Key__c": "k", "IsClosed": True}])
    assert len(responses.calls) == 0


@responses.activate
def test_bulk_update_reports_failed_rows_from_the_results_csv() -> None:
    jobs = f"{BASE}/jobs/ingest"
    job_id = "7505g000000014dAAA"
    info = {
        "id": job_id,
        "operation": "update",
        "object": "Account",
        "state": "Open",
        "contentUrl": f"services/data/v62.0/jobs/ingest/{job_id}/batches",
    }
    responses.post(jobs, json=info)
    uploads: list[str] = []
    responses.add_callback(
        responses.PUT,
        f"{jobs}/{job_id}/batches",
        callback=lambda request: uploads.append(request.body.decode()) or (201, {}, ""),
    )
    responses.patch(f"{jobs}/{job_id}", json=dict(info, state="UploadComplete"))
    responses.get(
        f"{jobs}/{job_id}",
        json=dict(info, state="JobComplete", numberRecordsProcessed=3, numberRecordsFailed=1),
    )
    responses.get(
        f"{jobs}/{job_id}/successfulResults",
        body='"sf__Id","sf__Created","Id","CS_Health_Grade__c","CS_Health_Reasons__c"\n'
        '"001000000000001AAA","false","001000000000001AAA","A","#N/A"\n'
        '"001000000000002AAA","false","001000000000002AAA","B",""\n',
    )
    responses.get(
        f"{jobs}/{job_id}/failedResults",
        body='"sf__Id","sf__Error","Id","CS_Health_Grade__c","CS_Health_Reasons__c"\n'
        '"001000000000003AAA","FIELD_CUSTOM_VALIDATION_EXCEPTION:Renewal date '
        'must be after the contract start:CS_Health_Grade__c",'
        '"001000000000003AAA","C",""\n',
    )
    sf_client = client()
    sf_client.ingest_pace.least_s = 0.01
    sf_client.config = CONFIG.model_copy(update={"bulk_threshold": 2})
    report = sf_client.update(
        "Account",
        {
            "001000000000001AAA": {"CS_Health_Grade__c": "A", "CS_Health_Reasons__c": None},
            "001000000000002AAA": {"CS_Health_Grade__c": "B"},
            "001000000000003AAA": {"CS_Health_Grade__c": "C"},
        },
    )
    assert "#N/A" in uploads[0]  # None clears the field; it is not left unchanged
    assert [r["id"] for r in report.succeeded] == ["001000000000001AAA", "001000000000002AAA"]
    assert report.fields_written == 3
    failure = report.failed[0]
    assert (failure.record_id, failure.code, failure.message, failure.fields) == (
        "001000000000003AAA",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Renewal date must be after the contract start",
        ["CS_Health_Grade__c"],
    )


@pytest.mark.parametrize(
    ("detail", "kind", "named"),
    [
        ("InvalidBatch : Field name not found : CS_Gone__c", SetupError, "CS_Gone__c"),
        ("ClientInputError : LineEnding is invalid on user data", SetupError, "LineEnding"),
        ("Job timeout. Job status: InProgress", TransientError, "did not finish"),
    ],
)
def test_a_failed_bulk_job_is_named_never_unexpected(
    detail: str, kind: type[CsSyncError], named: str
) -> None:
    prefix = "" if detail.startswith("Job timeout") else "Job failure. Response content: "
    error = translate(SalesforceOperationError(prefix + detail), "updating Account (Bulk API)")
    assert isinstance(error, kind) and named in str(error)
    assert "unexpected" not in str(error)
