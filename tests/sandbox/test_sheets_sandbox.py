"""The Google Sheets stand-in, driven through gspread 6 over real HTTP."""

from __future__ import annotations

import gspread
import pytest
import requests

from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox


@pytest.fixture
def book(gc: gspread.Client) -> gspread.Spreadsheet:
    return gc.open_by_key(DASHBOARD_SPREADSHEET_ID)


def test_open_and_metadata(book: gspread.Spreadsheet) -> None:
    assert book.title == "cs-sync KPI dashboard"
    assert [ws.title for ws in book.worksheets()] == ["Sheet1"]


def test_unknown_spreadsheet_is_not_found(gc: gspread.Client) -> None:
    with pytest.raises(gspread.SpreadsheetNotFound):
        gc.open_by_key("does-not-exist")


def test_add_write_read_worksheet_with_quoted_name(book: gspread.Spreadsheet) -> None:
    ws = book.add_worksheet("KPI Daily", rows=100, cols=5)
    ws.update(
        [["date", "metric", "value"], ["2026-11-24", "nrr", 1.02]],
        range_name="A1",
        value_input_option="RAW",
    )
    assert ws.get_all_values() == [["date", "metric", "value"], ["2026-11-24", "nrr", "1.02"]]
    assert ws.get("A2:C2", value_render_option="UNFORMATTED_VALUE") == [["2026-11-24", "nrr", 1.02]]
    assert book.worksheet("KPI Daily").id == ws.id


def test_ids_stay_strings_when_not_numericised(book: gspread.Spreadsheet) -> None:
    ws = book.sheet1
    ws.update(
        [["account_id", "external_key"], ["0015g00000000GLAAY", "00123"]],
        range_name="A1",
        value_input_option="RAW",
    )
    records = ws.get_all_records(numericise_ignore=["all"])
    assert records == [{"account_id": "0015g00000000GLAAY", "external_key": "00123"}]


def test_raw_keeps_formula_text_literal(book: gspread.Spreadsheet) -> None:
    ws = book.sheet1
    evil = '=HYPERLINK("http://x","y")'
    ws.update([[evil]], range_name="A1", value_input_option="RAW")
    ws.update([[evil]], range_name="B1", value_input_option="USER_ENTERED")
    assert ws.get("A1:B1", value_render_option="FORMULA") == [[evil, evil]]
    assert ws.get("A1:B1") == [[evil, "#NAME?"]]  # B1 became a formula; A1 stayed text


def test_user_entered_parses_numbers(book: gspread.Spreadsheet) -> None:
    ws = book.sheet1
    ws.update([["1,234", "TRUE", "'007"]], range_name="A1", value_input_option="USER_ENTERED")
    assert ws.get("A1:C1", value_render_option="UNFORMATTED_VALUE") == [[1234, True, "007"]]


def test_batch_update_append_and_clear(book: gspread.Spreadsheet) -> None:
    ws = book.sheet1
    ws.batch_update(
        [{"range": "A1:B1", "values": [["a", "b"]]}, {"range": "A2:B2", "values": [["c", "d"]]}],
        value_input_option="RAW",
    )
    ws.append_rows([["e", "f"], ["g", "h"]], value_input_option="RAW")
    assert ws.get_all_values() == [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]]
    ranges = book.values_batch_get(["Sheet1!A1:A2", "Sheet1!B3:B4"])["valueRanges"]
    assert [r["values"] for r in ranges] == [[["a"], ["c"]], [["f"], ["h"]]]
    ws.batch_clear(["A3:B4"])
    assert ws.get_all_values() == [["a", "b"], ["c", "d"]]
    ws.clear()
    assert ws.get_all_values() == [[]]  # gspread's own shape for an empty sheet


def test_write_outside_grid_is_rejected(book: gspread.Spreadsheet) -> None:
    ws = book.add_worksheet("small", rows=2, cols=2)
    with pytest.raises(gspread.exceptions.APIError) as raised:
        ws.update([["x"]], range_name="C3", value_input_option="RAW")
    assert raised.value.code == 400
    assert "exceeds grid limits" in str(raised.value)


def test_resize_and_delete_worksheet(book: gspread.Spreadsheet) -> None:
    ws = book.add_worksheet("tmp", rows=10, cols=3)
    ws.resize(rows=20, cols=4)
    assert (book.worksheet("tmp").row_count, book.worksheet("tmp").col_count) == (20, 4)
    book.del_worksheet(ws)
    assert [w.title for w in book.worksheets()] == ["Sheet1"]


def test_duplicate_sheet_name_is_rejected(book: gspread.Spreadsheet) -> None:
    with pytest.raises(gspread.exceptions.APIError) as raised:
        book.add_worksheet("Sheet1", rows=1, cols=1)
    assert "already exists" in str(raised.value)


def test_cell_limit(book: gspread.Spreadsheet) -> None:
    with pytest.raises(gspread.exceptions.APIError) as raised:
        book.add_worksheet("huge", rows=1_000_000, cols=11)
    assert "10000000 cells" in str(raised.value)


def test_bodies_are_validated_against_the_discovery_schema(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/v4/spreadsheets/{DASHBOARD_SPREADSHEET_ID}/values:batchUpdate"
    response = requests.post(
        url,
        json={
            "valueInputOption": "RAW",
            "data": [{"range": "A1", "values": [["x"]], "colour": "red"}],
        },
        timeout=5,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "colour"' in error["message"]
    response = requests.post(url, json={"valueInputOption": "RAWISH", "data": []}, timeout=5)
    assert response.status_code == 400 and "TYPE_ENUM" in response.json()["error"]["message"]


def test_rate_limit_fault_gives_429(sandbox: Sandbox, book: gspread.Spreadsheet) -> None:
    sandbox.faults.set(sheets_rate_limit=1)
    with pytest.raises(gspread.exceptions.APIError) as raised:
        book.sheet1.get_all_values()
    assert raised.value.code == 429
    assert book.sheet1.get_all_values() == [[]]


def test_developer_metadata_lives_with_its_sheet(book: gspread.Spreadsheet) -> None:
    ws = book.add_worksheet("tagged", rows=2, cols=2)

    def create(item: dict[str, object]) -> dict[str, object]:
        return book.batch_update({"requests": [{"createDeveloperMetadata": item}]})

    made = create(
        {
            "developerMetadata": {
                "metadataKey": "k",
                "metadataValue": "v1",
                "location": {"sheetId": ws.id},
                "visibility": "DOCUMENT",
            }
        }
    )["replies"][0]["createDeveloperMetadata"]["developerMetadata"]
    assert made["location"] == {"locationType": "SHEET", "sheetId": ws.id}
    shown = {s["properties"]["title"]: s for s in book.fetch_sheet_metadata()["sheets"]}
    assert shown["tagged"]["developerMetadata"] == [made]
    assert "developerMetadata" not in shown["Sheet1"]
    with pytest.raises(gspread.exceptions.APIError) as refused:  # no visibility
        create({"developerMetadata": {"metadataKey": "k", "location": {"sheetId": ws.id}}})
    assert refused.value.response.status_code == 400
    lookup = {"developerMetadataLookup": {"metadataId": made["metadataId"]}}
    reply = book.batch_update({"requests": [{"deleteDeveloperMetadata": {"dataFilter": lookup}}]})
    assert reply["replies"][0]["deleteDeveloperMetadata"]["deletedDeveloperMetadata"] == [made]
    shown = {s["properties"]["title"]: s for s in book.fetch_sheet_metadata()["sheets"]}
    assert "developerMetadata" not in shown["tagged"]
