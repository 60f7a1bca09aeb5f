"""Two small languages of Drive v3, as the sandbox's Drive reads them: a `fields` selection
('nextPageToken, files(id, name)') and the part of the search language (`q`) cs-sync writes.
A query it does not understand is refused, as Drive refuses one it cannot parse, so a query
cs-sync writes that the sandbox does not know fails a test instead of matching everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


class QueryError(ValueError):
    """A `q` the sandbox cannot parse (Drive: 400 Invalid Value)."""


def selection(text: str) -> dict[str, Any]:
    """'nextPageToken, files(id, name)' -> {'nextPageToken': None, 'files': {'id':..}}."""
    result: dict[str, Any] = {}
    depth, start, name = 0, 0, ""
    for index, char in enumerate(text + ","):
        if char == "(" and depth == 0:
            name, start = text[start:index].strip(), index + 1
            depth = 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                result[name] = selection(text[start:index])
                start = index + 1
        elif char == "," and depth == 0:
            piece = text[start:index].strip()
            if piece:
                result[piece] = None
            start = index + 1
    return result


_TEXT = r"'((?:[^'\\]|\\.)*)'"  # a quoted text of the query language, \' inside
_CLAUSES = (
    (
        re.compile(rf"appProperties has \{{ *key *= *{_TEXT} *and *value *= *{_TEXT} *\}}"),
        lambda m: lambda f: f.get("appProperties", {}).get(_unquote(m[1])) == _unquote(m[2]),
    ),
    (re.compile(r"trashed *= *(true|false)"), lambda m: lambda f: f["trashed"] == (m[1] == "true")),
    (
        re.compile(rf"mimeType *= *{_TEXT}"),
        lambda m: lambda f: f["mimeType"] == _unquote(m[1]),
    ),
    (re.compile(rf"name *= *{_TEXT}"), lambda m: lambda f: f["name"] == _unquote(m[1])),
    (
        re.compile(rf"{_TEXT} +in +parents"),
        lambda m: lambda f: _unquote(m[1]) in f["parents"],
    ),
)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def query(text: str) -> Callable[[dict[str, Any]], bool]:
    """The part of Drive's query language cs-sync uses: clauses joined by `and`. Anything else
    is refused (QueryError), as Drive refuses a query it cannot parse."""
    tests = []
    rest = text.strip()
    while rest:
        for pattern, build in _CLAUSES:
            match = pattern.match(rest)
            if match:
                tests.append(build(match))
                rest = rest[match.end() :].strip()
                if rest.startswith("and "):
                    rest = rest[4:].strip()
                elif rest:
                    raise QueryError(text)
                break
        else:
            raise QueryError(text)
    return lambda entry: all(test(entry) for test in tests)
