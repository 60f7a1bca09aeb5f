"""A query's pages read into typed columns: Bulk CSV text and REST JSON give the same table."""

from __future__ import annotations

import csv
import io
import math
import sys
import tracemalloc
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from cs_sync.connectors.bulk_csv import (
    STAMP_KIND,
    csv_rows,
    frame_from_csv,
    frame_from_records,
    stacked,
    typed_frame,
)
from cs_sync.sfid import canonical_ids
from tests.conftest import traced_peak

COLUMNS = {
    "Id": "id",
    "IsClosed": "boolean",
    "Amount": "currency",
    "Opportunity.AccountId": "reference",
    "Contact.Name": "string",
}


def test_a_csv_page_and_rest_records_make_the_same_table() -> None:
    text = (
        "ID,isclosed,Amount,Opportunity.AccountId,Contact.Name\n"  # the header's case may differ
        '0065g000000001AAA,true,1200.5,0015g000000001AAA,"株式会社 A, 本社"\n'
        "0065g000000002AAA,false,,,\n"
    )
    records = [
        {
            "attributes": {"type": "OpportunityContactRole"},
            "Id": "0065g000000001AAA",
            "IsClosed": True,
            "Amount": 1200.5,
            "Opportunity": {"AccountId": "0015g000000001AAA"},
            "Contact": {"Name": "株式会社 A, 本社"},
        },
        {
            "Id": "0065g000000002AAA",
            "IsClosed": False,
            "Amount": None,
            "Opportunity": None,  # a null parent
            "Contact": None,
        },
    ]
    from_csv = typed_frame(frame_from_csv(text, COLUMNS), COLUMNS)
    from_rest = typed_frame(frame_from_records(records, COLUMNS), COLUMNS)
    for frame in (from_csv, from_rest):
        assert list(frame.columns) == list(COLUMNS)
        assert frame["IsClosed"].tolist() == [True, False]
        assert frame["Amount"].iloc[0] == 1200.5 and math.isnan(frame["Amount"].iloc[1])
        assert frame["Opportunity.AccountId"].tolist() == ["0015g000000001AAA", None]
        assert frame["Contact.Name"].tolist() == ["株式会社 A, 本社", None]


def test_ids_become_canonical_once_each() -> None:
    lowered = "0015g00000000g9aai"  # an 18-character id a tool lower-cased
    assert canonical_ids([lowered, "0015g00000000G9", None, "not an id", lowered]) == [
        "0015g00000000G9AAI",
        "0015g00000000G9AAI",
        None,
        "not an id",
        "0015g00000000G9AAI",
    ]


def test_csv_rows_read_a_row_at_a_time_as_the_csv_module_reads_a_file() -> None:
    """A Bulk job's results read lazily: quoted line breaks (LF and CRLF), quotes, an empty
    cell, a last line without its line ending and a text of no rows read as the csv module
    reads them from a file."""
    text = (
        'sf__Id,sf__Created,Description\n001A,true,"two\nlines"\n'
        '001B,false,"said ""hi""\r\nthen left"\r\n001C,true,\n001D,false,last'
    )
    rows = csv_rows(text)
    assert not isinstance(rows, list)  # made as they are read
    assert list(rows) == list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["Description"] for row in csv_rows(text)] == [
        "two\nlines",
        'said "hi"\r\nthen left',
        "",
        "last",
    ]
    assert list(csv_rows("")) == [] and list(csv_rows("sf__Id\n")) == []


def test_columns_read_back_already_typed_are_not_typed_again() -> None:
    # the local copy gives numbers as floats and checkboxes as flags: boxing 200,000 floats
    # to type them again made an object per row only to let it go (holes in the process)
    rows = 200_000
    frame = pd.DataFrame(
        {
            "Amount": np.arange(rows, dtype=float),
            "IsWon": np.arange(rows) % 2 == 0,
            "Stage": pd.Series(["Won", None] * (rows // 2)),
        }
    )
    columns = {"Amount": "currency", "IsWon": "boolean", "Stage": "picklist"}
    typed = typed_frame(frame, columns)
    assert typed["Amount"].dtype == float and typed["IsWon"].dtype == bool
    assert typed["Amount"].tolist() == frame["Amount"].tolist()
    assert typed["Stage"].tolist() == ["Won", None] * (rows // 2)
    pointers = 8 * rows  # an array of the rows: the text column, with None for missing, takes two
    assert traced_peak(lambda: typed_frame(frame, columns)) < 5 * pointers  # boxed: over 8


def test_a_page_is_parsed_from_its_bytes_not_a_four_byte_text_buffer() -> None:
    # a StringIO keeps four bytes a character: a Bulk page read through one held five times
    # its text's size at once (the table made of it included), twice from its bytes
    text = "Id,Name,Reasons\n" + "".join(
        f'001{i:015d},"Account {i}, Holdings","{"usage fell; renewal near; " * 6}"\n'
        for i in range(40_000)
    )
    columns = {"Id": "id", "Name": "string", "Reasons": "textarea"}
    page = frame_from_csv(text, columns)
    assert page["Name"].iat[7] == "Account 7, Holdings" and len(page) == 40_000
    assert page["Reasons"].iat[0].startswith("usage fell; renewal near;")
    peak = traced_peak(lambda: frame_from_csv(text, columns))
    assert peak < 3 * sys.getsizeof(text)  # 4.96 times through a StringIO
    japanese = frame_from_csv('Id,Name\n001000000000000001,"株式会社 A, 本社 ✓"\n', columns)
    assert japanese["Name"].tolist() == ["株式会社 A, 本社 ✓"]


def _pages(count: int, rows: int) -> list[pd.DataFrame]:
    """Typed pages as a read makes them: texts with blanks, numbers, flags and stamps."""
    columns = {**COLUMNS, "SystemModstamp": STAMP_KIND}
    pages = []
    for page in range(count):
        start = page * rows
        raw = {
            "Id": [f"006{n:015d}" for n in range(start, start + rows)],
            "IsClosed": [n % 3 == 0 for n in range(start, start + rows)],
            "Amount": [float(n) if n % 5 else None for n in range(start, start + rows)],
            "Opportunity.AccountId": [f"001{n // 4:015d}" for n in range(start, start + rows)],
            "Contact.Name": [None if n % 7 == 0 else f"Name {n % 50}" for n in range(rows)],
            "SystemModstamp": ["2026-11-24T09:00:00.000Z"] * rows,
        }
        pages.append(typed_frame(pd.DataFrame(raw), columns))
    return pages


def test_pages_are_stacked_a_column_at_a_time_into_what_a_concatenation_gives() -> None:
    # a concatenation holds every page's arrays and the whole table's at once: for a
    # million accounts' 4.3 million opportunities read in pages of 50,000, 300 MB more
    expected = pd.concat(_pages(8, 5_000), ignore_index=True)
    pages = _pages(8, 5_000)
    table = stacked(pages)
    pd.testing.assert_frame_equal(table, expected)
    assert all(len(page.columns) == 0 for page in pages)  # every page's arrays let go
    pd.testing.assert_frame_equal(stacked(_pages(1, 10)), _pages(1, 10)[0])
    whole = int(table.memory_usage(index=False).sum())  # the table's arrays
    assert _over_the_pages(partial(pd.concat, ignore_index=True)) > whole
    assert _over_the_pages(stacked) < 0.3 * whole  # about one column's


def _over_the_pages(stack: Callable[[list[pd.DataFrame]], pd.DataFrame]) -> int:
    """The most memory stacking eight pages held beyond the pages themselves (traced from
    before they were made, so what it lets go of them counts)."""
    tracemalloc.start()
    try:
        pages = _pages(8, 5_000)
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        stack(pages)
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
