"""A small, safe expression language for the conditions and features admins write in config.

The syntax is a subset of Python expressions, evaluated column-wise over a whole table at once:

    active_ratio >= 0.8 and months_since_start <= 3
    segment in ["High Touch", "Low Touch"] and not missing(champion)
    logins / max(seats, 1)
    "Up" if login_trend > 1.1 else "Flat"

Names are columns of the table; literals are numbers, strings, true / false (either case) and
lists of literals after `in`. Operators: + - * / // % **, comparisons (chains allowed), `in` /
`not in`, and / or / not, `x if c else y`. Functions: see FUNCTIONS. Nothing else parses: no
attributes, indexing, keyword arguments, lambdas or imports, so a config file cannot run code.

Missing data: a comparison with a missing value is unknown, and `and` / `or` / `not` follow
three-valued logic (unknown and false = false, unknown or true = true); a condition that ends
unknown counts as not met. Arithmetic with a missing value, or a division by zero, is missing.

Every error names the rule, repeats the expression and points at the place in it; an unknown
column lists the columns there are.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cs_sync.rules.expression_values import (
    BINARY,
    COMPARE,
    FUNCTIONS,
    Value,
    as_bool,
    as_number,
    compare,
    equal_text,
    is_missing,
    is_text,
    kleene,
    membership,
    where,
)


class ExpressionError(ValueError):
    """An expression that does not parse, uses what is not allowed, or fails on the data."""

    def __init__(self, rule: str, text: str, message: str, offset: int | None = None) -> None:
        self.rule = rule
        self.text = text
        self.message = message
        self.offset = offset
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [f"{self.rule}: {self.message}", f"    {self.text}"]
        if self.offset is not None:
            # East Asian wide characters take two columns in a terminal.
            width = sum(2 if ord(ch) > 0x2E80 else 1 for ch in self.text[: self.offset])
            lines.append("    " + " " * width + "^")
        return "\n".join(lines)


CONSTANTS = {"true": True, "false": False, "True": True, "False": False, "null": None}


class Columns:
    """A table's columns as expressions see them (empty text counts as missing), each one
    prepared once however many expressions read it. `extra` adds columns computed since."""

    def __init__(self, table: pd.DataFrame, base: Columns | None = None) -> None:
        self.table = table
        self.index = table.index
        self.base = base
        self._prepared: dict[str, pd.Series] = {}
        self._missing: dict[int, np.ndarray] = {}  # by id of a Series kept in _prepared
        self._codes: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # the same, text columns

    def with_columns(self, extra: pd.DataFrame) -> Columns:
        return Columns(extra, base=self)

    def names(self) -> list[str]:
        own = [str(c) for c in self.table.columns]
        return own + (self.base.names() if self.base is not None else [])

    def missing(self, value: Value) -> Any:
        """Where `value` is missing (a numpy mask, or a bool for a scalar); computed once for
        each prepared column however many comparisons read it."""
        if not isinstance(value, pd.Series):
            return bool(is_missing(value)) or value is pd.NA
        owner = self._owner(value)
        if owner is None:
            return value.isna().to_numpy(dtype=bool)  # an intermediate result
        if id(value) not in owner._missing:
            owner._missing[id(value)] = value.isna().to_numpy(dtype=bool)
        return owner._missing[id(value)]

    def codes(self, value: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
        """A prepared text column as codes into its distinct values (-1: missing), worked
        out once: comparing a million rows with a text is then a look-up per distinct value.
        None for anything else."""
        owner = self._owner(value)
        if owner is None or not is_text(value):
            return None
        if id(value) not in owner._codes:
            codes, distinct = pd.factorize(value)
            owner._codes[id(value)] = (codes, np.asarray(distinct, dtype=object))
        return owner._codes[id(value)]

    def _owner(self, value: pd.Series) -> Columns | None:
        """The Columns that prepared `value`, if any."""
        owner: Columns | None = self
        while owner is not None and not any(value is c for c in owner._prepared.values()):
            owner = owner.base
        return owner

    def get(self, name: str) -> pd.Series:
        if name not in self.table.columns and self.base is not None:
            return self.base.get(name)
        if name not in self._prepared:
            column = self.table[name]
            if is_text(column):
                column = column.where(column.notna() & (column != ""))
            self._prepared[name] = column
        return self._prepared[name]


@dataclass(frozen=True)
class Expression:
    """A checked expression: parsed once (at config load), evaluated on any table."""

    rule: str
    text: str
    tree: ast.expr
    names: frozenset[str]

    def check_columns(self, available: Iterable[str]) -> None:
        """Raises ExpressionError at the first column name not in `available`."""
        columns = {str(c) for c in available}
        unknown = self.names - columns
        if unknown:
            first = min(
                unknown, key=lambda name: _offset(self.text, _first_name(self.tree, name)) or 0
            )
            listed = ", ".join(sorted(columns))
            raise self._error(
                f"unknown column {first!r}; the columns are: {listed}",
                _first_name(self.tree, first),
            )

    def evaluate(self, table: pd.DataFrame | Columns) -> pd.Series:
        """The value for every row of `table`, as a Series on its index."""
        columns = table if isinstance(table, Columns) else Columns(table)
        self.check_columns(columns.names())
        value = _Evaluator(self, columns).visit(self.tree)
        if not isinstance(value, pd.Series):
            value = pd.Series([value] * len(columns.index), index=columns.index)
        return value

    def condition(self, table: pd.DataFrame | Columns) -> pd.Series:
        """True where the condition is met; false where it is not or cannot be known."""
        value = self.evaluate(table)
        try:
            return as_bool(value).fillna(False).astype(bool)
        except (TypeError, ValueError):
            raise self._error("this expression gives text, not true / false", self.tree) from None

    def _error(self, message: str, node: ast.AST | None) -> ExpressionError:
        return ExpressionError(self.rule, self.text, message, _offset(self.text, node))


def _offset(text: str, node: ast.AST | None) -> int | None:
    """Character offset of `node` in `text` (ast counts UTF-8 bytes per line)."""
    if node is None or not hasattr(node, "lineno"):
        return None
    lines = text.split("\n")
    before = sum(len(line) + 1 for line in lines[: node.lineno - 1])
    line = lines[node.lineno - 1].encode("utf-8")
    column = getattr(node, "col_offset", 0)
    return before + len(line[:column].decode("utf-8", errors="ignore"))


def _first_name(tree: ast.AST, name: str) -> ast.AST | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            return node
    return None


_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    *BINARY,
    *COMPARE,
    ast.In,
    ast.NotIn,
)
_WHAT = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "indexing (a[b])",
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "f-strings",
    ast.Dict: "dictionaries",
    ast.Set: "sets",
    ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Is: "`is` (use == or missing(x))",
    ast.IsNot: "`is not` (use != or present(x))",
    ast.Invert: "~ (use not)",
    ast.BitAnd: "& (use and)",
    ast.BitOr: "| (use or)",
}


def compile_expression(rule: str, text: str) -> Expression:
    """Parse and check `text`; raises ExpressionError naming `rule` and the place."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(rule, str(text), "the expression is empty")
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        offset = None
        if exc.lineno is not None and exc.offset is not None and exc.offset < 1:
            offset = len(source)  # the expression stops too early
        elif exc.lineno is not None and exc.offset is not None:
            lines = source.split("\n")
            line = lines[exc.lineno - 1].encode("utf-8")
            column = len(line[: max(exc.offset - 1, 0)].decode("utf-8", errors="ignore"))
            offset = sum(len(x) + 1 for x in lines[: exc.lineno - 1]) + column
        raise ExpressionError(rule, source, f"syntax error: {exc.msg}", offset) from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            what = _WHAT.get(type(node), type(node).__name__)
            raise ExpressionError(
                rule, source, f"{what} is not allowed in expressions", _offset(source, node)
            )
        if isinstance(node, ast.Call):
            _check_call(rule, source, node)
        elif isinstance(node, ast.Name) and node.id not in CONSTANTS:
            names.add(node.id)
        elif isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn) and not _literal_list(right):
                    raise ExpressionError(
                        rule,
                        source,
                        'after `in` comes a list of values, such as ["Secured", "Planned"]',
                        _offset(source, right),
                    )
    called = {n.func for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names -= {f.id for f in called if isinstance(f, ast.Name)}
    return Expression(rule, source, tree.body, frozenset(names))


def _literal_list(node: ast.AST) -> bool:
    return isinstance(node, ast.List | ast.Tuple) and all(
        isinstance(item, ast.Constant) for item in node.elts
    )


def _check_call(rule: str, source: str, node: ast.Call) -> None:
    if not isinstance(node.func, ast.Name):
        what = _WHAT.get(type(node.func), "calling " + type(node.func).__name__)
        raise ExpressionError(
            rule, source, f"{what} is not allowed in expressions", _offset(source, node)
        )
    name = node.func.id
    if name not in FUNCTIONS:
        known = ", ".join(FUNCTIONS)
        raise ExpressionError(
            rule,
            source,
            f"unknown function {name!r}; the functions are: {known}",
            _offset(source, node),
        )
    if node.keywords:
        raise ExpressionError(
            rule,
            source,
            f"{name}() takes no keyword arguments",
            _offset(source, node.keywords[0].value),
        )
    _, fewest, most, usage = FUNCTIONS[name]
    if not fewest <= len(node.args) <= most:
        expected = str(fewest) if fewest == most else f"{fewest} to {most}"
        raise ExpressionError(
            rule,
            source,
            f"{name}() takes {expected} argument(s), got {len(node.args)}: {usage}",
            _offset(source, node),
        )


class _Evaluator:
    def __init__(self, expression: Expression, columns: Columns) -> None:
        self.expression = expression
        self.columns = columns

    def visit(self, node: ast.AST) -> Value:
        try:
            return getattr(self, "visit_" + type(node).__name__)(node)
        except ExpressionError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise self.expression._error(f"cannot evaluate this part: {exc}", node) from None

    def visit_Constant(self, node: ast.Constant) -> Value:
        return np.nan if node.value is None else node.value

    def visit_Name(self, node: ast.Name) -> Value:
        if node.id in CONSTANTS:
            value = CONSTANTS[node.id]
            return np.nan if value is None else value
        return self.columns.get(node.id)

    def visit_List(self, node: ast.List) -> list[Any]:
        return [item.value for item in node.elts]  # type: ignore[attr-defined]

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Value:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            value = as_bool(operand)
            if isinstance(value, pd.Series):
                return ~value
            return pd.NA if value is pd.NA else not value
        number = as_number(operand)
        return -number if isinstance(node.op, ast.USub) else number

    def visit_BinOp(self, node: ast.BinOp) -> Value:
        left, right = self.visit(node.left), self.visit(node.right)
        return BINARY[type(node.op)](left, right)

    def visit_BoolOp(self, node: ast.BoolOp) -> Value:
        values = [as_bool(self.visit(v)) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = kleene(result, value, isinstance(node.op, ast.And))
        return result

    def visit_Compare(self, node: ast.Compare) -> Value:
        left = self.visit(node.left)
        result: Value = True
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            if isinstance(op, ast.In | ast.NotIn):
                part = membership(left, right, isinstance(op, ast.NotIn), self.columns.missing)
            elif isinstance(op, ast.Eq | ast.NotEq) and (found := self._text_equal(left, right)):
                codes, distinct, text = found
                part = equal_text(codes, distinct, text, isinstance(op, ast.NotEq), left.index)
            else:
                part = compare(COMPARE[type(op)], left, right, self.columns.missing)
            result = kleene(result, part, True)
            left = right
        return result

    def _text_equal(self, left: Value, right: Value) -> tuple[np.ndarray, np.ndarray, str] | None:
        """A prepared text column compared with a text: its codes, its values and the text."""
        if not isinstance(left, pd.Series) or not isinstance(right, str):
            return None
        coded = self.columns.codes(left)
        return None if coded is None else (*coded, right)

    def visit_IfExp(self, node: ast.IfExp) -> Value:
        return where(self.visit(node.test), self.visit(node.body), self.visit(node.orelse))

    def visit_Call(self, node: ast.Call) -> Value:
        function = FUNCTIONS[node.func.id][0]  # type: ignore[attr-defined]
        return function(self.columns.index, *(self.visit(arg) for arg in node.args))
