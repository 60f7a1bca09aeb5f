"""The Google Sheets v4 calls gspread 6.2 makes, with bodies validated against the discovery
document, Google-shaped errors, grid limits and the RAW / USER_ENTERED distinction.

The sandbox stores what is written and never evaluates formulas: a formula cell reads back as
`#NAME?` unless `valueRenderOption=FORMULA` asks for its text.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from cs_sync.sandbox import a1
from cs_sync.sandbox.discovery import validate
from cs_sync.sandbox.faults import Faults
from cs_sync.sandbox.http_types import Request, Response
from cs_sync.sandbox.sheets_grid import (
    GridError,
    append_dimension,
    copy_paste,
    delete_dimension,
    insert_dimension,
    put,
    update_cells,
)
from cs_sync.sandbox.sheets_metadata import MetadataError, metadata_request, sheet_metadata
from cs_sync.sandbox.store import OrgStore

CELL_LIMIT = 10_000_000
_PATH = re.compile(r"^/v4/spreadsheets/(?P<id>[^/:]+)(?P<rest>.*)$")
GRID_REQUESTS = {
    "copyPaste": copy_paste,
    "updateCells": update_cells,
    "insertDimension": insert_dimension,
    "appendDimension": append_dimension,
    "deleteDimension": delete_dimension,
}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class SheetsError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def google_error(status: int, message: str) -> Response:
    return Response.of_json(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "status": _STATUS_NAMES.get(status, "UNKNOWN"),
            }
        },
    )


def new_spreadsheet(spreadsheet_id: str, title: str, sheet_titles: list[str]) -> dict[str, Any]:
    return {
        "spreadsheetId": spreadsheet_id,
        "properties": {"title": title, "locale": "ja_JP", "timeZone": "Asia/Tokyo"},
        "sheets": [
            _new_sheet(index, index, name, 1000, 26) for index, name in enumerate(sheet_titles)
        ],
        "next_sheet_id": len(sheet_titles) + 1,
    }


def _new_sheet(sheet_id: int, index: int, title: str, rows: int, cols: int) -> dict[str, Any]:
    return {
        "properties": {
            "sheetId": sheet_id,
            "title": title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": rows, "columnCount": cols},
        },
        "cells": [],
    }


class SheetsApi:
    def __init__(self, store: OrgStore, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    def handles(self, path: str) -> bool:
        return path.startswith("/v4/spreadsheets")

    def handle(self, request: Request, host: str) -> Response:
        if self.faults.take("sheets_rate_limit"):
            return google_error(
                429,
                "Quota exceeded for quota metric 'Write requests' and limit "
                "'Write requests per minute per user' of service "
                "'sheets.googleapis.com'.",
            )
        match = _PATH.match(request.path)
        if not match:
            return google_error(404, "Requested entity was not found.")
        spreadsheet_id = unquote(match.group("id"))
        with self.store.lock:
            book = self.store.load_spreadsheet(spreadsheet_id)
            if book is None:
                return google_error(404, "Requested entity was not found.")
            try:
                response, changed = self.route(request, book, match.group("rest"))
            except SheetsError as exc:
                return google_error(exc.status, exc.message)
            except (ValueError, KeyError, TypeError) as exc:
                return google_error(400, f"Invalid request: {exc}")
            if changed:
                self.store.save_spreadsheet(spreadsheet_id, book)
        return response

    def route(self, request: Request, book: dict[str, Any], rest: str) -> tuple[Response, bool]:
        method = request.method
        if rest == "" and method == "GET":
            return Response.of_json(200, _metadata(book)), False
        if rest == ":batchUpdate" and method == "POST":
            return self.batch_update(
                book, self.body(request, "BatchUpdateSpreadsheetRequest")
            ), True
        if rest == "/values:batchGet" and method == "GET":
            ranges = request.query.get("ranges", [])
            return Response.of_json(
                200,
                {
                    "spreadsheetId": book["spreadsheetId"],
                    "valueRanges": [self.read(book, r, request) for r in ranges],
                },
            ), False
        if rest == "/values:batchUpdate" and method == "POST":
            body = self.body(request, "BatchUpdateValuesRequest")
            option = body.get("valueInputOption")
            responses = [
                self.write(
                    book,
                    item.get("range", ""),
                    item.get("values") or [],
                    option,
                    item.get("majorDimension"),
                )
                for item in body.get("data") or []
            ]
            return Response.of_json(
                200,
                {
                    "spreadsheetId": book["spreadsheetId"],
                    "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                    "totalUpdatedColumns": max([r["updatedColumns"] for r in responses] or [0]),
                    "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                    "totalUpdatedSheets": len({r["updatedRange"].split("!")[0] for r in responses}),
                    "responses": responses,
                },
            ), True
        if rest == "/values:batchClear" and method == "POST":
            body = self.body(request, "BatchClearValuesRequest")
            cleared = [self.clear(book, r) for r in body.get("ranges") or []]
            return Response.of_json(
                200, {"spreadsheetId": book["spreadsheetId"], "clearedRanges": cleared}
            ), True
        if rest.startswith("/values/"):
            target = unquote(rest[len("/values/") :])
            if target.endswith(":append") and method == "POST":
                body = self.body(request, "ValueRange")
                return self.append(book, target.removesuffix(":append"), body, request), True
            if target.endswith(":clear") and method == "POST":
                one = self.clear(book, target.removesuffix(":clear"))
                return Response.of_json(
                    200, {"spreadsheetId": book["spreadsheetId"], "clearedRange": one}
                ), True
            if method == "GET":
                return Response.of_json(200, self.read(book, target, request)), False
            if method == "PUT":
                body = self.body(request, "ValueRange")
                option = request.param("valueInputOption")
                result = self.write(
                    book, target, body.get("values") or [], option, body.get("majorDimension")
                )
                return Response.of_json(
                    200, {"spreadsheetId": book["spreadsheetId"], **result}
                ), True
        raise SheetsError(404, f"The sandbox does not serve {method} {rest or '/'}")

    def body(self, request: Request, schema: str) -> dict[str, Any]:
        try:
            body = request.json() or {}
        except json.JSONDecodeError as exc:
            raise SheetsError(400, f"Invalid JSON payload received. {exc}") from exc
        problems = validate("sheets.v4", schema, body)
        if problems:
            raise SheetsError(400, problems[0])
        return dict(body)

    # ------------------------------------------------------------ sheets

    def batch_update(self, book: dict[str, Any], body: dict[str, Any]) -> Response:
        replies: list[dict[str, Any]] = []
        for index, item in enumerate(body.get("requests") or []):
            ((kind, spec),) = item.items()
            if kind == "addSheet":
                props = spec.get("properties") or {}
                title = props.get("title") or f"Sheet{book['next_sheet_id']}"
                if any(s["properties"]["title"] == title for s in book["sheets"]):
                    raise SheetsError(
                        400,
                        f"Invalid requests[{index}].addSheet: A sheet with the name "
                        f'"{title}" already exists. Please enter another name.',
                    )
                grid = props.get("gridProperties") or {}
                sheet = _new_sheet(
                    int(props.get("sheetId", book["next_sheet_id"])),
                    len(book["sheets"]),
                    title,
                    int(grid.get("rowCount", 1000)),
                    int(grid.get("columnCount", 26)),
                )
                book["next_sheet_id"] += 1
                book["sheets"].append(sheet)
                _check_cells(book, self.faults.sheets_cell_limit)
                replies.append({"addSheet": {"properties": sheet["properties"]}})
            elif kind == "deleteSheet":
                before = len(book["sheets"])
                book["sheets"] = [
                    s for s in book["sheets"] if s["properties"]["sheetId"] != spec.get("sheetId")
                ]
                if len(book["sheets"]) == before:
                    raise SheetsError(400, f"No grid with id: {spec.get('sheetId')}")
                if not book["sheets"]:
                    raise SheetsError(400, "You can't remove all the sheets in a document.")
                replies.append({})
            elif kind == "updateSheetProperties":
                props = spec.get("properties") or {}
                fields = [f.strip() for f in str(spec.get("fields", "")).split(",") if f.strip()]
                target = next(
                    (
                        s
                        for s in book["sheets"]
                        if s["properties"]["sheetId"] == props.get("sheetId")
                    ),
                    None,
                )
                if target is None:
                    raise SheetsError(400, f"No grid with id: {props.get('sheetId')}")
                for path in fields:
                    source, destination = props, target["properties"]
                    *parents, leaf = path.replace("/", ".").split(".")
                    for parent in parents:
                        source = source.get(parent, {})
                        destination = destination.setdefault(parent, {})
                    if leaf in source:
                        destination[leaf] = source[leaf]
                _fit_cells(target)  # a smaller grid drops the cells outside it, as Sheets does
                _check_cells(book, self.faults.sheets_cell_limit)
                replies.append({})
            elif kind in GRID_REQUESTS:
                try:
                    GRID_REQUESTS[kind](book, spec, f"Invalid requests[{index}].{kind}")
                except GridError as exc:
                    raise SheetsError(400, str(exc)) from None
                _check_cells(book, self.faults.sheets_cell_limit)
                replies.append({})
            elif kind in ("createDeveloperMetadata", "deleteDeveloperMetadata"):
                try:
                    replies.append(metadata_request(book, kind, spec))
                except MetadataError as exc:
                    raise SheetsError(400, str(exc)) from None
            else:
                raise SheetsError(400, f"The sandbox does not support the {kind} request")
        return Response.of_json(200, {"spreadsheetId": book["spreadsheetId"], "replies": replies})

    # ------------------------------------------------------------ values

    def write(
        self,
        book: dict[str, Any],
        range_text: str,
        values: list[list[Any]],
        option: str | None,
        major: str | None,
    ) -> dict[str, Any]:
        if option not in ("RAW", "USER_ENTERED"):
            raise SheetsError(400, "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        if major == "COLUMNS":
            width = max((len(c) for c in values), default=0)
            values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
        sheet = self._sheet_for(book, range_text)
        grid = a1.parse(range_text, [s["properties"]["title"] for s in book["sheets"]])
        if ":" not in a1.split_sheet(range_text)[1]:  # one cell: the anchor of the block
            grid = a1.GridRange(grid.sheet, grid.row0, grid.col0, None, None)
        height = len(values)
        width = max((len(row) for row in values), default=0)
        limit_rows = sheet["properties"]["gridProperties"]["rowCount"]
        limit_cols = sheet["properties"]["gridProperties"]["columnCount"]
        if (grid.row1 is not None and grid.row0 + height > grid.row1) or (
            grid.col1 is not None and grid.col0 + width > grid.col1
        ):
            raise SheetsError(
                400,
                f"Requested writing within range [{range_text}], but tried "
                f"writing to row [{grid.row0 + height}]",
            )
        if grid.row0 + height > limit_rows or grid.col0 + width > limit_cols:
            raise SheetsError(
                400,
                f"Range ({range_text}) exceeds grid limits. Max rows: "
                f"{limit_rows}, max columns: {limit_cols}",
            )
        cells = sheet["cells"]
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                put(cells, grid.row0 + r, grid.col0 + c, _input(value, option))
        title = sheet["properties"]["title"]
        return {
            "updatedRange": a1.format_range(
                title, grid.row0, grid.col0, grid.row0 + max(height, 1), grid.col0 + max(width, 1)
            ),
            "updatedRows": height,
            "updatedColumns": width,
            "updatedCells": sum(len(row) for row in values),
        }

    def append(
        self, book: dict[str, Any], range_text: str, body: dict[str, Any], request: Request
    ) -> Response:
        option = request.param("valueInputOption")
        if option not in ("RAW", "USER_ENTERED"):
            raise SheetsError(400, "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        sheet = self._sheet_for(book, range_text)
        values = body.get("values") or []
        cells = sheet["cells"]
        start = len(_trimmed(cells))
        grid_props = sheet["properties"]["gridProperties"]
        needed = start + len(values)
        if needed > grid_props["rowCount"]:
            grid_props["rowCount"] = needed  # append grows the grid, as Sheets does
        width = max((len(row) for row in values), default=0)
        if width > grid_props["columnCount"]:
            grid_props["columnCount"] = width
        _check_cells(book, self.faults.sheets_cell_limit)
        for r, row in enumerate(values):
            for c, value in enumerate(row):
                put(cells, start + r, c, _input(value, option))
        title = sheet["properties"]["title"]
        updated = a1.format_range(title, start, 0, start + max(len(values), 1), max(width, 1))
        return Response.of_json(
            200,
            {
                "spreadsheetId": book["spreadsheetId"],
                "tableRange": a1.format_range(title, 0, 0, max(start, 1), max(width, 1)),
                "updates": {
                    "spreadsheetId": book["spreadsheetId"],
                    "updatedRange": updated,
                    "updatedRows": len(values),
                    "updatedColumns": width,
                    "updatedCells": sum(len(r) for r in values),
                },
            },
        )

    def read(self, book: dict[str, Any], range_text: str, request: Request) -> dict[str, Any]:
        sheet = self._sheet_for(book, range_text)
        grid = a1.parse(range_text, [s["properties"]["title"] for s in book["sheets"]])
        render = request.param("valueRenderOption") or "FORMATTED_VALUE"
        rows = _trimmed(sheet["cells"])
        row1 = grid.row1 if grid.row1 is not None else len(rows)
        selected = []
        for row in rows[grid.row0 : row1]:
            col1 = grid.col1 if grid.col1 is not None else len(row)
            selected.append([_render(v, render) for v in row[grid.col0 : col1]])
        while selected and not any(v != "" for v in selected[-1]):
            selected.pop()
        selected = [_trim_row(row) for row in selected]
        title = sheet["properties"]["title"]
        props = sheet["properties"]["gridProperties"]
        out: dict[str, Any] = {
            "range": a1.format_range(
                title,
                grid.row0,
                grid.col0,
                grid.row1 if grid.row1 is not None else props["rowCount"],
                grid.col1 if grid.col1 is not None else props["columnCount"],
            ),
            "majorDimension": "ROWS",
        }
        if selected:
            out["values"] = selected
        return out

    def clear(self, book: dict[str, Any], range_text: str) -> str:
        sheet = self._sheet_for(book, range_text)
        grid = a1.parse(range_text, [s["properties"]["title"] for s in book["sheets"]])
        cells = sheet["cells"]
        row1 = grid.row1 if grid.row1 is not None else len(cells)
        for r in range(grid.row0, min(row1, len(cells))):
            row = cells[r]
            col1 = grid.col1 if grid.col1 is not None else len(row)
            for c in range(grid.col0, min(col1, len(row))):
                row[c] = None
        props = sheet["properties"]["gridProperties"]
        return a1.format_range(
            sheet["properties"]["title"],
            grid.row0,
            grid.col0,
            grid.row1 if grid.row1 is not None else props["rowCount"],
            grid.col1 if grid.col1 is not None else props["columnCount"],
        )

    def _sheet_for(self, book: dict[str, Any], range_text: str) -> dict[str, Any]:
        titles = [s["properties"]["title"] for s in book["sheets"]]
        try:
            grid = a1.parse(range_text, titles)
        except ValueError as exc:
            raise SheetsError(400, str(exc)) from exc
        for sheet in book["sheets"]:
            if grid.sheet is None or sheet["properties"]["title"] == grid.sheet:
                return sheet  # the book's own dict: callers edit it in place
        raise SheetsError(400, f"Unable to parse range: {range_text}")


def _metadata(book: dict[str, Any]) -> dict[str, Any]:
    return {
        "spreadsheetId": book["spreadsheetId"],
        "properties": book["properties"],
        "sheets": [sheet_metadata(s) for s in book["sheets"]],
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book['spreadsheetId']}",
    }


def _fit_cells(sheet: dict[str, Any]) -> None:
    grid = sheet["properties"]["gridProperties"]
    del sheet["cells"][grid["rowCount"] :]
    for row in sheet["cells"]:
        del row[grid["columnCount"] :]


def _check_cells(book: dict[str, Any], limit: int = CELL_LIMIT) -> None:
    """Every sheet counts, hidden ones too, after each request of a batch (a batch that
    passes the limit midway fails whole)."""
    total = sum(
        s["properties"]["gridProperties"]["rowCount"]
        * s["properties"]["gridProperties"]["columnCount"]
        for s in book["sheets"]
    )
    if total > limit:
        raise SheetsError(
            400,
            "This action would increase the number of cells in the workbook "
            f"above the limit of {limit} cells.",
        )


def _input(value: Any, option: str | None) -> Any:
    if option == "RAW" or not isinstance(value, str):
        return value
    if value.startswith("'"):
        return value[1:]
    if value.startswith("="):
        return {"formula": value}
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value else number


def _render(value: Any, option: str) -> Any:
    if isinstance(value, dict):
        return value["formula"] if option == "FORMULA" else "#NAME?"
    if value is None:
        return ""
    if option == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return value


def _trim_row(row: list[Any]) -> list[Any]:
    end = len(row)
    while end and row[end - 1] == "":
        end -= 1
    return row[:end]


def _trimmed(cells: list[list[Any]]) -> list[list[Any]]:
    end = len(cells)
    while end and not any(v is not None for v in cells[end - 1]):
        end -= 1
    return cells[:end]
