"""Usage from a Google Sheets tab: the same columns as the CSV (account_id, month, metrics).

Values are read unformatted, so a number is a number whatever the sheet's locale shows
("1,234" or "1.234"), and every cell is then handled as text by the shared checks: an id
typed as 00123 stays "00123" when the column is formatted as plain text, and a Salesforce id
is never turned into a number. Months may be typed as 2026-10 or as any date in the month.
Lines in problems are the sheet's own row numbers.

With the local copy's usage memo, the tab is read again only when its spreadsheet changed:
Drive's `version` of the file ("a monotonically increasing version number ... reflects every
change made to the file on the server") is asked first, one small call, and the checked rows
kept under it are reused while it stays the same. That needs the Google Drive API enabled in
the service account's project; without it (or with any other answer than the version) the
tab is read whole, as before, and the log says why. A write to any tab of the spreadsheet
changes its version, so a usage tab kept in the dashboard's own spreadsheet is read every run.
"""

from __future__ import annotations

import logging
from datetime import date

import gspread
import pandas as pd

from cs_sync.connectors.google_calls import GoogleTarget, account_of, call_google
from cs_sync.connectors.usage_checks import UsageTable, validate_usage
from cs_sync.connectors.usage_memo import UsageMemo, text_signature
from cs_sync.connectors.usage_settings import METRIC_COLUMNS
from cs_sync.errors import CsSyncError, InputError

log = logging.getLogger(__name__)
# Drive metadata only (names, versions; never a file's content): what `sheet_version` reads.
DRIVE_METADATA_SCOPE = "https://www.googleapis.com/auth/drive.metadata.readonly"


def read_usage_sheet(
    client: gspread.Client,
    spreadsheet_id: str,
    worksheet: str,
    as_of: date,
    account_key: str,
    on_bad_rows: str,
    metrics: tuple[str, ...] = METRIC_COLUMNS,
    columns: dict[str, str] | None = None,
    memo: UsageMemo | None = None,
) -> UsageTable:
    """The tab's checked rows; with `memo`, those of the last read while the spreadsheet's
    Drive version is the same."""
    source = f"usage sheet {spreadsheet_id} tab {worksheet!r}"

    def read() -> UsageTable:
        raw = read_tab(
            client,
            spreadsheet_id,
            worksheet,
            source,
            "usage",
            "account_id, month and the metrics, then one row per account and month",
        )
        return validate_usage(
            raw, source, as_of, account_key, on_bad_rows, metrics=metrics, columns=columns
        )

    if memo is None:
        return read()
    version = sheet_version(client, spreadsheet_id)
    signature = None
    if version is not None:
        settings = {
            "kind": "sheets",
            "spreadsheet_id": spreadsheet_id,
            "worksheet": worksheet,
            "version": version,
            "as_of": as_of,
            "account_key": account_key,
            "on_bad_rows": on_bad_rows,
            "metrics": metrics,
            "columns": columns,
        }
        signature = text_signature(settings)
    return memo.read(signature, read)


def sheet_version(client: gspread.Client, spreadsheet_id: str) -> str | None:
    """The spreadsheet's Drive `version` (files.get, one call, retried when transient), or
    None when Drive will not say: the API not enabled in the project, the scope not granted,
    Drive unreachable. Then the caller reads the tab whole, and the log names the fix."""
    target = GoogleTarget(
        "Google Drive",
        account_of(getattr(client.http_client.session, "credentials", None)),
        "Viewer on the usage spreadsheet (Share)",
        f"usage.spreadsheet_id ({spreadsheet_id})",
    )

    def ask() -> object:
        answer = client.http_client.request(
            "get",
            f"{gspread.urls.DRIVE_FILES_API_V3_URL}/{spreadsheet_id}",
            params={"fields": "version", "supportsAllDrives": "true"},
        )
        return answer.json().get("version")

    try:
        version = call_google(
            ask, "reading the usage spreadsheet's version", target, max_attempts=3, wait_max_s=5
        )
    except CsSyncError as error:
        log.warning(
            "the usage tab is read whole, as Drive did not give the spreadsheet's version "
            "(%s); with the Google Drive API enabled in the service account's project, an "
            "unchanged tab is not read again",
            error,
        )
        return None
    return str(version) if version else None


def read_tab(
    client: gspread.Client,
    spreadsheet_id: str,
    worksheet: str,
    source: str,
    table: str,
    expected: str,
) -> pd.DataFrame:
    """A tab's rows as text under its header row (unformatted values, whole numbers without
    ".0"); `table` is the config table whose spreadsheet_id and worksheet name the tab, and
    `expected` what its first row should name."""
    target = GoogleTarget(
        "Google Sheets",
        account_of(getattr(client.http_client.session, "credentials", None)),
        f"Viewer on the {table} spreadsheet (Share)",
        f"{table}.spreadsheet_id ({spreadsheet_id}) and {table}.worksheet ({worksheet!r})",
    )

    def read() -> list[list[object]]:
        tab = client.open_by_key(spreadsheet_id).worksheet(worksheet)
        return list(
            tab.get(
                value_render_option=gspread.utils.ValueRenderOption.unformatted,
                date_time_render_option=gspread.utils.DateTimeOption.formatted_string,
            )
        )

    values = call_google(read, f"reading the {source}", target)
    rows = [list(row) for row in values]
    if not rows or not any(str(cell).strip() for cell in rows[0]):
        raise InputError(f"{source} is empty; its first row must name the columns {expected}")
    header = [str(cell).strip() for cell in rows[0]]
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        raise InputError(f"{source}: the header names {', '.join(duplicated)} more than once")
    width = len(header)
    body = [[_text(cell) for cell in row[:width]] + [""] * (width - len(row)) for row in rows[1:]]
    raw = pd.DataFrame(body, columns=header, dtype=object)
    return raw[[name for name in header if name]]


def _text(cell: object) -> str:
    """A cell as text: whole numbers without ".0", others as Python writes them."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    return "" if cell is None else str(cell)
