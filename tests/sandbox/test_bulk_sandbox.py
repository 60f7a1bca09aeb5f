"""Bulk API 2.0 ingest in the sandbox, driven through simple-salesforce's bulk2 client."""

from __future__ import annotations

import csv
import io

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from cs_sync.sandbox.server import Sandbox


def _accounts(sf: Salesforce, n: int) -> list[str]:
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Account ORDER BY Id LIMIT {n}")["records"]]


def test_update_job_lifecycle_and_results(sandbox: Sandbox, sf: Salesforce) -> None:
    ids = _accounts(sf, 4)
    sf.Account.update(ids[3], {"CS_Health_Reasons__c": "old reason", "CS_Health_Grade__c": "B"})
    records = [
        {"Id": ids[0], "CS_Health_Grade__c": "A", "CS_Health_Score__c": "91.5"},
        {"Id": ids[1], "CS_Health_Grade__c": "E", "CS_Health_Score__c": "10"},
        {"Id": ids[2], "CS_Health_Grade__c": "C", "CS_Health_Score__c": "lots"},
        {"Id": ids[3], "CS_Health_Grade__c": "#N/A", "CS_Health_Score__c": ""},
    ]
    results = sf.bulk2.Account.update(records=records, wait=0.05)
    assert results[0]["numberRecordsProcessed"] == 4
    assert results[0]["numberRecordsFailed"] == 2
    assert results[0]["job_id"].startswith("750")
    failed = list(
        csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(results[0]["job_id"])))
    )
    assert [(r["sf__Id"], r["sf__Error"].split(":")[0]) for r in failed] == [
        (ids[1], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        (ids[2], "INVALID_TYPE_ON_FIELD_IN_RECORD"),
    ]
    succeeded = list(
        csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(results[0]["job_id"])))
    )
    assert [(r["sf__Id"], r["sf__Created"]) for r in succeeded] == [
        (ids[0], "false"),
        (ids[3], "false"),
    ]
    assert sf.Account.get(ids[0])["CS_Health_Score__c"] == 91.5
    fourth = sf.Account.get(ids[3])
    assert fourth["CS_Health_Grade__c"] is None  # #N/A cleared it
    assert fourth["CS_Health_Reasons__c"] == "old reason"  # not in the job: unchanged


def test_upsert_job_by_external_id(sandbox: Sandbox, sf: Salesforce) -> None:
    owner = sf.query("SELECT Id FROM User WHERE IsActive = true LIMIT 1")["records"][0]["Id"]
    rows = [
        {"CS_Sync_Key__c": f"cs-sync:bulk:{i}", "Subject": f"s{i}", "OwnerId": owner}
        for i in range(3)
    ]
    first = sf.bulk2.Task.upsert(records=rows, external_id_field="CS_Sync_Key__c", wait=0.05)
    again = sf.bulk2.Task.upsert(records=rows, external_id_field="CS_Sync_Key__c", wait=0.05)
    assert first[0]["numberRecordsFailed"] == again[0]["numberRecordsFailed"] == 0
    created = list(
        csv.DictReader(io.StringIO(sf.bulk2.Task.get_successful_records(again[0]["job_id"])))
    )
    assert {r["sf__Created"] for r in created} == {"false"}
    assert (
        sf.query("SELECT Id FROM Task WHERE CS_Sync_Key__c LIKE 'cs-sync:bulk:%'")["totalSize"] == 3
    )


def test_locked_rows_fail_in_the_results(sandbox: Sandbox, sf: Salesforce) -> None:
    ids = _accounts(sf, 3)
    sandbox.faults.set(lock_ids=[ids[1]])
    results = sf.bulk2.Account.update(
        records=[{"Id": i, "CS_Health_Grade__c": "B"} for i in ids], wait=0.05
    )
    failed = list(
        csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(results[0]["job_id"])))
    )
    assert [r["sf__Error"].split(":")[0] for r in failed] == ["UNABLE_TO_LOCK_ROW"]


def test_query_job_pages_csv_with_locators(sandbox: Sandbox, sf: Salesforce) -> None:
    total = sf.query("SELECT Id FROM Opportunity")["totalSize"]
    pages = list(
        sf.bulk2.Opportunity.query(
            "SELECT Id, Amount, IsWon, Account.Name FROM Opportunity ORDER BY Id",
            max_records=50,
            wait=0.05,
        )
    )
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(pages) == -(-total // 50) and len(rows) == total
    assert set(rows[0]) == {"Id", "Amount", "IsWon", "Account.Name"}
    assert {r["IsWon"] for r in rows} <= {"true", "false"}
    rest = sf.query_all("SELECT Id FROM Opportunity ORDER BY Id")["records"]
    assert [r["Id"] for r in rows] == [r["Id"] for r in rest]


def test_an_unknown_column_fails_the_whole_job(sf: Salesforce) -> None:
    """Bulk API 2.0 reads the header first: a column the object does not have fails the job
    (state Failed, errorMessage), and no row is written."""
    ids = _accounts(sf, 2)
    records = [
        {"Id": ids[0], "CS_Health_Grade__c": "A", "CS_Gone__c": "x"},
        {"Id": ids[1], "CS_Health_Grade__c": "B", "CS_Gone__c": "y"},
    ]
    with pytest.raises(SalesforceOperationError, match="Field name not found : CS_Gone__c"):
        sf.bulk2.Account.update(records=records, wait=0.05)
    assert sf.Account.get(ids[0]).get("CS_Health_Grade__c") is None


def test_line_endings_must_be_the_jobs(sandbox: Sandbox, sf: Salesforce) -> None:
    base = f"http://127.0.0.1:{sandbox.port}/services/data/v62.0/jobs/ingest"
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"}
    job = requests.post(
        base, json={"object": "Account", "operation": "update"}, headers=headers, timeout=10
    ).json()
    assert job["lineEnding"] == "LF"
    upload = f"{base}/{job['id']}/batches"
    body = f"Id,CS_Health_Grade__c\r\n{_accounts(sf, 1)[0]},A\r\n".encode()
    csv_headers = {**headers, "Content-Type": "text/csv"}
    assert requests.put(upload, data=body, headers=csv_headers, timeout=10).status_code == 201
    again = requests.put(upload, data=body, headers=csv_headers, timeout=10)
    assert again.status_code == 400  # one upload per job
    closed = requests.patch(
        f"{base}/{job['id']}/", json={"state": "UploadComplete"}, headers=headers, timeout=10
    )
    assert closed.status_code == 200
    info = requests.get(f"{base}/{job['id']}/", headers=headers, timeout=10).json()
    assert info["state"] == "Failed" and "LineEnding is invalid" in info["errorMessage"]
