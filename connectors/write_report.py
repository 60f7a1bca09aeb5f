"""What a write did, record by record: the successes, the failures Salesforce named, and the
whole-request failure that stopped it; and a Bulk job's result files read into one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cs_sync.errors import CsSyncError

# Record errors worth another try on their own: the row was locked, or the server was busy.
TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"}


@dataclass
class RecordFailure:
    record_id: str | None
    key: str | None  # e.g. the Task's external key when there is no id yet
    code: str
    message: str
    fields: list[str]


@dataclass
class WriteReport:
    succeeded: list[dict[str, Any]] = field(default_factory=list)  # {"id", "created"?}
    failed: list[RecordFailure] = field(default_factory=list)
    fields_written: int = 0
    stopped_by: CsSyncError | None = None  # the whole-request failure that ended the writes

    def add(self, other: WriteReport) -> None:
        """Another part of the same write, counted in."""
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.fields_written += other.fields_written
        self.stopped_by = other.stopped_by


def bulk_outcome(
    results: Iterable[dict[str, str]], failures: list[dict[str, str]], key_field: str | None
) -> tuple[WriteReport, list[dict[str, str]]]:
    """A Bulk job's successfulResults and failedResults rows as a report, and the failed rows
    worth retrying on their own (locked)."""
    report = WriteReport()
    skip = {"Id", "sf__Id", "sf__Created", key_field}
    for row in results:
        report.succeeded.append({"id": row["sf__Id"], "created": row.get("sf__Created") == "true"})
        report.fields_written += sum(1 for k, v in row.items() if k not in skip and v != "")
    retry = []
    for row in failures:
        code, _, rest = row.get("sf__Error", "UNKNOWN:").partition(":")
        message, _, fields = rest.rpartition(":")
        if code in TRANSIENT_CODES:
            retry.append(row)
            continue
        report.failed.append(
            RecordFailure(
                record_id=row.get("sf__Id") or row.get("Id") or None,
                key=row.get(key_field) if key_field else None,
                code=code,
                message=message or rest,
                fields=[f for f in fields.split(",") if f],
            )
        )
    return report, retry
