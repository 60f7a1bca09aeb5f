"""A strict subset of SOQL for the sandbox: parse and validate against the schema.

Supported: SELECT lists of fields and parent fields (Owner.Email), COUNT() alone, aggregate
functions (COUNT, COUNT_DISTINCT, SUM, AVG, MIN, MAX) with GROUP BY; FROM one object; WHERE
with = != <> < > <= >= IN, NOT IN, LIKE, INCLUDES / EXCLUDES, semi-joins and anti-joins
(`Id IN (SELECT AccountId FROM Opportunity ...)`), AND / OR / NOT and parentheses, null,
booleans, numbers, strings, date and datetime literals and date literals (TODAY, LAST_N_DAYS:n);
ORDER BY with ASC/DESC and NULLS FIRST/LAST; LIMIT. What Salesforce refuses is refused with its
error code; anything else the sandbox does not understand raises SoqlError("MALFORMED_QUERY")
rather than return wrong rows. Evaluation is in soql_eval.py.
"""

from __future__ import annotations

from typing import Any

from cs_sync.sandbox.fields import UNGROUPABLE, Field, target_of
from cs_sync.sandbox.schema import Schema
from cs_sync.sandbox.soql_syntax import (
    AGGREGATES,
    NUMERIC,
    STRINGISH,
    Aggregate,
    BoolOp,
    Comparison,
    Includes,
    Like,
    Membership,
    Not,
    Order,
    Path,
    Query,
    SemiJoin,
    SoqlError,
    Token,
    like_pattern,
    malformed,
    picks,
    tokenize,
    unescape,
)
from cs_sync.sfid import try_to18


class _Parser:
    def __init__(self, tokens: list[Token], schema: Schema, inner: bool = False) -> None:
        self.tokens = tokens
        self.i = 0
        self.schema = schema
        self.sobject = ""
        self.inner = inner  # parsing a semi-join's subquery
        self.joins = 0  # semi- and anti-joins in this WHERE clause
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
        selected = self.select_list()
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
        count_only = selected == [("COUNT", None, None)]
        fields, aggregates = self.resolve_selected([] if count_only else selected)
        where = None
        if self.accept_kw("WHERE"):
            where = self.expression()
        group_by: list[Path] = []
        if self.accept_kw("GROUP"):
            self.expect_kw("BY")
            group_by = self.group_list()
        order = self.order_list()
        limit = None
        if self.accept_kw("LIMIT"):
            token = self.next()
            if token.kind != "number" or not isinstance(token.value, int) or token.value < 0:
                raise malformed("LIMIT needs a non-negative whole number")
            limit = token.value
        if self.peek() is not None:
            raise malformed(f"unexpected token {self.peek().text!r}")  # type: ignore[union-attr]
        query = Query(sobject, fields, where, order, limit, aggregates, tuple(group_by), count_only)
        check_grouping(query, [] if count_only else selected)
        return query

    def select_list(self) -> list[tuple[str, str | None, str | None]]:
        """(field, None, None) or (FUNCTION, field or None, alias) per item."""
        items: list[tuple[str, str | None, str | None]] = []
        while True:
            token = self.next()
            if token.kind == "punct" and token.text == "(":
                raise malformed("subqueries are not supported by the sandbox: query each object")
            if token.kind != "ident":
                raise malformed(f"expected a field name but found {token.text}")
            if not self.accept_punct("("):
                items.append((token.text, None, None))
            else:
                function = token.text.upper()
                if function not in AGGREGATES:
                    raise malformed(f"function {token.text}() is not supported by the sandbox")
                argument = None if self.accept_punct(")") else self.ident()
                if argument is not None and not self.accept_punct(")"):
                    raise malformed(f"missing closing parenthesis after {function}(")
                if argument is None and function != "COUNT":
                    raise malformed(f"{function}() needs a field")
                alias = None
                following = self.peek()
                if following is not None and following.kind == "ident":
                    alias = self.next().text
                items.append((function, argument, alias))
            if not self.accept_punct(","):
                break
        if ("COUNT", None, None) in items and len(items) > 1:
            raise malformed("COUNT() must be the only element in the SELECT list")
        return items

    def resolve_selected(
        self, selected: list[tuple[str, str | None, str | None]]
    ) -> tuple[tuple[Path, ...], tuple[Aggregate, ...]]:
        fields: list[Path] = []
        aggregates: list[Aggregate] = []
        seen: set[str] = set()
        for name, argument, alias in selected:
            if argument is None and alias is None and name.upper() not in AGGREGATES:
                path = self.path(name)
                key = ".".join(path.parts).lower()
                if key in seen:
                    raise malformed(f"duplicate field selected: {name}")
                seen.add(key)
                fields.append(path)
                continue
            if argument is None:
                raise malformed("COUNT() must be the only element in the SELECT list")
            path = self.path(argument)
            check_aggregate(name, self.field_of(path))
            label = alias or f"expr{len(aggregates)}"
            if label.lower() in seen:
                raise malformed(f"duplicate alias: {label}")
            seen.add(label.lower())
            aggregates.append(Aggregate(name, path, label))
        return tuple(fields), tuple(aggregates)

    def group_list(self) -> list[Path]:
        paths: list[Path] = []
        while True:
            path = self.path(self.ident())
            definition = self.field_of(path)
            if definition.type in UNGROUPABLE:
                raise SoqlError(
                    "INVALID_FIELD", f"field '{definition.name}' can not be grouped in a query call"
                )
            paths.append(path)
            if not self.accept_punct(","):
                return paths

    def order_list(self) -> tuple[Order, ...]:
        order: list[Order] = []
        if not self.accept_kw("ORDER"):
            return ()
        self.expect_kw("BY")
        while True:
            name = self.ident()
            if self.accept_punct("("):
                raise malformed("ORDER BY an aggregate is not supported by the sandbox")
            path = self.path(name)
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
                return tuple(order)

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
            sobject = target_of(ref)
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
            sobject = target_of(ref)
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
        if len(items) > 1 and any(_has_join(item) for item in items):
            raise malformed("Semi join sub-selects are not allowed with the 'OR' operator")
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def conjunction(self) -> Any:
        items = [self.unary()]
        while self.accept_kw("AND"):
            items.append(self.unary())
        self.joined_by_and = len(items) > 1  # at this level, not inside parentheses
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def unary(self) -> Any:
        if self.accept_kw("NOT"):
            item = self.unary()
            if _has_join(item):
                raise malformed("NOT cannot be applied to a semi join: use NOT IN (SELECT ...)")
            return Not(item)
        if self.accept_punct("("):
            inner = self.expression()
            if not self.accept_punct(")"):
                raise malformed("missing closing parenthesis")
            return inner
        return self.condition()

    def condition(self) -> Any:
        path = self.path(self.ident())
        definition = self.field_of(path)
        if definition.type == "anyType" or (
            definition.type == "textarea" and definition.length > 255
        ):
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
                return self.semi_join(path, definition, negated)
            values = [self.literal(definition)]
            while self.accept_punct(","):
                values.append(self.literal(definition))
            if not self.accept_punct(")"):
                raise malformed("missing closing parenthesis after IN list")
            return Membership(path, tuple(values), negated)
        if token.kind == "kw" and token.text in ("INCLUDES", "EXCLUDES"):
            if definition.type != "multipicklist":
                raise malformed(
                    f"{token.text} operator is only valid on multipicklist field {definition.name}"
                )
            if not self.accept_punct("("):
                raise malformed(f"{token.text} needs a parenthesised list of values")
            groups = [self.value_set()]
            while self.accept_punct(","):
                groups.append(self.value_set())
            if not self.accept_punct(")"):
                raise malformed(f"missing closing parenthesis after {token.text} list")
            return Includes(path, tuple(groups), token.text == "EXCLUDES")
        if token.kind == "kw" and token.text == "LIKE":
            literal = self.next()
            if literal.kind != "string":
                raise malformed("LIKE needs a string literal")
            if definition.type not in STRINGISH:
                raise malformed(f"LIKE is not valid for field {definition.name}")
            text = unescape(literal.value, allow_like=True)
            return Like(path, like_pattern(text), text)
        raise malformed(f"unexpected {token.text!r} after field {definition.name}")

    def value_set(self) -> frozenset[str]:
        token = self.next()
        if token.kind != "string":
            raise malformed("INCLUDES and EXCLUDES take string values")
        return frozenset(picks(unescape(token.value, allow_like=False)))

    def semi_join(self, path: Path, definition: Field, negated: bool) -> SemiJoin:
        """`field [NOT] IN (SELECT one id or reference FROM another object WHERE ...)`, with
        the limits the SOQL reference sets on semi-joins and anti-joins."""
        if self.inner:
            raise malformed("Nesting of semi join sub-selects is not supported")
        if definition.type not in ("id", "reference"):
            raise malformed(
                f"semi join sub-selects are only valid on ID and reference fields, "
                f"not {definition.name}"
            )
        self.joins += 1
        if self.joins > 2:
            raise malformed("no more than two semi join or anti join sub-selects are allowed")
        depth, start = 1, self.i
        while depth:
            token = self.next()
            if token.kind == "punct" and token.text in "()":
                depth += 1 if token.text == "(" else -1
        inner = _Parser(self.tokens[start : self.i - 1], self.schema, inner=True).parse()
        if inner.sobject in ("Task", "Event"):
            raise malformed(
                f"Entity '{inner.sobject}' is not supported for semi join inner selects"
            )
        if inner.sobject == self.sobject:
            raise malformed("The inner and outer selects should not be on the same object type")
        if inner.grouped or inner.count_only or inner.order or inner.limit is not None:
            raise malformed(
                "COUNT, GROUP BY, ORDER BY and LIMIT are not allowed in semi join sub-selects"
            )
        if len(inner.fields) != 1 or len(inner.fields[0].parts) != 1:
            raise malformed("a semi join sub-select must select exactly one field of its object")
        selected = self.schema.lookup_field(inner.sobject, inner.fields[0].parts[0])
        assert selected is not None
        inner_targets = {inner.sobject} if selected.type == "id" else set(selected.reference_to)
        outer_targets = (
            {self.owner_of(path)} if definition.type == "id" else set(definition.reference_to)
        )
        if selected.type not in ("id", "reference") or not inner_targets & outer_targets:
            raise malformed(
                f"the sub-select's field {selected.name} does not reference the same object as "
                f"{definition.name}"
            )
        return SemiJoin(path, inner, negated)

    def owner_of(self, path: Path) -> str:
        sobject = self.sobject
        for relationship in path.parts[:-1]:
            ref = self.schema.lookup_relationship(sobject, relationship)
            assert ref is not None
            sobject = target_of(ref)
        return sobject

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
        if token.kind == "string" and kind == "multipicklist":
            return frozenset(picks(unescape(token.value, allow_like=False)))
        if token.kind == "string":
            if kind not in STRINGISH:
                raise malformed(
                    f"value of filter criterion for field '{definition.name}' must be "
                    f"of type {kind} and should not be enclosed in quotes"
                )
            text = unescape(token.value, allow_like=False)
            if kind in ("id", "reference") and try_to18(text) is None:
                raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}")
            return text
        if token.kind == "number":
            if kind not in NUMERIC:
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


def check_aggregate(function: str, definition: Field) -> None:
    if function in ("SUM", "AVG") and definition.type not in NUMERIC:
        raise SoqlError(
            "INVALID_FIELD",
            f"field {definition.name} does not support aggregate operator {function}",
        )
    if definition.type == "textarea" and definition.length > 255:
        raise SoqlError(
            "INVALID_FIELD",
            f"field {definition.name} does not support aggregate operator {function}",
        )


def check_grouping(query: Query, selected: list[tuple[str, str | None, str | None]]) -> None:
    """In an aggregate query every plain field, selected or ordered by, must be grouped."""
    if not query.grouped:
        return
    grouped = {".".join(p.parts).lower() for p in query.group_by}
    for path in query.fields:
        if ".".join(path.parts).lower() not in grouped:
            raise malformed(f"Field must be grouped or aggregated: {path.parts[-1]}")
    for item in query.order:
        if ".".join(item.path.parts).lower() not in grouped:
            raise malformed(f"Ordered field must be grouped or aggregated: {item.path.parts[-1]}")


def _has_join(node: Any) -> bool:
    if isinstance(node, SemiJoin):
        return True
    if isinstance(node, BoolOp):
        return any(_has_join(item) for item in node.items)
    return isinstance(node, Not) and _has_join(node.item)


def parse(text: str, schema: Schema) -> Query:
    if not text or not text.strip():
        raise malformed("empty query")
    return _Parser(tokenize(text), schema).parse()
