"""The configuration reference (docs/configuration.md), generated from the configuration's
JSON Schema: every table and key with its type, default and the description written beside
the setting in the code. `cs-sync config reference` prints it; a test keeps the file equal to
it, so the reference never drifts from what the loader takes."""

from __future__ import annotations

import json
from typing import Any

from cs_sync.config import config_schema

HEADER = """# Configuration reference

Every key of the TOML configuration file, table by table: its type, its default and what it
does. Generated from the code by `cs-sync config reference` (do not edit by hand; a test keeps
this page equal to the command's output). `config.example.toml` is a commented example to start
from; `cs-sync config check FILE` validates a file without connecting to anything, and
`cs-sync config schema` prints the JSON Schema for an editor.
"""


def config_reference() -> str:
    schema = config_schema()
    definitions: dict[str, Any] = schema["$defs"]
    contents = [f"- [`[{table}]`](#{table})" for table in schema["properties"]]
    parts = [HEADER, "\n".join(contents) + "\n"]
    for table, spec in schema["properties"].items():
        parts.append(f'<a id="{table}"></a>\n')
        parts.append(_section(table, spec, definitions, level=2))
    return "\n".join(parts).rstrip() + "\n"


def _resolve(spec: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in spec:
        resolved = dict(definitions[spec["$ref"].rsplit("/", 1)[1]])
        return {**resolved, **{k: v for k, v in spec.items() if k != "$ref"}}
    return spec


def _object_of(spec: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema a key holds (directly or optionally)."""
    spec = _resolve(spec, definitions)
    for option in spec.get("anyOf", []):
        found = _object_of(option, definitions)
        if found is not None:
            return found
    if spec.get("type") == "object" and "properties" in spec:
        return spec
    return None


def _rows_of(spec: dict[str, Any], definitions: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The object a key's section lists, and whether the key is a list of them ([[...]])."""
    resolved = _resolve(spec, definitions)
    if resolved.get("type") == "array":
        inner = _object_of(resolved.get("items", {}), definitions)
        if inner is not None:
            return inner, True
    return _object_of(spec, definitions) or resolved, False


def _section(path: str, spec: dict[str, Any], definitions: dict[str, Any], level: int) -> str:
    body, listed = _rows_of(spec, definitions)
    title = f"[[{path}]]" if listed else f"[{path}]"
    lines = [f"{'#' * level} `{title}`", ""]
    description = spec.get("description") or body.get("description") or ""
    if description:
        lines += [_prose(description), ""]
    lines += _variants(path, _resolve(spec, definitions).get("oneOf", []), definitions, level)
    nested: list[str] = []
    rows_of = dict(body)
    for key, item in body.get("properties", {}).items():
        inner, _ = _rows_of(item, definitions)
        if "properties" in inner:
            nested.append(_section(f"{path}.{key}", item, definitions, level + 1))
            rows_of["properties"] = {k: v for k, v in rows_of["properties"].items() if k != key}
    lines += _key_table(rows_of, definitions)
    return "\n".join(lines + nested)


def _variants(
    path: str, options: list[dict[str, Any]], definitions: dict[str, Any], level: int
) -> list[str]:
    """A table that takes one of several shapes (by `source`): the keys they share once,
    then each shape's own keys."""
    shapes = [_resolve(option, definitions) for option in options]
    if not shapes:
        return []
    shared = {
        key: item
        for key, item in shapes[0]["properties"].items()
        if key != "source" and all(shape["properties"].get(key) == item for shape in shapes)
    }
    lines = ["Every source:", "", *_key_table({"properties": shared}, definitions)]
    for shape in shapes:
        source = _resolve(shape["properties"]["source"], definitions)
        value = source.get("const", (source.get("enum") or [source.get("default")])[0])
        own = {k: v for k, v in shape["properties"].items() if k not in shared}
        lines += [f'`source = "{value}"`: {_prose(source.get("description", ""))}', ""]
        lines += _key_table({"properties": own}, definitions)
        for key, item in own.items():
            if "properties" in _rows_of(item, definitions)[0]:
                lines += [_section(f"{path}.{key}", item, definitions, level + 1), ""]
    return lines


def _key_table(body: dict[str, Any], definitions: dict[str, Any]) -> list[str]:
    rows = []
    for key, item in body.get("properties", {}).items():
        resolved = _resolve(item, definitions)
        meaning = item.get("description") or resolved.get("description") or ""
        rows.append(
            f"| `{key}` | {_type(resolved, definitions)} | {_default(resolved)} | "
            f"{_cell(meaning)} |"
        )
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |", *rows, ""]
    extra = body.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        lines += [f"Other keys: {_type(_resolve(extra, definitions), definitions)}.", ""]
    return lines if rows else lines[3:]


def _type(spec: dict[str, Any], definitions: dict[str, Any]) -> str:
    spec = _resolve(spec, definitions)
    if "enum" in spec:
        return " or ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{json.dumps(spec['const'], ensure_ascii=False)}`"
    if "anyOf" in spec:
        kinds = [_type(option, definitions) for option in spec["anyOf"]]
        return " or ".join(dict.fromkeys(k for k in kinds if k != "null")) or "null"
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}), definitions)}"
    if kind == "object":
        values = spec.get("additionalProperties")
        if isinstance(values, dict):
            return f"table of {_type(values, definitions)}"
        return "table"
    words = {
        "string": "text",
        "integer": "whole number",
        "number": "number",
        "boolean": "true / false",
        "null": "null",
    }
    text = words.get(str(kind), str(kind))
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is not None and high is not None:
        text += f" {low}–{high}"
    elif low is not None:
        text += f" ≥ {low}"
    return text


def _default(spec: dict[str, Any]) -> str:
    if "default" not in spec:
        return "required"
    value = spec["default"]
    if value is None:
        return "unset"
    if value in ([], {}, ""):
        return f"`{json.dumps(value)}`"
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > 60:
        return "see `config.example.toml`"
    return f"`{text}`"


def _prose(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _prose(text).replace("|", "\\|")
