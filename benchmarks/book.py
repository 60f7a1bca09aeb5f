"""Shared by the benchmarks: seed a book, serve it, run a first sync and a rerun.

The rerun changes no field; it may create Tasks that the caps (tasks.max_per_run,
max_per_owner) held back in the first run, as a scheduled rerun does (see
test_a_default_book_of_5000_converges_under_plain_scheduled_runs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cs_sync.config import Config, load_config
from cs_sync.demo import prepare_demo, start_sandbox
from cs_sync.pipeline import RunResult, run_once
from cs_sync.sandbox.server import Sandbox

AS_OF = date(2026, 11, 24)


@dataclass
class TwoRuns:
    config: Config
    seed_s: float
    first: RunResult
    first_s: float
    second: RunResult
    second_s: float


def run_twice(
    accounts: int, folder: Path, inspect: Callable[[Sandbox, Config], None] | None = None
) -> TwoRuns:
    """`inspect` looks at the seeded sandbox before the runs (e.g. to count records)."""
    started = time.perf_counter()
    demo = prepare_demo(folder, accounts, AS_OF, port=0)
    seed_s = time.perf_counter() - started
    with start_sandbox(demo, port=0) as sandbox:
        config = load_config(demo.config_path)
        if inspect is not None:
            inspect(sandbox, config)
        started = time.perf_counter()
        first = run_once(config, AS_OF, dry_run=False)
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        second = run_once(config, AS_OF, dry_run=False)
        second_s = time.perf_counter() - started
    assert first.status == "ok", first.errors[:3]
    assert second.fields_written == 0, "the rerun rewrote fields"
    return TwoRuns(config, seed_s, first, first_s, second, second_s)
