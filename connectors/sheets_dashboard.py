"""The Google Sheets dashboard: the tabs a Looker Studio report reads, refreshed every run.

Each tab is rebuilt whole from the history store (kpi_daily, kpi_periods, health_history,
runs) or from the run (accounts), so rerunning a date gives the same rows, never duplicates.
How a tab is replaced without a reader ever seeing it empty or half written:

1. the new rows go to a hidden staging tab (`<tab>__staging`), in requests under 2 MB;
2. one spreadsheets.batchUpdate then, for every tab, sizes the live tab to the new rows,
   pastes the staging block over it (copyPaste, values only) and shrinks the staging tab to one
   cell. Sheets applies a batchUpdate whole or not at all: a run cut short anywhere before it
   leaves the previous complete set of tabs, a reader never sees some tabs new and others old,
   and each live tab keeps its id, which the Looker Studio data source points at;
3. the same batchUpdate records each tab's fingerprint (its row count and a hash of its rows,
   as developer metadata on the tab): the next refresh leaves a tab with the same fingerprint
   alone, so a run that changed nothing costs two calls (open, read the tabs);
4. with a local record of what the tabs hold (sheet_record.py, in the [local_copy] file), a
   tab that changed a little is not staged at all: its changed cells, and the rows that came
   or went, go into that same batchUpdate (sheet_delta.py), as long as the whole batchUpdate
   stays under the size limit; a tab whose changes would not fit is replaced whole. A 1%
   change to a large book then costs three calls.

If the batchUpdate's answer is lost (a reset, a timeout) it is not simply sent again, which
would apply row insertions twice: the tabs' fingerprints are read first, and a batchUpdate
that was carried out is not repeated.

Every value is written RAW: a CRM string such as `=HYPERLINK(...)` stays text, never becomes
a formula. Every call goes through google_calls.py: 429, 5xx, rate limits, connection resets
and timeouts are retried a bounded number of times, and every error is named. Google's
10,000,000-cell limit counts every sheet, hidden ones included, at every step: new tabs are
made one cell big, and the tabs' rows are cut to what fits while the staging copies sit beside
the live tabs (`tab_budget`, `fit_tabs`), with 20% of the limit left to the admin's own tabs;
a tab that does not fit even cut is left as it is, and the run says so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import gspread
import numpy as np
import pandas as pd

from cs_sync.connectors.google_calls import GoogleTarget, account_of, call_google, sheets_client
from cs_sync.connectors.output_settings import DashboardConfig
from cs_sync.connectors.sheet_cells import TabRows
from cs_sync.connectors.sheet_delta import Delta, TabDigest, digest, tab_delta
from cs_sync.connectors.sheet_record import SheetRecord, TabRecord, TabWritten
from cs_sync.connectors.sheet_tabs import CELL_BUDGET, fit_tabs
from cs_sync.connectors.transport import CallCounter
from cs_sync.errors import CsSyncError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Each values request stays well under the 2 MB advice, measured as it is sent: the JSON
# body escapes every character beyond ASCII (\uXXXX, six bytes for one kanji).
REQUEST_BYTES = 1_500_000
SWAP_BYTES = 20_000  # what the batchUpdate switching the tabs carries besides the changes
STAGING_SUFFIX = "__staging"


def _chunks(
    rows: Sequence[list[Any]], lengths: np.ndarray
) -> Iterator[tuple[int, list[list[Any]]]]:
    """(first row index, rows) blocks of at most REQUEST_BYTES of JSON each (`lengths`: each
    row's as sent, see TabDigest), one block at a time."""
    start, size = 0, 0
    current: list[Any] = []
    for index, (row, text_length) in enumerate(zip(rows, lengths.tolist(), strict=True)):
        length = text_length + 2  # the row and its separator, as sent
        if current and size + length > REQUEST_BYTES:
            yield start, current
            start, size, current = index, 0, []
        current.append(row)
        size += length
    if current:
        yield start, current


def _packed(ranges: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Ranges grouped into requests of at most REQUEST_BYTES of JSON each, one request at a
    time (the next ranges are made once it is sent)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for item in ranges:
        length = len(json.dumps(item))
        if batch and size + length > REQUEST_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += length
    if batch:
        yield batch


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


class SheetsDashboard:
    def __init__(self, client: gspread.Client, spreadsheet_id: str) -> None:
        self.client = client
        self.spreadsheet_id = spreadsheet_id
        self.target = GoogleTarget(
            "Google Sheets",
            account_of(getattr(client.http_client.session, "credentials", None)),
            "Editor on the dashboard spreadsheet (Share)",
            f"dashboard.spreadsheet_id ({spreadsheet_id})",
        )
        self.book = self._call(
            "opening the dashboard spreadsheet", lambda: client.open_by_key(spreadsheet_id)
        )
        self._known: dict[str, dict[str, Any]] | None = None

    def _call(self, doing: str, action: Callable[[], T]) -> T:
        return call_google(action, doing, self.target)

    def _sheets(self) -> dict[str, dict[str, Any]]:
        return {title: sheet["properties"] for title, sheet in self._tabs().items()}

    def _tabs(self) -> dict[str, dict[str, Any]]:
        """Every sheet by title, with its properties and developer metadata; read once and
        kept until a write changes the set of sheets."""
        if self._known is None:
            metadata = self._call("reading the tabs", self.book.fetch_sheet_metadata)
            self._known = {s["properties"]["title"]: s for s in metadata["sheets"]}
        return self._known

    def tab_budget(self, titles: Sequence[str], limit: int) -> int:
        """Cells the new tabs may hold so that the spreadsheet never passes `limit`: while a
        refresh runs, the staging copies are full beside the live tabs (still at their old
        size, then at the new), so the tabs get at most half of what the other sheets leave,
        and no more than that room less the live tabs' present size."""
        sheets = self._sheets()
        ours = set(titles) | {t + STAGING_SUFFIX for t in titles}
        others = sum(_cells(p) for title, p in sheets.items() if title not in ours)
        live = sum(_cells(sheets[t]) for t in titles if t in sheets)
        staging = sum(1 for t in titles if t + STAGING_SUFFIX in sheets)  # 1x1 between runs
        room = limit - others - staging
        return max(0, min(room - live, room // 2))

    def replace_tabs(
        self,
        tabs: dict[str, Sequence[list[Any]]],
        record: SheetRecord | None = None,
        whole: bool = False,
    ) -> None:
        """Make each tab hold exactly its rows (header first), all tabs switched in one
        batchUpdate, so a reader sees the old set or the new set, never a mix. A tab whose
        rows are those it holds (its fingerprint, kept with it) is not written at all; with a
        `record` of what the tabs hold, a tab is sent only its changes when they fit in that
        batchUpdate (else it is replaced whole). `whole`: every changed tab replaced whole
        (and recorded), which also puts right what was edited by hand in its other rows."""
        digests = {title: digest(rows) for title, rows in tabs.items()}
        prints = {title: found.fingerprint for title, found in digests.items()}
        on_sheet = {title: _fingerprint_of(sheet) for title, sheet in self._tabs().items()}
        changed = [title for title in tabs if on_sheet.get(title) != prints[title]]
        known = record.tabs(self.spreadsheet_id) if record is not None else {}
        stale = [  # tabs whose record is missing or older than the rows they now hold
            title
            for title in tabs
            if record is not None
            and (title not in known or known[title].fingerprint != prints[title])
        ]
        deltas = self._deltas(changed, tabs, digests, known, record) if record and not whole else {}
        if changed:
            replaced = {title: tabs[title] for title in changed if title not in deltas}
            new_prints = {title: prints[title] for title in changed}
            try:
                self._replace(replaced, deltas, new_prints, digests)
            except CsSyncError as error:
                if not deltas or isinstance(error, TransientError):
                    raise
                # refused for good: sent again it would be refused on every run; the tabs
                # are replaced whole instead (the batchUpdate is applied whole or not at all)
                log.warning("the dashboard's changes were refused (%s); tabs replaced whole", error)
                self._known = None
                self._replace({title: tabs[title] for title in changed}, {}, new_prints, digests)
        if record is not None and stale:
            record.save(
                self.spreadsheet_id,
                {
                    title: TabWritten(
                        TabRecord(prints[title], _width(tabs[title]), digests[title].hashes),
                        tabs[title],
                    )
                    for title in stale
                },
            )

    def _deltas(
        self,
        changed: list[str],
        tabs: dict[str, Sequence[list[Any]]],
        digests: dict[str, TabDigest],
        known: dict[str, TabRecord],
        record: SheetRecord,
    ) -> dict[str, Delta]:
        """The changed tabs that can be sent their changes only, smaller tabs first, all of
        them within one request: a tab the record describes as the spreadsheet holds it
        (same fingerprint, same grid, same width)."""
        sheets, room, out = self._tabs(), REQUEST_BYTES - SWAP_BYTES, {}
        for title in sorted(changed, key=lambda t: len(tabs[t])):
            was, sheet = known.get(title), sheets.get(title)
            if was is None or sheet is None or _fingerprint_of(sheet) != was.fingerprint:
                continue
            grid = sheet["properties"]["gridProperties"]
            width = _width(tabs[title])
            if (grid["rowCount"], grid["columnCount"]) != (len(was.hashes), was.columns):
                continue
            if width != was.columns:
                continue
            delta = tab_delta(
                sheet["properties"]["sheetId"],
                was.hashes,
                digests[title].hashes,
                tabs[title],
                record.rows,
                room,
            )
            if delta is not None:
                out[title] = delta
                room -= delta.size
                log.info(
                    "dashboard tab %s: %d cells written, %d rows added or removed (%d bytes)",
                    title,
                    delta.cells,
                    delta.rows_moved,
                    delta.size,
                )
        return out

    def _replace(
        self,
        tabs: dict[str, Sequence[list[Any]]],
        deltas: dict[str, Delta],
        prints: dict[str, str],
        digests: dict[str, TabDigest],
    ) -> None:
        """Stage the tabs replaced whole, then one batchUpdate: each staged tab pasted over
        its live tab, each delta applied, each tab's new fingerprint recorded."""
        sheets = self._sheets()
        tiny = {"rowCount": 1, "columnCount": 1}  # a new tab is sized exactly, later
        if tabs:
            sheets = self._stage(tabs, sheets, tiny, digests)
        swap: list[dict[str, Any]] = []
        for title, rows in tabs.items():
            live, size = sheets[title], _size(rows)
            swap += [
                _resize(live["sheetId"], size),  # the paste covers every cell of the new size
                {
                    "copyPaste": {
                        "source": {
                            "sheetId": sheets[title + STAGING_SUFFIX]["sheetId"],
                            "startRowIndex": 0,
                            "endRowIndex": size["rowCount"],
                            "startColumnIndex": 0,
                            "endColumnIndex": size["columnCount"],
                        },
                        "destination": {
                            "sheetId": live["sheetId"],
                            "startRowIndex": 0,
                            "startColumnIndex": 0,
                        },
                        "pasteType": "PASTE_VALUES",
                    }
                },
                # the copy is not kept between runs: it would double the cells in use
                _resize(sheets[title + STAGING_SUFFIX]["sheetId"], tiny),
            ]
        for delta in deltas.values():
            swap += delta.requests
        for title in [*tabs, *deltas]:
            swap += _record_fingerprint(self._tabs()[title], prints[title])
        titles = [*tabs, *deltas]
        attempts = 0

        def switch() -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the last attempt may have been carried out, its answer lost:
                self._known = None  # sent again, it would apply the changes twice
                now = {t: _fingerprint_of(s) for t, s in self._tabs().items()}
                if all(now.get(title) == prints[title] for title in titles):
                    return
            self.book.batch_update({"requests": swap})

        self._call(f"switching the tabs {', '.join(titles)}", switch)
        self._known = None  # the fingerprints changed

    def _stage(
        self,
        tabs: dict[str, Sequence[list[Any]]],
        sheets: dict[str, dict[str, Any]],
        tiny: dict[str, int],
        digests: dict[str, TabDigest],
    ) -> dict[str, dict[str, Any]]:
        """The tabs (and their hidden staging tabs) made where missing, and the rows written
        to the staging tabs, in requests under the size limit."""
        adds: list[dict[str, Any]] = []
        for title in tabs:
            if title not in sheets:
                adds.append({"addSheet": {"properties": {"title": title, "gridProperties": tiny}}})
            if title + STAGING_SUFFIX not in sheets:
                staging = {"title": title + STAGING_SUFFIX, "hidden": True, "gridProperties": tiny}
                adds.append({"addSheet": {"properties": staging}})
        if adds:
            self._call("adding tabs", lambda: self.book.batch_update({"requests": adds}))
            self._known = None
            sheets = self._sheets()
        sizes = {title: _size(rows) for title, rows in tabs.items()}
        resizes = [  # cells outside the new sizes go; the rest are rewritten
            _resize(sheets[title + STAGING_SUFFIX]["sheetId"], sizes[title]) for title in tabs
        ]
        self._call("sizing the staging tabs", lambda: self.book.batch_update({"requests": resizes}))
        ranges = (
            {
                "range": f"'{title}{STAGING_SUFFIX}'!A{start + 1}:"
                f"{_column(sizes[title]['columnCount'] - 1)}{start + len(block)}",
                "values": block,
            }
            for title, rows in tabs.items()
            for start, block in _chunks(rows, digests[title].lengths)
        )
        for batch in _packed(ranges):  # each request under the size limit
            body = {"valueInputOption": "RAW", "data": batch}
            self._call(
                "writing the staging tabs",
                lambda body=body: self.book.values_batch_update(body),  # type: ignore[misc]
            )
        return sheets

    def tab_ids(self) -> dict[str, int]:
        return {title: int(p["sheetId"]) for title, p in self._sheets().items()}


FINGERPRINT_KEY = "cs-sync-rows"  # developer metadata on each live tab


def _width(rows: Sequence[list[Any]]) -> int:
    if isinstance(rows, TabRows):
        return rows.width
    return max((len(r) for r in rows), default=1) or 1


def _size(rows: Sequence[list[Any]]) -> dict[str, int]:
    return {"rowCount": max(len(rows), 1), "columnCount": _width(rows)}


def _fingerprint_of(sheet: dict[str, Any]) -> str | None:
    for item in sheet.get("developerMetadata", []):
        if item.get("metadataKey") == FINGERPRINT_KEY:
            return str(item.get("metadataValue"))
    return None


def _record_fingerprint(sheet: dict[str, Any], value: str) -> list[dict[str, Any]]:
    """Requests that replace the tab's fingerprint, in the batchUpdate that swaps it in (so
    the two never disagree)."""
    sheet_id = sheet["properties"]["sheetId"]
    old = [
        {
            "deleteDeveloperMetadata": {
                "dataFilter": {"developerMetadataLookup": {"metadataId": item["metadataId"]}}
            }
        }
        for item in sheet.get("developerMetadata", [])
        if item.get("metadataKey") == FINGERPRINT_KEY
    ]
    new = {
        "createDeveloperMetadata": {
            "developerMetadata": {
                "metadataKey": FINGERPRINT_KEY,
                "metadataValue": value,
                "location": {"sheetId": sheet_id},
                "visibility": "DOCUMENT",
            }
        }
    }
    return [*old, new]


def _cells(properties: dict[str, Any]) -> int:
    grid = properties["gridProperties"]
    return int(grid["rowCount"]) * int(grid["columnCount"])


def _resize(sheet_id: int, grid: dict[str, int]) -> dict[str, Any]:
    return {
        "updateSheetProperties": {
            "properties": {"sheetId": sheet_id, "gridProperties": grid},
            "fields": "gridProperties.rowCount,gridProperties.columnCount",
        }
    }


def dashboard_client(
    settings: DashboardConfig, sandbox_url: str | None, counter: CallCounter | None
) -> gspread.Client:
    """A client with the dashboard's credentials (dashboard.credentials_file)."""
    return sheets_client(settings.credentials_file, sandbox_url, counter)


def open_dashboard(
    settings: DashboardConfig, sandbox_url: str | None, counter: CallCounter | None
) -> SheetsDashboard:
    """The configured dashboard spreadsheet, open (dashboard.spreadsheet_id must be set)."""
    client = dashboard_client(settings, sandbox_url, counter)
    return SheetsDashboard(client, str(settings.spreadsheet_id))


def refresh_sheets(
    client: gspread.Client,
    spreadsheet_id: str,
    tabs: dict[str, pd.DataFrame],
    cell_limit: int = CELL_BUDGET,
    record: SheetRecord | None = None,
    whole: bool = False,
) -> tuple[list[str], list[str]]:
    """Replace each tab (see the module docstring). Returns warnings (tabs cut to fit) and
    what was left out (a tab that would not fit even cut, named with the fix; it keeps what it
    holds). `cell_limit`: the cells the spreadsheet may hold at any moment of the refresh
    (Google's limit less the room kept for the admin's own tabs). `record`: what the tabs
    hold, kept locally, so that only what changed is sent; `whole`: changed tabs replaced
    whole even so."""
    sink = SheetsDashboard(client, spreadsheet_id)
    fitted, warnings, left_out = fit_tabs(tabs, lambda titles: sink.tab_budget(titles, cell_limit))
    sink.replace_tabs({title: TabRows(frame) for title, frame in fitted.items()}, record, whole)
    for warning in warnings:
        log.warning("%s", warning)
    return warnings, left_out
