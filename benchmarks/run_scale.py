"""How one sync scales with the size of the book: time, peak memory and Salesforce API calls.

Seeds a sandbox per size, runs a first sync (everything changes), its rerun (reads back what
the first wrote), an unchanged one and one after 1% of the accounts changed, through the real
connector code over HTTP, and prints one row per size. Figures are
also given as ratios to the smallest size, which survive a noisy shared machine better.

    .venv/bin/python -m benchmarks.run_scale --sizes 500 2000 5000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

from benchmarks.book import run_book


def measure(accounts: int, folder: Path) -> dict[str, float]:
    book = run_book(accounts, folder)
    first, second, unchanged, changed = book.runs
    return {
        "accounts": accounts,
        "scored": first.result.accounts_read,
        "seed_s": book.seed_s,
        "first_s": first.seconds,
        "first_calls": first.result.salesforce_api_calls,
        "fields": first.result.fields_written,
        "second_s": second.seconds,
        "second_calls": second.result.salesforce_api_calls,
        "unchanged_s": unchanged.seconds,
        "unchanged_calls": unchanged.result.salesforce_api_calls,
        "changed_s": changed.seconds,
        "changed_calls": changed.result.salesforce_api_calls,
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
        f"{'accounts':>8} {'scored':>6} {'seed s':>7} {'1st s':>6} {'calls':>5} {'fields':>7} "
        f"{'2nd s':>6} {'calls':>5} {'same s':>6} {'calls':>5} {'1% s':>6} {'calls':>5} "
        f"{'1st s/acct ratio':>16}"
    )
    for row in rows:
        per_account = (row["first_s"] / row["scored"]) / (base["first_s"] / base["scored"])
        print(
            f"{row['accounts']:>8} {row['scored']:>6} {row['seed_s']:>7.2f} "
            f"{row['first_s']:>6.2f} {row['first_calls']:>5} {row['fields']:>7} "
            f"{row['second_s']:>6.2f} {row['second_calls']:>5} {row['unchanged_s']:>6.2f} "
            f"{row['unchanged_calls']:>5} {row['changed_s']:>6.2f} {row['changed_calls']:>5} "
            f"{per_account:>16.2f}"
        )
    print(f"peak RSS of the whole process (sandbox included): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
