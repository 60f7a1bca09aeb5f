"""The Salesforce endpoints the worker uses, answered as shared reference/salesforce.md says.

The dispatch (session, API version, daily allowance, the caller's access), describe,
single-record create / read / update, sObject Collections create / update / upsert and limits;
queries are in query_api.py, Bulk jobs in bulk_api.py, the Tooling API in tooling_api.py, login
in login_api.py. Every REST response carries `Sforce-Limit-Info` with a daily counter.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from cs_sync.sandbox import soql
from cs_sync.sandbox.access import acting_as, current, load_access, visible_ids
from cs_sync.sandbox.bulk_api import BulkIngestApi
from cs_sync.sandbox.composite_api import composite
from cs_sync.sandbox.faults import Faults
from cs_sync.sandbox.http_types import Request, Response, sf_error
from cs_sync.sandbox.login_api import NEWEST_VERSION, oauth_token, retired, soap_login, userinfo
from cs_sync.sandbox.query_api import QueryApi, attributes
from cs_sync.sandbox.records import RecordError, prepare, request_error
from cs_sync.sandbox.schema import KEY_PREFIXES
from cs_sync.sandbox.store import OrgStore
from cs_sync.sandbox.tooling_api import tooling
from cs_sync.sfid import try_to18

COLLECTION_LIMIT = 200
_DATA = re.compile(r"^/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?$")
_SOAP_LOGIN = re.compile(r"^/services/Soap/u/(?P<version>\d+\.\d)/?$")


class SalesforceApi:
    def __init__(self, store: OrgStore, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self.queries = QueryApi(store)
        self.bulk = BulkIngestApi(store, faults, self.queries.records)
        self.described: Counter[str] = Counter()  # describes served per object

    # ------------------------------------------------------------ dispatch

    def handles(self, path: str) -> bool:
        return path.startswith("/services/")

    def handle(self, request: Request, host: str) -> Response:
        login = _SOAP_LOGIN.match(request.path)
        if login and request.method == "POST":
            return soap_login(self.store, request, host, login.group("version"))
        if request.path == "/services/oauth2/token" and request.method == "POST":
            return oauth_token(self.store, request, host)
        if request.path == "/services/oauth2/userinfo" and request.method == "GET":
            return userinfo(self.store, request)
        data = _DATA.match(request.path)
        if not data or float(data.group("version")) > NEWEST_VERSION:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if retired(data.group("version")):
            return sf_error(410, "GONE", f"API version {data.group('version')} is retired")
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        user_id = self.store.session_user(token) if token else None
        if user_id is None:
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        today = datetime.now(UTC).date()
        used = self.store.api_calls_today(today)
        if used >= self.faults.daily_api_max or self.faults.take("request_limit"):
            kind = (
                self.faults.request_limit_kind
                if used < self.faults.daily_api_max
                else "TotalRequests"
            )
            response = sf_error(403, "REQUEST_LIMIT_EXCEEDED", f"{kind} Limit exceeded.")
        else:
            used = self.store.count_api_call(today)
            version = data.group("version")
            rest = (data.group("rest") or "/").rstrip("/")
            try:
                with acting_as(load_access(self.store, user_id)):
                    response = self.route(request, version, rest)
            except soql.SoqlError as exc:
                response = sf_error(400, exc.code, exc.message)
            except (ValueError, KeyError, TypeError) as exc:
                response = sf_error(400, "JSON_PARSER_ERROR", f"Could not read the request: {exc}")
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{self.faults.daily_api_max}"
        return response

    def route(self, request: Request, version: str, rest: str) -> Response:
        parts = [p for p in rest.split("/") if p]
        method = request.method
        if not parts:
            return Response.of_json(
                200,
                {
                    "sobjects": f"/services/data/v{version}/sobjects",
                    "query": f"/services/data/v{version}/query",
                    "limits": f"/services/data/v{version}/limits",
                },
            )
        head = parts[0]
        if head == "limits" and method == "GET":
            return self.limits()
        if head in ("query", "queryAll") and method == "GET":
            if len(parts) == 2:
                return self.queries.query_more(version, parts[1])
            return self.queries.query(request, version, all_rows=head == "queryAll")
        if head == "sobjects":
            return self.sobjects(request, version, parts[1:])
        if head == "composite" and len(parts) == 1 and method == "POST":
            return composite(
                request, version, self.route, lambda: self.faults.take("composite_sub_errors")
            )
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            return self.collections(request, version, parts[2:])
        if head == "jobs" and len(parts) >= 2 and parts[1] == "ingest":
            return self.bulk.route(request, version, parts[2:])
        if head == "jobs" and len(parts) >= 2 and parts[1] == "query":
            return self.bulk.route_query(request, version, parts[2:])
        if head == "tooling":
            return tooling(self.store, request, version, parts[1:])
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    # ------------------------------------------------------------ limits

    def limits(self) -> Response:
        used = self.store.api_calls_today(datetime.now(UTC).date())
        maximum = self.faults.daily_api_max
        return Response.of_json(
            200,
            {
                "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            },
        )

    # ------------------------------------------------------------ sobjects

    def sobjects(self, request: Request, version: str, parts: list[str]) -> Response:
        if not parts:
            return Response.of_json(
                200,
                {
                    "sobjects": [
                        {"name": name, "queryable": True} for name in self.store.schema.objects
                    ]
                },
            )
        sobject = self.store.schema.lookup_object(parts[0])
        if sobject is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(parts) == 2 and parts[1] == "describe" and request.method == "GET":
            return self.describe(sobject, version)
        if len(parts) == 1 and request.method == "POST":
            try:
                record = prepare(self.store, sobject, request.json() or {}, None)
                if self.faults.take_lock(None):
                    raise _locked(None)
            except RecordError as exc:
                return sf_error(400, exc.code, exc.message, exc.fields)
            record_id = self.store.insert(sobject, record)
            return Response.of_json(201, {"id": record_id, "success": True, "errors": []})
        if len(parts) == 2:
            given = try_to18(parts[1])
            found = self.store.get(given) if given else None
            if found is None and given and self.store.get(given, deleted=True):
                return sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
            access = current()
            if (
                found is None
                or found[0] != sobject
                or (access is not None and not access.sees(sobject, found[1], self.store.get))
            ):
                return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
            if request.method == "GET":
                return Response.of_json(
                    200,
                    {"attributes": attributes(sobject, found[1]["Id"], f"v{version}"), **found[1]},
                )
            if request.method == "PATCH":
                try:
                    if self.faults.take_lock(found[1]["Id"]):
                        raise _locked(found[1]["Id"])
                    record = prepare(self.store, sobject, request.json() or {}, found[1])
                except RecordError as exc:
                    return sf_error(400, exc.code, exc.message, exc.fields)
                self.store.update(sobject, found[1], record)
                return Response(204)
            if request.method == "DELETE":
                if access is not None and not access.may_edit(sobject, found[1], self.store.get):
                    return sf_error(
                        400,
                        "INSUFFICIENT_ACCESS_OR_READONLY",
                        "insufficient access rights on object id",
                    )
                with self.store.transaction():
                    self.store.delete(found[1]["Id"])
                return Response(204)
        return sf_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed.")

    def describe(self, sobject: str, version: str) -> Response:
        self.described[sobject] += 1
        fields = self.store.schema.objects[sobject]
        return Response.of_json(
            200,
            {
                "name": sobject,
                "label": sobject,
                "keyPrefix": KEY_PREFIXES.get(sobject),
                "custom": False,
                "createable": True,
                "updateable": True,
                "queryable": True,
                "fields": [definition.describe() for definition in fields.values()],
                "urls": {
                    "describe": f"/services/data/v{version}/sobjects/{sobject}/describe",
                    "sobject": f"/services/data/v{version}/sobjects/{sobject}",
                },
            },
        )

    # ------------------------------------------------------------ sObject Collections

    def collections(self, request: Request, version: str, parts: list[str]) -> Response:
        body = request.json() or {}
        records = body.get("records")
        if not isinstance(records, list):
            return sf_error(400, "JSON_PARSER_ERROR", "The request body needs a records list")
        if len(records) > COLLECTION_LIMIT:
            return sf_error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more "
                f"than {COLLECTION_LIMIT} records into this call",
            )
        all_or_none = bool(body.get("allOrNone", False))
        if request.method == "POST" and not parts:
            mode, key_field, upsert_object = "create", None, None
        elif request.method == "PATCH" and not parts:
            mode, key_field, upsert_object = "update", None, None
        elif request.method == "PATCH" and len(parts) == 2:
            mode = "upsert"
            upsert_object = self.store.schema.lookup_object(parts[0])
            if upsert_object is None:
                return sf_error(400, "INVALID_TYPE", f"sObject type '{parts[0]}' is not supported.")
            key = self.store.schema.lookup_field(upsert_object, parts[1])
            if key is None or not (key.external_id or key.name == "Id"):
                return sf_error(
                    400,
                    "INVALID_FIELD",
                    f"Field name provided, {parts[1]} is not an "
                    f"External ID or indexed field for {upsert_object}",
                )
            key_field = key.name
        else:
            return sf_error(
                405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed."
            )
        for item in records:  # Salesforce reads the whole body before any record
            attributes = item.get("attributes") if isinstance(item, dict) else None
            sobject = self.store.schema.lookup_object(
                str((attributes or {}).get("type") if isinstance(attributes, dict) else "")
            )
            broken = request_error(self.store, sobject, item) if sobject else None
            if broken is not None:
                return sf_error(400, broken.code, broken.message)
        results: list[dict[str, Any]] = []
        try:
            with self.store.transaction():
                for item in records:
                    try:
                        sobject, existing, record = self._plan_one(
                            item, mode, key_field, upsert_object
                        )
                    except RecordError as exc:
                        results.append(exc.as_result())
                        continue
                    created = existing is None
                    if existing is None:
                        record_id = self.store.insert(sobject, record)
                    else:
                        record_id = str(existing["Id"])
                        self.store.update(sobject, existing, record)
                    result: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
                    if mode == "upsert":
                        result["created"] = created
                    results.append(result)
                if all_or_none and any(not r["success"] for r in results):
                    raise _RolledBack
        except _RolledBack:
            rolled_back = RecordError(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid "
                "and the request was using AllOrNone header",
            ).as_result()
            results = [rolled_back if r["success"] else r for r in results]
        return Response.of_json(200, results)

    def _plan_one(
        self, item: Any, mode: str, key_field: str | None, upsert_object: str | None
    ) -> tuple[str, dict[str, Any] | None, dict[str, Any]]:
        """The object, the record as stored (None for a new one) and as it would become."""
        if not isinstance(item, dict):
            raise RecordError("JSON_PARSER_ERROR", "each record must be an object")
        attributes = item.get("attributes") or {}
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if not type_name:
            raise RecordError("INVALID_TYPE", "Must send a concrete entity type.")
        sobject = self.store.schema.lookup_object(str(type_name))
        if sobject is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
        if mode == "upsert" and sobject != upsert_object:
            raise RecordError("INVALID_TYPE", f"every record must be a {upsert_object}")
        existing: dict[str, Any] | None = None
        if mode == "update":
            raw_id = item.get("id") or item.get("Id")
            record_id = try_to18(raw_id) if isinstance(raw_id, str) else None
            if record_id is None:
                raise RecordError(
                    "MALFORMED_ID", f"Id: id value of incorrect type: {raw_id}", ["Id"]
                )
            found = self.store.get(record_id)
            if found is None and self.store.get(record_id, deleted=True):
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
            if found is None or found[0] != sobject:
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {raw_id}", ["Id"]
                )
            existing = found[1]
        elif mode == "upsert":
            assert key_field is not None
            key_value = item.get(key_field)
            if key_value in (None, ""):
                raise RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{key_field}]",
                    [key_field],
                )
            matches = visible_ids(
                self.store, sobject, self.store.find_ids(sobject, key_field, key_value)
            )
            if len(matches) > 1:
                raise RecordError(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{key_field}: more than one record found for external id field: {matches}",
                    [key_field],
                )
            if matches:
                found = self.store.get(matches[0])
                existing = found[1] if found else None
        if self.faults.take_lock(existing["Id"] if existing else None):
            raise _locked(existing["Id"] if existing else None)
        if existing is not None and existing["Id"] in self.faults.validation_error_ids:
            raise RecordError(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "Renewal date must be after the contract start (validation rule "
                "CS_Renewal_After_Start)",
                [],
            )
        values = {k: v for k, v in item.items() if k not in ("attributes", "id", "Id")}
        if mode == "upsert" and existing is not None:
            values.pop(key_field or "", None)  # the key itself is not rewritten
        record = prepare(self.store, sobject, values, existing)
        return sobject, existing, record


class _RolledBack(Exception):
    """Raised inside a collection's transaction to undo it (allOrNone)."""


def _locked(record_id: str | None) -> RecordError:
    return RecordError(
        "UNABLE_TO_LOCK_ROW",
        "unable to obtain exclusive access to this record "
        f"or 1 records: {record_id or 'new record'}",
    )
