"""Evaluating a parsed SOQL query over records: WHERE conditions, ORDER BY, and GROUP BY with
aggregate functions (COUNT, COUNT_DISTINCT, SUM, AVG, MIN, MAX), as Salesforce answers them.

Strings compare case-insensitively, ids by their 15-character form, date literals as ranges of
days; a semi-join's subquery is run first and becomes an IN list (bind_semi_joins)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from cs_sync.sandbox.soql_dates import DateLiteral
from cs_sync.sandbox.soql_syntax import (
    STRINGISH,
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
    malformed,
    parse_datetime,
    picks,
)

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
    if definition_type == "multipicklist":
        return frozenset(picks(str(value)))
    if definition_type in STRINGISH and definition_type not in ("reference", "id"):
        return str(value).lower()
    if definition_type in ("reference", "id"):
        return str(value)[:15]
    return value


def _literal_key(value: Any, definition_type: str) -> Any:
    if isinstance(value, frozenset):
        return value
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
    if isinstance(node, Includes):
        chosen = actual or frozenset()
        hit = any(group <= chosen for group in node.groups)
        return not hit if node.negated else hit
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


def bind_semi_joins(node: Any, run: Callable[[Query], list[Any]]) -> Any:
    """The condition with each semi-join's subquery run (by `run`, which returns the values
    of its one selected field) and turned into an IN / NOT IN list."""
    if isinstance(node, SemiJoin):
        values = tuple(v for v in run(node.query) if v is not None)
        return Membership(node.path, values, node.negated)
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(bind_semi_joins(item, run) for item in node.items))
    if isinstance(node, Not):
        return Not(bind_semi_joins(node.item, run))
    return node


def aggregate(
    query: Query,
    rows: list[dict[str, Any]],
    resolve: Resolver,
    type_of: Callable[[Path], str],
) -> list[dict[str, Any]]:
    """GROUP BY and the aggregate functions: one AggregateResult per group (one in all
    without GROUP BY), keyed by each grouped field's name and each aggregate's alias."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(_typed(resolve(row, p), type_of(p)) for p in query.group_by)
        groups.setdefault(key, []).append(row)
    if not query.group_by and not groups:
        groups[()] = []
    results = []
    for members in groups.values():
        result: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
        for path in query.group_by:
            result[path.parts[-1]] = resolve(members[0], path)
        for item in query.aggregates:
            kind = type_of(item.path)
            present = [v for v in (resolve(r, item.path) for r in members) if v is not None]
            result[item.alias] = _aggregate_value(item.function, present, kind)
        results.append(result)
    return results


def _aggregate_value(function: str, values: list[Any], kind: str) -> Any:
    if function == "COUNT":
        return len(values)
    if function == "COUNT_DISTINCT":
        return len({_typed(v, kind) for v in values})
    if not values:
        return None
    if function == "SUM":
        return float(sum(values))
    if function == "AVG":
        return sum(values) / len(values)
    ranked = sorted(values, key=lambda v: _typed(v, kind))
    return ranked[0] if function == "MIN" else ranked[-1]
