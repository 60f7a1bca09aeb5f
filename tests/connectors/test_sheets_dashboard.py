"""The Google Sheets dashboard against the sandbox (gspread over real HTTP): RAW text, reruns
that replace rather than add, and a write cut short that leaves the previous tabs whole."""

from __future__ import annotations

from typing import Any

import gspread
import pandas as pd
import pytest

from cs_sync.connectors.sheet_cells import frame_rows
from cs_sync.connectors.sheet_tabs import fit_rows
from cs_sync.connectors.sheets_dashboard import refresh_sheets
from cs_sync.connectors.transport import build_session
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox

INJECTION = '=HYPERLINK("http://x","y")'


def tabs(version: int, accounts: int = 3) -> dict[str, pd.DataFrame]:
    return {
        "accounts": pd.DataFrame(
            {
                "account_id": [f"001{i:015d}" for i in range(accounts)],
                "name": [INJECTION] + [f"株式会社{i}" for i in range(1, accounts)],
                "score": [10.5 * version] * accounts,
                "grade": ["D"] * accounts,
            }
        ),
        "kpi_daily": pd.DataFrame(
            {
                "date": ["2026-11-24"] * 2,
                "metric": ["accounts", "arr"],
                "dimension": ["all", "all"],
                "value": [float(accounts), 1000.0 * version],
            }
        ),
    }


def read(gc: gspread.Client, title: str, render: str = "FORMATTED_VALUE") -> list[list[Any]]:
    sheet = gc.open_by_key(DASHBOARD_SPREADSHEET_ID).worksheet(title)
    return sheet.get(value_render_option=render)


def test_crm_text_stays_text_and_a_rerun_replaces(gc: gspread.Client) -> None:
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(1))
    rows = read(gc, "accounts", "FORMULA")
    assert rows[0] == ["account_id", "name", "score", "grade"]
    # written RAW, a string and never a formula; with a ' in front, so that it stays inert
    # once the tab is downloaded as CSV and opened in a spreadsheet app
    assert rows[1][1] == "'" + INJECTION
    assert read(gc, "accounts")[1][1] == "'" + INJECTION  # shown as text, not "#NAME?"
    assert read(gc, "accounts", "UNFORMATTED_VALUE")[1][2] == 10.5  # numbers stay numbers
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(1))
    assert len(read(gc, "accounts")) == 4 and len(read(gc, "kpi_daily")) == 3
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(2, accounts=2))  # fewer rows: trimmed
    assert len(read(gc, "accounts")) == 3
    grid = gc.open_by_key(DASHBOARD_SPREADSHEET_ID).worksheet("accounts")
    assert grid.row_count == 3  # no stale rows below


class Crash(BaseException):
    """The process dying mid-write: nothing after it runs."""


def test_a_write_cut_short_leaves_the_previous_tabs(sandbox: Sandbox, gc: gspread.Client) -> None:
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(1))
    before = {title: read(gc, title) for title in ("accounts", "kpi_daily")}
    # open, metadata, staging resize, staged values, swap: a crash after any call but the
    # swap leaves the old tabs; the swap is one call, applied whole
    for calls_before_crash in range(4):
        session = build_session(sandbox.url)
        seen = []

        def crash(
            response: Any, *args: Any, seen: list = seen, limit: int = calls_before_crash, **kw: Any
        ) -> None:  # noqa: E501
            seen.append(response.request.url)
            if len(seen) > limit:
                response.close()
                raise Crash

        session.hooks["response"].append(crash)
        doomed = gspread.Client(auth=None, session=session)  # type: ignore[arg-type]
        with pytest.raises(Crash):
            refresh_sheets(doomed, DASHBOARD_SPREADSHEET_ID, tabs(2, accounts=5))
        session.close()
        for title, rows in before.items():
            assert read(gc, title) == rows, (calls_before_crash, title)
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(2, accounts=5))
    assert len(read(gc, "accounts")) == 6 and read(gc, "kpi_daily")[2][3] == "2000"


def test_requests_stay_small_and_tabs_fit_the_cell_limit() -> None:
    rows = frame_rows(pd.DataFrame({"a": [None, float("nan")], "b": ["x", 1]}))
    assert rows == [["a", "b"], ["", "x"], ["", 1]]
    history = pd.DataFrame(
        {
            "as_of": pd.date_range("2024-01-01", "2026-11-24", freq="D").strftime("%Y-%m-%d"),
            "score": 1.0,
        }
    )
    fitted, warnings = fit_rows({"health_history": history}, 400 * 2, {"health_history": "as_of"})
    kept = fitted["health_history"]
    assert (len(kept) + 1) * 2 <= 800 and len(kept) < len(history)
    assert kept["as_of"].max() == "2026-11-24"  # the recent days are kept
    assert "cell limit" in warnings[0]


def test_a_tab_that_did_not_change_is_not_written(gc: gspread.Client) -> None:
    """Each live tab carries a fingerprint of its rows (developer metadata, replaced in the
    same batchUpdate that swaps the tab in): an unchanged refresh reads and writes nothing
    more, and a changed one writes only the tabs that changed."""
    sent: list[str] = []
    gc.http_client.session.hooks["response"].append(
        lambda response, *args, **kwargs: sent.append(
            f"{response.request.method} {response.request.body or b''!r}"
        )
    )
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(1))
    first = len(sent)
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(1))
    assert len(sent) - first == 2  # opening the spreadsheet, reading its tabs: no write
    changed = tabs(1)
    changed["kpi_daily"]["value"] += 1
    del sent[:]
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, changed)
    writes = " ".join(call for call in sent if call.startswith("POST"))
    assert "kpi_daily__staging" in writes and "accounts__staging" not in writes
    assert read(gc, "kpi_daily", "UNFORMATTED_VALUE")[1][3] == 4.0
    assert read(gc, "accounts")[0] == ["account_id", "name", "score", "grade"]


def test_each_request_is_under_2_mb_as_sent(gc: gspread.Client) -> None:
    """Japanese text is sent escaped (six bytes a character): the requests are sized on the
    body as it goes over the wire, not on its characters."""
    sent: list[int] = []
    gc.http_client.session.hooks["response"].append(
        lambda response, *args, **kwargs: sent.append(len(response.request.body or b""))
    )
    book = {"accounts": tabs(1, accounts=30_000)["accounts"]}
    book["accounts"]["name"] = "株式会社サンプル商事ホールディングス" * 4
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, book)
    assert max(sent) < 2_000_000
    assert sum(size > 1_000_000 for size in sent) >= 2  # split where the escapes add up
    assert read(gc, "accounts")[-1][0] == f"001{29_999:015d}"


def test_rate_limits_are_waited_out(sandbox: Sandbox, gc: gspread.Client) -> None:
    sandbox.faults.set(sheets_rate_limit=2)  # the next two Sheets requests answer 429
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(1))
    assert len(read(gc, "accounts")) == 4
    assert sandbox.faults.sheets_rate_limit == 0


def big_tabs(days: int, accounts: int) -> dict[str, pd.DataFrame]:
    """A dashboard at 1:100 of a 10,000-account book with a year of backfilled history."""
    dates = pd.date_range("2025-11-01", periods=days, freq="D").strftime("%Y-%m-%d")
    return {
        "accounts": pd.DataFrame({f"c{i}": [f"v{i}"] * accounts for i in range(10)}),
        "kpi_daily": pd.DataFrame(
            {"date": list(dates) * 10, "metric": "m", "dimension": "all", "value": 1.0}
        ),
        "health_history": pd.DataFrame(
            {
                "as_of": [d for d in dates for _ in range(accounts)],
                "account_id": [f"a{i}" for _ in dates for i in range(accounts)],
                **{name: 1.0 for name in ("score", "grade", "phase", "arr")},
            }
        ),
    }


def workbook_cells(gc: gspread.Client) -> int:
    book = gc.open_by_key(DASHBOARD_SPREADSHEET_ID).fetch_sheet_metadata()
    return sum(
        s["properties"]["gridProperties"]["rowCount"]
        * s["properties"]["gridProperties"]["columnCount"]
        for s in book["sheets"]
    )


def test_the_dashboard_never_asks_for_more_than_the_cell_limit(
    sandbox: Sandbox, gc: gspread.Client
) -> None:
    """Google's limit counts every sheet at every step, the staging copies and the admin's
    own tab included. At 1:100 (an 80,000-cell limit beside a 26,000-cell tab of the
    admin's), with the sandbox refusing any request that would pass it, a first write and every
    rerun go through, the history tabs cut to their recent dates with a warning."""
    limit = 80_000
    sandbox.faults.set(sheets_cell_limit=limit)  # any step above it fails, as Google does
    assert workbook_cells(gc) == 26_000  # the admin's Sheet1: 1000 rows x 26 columns
    first, left_out = refresh_sheets(
        gc, DASHBOARD_SPREADSHEET_ID, big_tabs(365, 100), cell_limit=limit
    )
    assert any("health_history" in w for w in first) and left_out == []
    for days in (366, 367, 30, 400):  # steady state, a smaller history, a bigger one
        refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, big_tabs(days, 100), cell_limit=limit)
        # between runs the staging copies hold one cell each: the tabs have half the room
        assert workbook_cells(gc) - 26_000 <= (limit - 26_000) // 2 + 3
    kept = read(gc, "health_history")
    assert kept[-1][0] == "2026-12-05" and len(kept) > 1


def test_a_tab_too_large_even_cut_is_left_as_it_is_and_named(
    sandbox: Sandbox, gc: gspread.Client
) -> None:
    """A tab with a row an account passes Google's limit in a large enough book (about
    110,000 scored accounts for the accounts tab): it is not sent (the sandbox would refuse
    the request, as Google does), it keeps its previous rows, and the other tabs are
    refreshed; the message names the tab, its size and the fix."""
    limit = 80_000  # 1:125 of Google's limit; the admin's Sheet1 holds 26,000 cells
    sandbox.faults.set(sheets_cell_limit=limit)
    assert refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, tabs(1), cell_limit=limit) == ([], [])
    before = read(gc, "accounts")
    grown = tabs(2, accounts=8_000)  # 32,004 cells: more than the tabs' room of 27,000
    warnings, left_out = refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, grown, cell_limit=limit)
    assert warnings == [] and len(left_out) == 1
    assert left_out[0].startswith("the accounts tab was not refreshed")
    assert "8,000 rows of 4 columns" in left_out[0]
    assert 'sheets_leave_out = ["accounts"]' in left_out[0]
    assert read(gc, "accounts") == before
    assert read(gc, "kpi_daily")[1][3] == "8000"  # refreshed: 8,000 accounts
    assert workbook_cells(gc) <= limit


def test_the_sandbox_counts_hidden_sheets_too(sandbox: Sandbox, gc: gspread.Client) -> None:
    sandbox.faults.set(sheets_cell_limit=30_000)
    book = gc.open_by_key(DASHBOARD_SPREADSHEET_ID)
    with pytest.raises(gspread.exceptions.APIError, match="above the limit of 30000 cells"):
        book.batch_update(
            {
                "requests": [
                    {
                        "addSheet": {
                            "properties": {
                                "title": "hidden",
                                "hidden": True,
                                "gridProperties": {"rowCount": 200, "columnCount": 26},
                            }
                        }
                    }
                ]
            }
        )
