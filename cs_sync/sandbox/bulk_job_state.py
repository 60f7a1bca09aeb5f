"""A Bulk API 2.0 job as the sandbox holds it: its JobInfo as Salesforce answers it (Get Job
Info), an ingest job's upload and results, and a query job's result rows, kept compressed a
thousand to a part (a million accounts' rows held as lists of strings took gigabytes).
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cs_sync.sandbox import soql

ROWS_A_PART = 1000  # a query job's rows kept together (compressed)


def job_info(
    job_id: str, operation: str, sobject: str, created: str, state: str, version: str
) -> dict[str, Any]:
    """The JobInfo fields ingest and query jobs share."""
    return {
        "id": job_id,
        "operation": operation,
        "object": sobject,
        "createdDate": created,
        "state": state,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(version),
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }


@dataclass
class IngestJob:
    id: str
    sobject: str
    operation: str
    external_id: str | None
    created: str
    state: str = "Open"
    data: list[bytes] = field(default_factory=list)
    successes: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    line_ending: str = "LF"
    error_message: str = ""  # why the whole job failed (state Failed)
    ready: threading.Event = field(default_factory=threading.Event)  # its rows processed

    def info(self, version: str) -> dict[str, Any]:
        return {
            **job_info(self.id, self.operation, self.sobject, self.created, self.state, version),
            **({"errorMessage": self.error_message} if self.error_message else {}),
            "lineEnding": self.line_ending,
            "externalIdFieldName": self.external_id,
            "contentUrl": f"services/data/v{version}/jobs/ingest/{self.id}/batches",
            "numberRecordsProcessed": len(self.successes) + len(self.failures),
            "numberRecordsFailed": len(self.failures),
        }


@dataclass
class QueryJob:
    id: str
    sobject: str
    operation: str
    query: soql.Query
    created: str
    state: str = "UploadComplete"
    # the result's rows, ROWS_A_PART to a part, each part JSON and compressed (a million
    # accounts' rows held as lists of strings took gigabytes), and how many there are
    parts: list[bytes] = field(default_factory=list)
    count: int = 0
    ready: threading.Event = field(default_factory=threading.Event)  # the query has run
    outcome: str = "JobComplete"  # the state it ends in
    error: str = ""

    def info(self, version: str) -> dict[str, Any]:
        found = {
            **job_info(self.id, self.operation, self.sobject, self.created, self.state, version),
            "numberRecordsProcessed": self.count if self.state == "JobComplete" else 0,
        }
        return {**found, "errorMessage": self.error} if self.state == "Failed" else found

    def keep(self, rows: Iterable[list[str]]) -> None:
        part: list[list[str]] = []
        for row in rows:
            part.append(row)
            if len(part) == ROWS_A_PART:
                self.parts.append(zlib.compress(json.dumps(part).encode("utf-8")))
                self.count += len(part)
                part = []
        if part:
            self.parts.append(zlib.compress(json.dumps(part).encode("utf-8")))
            self.count += len(part)

    def rows(self, start: int, size: int) -> list[list[str]]:
        """The rows from `start`, at most `size` of them."""
        out: list[list[str]] = []
        end = min(start + size, self.count)
        for index in range(start // ROWS_A_PART, (end - 1) // ROWS_A_PART + 1 if end else 0):
            part = json.loads(zlib.decompress(self.parts[index]))
            first = index * ROWS_A_PART
            out.extend(part[max(start - first, 0) : end - first])
        return out


def flat_row(record: dict[str, Any], query: soql.Query) -> list[str]:
    """One CSV row: parent fields by dotted path; null is an empty cell, booleans lower case."""
    cells = []
    for path in query.fields:
        value: Any = record
        for part in path.parts:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        else:
            cells.append(str(value))
    return cells
