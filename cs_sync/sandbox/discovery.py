"""Validate requests against the discovery documents (Sheets v4, Drive v3) that
google-api-python-client ships, so the sandbox rejects what Google would reject: body fields
and their types, the fields a method requires, and query parameters."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _schemas(api: str) -> dict[str, Any]:
    return dict(_document(api)["schemas"])


def validate(api: str, schema_name: str, value: Any) -> list[str]:
    """Problems with `value` as a `schema_name` body, worded like Google's 400 messages."""
    problems: list[str] = []
    _check(_schemas(api), {"$ref": schema_name}, value, "", problems)
    return problems


def _check(
    schemas: dict[str, Any], spec: dict[str, Any], value: Any, where: str, problems: list[str]
) -> None:
    if "$ref" in spec:
        spec = schemas[spec["$ref"]]
    kind = spec.get("type", "any")
    if value is None or kind == "any":
        return
    at = where or "root"
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(f"Invalid value at '{at}': expected an object")
            return
        properties = spec.get("properties")
        if properties is None:  # a map: additionalProperties
            extra = spec.get("additionalProperties")
            for key, item in value.items():
                if extra:
                    _check(schemas, extra, item, f"{where}.{key}" if where else key, problems)
            return
        for key, item in value.items():
            if key not in properties:
                problems.append(
                    f'Invalid JSON payload received. Unknown name "{key}" at '
                    f"'{at}': Cannot find field."
                )
                continue
            _check(schemas, properties[key], item, f"{where}.{key}" if where else key, problems)
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"Invalid value at '{at}': expected a list")
            return
        for index, item in enumerate(value):
            _check(schemas, spec.get("items", {}), item, f"{where}[{index}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"Invalid value at '{at}' ({type(value).__name__}): expected a string")
        elif "enum" in spec and value not in spec["enum"]:
            problems.append(f"Invalid value at '{at}' (TYPE_ENUM), \"{value}\"")
    elif kind == "integer":
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and value.lstrip("-").isdigit())
        ):
            problems.append(f"Invalid value at '{at}' (TYPE_INT32), {value!r}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"Invalid value at '{at}' (TYPE_DOUBLE), {value!r}")
    elif kind == "boolean" and not isinstance(value, bool):
        problems.append(f"Invalid value at '{at}' (TYPE_BOOL), {value!r}")


@cache
def _document(api: str) -> dict[str, Any]:
    import googleapiclient

    documents = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    return dict(json.loads((documents / f"{api}.json").read_text("utf-8")))


def method(api: str, method_id: str) -> dict[str, Any]:
    """A method of the document by its id, e.g. "drive.permissions.create"."""
    document = _document(api)
    resource, name = method_id.split(".")[1:]
    return dict(document["resources"][resource]["methods"][name])


def unknown_parameters(api: str, method_id: str, names: list[str]) -> list[str]:
    """Query parameters neither the method nor the API's standard parameters know, worded
    as Google words them."""
    known = set(method(api, method_id)["parameters"]) | set(_document(api)["parameters"])
    return [
        f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
        f"Field '{name}' could not be found in request message."
        for name in names
        if name not in known
    ]


def missing_required(
    api: str, schema_name: str, method_id: str, value: dict[str, Any]
) -> list[str]:
    """The body fields the document marks required for this method (annotations.required)."""
    properties = _schemas(api)[schema_name]["properties"]
    return [
        name
        for name, spec in properties.items()
        if method_id in spec.get("annotations", {}).get("required", []) and not value.get(name)
    ]


def schema_fields(api: str, schema_name: str) -> list[str]:
    """The fields a schema of the document declares."""
    return list(_schemas(api)[schema_name]["properties"])
