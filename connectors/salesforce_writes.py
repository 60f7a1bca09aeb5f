"""Salesforce writes, the half of SalesforceClient (salesforce.py) that changes records:
sObject Collections below `salesforce.bulk_threshold`, one Bulk API 2.0 ingest job per object
above it, and cs-sync's own allowlist of the fields it may write on each object.

A record locked by another process (UNABLE_TO_LOCK_ROW) is retried alone after a short
jittered pause; a write that cannot be known to have reached the org is never sent twice
(create_once); SIGTERM ends a write between calls, every call sent written whole.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from simple_salesforce import Salesforce

from cs_sync.connectors.bulk_csv import csv_rows
from cs_sync.connectors.bulk_jobs import (
    ChangedRows,
    JobWait,
    Pace,
    run_ingest_job,
    upload_parts,
)
from cs_sync.connectors.salesforce_calls import restful
from cs_sync.connectors.settings import SalesforceConfig
from cs_sync.connectors.write_report import (
    TRANSIENT_CODES,
    RecordFailure,
    WriteReport,
    bulk_outcome,
)
from cs_sync.errors import ConnectError, CsSyncError, Interrupted, SetupError, Unanswered

log = logging.getLogger("cs_sync.connectors.salesforce")
T = TypeVar("T")
COLLECTION_SIZE = 200
LOCK_RETRIES = 3
TASK_FIELDS = frozenset(
    {"Subject", "Description", "OwnerId", "WhatId", "WhoId", "ActivityDate", "Status", "Priority"}
)
FEED_ITEM_FIELDS = frozenset({"ParentId", "Body", "Type", "IsRichText"})


def _bulk_results(sf: Salesforce, sobject: str, job_id: str, failed: bool) -> Any:
    jobs = getattr(sf.bulk2, sobject)
    return jobs.get_failed_records(job_id) if failed else jobs.get_successful_records(job_id)


class SalesforceWrites:
    """The writes; SalesforceClient holds the connection, the call policy and the settings."""

    sf: Salesforce
    config: SalesforceConfig
    sleep: Callable[[float], None]
    lock_pause_s: float
    ingest_pace: Pace
    stop_requested: Callable[[], bool]

    if TYPE_CHECKING:

        def call(self, doing: str, action: Callable[[Salesforce], T], once: bool = False) -> T: ...

        def job_wait(self, pace: Pace) -> JobWait: ...

    def allowed_fields(self, sobject: str) -> frozenset[str]:
        """What cs-sync may write: the configured Account allowlist; Task's standard fields and
        the key field. Nothing else, on any object."""
        if sobject == "Account":
            return frozenset(self.config.writable)
        if sobject == "Task":
            return TASK_FIELDS | {self.config.fields.task_key}
        if sobject == "FeedItem":
            return FEED_ITEM_FIELDS
        return frozenset()

    def _guard(self, sobject: str, records: Iterable[dict[str, Any]]) -> None:
        allowed = self.allowed_fields(sobject) | {"Id", "id", "attributes"}
        outside = sorted({name for record in records for name in record} - allowed)
        if outside:
            raise SetupError(
                f"cs-sync refused to write {sobject} field(s) {', '.join(outside)}: "
                "not in its write allowlist (salesforce.write_allowlist)"
            )

    def update(self, sobject: str, changes: Mapping[str, dict[str, Any]]) -> WriteReport:
        """Update only the given fields of the given records (id → {field: value}; a plan's
        updates make each record's dict as it is read, so it is read, never listed).
        sObject Collections (200 a call) up to the bulk threshold, one Bulk API 2.0 job above."""
        self._guard(sobject, changes.values())
        if len(changes) > self.config.bulk_threshold:
            rows = ChangedRows(changes)
            return self._bulk("update", sobject, rows, f"updating {sobject} (Bulk API)", None)
        return self._update_collections(sobject, changes)

    def upsert(
        self, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> WriteReport:
        """Create or update by an external-id field, so a rerun never makes a second copy."""
        self._guard(sobject, records)
        if len(records) > self.config.bulk_threshold:
            return self._bulk(
                "upsert", sobject, records, f"upserting {sobject} (Bulk API)", key_field
            )
        return self._upsert_collections(sobject, key_field, records)

    def create_once(self, sobject: str, records: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """Create records that have no key to upsert by (Chatter posts), through sObject
        Collections, each call sent once; what became of each record, in order: ("created",
        id), ("failed", "CODE: message"), ("unconfirmed", why: the call's answer was lost, so
        they may exist and are not sent again) or ("not sent", why: the call was refused
        whole, or never made)."""
        self._guard(sobject, records)
        outcomes: list[tuple[str, str]] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            chunk = records[start : start + COLLECTION_SIZE]
            body = {
                "allOrNone": False,
                "records": [{"attributes": {"type": sobject}, **r} for r in chunk],
            }
            doing = f"creating {sobject}"
            try:
                results = self.call(
                    doing,
                    partial(restful, path="composite/sobjects", method="POST", body=body),
                    once=True,
                )
            except CsSyncError as error:
                state = "unconfirmed" if isinstance(error, Unanswered) else "not sent"
                outcomes += [(state, str(error))] * (len(records) - start)
                return outcomes
            if not isinstance(results, list) or len(results) != len(chunk):
                why = f"Salesforce answered {doing} with an unexpected body"
                outcomes += [("unconfirmed", why)] * (len(records) - start)
                return outcomes
            for result in results:
                if result.get("success"):
                    outcomes.append(("created", str(result.get("id"))))
                    continue
                first = (result.get("errors") or [{}])[0]
                code = str(first.get("statusCode", "UNKNOWN"))
                state = "not sent" if code in TRANSIENT_CODES else "failed"
                outcomes.append((state, f"{code}: {first.get('message', '')}"))
        return outcomes

    def _update_collections(
        self, sobject: str, changes: Mapping[str, dict[str, Any]]
    ) -> WriteReport:
        records = [
            {"attributes": {"type": sobject}, "id": record_id, **values}
            for record_id, values in changes.items()
        ]
        return self._collections(
            "PATCH", "composite/sobjects", records, f"updating {sobject}", key_field=None
        )

    def _upsert_collections(
        self, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> WriteReport:
        body = [{"attributes": {"type": sobject}, **record} for record in records]
        return self._collections(
            "PATCH",
            f"composite/sobjects/{sobject}/{key_field}",
            body,
            f"upserting {sobject}",
            key_field=key_field,
        )

    def _bulk(
        self,
        operation: str,
        sobject: str,
        rows: Sequence[dict[str, Any]],
        doing: str,
        key_field: str | None,
    ) -> WriteReport:
        """Bulk API 2.0 ingest: one job, or as many as keep each upload under Salesforce's size
        limit (bulk_jobs.upload_parts)."""
        report = WriteReport()
        for part in upload_parts(rows):
            report.add(self._bulk_job(operation, sobject, part, key_field))
            if report.stopped_by is not None:
                break
        return report

    def _bulk_job(
        self, operation: str, sobject: str, rows: Sequence[dict[str, Any]], key_field: str | None
    ) -> WriteReport:
        """One Bulk API 2.0 ingest job, run step by step (bulk_jobs.py); failed rows are fetched
        and reported, locked rows are retried on their own through sObject Collections
        (bounded retries, never another job)."""
        report = WriteReport()
        try:
            job = run_ingest_job(
                self.call, self.job_wait(self.ingest_pace), sobject, operation, rows, key_field
            )
            job_id = str(job["id"])
            results = csv_rows(  # read as the outcome is counted, a row at a time
                self.call(
                    f"reading the results of Bulk job {job_id}",
                    partial(_bulk_results, sobject=sobject, job_id=job_id, failed=False),
                )
            )
            failures: list[dict[str, str]] = []
            if int(job.get("numberRecordsFailed", 0)):
                failures = list(
                    csv_rows(
                        self.call(
                            f"reading the failures of Bulk job {job_id}",
                            partial(_bulk_results, sobject=sobject, job_id=job_id, failed=True),
                        )
                    )
                )
        except CsSyncError as error:
            report.stopped_by = error
            return report
        report, retry = bulk_outcome(results, failures, key_field)
        if retry:
            log.info("%d record(s) locked during the Bulk job; retrying them alone", len(retry))
            self._pause_for_locks(0)
            index_by = key_field if operation == "upsert" else "Id"
            originals = {str(row.get(str(index_by))): row for row in rows}
            again = [originals[row[str(index_by)]] for row in retry]
            if operation == "upsert":
                second = self._upsert_collections(sobject, str(key_field), again)
            else:
                second = self._update_collections(
                    sobject, {r["Id"]: {k: v for k, v in r.items() if k != "Id"} for r in again}
                )
            report.add(second)
        return report

    def _collections(
        self,
        method: str,
        path: str,
        records: list[dict[str, Any]],
        doing: str,
        key_field: str | None,
    ) -> WriteReport:
        report = WriteReport()
        for start in range(0, len(records), COLLECTION_SIZE):
            if self.stop_requested():
                report.stopped_by = Interrupted(
                    f"stopped on request while {doing}, after {start:,} of {len(records):,} "
                    "record(s); every call sent was written whole, and the next run continues "
                    "from what is in Salesforce"
                )
                return report
            pending = records[start : start + COLLECTION_SIZE]
            for attempt in range(LOCK_RETRIES + 1):
                body = {"allOrNone": False, "records": pending}
                try:
                    results = self.call(
                        doing, partial(restful, path=path, method=method, body=body)
                    )
                except CsSyncError as error:
                    report.stopped_by = error  # what was written before stays reported
                    return report
                if not isinstance(results, list) or len(results) != len(pending):
                    report.stopped_by = ConnectError(
                        f"Salesforce answered {doing} with an unexpected body"
                    )
                    return report
                locked = []
                for record, result in zip(pending, results, strict=True):
                    if result.get("success"):
                        report.succeeded.append(result)
                        report.fields_written += sum(
                            1 for k in record if k not in ("attributes", "id", key_field)
                        )
                        continue
                    errors = result.get("errors") or [{}]
                    code = str(errors[0].get("statusCode", "UNKNOWN"))
                    if code in TRANSIENT_CODES and attempt < LOCK_RETRIES:
                        locked.append(record)
                        continue
                    report.failed.append(
                        RecordFailure(
                            record_id=record.get("id") or result.get("id"),
                            key=str(record.get(key_field)) if key_field else None,
                            code=code,
                            message=str(errors[0].get("message", "")),
                            fields=list(errors[0].get("fields") or []),
                        )
                    )
                if not locked:
                    break
                log.info("%d record(s) locked by another process; retrying them alone", len(locked))
                self._pause_for_locks(attempt)
                pending = locked
        return report

    def _pause_for_locks(self, attempt: int) -> None:
        """Wait before retrying locked records: longer each attempt, with full jitter."""
        self.sleep(self.lock_pause_s * (attempt + 1) * random.uniform(0.5, 1.5))  # noqa: S311
