"""How one sync scales with the size of the book: time, peak memory and Salesforce API calls.

Seeds a sandbox per size, runs a first sync (everything changes) and a second one (nothing
changes) through the real connector code over HTTP, and prints one row per size. Figures are
also given as ratios to the smallest size, which survive a noisy shared machine better.

    .venv/bin/python benchmarks/run_scale.py --sizes 500 2000 5000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from cs_sync.config import load_config
from cs_sync.demo import prepare_demo
from cs_sync.pipeline import run_once
from cs_sync.sandbox.server import Sandbox

AS_OF = date(2026, 11, 24)


def measure(accounts: int, folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    demo = prepare_demo(folder, accounts, AS_OF)
    seeded = time.perf_counter() - started
    config = load_config(demo.config_path)
    with Sandbox(demo.database, port=demo.port):
        started = time.perf_counter()
        first = run_once(config, AS_OF, dry_run=False)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = run_once(config, AS_OF, dry_run=False)
        second_s = time.perf_counter() - started
    assert second.fields_written == 0 and second.tasks_created == 0
    return {
        "accounts": accounts,
        "scored": first.accounts_read,
        "seed_s": seeded,
        "first_s": first_s,
        "first_calls": first.salesforce_api_calls,
        "fields": first.fields_written,
        "second_s": second_s,
        "second_calls": second.salesforce_api_calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        for size in args.sizes:
            rows.append(measure(size, Path(temporary) / str(size)))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base = rows[0]
    print(
        f"{'accounts':>8} {'scored':>6} {'seed s':>7} {'1st run s':>9} {'1st calls':>9} "
        f"{'fields':>7} {'2nd run s':>9} {'2nd calls':>9} {'1st s/acct ratio':>16}"
    )
    for row in rows:
        per_account = (row["first_s"] / row["scored"]) / (base["first_s"] / base["scored"])
        print(
            f"{row['accounts']:>8} {row['scored']:>6} {row['seed_s']:>7.2f} "
            f"{row['first_s']:>9.2f} {row['first_calls']:>9} {row['fields']:>7} "
            f"{row['second_s']:>9.2f} {row['second_calls']:>9} {per_account:>16.2f}"
        )
    print(f"peak RSS of the whole process (sandbox included): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
