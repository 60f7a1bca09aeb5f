"""The sandbox answers a query over a large object without holding its records: candidates
read a thousand at a time, a cursor's later pages read from a snapshot when asked for, a Bulk
job run beside the requests that follow, on a snapshot, its rows kept compressed. A
million-account book's whole read held some 17 GB of records and shaped copies in the sandbox
(and would have held every abandoned cursor's records as long as the cursor lives: two
days)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from cs_sync.sandbox.server import Sandbox

RECORDS = 20_000
QUERY = "SELECT Id, Name, Type, Owner.Name FROM Account WHERE Type = 'Scale'"


def grown(sandbox: Sandbox) -> None:
    store = sandbox.store
    with store.transaction():
        for i in range(RECORDS):
            store.insert("Account", {"Name": f"Scale {i:05d} " + "x" * 300, "Type": "Scale"})


def traced(action: Callable[[], Any]) -> tuple[Any, int, int]:
    """What the action returns, and the memory it held at its peak and still holds after."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        answer = action()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return answer, peak - before, held - before


def test_a_rest_query_keeps_its_later_pages_compressed(sandbox: Sandbox, sf: Salesforce) -> None:
    grown(sandbox)
    first, peak, held = traced(lambda: sf.query(QUERY))
    assert first["totalSize"] == RECORDS and len(first["records"]) == 2000
    # 20,000 records of 330 characters: 8 MB as text, far more as dictionaries
    # the first page as the client holds it (2000 records, some 2.5 MB) and the cursor's nine
    # later pages compressed; every record shaped and kept held 22 MB, 41 at the peak
    assert held < 6_000_000, held
    assert peak < 16_000_000, peak
    names = [r["Name"] for r in sf.query_all(QUERY)["records"]]
    assert names == [f"Scale {i:05d} " + "x" * 300 for i in range(RECORDS)]


def test_a_bulk_query_job_keeps_its_rows_compressed(sandbox: Sandbox, sf: Salesforce) -> None:
    grown(sandbox)

    def run() -> list[Any]:
        return list(sf.bulk2.Account.query(QUERY, max_records=7_000))

    pages, _, held = traced(run)
    rows = [line for page in pages for line in page.splitlines()[1:]]
    assert len(pages) == 3 and len(rows) == RECORDS  # 7,000 + 7,000 + 6,000
    assert rows[6_999].split(",")[1] == "Scale 06999 " + "x" * 300
    assert rows[7_000].split(",")[1] == "Scale 07000 " + "x" * 300
    (job,) = [j for j in sandbox.salesforce.bulk.query_jobs.values() if j.sobject == "Account"]
    assert job.count == RECORDS
    # what the sandbox keeps beside the client's pages: the rows as lists held 11.6 MB
    assert held - sum(len(page) for page in pages) < 2_000_000


def test_later_pages_show_the_records_as_they_were_when_the_query_ran(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    """Pages are read from a snapshot when asked for: a record changed, deleted or added
    after the query ran does not change what its later pages hold, nor their count."""
    grown(sandbox)
    first = sf.query(QUERY)
    assert first["totalSize"] == RECORDS
    later = sf.query_all(QUERY)["records"]
    changed, deleted = later[5_000]["Id"], later[6_000]["Id"]
    sf.Account.update(changed, {"Name": "Renamed"})
    sf.Account.delete(deleted)
    sf.Account.create({"Name": "Scale new", "Type": "Scale"})
    records = list(first["records"])
    page = first
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        records += page["records"]
    assert len(records) == RECORDS and [r["Id"] for r in records] == [r["Id"] for r in later]
    assert records[5_000]["Name"].startswith("Scale 05000")
    assert sf.query(QUERY)["totalSize"] == RECORDS  # a new query sees the org as it is now


def test_a_bulk_job_reads_the_records_as_they_were_when_it_was_made(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    grown(sandbox)
    store = sandbox.store
    jobs = sandbox.salesforce.bulk
    ids = [r["Id"] for r in sf.query_all(QUERY)["records"]]
    job = sf.bulk2.Account._client.create_job("query", QUERY)
    with store.transaction():  # while the job runs: the last records are read last
        for record_id in ids[-3:]:
            found = store.get(record_id)
            assert found is not None
            store.update("Account", found[1], {**found[1], "Name": "Renamed"})
    made = jobs.query_jobs[job["id"]]
    assert made.ready.wait(60)
    rows = made.rows(0, RECORDS)
    assert len(rows) == RECORDS and not any(row[1] == "Renamed" for row in rows)


def test_a_cursor_is_kept_two_days(sandbox: Sandbox, sf: Salesforce) -> None:
    grown(sandbox)
    first = sf.query(QUERY)
    sandbox.store.clock_offset += timedelta(days=2, minutes=1)
    sf.query("SELECT Id FROM User")  # any query lets go of the cursors past their life
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_QUERY_LOCATOR"):
        sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
