"""How one sync scales with the size of the book: time, peak memory and Salesforce API calls.

Seeds a sandbox per size, runs a first sync (everything changes) and a second one (nothing
changes) through the real connector code over HTTP, and prints one row per size. Figures are
also given as ratios to the smallest size, which survive a noisy shared machine better.

    .venv/bin/python -m benchmarks.run_scale --sizes 500 2000 5000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

from benchmarks.book import run_twice


def measure(accounts: int, folder: Path) -> dict[str, float]:
    runs = run_twice(accounts, folder)
    first, second = runs.first, runs.second
    first_s, second_s, seeded = runs.first_s, runs.second_s, runs.seed_s
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
