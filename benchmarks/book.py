"""Shared by the benchmarks: seed a book, serve it, run a first sync and an unchanged rerun.

The task caps are lifted for the measurement, so that the first run creates every Task the
rules want and the rerun really has nothing to do; with the caps, the held-back Tasks would
come in the reruns (see test_a_default_book_of_5000_converges_under_plain_scheduled_runs)."""

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
    text = demo.config_path.read_text("utf-8").replace(
        "max_per_owner = 25", "max_per_owner = 0\nmax_per_run = 0"
    )
    demo.config_path.write_text(text + "\n[brakes]\nmax_new_tasks = 1000000\n", "utf-8")
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
    assert second.fields_written == 0 and second.tasks_created == 0
    return TwoRuns(config, seed_s, first, first_s, second, second_s)
