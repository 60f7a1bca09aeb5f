"""The config expression language: what it computes, how it treats missing data, how it fails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_sync.rules.expressions import ExpressionError, compile_expression

NAN = np.nan
TABLE = pd.DataFrame(
    {
        "active_ratio": [0.9, 0.5, NAN, 0.8],
        "seats": [100, 0, 20, 10],
        "segment": ["High Touch", "Tech Touch", None, ""],
        "grade": ["A", "C", None, "B"],
        "champion": [1, 0, 0, 2],
    },
    index=["001A", "001B", "001C", "001D"],
)


def values(text: str) -> list[object]:
    result = compile_expression("rule", text).evaluate(TABLE)
    return [None if pd.isna(v) else v for v in result]


def met(text: str) -> list[bool]:
    return list(compile_expression("rule", text).condition(TABLE))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("active_ratio >= 0.8", [True, False, False, True]),
        ("active_ratio >= 0.8 and champion > 0", [True, False, False, True]),
        ('segment in ["High Touch", "Low Touch"]', [True, False, False, False]),
        ('segment not in ["High Touch"]', [False, True, False, False]),
        ("0.5 <= active_ratio < 0.9", [False, True, False, True]),
        ('grade == "A" or champion >= 2', [True, False, False, True]),
        ("missing(active_ratio)", [False, False, True, False]),
        ("missing(segment)", [False, False, True, True]),  # empty text is missing too
        ("present(grade) and not missing(segment)", [True, True, False, False]),
        ('contains(segment, "Touch")', [True, True, False, False]),
        ("true", [True, True, True, True]),
        ("seats", [True, False, True, True]),  # a number used as a condition: non-zero
    ],
)
def test_conditions(text: str, expected: list[bool]) -> None:
    assert met(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Unknown (missing) inputs: `not` of unknown stays unknown, so the condition is not met.
        ("not (active_ratio > 0.6)", [False, True, False, False]),
        # Kleene logic: unknown or true = true, unknown and false = false.
        ("active_ratio > 0.6 or champion == 0", [True, True, True, True]),
        ("active_ratio > 0.6 and champion > 5", [False, False, False, False]),
    ],
)
def test_missing_values_are_unknown_not_false(text: str, expected: list[bool]) -> None:
    assert met(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("active_ratio * 100", [90.0, 50.0, None, 80.0]),
        ("champion / seats", [0.01, None, 0.0, 0.2]),  # dividing by zero gives missing
        ("max(seats, 15)", [100.0, 15.0, 20.0, 15.0]),
        ("min(active_ratio, 0.6)", [0.6, 0.5, 0.6, 0.6]),  # missing arguments are ignored
        ("coalesce(active_ratio, 0)", [0.9, 0.5, 0.0, 0.8]),
        ("clip(seats - 15, 0, 50)", [50.0, 0.0, 5.0, 0.0]),
        ("round(active_ratio * 3, 1)", [2.7, 1.5, None, 2.4]),
        ("-abs(champion - 1)", [0.0, -1.0, -1.0, -1.0]),
        ("seats // 3 + seats % 3 + 2 ** 2", [38.0, 4.0, 12.0, 8.0]),
        ('"ok" if active_ratio >= 0.8 else "low"', ["ok", "low", "low", "ok"]),
        ('grade + "!"', ["A!", "C!", None, "B!"]),
        ("(active_ratio > 0.6) * 10", [10.0, 0.0, None, 10.0]),
    ],
)
def test_values(text: str, expected: list[object]) -> None:
    got = values(text)
    assert [v is None for v in got] == [v is None for v in expected]
    for have, want in zip(got, expected, strict=True):
        if isinstance(want, float):
            assert have == pytest.approx(want)
        else:
            assert have == want


def test_scalar_expression_broadcasts_to_every_row() -> None:
    result = compile_expression("rule", "1 + 2").evaluate(TABLE)
    assert list(result) == [3.0, 3.0, 3.0, 3.0]
    assert list(result.index) == list(TABLE.index)


@pytest.mark.parametrize(
    ("text", "message", "caret_under"),
    [
        ("segment.lower()", "attribute access (a.b) is not allowed", "segment.lower()"),
        ("__import__('os')", "unknown function '__import__'", "__import__"),
        ("open('/etc/passwd')", "unknown function 'open'", "open"),
        ("seats[0]", "indexing (a[b]) is not allowed", "seats[0]"),
        ("(lambda: 1)()", "lambda is not allowed", None),
        ("min(seats)", "min() takes 2 to 9 argument(s), got 1", "min"),
        ("round(seats, digits=1)", "takes no keyword arguments", "1)"),
        ("seats > 1 and (champion", "syntax error", None),
        ("seats >", "syntax error", None),
        ("grade in champion", "after `in` comes a list of values", "champion"),
        ("seats is None", "`is` (use == or missing(x))", None),
        ("seats & 1", "& (use and)", None),
        ("", "the expression is empty", None),
    ],
)
def test_what_is_refused_when_compiled(text: str, message: str, caret_under: str | None) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("phases.Adoption.when", text)
    error = str(caught.value)
    assert error.startswith("phases.Adoption.when: ")
    assert message in error
    if caret_under is not None:
        assert caught.value.offset == text.index(caret_under)


def test_unknown_column_lists_the_available_ones_and_points_at_it() -> None:
    expression = compile_expression("features.usage_per_seat", "logins / seets")
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(pd.DataFrame({"logins": [1], "seats": [2]}))
    error = caught.value
    assert error.message == "unknown column 'seets'; the columns are: logins, seats"
    assert error.offset == len("logins / ")
    assert str(error).splitlines() == [
        "features.usage_per_seat: unknown column 'seets'; the columns are: logins, seats",
        "    logins / seets",
        "             ^",
    ]


def test_caret_lines_up_under_japanese_text() -> None:
    expression = compile_expression("phases.定着", 'segment == "高" and 利用率 > 1')
    with pytest.raises(ExpressionError) as caught:
        expression.evaluate(pd.DataFrame({"segment": ["高"]}))
    lines = str(caught.value).splitlines()
    assert caught.value.offset == len('segment == "高" and ')
    # 高 is two columns wide in a terminal: the caret sits under 利.
    assert lines[2].index("^") == len('    segment == "') + 2 + len('" and ')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segment > 3", "'>' not supported"),
        ("segment * 2", "text such as 'High Touch' is not a number"),
        ("seats + 'x'", "the text 'x' is not a number"),
    ],
)
def test_type_errors_name_the_part(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("rule", text).evaluate(TABLE)
    assert message in str(caught.value)
    assert caught.value.offset is not None


def test_a_text_value_is_not_a_condition() -> None:
    with pytest.raises(ExpressionError, match="gives text, not true / false"):
        compile_expression("rule", "segment").condition(TABLE)


finite = st.floats(allow_nan=True, allow_infinity=False, width=32)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=30))
def test_never_raises_on_missing_or_odd_numbers(rows: list[tuple[float, float]]) -> None:
    table = pd.DataFrame(rows, columns=["x", "y"])
    for text in ("x / y", "x % y", "x // y", "max(x, y) - min(x, y)", "coalesce(x, y) ** 2"):
        result = compile_expression("rule", text).evaluate(table)
        assert len(result) == len(table)
        assert not np.isinf(result.astype(float)).any()
    condition = compile_expression("rule", "x > y or not (x <= 0) and missing(y)")
    assert condition.condition(table).dtype == bool


text_cells = st.sampled_from(["A", "B", "", None, "a", "Ａ", "A "])


@settings(max_examples=60, deadline=None)
@given(st.lists(text_cells, min_size=1, max_size=20), st.sampled_from(["A", "", "a", "Z"]))
def test_text_equality_by_codes_matches_row_by_row(cells: list[str | None], text: str) -> None:
    # a text column compared with a text is looked up per distinct value; the answer,
    # unknowns included, is the row-by-row comparison's ("" is missing, so never equal)
    table = pd.DataFrame({"grade": cells})
    for op, compare in (("==", lambda a, b: a == b), ("!=", lambda a, b: a != b)):
        got = compile_expression("rule", f'grade {op} "{text}"').evaluate(table)
        expected = [None if c in (None, "") else compare(c, text) for c in cells]
        assert [None if pd.isna(v) else bool(v) for v in got] == expected
