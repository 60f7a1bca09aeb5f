"""Failure switches a test (or an admin trying things out) can turn on in the sandbox.

Every switch counts down: `server_errors=3` fails the next three requests, then the sandbox
behaves again. Switches are set in-process (`sandbox.faults.set(...)`) or over HTTP with
`POST /__sandbox/faults` and a JSON body of the same names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Faults:
    server_errors: int = 0  # the next N API requests answer with `server_error_status`
    server_error_status: int = 503
    expire_sessions: bool = False  # drop every session now: the next call gets 401
    expire_sessions_after: int = 0  # drop every session just before the Nth request from now
    request_limit: int = 0  # the next N REST calls answer 403 REQUEST_LIMIT_EXCEEDED
    request_limit_kind: str = "TotalRequests"  # or "ConcurrentPerOrgLongTxn" (transient)
    lock_records: int = 0  # the next N records written fail with UNABLE_TO_LOCK_ROW
    lock_ids: list[str] = field(default_factory=list)  # these ids fail once each with it
    validation_error_ids: list[str] = field(default_factory=list)  # always fail these records
    #   with FIELD_CUSTOM_VALIDATION_EXCEPTION, as an org's validation rule would
    lost_responses: int = (
        0  # the next N REST, Drive, Sheets or webhook writes are carried out, then the
    )
    #   connection closed without an answer, as when a response is lost on the way back
    only_on: str = ""  # when set, server_errors and lost_responses count only the requests
    #   whose "METHOD path" this regular expression finds (e.g. "GET .*/jobs/ingest/"; a
    #   webhook's path begins with its host: "POST hooks.slack.com/")
    composite_sub_errors: int = 0  # the next N Composite subrequests answer 500
    #   UNKNOWN_EXCEPTION inside the call's 200, as when one part fails on Salesforce's side
    latency_ms: int = 0  # added to every request while set
    sheets_rate_limit: int = 0  # the next N Sheets requests answer 429
    sheets_cell_limit: int = 10_000_000  # Google's cells per spreadsheet; lower it to test a
    #   book at scale (1:100) without writing millions of cells
    sheets_resets: int = 0  # the next N Sheets requests: the connection is closed unanswered
    #   (and the request not carried out), as on a connection reset
    drive_disabled: int = 0  # the next N Drive requests answer 403 accessNotConfigured, as
    #   when the Google Drive API is not enabled in the caller's project
    webhook_rate_limited: int = 0  # the next N Slack or Teams webhook posts answer 429
    daily_api_max: int = 15000  # the org's daily allowance (Developer Edition default)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, **changes: Any) -> None:
        names = {f.name for f in fields(self) if not f.name.startswith("_")}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(
                f"unknown fault switch(es): {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)

    def take(self, name: str) -> bool:
        """Consume one unit of a countdown switch; True when it fired."""
        with self._lock:
            remaining = getattr(self, name)
            if remaining > 0:
                setattr(self, name, remaining - 1)
                return True
            return False

    def count_down_expiry(self) -> bool:
        """True on the request that `expire_sessions_after` counted down to."""
        with self._lock:
            if self.expire_sessions_after <= 0:
                return False
            self.expire_sessions_after -= 1
            return self.expire_sessions_after == 0

    def take_lock(self, record_id: str | None) -> bool:
        with self._lock:
            if record_id and record_id in self.lock_ids:
                self.lock_ids.remove(record_id)
                return True
            if self.lock_records > 0:
                self.lock_records -= 1
                return True
            return False

    def snapshot(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
