"""Salesforce API calls of a full first run and of an unchanged rerun on a large book, beside
the floor and beside a naive integration that updates one account per call.

The floor (shared reference/salesforce.md): ceil(records / 2,000) calls per object read with
REST, and ceil(changed / 200) per object written, or one Bulk API 2.0 job; plus the login and
the /limits reading. The naive figure is counted, not run: one REST update per changed account
and one create per task, after the same reads.

    .venv/bin/python benchmarks/api_calls.py --accounts 100000
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import date
from pathlib import Path

from cs_sync.config import load_config
from cs_sync.demo import prepare_demo
from cs_sync.pipeline import run_once
from cs_sync.sandbox.server import Sandbox

AS_OF = date(2026, 11, 24)


def floor_calls(
    accounts: int, open_tasks: int, changed: int, tasks: int, bulk_threshold: int
) -> int:
    def writes(count: int) -> int:
        if count == 0:
            return 0
        return 1 if count > bulk_threshold else math.ceil(count / 200)

    reads = math.ceil(max(accounts, 1) / 2000) + math.ceil(max(open_tasks, 1) / 2000)
    return 2 + reads + writes(changed) + writes(tasks)  # 2: login and /limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        started = time.perf_counter()
        demo = prepare_demo(Path(temporary) / "book", args.accounts, AS_OF)
        seeded = time.perf_counter() - started
        config = load_config(demo.config_path)
        with Sandbox(demo.database, port=demo.port) as sandbox:
            opportunities = sandbox.store.count("Opportunity")
            started = time.perf_counter()
            first = run_once(config, AS_OF, dry_run=False)
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            second = run_once(config, AS_OF, dry_run=False)
            second_s = time.perf_counter() - started
    assert first.status == "ok", first.errors[:3]
    assert second.fields_written == 0 and second.tasks_created == 0
    threshold = config.salesforce.bulk_threshold
    first_floor = floor_calls(
        first.accounts_read, 0, first.accounts_changed, first.tasks_created, threshold
    )
    second_floor = floor_calls(second.accounts_read, first.tasks_created, 0, 0, threshold)
    reads = (
        first_floor
        - floor_calls(0, 0, first.accounts_changed, first.tasks_created, threshold)
        + floor_calls(0, 0, 0, 0, threshold)
    )
    naive = reads + first.accounts_changed + first.tasks_created
    print(
        f"book: {args.accounts} accounts ({first.accounts_read} scored), {opportunities} "
        f"opportunities; seeded in {seeded:.0f} s"
    )
    print(
        f"{'run':<16} {'calls':>7} {'floor':>7} {'naive loop':>11} {'fields':>8} "
        f"{'tasks':>6} {'seconds':>8}"
    )
    print(
        f"{'first (full)':<16} {first.salesforce_api_calls:>7} {first_floor:>7} {naive:>11} "
        f"{first.fields_written:>8} {first.tasks_created:>6} {first_s:>8.1f}"
    )
    print(
        f"{'rerun (no change)':<16} {second.salesforce_api_calls:>7} {second_floor:>7} "
        f"{'-':>11} {second.fields_written:>8} {second.tasks_created:>6} {second_s:>8.1f}"
    )


if __name__ == "__main__":
    main()
