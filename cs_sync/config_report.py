"""Validation errors of the configuration, said the way an admin fixes them: the key path
(`health.measures[1].weight`), what is wrong and what to do, and the line of the TOML file
the key is on.

pydantic reports where and what; this module turns its error records into those sentences,
adds the remedies for keys that hold a secret or were removed, and finds each key's line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from cs_sync.secrets import SECRET_KEYS

# Keys an earlier cs-sync read, with what to do instead.
REMOVED_KEYS = {
    ("tasks", "grades"): (
        "replaced by task rules. The reonboard preset creates a Task for grade D; for other "
        'grades add a [[tasks.rule]] with when = \'grade in ["C", "D"]\' (see '
        "config.example.toml), then delete tasks.grades"
    ),
    ("salesforce", "consumer_key"): (
        "renamed to client_id (the app's consumer key is its OAuth client_id); rename the key"
    ),
    ("backtest", "at_risk_grades"): (
        "moved to health.at_risk_grades, which the KPIs and dashboards use too; move the list there"
    ),
}
_EXPECTED = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "text in quotes",
    "bool_type": "true or false",
    "list_type": "a list [...]",
    "tuple_type": "a list [...]",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
# A message that starts with a key ("name: ...", "phase[1].step: ...") names a key below the
# place the error was raised.
_RELATIVE_KEY = re.compile(r"([A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): (.*)", re.S)

Loc = tuple[str | int, ...]


def key_path(loc: Sequence[str | int]) -> str:
    """("health", "measures", 1, "weight") -> "health.measures[1].weight"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _loc_of(path: str) -> Loc:
    parts: list[str | int] = []
    for name, index in re.findall(r"([A-Za-z_]\w*)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)


def problems_of(errors: Iterable[dict[str, Any]], prefix: Loc) -> list[tuple[Loc, str]]:
    """(location, sentence) for each of pydantic's error records, under `prefix`."""
    out: list[tuple[Loc, str]] = []
    for error in errors:
        loc: Loc = prefix + tuple(
            p for p in error["loc"] if isinstance(p, int) or not re.search(r"[\[\(-]", p)
        )
        kind, given = error["type"], error.get("input")
        if kind == "value_error":
            for line in str(error["ctx"]["error"]).splitlines():
                match = _RELATIVE_KEY.fullmatch(line)
                if match and " " not in match.group(1):
                    out.append((loc + _loc_of(match.group(1)), match.group(2)))
                else:
                    out.append((loc, line))
        elif kind == "extra_forbidden":
            out.append((loc, _unknown_key(loc)))
        elif kind == "missing":
            out.append((loc, "missing; add it (see config.example.toml)"))
        elif kind == "literal_error":
            expected = error["ctx"]["expected"].replace(" or ", ", ")
            out.append((loc, f"{given!r} is not one of {expected}"))
        elif kind in _EXPECTED:
            out.append((loc, f"expected {_EXPECTED[kind]}, got {given!r}"))
        else:
            out.append((loc, error["msg"]))
    return out


def _unknown_key(loc: Loc) -> str:
    path = key_path(loc)
    name = loc[-1]
    if name in SECRET_KEYS:
        return (
            "secrets are never read from the configuration file. Put the value in an "
            f'environment variable and set {path}_env = "VARIABLE_NAME", or in a file readable '
            f'only by cs-sync and set {path}_file = "path/to/file"; then delete {path}'
        )
    removed = REMOVED_KEYS.get(tuple(str(p) for p in loc[-2:]))  # type: ignore[arg-type]
    if removed is not None:
        return removed
    return "unknown key (check the spelling against config.example.toml)"


def key_lines(text: str) -> dict[Loc, int]:
    """The line (from 1) each key and table of a TOML text starts on, by location; arrays of
    tables are numbered as the loader numbers them."""
    lines: dict[Loc, int] = {}
    table: Loc = ()
    counts: dict[Loc, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\[\s*([^\]]+?)\s*\]\]\s*(#.*)?", stripped)
        single = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            name = _dotted(header.group(1))
            counts[name] = counts.get(name, -1) + 1
            table = (*name, counts[name])
            lines.setdefault(name, number)
            lines[table] = number
        elif single:
            table = _dotted(single.group(1))
            lines.setdefault(table, number)
        else:
            key = re.match(r"""\s*([A-Za-z0-9_\-."' ]+?)\s*=""", line)
            if key and not stripped.startswith("#"):
                lines.setdefault((*table, *_dotted(key.group(1))), number)
    return lines


def _dotted(text: str) -> Loc:
    return tuple(part.strip().strip("\"'") for part in text.split("."))


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the key at `loc`, else of the nearest table or key above it."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def sentences(problems: list[tuple[Loc, str]], text: str) -> list[str]:
    """ "key: what is wrong (line N)", in the order found, each once."""
    lines = key_lines(text)
    out: list[str] = []
    for loc, message in problems:
        line = line_of(lines, loc)
        where = key_path(loc) or "(top)"
        sentence = f"{where}: {message}" + (f" (line {line})" if line else "")
        if sentence not in out:
            out.append(sentence)
    return out
