"""Salesforce adapter: login, paged and Bulk queries, describes; the writes (sObject
Collections and Bulk ingest jobs) are its other half, salesforce_writes.py.

Every call goes through SalesforceClient.call: vendor exceptions (simple-salesforce, requests)
are translated into cs_sync.errors (salesforce_calls.py); transient failures (5xx, connection
errors, ConcurrentPerOrgLongTxn) are retried with bounded exponential backoff and jitter; a
record locked by another process (UNABLE_TO_LOCK_ROW) is retried alone; permanent errors are
reported, never retried.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import pandas as pd
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
)

from cs_sync.connectors.bulk_csv import (
    csv_rows,
    frame_from_csv,
    frame_from_records,
    record_from_csv,
    stacked,
    typed_frame,
)
from cs_sync.connectors.bulk_jobs import (
    INGEST_ROWS_PER_S,
    QUERY_RECORDS_PER_S,
    JobWait,
    Pace,
    query_job_pages,
)
from cs_sync.connectors.retries import with_retries
from cs_sync.connectors.salesforce_calls import ApiBudget, restful, translate
from cs_sync.connectors.salesforce_writes import SalesforceWrites
from cs_sync.connectors.settings import SalesforceConfig
from cs_sync.errors import (
    ConnectError,
    CsSyncError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P")  # a page of a query as its reader takes it
BULK_QUERY_PAGE = 50_000
# A REST call's address and headers together may hold 16,384 bytes (a longer address: 414,
# longer headers: 431; Knowledge Article 000386264). A query whose encoded SOQL is longer
# than this goes through Bulk API 2.0 instead, with the SOQL in the request body.
URI_QUERY_ROOM = 8_000


# One API call each, for SalesforceClient.call (bound with functools.partial).
def _query_more(sf: Salesforce, url: str, headers: dict[str, str] | None) -> Any:
    return sf.query_more(url, identifier_is_url=True, headers=headers)  # query or queryAll


def _as_read(page: list[dict[str, Any]] | str) -> list[dict[str, Any]] | str:
    return page


def _sobject(soql: str, what: str) -> str:
    """The object a query reads (its FROM)."""
    match = re.search(r"\bFROM\s+(\w+)", soql, re.IGNORECASE)
    if match is None:
        raise CsSyncError(f"cannot tell the object of the query for {what}")
    return match.group(1)


def _records(page: Any, what: str) -> list[dict[str, Any]]:
    """A query page's records; a page without them is a failure, named, never a crash."""
    records = page.get("records") if isinstance(page, dict) else None
    if not isinstance(records, list):
        raise ConnectError(
            f"Salesforce answered a page of {what} without its records (a proxy or an outage "
            "page in between?); nothing was changed by this read"
        )
    return records


class SalesforceClient(SalesforceWrites):
    """The worker's view of one Salesforce org. Build it with `connect(...)`."""

    def __init__(
        self,
        sf: Salesforce,
        config: SalesforceConfig,
        login: Callable[[], Salesforce] | None = None,
        max_attempts: int = 5,
        wait_max_s: float = 30.0,
        budget: ApiBudget | None = None,
    ) -> None:
        self.sf = sf
        self.config = config
        self.budget = budget or ApiBudget(reserve_share=0.0)
        self._login = login
        self.max_attempts = max_attempts
        self.wait_max_s = wait_max_s
        self.retries = 0
        # The pace of the org's Bulk jobs, by the records they hold: a job is first polled
        # when it should be done (bulk_jobs.Pace), then after pauses from least_s growing.
        self.query_pace = Pace(QUERY_RECORDS_PER_S)
        self.ingest_pace = Pace(INGEST_ROWS_PER_S)
        self.clock: Callable[[], float] = time.monotonic
        # Records locked by another process are retried after a short jittered pause, so that
        # the lock's holder (a flow, a trigger, another integration) can finish first.
        self.lock_pause_s = 1.0
        self.sleep: Callable[[float], None] = time.sleep
        # Asked between write calls and while a Bulk job runs (SIGTERM): yes ends the write
        # there, every call sent written whole.
        self.stop_requested: Callable[[], bool] = lambda: False
        self._describes: dict[str, dict[str, dict[str, Any]]] = {}
        # The org's clock as its last answer's Date header gave it (UTC, to the second):
        # where a read of changes starts, so that no local clock's drift skips one.
        self.server_time: datetime | None = None

    def note_server_time(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """A response hook (requests): remember the Date header of Salesforce's answers."""
        stamp = response.headers.get("Date")
        if stamp:
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = parsedate_to_datetime(stamp).astimezone(UTC)

    # ------------------------------------------------------------ the call boundary

    def call(self, doing: str, action: Callable[[Salesforce], T], once: bool = False) -> T:
        """Run one API call: re-login once on an expired session (a refused session did
        nothing), retry transient failures; `once`: no retries (a create that is not
        idempotent: a lost answer may have created it)."""
        relogged = False

        def attempt() -> T:
            nonlocal relogged
            try:
                return action(self.sf)
            except SalesforceExpiredSession as exc:
                if self._login is None or relogged:
                    raise translate(exc, doing) from None
                log.info("Salesforce session expired; logging in again")
                self.sf = self._login()  # raises the project's errors; transient ones retry
                relogged = True
                try:
                    return action(self.sf)
                except Exception as again:
                    raise translate(again, doing) from None
            except Exception as exc:
                raise translate(exc, doing) from None

        self.budget.check(doing)
        if once:
            return attempt()
        return with_retries(attempt, self.max_attempts, self.wait_max_s, self._note_retry)

    def _note_retry(self, state: Any) -> None:
        self.retries += 1
        log.warning("retrying Salesforce call after: %s", state.outcome.exception())

    # ------------------------------------------------------------ reads

    def query(
        self, soql: str, what: str, types: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """All records of a query: REST pages of up to 2,000 (query, then queryMore); when the
        first page reports more than salesforce.bulk_query_threshold records, the rest comes
        from one Bulk API 2.0 query job instead (far fewer calls for big objects). `types`:
        the describe types of the selected columns that are not text (a Bulk job's CSV is
        typed by them), when the caller knows them; else the objects are described."""
        for page in self._pages(soql, what, _as_read):
            if isinstance(page, list):
                yield from page
                continue
            reader = csv_rows(page)
            if types is None:
                types = self._column_types(_sobject(soql, what), list(reader.fieldnames or []))
            for row in reader:
                yield record_from_csv(row, types)

    def query_frame(
        self,
        soql: str,
        what: str,
        columns: dict[str, str],
        all_rows: bool = False,
        first: dict[str, Any] | None = None,
        records: int = 0,
        each_page: Callable[[pd.DataFrame], pd.DataFrame] = lambda page: page,
    ) -> pd.DataFrame:
        """The query's records as one table, a column per selected field (`columns`: the
        path as selected, such as Opportunity.AccountId, and its describe type): a Bulk job's
        CSV pages read straight into columns, never a dictionary per record. `all_rows`:
        queryAll, the records in the Recycle Bin too; `first`: its first page, already read
        (in a Composite call); `records`: how many it held when last read (0: not known), above
        salesforce.bulk_query_threshold straight to a Bulk API 2.0 job; `each_page`: what
        each page's table goes through as it comes (before the next page is read)."""

        def typed(page: list[dict[str, Any]] | str) -> pd.DataFrame:
            return each_page(
                typed_frame(
                    frame_from_records(page, columns)
                    if isinstance(page, list)
                    else frame_from_csv(page, columns),
                    columns,
                )
            )

        frames = list(  # each page typed as it comes: its text let go before the next
            self._bulk_pages(soql, what, typed, all_rows, records)
            if self.straight_to_bulk(records)
            else self._pages(soql, what, typed, all_rows, first)
        )
        return stacked(frames) if frames else typed([])

    def straight_to_bulk(self, records: int) -> bool:
        """Whether a read that held `records` when last read goes straight to a Bulk job,
        without a first page over REST (above salesforce.bulk_query_threshold)."""
        return records > self.config.bulk_query_threshold

    def _pages(
        self,
        soql: str,
        what: str,
        typed: Callable[[list[dict[str, Any]] | str], P],
        all_rows: bool = False,
        first: dict[str, Any] | None = None,
    ) -> Iterator[P]:
        """The query's pages (REST record lists, or a Bulk job's CSV texts), each `typed`."""
        if first is None and len(quote(soql)) > URI_QUERY_ROOM:  # 414 to a longer address
            yield from self._bulk_pages(soql, what, typed, all_rows)  # the SOQL in the body
            return
        headers = {"Sforce-Query-Options": f"batchSize={self.config.query_batch_size}"}
        page = first or self.call(
            f"reading {what}",
            lambda sf: sf.query(soql, include_deleted=all_rows, headers=headers),
        )
        _records(page, what)
        if (
            not page.get("done", True)
            and page.get("totalSize", 0) > self.config.bulk_query_threshold
        ):
            yield from self._bulk_pages(soql, what, typed, all_rows, page["totalSize"])
            return
        while True:
            yield typed(_records(page, what))
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.call(
                f"reading {what}",
                partial(_query_more, url=next_url, headers=headers),
            )

    def _bulk_pages(
        self,
        soql: str,
        what: str,
        typed: Callable[[list[dict[str, Any]] | str], P],
        all_rows: bool = False,
        records: int = 0,
    ) -> Iterator[P]:
        """A Bulk API 2.0 query job's result pages, each `typed` as it arrives and its CSV
        text let go before the next is read; `records`: how many it should hold (0: not
        known), so that it is first polled when it should be done."""
        for page in query_job_pages(
            self.call,
            self.job_wait(self.query_pace),
            soql,
            what,
            all_rows,
            records,
            BULK_QUERY_PAGE,
        ):
            yield typed(page)

    def job_wait(self, pace: Pace) -> JobWait:
        """How this client waits for a Bulk job of `pace`'s kind, asking whether a stop was
        requested as it does."""
        return JobWait(self.sleep, self.clock, lambda: self.stop_requested(), pace)

    def _column_types(self, sobject: str, columns: list[str]) -> dict[str, str]:
        """Field types of CSV columns such as Name or Owner.IsActive, from describe (cached)."""
        types = {}
        for column in columns:
            current = sobject
            *relationships, name = column.split(".")
            for relationship in relationships:
                fields = self.described_fields(current)
                ref = next(
                    (
                        f
                        for f in fields.values()
                        if (f.get("relationshipName") or "").lower() == relationship.lower()
                    ),
                    None,
                )
                current = ref["referenceTo"][0] if ref and ref.get("referenceTo") else current
            found = self.described_fields(current).get(name.lower())
            types[column] = found["type"] if found else "string"
        return types

    def described_fields(self, sobject: str) -> dict[str, dict[str, Any]]:
        """The object's fields the integration user can see, by lower-cased API name (one
        describe per object and client)."""
        if sobject not in self._describes:
            self.remember_describe(sobject, self.describe(sobject))
        return self._describes[sobject]

    @property
    def described(self) -> frozenset[str]:
        """The objects this client has described."""
        return frozenset(self._describes)

    def remember_describe(self, sobject: str, found: dict[str, Any]) -> None:
        """Keep a describe read elsewhere (several in one Composite call)."""
        self._describes[sobject] = {f["name"].lower(): f for f in found.get("fields") or []}

    def field_scales(self, sobject: str) -> dict[str, int]:
        """Decimal places each number field keeps (whole numbers: 0), from describe (cached):
        the org rounds what it stores to them."""
        numeric = {"double": None, "currency": None, "percent": None, "int": 0}
        return {
            str(f["name"]): int(f.get("scale") or 0) if numeric[f["type"]] is None else 0
            for f in self.described_fields(sobject).values()
            if f.get("type") in numeric
        }

    def limits(self) -> dict[str, Any]:
        limits = dict(self.call("reading API limits", lambda sf: sf.limits()))
        self.budget.observe_limits(limits)
        return limits

    def describe(self, sobject: str) -> dict[str, Any]:
        """The object's fields as the integration user sees them (field-level security)."""
        found = self.call(
            f"describing {sobject}", partial(restful, path=f"sobjects/{sobject}/describe")
        )
        return dict(found or {})

    def create_custom_field(self, full_name: str, metadata: dict[str, Any]) -> str:
        """Create one custom field with the Tooling API; returns its id."""
        body = {"FullName": full_name, "Metadata": metadata}
        created = self.call(
            f"creating the field {full_name}",
            partial(restful, path="tooling/sobjects/CustomField", method="POST", body=body),
        )
        return str((created or {}).get("id", ""))


def soql(template: str, **values: Any) -> str:
    """SOQL with every literal escaped (quotes, backslashes) by simple-salesforce."""
    return str(format_soql(template, **values))
