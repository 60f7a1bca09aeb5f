"""The BigQuery history store answers as the DuckDB store does: the same writes, then every
read compared, with BigQuery's SQL executed (tests/bigquery_standin.py) rather than answered
from recorded responses."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("google.cloud.bigquery")
pytest.importorskip("sqlglot")

from cs_sync.connectors.bigquery_history import BigQueryHistory  # noqa: E402
from cs_sync.connectors.history_store import HistoryStore  # noqa: E402
from cs_sync.connectors.output_settings import HistoryConfig  # noqa: E402
from cs_sync.history import RunRecord, snapshot_rows  # noqa: E402
from tests.bigquery_standin import DuckBigQuery  # noqa: E402

DAYS = [date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24)]
SETTINGS = HistoryConfig(path=None, backend="bigquery", project="acme-cs", dataset="cs_sync")


def scored(day: date) -> pd.DataFrame:
    n = day.day
    return pd.DataFrame(
        {
            "account_id": ["001A", "001B"],
            "name": ["アルファ", '=HYPERLINK("x")'],
            "segment": ["High Touch", None],
            "owner_id": ["005A", "005B"],
            "arr": [1_200_000.0, None],
            "seats": [100.0, 8.0],
            "score": [0.1 + 0.2 + n, None],
            "grade": ["A", "D"],
            "computed_grade": ["A", "D"],
            "trend": ["Up", "New"],
            "reasons": ["ok", "low"],
            "coverage": [1.0, 0.5],
            # 001A: no phase on the 23rd; 001B: moves up on the 23rd
            "phase": [None if n == 23 else "Adoption", "Onboarding" if n < 23 else "Adoption"],
            "phase_delayed": [False, True],
            "phase_change": [None, "down"],
            "renewal_strategy": ["keep", None],
            "next_action": [None, "call"],
            "next_action_date": [None, pd.Timestamp(day) + pd.Timedelta(days=7)],
            "renewal_date": [pd.Timestamp("2027-01-23"), None],
            "days_to_renewal": [60.0, None],
            "active_ratio": [0.5, None],
        }
    )


def fill(store: object) -> None:
    for index, day in enumerate(DAYS):
        rows = snapshot_rows(scored(day), ["active_ratio"], "cfg", day)
        kpis = pd.DataFrame(
            {
                "date": [day.isoformat()] * 2,
                "metric": ["accounts", "arr"],
                "dimension": ["all", "all"],
                "value": [2.0, 1.2e6 + index],
            }
        )
        run = RunRecord(
            f"r{index}",
            "run",
            day,
            datetime(2026, 11, day.day, 7),
            datetime(2026, 11, day.day, 7, 5),
            "ok",
            "cfg",
            accounts=2,
        )
        sponsors = pd.DataFrame(
            {
                "as_of": [day.isoformat()],
                "account_id": ["001A"],
                "role": ["economic_buyer"],
                "contact_id": [f"003{index}"],
                "contact_name": [f"山田 {index}"],
            }
        )
        # the last date keeps no sponsors (a backfilled date): the latest before it is read
        sponsors = sponsors if index < 2 else None
        store.write_date(day, rows, kpis, run, sponsors)  # type: ignore[attr-defined]
    # a run's final word, and a backfill checkpoint
    store.record_run(
        RunRecord(
            "r2",
            "run",
            DAYS[2],
            datetime(2026, 11, 24, 7),  # type: ignore[attr-defined]
            datetime(2026, 11, 24, 7, 9),
            "partial",
            "cfg",
            accounts=2,
        )
    )
    # an alert queued then sent, one queued and left, one for another channel
    alert = {
        "event": "grade_drop",
        "account_id": "001A",
        "run_id": "r2",
        "title": "t",
        "text": "本文",
    }
    log = pd.DataFrame(
        [
            {
                **alert,
                "as_of": DAYS[1],
                "key": "grade_drop:001A:C",
                "channel": "feeds",
                "state": "queued",
                "logged_at": datetime(2026, 11, 23, 7, 1),
            },
            {
                **alert,
                "as_of": DAYS[1],
                "key": "grade_drop:001A:C",
                "channel": "feeds",
                "state": "sent",
                "logged_at": datetime(2026, 11, 23, 7, 2),
            },
            {
                **alert,
                "as_of": DAYS[1],
                "key": "grade_drop:001A:C",
                "channel": "team",
                "state": "queued",
                "logged_at": datetime(2026, 11, 23, 7, 1),
            },
            {
                **alert,
                "as_of": DAYS[0],
                "key": "grade_drop:001B:D",
                "channel": "feeds",
                "state": "queued",
                "logged_at": datetime(2026, 11, 22, 7, 1),
            },
        ]
    )
    store.record_alerts(log.iloc[:1])  # type: ignore[attr-defined]
    store.record_alerts(log.iloc[1:])  # type: ignore[attr-defined]
    store.record_run(
        RunRecord(
            "b1",
            "backfill",
            date(2026, 10, 1),
            datetime(2026, 11, 24, 8),  # type: ignore[attr-defined]
            datetime(2026, 11, 24, 8),
            "ok",
            "cfg",
        )
    )


def normal(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    for column in out.columns:
        if column in ("as_of", "date", "next_action_date", "renewal_date", "phase_since"):
            out[column] = pd.to_datetime(out[column]).dt.date
        elif column in ("started_at", "finished_at", "logged_at"):
            out[column] = pd.to_datetime(out[column])
        else:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out.sort_values(list(out.columns[:2])).reset_index(drop=True)


def test_both_stores_give_the_same_answers(tmp_path: Path) -> None:
    local = HistoryStore(tmp_path / "h.duckdb")
    remote = BigQueryHistory(SETTINGS, DuckBigQuery())
    for store in (local, remote):
        assert store.dates() == [] and store.runs().empty  # no table yet: no history
        fill(store)
    assert remote.dates() == local.dates() == DAYS
    for read in (
        lambda s: s.snapshot(DAYS[1]),
        lambda s: s.latest_before(DAYS[2]),
        lambda s: s.series([DAYS[0], DAYS[2]]),
        lambda s: s.kpis(DAYS[1]),
        lambda s: s.runs(),
        lambda s: s.sponsors_before(DAYS[2] + timedelta(days=1)),
        lambda s: s.phase_since(DAYS[2]),
        lambda s: s.phase_since(DAYS[0]),
        lambda s: s.phase_since(DAYS[2] + timedelta(days=5)),  # the latest snapshot by then
        lambda s: s.alert_log(DAYS[0]),
        lambda s: s.alert_log(DAYS[1]),
    ):
        pd.testing.assert_frame_equal(
            normal(read(remote)), normal(read(local)), check_dtype=False, check_like=True
        )
    assert remote.run_dates() == local.run_dates() == set(DAYS)
    assert remote.backfilled("cfg") == local.backfilled("cfg") == {date(2026, 10, 1)}
    assert remote.snapshot(DAYS[2])["score"].iloc[0] == 0.1 + 0.2 + 24  # every digit kept
    assert remote.runs().set_index("run_id").loc["r2", "status"] == "partial"
    assert remote.sponsors_before(DAYS[2])["contact_name"].tolist() == ["山田 1"]
    assert remote.sponsors_before(DAYS[0]).empty
    latest = remote.alert_log(DAYS[0]).set_index(["key", "channel"])["state"].to_dict()
    assert latest == {
        ("grade_drop:001A:C", "feeds"): "sent",
        ("grade_drop:001A:C", "team"): "queued",
        ("grade_drop:001B:D", "feeds"): "queued",
    }
    assert len(remote.alert_log(DAYS[1])) == 2  # queued on or after the date
    since = remote.phase_since(DAYS[2]).set_index("account_id")["phase_since"]
    assert [pd.Timestamp(d).date() for d in since] == [DAYS[2], DAYS[1]]  # after the break
    local.close()


def test_rewriting_a_date_replaces_its_partition() -> None:
    remote = BigQueryHistory(SETTINGS, DuckBigQuery())
    fill(remote)
    fill(remote)  # the same dates again: replaced, never added
    assert len(remote.snapshot(DAYS[0])) == 2
    assert len(remote.kpis()) == 6
