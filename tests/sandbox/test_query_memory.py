"""The sandbox answers a query over a large object without holding its records: candidates
read a thousand at a time, each record shaped as it is found, a cursor's later pages and a
Bulk job's rows kept compressed. A million-account book's whole read held some 17 GB of
records and shaped copies in the sandbox (and would have held every abandoned cursor's
records as long as the cursor lives: two days)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

from simple_salesforce import Salesforce

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
