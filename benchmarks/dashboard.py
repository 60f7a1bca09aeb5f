"""The dashboard of a large book with a long history: the time from a run's plan to the
written local page (reading the history back, the revenue KPIs by period, targets, the
CSMs' books, the CSV files and index.html), and the page's size.

    python -m benchmarks.dashboard --accounts 100000 --weeks 104

The book is the synthetic one of benchmarks/rules_stage.py (its opportunities given a first
contract and an upsell each, so that the ARR timeline has work to do), scored once; the
history store is then filled with a snapshot and the day's KPI rows for every week back
(`--weeks`), each account's ARR and phase moved a little week to week, written straight into
DuckDB. The target is under 10 s for 100,000 accounts and two years of weekly history, and a
page under 2 MB.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.rules_stage import AS_OF, PeakMemory, signals_config, synthetic_book
from cs_sync.connectors.history_store import HistoryStore
from cs_sync.connectors.output_settings import DashboardConfig, HistoryConfig, KpiTarget
from cs_sync.connectors.transport import CallCounter
from cs_sync.history import RunRecord, snapshot_rows
from cs_sync.publish import history_view, refresh_dashboards
from cs_sync.result import RunResult
from cs_sync.score import compute_plan, day_kpis

STAMP = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # the runs' record (naive UTC)


def with_contracts(opportunities: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """A won first contract two years back and, for a third of the accounts, an upsell won
    within the year, beside each account's open renewal."""
    rng = np.random.default_rng(seed)
    count = len(opportunities)
    first = opportunities.assign(
        opportunity_id=opportunities["opportunity_id"] + "N",
        type="New Business",
        stage="Closed Won",
        close_date=(pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(400, 900, count), "D"))
        .strftime("%Y-%m-%d")
        .to_numpy(),
        amount=opportunities["amount"] * 0.9,
        is_closed=True,
        is_won=True,
    )
    chosen = rng.random(count) < 0.33
    upsell = opportunities[chosen].assign(
        opportunity_id=lambda t: t["opportunity_id"] + "U",
        type="Upsell",
        stage="Closed Won",
        close_date=(
            pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(10, 360, int(chosen.sum())), "D")
        )
        .strftime("%Y-%m-%d")
        .to_numpy(),
        amount=lambda t: t["amount"] * 0.1,
        is_closed=True,
        is_won=True,
    )
    return pd.concat([opportunities, first, upsell], ignore_index=True)


def fill(store: HistoryStore, scored: pd.DataFrame, kpis: pd.DataFrame, weeks: int) -> None:
    """A snapshot and KPI rows for each week back, ARR and phase moved a little each week."""
    rng = np.random.default_rng(5)
    phases = scored["phase"].to_numpy(dtype=object).copy()
    arr = pd.to_numeric(scored["arr"], errors="coerce").fillna(0).to_numpy().copy()
    names = np.unique(phases)
    for back in range(weeks, 0, -1):
        day = AS_OF - timedelta(weeks=back)
        moved = rng.random(len(phases)) < 0.02
        phases[moved] = rng.choice(names, int(moved.sum()))
        arr = arr * np.where(rng.random(len(arr)) < 0.01, 1.1, 1.0)
        frame = scored.assign(phase=phases, arr=arr)
        rows = snapshot_rows(frame, [], "bench", day)
        run = RunRecord(f"b{back}", "backfill", day, STAMP, STAMP, "ok", "bench")
        store.write_date(day, rows, kpis.assign(date=day.isoformat()), run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=104)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cs-sync-dashboard-") as folder:
        measure_in(args, Path(folder))


def measure_in(args: argparse.Namespace, folder: Path) -> None:
    config = signals_config(folder)
    dashboard = DashboardConfig.model_validate(
        {"local_dir": str(folder / "page")}, context={"base": folder}
    ).model_copy(
        update={
            "targets": (
                KpiTarget.model_validate({"metric": "nrr", "at_least": "105%"}),
                KpiTarget.model_validate(
                    {"metric": "logo_churn_rate", "period": "ttm", "at_most": "8%"}
                ),
            )
        }
    )
    history = HistoryConfig.model_validate(
        {"path": str(folder / "h.duckdb")}, context={"base": folder}
    )
    config = config.replace_sections(dashboard=dashboard, history=history)
    book = synthetic_book(args.accounts)
    book.opportunities = with_contracts(book.opportunities)
    started = time.perf_counter()
    plan = compute_plan(book, config, AS_OF)
    scored_s = time.perf_counter() - started
    kpis = day_kpis(plan.scored, config, AS_OF, 0)
    started = time.perf_counter()
    with HistoryStore(history.path) as store:
        fill(store, plan.scored, kpis, args.weeks)
        store.write_date(
            AS_OF,
            snapshot_rows(plan.scored, [], "bench", AS_OF),
            kpis,
            RunRecord("today", "run", AS_OF, STAMP, STAMP, "ok", "bench"),
        )
        store.db.execute("CHECKPOINT")  # as a daily run finds it: the log folded in
    filled_s = time.perf_counter() - started
    result = RunResult(status="ok", as_of=AS_OF, dry_run=False)
    result.plan = plan
    with PeakMemory() as memory:
        started = time.perf_counter()
        with HistoryStore(history.path) as store:
            view = history_view(store, config, plan, AS_OF)
        read_s = time.perf_counter() - started
        refresh_dashboards(config, result, kpis, view, CallCounter())
        total_s = time.perf_counter() - started
    page = Path(str(result.dashboard))
    files = {p.name: p.stat().st_size for p in page.parent.iterdir()}
    print(
        f"{args.accounts:,} accounts, {args.weeks} weekly snapshots "
        f"({args.accounts * (args.weeks + 1):,} history rows; scored in {scored_s:.1f} s, "
        f"history written in {filled_s:.0f} s)"
    )
    print(
        f"dashboard: {total_s:.2f} s (history read back and KPIs by period {read_s:.2f} s, "
        f"tables and files {total_s - read_s:.2f} s); peak memory {memory.peak / 1024**3:.2f} GiB"
    )
    print(
        f"index.html {files['index.html'] / 1024**2:.2f} MB; "
        + ", ".join(
            f"{n} {s / 1024**2:.1f} MB" for n, s in sorted(files.items()) if n != "index.html"
        )
    )
    errors = [e.message for e in result.errors]
    assert not errors, errors
    print(f"(as of {AS_OF})")


if __name__ == "__main__":
    main()
