"""Usage at scale: 100,000 accounts x 12 months (1,200,000 rows) from a CSV file into features.

    python -m benchmarks.usage_scale [--accounts 100000] [--months 12]

Writes the CSV (ids as Salesforce would give them, 15 characters), then times, in one
process: reading and checking it (connectors/usage_csv.py, 200,000 rows at a time, and
connectors/usage_checks.py: every id normalised to 18
characters, every month and number checked, duplicates looked for), joining it to the
accounts, and building the features (rules/features.py). Resident memory is sampled every
5 ms during those steps; the last line compares each step's time per row with a run at a
tenth of the size, in the same process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.rules_stage import ROOT, PeakMemory, _rss, synthetic_book
from cs_sync.config import load_config
from cs_sync.connectors.usage_csv import read_usage_csv
from cs_sync.extract import join_usage
from cs_sync.score import account_features

AS_OF = date(2026, 11, 24)


def write_csv(path: Path, accounts: int, months: int) -> int:
    rng = np.random.default_rng(11)
    ids = np.array([f"001{n:012d}"[:15] for n in range(accounts)], dtype=object)
    periods = pd.period_range(end="2026-10", periods=months, freq="M").strftime("%Y-%m")
    rows = accounts * months
    seats = np.repeat(rng.integers(5, 500, accounts), months)
    active = (seats * rng.uniform(0.2, 1.0, rows)).astype(int)
    frame = pd.DataFrame(
        {
            "account_id": np.repeat(ids, months),
            "month": np.tile(periods, accounts),
            "seats": seats,
            "active_users": active,
            "logins": active * 9,
            "payslips_sent": active,
            "year_end_adjustments": 0,
            "surveys_run": rng.integers(0, 3, rows),
        }
    )
    frame.to_csv(path, index=False)
    return rows


def measure(accounts: int, months: int, folder: Path) -> dict[str, float]:
    path = folder / f"usage_{accounts}.csv"
    rows = write_csv(path, accounts, months)
    config = load_config(ROOT / "config.example.toml")
    book = synthetic_book(accounts)
    # the book's ids, as the usage file writes them (15 characters): they must match
    before = _rss()
    with PeakMemory() as memory:
        started = time.perf_counter()
        table = read_usage_csv(path, AS_OF, "salesforce_id", "skip")
        read_s = time.perf_counter() - started
        mark = time.perf_counter()
        usage, _ = join_usage(book.accounts, table.frame, "salesforce_id", "bench", AS_OF)
        join_s = time.perf_counter() - mark
        mark = time.perf_counter()
        features = account_features(replace(book, usage=usage), config, AS_OF)
        features_s = time.perf_counter() - mark
    assert len(table.problems) == 0 and len(usage) == rows, (len(table.problems), len(usage))
    assert features["active_ratio"].notna().all()
    return {
        "rows": rows,
        "mib": path.stat().st_size / 1024**2,
        "read_s": read_s,
        "join_s": join_s,
        "features_s": features_s,
        "total_s": read_s + join_s + features_s,
        "before_gib": before / 1024**3,
        "peak_gib": memory.peak / 1024**3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cs-sync-usage-") as folder:
        report(args, Path(folder))


def report(args: argparse.Namespace, folder: Path) -> None:
    small = measure(max(args.accounts // 10, 100), args.months, folder)
    large = measure(args.accounts, args.months, folder)
    for result in (small, large):
        print(
            f"{int(result['rows']):>9,} usage rows ({result['mib']:.0f} MiB CSV): read and check "
            f"{result['read_s']:.2f} s · join {result['join_s']:.2f} s · features "
            f"{result['features_s']:.2f} s · total {result['total_s']:.2f} s; memory "
            f"{result['before_gib']:.2f} GiB before, peak {result['peak_gib']:.2f} GiB "
            f"(+{result['peak_gib'] - result['before_gib']:.2f} GiB)"
        )
    ratio = (large["total_s"] / large["rows"]) / (small["total_s"] / small["rows"])
    print(f"time per row, {int(large['rows']):,} vs {int(small['rows']):,} rows: {ratio:.2f}x")


if __name__ == "__main__":
    main()
