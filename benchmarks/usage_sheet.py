"""Usage from a Google Sheets tab, run after run: a tab of N accounts x 12 months in the
sandbox's Sheets stand-in, read through gspread over HTTP with the local copy's usage memo.

    python -m benchmarks.usage_sheet [--accounts 20000] [--months 12]

Times four reads the way a schedule makes them: the first (nothing kept: the spreadsheet's
Drive version, the whole tab, the checks), the next one unchanged (the version only: the
checked rows come back from the memo), one after a single cell was edited (the version moved:
the whole tab again), and one with the Google Drive API not enabled in the project (the tab
read whole, every time). For each: the requests the sandbox served, the bytes it answered,
the seconds, and the rows kept. A tab of 20,000 accounts x 12 months is 1.9 million cells;
Google's limit is 10 million per spreadsheet.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import gspread
import numpy as np
import pandas as pd

from cs_sync.config import Config, load_config
from cs_sync.connectors.transport import build_session
from cs_sync.connectors.usage_checks import UsageTable
from cs_sync.connectors.usage_memo import UsageMemo
from cs_sync.extract import read_usage
from cs_sync.sandbox.http_types import Request, Response
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID, seed_book
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.sheets_api import new_spreadsheet
from cs_sync.sandbox.store import OrgStore

AS_OF = date(2026, 11, 24)
HEADER = ["account_id", "month", "seats", "active_users", "logins", "reports_run"]


def usage_cells(accounts: int, months: int) -> list[list[object]]:
    """The tab's rows as Sheets holds them: 15-character ids, months as text, numbers."""
    rng = np.random.default_rng(11)
    ids = [f"001{n:012d}"[:15] for n in range(accounts)]
    periods = pd.period_range(end="2026-10", periods=months, freq="M").strftime("%Y-%m")
    seats = rng.integers(5, 500, accounts)
    rows: list[list[object]] = [list(HEADER)]
    for n, account in enumerate(ids):
        for period in periods:
            active = int(rng.integers(0, seats[n] + 1))
            rows.append([account, period, int(seats[n]), active, active * 9, active // 3])
    return rows


def add_usage_tab(database: Path, cells: list[list[object]]) -> None:
    """The usage tab, put in the seeded dashboard spreadsheet directly (as an export would
    have filled it): writing two million cells through the API is not what is measured."""
    store = OrgStore(database)
    try:
        book = store.load_spreadsheet(DASHBOARD_SPREADSHEET_ID)
        assert book is not None
        sheet_id = int(book["next_sheet_id"])
        sheet = new_spreadsheet(DASHBOARD_SPREADSHEET_ID, "", ["usage"])["sheets"][0]
        sheet["properties"] |= {"sheetId": sheet_id, "index": len(book["sheets"])}
        sheet["properties"]["gridProperties"] = {"rowCount": len(cells), "columnCount": len(HEADER)}
        sheet["cells"] = cells
        book["sheets"].append(sheet)
        book["next_sheet_id"] = sheet_id + 1
        store.save_spreadsheet(DASHBOARD_SPREADSHEET_ID, book)
    finally:
        store.close()


def configured(folder: Path, url: str) -> Config:
    path = folder / "config.toml"
    path.write_text(
        '[salesforce]\ninstance_url = "https://acme.my.salesforce.com"\n'
        'client_id = "c"\nclient_secret_env = "S"\n\n'
        f'[usage]\nsource = "sheets"\nspreadsheet_id = "{DASHBOARD_SPREADSHEET_ID}"\n'
        'worksheet = "usage"\naccount_key = "salesforce_id"\n'
        'monthly_feature = "reports_run"\nseasonal_feature = ""\n\n'
        f'[sandbox]\nurl = "{url}"\n',
        encoding="utf-8",
    )
    return load_config(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the read without Drive says why, once a read
    with tempfile.TemporaryDirectory(prefix="cs-sync-usage-sheet-") as folder:
        measure_in(args, Path(folder))


def measure_in(args: argparse.Namespace, folder: Path) -> None:
    database = folder / "sandbox.db"
    store = OrgStore(database)
    try:
        seed_book(store, folder / "usage.csv", 40, AS_OF)
    finally:
        store.close()
    cells = usage_cells(args.accounts, args.months)
    add_usage_tab(database, cells)
    print(f"{args.accounts:,} accounts x {args.months} months: {len(cells) - 1:,} rows")
    print("read                          requests   MB answered  seconds     rows kept")
    with Sandbox(database) as sandbox:
        answered: list[int] = []  # the body of every answer, in bytes (before any gzip)
        serve = sandbox.dispatch

        def counted(request: Request, host: str) -> Response:
            response = serve(request, host)
            answered.append(len(response.body))
            return response

        sandbox.dispatch = counted  # type: ignore[method-assign]
        editor = gspread.Client(auth=None, session=build_session(sandbox.url))  # type: ignore[arg-type]
        config = configured(folder, sandbox.url)
        memo = UsageMemo(folder / "copy.duckdb")

        def measured(label: str, before: Callable[[], object] = lambda: None) -> UsageTable:
            before()
            del answered[:]
            started = time.perf_counter()
            table = read_usage(config, AS_OF, memo)
            took = time.perf_counter() - started
            megabytes = sum(answered) / 1e6
            print(
                f"{label:<30}{len(answered):>8}{megabytes:>14.1f}{took:>9.2f}{len(table.frame):>14,}"
            )
            return table

        first = measured("first (nothing kept)")
        again = measured("unchanged")
        assert again.frame.equals(first.frame)
        edited = measured(
            "after one cell was edited",
            lambda: (
                editor.open_by_key(DASHBOARD_SPREADSHEET_ID)
                .worksheet("usage")
                .update([[7]], "C2", value_input_option=gspread.utils.ValueInputOption.raw)
            ),
        )
        assert int(edited.frame["seats"].iloc[0]) == 7
        sandbox.faults.set(drive_disabled=1000)
        measured("without the Drive API")
        measured("without the Drive API, again")


if __name__ == "__main__":
    main()
