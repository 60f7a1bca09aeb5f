"""The batchUpdate requests of the Sheets stand-in that change a grid's cells and rows in place:
copyPaste, updateCells, insertDimension, appendDimension and deleteDimension.

Each takes the spreadsheet as stored (a sheet's `cells` is a list of rows of stored values: a
string, a number, a bool, None for an empty cell, or {"formula": ...}) and the request's body,
and raises GridError with the message Sheets gives, prefixed by the request's place in the
batch (`Invalid requests[3].deleteDimension: ...`). A batch is applied whole or not at all:
the caller saves the spreadsheet only when every request of it went through.
"""

from __future__ import annotations

from typing import Any


class GridError(Exception):
    """A request Sheets refuses (400 INVALID_ARGUMENT)."""


def sheet_by_id(book: dict[str, Any], sheet_id: Any, where: str) -> dict[str, Any]:
    for sheet in book["sheets"]:
        if sheet["properties"]["sheetId"] == sheet_id:
            return sheet
    raise GridError(f"{where}: No grid with id: {sheet_id}")


def put(cells: list[list[Any]], row: int, col: int, value: Any) -> None:
    while len(cells) <= row:
        cells.append([])
    line = cells[row]
    while len(line) <= col:
        line.append(None)
    line[col] = value


def copy_paste(book: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    """copyPaste of a block of values (PASTE_VALUES or PASTE_NORMAL) to a destination
    anchored at its top-left cell; the destination grid must be large enough."""
    if spec.get("pasteType", "PASTE_NORMAL") not in ("PASTE_NORMAL", "PASTE_VALUES"):
        raise GridError(f"The sandbox does not support pasteType {spec['pasteType']}")
    source, destination = spec.get("source") or {}, spec.get("destination") or {}
    origin = sheet_by_id(book, source.get("sheetId", 0), where)
    target = sheet_by_id(book, destination.get("sheetId", 0), where)
    size = origin["properties"]["gridProperties"]
    r0, r1 = source.get("startRowIndex", 0), source.get("endRowIndex", size["rowCount"])
    c0, c1 = source.get("startColumnIndex", 0), source.get("endColumnIndex", size["columnCount"])
    block = [
        [
            origin["cells"][r][c]
            if r < len(origin["cells"]) and c < len(origin["cells"][r])
            else None
            for c in range(c0, c1)
        ]
        for r in range(r0, r1)
    ]
    d0, e0 = destination.get("startRowIndex", 0), destination.get("startColumnIndex", 0)
    limits = target["properties"]["gridProperties"]
    if d0 + len(block) > limits["rowCount"] or e0 + (c1 - c0) > limits["columnCount"]:
        raise GridError(
            f"{where}: the paste would go past the grid limits "
            f"(max rows: {limits['rowCount']}, max columns: {limits['columnCount']})"
        )
    for r, row in enumerate(block):
        for c, value in enumerate(row):
            put(target["cells"], d0 + r, e0 + c, value)


def stored_value(cell: dict[str, Any]) -> Any:
    """A CellData's userEnteredValue as the sandbox stores it (None: an empty cell)."""
    entered = cell.get("userEnteredValue")
    if not entered:
        return None
    if "formulaValue" in entered:
        return {"formula": entered["formulaValue"]}
    for kind in ("stringValue", "numberValue", "boolValue"):
        if kind in entered:
            return entered[kind]
    raise GridError(f"The sandbox does not support the value {sorted(entered)}")


def update_cells(book: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    """updateCells from a `start` coordinate: each row's values from the start column on;
    `fields` must name what is written (the sandbox keeps values only: "userEnteredValue" or
    "*"); a cell given without a value is cleared. Writing past the grid is refused."""
    fields = {f.strip() for f in str(spec.get("fields") or "").split(",") if f.strip()}
    if not fields:
        raise GridError(
            f"{where}: At least one field must be listed in 'fields'. "
            "(Use '*' to indicate all fields.)"
        )
    if not fields <= {"userEnteredValue", "*"}:
        raise GridError(f"The sandbox keeps values only, not the fields {sorted(fields)}")
    if "start" not in spec:
        raise GridError("The sandbox supports updateCells from a start coordinate only")
    start = spec["start"]
    sheet = sheet_by_id(book, start.get("sheetId", 0), where)
    grid = sheet["properties"]["gridProperties"]
    row0, col0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
    if row0 >= grid["rowCount"]:
        raise GridError(
            f"{where}: GridCoordinate.rowIndex[{row0}] is after last row in grid"
            f"[{grid['rowCount'] - 1}]"
        )
    if col0 >= grid["columnCount"]:
        raise GridError(
            f"{where}: GridCoordinate.columnIndex[{col0}] is after last column in grid"
            f"[{grid['columnCount'] - 1}]"
        )
    rows = spec.get("rows") or []
    for r, row in enumerate(rows):
        values = row.get("values") or []
        if row0 + r >= grid["rowCount"]:
            raise GridError(
                f"{where}: Attempting to write row: {row0 + r}, beyond the last requested "
                f"row of: {grid['rowCount'] - 1}"
            )
        if col0 + len(values) > grid["columnCount"]:
            raise GridError(
                f"{where}: Attempting to write column: {col0 + len(values) - 1}, beyond the "
                f"last requested column of: {grid['columnCount'] - 1}"
            )
        for c, cell in enumerate(values):
            put(sheet["cells"], row0 + r, col0 + c, stored_value(cell))


def _dimension_range(
    book: dict[str, Any], spec: dict[str, Any], where: str
) -> tuple[dict[str, Any], int, int]:
    """The sheet and the rows [start, end) a ROWS DimensionRange names."""
    span = spec.get("range") or {}
    if span.get("dimension") != "ROWS":
        raise GridError("The sandbox inserts and deletes rows only")
    sheet = sheet_by_id(book, span.get("sheetId", 0), where)
    if "startIndex" not in span or "endIndex" not in span:
        raise GridError(f"{where}: Both the start and end indexes must be bounded.")
    start, end = int(span["startIndex"]), int(span["endIndex"])
    if start < 0 or end <= start:
        raise GridError(f"{where}: Invalid dimension range: [{start}, {end})")
    return sheet, start, end


def insert_dimension(book: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    """Empty rows [start, end) inserted, the rows from `start` on moved down; inheriting from
    the row before needs a start above 0."""
    sheet, start, end = _dimension_range(book, spec, where)
    grid = sheet["properties"]["gridProperties"]
    if spec.get("inheritFromBefore") and start == 0:
        raise GridError(f"{where}: Cannot inherit from before when inserting at index 0.")
    if start > grid["rowCount"]:
        raise GridError(
            f"{where}: Cannot insert rows at index {start}: the sheet has only "
            f"{grid['rowCount']} rows."
        )
    cells = sheet["cells"]
    if start < len(cells):
        cells[start:start] = [[] for _ in range(end - start)]
    grid["rowCount"] += end - start


def append_dimension(book: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    """`length` empty rows added at the end of the sheet."""
    if spec.get("dimension") != "ROWS":
        raise GridError("The sandbox appends rows only")
    length = int(spec.get("length", 0))
    if length < 1:
        raise GridError(f"{where}: length must be greater than 0.")
    sheet = sheet_by_id(book, spec.get("sheetId", 0), where)
    sheet["properties"]["gridProperties"]["rowCount"] += length


def delete_dimension(book: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    """Rows [start, end) deleted, the rows below moved up; a sheet keeps at least one row."""
    sheet, start, end = _dimension_range(book, spec, where)
    grid = sheet["properties"]["gridProperties"]
    if end > grid["rowCount"]:
        raise GridError(
            f"{where}: Cannot delete a row that doesn't exist. Tried to delete row index "
            f"{end - 1} but there are only {grid['rowCount']} rows."
        )
    if start == 0 and end == grid["rowCount"]:
        raise GridError(f"{where}: You can't delete all the rows on the sheet.")
    del sheet["cells"][start:end]
    grid["rowCount"] -= end - start
