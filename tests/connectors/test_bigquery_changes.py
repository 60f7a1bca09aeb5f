"""The BigQuery history store sends only what changed (connectors/bigquery_record.py): nothing
for a table whose rows are the same, the changed rows through one MERGE otherwise, the whole
table when it was changed by anyone else or the change is large; what the tables hold after
each write is exactly what a whole write gives, with BigQuery's SQL executed on DuckDB
(tests/bigquery_standin.py)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("google.cloud.bigquery")
pytest.importorskip("sqlglot")

from cs_sync.connectors.bigquery_history import BigQueryHistory  # noqa: E402
from cs_sync.connectors.history_store import HistoryStore  # noqa: E402
from cs_sync.connectors.output_settings import HistoryConfig  # noqa: E402
from cs_sync.history import RunRecord, snapshot_rows  # noqa: E402
from cs_sync.publish import DASHBOARD_KINDS  # noqa: E402
from tests.bigquery_standin import DuckBigQuery  # noqa: E402
from tests.connectors.test_bigquery_parity import normal  # noqa: E402

DAY = date(2026, 11, 24)
SETTINGS = HistoryConfig(path=None, backend="bigquery", project="acme-cs", dataset="cs_sync")
HISTORY = "acme-cs.cs_sync.account_history"
RUNS = "acme-cs.cs_sync.runs"


def book(size: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [f"001A{n:011d}AAA" for n in range(size)],
            "name": [f"会社 {n}" for n in range(size)],
            "segment": rng.choice(["High Touch", "Low Touch", None], size),
            "arr": rng.integers(1, 100, size) * 1000.0,
            "score": rng.uniform(0, 100, size).round(1),
            "grade": rng.choice(["A", "B", "C", "D"], size),
            "phase": rng.choice(["Onboarding", "Adoption", None], size),
            "phase_delayed": rng.random(size) < 0.2,
            "renewal_date": pd.Timestamp("2027-01-23"),
            "active_ratio": rng.uniform(0, 1, size),
        }
    )


def edited(scored: pd.DataFrame, rng: np.random.Generator, share: float) -> pd.DataFrame:
    """Some scores and grades changed, a few accounts gone and a few new."""
    out = scored.copy()
    picked = rng.random(len(out)) < share
    out.loc[picked, "score"] = rng.uniform(0, 100, int(picked.sum())).round(1)
    out.loc[picked, "grade"] = rng.choice(["A", "B", "C", "D"], int(picked.sum()))
    out = out.drop(index=out.index[rng.random(len(out)) < share / 4])
    fresh = book(3, rng).assign(account_id=[f"001B{rng.integers(10**10):011d}AAA" for _ in "abc"])
    return pd.concat([out, fresh], ignore_index=True)


def write(store: object, scored: pd.DataFrame, day: date = DAY) -> None:
    rows = snapshot_rows(scored, ["active_ratio"], "cfg", day)
    kpis = pd.DataFrame({"date": [day], "metric": ["accounts"], "dimension": [""], "value": [1.0]})
    at = datetime(day.year, day.month, day.day, 7)
    run = RunRecord("r", "run", day, at, at, "ok", "cfg")
    store.write_date(day, rows, kpis, run)  # type: ignore[attr-defined]


def sent(client: DuckBigQuery, since: int) -> list[str]:
    return client.loads[since:]


def recorded(
    tmp_path: Path, seed: int
) -> tuple[np.random.Generator, DuckBigQuery, BigQueryHistory]:
    """A random stream, the BigQuery stand-in, and a store keeping its record in a local copy."""
    client = DuckBigQuery()
    store = BigQueryHistory(SETTINGS, client, record=tmp_path / "copy.duckdb")
    return np.random.default_rng(seed), client, store


def test_each_write_sends_only_what_changed_and_leaves_what_a_whole_write_would(
    tmp_path: Path,
) -> None:
    rng, client, remote = recorded(tmp_path, 5)
    local = HistoryStore(tmp_path / "history.duckdb")
    scored = book(300, rng)
    write(remote, scored)
    assert remote.sent["account_history"] == "whole"  # nothing recorded yet
    loads, inserts = len(client.loads), len(client.inserts)
    remote = BigQueryHistory(SETTINGS, client, record=tmp_path / "copy.duckdb")  # next run
    write(remote, scored)  # the same rows again
    assert remote.sent["account_history"] == "unchanged"
    assert sent(client, loads) == [RUNS]  # the day's KPIs unchanged too
    assert client.inserts[inserts:] == [RUNS]  # tables.insert only for the table appended to
    for _ in range(12):
        scored = edited(scored, rng, 0.03)
        loads, queries = len(client.loads), len(client.queries)
        write(remote, scored)
        write(local, scored)
        assert remote.sent["account_history"].startswith("merge: "), remote.sent
        assert sent(client, loads)[0] == "acme-cs.cs_sync.account_history_changes"
        assert sum(q.startswith("MERGE") for q in client.queries[queries:]) == 1
        pd.testing.assert_frame_equal(
            normal(remote.snapshot(DAY)), normal(local.snapshot(DAY)), check_dtype=False
        )
    merge = next(q for q in client.queries if q.startswith("MERGE"))
    assert "@day" in merge and str(DAY) not in merge  # parameterised, pruned to the day
    local.close()


def test_a_table_changed_by_anyone_else_or_changed_much_is_loaded_whole(tmp_path: Path) -> None:
    rng, client, remote = recorded(tmp_path, 8)
    scored = book(200, rng)
    write(remote, scored)
    client.changed(HISTORY)  # e.g. a backfill on another machine
    scored = edited(scored, rng, 0.02)
    write(remote, scored)
    assert remote.sent["account_history"] == "whole"
    scored = edited(scored, rng, 0.6)  # most rows changed: one load is cheaper
    write(remote, scored)
    assert remote.sent["account_history"] == "whole"
    assert sorted(remote.snapshot(DAY)["account_id"]) == sorted(scored["account_id"])
    fresh = BigQueryHistory(SETTINGS, client)  # no record: every write whole
    write(fresh, scored)
    assert fresh.sent["account_history"] == "whole"


def test_a_new_day_and_a_lost_record_load_whole(tmp_path: Path) -> None:
    rng, client, remote = recorded(tmp_path, 9)
    scored = book(100, rng)
    write(remote, scored)
    write(remote, scored, date(2026, 11, 25))  # the next day's partition: nothing recorded
    assert remote.sent["account_history"] == "whole"
    assert len(remote.snapshot(DAY)) == len(remote.snapshot(date(2026, 11, 25))) == 100
    (tmp_path / "copy.duckdb").unlink()  # the local copy deleted
    write(remote, edited(scored, rng, 0.02), date(2026, 11, 25))
    assert remote.sent["account_history"] == "whole"


def test_dashboard_tables_are_sent_when_they_changed_and_by_their_changed_rows(
    tmp_path: Path,
) -> None:
    rng, client, remote = recorded(tmp_path, 4)
    accounts = book(400, rng)
    periods = pd.DataFrame({"period": ["2026-10"], "metric": ["nrr"], "value": [1.02]})
    remote.publish_tables({"accounts": accounts, "kpi_periods": periods}, DASHBOARD_KINDS)
    loads = len(client.loads)
    remote.publish_tables({"accounts": accounts, "kpi_periods": periods}, DASHBOARD_KINDS)
    assert sent(client, loads) == [] and set(remote.sent.values()) == {"unchanged"}
    changed = edited(accounts, rng, 0.02)
    remote.publish_tables(
        {"accounts": changed, "kpi_periods": periods.assign(value=1.03)}, DASHBOARD_KINDS
    )
    assert remote.sent["accounts"].startswith("merge: ") and remote.sent["kpi_periods"] == "whole"
    held = client.db.execute('SELECT * FROM "acme-cs"."cs_sync"."accounts"').df()
    expected = changed.assign(renewal_date=changed["renewal_date"].dt.date)
    pd.testing.assert_frame_equal(
        normal(held.sort_values("account_id")),
        normal(expected.sort_values("account_id")),
        check_dtype=False,
    )
    # a column more (another configuration): the table is loaded whole with its new columns
    remote.publish_tables({"accounts": changed.assign(extra=1.0)}, {"accounts": {}})
    assert remote.sent["accounts"] == "whole"


def per_value(values: list[object], kind: str) -> list[object]:
    """The per-value rule the column-wise encoding must match (what a load always sent)."""
    import math

    def missing(v: object) -> bool:  # None, NaN, NA, NaT
        return bool(pd.isna(v))

    if kind in ("FLOAT64", "INT64"):
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        cast = int if kind == "INT64" else float
        return [cast(v) if math.isfinite(v) else None for v in numbers]
    if kind in ("DATE", "TIMESTAMP"):
        stamps = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="mixed")
        shape = "%Y-%m-%d" if kind == "DATE" else "%Y-%m-%d %H:%M:%S.%f"
        return [None if pd.isna(v) else v.strftime(shape) for v in stamps]
    if kind == "BOOL":
        return [None if missing(v) else bool(v) for v in values]
    return [None if missing(v) else str(v) for v in values]


def test_rows_are_encoded_a_column_at_a_time_exactly_as_row_by_row() -> None:
    import json

    from cs_sync.connectors.bigquery_rows import json_columns, json_lines, key_texts

    rng = np.random.default_rng(12)
    size = 500
    pool = {
        "FLOAT64": [0.1 + 0.2, 1e-7, -0.0, 3.0, 1e300, np.nan, None, np.inf, "12.5", "x", pd.NA],
        "INT64": [0, 7, 2**40, -3.0, None, np.nan, "8"],
        "DATE": ["2026-11-24", pd.Timestamp("2027-01-31"), None, pd.NaT, "2026-02-03T10:00:00"],
        "TIMESTAMP": [pd.Timestamp("2026-11-24 07:05:01.25"), "2026-11-24 07:00:00", None],
        "BOOL": [True, False, None, np.nan, 1, 0, np.True_],
        "STRING": ["アルファ", 'say "hi"\\n', "", None, np.nan, 12, 1.5, True, "\u2028", pd.NaT],
    }
    frame = pd.DataFrame(
        {kind: [pool[kind][i] for i in rng.integers(0, len(pool[kind]), size)] for kind in pool},
        dtype=object,
    )
    types = {kind: kind for kind in pool}
    columns = json_columns(frame, types)
    expected = {kind: per_value(frame[kind].tolist(), kind) for kind in pool}
    for n, line in enumerate(json_lines(columns)):
        row = {kind: expected[kind][n] for kind in pool}
        assert line == json.dumps(row, ensure_ascii=False, allow_nan=False)
    keys = key_texts(columns, ("STRING",))
    assert keys is None  # a missing key value: no key
    clean = pd.DataFrame({"id": ["a", 'b"'], "n": [1, 2.0]}, dtype=object)
    keyed = json_columns(clean, {"id": "STRING", "n": "INT64"})
    assert key_texts(keyed, ("id", "n")) == ['["a", 1]', '["b\\"", 2]']


def test_a_changed_row_is_found_whatever_its_hashes() -> None:
    """Hashes that differ only in their lowest bits (equal as 64-bit floats) still differ."""
    from cs_sync.connectors.bigquery_record import Rows, changes

    held = pd.Series(np.array([2**62, 5], dtype=np.int64), index=pd.Index(['["a"]', '["b"]']))
    now = Rows(['["a"]', '["c"]'], np.array([2**62 + 1, 7], dtype=np.int64))
    found = changes(held, now)
    assert found.upsert.tolist() == [0, 1] and found.gone == ['["b"]']


def test_a_table_whose_metadata_cannot_say_it_changed_is_loaded_whole(tmp_path: Path) -> None:
    """Rows in a table's streaming buffer (someone else streams into it) leave its last
    modification unreliable: the record is not trusted and every write is whole."""

    class Streaming(DuckBigQuery):
        def get_table(self, name: str, **options: object) -> object:
            found = super().get_table(name, **options)
            found._properties["streamingBuffer"] = {"estimatedRows": "3"}
            return found

    client = Streaming()
    remote = BigQueryHistory(SETTINGS, client, record=tmp_path / "copy.duckdb")
    scored = book(50, np.random.default_rng(2))
    write(remote, scored)
    write(remote, scored)
    assert remote.sent["account_history"] == "whole"
