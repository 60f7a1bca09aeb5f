"""The history store: rows per date replaced atomically, reads back what was written."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.connectors.history_store import HistoryStore
from cs_sync.errors import CsSyncError
from cs_sync.history import RunRecord, _json_lines, previous_values, snapshot_rows
from tests.conftest import held_by_another_process

DAY = date(2026, 11, 24)


def scored(score_a: float = 80.5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["001000000000001AAA", "001000000000002AAA"],
            "name": ['=HYPERLINK("http://x","y")', "Beta"],
            "segment": ["High Touch", None],
            "owner_id": ["005000000000001AAA"] * 2,
            "arr": [1_200_000.0, None],
            "seats": [10, 20],
            "score": [score_a, None],
            "grade": ["A", None],
            "computed_grade": ["A", None],
            "trend": ["up", None],
            "reasons": ["", "no usage"],
            "coverage": [1.0, 0.0],
            "phase": ["Adoption", "Onboarding"],
            "phase_delayed": [False, True],
            "phase_change": [None, "up"],
            "renewal_strategy": [None, "Rescue"],
            "next_action": [None, "value review"],
            "next_action_date": [pd.NaT, pd.Timestamp("2026-12-01")],
            "renewal_date": ["2027-01-01", None],
            "days_to_renewal": [38, None],
            "active_ratio": [0.5, float("nan")],
        }
    )


def kpis(value: float) -> pd.DataFrame:
    return pd.DataFrame(
        {"date": [DAY.isoformat()], "metric": ["accounts"], "dimension": ["all"], "value": [value]}
    )


def run(run_id: str, kind: str = "run", as_of: date = DAY, status: str = "ok") -> RunRecord:
    now = datetime(2026, 11, 24, 7, 0)
    return RunRecord(run_id, kind, as_of, now, now, status, "cfg123", accounts=2)


def test_measures_are_json_and_values_plain() -> None:
    rows = snapshot_rows(scored(), ["active_ratio", "not_a_column"], "cfg123", DAY)
    assert [json.loads(m) for m in rows["measures"]] == [
        {"active_ratio": 0.5},
        {"active_ratio": None},
    ]
    assert rows["next_action_date"].tolist() == [None, "2026-12-01"]
    assert rows["name"][0] == '=HYPERLINK("http://x","y")'  # kept as text, untouched


def test_measures_written_a_part_at_a_time_are_the_whole_frame_s() -> None:
    # the JSON of 100,000 accounts' measures at once held over 100 MB while it was split
    frame = pd.DataFrame(
        {
            "ratio": [0.5, None, float("nan"), 1 / 3, 2.0],
            "plan": ["Premium", None, "Sä\u2028ve", "a\nb", ""],
        }
    )
    whole = frame.to_json(orient="records", lines=True, double_precision=10)
    assert _json_lines(frame, part=2) == whole.rstrip("\n").split("\n")
    plans = [json.loads(line)["plan"] for line in _json_lines(frame, part=2)]
    assert plans == ["Premium", None, "Sä\u2028ve", "a\nb", ""]


def test_rewriting_a_date_replaces_its_rows(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.duckdb") as store:
        store.write_date(DAY, snapshot_rows(scored(), [], "cfg123", DAY), kpis(2), run("a"))
        store.write_date(DAY, snapshot_rows(scored(70.0), [], "cfg123", DAY), kpis(3), run("b"))
        snapshot = store.snapshot(DAY)
        assert len(snapshot) == 2 and snapshot["score"].iloc[0] == 70.0
        assert store.kpis()["value"].tolist() == [3.0]
        assert store.runs()["run_id"].tolist() == ["a", "b"]  # every run is recorded
        assert store.dates() == [DAY]


def test_a_failed_write_leaves_the_previous_rows(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.duckdb") as store:
        store.write_date(DAY, snapshot_rows(scored(), [], "cfg123", DAY), kpis(2), run("a"))
        broken = kpis(5).drop(columns=["value"])  # fails after the accounts were replaced
        with pytest.raises(KeyError):
            store.write_date(DAY, snapshot_rows(scored(10.0), [], "cfg123", DAY), broken, run("b"))
        assert store.snapshot(DAY)["score"].iloc[0] == 80.5
        assert store.runs()["run_id"].tolist() == ["a"]


def test_latest_before_and_previous_values(tmp_path: Path) -> None:
    earlier = date(2026, 11, 17)
    with HistoryStore(tmp_path / "h.duckdb") as store:
        store.write_date(
            earlier, snapshot_rows(scored(60.0), [], "cfg123", earlier), kpis(2), run("a")
        )
        store.write_date(DAY, snapshot_rows(scored(), [], "cfg123", DAY), kpis(2), run("b"))
        assert store.latest_before(earlier).empty
        prev = previous_values(store.latest_before(DAY))
        assert prev.loc["001000000000001AAA", "prev_score"] == 60.0
        assert prev.loc["001000000000002AAA", "prev_phase"] == "Onboarding"


def test_series_reads_only_the_dates_asked(tmp_path: Path) -> None:
    earlier = date(2026, 11, 17)
    with HistoryStore(tmp_path / "h.duckdb") as store:
        store.write_date(earlier, snapshot_rows(scored(60.0), [], "c", earlier), kpis(2), run("a"))
        store.write_date(DAY, snapshot_rows(scored(), [], "c", DAY), kpis(2), run("b"))
        series = store.series([earlier])
        assert set(series["as_of"]) == {pd.Timestamp(earlier)} and len(series) == 2
        assert store.series([]).empty


def test_series_hold_each_repeated_text_once(tmp_path: Path) -> None:
    # a plain read made a string for every row of every date: ids, names, grades, phases
    book = pd.concat([scored()] * 500, ignore_index=True)
    book["account_id"] = [f"001{i:015d}" for i in range(len(book))]
    dates = [date(2026, 11, d) for d in (10, 17, 24)]
    with HistoryStore(tmp_path / "h.duckdb") as store:
        for day in dates:
            store.write_date(day, snapshot_rows(book, [], "c", day), kpis(2), run(f"r{day}"))
        series = store.series(dates)
    assert len(series) == 3 * len(book)
    assert (
        series.groupby("as_of")["account_id"].apply(list).tolist()
        == [sorted(book["account_id"])] * 3
    )
    for column, distinct in (("account_id", len(book)), ("grade", 1), ("phase", 2)):
        assert len({id(value) for value in series[column].dropna()}) == distinct, column


def test_backfilled_dates_are_the_checkpoint(tmp_path: Path) -> None:
    other = date(2026, 11, 17)
    with HistoryStore(tmp_path / "h.duckdb") as store:
        store.record_run(run("a", "backfill", other))
        store.record_run(run("b", "backfill", DAY, status="failed"))
        store.record_run(run("c", "run", DAY))
        assert store.backfilled("cfg123") == {other}
        assert store.backfilled("another") == set()


def test_a_file_that_is_not_a_store_is_named(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    path.write_text("not a database")
    with pytest.raises(CsSyncError, match="h.duckdb"):
        HistoryStore(path)


def test_a_run_keeps_its_last_record(tmp_path: Path) -> None:
    """A run whose dashboard failed after its snapshot adds its final record: one row per run,
    the last one, so status and the brake streak read the run's final word."""
    first = run("r1")
    final = RunRecord(
        "r1", "run", DAY, first.started_at, datetime(2026, 11, 24, 7, 5), "partial", "cfg123"
    )
    with HistoryStore(tmp_path / "h.duckdb") as store:
        store.record_run(first)
        store.record_run(run("r0", as_of=date(2026, 11, 23)))
        store.record_run(final)
        runs = store.runs()
    assert sorted(runs["run_id"]) == ["r0", "r1"]
    assert runs.set_index("run_id").loc["r1", "status"] == "partial"


def test_a_damaged_store_is_named_never_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    with HistoryStore(path) as store:
        store.record_run(run("r1"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CsSyncError, match="damaged or not a DuckDB file.*backfill refills it"):
        HistoryStore(path)


def test_a_sqlite_file_is_refused_offline(tmp_path: Path) -> None:
    """DuckDB would fetch its SQLite extension from the internet to read such a file; the
    store is opened with extensions off, so it is a named error instead."""
    import sqlite3

    path = tmp_path / "h.duckdb"
    sqlite3.connect(path).execute("CREATE TABLE t (x INTEGER)").connection.commit()
    with pytest.raises(CsSyncError, match="h.duckdb: cannot open it"):
        HistoryStore(path)
    # the refusal comes from the store's own settings, not from a machine without a network
    with HistoryStore(tmp_path / "good.duckdb") as store:
        offline = store.db.execute(
            "SELECT current_setting('autoinstall_known_extensions'), "
            "current_setting('autoload_known_extensions')"
        ).fetchone()
    assert offline == (False, False)


def test_a_store_held_by_another_process_says_so(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    with HistoryStore(path):
        pass
    with (
        held_by_another_process(path),
        pytest.raises(CsSyncError, match="another process holds it.*close the DuckDB"),
    ):
        HistoryStore(path)


def test_duckdb_draws_no_progress_bar_on_stdout() -> None:
    """DuckDB draws a progress bar on stdout for a query of more than two seconds, terminal
    or not: at a million accounts it came before `run --json`'s one object. Every connection
    cs-sync opens has it off (a setting of the connection: DuckDB refuses it in the settings
    a database is opened with). Asked in a process of its own: under pytest's capture DuckDB
    starts with the bar off."""
    asked = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cs_sync.connectors import duck; print(duck.connect().execute("
            "\"SELECT current_setting('enable_progress_bar')\").fetchone()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert asked.stdout == "False\n"
