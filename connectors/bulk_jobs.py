"""Bulk API 2.0 ingest jobs, step by step: create, upload, close, poll.

Each step is its own API call with its own bounded retries, so a transient failure repeats
that step alone, never the whole job: a job started again from scratch would write every row a
second time and spend its calls again. A retried step that finds its first attempt took effect
(the answer was lost on the way back) goes on from there: a second upload refused as such, or a
close refused because the job is already closed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError
from simple_salesforce.util import call_salesforce

from cs_sync.connectors.bulk_csv import bulk_cell
from cs_sync.connectors.salesforce_calls import translate
from cs_sync.errors import Interrupted

Call = Callable[[str, Callable[[Salesforce], Any]], Any]

POLL_MAX_S = 10.0  # the longest wait between two polls of a job
JOB_WAIT_S = 3600.0  # give up on a job still running after this much waiting (retried later)


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


def run_ingest_job(
    call: Call,
    sleep: Callable[[float], None],
    first_poll_s: float,
    sobject: str,
    operation: str,
    rows: Sequence[dict[str, Any]],
    key_field: str | None,
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Run one ingest job to its end; its final state (id, numberRecordsFailed, ...). A job
    that fails as a whole raises (translated by `call`) with Salesforce's errorMessage. A stop
    requested before the job is created creates none; one requested while it runs stops the
    waiting (Interrupted) and leaves the job to Salesforce, which finishes it on its own."""
    if stop():
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
    waited, pause = 0.0, first_poll_s
    while True:
        _wait(sleep, pause, stop, job_id)
        waited += pause
        info = call(
            f"waiting for Bulk job {job_id}", lambda sf: sf.restful(f"jobs/ingest/{job_id}")
        )
        state = info.get("state")
        if state == "JobComplete":
            return dict(info)
        if state in ("Failed", "Aborted"):
            message = info.get("errorMessage") or state
            raise translate(
                SalesforceOperationError(f"Job failure. Response content: {message}"),
                f"running Bulk job {job_id}",
            )
        if waited >= JOB_WAIT_S:
            raise translate(
                SalesforceOperationError(f"Job timeout. Job status: {state}"),
                f"waiting for Bulk job {job_id}",
            )
        pause = min(POLL_MAX_S, pause * 1.5)


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
