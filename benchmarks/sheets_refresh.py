"""The Google Sheets refresh of a large book: calls, bytes sent and seconds for a first
refresh, an unchanged one, one where only the day's KPIs changed, and one where 1% of the
accounts changed a score (sent as changed cells, by the local record of what the tabs hold).

    python -m benchmarks.sheets_refresh --accounts 100000

The tabs are the shapes the run writes (an accounts tab of Japanese names, scores, grades,
phases and reasons; a month of daily KPIs), sent through gspread to the sandbox's Sheets
stand-in over HTTP; every request is counted and its body measured as sent. Targets: every
request under 2 MB, an unchanged refresh and a 1%-changed one at most 5 Sheets calls and
under 5 MB (issue 19).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import gspread
import numpy as np
import pandas as pd

from cs_sync.connectors.sheet_record import SheetRecord
from cs_sync.connectors.sheets_dashboard import refresh_sheets
from cs_sync.connectors.transport import build_session
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.sheets_api import new_spreadsheet
from cs_sync.sandbox.store import OrgStore

AS_OF = date(2026, 11, 24)
REASONS = ("利用率が低下(前月比 -18%)", "更新まで 45 日、決裁者が未確認", "ログインが安定")


def book(accounts: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    score = rng.uniform(0, 100, accounts).round(1)
    return {
        "accounts": pd.DataFrame(
            {
                "account_id": [f"0015g{i:013d}" for i in range(accounts)],
                "name": [f"株式会社サンプル{i}商事" for i in range(accounts)],
                "score": score,
                "grade": np.select([score >= 80, score >= 60, score >= 40], ["A", "B", "C"], "D"),
                "phase": rng.choice(["オンボーディング", "活用", "更新準備"], accounts),
                "reasons": rng.choice(REASONS, accounts),
                "arr": rng.integers(100, 5000, accounts) * 1000,
            }
        ),
        "kpi_daily": pd.DataFrame(
            {
                "date": [
                    (AS_OF - timedelta(days=d)).isoformat() for d in range(30) for _ in range(8)
                ],
                "metric": ["accounts", "arr", "nrr", "grr", "a", "b", "c", "d"] * 30,
                "dimension": "all",
                "value": rng.uniform(0, 1e6, 240).round(2),
            }
        ),
    }


def measured(sent: list[int], action: Callable[[], Any]) -> tuple[int, float, float, float]:
    del sent[:]
    started = time.perf_counter()
    action()
    took = time.perf_counter() - started
    return len(sent), sum(sent) / 1e6, max(sent, default=0) / 1e6, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cs-sync-sheets-") as folder:
        measure_in(args, Path(folder))


def measure_in(args: argparse.Namespace, folder: Path) -> None:
    store = OrgStore(folder / "sandbox.db")
    store.save_spreadsheet(
        DASHBOARD_SPREADSHEET_ID,
        new_spreadsheet(DASHBOARD_SPREADSHEET_ID, "cs-sync KPI dashboard", ["Sheet1"]),
    )
    store.close()
    tabs = book(args.accounts)
    changed = {name: frame.copy() for name, frame in tabs.items()}
    changed["kpi_daily"]["value"] += 1
    moved = {name: frame.copy() for name, frame in changed.items()}
    some = np.random.default_rng(8).choice(args.accounts, max(1, args.accounts // 100), False)
    moved["accounts"].loc[some, "score"] += 1.5
    record = SheetRecord(folder / "copy.duckdb")
    with Sandbox(folder / "sandbox.db") as sandbox:
        session = build_session(sandbox.url)
        sent: list[int] = []
        session.hooks["response"].append(
            lambda response, *a, **k: sent.append(len(response.request.body or b""))
        )
        client = gspread.Client(auth=None, session=session)  # type: ignore[arg-type]
        client.set_timeout(120)
        print(f"{args.accounts:,} accounts, {len(tabs['kpi_daily'])} KPI rows")
        print("refresh                calls  MB sent  largest MB  seconds")
        for label, frames in (
            ("first", tabs),
            ("unchanged", tabs),
            ("KPIs changed", changed),
            ("1% accounts changed", moved),
        ):
            calls, total, largest, took = measured(
                sent,
                lambda f=frames: refresh_sheets(client, DASHBOARD_SPREADSHEET_ID, f, record=record),
            )
            print(f"{label:<20} {calls:>7} {total:>8.1f} {largest:>11.2f} {took:>8.1f}")


if __name__ == "__main__":
    main()
