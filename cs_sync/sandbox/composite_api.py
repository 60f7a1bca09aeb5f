"""The Composite resource (REST API Developer Guide, "Send Multiple Requests Using Composite"):
several REST requests in one call, which counts as a single call toward the API limits, their
answers returned together, each with its own status. At most 25 subrequests, of which at most
5 are query operations (query, queryAll, and a query's next batch).

The sandbox serves the subrequests cs-sync sends, GET reads (queries and describes) with
allOrNone false, and refuses the rest (writes, allOrNone, references to an earlier answer
with @{...}) rather than imitate them halfway.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cs_sync.sandbox import soql
from cs_sync.sandbox.http_types import Request, Response, sf_error

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5

Route = Callable[[Request, str, str], Response]


def _is_query(path: str, version: str) -> bool:
    rest = path.removeprefix(f"/services/data/v{version}/")
    return rest.split("/")[0] in ("query", "queryAll")


def composite(
    request: Request, version: str, route: Route, fails: Callable[[], bool] = lambda: False
) -> Response:
    """Run each subrequest through the org's own routes, as the calling user; a subrequest
    for which `fails()` says so answers 500 UNKNOWN_EXCEPTION within the call's 200."""
    body = request.json()
    subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        return sf_error(400, "JSON_PARSER_ERROR", "compositeRequest: a list of subrequests")
    if body.get("allOrNone"):
        return sf_error(
            400, "INVALID_REQUEST", "the sandbox serves Composite reads with allOrNone false"
        )
    if len(subrequests) > MAX_SUBREQUESTS:
        return sf_error(
            400,
            "LIMIT_EXCEEDED",
            f"A composite request can hold up to {MAX_SUBREQUESTS} subrequests",
        )
    prefix = f"/services/data/v{version}/"
    paths = [urlsplit(str(sub.get("url", ""))).path for sub in subrequests]
    if sum(_is_query(path, version) for path in paths) > MAX_QUERIES:
        return sf_error(
            400,
            "LIMIT_EXCEEDED",
            f"A composite request can hold up to {MAX_QUERIES} query operations",
        )
    answers: list[dict[str, Any]] = []
    for sub, path in zip(subrequests, paths, strict=True):
        reference = str(sub.get("referenceId", ""))
        url = str(sub.get("url", ""))
        if sub.get("method") != "GET" or "@{" in url or not path.startswith(prefix):
            return sf_error(
                400,
                "INVALID_REQUEST",
                f"{reference}: the sandbox serves GET subrequests of /services/data/v{version}/ "
                "without references to other subrequests",
            )
        headers = {**request.headers}
        headers.update({str(k).lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()})
        inner = Request("GET", path, parse_qs(urlsplit(url).query), headers)
        try:
            if fails():
                answer = sf_error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
            else:
                answer = route(inner, version, path.removeprefix(prefix).rstrip("/"))
        except soql.SoqlError as exc:
            answer = sf_error(400, exc.code, exc.message)
        answers.append(
            {
                "body": json.loads(answer.body) if answer.body else None,
                "httpHeaders": {},
                "httpStatusCode": answer.status,
                "referenceId": reference,
            }
        )
    return Response.of_json(200, {"compositeResponse": answers})
