"""A dashboard refresh that knows what the tabs hold (the local record) sends only what changed,
in the one batchUpdate that switches the tabs, and leaves every tab exactly as a whole rewrite
would: checked cell by cell in the sandbox after random edits, rows coming and going, dates
appended and thinned out."""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path
from typing import Any

import gspread
import numpy as np
import pandas as pd
import pytest

from cs_sync.config import load_config
from cs_sync.connectors.sheet_cells import TabRows, frame_rows
from cs_sync.connectors.sheet_delta import digest, row_hash, row_text
from cs_sync.connectors.sheet_record import SheetRecord, TabRecord, TabWritten, _new_rows
from cs_sync.connectors.sheets_dashboard import refresh_sheets
from cs_sync.demo import DemoFolder
from cs_sync.pipeline import run_once
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, login, traced_peak

WORDS = ("株式会社サンプル", "利用率が低下", "=HYPERLINK(1)", "A", "", "onboarding")


def accounts(rng: random.Random, count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [f"001{rng.randrange(10**12):015d}" for _ in range(count)],
            "name": [rng.choice(WORDS) for _ in range(count)],
            "score": [rng.choice([rng.uniform(0, 100), float("nan")]) for _ in range(count)],
            "seats": [rng.randrange(1, 500) for _ in range(count)],
            "delayed": [rng.random() < 0.5 for _ in range(count)],
            "reasons": [rng.choice(WORDS) for _ in range(count)],
        }
    )


def accounts_tab(gc: gspread.Client, frame: pd.DataFrame, record: SheetRecord, **how: Any) -> None:
    """A refresh of the accounts tab alone, with the local record of what it holds."""
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, {"accounts": frame}, record=record, **how)


def held(sandbox: Sandbox, title: str) -> tuple[list[list[Any]], tuple[int, int]]:
    """The tab's cells as the sandbox keeps them (an empty cell as ""), and its grid size."""
    book = sandbox.store.load_spreadsheet(DASHBOARD_SPREADSHEET_ID)
    assert book is not None
    sheet = next(s for s in book["sheets"] if s["properties"]["title"] == title)
    grid = sheet["properties"]["gridProperties"]
    cells = [["" if v is None else v for v in row] for row in sheet["cells"]]
    cells = [row + [""] * (grid["columnCount"] - len(row)) for row in cells]
    cells += [[""] * grid["columnCount"]] * (grid["rowCount"] - len(cells))
    return cells, (grid["rowCount"], grid["columnCount"])


def expected(frame: pd.DataFrame) -> tuple[list[list[Any]], tuple[int, int]]:
    rows = frame_rows(frame)
    return rows, (len(rows), len(rows[0]))


class Calls:
    def __init__(self, gc: gspread.Client) -> None:
        self.sent: list[str] = []
        gc.http_client.session.hooks["response"].append(self.seen)

    def seen(self, response: Any, *args: Any, **kwargs: Any) -> None:
        body = response.request.body or b""
        self.sent.append(f"{response.request.method} {response.request.url} {body!r}")

    def take(self) -> list[str]:
        taken, self.sent[:] = list(self.sent), []
        return taken


def mutate(rng: random.Random, frame: pd.DataFrame) -> pd.DataFrame:
    """Some rows edited in a cell or two, some gone, some new ones here and there."""
    frame = frame.copy()
    for _ in range(rng.randrange(0, 6)):
        row, column = rng.randrange(len(frame)), rng.choice(list(frame.columns[1:]))
        fresh = accounts(rng, 1)
        frame.loc[frame.index[row], column] = fresh[column].iloc[0]
    gone = rng.sample(range(len(frame)), rng.randrange(0, 3))
    frame = frame.drop(frame.index[gone])
    for _ in range(rng.randrange(0, 3)):
        at = rng.randrange(len(frame) + 1)
        frame = pd.concat([frame.iloc[:at], accounts(rng, rng.randrange(1, 4)), frame.iloc[at:]])
    return frame.reset_index(drop=True)


def test_random_changes_leave_the_tab_as_a_whole_rewrite_would(
    sandbox: Sandbox, gc: gspread.Client, tmp_path: Path
) -> None:
    record = SheetRecord(tmp_path / "copy.duckdb")
    rng = random.Random(19)
    frame = accounts(rng, 60)
    calls = Calls(gc)
    accounts_tab(gc, frame, record)
    assert any("__staging" in call for call in calls.take())  # no record yet: whole
    for round_ in range(25):
        frame = mutate(rng, frame)
        accounts_tab(gc, frame, record)
        sent = calls.take()
        assert held(sandbox, "accounts") == expected(frame), round_
        assert len(sent) <= 3, (round_, [s[:80] for s in sent])  # open, tabs, one batchUpdate
        assert not any("__staging" in call for call in sent), round_


def test_only_the_changed_cells_are_sent(gc: gspread.Client, tmp_path: Path) -> None:
    record = SheetRecord(tmp_path / "copy.duckdb")
    frame = accounts(random.Random(1), 200)
    frame["name"] = "unchanged name"
    accounts_tab(gc, frame, record)
    calls = Calls(gc)
    frame.loc[150, "seats"] = 123_456
    accounts_tab(gc, frame, record)
    (write,) = [call for call in calls.take() if call.startswith("POST")]
    assert "123456" in write and "unchanged name" not in write
    assert '"rowIndex": 151' in write and '"columnIndex": 3' in write


def test_history_dates_appended_and_thinned_out(
    sandbox: Sandbox, gc: gspread.Client, tmp_path: Path
) -> None:
    """The health_history tab gains a date at the end and loses an old one in the middle."""
    record = SheetRecord(tmp_path / "copy.duckdb")
    rng = random.Random(3)
    people = [f"a{i}" for i in range(40)]

    def history(dates: list[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "as_of": [d for d in dates for _ in people],
                "account_id": people * len(dates),
                "score": [round(rng.uniform(0, 100), 1) for _ in dates for _ in people],
            }
        )

    frame = history(["2026-10-01", "2026-11-20", "2026-11-21"])
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, {"health_history": frame}, record=record)
    calls = Calls(gc)
    kept = frame[frame["as_of"] != "2026-11-20"]
    frame = pd.concat([kept, history(["2026-11-22"])], ignore_index=True)
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, {"health_history": frame}, record=record)
    (write,) = [call for call in calls.take() if call.startswith("POST")]
    assert "deleteDimension" in write and "appendDimension" in write
    assert held(sandbox, "health_history") == expected(frame)


def test_a_tab_the_record_does_not_describe_is_replaced_whole(
    sandbox: Sandbox, gc: gspread.Client, tmp_path: Path
) -> None:
    """Another machine (with its own record, or none) wrote the tab since: the fingerprint on
    the tab is not the recorded one, so the changes are not applied over rows this record
    does not know."""
    mine, theirs = SheetRecord(tmp_path / "mine.duckdb"), SheetRecord(tmp_path / "theirs.duckdb")
    rng = random.Random(5)
    frame = accounts(rng, 30)
    accounts_tab(gc, frame, mine)
    other = mutate(rng, frame)
    accounts_tab(gc, other, theirs)
    calls = Calls(gc)
    frame.loc[3, "seats"] = 9
    accounts_tab(gc, frame, mine)
    assert any("__staging" in call for call in calls.take())
    assert held(sandbox, "accounts") == expected(frame)
    frame.loc[4, "seats"] = 10  # recorded again: the next change is a delta
    accounts_tab(gc, frame, mine)
    assert not any("__staging" in call for call in calls.take())
    assert held(sandbox, "accounts") == expected(frame)


def test_changes_too_large_for_one_request_replace_the_tab(
    sandbox: Sandbox, gc: gspread.Client, tmp_path: Path
) -> None:
    record = SheetRecord(tmp_path / "copy.duckdb")
    rng = random.Random(8)
    frame = accounts(rng, 50)
    accounts_tab(gc, frame, record)
    calls = Calls(gc)
    frame = pd.concat([frame, accounts(rng, 12_000)], ignore_index=True)  # a new day's block
    frame["name"] = "株式会社サンプル商事ホールディングス" * 3
    accounts_tab(gc, frame, record)
    sent = calls.take()
    assert any("__staging" in call for call in sent)
    assert max(len(call) for call in sent) < 2_000_000 * 1.1  # as logged: repr of the bytes
    assert held(sandbox, "accounts") == expected(frame)


def test_a_lost_answer_is_not_applied_twice(
    sandbox: Sandbox, gc: gspread.Client, tmp_path: Path
) -> None:
    """The batchUpdate is carried out and its answer lost: the retry reads the fingerprints,
    sees the change made, and does not insert the new rows a second time."""
    record = SheetRecord(tmp_path / "copy.duckdb")
    rng = random.Random(11)
    frame = accounts(rng, 20)
    accounts_tab(gc, frame, record)
    frame = pd.concat([frame.iloc[:5], accounts(rng, 3), frame.iloc[5:]], ignore_index=True)
    sandbox.faults.set(lost_responses=1, only_on=r"POST .*:batchUpdate")
    accounts_tab(gc, frame, record)
    assert sandbox.faults.lost_responses == 0
    assert held(sandbox, "accounts") == expected(frame)


@pytest.mark.parametrize("tabs", [1, 3])
def test_an_unchanged_refresh_writes_nothing(gc: gspread.Client, tmp_path: Path, tabs: int) -> None:
    record = SheetRecord(tmp_path / "copy.duckdb")
    book = {f"tab{i}": accounts(random.Random(i), 10) for i in range(tabs)}
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, book, record=record)
    calls = Calls(gc)
    refresh_sheets(gc, DASHBOARD_SPREADSHEET_ID, book, record=record)
    assert [call.split()[0] for call in calls.take()] == ["GET", "GET"]


def test_a_whole_refresh_puts_right_a_cell_edited_by_hand(
    sandbox: Sandbox, gc: gspread.Client, tmp_path: Path
) -> None:
    """Changes are sent over what the record says the tab holds: a cell edited by hand in a
    row that did not change stays until a run that read the book whole (daily at least)
    replaces the changed tab whole."""
    record = SheetRecord(tmp_path / "copy.duckdb")
    frame = accounts(random.Random(4), 10)
    accounts_tab(gc, frame, record)
    tab = gc.open_by_key(DASHBOARD_SPREADSHEET_ID).worksheet("accounts")
    tab.update([["edited"]], "B2", raw=True)
    frame.loc[5, "seats"] = 77
    accounts_tab(gc, frame, record)
    assert held(sandbox, "accounts")[0][1][1] == "edited"
    frame.loc[6, "seats"] = 78
    accounts_tab(gc, frame, record, whole=True)
    assert held(sandbox, "accounts") == expected(frame)
    frame.loc[7, "seats"] = 79  # recorded by the whole refresh: changes again
    calls = Calls(gc)
    accounts_tab(gc, frame, record)
    assert not any("__staging" in call for call in calls.take())
    assert held(sandbox, "accounts") == expected(frame)


def test_scheduled_runs_send_the_dashboard_its_changes_only(
    demo40: tuple[DemoFolder, Sandbox],
) -> None:
    """Through the whole run: after the first (the book read whole, the tabs written whole),
    a run that read changes costs three Sheets calls (open, tabs, one batchUpdate), and every
    tab then holds exactly the rows its fingerprint was taken over."""
    folder, sandbox = demo40
    config = load_config(folder.config_path)
    first = run_once(config, AS_OF, dry_run=False)
    assert first.read is not None and first.read["whole"] and first.sheets_api_calls > 3
    sf = login(sandbox)
    for account in sf.query("SELECT Id FROM Account WHERE Type = 'Customer - Direct' LIMIT 3")[
        "records"
    ]:
        sf.Account.update(account["Id"], {"CS_Sentiment__c": "Negative"})
    second = run_once(config, AS_OF, dry_run=False)
    assert second.status == "ok" and not second.read["whole"]  # type: ignore[index]
    assert second.sheets_api_calls == 3
    book = sandbox.store.load_spreadsheet(DASHBOARD_SPREADSHEET_ID)
    assert book is not None
    for sheet in book["sheets"]:
        title = sheet["properties"]["title"]
        marks = [m["metadataValue"] for m in sheet.get("developerMetadata", [])]
        if title.endswith("__staging") or not marks:
            continue
        cells, _ = held(sandbox, title)
        assert [digest(cells).fingerprint] == marks, title


def test_changes_refused_for_good_replace_the_tabs_whole(
    sandbox: Sandbox, gc: gspread.Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A batchUpdate of changes Sheets refuses (400) would be refused again on every run: the
    tabs are replaced whole instead, in the same refresh."""
    record = SheetRecord(tmp_path / "copy.duckdb")
    frame = accounts(random.Random(6), 20)
    accounts_tab(gc, frame, record)
    frame.loc[2, "seats"] = 4242
    sandbox.faults.set(server_errors=1, server_error_status=400, only_on=r"POST .*:batchUpdate")
    accounts_tab(gc, frame, record)
    assert sandbox.faults.server_errors == 0
    assert "replaced whole" in caplog.text
    assert held(sandbox, "accounts") == expected(frame)
    frame.loc[3, "seats"] = 4343  # recorded again: changes are sent as changes
    calls = Calls(gc)
    accounts_tab(gc, frame, record)
    assert not any("__staging" in call for call in calls.take())
    assert held(sandbox, "accounts") == expected(frame)


def _wide_tab(rows: int) -> TabRows:
    return TabRows(
        pd.DataFrame(
            {f"column {n}": [f"account {i} value {n}" for i in range(rows)] for n in range(12)}
        )
    )


def test_a_refresh_after_a_few_changes_makes_only_the_changed_rows_again() -> None:
    """The record takes in the few rows it lacks without making the tab's other rows (a
    1%-changed refresh at 100,000 accounts made every row again for its 870)."""
    rows = _wide_tab(45_000)
    found = digest(rows)
    fresh = TabRows(rows.frame)  # nothing made yet
    lacking = [0, 7, 30_001, 45_000]  # the header, and rows of two parts
    recorded = found.hashes[[i for i in range(len(found.hashes)) if i not in lacking]]
    parts = list(
        _new_rows([TabWritten(TabRecord(found.fingerprint, 12, found.hashes), fresh)], recorded)
    )
    assert pd.concat(parts)["body"].tolist() == [row_text(rows[i]) for i in lacking]
    assert pd.concat(parts)["hash"].tolist() == found.hashes[lacking].tolist()
    assert fresh._last == (-1, [])  # no part of 20,000 rows was made for them
    assert fresh.rows_at(np.array([45_000, 0, 2])) == [rows[45_000], rows[0], rows[2]]


def test_a_tab_is_summed_up_without_holding_its_rows_texts() -> None:
    """A tab's fingerprint, row hashes and lengths come a row's text at a time: holding every
    row's text (as a refresh did) was some 70 MB at 100,000 accounts."""
    rows = _wide_tab(120_000)
    texts = [row_text(row) for row in rows]
    found = digest(rows)
    whole = hashlib.sha256("".join(f"{text}\n" for text in texts).encode()).hexdigest()
    assert found.fingerprint == f"{len(texts)}:{whole[:32]}"  # the row count, every row sent
    assert found.hashes.tolist() == [row_hash(text) for text in texts]
    assert found.lengths.tolist() == [len(text) for text in texts]
    held = sum(sys.getsizeof(text) for text in texts)
    del texts
    assert traced_peak(lambda: digest(rows)) < held / 3


def test_the_record_takes_in_only_new_rows_a_part_at_a_time(tmp_path: Path) -> None:
    rows = _wide_tab(45_000)
    found = digest(rows)
    record = SheetRecord(tmp_path / "copy.duckdb")
    recorded = found.hashes[:10_000]
    parts = list(
        _new_rows([TabWritten(TabRecord(found.fingerprint, 12, found.hashes), rows)], recorded)
    )
    assert [len(part) for part in parts] == [20_000, 15_001]  # the header and 35,000 rows
    assert pd.concat(parts)["hash"].tolist() == found.hashes[10_000:].tolist()
    assert pd.concat(parts)["body"].tolist() == [row_text(r) for r in rows[10_000:]]
    twice = TabWritten(TabRecord(found.fingerprint, 12, found.hashes), rows)
    record.save("sheet", {"a": twice, "b": twice})  # the same rows in two tabs: kept once
    assert record.rows(found.hashes[:3].tolist()) == {
        key: row for key, row in zip(found.hashes[:3].tolist(), rows[:3], strict=True)
    }
