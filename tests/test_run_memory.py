"""What a run holds in memory: the records it read are let go before the writes, the history
and the dashboards, and DuckDB's own memory is bounded while cs-sync writes its files."""

from __future__ import annotations

import gc
import hashlib
import logging
import tracemalloc
import weakref
from dataclasses import replace
from datetime import date, datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from cs_sync import extract, pipeline, score
from cs_sync.book_reads import OPPORTUNITY_FIELDS, ROLE_FIELDS, opportunities_from, roles_from
from cs_sync.config import load_config
from cs_sync.connectors import copy_store, duck, sheet_record, usage_memo
from cs_sync.connectors.bulk_csv import typed_frame
from cs_sync.connectors.copy_store import CopiedState, Copy, CopyStore
from cs_sync.connectors.history_store import HistoryStore
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.sheet_record import SheetRecord, TabRecord, TabWritten
from cs_sync.connectors.sheet_tabs import sheet_tabs
from cs_sync.connectors.transport import build_session
from cs_sync.connectors.usage_checks import validate_usage
from cs_sync.connectors.usage_memo import UsageMemo
from cs_sync.demo import prepare_demo
from cs_sync.extract import join_usage
from cs_sync.extract_signals import CASE_FIELDS, cases_from, surveys_from
from cs_sync.history import SERIES_COLUMNS, SNAPSHOT_COLUMNS, RunRecord
from cs_sync.incremental import read_now
from cs_sync.pipeline import run_once
from cs_sync.publish import DASHBOARD_COLUMNS, dashboard_accounts
from cs_sync.revenue import arr_timeline
from cs_sync.score import Extracted
from tests.conftest import AS_OF, served, traced_peak


def _alive(kind: type, besides: frozenset[int] = frozenset()) -> int:
    return sum(isinstance(thing, kind) and id(thing) not in besides for thing in gc.get_objects())


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_records_read_are_let_go_before_the_writes_history_and_dashboards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dry_run: bool
) -> None:
    folder = prepare_demo(tmp_path / "demo", 40, AS_OF, port=0)
    seen: dict[str, int] = {}
    earlier = frozenset(id(thing) for thing in gc.get_objects() if isinstance(thing, Extracted))

    def counting(step: str, real: Any, *args: Any, **kwargs: Any) -> Any:  # the real step
        seen[step] = _alive(Extracted, earlier)  # no collection first: let go, not to the gc
        return real(*args, **kwargs)

    for step in ("apply_plan", "record_history"):
        monkeypatch.setattr(pipeline, step, partial(counting, step, getattr(pipeline, step)))
    with served(folder):
        result = run_once(load_config(folder.config_path), AS_OF, dry_run=dry_run)
    assert result.status == "ok" and result.accounts_read > 0
    assert seen == ({"record_history": 0} if dry_run else {"apply_plan": 0, "record_history": 0})
    assert dry_run or result.tasks_created > 0  # the writes were made, the KPIs counted them


def test_the_revenue_timeline_is_made_for_the_dashboards_after_the_records_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # made with the plan, the timeline's making was the rules stage's peak (47 MiB over the
    # scored table and every record read, at 100,000 accounts); the plan holds the
    # opportunities' columns it reads instead, and the history's revenue KPIs make it
    folder = prepare_demo(tmp_path / "demo", 40, AS_OF, port=0)
    earlier = frozenset(id(thing) for thing in gc.get_objects() if isinstance(thing, Extracted))
    made: list[int] = []

    def making(*args: Any) -> Any:
        made.append(_alive(Extracted, earlier))
        return arr_timeline(*args)

    monkeypatch.setattr(score, "arr_timeline", making)
    with served(folder):
        result = run_once(load_config(folder.config_path), AS_OF, dry_run=False)
    assert result.status == "ok" and made == [0]  # once, with no record read still held
    assert result.plan is not None and result.plan.timeline is not None
    assert result.plan.timeline_maker is None  # the columns it read are let go
    assert len(result.plan.timeline.steps) > 0


def test_each_object_s_rows_are_let_go_as_its_table_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the rows of every object were held until the book's last table was made, beside the
    # tables made of them: the first run's peak at 100,000 accounts
    folder = prepare_demo(tmp_path / "demo", 40, AS_OF, port=0)
    read: dict[str, weakref.ref[pd.DataFrame]] = {}
    alive_then: list[set[str]] = []

    def reading(client: Any, specs: Any) -> dict[str, pd.DataFrame]:
        rows = read_now(client, specs)
        read.update({name: weakref.ref(frame) for name, frame in rows.items()})
        return rows

    def making_roles(rows: pd.DataFrame) -> pd.DataFrame:
        alive_then.append({name for name, frame in read.items() if frame() is not None})
        return roles_from(rows)

    monkeypatch.setattr(extract, "read_now", reading)
    monkeypatch.setattr(extract, "roles_from", making_roles)
    with served(folder):
        config = load_config(folder.config_path)
        client = connect(config.salesforce, build_session(config.sandbox.url))
        book = extract.read_book(client, config, AS_OF)
    assert len(book.contact_roles) > 0 and "accounts" in read
    # the roles' own rows, and the objects whose tables come after them
    assert alive_then == [{"contact_roles", "activity_tasks", "events", "cases", "survey_answers"}]


def _duckdb_memory(db: duckdb.DuckDBPyConnection) -> int:
    (used,) = db.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone() or (0,)
    return int(used or 0)


def _day(rows: int, text: int) -> pd.DataFrame:
    """A history date of `rows` accounts, each with `text` characters of measures (every
    value its own: DuckDB cannot compress them away)."""
    return pd.DataFrame(
        {
            "as_of": ["2026-12-01"] * rows,
            "account_id": [f"001{i:015d}" for i in range(rows)],
            "measures": [_noise(i, text) for i in range(rows)],
        }
    ).reindex(columns=SNAPSHOT_COLUMNS)


def _noise(seed: int, length: int) -> str:
    digest = hashlib.sha256(str(seed).encode()).hexdigest()
    return (digest * (length // len(digest) + 1))[:length]


KPIS = pd.DataFrame({"date": ["2026-12-01"], "metric": ["a"], "dimension": ["all"], "value": [1.0]})


def _write_day(store: HistoryStore, day: pd.DataFrame) -> None:
    now = datetime(2026, 12, 1, 7)
    record = RunRecord("r1", "run", date(2026, 12, 1), now, now, "ok", "cfg", accounts=len(day))
    store.write_date(date(2026, 12, 1), day, KPIS, record)


def test_a_history_write_keeps_duckdb_within_its_write_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = _day(450_000, 200)  # some 90 MB of text: a row group of it, 25 MB
    with HistoryStore(tmp_path / "free.duckdb") as store:  # unbounded, for comparison
        store.db.register("day", day)
        store.db.execute("BEGIN TRANSACTION")
        store.db.execute("INSERT INTO account_history BY NAME SELECT * FROM day")
        unbounded = _duckdb_memory(store.db)
        store.db.execute("COMMIT")
    monkeypatch.setattr(duck, "WRITE_MEMORY", "32MB")
    with HistoryStore(tmp_path / "history.duckdb") as store:
        _write_day(store, day)
        assert _duckdb_memory(store.db) <= 32 * 2**20 < unbounded
        assert len(store.snapshot(date(2026, 12, 1))) == len(day)


def test_a_write_that_needs_more_than_the_bound_is_done_unbounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The commit compresses a row group whole: long texts can need more than the bound."""
    monkeypatch.setattr(duck, "WRITE_MEMORY", "8MB")
    day = _day(60_000, 400)  # 24 MB of text in one row group
    with caplog.at_level(logging.INFO), HistoryStore(tmp_path / "history.duckdb") as store:
        _write_day(store, day)
        kept = store.snapshot(date(2026, 12, 1))
    assert len(kept) == len(day) and kept["measures"].tolist() == day["measures"].tolist()
    assert "written unbounded" in caplog.text
    copy_store = CopyStore(tmp_path / "copy.duckdb")  # the copy's writes likewise
    rows = day[["account_id", "measures"]].rename(columns={"account_id": "Id"})
    copy_store.save(
        Copy(objects={"x": CopiedState(rows, "s", datetime(2026, 12, 1), date(2026, 12, 1))})
    )
    loaded = copy_store.load().objects["x"].rows
    assert loaded["measures"].tolist() == rows["measures"].tolist()


def test_the_dashboard_s_record_and_the_copy_are_written_in_the_smaller_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # many short rows: DuckDB sends them to the file as its buffers fill; under the history's
    # bound it held up to 128 MB of them beside the frame (a first refresh's record)
    used: list[int] = []

    def appending(db: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
        duck.append(db, table, frame)
        ((held,),) = db.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
        used.append(int(held))

    monkeypatch.setattr(sheet_record, "append", appending)
    rows = [[f"001{i:015d}", _noise(i, 900)] for i in range(70_000)]  # 66 MB of text
    hashes = np.arange(len(rows), dtype=np.int64)
    record = SheetRecord(tmp_path / "copy.duckdb")
    with caplog.at_level(logging.INFO):
        record.save("sheet", {"accounts": TabWritten(TabRecord("f", 2, hashes), rows)})
    assert 0 < max(used) <= 32 * 2**20 and "written unbounded" not in caplog.text
    assert record.rows([5]) == {5: rows[5]}
    bounds: list[str | None] = []

    def writing(db: duckdb.DuckDBPyConnection, body: Any, memory: str | None = None) -> None:
        bounds.append(memory)
        duck.write(db, body, memory)

    monkeypatch.setattr(copy_store, "write", writing)
    monkeypatch.setattr(usage_memo, "write", writing)
    CopyStore(tmp_path / "copy.duckdb").save(Copy())
    usage = pd.DataFrame({"account_id": ["001000000000001AAA"], "month": ["2026-10"]})
    table = validate_usage(usage, "usage", AS_OF, "salesforce_id", "skip", metrics=())
    UsageMemo(tmp_path / "copy.duckdb").read("s", lambda: table)  # kept for the next run
    assert bounds == [duck.ROWS_MEMORY] * 2


def test_a_plain_scan_is_read_within_the_rows_bound(tmp_path: Path) -> None:
    # unbounded, DuckDB kept every block of the file it read cached to the connection's end
    # (the local copy of 100,000 accounts loaded 31 MiB higher); the copy and the usage memo
    # are read as plain scans within ROWS_MEMORY
    path = tmp_path / "scan.duckdb"
    db = duck.connect(str(path))
    db.execute(
        "CREATE TABLE t AS SELECT range AS n, md5(range::VARCHAR) || md5((range + 1)::VARCHAR)"
        " AS s FROM range(1500000)"  # some 100 MB of text, 50 in the file
    )
    db.close()

    def scan(bounded: bool) -> tuple[int, int]:
        db = duck.connect(str(path))
        watch = db.cursor()  # the same database's memory, asked while the scan runs
        used: list[int] = []

        def each_part(part: pd.DataFrame) -> pd.DataFrame:
            ((held,),) = watch.execute(
                "SELECT sum(memory_usage_bytes) FROM duckdb_memory()"
            ).fetchall()
            used.append(int(held))
            return part[["n"]]

        if bounded:
            rows = duck.read_scan(db, "SELECT * FROM t", each_part)
        else:
            rows = duck._in_parts(db.execute("SELECT * FROM t"), each_part)
        db.close()
        return len(rows), max(used)

    assert scan(bounded=False)[1] > 40 * 2**20  # the blocks read, cached
    rows, most = scan(bounded=True)
    assert rows == 1_500_000 and most <= 32 * 2**20


def test_a_scan_that_needs_more_than_the_bound_is_read_unbounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = duck.connect(str(tmp_path / "scan.duckdb"))
    db.execute("CREATE TABLE t AS SELECT range AS n, md5(range::VARCHAR) AS s FROM range(300000)")
    monkeypatch.setattr(duck, "ROWS_MEMORY", "256KB")  # less than one block
    with caplog.at_level(logging.INFO):
        rows = duck.read_scan(db, "SELECT * FROM t ORDER BY n DESC")
    assert "read unbounded" in caplog.text
    assert rows["n"].tolist() == list(range(299_999, -1, -1))
    db.close()


def test_bounded_gives_the_connection_its_settings_back_even_after_a_failure() -> None:
    db = duck.connect()
    before = db.execute(
        "SELECT current_setting('memory_limit'), current_setting('threads')"
    ).fetchone()
    with pytest.raises(duckdb.Error), duck.bounded(db):
        assert db.execute("SELECT current_setting('threads')").fetchone() == (1,)
        db.execute("SELECT * FROM no_such_table")
    after = db.execute("SELECT current_setting('memory_limit'), current_setting('threads')")
    assert after.fetchone() == before
    db.close()


def _read(columns: dict[str, str], rows: int) -> pd.DataFrame:
    """Rows as a read gives them (typed_frame)."""
    raw = {
        path: [True] * rows
        if kind == "boolean"
        else [1.0] * rows
        if kind in ("currency", "double")
        else [f"{path}{i:012d}"[-15:] + "AAA" for i in range(rows)]
        for path, kind in columns.items()
    }
    return typed_frame(pd.DataFrame(raw), columns)


def test_typing_a_read_copies_each_text_column_once_and_no_typed_column() -> None:
    # a read of changes types every object's loaded rows: each text column was copied three
    # times over (to objects, its blanks to None, into a block of all the texts) and every
    # number and flag once, 85 MB at the peak for these 200,000 rows (the texts' arrays: 38)
    rows = 200_000
    text = pd.Series(["text"]).dtype  # as the local copy reads a text column
    raw, columns = {}, {}
    for i in range(25):
        values = np.where(np.arange(rows) % 7 == 0, None, f"value {i}")
        raw[f"t{i}"], columns[f"t{i}"] = pd.Series(values, dtype=text), "string"
    for i in range(5):
        raw[f"n{i}"], columns[f"n{i}"] = pd.Series(np.arange(rows, dtype=float)), "double"
        raw[f"f{i}"], columns[f"f{i}"] = pd.Series(np.arange(rows) % 2 == 0), "boolean"
    frame = pd.DataFrame(raw)
    texts = 25 * rows * 8
    assert traced_peak(lambda: typed_frame(frame, columns)) < 1.25 * texts
    typed = typed_frame(frame, columns)
    assert typed["t0"].dtype == object and typed["t0"].iat[0] is None
    assert typed["t0"].iat[1] == "value 0" and typed["t0"].isna().sum() == -(-rows // 7)
    for column in ("n0", "f0"):  # taken as they are
        assert np.shares_memory(typed[column].to_numpy(), frame[column].to_numpy())


def test_the_tables_the_rules_read_hold_no_column_of_the_read_itself() -> None:
    """A table the rules read keeps none of the read's arrays: a view of one column keeps
    its whole block alive, ids no rule uses among them (contact roles' and cases' own ids,
    half a million strings at 100,000 accounts, were held to the end of the run)."""
    config = load_config(Path("config.example.toml"))
    survey = {"Id": "id", "AccountId": "reference", "CS_NPS__c": "double", "CS_NPS_Date__c": "date"}
    answers = {"contact_field": "CS_NPS__c", "date_field": "CS_NPS_Date__c"}
    surveys = config.file.surveys.model_copy(update=answers)
    config = replace(config, file=config.file.model_copy(update={"surveys": surveys}))
    made = {
        "opportunities": (opportunities_from, _read(OPPORTUNITY_FIELDS, 50)),
        "contact roles": (roles_from, _read(ROLE_FIELDS, 50)),
        "cases": (partial(cases_from, config=config), _read(CASE_FIELDS, 50)),
        "answers": (partial(surveys_from, config=config), _read(survey, 50)),
    }
    for what, (made_from, rows) in made.items():
        table = made_from(rows)
        assert len(table) == 50, what
        held = [
            f"{column} holds {path}"
            for column in table.columns
            for path in rows.columns
            if np.shares_memory(np.asarray(table[column].array), np.asarray(rows[path].array))
        ]
        assert held == [], what


def test_usage_joined_to_the_accounts_is_never_held_twice() -> None:
    """The usage rows kept are taken out of the rows read a column at a time, and the
    source's keys and line numbers are let go before: at the join's peak, beyond the rows
    read, 0.58 times the rows kept is held (holding both whole: 1.6 times them; the keys and
    lines to the end: 0.82)."""
    keys, months = 30_000, 20
    ids = pd.Index([f"001A{n:011d}AAA" for n in range(keys)], dtype=object)
    accounts = pd.DataFrame({"account_id": ids[: keys * 9 // 10].to_numpy()})
    rows = keys * months
    tracemalloc.start()
    try:
        usage = pd.DataFrame(
            {
                "account_key": pd.Categorical.from_codes(
                    np.repeat(np.arange(keys, dtype=np.int32), months), ids
                ),
                "month": np.tile(pd.date_range("2025-03-01", periods=months, freq="MS"), keys),
                "line": np.arange(rows, dtype=np.int32),
                **{
                    m: np.ones(rows, dtype=np.float32)
                    for m in ("seats", "active_users", "logins", "a", "b", "c")
                },
            },
            copy=False,  # a column a block, as the usage checks and the memo make it
        )
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        kept, _ = join_usage(accounts, usage, "salesforce_id", "usage.csv", AS_OF)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert len(kept) == rows * 9 // 10
    assert peak < 0.7 * kept.memory_usage(index=False).sum()
    assert "line" not in usage and "account_key" not in usage


def test_parts_appended_in_one_transaction_are_let_go_before_its_commit() -> None:
    """A frame registered in a transaction is held by DuckDB until the commit: a write in
    parts (the dashboard record's first 175,000 rows) held every part at its end."""
    db = duckdb.connect()
    db.execute("CREATE TABLE rows (hash BIGINT, body VARCHAR)")
    held: list[int] = []
    part_bytes = 20_000 * (400 + 49)

    def body() -> None:
        for start in range(0, 100_000, 20_000):
            part = pd.DataFrame(
                {
                    "hash": np.arange(start, start + 20_000, dtype=np.int64),
                    "body": [f"{n:>400}" for n in range(start, start + 20_000)],
                }
            )
            duck.append(db, "rows", part)
        held.append(tracemalloc.get_traced_memory()[0] - before)

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        duck.write(db, body)
    finally:
        tracemalloc.stop()
    assert db.execute("SELECT count(*), sum(hash) FROM rows").fetchone() == (100_000, 4999950000)
    assert held[0] < 2 * part_bytes  # the last part, not all five


def test_the_dashboard_s_tables_share_the_columns_they_take_unchanged() -> None:
    # a copy of the accounts' columns for the dashboards was 8 bytes an account a column
    # (some 31 MB at 100,000 accounts), and the health tab's dates likewise
    n = 50_000
    scored = pd.DataFrame(
        {
            name: np.arange(n, dtype=float) if place % 2 else np.array(["x"] * n, dtype=object)
            for place, name in enumerate(DASHBOARD_COLUMNS)
            if name != "days_in_phase"
        }
    )
    plan = SimpleNamespace(scored=scored, as_of=AS_OF)
    view = SimpleNamespace(phase_since=pd.Series(["2026-11-01"], index=["x"]))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        table = dashboard_accounts(plan, view)  # type: ignore[arg-type]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert list(table.columns) == list(DASHBOARD_COLUMNS)
    assert table["days_in_phase"].iat[0] == (pd.Timestamp(AS_OF) - pd.Timestamp("2026-11-01")).days
    assert held < 3 * 8 * n  # days in phase and its steps; its 39 columns copied: 39 times that
    table.loc[0, "score"] = -1.0  # and what the dashboards change stays theirs
    assert scored["score"].iat[0] != -1.0
    series = pd.DataFrame({name: np.zeros(n) for name in SERIES_COLUMNS}).assign(as_of="2026-12-01")
    kpis = pd.DataFrame({"date": ["2026-12-01"], "metric": ["nrr"], "value": [1.0]})
    view = SimpleNamespace(series=series, kpis=kpis, runs=kpis)
    periods = pd.DataFrame({"period_start": ["2026-10-01"], "period_end": ["2026-12-31"]})
    tabs = sheet_tabs(table, kpis, periods, kpis, kpis, view)
    assert tabs["health_history"]["as_of"].iat[0] == "2026-12-01"
    # the dates as text are most of it; a copy of every column took as much again
    assert traced_peak(lambda: sheet_tabs(table, kpis, periods, kpis, kpis, view)) < 15 * 8 * n


def test_the_copy_s_texts_are_numbered_without_a_table_the_size_of_the_rows() -> None:
    # pandas sizes its hash table by the rows it is given: numbering 430,000 opportunities'
    # four types at once held 31 MB
    types = pd.Series(["New Business", "Renewal", "Upsell", None] * 100_000, dtype="str")
    codes, distinct = duck._numbered(types)
    assert sorted(distinct) == ["New Business", "Renewal", "Upsell"]
    assert (codes[3::4] == -1).all() and list(distinct[codes[:3]]) == list(types[:3])
    # the codes themselves and a part's table: 3.1 times the codes (at once: 7.3)
    assert traced_peak(lambda: pd.factorize(types)) > 6 * codes.nbytes
    assert traced_peak(lambda: duck._numbered(types)) < 4 * codes.nbytes
