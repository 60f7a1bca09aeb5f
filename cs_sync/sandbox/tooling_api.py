"""The Tooling API as cs-sync uses it: create a custom field, and query CustomField.

A field exists whether or not the caller may see it, so the Tooling API answers from the org's
metadata, not from the caller's describe: this is how setup tells a hidden field from a missing
one. Creating fields takes the Customize Application permission.
"""

from __future__ import annotations

from typing import Any

from cs_sync.sandbox import soql, soql_eval
from cs_sync.sandbox.access import current
from cs_sync.sandbox.fields import Field
from cs_sync.sandbox.http_types import Request, Response, sf_error
from cs_sync.sandbox.schema import Schema
from cs_sync.sandbox.store import OrgStore

# Custom fields on Task (and Event) are defined on Activity.
_TABLE = {"Task": "Activity"}


def tooling(store: OrgStore, request: Request, version: str, parts: list[str]) -> Response:
    """parts: what follows /tooling."""
    if parts == ["sobjects", "CustomField"] and request.method == "POST":
        return create_custom_field(store, request)
    if parts == ["query"] and request.method == "GET":
        return query(store, request, version)
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


def create_custom_field(store: OrgStore, request: Request) -> Response:
    access = current()
    if access is not None and not access.has("PermissionsCustomizeApplication"):
        return sf_error(
            403,
            "INSUFFICIENT_ACCESS",
            "insufficient access rights: Customize Application is required to create fields",
        )
    body = request.json() or {}
    full_name = str(body.get("FullName", ""))
    metadata = body.get("Metadata")
    sobject_name, _, field_name = full_name.partition(".")
    if sobject_name == "Activity":
        sobject_name = "Task"
    sobject = store.org_schema.lookup_object(sobject_name)
    if sobject is None or not field_name.endswith("__c") or not isinstance(metadata, dict):
        return sf_error(
            400,
            "INVALID_INPUT",
            "FullName must be Object.Field__c and Metadata an object",
            ["FullName"],
        )
    if store.org_schema.lookup_field(sobject, field_name) is not None:
        return sf_error(
            400,
            "DUPLICATE_DEVELOPER_NAME",
            f"There is already a field named {field_name} on {sobject}.",
            ["FullName"],
        )
    try:
        store.add_custom_field(sobject, field_name, metadata)
    except ValueError as exc:
        return sf_error(400, "INVALID_INPUT", str(exc), ["Metadata"])
    return Response.of_json(
        201,
        {
            "id": _field_id(store, sobject, field_name),
            "success": True,
            "errors": [],
            "warnings": [],
            "infos": [],
        },
    )


_TOOLING = Schema(
    objects={
        "CustomField": {
            f.name: f
            for f in (
                Field("Id", "id", length=18),
                Field("DeveloperName", "string", length=40),
                Field("TableEnumOrId", "string", length=40),
                Field("NamespacePrefix", "string", length=15),
            )
        }
    }
)


def query(store: OrgStore, request: Request, version: str) -> Response:
    text = request.param("q")
    if text is None:
        return sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    parsed = soql.parse(text, _TOOLING)
    rows = [
        {
            "Id": _field_id(store, sobject, name),
            "DeveloperName": name.removesuffix("__c"),
            "TableEnumOrId": _TABLE.get(sobject, sobject),
            "NamespacePrefix": None,
        }
        for sobject, fields in store.org_schema.objects.items()
        for name, definition in fields.items()
        if definition.custom
    ]

    def resolve(record: dict[str, Any], path: soql.Path) -> Any:
        return record.get(path.parts[-1])

    def type_of(path: soql.Path) -> str:
        return _TOOLING.objects["CustomField"][path.parts[-1]].type

    rows = [r for r in rows if soql_eval.evaluate(parsed.where, r, resolve, type_of)]
    rows = soql_eval.sort_records(rows, parsed.order, resolve, type_of)[: parsed.limit]
    records = [
        {
            "attributes": {
                "type": "CustomField",
                "url": f"/services/data/v{version}/tooling/sobjects/CustomField/{row['Id']}",
            },
            **{path.parts[-1]: row[path.parts[-1]] for path in parsed.fields},
        }
        for row in rows
    ]
    return Response.of_json(
        200,
        {"size": len(records), "totalSize": len(records), "done": True, "records": records},
    )


def _field_id(store: OrgStore, sobject: str, name: str) -> str:
    """A lasting id for a custom field, handed out the first time it is asked for."""
    key = f"{sobject}.{name}"
    with store.lock:
        ids = store.get_meta("custom_field_ids", {})
        if key not in ids:
            ids[key] = store.new_id("CustomField")
            store.set_meta("custom_field_ids", ids)
    return str(ids[key])
