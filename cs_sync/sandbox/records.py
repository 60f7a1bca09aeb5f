"""Record writes as Salesforce performs them: field checks, per-record errors, derived fields."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

from cs_sync.sandbox.access import current, reference_hidden, write_refusal
from cs_sync.sandbox.fields import Field
from cs_sync.sandbox.schema import (
    CLOSED_CASE_STATUSES,
    CLOSED_TASK_STATUSES,
    KEY_PREFIXES,
)
from cs_sync.sandbox.soql_syntax import parse_datetime
from cs_sync.sandbox.store import OrgStore
from cs_sync.sfid import try_to18


class RecordError(Exception):
    """One record failed; becomes {"statusCode", "message", "fields"} in a result."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []

    def as_result(self) -> dict[str, Any]:
        return {
            "success": False,
            "errors": [{"statusCode": self.code, "message": self.message, "fields": self.fields}],
        }


_JSON_KINDS = {
    "double": "double",
    "currency": "double",
    "percent": "double",
    "int": "int",
    "boolean": "boolean",
    "date": "date",
}


def _json_value_ok(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind in ("double", "currency", "percent", "int"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        try:
            date.fromisoformat(str(value))
        except ValueError:
            return False
    return True


def request_error(store: OrgStore, sobject: str, values: dict[str, Any]) -> RecordError | None:
    """What fails a whole request before any record is looked at, as Salesforce reads the
    body: a field the object does not have (INVALID_FIELD), or a value JSON cannot turn into
    the field's type (JSON_PARSER_ERROR)."""
    for name, value in values.items():
        if name in ("attributes", "Id", "id"):
            continue
        definition = store.schema.lookup_field(sobject, name)
        if definition is None:
            return RecordError(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name]
            )
        json_kind = _JSON_KINDS.get(definition.type)
        if json_kind and not _json_value_ok(definition.type, value):
            shown = "VALUE_STRING" if isinstance(value, str) else type(value).__name__.upper()
            return RecordError(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {json_kind} from {shown} value {value} or "
                "request may be missing a required field",
                [definition.name],
            )
    return None


def _check_value(sobject: str, definition: Field, value: Any, store: OrgStore) -> Any:
    name = definition.name
    kind = definition.type
    if value is None:
        return False if kind == "boolean" else None
    wrong = RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{definition.name}: value not of required type: {value}",
        [name],
    )
    if kind == "multipicklist":
        if not isinstance(value, str):
            raise wrong
        chosen = [part for part in value.split(";") if part]
        unknown = [part for part in chosen if part not in definition.picklist]
        if definition.restricted and unknown:
            label = definition.name.removesuffix("__c").replace("_", " ")
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{label}: bad value for restricted picklist field: {unknown[0]}",
                [name],
            )
        return ";".join(chosen) or None
    if kind in ("string", "textarea", "email", "picklist"):
        if not isinstance(value, str):
            raise wrong
        if kind == "picklist" and definition.restricted and value not in definition.picklist:
            label = definition.name.removesuffix("__c").replace("_", " ")
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{label}: bad value for restricted picklist field: {value}",
                [name],
            )
        if definition.length and len(value) > definition.length:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{definition.name}: data value too large: {value[:40]}... "
                f"(max length={definition.length})",
                [name],
            )
        return value
    if kind in ("double", "currency", "percent", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return _number(definition, value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind == "date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError as exc:
            raise wrong from exc
    if kind == "datetime":
        try:
            parse_datetime(str(value))
        except ValueError as exc:
            raise wrong from exc
        return value
    if kind == "reference":
        canonical = try_to18(value) if isinstance(value, str) else None
        target = store.get(canonical) if canonical else None
        if target is None or target[0] not in definition.reference_to:
            raise RecordError(
                "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [name]
            )
        if reference_hidden(store, target):
            raise RecordError(
                "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                f"insufficient access rights on cross-reference id: {value}",
                [name],
            )
        if name == "OwnerId" and target[0] == "User" and not target[1].get("IsActive", True):
            raise RecordError(
                "INACTIVE_OWNER_OR_USER", "operation performed with inactive user as owner", [name]
            )
        return canonical
    raise wrong


def _number(definition: Field, value: float) -> float | int:
    """As the org stores a number: rounded half away from zero to the field's scale; more
    whole digits than precision - scale allow is refused."""
    if not definition.precision or not math.isfinite(value):
        return value
    scale = 0 if definition.type == "int" else definition.scale
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if abs(rounded) >= Decimal(10) ** (definition.precision - scale):
        label = definition.name.removesuffix("__c").replace("_", " ")
        raise RecordError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{label}: value outside of valid range on numeric field: {value}",
            [definition.name],
        )
    return int(rounded) if scale == 0 else float(rounded)


def prepare(
    store: OrgStore,
    sobject: str,
    values: dict[str, Any],
    existing: dict[str, Any] | None,
    json_body: bool = True,
) -> dict[str, Any]:
    """The record after applying `values` (create when `existing` is None), or RecordError.
    A JSON body's unknown field or unreadable value is the request's error; a Bulk CSV row's
    (json_body False) is that row's, as the per-field checks report it."""
    fields = store.schema.objects[sobject]
    broken = request_error(store, sobject, values) if json_body else None
    if broken is not None:
        raise broken
    result = dict(existing) if existing else {}
    for raw_name, value in values.items():
        if raw_name in ("attributes", "Id", "id"):
            continue
        definition = store.schema.lookup_field(sobject, raw_name)
        if definition is None:
            raise RecordError(
                "INVALID_FIELD",
                f"No such column '{raw_name}' on sobject of type {sobject}",
                [raw_name],
            )
        allowed = definition.createable if existing is None else definition.updateable
        if not allowed:
            verb = "create" if existing is None else "update"
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb} fields: {definition.name}. Please check the "
                "security settings of this field and verify that it is read/write "
                "for your profile or permission set.",
                [definition.name],
            )
        result[definition.name] = _check_value(sobject, definition, value, store)
    if existing is None:
        for definition in fields.values():
            if definition.name not in result and definition.default is not None:
                result[definition.name] = definition.default
        caller = current()
        if "OwnerId" in fields and result.get("OwnerId") is None and caller is not None:
            result["OwnerId"] = caller.user_id  # a new record belongs to its creator
        missing = [
            f.name
            for f in fields.values()
            if not f.nillable and f.createable and result.get(f.name) is None
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
    written = {
        store.schema.lookup_field(sobject, n) for n in values if n not in ("attributes", "Id", "id")
    }
    for definition in written:
        if definition is not None and definition.unique and result.get(definition.name) is not None:
            clash = [
                i
                for i in store.find_ids(sobject, definition.name, result[definition.name])
                if i != result.get("Id")
            ]
            if clash:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {definition.name} duplicates value on "
                    f"record with id: {clash[0]}",
                    [definition.name],
                )
    result.update(derived_values(sobject, result, partial(_account_of, store)))
    refused = write_refusal(store, sobject, result, existing)
    if refused is not None:
        raise RecordError(*refused)
    return result


def _account_of(store: Any, record_id: str) -> str | None:
    """The AccountId of a stored record (an opportunity or a contact), else None."""
    found = store.get(record_id)
    return found[1].get("AccountId") if found else None


def derived_values(sobject: str, record: dict[str, Any], account_of: Any = None) -> dict[str, Any]:
    """Fields Salesforce computes on save (read-only formula-like fields). `account_of(id)`:
    the AccountId of a stored Opportunity or Contact (for an activity's AccountId)."""
    if sobject in ("Task", "Event"):
        found = _activity_account(record, account_of)
        if sobject == "Event" and record.get("ActivityDateTime"):
            found["ActivityDate"] = str(record["ActivityDateTime"])[:10]
        if sobject == "Task":
            found["IsClosed"] = record.get("Status") in CLOSED_TASK_STATUSES
        return found
    if sobject == "Case":
        closed = record.get("Status") in CLOSED_CASE_STATUSES
        when = record.get("ClosedDate") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        return {"IsClosed": closed, "ClosedDate": when if closed else None}
    if sobject == "Opportunity":
        stage = record.get("StageName")
        return {"IsClosed": stage in ("Closed Won", "Closed Lost"), "IsWon": stage == "Closed Won"}
    if sobject in ("User", "Contact"):
        return {"Name": " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)}
    return {}


def _activity_account(record: dict[str, Any], account_of: Any) -> dict[str, Any]:
    what, who = str(record.get("WhatId") or ""), str(record.get("WhoId") or "")
    if what.startswith(KEY_PREFIXES["Account"]):
        return {"AccountId": what}
    for parent in (what, who):
        if parent and account_of is not None and account_of(parent):
            return {"AccountId": account_of(parent)}
    return {"AccountId": None}
