"""SOQL's words and shapes for the sandbox: the tokenizer and the parsed query as data.

The parser (soql.py) builds these; soql_eval.py evaluates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cs_sync.sandbox.soql_dates import PATTERN as DATE_LITERALS
from cs_sync.sandbox.soql_dates import DateLiteral


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def malformed(message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", message)


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w])
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datelit>(?i:{DATE_LITERALS}))(?![\w:])
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<other>\S)
    )""".replace("{DATE_LITERALS}", DATE_LITERALS),
    re.VERBOSE,
)
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "NULL",
    "TRUE",
    "FALSE",
    "GROUP",
    "INCLUDES",
    "EXCLUDES",
}
_UNSUPPORTED = {
    "HAVING",
    "OFFSET",
    "WITH",
    "FOR",
    "USING",
    "TYPEOF",
    "ROLLUP",
    "CUBE",
    "FIELDS",
    "UPDATE",
    "VIEW",
    "REFERENCE",
    "TRACKING",
    "VIEWSTAT",
    "SCOPE",
}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any = None


def unescape(body: str, allow_like: bool) -> str:
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif nxt in "%_" and allow_like:
            out.append("\\" + nxt)  # kept escaped for the LIKE matcher
            i += 2
        else:
            raise malformed(f"invalid escape sequence \\{nxt} in string literal")
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        kind = match.lastgroup
        raw = match.group(kind) if kind else ""
        if kind == "other":
            raise malformed(f"unexpected character {raw!r} in query")
        if kind == "ident" and raw.upper() in _KEYWORDS:
            tokens.append(Token("kw", raw.upper()))
        elif kind == "ident" and raw.upper() in _UNSUPPORTED:
            raise malformed(f"{raw.upper()} is not supported by the sandbox")
        elif kind == "string":
            tokens.append(Token("string", raw, raw[1:-1]))
        elif kind == "number":
            tokens.append(Token("number", raw, float(raw) if "." in raw else int(raw)))
        elif kind == "date":
            try:
                tokens.append(Token("date", raw, date.fromisoformat(raw)))
            except ValueError as exc:
                raise malformed(f"invalid date literal {raw}") from exc
        elif kind == "datelit":
            tokens.append(Token("datelit", raw.upper(), DateLiteral(raw.upper())))
        elif kind == "datetime":
            try:
                tokens.append(Token("datetime", raw, parse_datetime(raw)))
            except ValueError as exc:
                raise malformed(f"invalid datetime literal {raw}") from exc
        elif kind is not None:
            tokens.append(Token(kind, raw))
    if text[position:].strip():
        raise malformed(f"unexpected text near {text[position : position + 20]!r}")
    return tokens


def parse_datetime(text: str) -> datetime:
    """Salesforce datetimes: 2026-11-23T10:00:00Z, …T10:00:00.000+0000, …+09:00."""
    value = text.replace("Z", "+00:00")
    value = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value)
    return datetime.fromisoformat(value)


# ---------------------------------------------------------------- the query as data


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]  # relationship names then a field name, canonical casing


@dataclass(frozen=True)
class Comparison:
    path: Path
    op: str
    value: Any


@dataclass(frozen=True)
class Membership:
    path: Path
    values: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: Path
    pattern: re.Pattern[str]
    text: str | None = None  # the pattern as written, its quotes' escapes undone


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND | OR
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class Order:
    path: Path
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Includes:
    """INCLUDES / EXCLUDES on a multi-select picklist: each group is a set of values that must
    all be selected ('a;b' means a and b)."""

    path: Path
    groups: tuple[frozenset[str], ...]
    negated: bool  # EXCLUDES


AGGREGATES = ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX")


@dataclass(frozen=True)
class Aggregate:
    function: str  # one of AGGREGATES
    path: Path
    alias: str  # as given, or expr0, expr1, ... in the order of the SELECT list


@dataclass(frozen=True)
class Query:
    sobject: str
    fields: tuple[Path, ...]  # the plain fields selected
    where: Any
    order: tuple[Order, ...]
    limit: int | None
    aggregates: tuple[Aggregate, ...] = ()
    group_by: tuple[Path, ...] = ()
    count_only: bool = False  # SELECT COUNT() FROM ...: only totalSize is answered

    @property
    def grouped(self) -> bool:
        """An aggregate query: its rows are AggregateResults, not records."""
        return bool(self.aggregates or self.group_by)


@dataclass(frozen=True)
class SemiJoin:
    """`Id IN (SELECT AccountId FROM Opportunity ...)`; negated for NOT IN (an anti-join)."""

    path: Path
    query: Query
    negated: bool


STRINGISH = {"string", "textarea", "email", "picklist", "reference", "id"}
NUMERIC = {"double", "currency", "percent", "int"}


def like_pattern(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def picks(text: str) -> list[str]:
    """A multi-select picklist value's parts: 'a;b' is a and b."""
    return [part.strip().lower() for part in text.split(";") if part.strip()]
