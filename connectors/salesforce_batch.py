"""Several small reads in one API call: the Composite resource runs up to 25 REST requests,
at most 5 of them queries, and the whole series counts as a single call toward the org's
API limits (REST API Developer Guide, "Send Multiple Requests Using Composite").

A run's questions of what changed since the last one, and the describes its checks need, go
this way: each answer is what the request alone would have answered, so a query's first page
continues as usual (queryMore, or a Bulk job when it holds many records).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import pandas as pd
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from cs_sync.connectors.salesforce import URI_QUERY_ROOM, SalesforceClient
from cs_sync.connectors.salesforce_calls import translate
from cs_sync.errors import ConnectError, CsSyncError

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5


@dataclass(frozen=True)
class Read:
    """One query: its SOQL, how messages name it, its typed columns, queryAll or not, and
    how many records it held when last read (`records`, 0: not known): above
    salesforce.bulk_query_threshold it goes straight to a Bulk API 2.0 job, no first page read
    over REST to find out, and the job is first polled when that many should be done."""

    soql: str
    what: str
    columns: dict[str, str]
    all_rows: bool = False
    records: int = 0
    each_page: Callable[[pd.DataFrame], pd.DataFrame] = lambda page: page  # see query_frame


def _composite(sf: Salesforce, body: dict[str, Any]) -> Any:
    """One Composite call; a subrequest that failed on Salesforce's side (5xx) fails the
    call, so that it is retried as any call is."""
    answer = sf.restful("composite", method="POST", json=body)
    items = answer.get("compositeResponse") if isinstance(answer, dict) else None
    for item in items if isinstance(items, list) else []:
        status = int(item.get("httpStatusCode", 200))
        if status >= 500:
            raise SalesforceGeneralError("composite", status, "composite", item.get("body"))
    return answer


def _answers(
    client: SalesforceClient, requests: list[dict[str, Any]], verb: str, whats: list[str]
) -> list[Any]:
    """The subrequests' answers in order; a failed one raises as the request alone would,
    naming what it read (`read`)."""
    doing = f"{verb} " + ", ".join(whats)
    body = {"allOrNone": False, "compositeRequest": requests}
    answer = client.call(doing, partial(_composite, body=body))
    found = answer.get("compositeResponse") if isinstance(answer, dict) else None
    if not isinstance(found, list) or len(found) != len(requests):
        raise ConnectError(
            f"Salesforce answered a Composite call ({doing}) without an answer per request "
            "(a proxy or an outage page in between?); nothing was changed by this read"
        )
    by_reference = {str(item.get("referenceId")): item for item in found}
    bodies = []
    for request, what in zip(requests, whats, strict=True):
        item = by_reference.get(request["referenceId"], {})
        status = int(item.get("httpStatusCode", 500))
        if not 200 <= status < 300:
            url = str(request["url"])
            error_type = SalesforceMalformedRequest if status == 400 else SalesforceGeneralError
            failed = error_type(url, status, "composite", item.get("body"))
            error = translate(failed, f"{verb} {what}")
            error.read = what
            raise error
        bodies.append(item.get("body"))
    return bodies


def _frame(client: SalesforceClient, read: Read, first: Any = None) -> pd.DataFrame:
    try:
        return client.query_frame(
            read.soql, read.what, read.columns, read.all_rows, first, read.records, read.each_page
        )
    except CsSyncError as error:
        error.read = read.what
        raise


def query_frames(client: SalesforceClient, reads: list[Read]) -> list[pd.DataFrame]:
    """Each read's records as one typed table, the first pages of up to five in one call."""
    version = client.sf.sf_version
    frames: dict[int, pd.DataFrame] = {}
    batched = []
    for index, read in enumerate(reads):
        # Bulk, or too long for a request's address: its SOQL in a body
        if client.straight_to_bulk(read.records) or len(quote(read.soql)) > URI_QUERY_ROOM:
            frames[index] = _frame(client, read)
        else:
            batched.append(index)
    headers = {"Sforce-Query-Options": f"batchSize={client.config.query_batch_size}"}
    for start in range(0, len(batched), MAX_QUERIES):
        chunk = batched[start : start + MAX_QUERIES]
        requests = [
            {
                "method": "GET",
                "url": f"/services/data/v{version}/{'queryAll' if reads[i].all_rows else 'query'}"
                f"/?q={quote(reads[i].soql)}",
                "referenceId": f"read{i}",
                "httpHeaders": headers,
            }
            for i in chunk
        ]
        whats = [reads[i].what for i in chunk]
        for i, first in zip(chunk, _answers(client, requests, "reading", whats), strict=True):
            frames[i] = _frame(client, reads[i], first)
    return [frames[i] for i in range(len(reads))]


def describe_all(client: SalesforceClient, sobjects: list[str]) -> None:
    """Describe the objects a run checks, up to 25 in one call; each answer is kept by the
    client as its own describe would be (described_fields reads it)."""
    wanted = [s for s in dict.fromkeys(sobjects) if s not in client.described]
    version = client.sf.sf_version
    for start in range(0, len(wanted), MAX_SUBREQUESTS):
        chunk = wanted[start : start + MAX_SUBREQUESTS]
        requests = [
            {
                "method": "GET",
                "url": f"/services/data/v{version}/sobjects/{sobject}/describe",
                "referenceId": f"describe{sobject}",
            }
            for sobject in chunk
        ]
        bodies = _answers(client, requests, "describing", chunk)
        for sobject, body in zip(chunk, bodies, strict=True):
            client.remember_describe(sobject, dict(body or {}))
