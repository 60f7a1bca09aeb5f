"""The BigQuery history store's writes for a large book: load jobs, MERGE statements, bytes
sent and seconds for a date's first run, an unchanged run and a run after 1% of the accounts
changed (sent as changed rows through one MERGE, by the local record of what the tables hold).

    python -m benchmarks.bigquery_writes --accounts 100000

The rows are the snapshot a run writes (account_history: one row an account, with its measures
as JSON) and the dashboard's accounts table, written through google-cloud-bigquery's client
API to the tests' BigQuery stand-in (tests/bigquery_standin.py: DuckDB runs the loads and the
SQL, so its own seconds are part of the figures; no HTTP). Every load's body is measured as it
would be sent; `gets` counts the tables.get calls that read a table's last modification.
Target (issue 19): a 1%-changed run well under 5 MB, an unchanged one nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cs_sync.connectors.bigquery_history import BigQueryHistory
from cs_sync.connectors.output_settings import HistoryConfig
from cs_sync.history import RunRecord, snapshot_rows
from cs_sync.publish import DASHBOARD_KINDS
from tests.bigquery_standin import DuckBigQuery

AS_OF = date(2026, 11, 24)
SETTINGS = HistoryConfig(path=None, backend="bigquery", project="acme-cs", dataset="cs_sync")
REASONS = (
    "B (68): 利用率 55%(目標 80%)−12点",
    "A (91): 全指標が目標水準",
    "C (44): ログイン数 前3か月比 -30% −18点",
)


class Counted(DuckBigQuery):
    """The stand-in, counting each load's bytes and each statement."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.looks = 0  # tables.get

    def get_table(self, name: str, **options: Any) -> Any:
        self.looks += 1
        return super().get_table(name, **options)

    def load_table_from_file(
        self, file: Any, destination: str, job_config: Any, **options: Any
    ) -> Any:
        body = file.read()
        self.sent += len(body)
        import io

        return super().load_table_from_file(io.BytesIO(body), destination, job_config, **options)


def scored(accounts: int, rng: np.random.Generator) -> pd.DataFrame:
    score = rng.uniform(0, 100, accounts).round(1)
    return pd.DataFrame(
        {
            "account_id": [f"0015g{i:013d}" for i in range(accounts)],
            "name": [f"株式会社サンプル{i}商事" for i in range(accounts)],
            "segment": rng.choice(["High Touch", "Low Touch", "Tech Touch"], accounts),
            "owner_id": "005000000000001AAA",
            "arr": rng.integers(100, 5000, accounts) * 1000.0,
            "seats": rng.integers(5, 500, accounts).astype(float),
            "score": score,
            "grade": np.select([score >= 80, score >= 60, score >= 40], ["A", "B", "C"], "D"),
            "computed_grade": np.select(
                [score >= 80, score >= 60, score >= 40], ["A", "B", "C"], "D"
            ),
            "trend": "Flat",
            "reasons": rng.choice(REASONS, accounts),
            "coverage": 1.0,
            "phase": rng.choice(["オンボーディング", "活用", "更新準備"], accounts),
            "phase_delayed": rng.random(accounts) < 0.1,
            "renewal_strategy": rng.choice(["keep", "expand", None], accounts),
            "renewal_date": pd.Timestamp("2027-03-31"),
            "days_to_renewal": 127.0,
            "active_ratio": rng.uniform(0, 1, accounts).round(3),
            "login_trend": rng.uniform(0.5, 1.5, accounts).round(3),
        }
    )


def changed(frame: pd.DataFrame, share: float, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    picked = rng.random(len(out)) < share
    out.loc[picked, "score"] = (out.loc[picked, "score"] + 7.5).clip(upper=100).round(1)
    out.loc[picked, "reasons"] = REASONS[0]
    return out


def write(store: BigQueryHistory, frame: pd.DataFrame) -> None:
    from cs_sync.publish import DASHBOARD_COLUMNS

    rows = snapshot_rows(frame, ["active_ratio", "login_trend"], "cfg", AS_OF)
    kpis = pd.DataFrame(
        {
            "date": [AS_OF] * 3,
            "metric": ["accounts", "arr", "nrr"],
            "dimension": "all",
            "value": [float(len(frame)), float(frame["arr"].sum()), 1.02],
        }
    )
    at = datetime(2026, 11, 24, 7, tzinfo=UTC)
    store.write_date(AS_OF, rows, kpis, RunRecord("r", "run", AS_OF, at, at, "ok", "cfg"))
    dashboard = frame[[c for c in DASHBOARD_COLUMNS if c in frame.columns]]
    store.publish_tables({"accounts": dashboard}, DASHBOARD_KINDS)


def measure(accounts: int) -> None:
    rng = np.random.default_rng(7)
    book = scored(accounts, rng)
    runs = [("first (whole)", book), ("unchanged", book)]
    runs.append(("1% changed", changed(book, 0.01, rng)))
    with tempfile.TemporaryDirectory() as folder:
        for label, record in (("with the record", Path(folder) / "copy.duckdb"), ("without", None)):
            client = Counted()
            store = BigQueryHistory(SETTINGS, client, record=record)
            print(f"{accounts:,} accounts, {label}:")
            print(
                f"  {'run':<15}{'loads':>6}{'MERGE':>6}{'gets':>5}{'MB sent':>9}{'seconds':>9}"
                "  account_history / accounts"
            )
            for name, frame in runs:
                loads, queries, sent = len(client.loads), len(client.queries), client.sent
                looks = client.looks
                started = time.perf_counter()
                write(store, frame)
                seconds = time.perf_counter() - started
                merges = sum(q.startswith("MERGE") for q in client.queries[queries:])
                print(
                    f"  {name:<15}{len(client.loads) - loads:>6}{merges:>6}"
                    f"{client.looks - looks:>5}"
                    f"{(client.sent - sent) / 1e6:>9.2f}{seconds:>9.1f}  "
                    f"{store.sent.get('account_history', '-')} / {store.sent.get('accounts', '-')}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    measure(parser.parse_args().accounts)


if __name__ == "__main__":
    main()
