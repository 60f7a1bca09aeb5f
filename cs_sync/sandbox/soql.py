"""A strict subset of SOQL for the sandbox: parse, validate against the schema, evaluate.

Supported: SELECT lists of fields and parent fields (Owner.Email), FROM one object, WHERE with
= != <> < > <= >= IN, NOT IN, LIKE, AND / OR / NOT and parentheses, null, booleans, numbers,
strings, date and datetime literals; ORDER BY with ASC/DESC and NULLS FIRST/LAST; LIMIT.
Anything else raises SoqlError("MALFORMED_QUERY"): the sandbox refuses what it does not
understand rather than return wrong rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from cs_sync.sandbox.schema import Field, Schema
from cs_sync.sandbox.soql_dates import PATTERN as DATE_LITERALS
from cs_sync.sandbox.soql_dates import DateLiteral
from cs_sync.sfid import try_to18


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
}
_UNSUPPORTED = {
    "GROUP",
    "HAVING",
    "OFFSET",
    "WITH",
    "FOR",
    "USING",
    "TYPEOF",
    "INCLUDES",
    "EXCLUDES",
    "ROLLUP",
    "CUBE",
    "FIELDS",
    "COUNT",
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


def _unescape(body: str, allow_like: bool) -> str:
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
class Query:
    sobject: str
    fields: tuple[Path, ...]
    where: Any
    order: tuple[Order, ...]
    limit: int | None


class _Parser:
    def __init__(self, tokens: list[Token], schema: Schema) -> None:
        self.tokens = tokens
        self.i = 0
        self.schema = schema
        self.sobject = ""
        self.joined_by_and = False  # did the last conjunction parsed join terms with AND

    def peek(self, offset: int = 0) -> Token | None:
        index = self.i + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise malformed("unexpected end of query")
        self.i += 1
        return token

    def accept_kw(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "kw" and token.text == word:
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.accept_kw(word):
            found = self.peek()
            raise malformed(f"expected {word} but found {found.text if found else 'end of query'}")

    def accept_punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self.i += 1
            return True
        return False

    def parse(self) -> Query:
        self.expect_kw("SELECT")
        raw_fields: list[str] = []
        while True:
            token = self.next()
            if token.kind == "punct" and token.text == "(":
                raise malformed("subqueries are not supported by the sandbox: query each object")
            if token.kind != "ident":
                raise malformed(f"expected a field name but found {token.text}")
            if self.accept_punct("("):
                raise malformed(f"function {token.text}() is not supported by the sandbox")
            raw_fields.append(token.text)
            if not self.accept_punct(","):
                break
        self.expect_kw("FROM")
        token = self.next()
        if token.kind != "ident" or "." in token.text:
            raise malformed(f"expected an object name after FROM but found {token.text}")
        sobject = self.schema.lookup_object(token.text)
        if sobject is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"sObject type '{token.text}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name.",
            )
        self.sobject = sobject
        fields = tuple(self.path(name) for name in raw_fields)
        seen: set[str] = set()
        for name, field_path in zip(raw_fields, fields, strict=True):
            if ".".join(field_path.parts).lower() in seen:
                raise malformed(f"duplicate field selected: {name}")
            seen.add(".".join(field_path.parts).lower())
        where = None
        if self.accept_kw("WHERE"):
            where = self.expression()
        order: list[Order] = []
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            while True:
                path = self.path(self.ident())
                descending = self.accept_kw("DESC")
                if not descending:
                    self.accept_kw("ASC")
                nulls_first = not descending
                if self.accept_kw("NULLS"):
                    if self.accept_kw("FIRST"):
                        nulls_first = True
                    else:
                        self.expect_kw("LAST")
                        nulls_first = False
                order.append(Order(path, descending, nulls_first))
                if not self.accept_punct(","):
                    break
        limit = None
        if self.accept_kw("LIMIT"):
            token = self.next()
            if token.kind != "number" or not isinstance(token.value, int) or token.value < 0:
                raise malformed("LIMIT needs a non-negative whole number")
            limit = token.value
        if self.peek() is not None:
            raise malformed(f"unexpected token {self.peek().text!r}")  # type: ignore[union-attr]
        return Query(sobject, fields, where, tuple(order), limit)

    def ident(self) -> str:
        token = self.next()
        if token.kind != "ident":
            raise malformed(f"expected a field name but found {token.text}")
        return token.text

    def path(self, dotted: str) -> Path:
        parts = dotted.split(".")
        if len(parts) > 1 and parts[0].lower() == self.sobject.lower():
            parts = parts[1:]  # "Account.Name" FROM Account is allowed
        sobject = self.sobject
        canonical: list[str] = []
        for relationship in parts[:-1]:
            ref = self.schema.lookup_relationship(sobject, relationship)
            if ref is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{relationship}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name.",
                )
            canonical.append(ref.relationship_name or relationship)
            sobject = ref.reference_to[0]
        definition = self.schema.lookup_field(sobject, parts[-1])
        if definition is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{parts[-1]}' on entity '{sobject}'.")
        canonical.append(definition.name)
        return Path(tuple(canonical))

    def field_of(self, path: Path) -> Field:
        sobject = self.sobject
        for relationship in path.parts[:-1]:
            ref = self.schema.lookup_relationship(sobject, relationship)
            assert ref is not None
            sobject = ref.reference_to[0]
        definition = self.schema.lookup_field(sobject, path.parts[-1])
        assert definition is not None
        return definition

    def expression(self) -> Any:
        """AND and OR may not mix at one level without parentheses: `a AND b OR c` is refused,
        as Salesforce refuses it, since its meaning would be a guess."""
        items = [self.conjunction()]
        had_and = self.joined_by_and
        while self.accept_kw("OR"):
            items.append(self.conjunction())
            had_and = had_and or self.joined_by_and
        if len(items) > 1 and had_and:
            raise malformed("unexpected token: 'OR' (mix AND and OR only inside parentheses)")
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def conjunction(self) -> Any:
        items = [self.unary()]
        while self.accept_kw("AND"):
            items.append(self.unary())
        self.joined_by_and = len(items) > 1  # at this level, not inside parentheses
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def unary(self) -> Any:
        if self.accept_kw("NOT"):
            return Not(self.unary())
        if self.accept_punct("("):
            inner = self.expression()
            if not self.accept_punct(")"):
                raise malformed("missing closing parenthesis")
            return inner
        return self.condition()

    def condition(self) -> Any:
        path = self.path(self.ident())
        definition = self.field_of(path)
        if definition.type == "textarea" and definition.length > 255:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{definition.name}' can not be filtered in a query call",
            )
        token = self.next()
        if token.kind == "op":
            value = self.literal(definition)
            if value is None and token.text not in ("=", "!=", "<>"):
                raise malformed(f"null can only be compared with = or != (field {path.parts[-1]})")
            op = "!=" if token.text == "<>" else token.text
            if op in ("<", ">", "<=", ">=") and definition.type in ("boolean", "reference", "id"):
                raise malformed(f"operator {op} is not valid for field {definition.name}")
            return Comparison(path, op, value)
        negated = False
        if token.kind == "kw" and token.text == "NOT":
            negated = True
            token = self.next()
            if not (token.kind == "kw" and token.text == "IN"):
                raise malformed("expected IN after NOT")
        if token.kind == "kw" and token.text == "IN":
            if not self.accept_punct("("):
                raise malformed("IN needs a parenthesised list of values")
            peeked = self.peek()
            if peeked is not None and peeked.kind == "kw" and peeked.text == "SELECT":
                raise malformed("semi-join subqueries are not supported by the sandbox")
            values = [self.literal(definition)]
            while self.accept_punct(","):
                values.append(self.literal(definition))
            if not self.accept_punct(")"):
                raise malformed("missing closing parenthesis after IN list")
            return Membership(path, tuple(values), negated)
        if token.kind == "kw" and token.text == "LIKE":
            literal = self.next()
            if literal.kind != "string":
                raise malformed("LIKE needs a string literal")
            if definition.type not in _STRINGISH:
                raise malformed(f"LIKE is not valid for field {definition.name}")
            return Like(path, _like_pattern(_unescape(literal.value, allow_like=True)))
        raise malformed(f"unexpected {token.text!r} after field {definition.name}")

    def literal(self, definition: Field) -> Any:
        token = self.next()
        kind = definition.type
        if token.kind == "kw" and token.text == "NULL":
            return None
        if token.kind == "kw" and token.text in ("TRUE", "FALSE"):
            if kind != "boolean":
                raise malformed(
                    f"value of filter criterion for field '{definition.name}' must "
                    f"be of type {kind}"
                )
            return token.text == "TRUE"
        if token.kind == "string":
            if kind not in _STRINGISH:
                raise malformed(
                    f"value of filter criterion for field '{definition.name}' must be "
                    f"of type {kind} and should not be enclosed in quotes"
                )
            text = _unescape(token.value, allow_like=False)
            if kind in ("id", "reference") and try_to18(text) is None:
                raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}")
            return text
        if token.kind == "number":
            if kind not in _NUMERIC:
                raise malformed(
                    f"value of filter criterion for field '{definition.name}' must "
                    f"be of type {kind}"
                )
            return token.value
        if token.kind == "datelit":  # TODAY, LAST_N_DAYS:30, ...: a range of days
            if kind in ("date", "datetime"):
                return token.value
            raise malformed(
                f"value of filter criterion for field '{definition.name}' must be of type {kind}"
            )
        if token.kind == "date":
            if kind == "date":
                return token.value
            raise malformed(
                f"value of filter criterion for field '{definition.name}' must be of type {kind}"
            )
        if token.kind == "datetime":
            if kind == "datetime":
                return token.value
            raise malformed(
                f"value of filter criterion for field '{definition.name}' must be of type {kind}"
            )
        raise malformed(f"unexpected {token.text!r} where a value was expected")


_STRINGISH = {"string", "textarea", "email", "picklist", "reference", "id"}
_NUMERIC = {"double", "currency", "percent", "int"}


def _like_pattern(pattern: str) -> re.Pattern[str]:
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


def parse(text: str, schema: Schema) -> Query:
    if not text or not text.strip():
        raise malformed("empty query")
    return _Parser(tokenize(text), schema).parse()


# ---------------------------------------------------------------- evaluation

Resolver = Callable[[dict[str, Any], Path], Any]


def _sort_key(record: dict[str, Any], resolve: Resolver, path: Path, kind: str) -> Any:
    return _typed(resolve(record, path), kind)


def _typed(value: Any, definition_type: str) -> Any:
    if value is None:
        return None
    if definition_type == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if definition_type == "datetime" and isinstance(value, str):
        return parse_datetime(value)
    if definition_type in _STRINGISH and definition_type not in ("reference", "id"):
        return str(value).lower()
    if definition_type in ("reference", "id"):
        return str(value)[:15]
    return value


def _literal_key(value: Any, definition_type: str) -> Any:
    if isinstance(value, str):
        return value[:15] if definition_type in ("reference", "id") else value.lower()
    return value


def evaluate(
    node: Any,
    record: dict[str, Any],
    resolve: Resolver,
    type_of: Callable[[Path], str],
    today: date | None = None,
) -> bool:
    """Does the record meet the condition? `today` dates literals such as TODAY (default: the
    current day in UTC)."""
    if node is None:
        return True
    if isinstance(node, BoolOp):
        results = (evaluate(item, record, resolve, type_of, today) for item in node.items)
        return all(results) if node.op == "AND" else any(results)
    if isinstance(node, Not):
        return not evaluate(node.item, record, resolve, type_of, today)
    kind = type_of(node.path)
    actual = _typed(resolve(record, node.path), kind)
    if isinstance(node, Like):
        return actual is not None and bool(node.pattern.match(str(resolve(record, node.path))))
    if isinstance(node, Membership):
        found = actual in {_literal_key(v, kind) for v in node.values}
        return not found if node.negated else found
    assert isinstance(node, Comparison)
    if isinstance(node.value, DateLiteral):
        return _in_days(actual, node.op, node.value.days(today or datetime.now(UTC).date()))
    expected = _literal_key(node.value, kind)
    if node.op == "=":
        return actual == expected
    if node.op == "!=":
        return actual != expected
    if actual is None:
        return False
    try:
        return {
            "<": actual < expected,
            ">": actual > expected,
            "<=": actual <= expected,
            ">=": actual >= expected,
        }[node.op]
    except TypeError as exc:  # e.g. naive vs aware datetimes
        raise malformed(f"cannot compare {node.path.parts[-1]} with {node.value!r}") from exc


def _in_days(actual: Any, op: str, days: tuple[date, date]) -> bool:
    """A date (or the UTC day of a datetime) against a literal's range of days: = inside it,
    < before its first day, > after its last."""
    if actual is None:
        return op == "!="
    day = actual.astimezone(UTC).date() if isinstance(actual, datetime) else actual
    first, last = days
    return {
        "=": first <= day <= last,
        "!=": not first <= day <= last,
        "<": day < first,
        "<=": day <= last,
        ">": day > last,
        ">=": day >= first,
    }[op]


def sort_records(
    records: list[dict[str, Any]],
    order: Iterable[Order],
    resolve: Resolver,
    type_of: Callable[[Path], str],
) -> list[dict[str, Any]]:
    result = list(records)
    for item in reversed(list(order)):  # stable sorts, last key first
        kind = type_of(item.path)
        present = [r for r in result if resolve(r, item.path) is not None]
        missing = [r for r in result if resolve(r, item.path) is None]
        present.sort(
            key=partial(_sort_key, resolve=resolve, path=item.path, kind=kind),
            reverse=item.descending,
        )
        result = missing + present if item.nulls_first else present + missing
    return result
