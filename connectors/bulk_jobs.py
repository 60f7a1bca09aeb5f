"""Bulk API 2.0 jobs, step by step: an ingest job's create, upload, close, poll; a query
job's create, poll, result pages.

Each step is its own API call with its own bounded retries, so a transient failure repeats
that step alone, never the whole job: a job started again from scratch would write every row a
second time and spend its calls again. A retried step that finds its first attempt took effect
(the answer was lost on the way back) goes on from there: a second upload refused as such, or a
close refused because the job is already closed.

A job is first polled when it should be done (`Pace`): after a wait for the records it holds,
so that one poll usually finds it complete; a poll that finds it still running is followed by
shorter, growing pauses, and the pace slows to what the job took.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, overload

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError
from simple_salesforce.util import call_salesforce

from cs_sync.connectors.bulk_csv import bulk_cell
from cs_sync.connectors.salesforce_calls import translate
from cs_sync.errors import Interrupted

Call = Callable[[str, Callable[[Salesforce], Any]], Any]

POLL_MAX_S = 10.0  # the longest pause between two polls of a job after its first
FIRST_WAIT_MAX_S = 300.0  # the longest wait before a job's first poll
JOB_WAIT_S = 3600.0  # give up on a job still running after this much waiting (retried later)
# The pace a job is first waited for: records a second. Salesforce publishes none; the query
# pace is below what the sandbox's query jobs kept (21,000 to 72,000 records a second at
# 100,000 accounts, the slowest reading contact roles through two relationships), so that
# the first poll most often finds a job done.
QUERY_RECORDS_PER_S = 20_000.0
INGEST_ROWS_PER_S = 10_000.0
SLOWEST_RECORDS_PER_S = 100.0  # a pace learnt never goes below this


@dataclass
class Pace:
    """How long a job of so many records is waited for before its first poll: its records at
    the pace the org's jobs keep, never less than `least_s`. A job found still running at its
    first poll slows the pace to what it took (from its creation to the poll that found it
    done), so the client's later jobs are waited for as long."""

    records_per_s: float
    least_s: float = 1.0

    def first_wait(self, records: int) -> float:
        return min(FIRST_WAIT_MAX_S, max(self.least_s, records / self.records_per_s))

    def learn(self, records: int, seconds: float) -> None:
        if records > 0 and seconds > 0:
            took = max(SLOWEST_RECORDS_PER_S, records / seconds)
            self.records_per_s = min(self.records_per_s, took)


def csv_body(rows: Sequence[dict[str, Any]]) -> bytes:
    """The upload, in UTF-8: a header with every column any row has, LF line endings. Written
    as bytes as it goes: the text whole and then its encoding held twice the upload's size
    (54 MB at the peak for 87,000 rows of 16 fields, 26 MB so)."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.BytesIO()
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.DictWriter(text, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({name: bulk_cell(value) for name, value in row.items()} for row in rows)
    text.flush()
    text.detach()  # the bytes stay open for getvalue
    return out.getvalue()


class ChangedRows(Sequence[dict[str, Any]]):
    """An update's rows ({"Id": ..., field: value, ...}) for id -> {field: value} changes, each
    made as it is read (an upload writes them one at a time) and let go: all at once they
    were a second copy of the changes (a dict of 16 fields is some 650 bytes: about 55 MB
    for a first run's 87,000 accounts)."""

    def __init__(self, changes: Mapping[str, dict[str, Any]], ids: list[str] | None = None) -> None:
        self.changes = changes
        self.ids = list(changes) if ids is None else ids

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, at: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, at: slice) -> ChangedRows: ...

    def __getitem__(self, at: int | slice) -> dict[str, Any] | ChangedRows:
        if isinstance(at, slice):
            return ChangedRows(self.changes, self.ids[at])
        record_id = self.ids[at]
        return {"Id": record_id, **self.changes[record_id]}


# Salesforce takes at most 150 MB of base64 per upload and advises 100 MB of CSV before it
# (Bulk API 2.0, Upload Job Data); one job takes one upload.
UPLOAD_MAX_BYTES = 100_000_000


def upload_parts(
    rows: Sequence[dict[str, Any]], limit: int = UPLOAD_MAX_BYTES
) -> list[Sequence[dict[str, Any]]]:
    """The rows cut into as few jobs as keep each job's CSV under `limit` bytes (one job
    when they fit, as they do for most books)."""
    size = len(csv_body(rows))
    if size <= limit or len(rows) == 1:
        return [rows]
    pieces = -(-size * 11 // (limit * 10))  # a tenth to spare: rows differ in width
    step = -(-len(rows) // max(pieces, 2))
    return [
        part for i in range(0, len(rows), step) for part in upload_parts(rows[i : i + step], limit)
    ]


@dataclass
class JobWait:
    """How a client waits for its jobs: `sleep` and `clock` (seconds), `stop` (asked while it
    waits: SIGTERM), and the `pace` of its jobs of this kind."""

    sleep: Callable[[float], None]
    clock: Callable[[], float]
    stop: Callable[[], bool]
    pace: Pace


def run_ingest_job(
    call: Call,
    wait: JobWait,
    sobject: str,
    operation: str,
    rows: Sequence[dict[str, Any]],
    key_field: str | None,
) -> dict[str, Any]:
    """Run one ingest job to its end; its final state (id, numberRecordsFailed, ...). A job
    that fails as a whole raises (translated by `call`) with Salesforce's errorMessage. A stop
    requested before the job is created creates none; one requested while it runs stops the
    waiting (Interrupted) and leaves the job to Salesforce, which finishes it on its own."""
    if wait.stop():
        raise Interrupted(
            f"stopped on request before a Bulk {operation} of {len(rows):,} {sobject} "
            "record(s); the next run continues from what is in Salesforce"
        )
    spec: dict[str, Any] = {
        "object": sobject,
        "operation": operation,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    if key_field:
        spec["externalIdFieldName"] = key_field
    job = call(
        f"creating a Bulk {operation} job for {sobject}",
        lambda sf: sf.restful("jobs/ingest", method="POST", json=spec),
    )
    job_id = str(job["id"])
    attempts = {"upload": 0, "close": 0}
    body = csv_body(rows)  # made once, whatever the upload's attempts

    def upload(sf: Salesforce) -> None:
        attempts["upload"] += 1
        try:
            call_salesforce(
                url=f"{sf.base_url}jobs/ingest/{job_id}/batches",
                method="PUT",
                session=sf.session,
                headers={**sf.headers, "Content-Type": "text/csv"},
                data=body,
            )
        except SalesforceMalformedRequest as refused:
            if attempts["upload"] == 1 or "INVALIDJOBSTATE" not in str(refused.content):
                raise
            # the first upload arrived; only its answer was lost

    def close(sf: Salesforce) -> None:
        attempts["close"] += 1
        try:
            sf.restful(f"jobs/ingest/{job_id}", method="PATCH", json={"state": "UploadComplete"})
        except SalesforceMalformedRequest:
            state = (sf.restful(f"jobs/ingest/{job_id}") or {}).get("state")
            if attempts["close"] == 1 or state == "Open":
                raise

    call(f"uploading the rows of Bulk job {job_id}", upload)
    call(f"closing Bulk job {job_id}", close)
    return await_job(call, wait, "ingest", job_id, len(rows), f"running Bulk job {job_id}")


def query_job_pages(
    call: Call, wait: JobWait, soql: str, what: str, all_rows: bool, records: int, page_size: int
) -> Iterator[str]:
    """A Bulk API 2.0 query job's result pages as CSV texts, each read in a call of its own
    (a transient failure repeats that page alone) and given out before the next is read.
    `records`: how many it is expected to hold (0: not known), for its first wait."""
    spec = {
        "operation": "queryAll" if all_rows else "query",
        "query": soql,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    job = call(
        f"starting a Bulk query of {what}",
        lambda sf: sf.restful("jobs/query", method="POST", json=spec),
    )
    job_id = str(job["id"])
    await_job(call, wait, "query", job_id, records, f"reading {what} (Bulk API job {job_id})")
    locator = ""
    while True:
        params = {"maxRecords": page_size, **({"locator": locator} if locator else {})}
        text, locator = call(
            f"reading {what} (Bulk API job {job_id})",
            partial(_results_page, job_id=job_id, params=params),
        )
        yield text
        if not locator:
            return


def _results_page(sf: Salesforce, job_id: str, params: dict[str, Any]) -> tuple[str, str]:
    """One page of a query job's results, and the locator of the next ("" after the last)."""
    answer = call_salesforce(
        url=f"{sf.base_url}jobs/query/{job_id}/results",
        method="GET",
        session=sf.session,
        headers={**sf.headers, "Accept": "text/csv"},
        params=params,
    )
    locator = answer.headers.get("Sforce-Locator") or ""
    # a NUL byte in a field would end the CSV reader's cell early (simple-salesforce drops them too)
    text = answer.content.decode("utf-8").replace("\x00", "")
    return text, "" if locator == "null" else locator


def await_job(
    call: Call, wait: JobWait, kind: str, job_id: str, records: int, doing: str
) -> dict[str, Any]:
    """Poll a job (`kind`: ingest or query) until it is done; its final state. Its first poll
    comes after the wait its records take at `wait.pace`, the next ones after pauses from
    `pace.least_s` growing by half up to POLL_MAX_S. Failed or Aborted raise, translated
    (`doing`), as does a job still running after JOB_WAIT_S; a stop requested while it waits
    raises Interrupted."""
    started = wait.clock()
    pause, waited, polls = wait.pace.first_wait(records), 0.0, 0
    while True:
        _wait(wait.sleep, pause, wait.stop, job_id)
        waited += pause
        info = call(
            f"waiting for Bulk job {job_id}", lambda sf: sf.restful(f"jobs/{kind}/{job_id}")
        )
        polls += 1
        state = info.get("state")
        if state == "JobComplete":
            if polls > 1:
                done = int(info.get("numberRecordsProcessed") or 0) or records
                wait.pace.learn(done, wait.clock() - started)
            return dict(info)
        if state in ("Failed", "Aborted"):
            message = info.get("errorMessage") or state
            raise translate(
                SalesforceOperationError(f"Job failure. Response content: {message}"), doing
            )
        if waited >= JOB_WAIT_S:
            raise translate(
                SalesforceOperationError(f"Job timeout. Job status: {state}"),
                f"waiting for Bulk job {job_id}",
            )
        pause = wait.pace.least_s if polls == 1 else min(POLL_MAX_S, pause * 1.5)


STOP_CHECK_S = 0.5  # how often a wait for a job asks whether a stop was requested


def _wait(sleep: Callable[[float], None], pause: float, stop: Callable[[], bool], job: str) -> None:
    left = pause
    while left > 0:
        if stop():
            raise Interrupted(
                f"stopped on request while Bulk job {job} ran: Salesforce finishes it on its "
                "own, and the next run continues from what is in Salesforce"
            )
        sleep(min(STOP_CHECK_S, left))
        left -= STOP_CHECK_S
