"""Backfill at scale: N weekly dates × M accounts into the history store.

    python -m benchmarks.backfill --accounts 10000 --dates 52

The book is generated in memory (the same synthetic book as benchmarks/rules_stage.py,
shaped as `extract` returns it), so the figures are the backfill's own work: for each date,
the as-of view of the records, the full rules stage, the history rows, the KPI rows and one
DuckDB transaction. Salesforce is read once before the loop and is timed by
benchmarks/run_scale.py. Resident memory is sampled every 5 ms. To read the figures on a
shared machine, compare within the run: the time per date over the whole backfill against the
first date's, and the split between scoring and writing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.rules_stage import ROOT, PeakMemory, _rss, synthetic_book
from cs_sync import backfill as backfill_module
from cs_sync.backfill import BackfillResult, fill_history
from cs_sync.config import load_config
from cs_sync.connectors.history_store import HistoryStore
from cs_sync.connectors.output_settings import HistoryConfig

UNTIL = date(2026, 11, 23)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--dates", type=int, default=52)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cs-sync-backfill-") as folder:
        measure_in(args, Path(folder))


def measure_in(args: argparse.Namespace, folder: Path) -> None:
    book = synthetic_book(args.accounts)
    dates = [UNTIL - timedelta(weeks=k) for k in range(args.dates)][::-1]
    config = load_config(ROOT / "config.example.toml").replace_sections(
        history=HistoryConfig(path=folder / "history.duckdb")
    )

    spent = {"score": 0.0, "write": 0.0}
    score, write = backfill_module.score_accounts, HistoryStore.write_date

    def timed_score(*a, **k):  # type: ignore[no-untyped-def]
        mark = time.perf_counter()
        try:
            return score(*a, **k)
        finally:
            spent["score"] += time.perf_counter() - mark

    def timed_write(self, *a, **k):  # type: ignore[no-untyped-def]
        mark = time.perf_counter()
        try:
            return write(self, *a, **k)
        finally:
            spent["write"] += time.perf_counter() - mark

    backfill_module.score_accounts = timed_score  # type: ignore[assignment]
    HistoryStore.write_date = timed_write  # type: ignore[method-assign]
    before = _rss()
    result = BackfillResult(status="ok", dates=len(dates))
    with HistoryStore(config.history.path) as store:  # type: ignore[arg-type]
        started = time.perf_counter()
        fill_history(store, config, book, dates[:1], result, False, False, lambda: False)
        first_s = time.perf_counter() - started
        with PeakMemory() as memory:
            started = time.perf_counter()
            fill_history(store, config, book, dates, result, False, False, lambda: False)
            total_s = time.perf_counter() - started
        rows = store.db.execute("SELECT count(*) FROM account_history").fetchone()[0]
    size_mib = config.history.path.stat().st_size / 1024**2  # type: ignore[union-attr]
    per_date = total_s / max(result.dates_written - 1, 1)
    print(
        f"backfill {args.dates} weekly dates x {args.accounts:,} accounts "
        f"({len(book.usage):,} usage rows): {total_s:.1f} s, {per_date:.2f} s a date"
    )
    print(
        f"  per date: scoring {spent['score'] / result.dates_written:.2f} s, "
        f"history write {spent['write'] / result.dates_written:.2f} s; "
        f"time per date over the whole run vs the first date alone: {per_date / first_s:.2f}x"
    )
    print(
        f"  history: {rows:,} account rows, {size_mib:.0f} MiB on disk; memory "
        f"{before / 1024**3:.2f} GiB with the inputs, peak {memory.peak / 1024**3:.2f} GiB "
        f"(+{(memory.peak - before) / 1024**3:.2f} GiB)"
    )


if __name__ == "__main__":
    main()
