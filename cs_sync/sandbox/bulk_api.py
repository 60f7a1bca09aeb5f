"""Bulk API 2.0 jobs for the sandbox, with the documented lifecycle and CSV rules.

Ingest: Open → (PUT batches) → UploadComplete → InProgress → JobComplete (the rows are
processed from the moment the upload is closed, beside the requests that follow, a
transaction for every 10,000; the first poll finds the job InProgress, a later one complete
once they are done); results as CSV from
successfulResults/, failedResults/ and unprocessedrecords/. An empty cell leaves a field
unchanged and `#N/A` sets it to null.
Query: UploadComplete → InProgress → JobComplete (the query starts when the job is created, on
the records as they are then, and runs beside the requests that follow; a poll finds it
complete once it is, waiting up to two seconds for it); results/ pages of CSV with the
Sforce-Locator and Sforce-NumberOfRecords headers. No subqueries, no aggregates.
Jobs live in memory while the sandbox runs; a query job's rows are made as the records are
found and kept compressed, a thousand to a part.
"""

from __future__ import annotations

import contextvars
import csv
import io
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from cs_sync.sandbox import soql
from cs_sync.sandbox.access import visible_ids
from cs_sync.sandbox.bulk_job_state import IngestJob, QueryJob, flat_row
from cs_sync.sandbox.faults import Faults
from cs_sync.sandbox.http_types import Request, Response, sf_error
from cs_sync.sandbox.record_reads import Snapshot
from cs_sync.sandbox.records import RecordError, prepare
from cs_sync.sandbox.soql_syntax import SoqlError
from cs_sync.sandbox.store import OrgStore, now_stamp
from cs_sync.sfid import try_to18

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
# Salesforce divides an ingest job's rows into a batch for every 10,000 (Understanding Bulk
# API 2.0 Ingest); the sandbox applies each in a transaction of its own
ROWS_A_TRANSACTION = 10_000
POLL_WAIT_S = 2.0  # how long a poll waits for a job under way before answering InProgress
OPERATIONS = ("insert", "update", "upsert")


QueryRunner = Callable[[soql.Query, str, bool, Snapshot], Iterable[dict[str, Any]]]


class BulkIngestApi:
    def __init__(self, store: OrgStore, faults: Faults, run_query: QueryRunner) -> None:
        self.store = store
        self.faults = faults
        self.jobs: dict[str, IngestJob] = {}
        self.query_jobs: dict[str, QueryJob] = {}
        self.run_query = run_query
        self.lock = threading.Lock()

    # ------------------------------------------------------------ query jobs

    def _run_job(self, job: QueryJob, version: str, snapshot: Snapshot) -> None:
        """The job's query over the snapshot, its rows kept as they are made."""
        try:
            matched = self.run_query(job.query, version, job.operation == "queryAll", snapshot)
            job.keep(flat_row(record, job.query) for record in matched)
            job.outcome = "JobComplete"
        except SoqlError as error:  # a value the query cannot compare
            job.outcome, job.error = "Failed", error.message
        finally:
            snapshot.close()
            job.ready.set()

    def route_query(self, request: Request, version: str, parts: list[str]) -> Response:
        """parts: what follows /jobs/query."""
        if not parts and request.method == "POST":
            body = request.json() or {}
            if body.get("operation") not in ("query", "queryAll"):
                return sf_error(
                    400, "INVALIDJOB", "InvalidJob : operation must be query or queryAll"
                )
            parsed = soql.parse(str(body.get("query", "")), self.store.schema)
            if parsed.grouped or parsed.count_only:
                return sf_error(
                    400,
                    "API_ERROR",
                    "Aggregate queries (COUNT(), GROUP BY, aggregate functions) are not "
                    "supported by Bulk API 2.0 query jobs",
                )
            job = QueryJob(
                id=self.store.new_id("AsyncApexJob"),
                sobject=parsed.sobject,
                operation=str(body["operation"]),
                query=parsed,
                created=now_stamp(self.store.now()),
            )
            with self.lock:
                self.query_jobs[job.id] = job
            answer = Response.of_json(200, job.info(version))
            # Salesforce queues the job at once: it runs whether polled or not, on the records
            # as they are now
            job.state = "InProgress"
            snapshot = self.store.snapshot()
            work = partial(self._run_job, job, version, snapshot)
            threading.Thread(
                target=contextvars.copy_context().run, args=(work,), daemon=True
            ).start()
            return answer
        with self.lock:
            found = self.query_jobs.get(parts[0]) if parts else None
        if found is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        job = found
        if parts[1:] == [] and request.method == "GET":
            # a job of a few thousand records is done by the first poll; a larger one is
            # InProgress until it is
            if job.state == "InProgress" and job.ready.wait(POLL_WAIT_S):
                job.state = job.outcome
            return Response.of_json(200, job.info(version))
        if parts[1:] == ["results"] and request.method == "GET":
            if job.state != "JobComplete":
                return sf_error(400, "INVALIDJOBSTATE", f"job {job.id} is {job.state}")
            size = int(request.param("maxRecords") or 50000)
            start = int(request.param("locator") or 0)
            page = job.rows(start, size)
            following = start + size if start + size < job.count else None
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([".".join(p.parts) for p in job.query.fields])
            writer.writerows(page)
            return Response(
                200,
                out.getvalue().encode("utf-8"),
                {
                    "Content-Type": "text/csv; charset=UTF-8",
                    "Sforce-Locator": str(following) if following is not None else "null",
                    "Sforce-NumberOfRecords": str(len(page)),
                },
            )
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def route(self, request: Request, version: str, parts: list[str]) -> Response:
        """parts: what follows /jobs/ingest."""
        if not parts and request.method == "POST":
            return self.create(request, version)
        if not parts:
            return sf_error(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed."
            )
        with self.lock:
            job = self.jobs.get(parts[0])
        if job is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        rest = parts[1:]
        if rest == ["batches"] and request.method == "PUT":
            return self.upload(job, request)
        if not rest and request.method == "PATCH":
            return self.set_state(job, request, version)
        if not rest and request.method == "GET":
            self.advance(job)
            return Response.of_json(200, job.info(version))
        if not rest and request.method == "DELETE":
            with self.lock:
                self.jobs.pop(job.id, None)
            return Response(204)
        if (
            len(rest) == 1
            and request.method == "GET"
            and rest[0] in ("successfulResults", "failedResults", "unprocessedrecords")
        ):
            return self.results(job, rest[0])
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def create(self, request: Request, version: str) -> Response:
        body = request.json() or {}
        sobject = self.store.schema.lookup_object(str(body.get("object", "")))
        operation = body.get("operation")
        if sobject is None:
            return sf_error(
                400, "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}"
            )
        if operation not in OPERATIONS:
            return sf_error(
                400,
                "INVALIDJOB",
                f"InvalidJob : Invalid operation: {operation} "
                "(the sandbox supports insert, update and upsert)",
            )
        external = body.get("externalIdFieldName")
        if operation == "upsert":
            key = self.store.schema.lookup_field(sobject, str(external or ""))
            if key is None or not key.external_id:
                return sf_error(
                    400,
                    "INVALIDJOB",
                    "InvalidJob : External ID was blank or "
                    f"not an external id field for {sobject}: {external}",
                )
            external = key.name
        if (
            body.get("contentType", "CSV") != "CSV"
            or body.get("columnDelimiter", "COMMA") != "COMMA"
        ):
            return sf_error(
                400, "INVALIDJOB", "InvalidJob : the sandbox accepts CSV with COMMA delimiters only"
            )
        line_ending = str(body.get("lineEnding", "LF"))
        if line_ending not in ("LF", "CRLF"):
            return sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid lineEnding: {line_ending}")
        job = IngestJob(
            id=self.store.new_id("AsyncApexJob"),
            sobject=sobject,
            operation=str(operation),
            external_id=external,
            created=now_stamp(self.store.now()),
            line_ending=line_ending,
        )
        with self.lock:
            self.jobs[job.id] = job
        return Response.of_json(200, job.info(version))

    def upload(self, job: IngestJob, request: Request) -> Response:
        if job.state != "Open":
            return sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} is not open for uploads")
        if job.data:  # Bulk API 2.0 takes one upload per job
            return sf_error(
                400,
                "INVALIDJOBSTATE",
                f"Job {job.id}: only one upload of data is allowed per job; create another job",
            )
        if len(request.body) > MAX_UPLOAD_BYTES:
            return sf_error(400, "INVALIDBATCH", "the upload exceeds 100 MB")
        job.data.append(request.body)
        return Response(201)

    def set_state(self, job: IngestJob, request: Request, version: str) -> Response:
        wanted = (request.json() or {}).get("state")
        if wanted == "UploadComplete" and job.state == "Open":
            job.state = "UploadComplete"
            answer = Response.of_json(200, job.info(version))
            # Salesforce queues it at once: it runs whether polled or not, beside the requests
            # that follow
            runner = contextvars.copy_context().run  # as the caller who closed it
            threading.Thread(
                target=runner, args=(partial(self._process, job),), daemon=True
            ).start()
            return answer
        if wanted == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
            job.state = "Aborted"
            return Response.of_json(200, job.info(version))
        return sf_error(400, "INVALIDJOBSTATE", f"cannot change state {job.state} to {wanted}")

    def _process(self, job: IngestJob) -> None:
        try:
            job.error_message = self.job_error(job)
            if not job.error_message:  # else the whole job fails; no row is processed
                self.process(job)
        finally:
            job.ready.set()

    def advance(self, job: IngestJob) -> None:
        """On a poll: the first after the upload is closed finds the job InProgress (Failed if
        it failed whole), the next one complete once its rows are processed (a poll waits up
        to two seconds for them: a job of a few thousand rows is done by then)."""
        if job.state not in ("UploadComplete", "InProgress"):
            return
        if not job.ready.wait(POLL_WAIT_S):
            job.state = "InProgress"
        elif job.error_message:
            job.state = "Failed"
        else:
            job.state = "JobComplete" if job.state == "InProgress" else "InProgress"

    def job_error(self, job: IngestJob) -> str:
        """What fails a whole ingest job before any row: line endings other than the job
        declared, a column the object does not have."""
        text = b"".join(job.data).decode("utf-8", errors="replace")
        end = text.find("\n")  # the header's line end (a header holds no line break)
        crlf = end > 0 and text[end - 1] == "\r"
        if end > 0 and crlf != (job.line_ending == "CRLF"):
            return (
                "ClientInputError : LineEnding is invalid on user data. Current LineEnding "
                f"setting is {job.line_ending}"
            )
        header = next(csv.reader(io.StringIO(text)), [])
        for name in header:
            if (
                name not in ("Id", "id")
                and self.store.schema.lookup_field(job.sobject, name) is None
            ):
                return f"InvalidBatch : Field name not found : {name}"
        return ""

    def process(self, job: IngestJob) -> None:
        rows: list[dict[str, str]] = []
        for chunk in job.data:
            reader = csv.DictReader(io.StringIO(chunk.decode("utf-8")))
            job.columns = list(reader.fieldnames or [])
            rows.extend(reader)
        for start in range(0, len(rows), ROWS_A_TRANSACTION):
            with self.store.transaction():
                for row in rows[start : start + ROWS_A_TRANSACTION]:
                    self._row(job, row)

    def _row(self, job: IngestJob, row: dict[str, str]) -> None:
        try:
            record_id, created = self._apply(job, row)
            job.successes.append(
                {"sf__Id": record_id, "sf__Created": "true" if created else "false", **row}
            )
        except RecordError as error:
            fields = ",".join(error.fields)
            job.failures.append(
                {
                    "sf__Id": row.get("Id", "") or "",
                    "sf__Error": f"{error.code}:{error.message}:{fields}",
                    **row,
                }
            )

    def _apply(self, job: IngestJob, row: dict[str, str]) -> tuple[str, bool]:
        values: dict[str, Any] = {}
        for name, text in row.items():
            if name in ("Id", "id") or text == "":
                continue  # an empty cell leaves the field as it is
            definition = self.store.schema.lookup_field(job.sobject, name)
            if definition is None:
                raise RecordError(
                    "INVALID_FIELD", f"No such column '{name}' on entity '{job.sobject}'", [name]
                )
            values[definition.name] = None if text == "#N/A" else _typed(text, definition.type)
        existing = None
        if job.operation == "update":
            record_id = try_to18(row.get("Id") or "")
            found = self.store.get(record_id) if record_id else None
            if found is None and record_id and self.store.get(record_id, deleted=True):
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
            if found is None or found[0] != job.sobject:
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"]
                )
            existing = found[1]
        elif job.operation == "upsert":
            assert job.external_id is not None
            matches = visible_ids(
                self.store,
                job.sobject,
                self.store.find_ids(job.sobject, job.external_id, values.get(job.external_id)),
            )
            if matches:
                found = self.store.get(matches[0])
                existing = found[1] if found else None
                values.pop(job.external_id, None)
        if self.faults.take_lock(existing["Id"] if existing else None):
            raise RecordError(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records",
                [],
            )
        if existing is not None and existing["Id"] in self.faults.validation_error_ids:
            raise RecordError(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "Renewal date must be after "
                "the contract start (validation rule CS_Renewal_After_Start)",
                [],
            )
        record = prepare(self.store, job.sobject, values, existing, json_body=False)
        if existing is None:
            return self.store.insert(job.sobject, record), True
        self.store.update(job.sobject, existing, record)
        return str(existing["Id"]), False

    def results(self, job: IngestJob, kind: str) -> Response:
        if job.state != "JobComplete":
            return sf_error(
                400,
                "INVALIDJOBSTATE",
                f"results are available when the job is JobComplete (it is {job.state})",
            )
        if kind == "successfulResults":
            header, rows = ["sf__Id", "sf__Created", *job.columns], job.successes
        elif kind == "failedResults":
            header, rows = ["sf__Id", "sf__Error", *job.columns], job.failures
        else:
            header, rows = job.columns, []
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return Response(
            200, out.getvalue().encode("utf-8"), {"Content-Type": "text/csv; charset=UTF-8"}
        )


def _typed(text: str, kind: str) -> Any:
    if kind in ("double", "currency", "percent"):
        try:
            return float(text)
        except ValueError:
            return text  # prepare() reports the wrong type
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text
