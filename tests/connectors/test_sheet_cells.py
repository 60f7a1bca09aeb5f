"""A table's cells as the Sheets API is sent them, a column at a time: the same values, of the
same types, as cell_value gives one cell at a time, for every kind of column a dashboard tab
has (and the awkward ones)."""

from __future__ import annotations

import json
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from cs_sync.connectors.sheet_cells import TabRows, cell_value, frame_rows

NAN = float("nan")


def one_at_a_time(frame: pd.DataFrame) -> list[list[object]]:
    rows = [list(map(str, frame.columns))]
    rows.extend([cell_value(v) for v in row] for row in frame.itertuples(index=False))
    return rows


def test_a_column_at_a_time_gives_what_each_cell_gives() -> None:
    rng = np.random.default_rng(19)
    n = 500
    frame = pd.DataFrame(
        {
            "score": rng.choice([12.5, NAN, np.inf, -np.inf, 0.0, 1e-9], n),
            "seats": rng.integers(-5, 5000, n),
            "delayed": rng.random(n) < 0.5,
            "renewal": pd.to_datetime(rng.choice(["2026-12-01", None], n)),  # type: ignore[arg-type]
            "stamp": pd.to_datetime(rng.choice(["2026-12-01T10:00:00Z", None], n), utc=True),  # type: ignore[arg-type]
            "name": rng.choice(["株式会社サンプル", "=HYPERLINK(1)", "+1", "", None, NAN], n),
            "mixed": rng.choice(
                np.array([1, 1.0, True, "1", None, date(2026, 1, 2)], dtype=object), n
            ),
            "when": rng.choice(
                np.array([datetime(2026, 1, 2, 3), date(2026, 1, 3), None], dtype=object), n
            ),
            "nullable": pd.array(rng.choice([1, 2, None], n), dtype="Int64"),
            "flag": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "segment": pd.Categorical(rng.choice(["High Touch", "Low Touch", None], n)),
        }
    )
    mine, theirs = frame_rows(frame), one_at_a_time(frame)
    assert json.dumps(mine) == json.dumps(theirs)
    assert [[type(v) for v in row] for row in mine] == [[type(v) for v in row] for row in theirs]


def test_an_empty_table_is_its_header() -> None:
    assert frame_rows(pd.DataFrame({"a": [], "b": []})) == [["a", "b"]]


def test_a_tab_s_rows_made_a_part_at_a_time_are_the_whole_tab_s() -> None:
    # a 100,000-row tab's cells as Python objects held over 100 MB; made a part at a time,
    # read in order, out of order, by slice or from the end, they are frame_rows' rows
    rng = np.random.default_rng(23)
    frame = pd.DataFrame(
        {
            "name": rng.choice(["株式会社サンプル", "=HYPERLINK(1)", None], 10),
            "score": rng.choice([12.5, NAN, 3.0], 10),
            "renewal": pd.to_datetime(rng.choice(["2026-12-01", None], 10)),  # type: ignore[arg-type]
        },
        index=range(100, 110),
    )
    whole = frame_rows(frame)
    rows = TabRows(frame, part=3)
    assert len(rows) == 11 and rows.width == 3
    assert json.dumps(list(rows)) == json.dumps(whole)
    for index in [10, 0, 4, 1, 9, 3, -1, -11]:
        assert json.dumps(rows[index]) == json.dumps(whole[index])
    assert json.dumps(rows[2:8]) == json.dumps(whole[2:8])
    for outside in (11, -12):
        with pytest.raises(IndexError):
            rows[outside]
    empty = TabRows(frame.iloc[0:0], part=3)
    assert list(empty) == [["name", "score", "renewal"]] and len(empty) == 1
