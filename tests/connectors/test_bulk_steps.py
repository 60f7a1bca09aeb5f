"""A Bulk API 2.0 ingest job is run step by step against the sandbox: a transient failure at
any step repeats that step alone, so one job is created whatever fails, and every row is
written once."""

from __future__ import annotations

import pytest

from cs_sync.connectors.bulk_jobs import ChangedRows, csv_body, upload_parts
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.transport import CallCounter
from cs_sync.errors import Interrupted
from cs_sync.sandbox.server import Sandbox
from tests.conftest import traced_peak


def _grades(client: SalesforceClient) -> dict[str, str]:
    return {
        r["Id"]: r["CS_Health_Grade__c"]
        for r in client.query("SELECT Id, CS_Health_Grade__c FROM Account", "grades")
    }


@pytest.mark.parametrize(
    ("step", "fault"),
    [
        pytest.param("POST .*/jobs/ingest$", "server_errors", id="create-503"),
        pytest.param("PUT .*/batches$", "server_errors", id="upload-503"),
        pytest.param("PUT .*/batches$", "lost_responses", id="upload-answer-lost"),
        pytest.param("PATCH .*/jobs/ingest/[^/]+$", "lost_responses", id="close-answer-lost"),
        pytest.param("GET .*/jobs/ingest/[^/]+$", "server_errors", id="poll-503"),
        pytest.param("GET .*/successfulResults$", "server_errors", id="results-503"),
    ],
)
def test_a_failed_step_is_repeated_alone(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter], step: str, fault: str
) -> None:
    client, sandbox, _ = bulk
    accounts = sorted(_grades(client))
    changes = {account: {"CS_Health_Grade__c": "D"} for account in accounts}
    jobs_before = set(sandbox.salesforce.bulk.jobs)
    sandbox.faults.set(only_on=step, **{fault: 1})
    report = client.update("Account", changes)
    sandbox.faults.set(only_on="", server_errors=0, lost_responses=0)
    assert report.stopped_by is None and not report.failed
    assert len(report.succeeded) == len(accounts)
    jobs = set(sandbox.salesforce.bulk.jobs) - jobs_before
    assert len(jobs) == 1, "the job was started again instead of the step"
    assert set(_grades(client).values()) == {"D"}
    assert client.retries == 1


def test_a_job_salesforce_fails_is_not_retried(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter],
) -> None:
    """A field hidden from the integration user fails the whole job: named, not retried."""
    client, sandbox, _ = bulk
    store = sandbox.store
    for grant in store.all("FieldPermissions"):
        if grant["Field"] == "Account.CS_Health_Grade__c":
            store.replace(
                grant["Id"], {**grant, "PermissionsRead": False, "PermissionsEdit": False}
            )
    accounts = [r["Id"] for r in client.query("SELECT Id FROM Account", "accounts")]
    jobs_before = set(sandbox.salesforce.bulk.jobs)
    report = client.update("Account", {a: {"CS_Health_Grade__c": "D"} for a in accounts})
    assert report.stopped_by is not None and not report.succeeded
    assert "Field name not found : CS_Health_Grade__c" in str(report.stopped_by)
    assert "cs-sync setup salesforce --apply" in str(report.stopped_by)
    assert len(set(sandbox.salesforce.bulk.jobs) - jobs_before) == 1
    assert client.retries == 0


def test_a_stop_while_a_job_runs_leaves_it_to_salesforce(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter],
) -> None:
    """SIGTERM during a Bulk job ends the wait at once; the job was closed, so Salesforce
    finishes it and the rows land all the same."""
    client, sandbox, counter = bulk
    accounts = sorted(_grades(client))
    asked: list[str] = []
    client.stop_requested = lambda: bool(asked.append("?")) or len(asked) > 1
    calls = counter.calls["salesforce"]
    report = client.update("Account", {a: {"CS_Health_Grade__c": "D"} for a in accounts})
    assert isinstance(report.stopped_by, Interrupted) and not report.succeeded
    assert "Salesforce finishes it on its own" in str(report.stopped_by)
    assert counter.calls["salesforce"] - calls == 3  # create, upload, close: never a poll
    client.stop_requested = lambda: False
    assert set(_grades(client).values()) == {"D"}


def test_a_stop_before_a_job_starts_none(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter],
) -> None:
    client, sandbox, _ = bulk
    jobs_before = set(sandbox.salesforce.bulk.jobs)
    client.stop_requested = lambda: True
    report = client.update("Account", {a: {"CS_Health_Grade__c": "D"} for a in _grades(client)})
    assert isinstance(report.stopped_by, Interrupted)
    assert set(sandbox.salesforce.bulk.jobs) == jobs_before


def test_a_stop_between_collections_calls_keeps_what_was_written(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter],
) -> None:
    client, sandbox, _ = bulk
    client.config = client.config.model_copy(update={"bulk_threshold": 10_000})
    account = sorted(_grades(client))[0]
    tasks = [
        {"CS_Sync_Key__c": f"test:{i}", "Subject": f"Task {i}", "WhatId": account}
        for i in range(250)
    ]  # two calls of sObject Collections
    asked: list[str] = []
    client.stop_requested = lambda: bool(asked.append("?")) or len(asked) > 1
    report = client.upsert("Task", "CS_Sync_Key__c", tasks)
    assert isinstance(report.stopped_by, Interrupted)
    assert len(report.succeeded) == 200 and "after 200 of 250" in str(report.stopped_by)
    keys = [t.get("CS_Sync_Key__c") or "" for t in sandbox.store.all("Task")]
    assert sum(key.startswith("test:") for key in keys) == 200


def test_an_upload_too_large_for_one_job_is_cut_into_jobs() -> None:
    rows = [{"Id": f"001{i:015d}", "Description": "x" * (i % 50)} for i in range(1000)]
    parts = upload_parts(rows, limit=10_000)
    assert [row for part in parts for row in part] == rows
    assert all(len(csv_body(part)) <= 10_000 for part in parts)
    assert len(parts) <= 1 + len(csv_body(rows)) * 11 // 100_000
    assert upload_parts(rows) == [rows]  # a book's worth fits in one job


def test_a_bulk_query_typed_by_its_caller_describes_nothing(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter],
) -> None:
    """The caller names the columns that are not text: the CSV is typed by them, without a
    describe of the object (or of the parents its columns come through)."""
    client, sandbox, _ = bulk
    filler = ", ".join(f"'x{i:05d}'" for i in range(800))  # too long for an address: Bulk
    soql = (
        f"SELECT Id, IsClosed, Amount, Account.Name FROM Opportunity WHERE Name NOT IN ({filler})"
    )
    before = dict(sandbox.salesforce.described)
    typed = list(client.query(soql, "opportunities", {"IsClosed": "boolean", "Amount": "currency"}))
    assert sandbox.salesforce.described == before
    assert typed and all(isinstance(r["IsClosed"], bool) for r in typed)
    assert all(isinstance(r["Amount"], float) for r in typed if r["Amount"] is not None)
    assert all(isinstance(r["Account"]["Name"], str) for r in typed)
    described = list(client.query(soql, "opportunities"))
    assert described == typed
    assert sandbox.salesforce.described != before  # without types, the objects are described


def test_an_upload_is_made_as_bytes_without_its_text_held_whole() -> None:
    # the text whole and then its encoding held twice the upload's size at their peak
    rows = [
        {"Id": f"001{i:015d}", "Name": f"Kaisha {i} 株式会社", "Seats": i} for i in range(20_000)
    ]
    body = csv_body(rows)
    assert body.decode("utf-8").splitlines()[:2] == [
        "Id,Name,Seats",
        "001000000000000000,Kaisha 0 株式会社,0",
    ]
    assert traced_peak(lambda: csv_body(rows)) < 1.5 * len(body)


def test_an_update_s_rows_are_made_one_at_a_time() -> None:
    # all at once they were a second copy of the run's changes (55 MB at 87,000 accounts)
    changes = {
        f"001{i:015d}": {"CS_Health_Score__c": float(i), "CS_Next_Action__c": f"Call {i}"}
        for i in range(20_000)
    }
    rows = ChangedRows(changes)
    listed = [{"Id": record_id, **values} for record_id, values in changes.items()]
    assert list(rows) == listed and len(rows) == len(listed)
    assert list(rows[5:15]) == listed[5:15] and rows[-1] == listed[-1]
    parts = upload_parts(rows, limit=100_000)
    assert len(parts) > 1 and [row for part in parts for row in part] == listed
    assert csv_body(rows) == csv_body(listed)
    made_whole = traced_peak(lambda: csv_body([{"Id": k, **v} for k, v in changes.items()]))
    assert traced_peak(lambda: csv_body(rows)) < made_whole - 150 * len(listed)  # a dict: 184
