"""The Sheets stand-in's in-place grid requests (updateCells, insertDimension, appendDimension,
deleteDimension), driven through gspread over real HTTP: what they do, how Sheets refuses them,
and a batch applied whole or not at all."""

from __future__ import annotations

from typing import Any

import gspread
import pytest

from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID


@pytest.fixture
def sheet(gc: gspread.Client) -> gspread.Worksheet:
    book = gc.open_by_key(DASHBOARD_SPREADSHEET_ID)
    ws = book.sheet1
    ws.resize(rows=4, cols=3)
    ws.update([["h1", "h2", "h3"], ["a", 1, True], ["b", 2, False], ["c", 3, True]], "A1", raw=True)
    return ws


def rows_of(ws: gspread.Worksheet) -> list[list[Any]]:
    return ws.get(value_render_option="UNFORMATTED_VALUE")


def batch(ws: gspread.Worksheet, *requests: dict[str, Any]) -> None:
    ws.spreadsheet.batch_update({"requests": list(requests)})


def rows_range(ws: gspread.Worksheet, start: int, end: int) -> dict[str, Any]:
    return {"sheetId": ws.id, "dimension": "ROWS", "startIndex": start, "endIndex": end}


def update(ws: gspread.Worksheet, row: int, col: int, *values: dict[str, Any]) -> dict[str, Any]:
    return {
        "updateCells": {
            "start": {"sheetId": ws.id, "rowIndex": row, "columnIndex": col},
            "rows": [{"values": list(values)}],
            "fields": "userEnteredValue",
        }
    }


def test_update_cells_writes_typed_values_and_clears_empty_ones(sheet: gspread.Worksheet) -> None:
    batch(
        sheet,
        update(
            sheet,
            1,
            0,
            {"userEnteredValue": {"stringValue": "=1+1"}},  # text, never a formula
            {"userEnteredValue": {"numberValue": 7.5}},
            {},  # no value: the cell is cleared
        ),
    )
    assert rows_of(sheet)[1] == ["=1+1", 7.5]
    assert sheet.get("A2", value_render_option="FORMULA") == [["=1+1"]]
    assert rows_of(sheet)[2] == ["b", 2, False]  # only the row named changed


def test_rows_are_inserted_appended_and_deleted(sheet: gspread.Worksheet) -> None:
    batch(
        sheet,
        {"deleteDimension": {"range": rows_range(sheet, 2, 3)}},  # "b" goes
        {"insertDimension": {"range": rows_range(sheet, 1, 3), "inheritFromBefore": True}},
        {"appendDimension": {"sheetId": sheet.id, "dimension": "ROWS", "length": 1}},
        update(sheet, 1, 0, {"userEnteredValue": {"stringValue": "new"}}),
        update(sheet, 5, 0, {"userEnteredValue": {"stringValue": "last"}}),
    )
    assert [row[:1] for row in rows_of(sheet)] == [["h1"], ["new"], [], ["a"], ["c"], ["last"]]
    fresh = sheet.spreadsheet.worksheet(sheet.title)
    assert (fresh.row_count, fresh.col_count) == (6, 3)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            {"deleteDimension": {"range": {"dimension": "ROWS", "startIndex": 0, "endIndex": 4}}},
            "Invalid requests[1].deleteDimension: You can't delete all the rows on the sheet.",
        ),
        (
            {"deleteDimension": {"range": {"dimension": "ROWS", "startIndex": 2, "endIndex": 5}}},
            "Invalid requests[1].deleteDimension: Cannot delete a row that doesn't exist. Tried to "
            "delete row index 4 but there are only 4 rows.",
        ),
        (
            {
                "insertDimension": {
                    "range": {"dimension": "ROWS", "startIndex": 0, "endIndex": 1},
                    "inheritFromBefore": True,
                }
            },
            "Invalid requests[1].insertDimension: Cannot inherit from before",
        ),
        (
            {
                "updateCells": {
                    "start": {"rowIndex": 4, "columnIndex": 0},
                    "rows": [{"values": [{}]}],
                    "fields": "userEnteredValue",
                }
            },
            "Invalid requests[1].updateCells: GridCoordinate.rowIndex[4] is after last row in "
            "grid[3]",
        ),
        (
            {
                "updateCells": {
                    "start": {"rowIndex": 3, "columnIndex": 1},
                    "rows": [{"values": [{}, {}, {}]}],
                    "fields": "userEnteredValue",
                }
            },
            "Invalid requests[1].updateCells: Attempting to write column: 3, beyond the last "
            "requested column of: 2",
        ),
        (
            {"updateCells": {"start": {"rowIndex": 1}, "rows": [{"values": [{}]}], "fields": ""}},
            "Invalid requests[1].updateCells: At least one field must be listed in 'fields'.",
        ),
    ],
)
def test_refused_requests_fail_the_whole_batch(
    sheet: gspread.Worksheet, request_: dict[str, Any], message: str
) -> None:
    before = rows_of(sheet)
    for body in request_.values():  # on the sheet of the fixture
        (body.get("range") or body.get("start"))["sheetId"] = sheet.id
    first = update(sheet, 1, 0, {"userEnteredValue": {"stringValue": "changed"}})
    with pytest.raises(gspread.exceptions.APIError) as raised:
        batch(sheet, first, request_)
    assert raised.value.response.status_code == 400
    assert message in str(raised.value)
    assert rows_of(sheet) == before  # the first request was not applied either


def test_inserted_rows_count_towards_the_cell_limit(sandbox: Any, sheet: gspread.Worksheet) -> None:
    sandbox.faults.set(
        sheets_cell_limit=sum(ws.row_count * ws.col_count for ws in sheet.spreadsheet.worksheets())
        + 2
    )
    with pytest.raises(gspread.exceptions.APIError, match="above the limit"):
        batch(sheet, {"appendDimension": {"sheetId": sheet.id, "dimension": "ROWS", "length": 1}})


def test_a_request_reads_and_writes_only_the_tabs_it_touches(
    sandbox: Any, gc: gspread.Client
) -> None:
    """Each tab's cells are stored on their own: a batchUpdate on one tab leaves the others'
    stored cells as they are (a large history tab costs nothing to a change elsewhere), and a
    deleted tab's cells go with it."""
    book = gc.open_by_key(DASHBOARD_SPREADSHEET_ID)
    one, other = book.add_worksheet("one", rows=2, cols=2), book.add_worksheet("other", 2, 2)
    one.update([["a", 1], ["b", 2]], "A1", raw=True)
    other.update([["x", 9]], "A1", raw=True)
    db = sandbox.store.db

    def stored(sheet: gspread.Worksheet) -> str | None:
        row = db.execute(
            "SELECT cells FROM sheet_cells WHERE spreadsheet_id = ? AND sheet_id = ?",
            (DASHBOARD_SPREADSHEET_ID, sheet.id),
        ).fetchone()
        return row[0] if row else None

    db.execute(
        "UPDATE sheet_cells SET cells = ? WHERE sheet_id = ?", ('[ ["as stored"] ]', other.id)
    )
    batch(one, update(one, 1, 1, {"userEnteredValue": {"numberValue": 3}}))
    assert stored(other) == '[ ["as stored"] ]'  # not read, not rewritten (as spelled)
    assert rows_of(one) == [["a", 1], ["b", 3]]
    assert other.get_all_values() == [["as stored"]]
    book.del_worksheet(other)
    assert stored(other) is None
