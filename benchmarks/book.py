"""Shared by the benchmarks: seed a book, serve it, and run syncs one after another:

- first: no local copy yet, the whole book read, everything written;
- rerun: reads what changed since the first, which is what the first wrote (the accounts and
  its Tasks), and writes no field;
- unchanged: nothing changed since the rerun;
- 1% changed: a share of the accounts (1% by default) had their sentiment changed in
  Salesforce since (through the org's own write path, so SystemModstamp moves and the field's
  history is kept, as when CSMs edit records).

The runs are 15 minutes apart by the org's clock (the sandbox's clock is moved on between
them, so every stamp the org gives and the Date header of its answers follow): a read of
changes looks back its 300-second overlap over the 15 minutes since the last run, as on a
15-minute schedule, not over the previous run's own writes a few seconds before.

A rerun may create Tasks that the caps (tasks.max_per_run, max_per_owner) held back in the
first run, as a scheduled rerun does (see
test_a_default_book_of_5000_converges_under_plain_scheduled_runs). With `at_rest`, the caps
and the new-Tasks brake are lifted: the first run creates every Task the book wants, so the
runs after it find a book at rest (what a book reaches after enough scheduled runs)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from cs_sync.config import Config, load_config
from cs_sync.demo import prepare_demo, start_sandbox
from cs_sync.pipeline import RunResult, run_once
from cs_sync.sandbox.server import Sandbox

AS_OF = date(2026, 11, 24)
CADENCE = timedelta(minutes=15)  # between two runs, by the org's clock


@dataclass
class TimedRun:
    label: str
    result: RunResult
    seconds: float


@dataclass
class BookRuns:
    config: Config
    seed_s: float
    runs: list[TimedRun]
    changed_accounts: int

    @property
    def first(self) -> RunResult:
        return self.runs[0].result

    @property
    def second(self) -> RunResult:
        return self.runs[1].result


def change_accounts(sandbox: Sandbox, share: float, seed: int = 1) -> int:
    """Flip the sentiment of a share of the scored accounts, as CSMs editing records do."""
    rng = random.Random(seed)
    store = sandbox.store
    customers = [a for a in store.all("Account") if a.get("Type") == "Customer - Direct"]
    picked = rng.sample(customers, max(1, round(len(customers) * share)))
    with store.transaction():
        for account in picked:
            now = "Negative" if account.get("CS_Sentiment__c") != "Negative" else "Positive"
            store.update("Account", account, {**account, "CS_Sentiment__c": now})
    return len(picked)


def lift_caps(path: Path) -> None:
    """No cap on the Tasks a run creates, nor the brake on many new Tasks."""
    text = path.read_text("utf-8")
    assert text.count("max_per_owner = 25\n") == 1 and "[brakes]" not in text, path
    text = text.replace("max_per_owner = 25\n", "max_per_owner = 0\nmax_per_run = 0\n")
    path.write_text(text + "\n[brakes]\nmax_new_tasks = 1000000\n", "utf-8")


def run_book(
    accounts: int,
    folder: Path,
    inspect: Callable[[Sandbox, Config], None] | None = None,
    changed_share: float = 0.01,
    at_rest: bool = False,
) -> BookRuns:
    """`inspect` looks at the seeded sandbox before the runs (e.g. to count records)."""
    started = time.perf_counter()
    demo = prepare_demo(folder, accounts, AS_OF, port=0)
    seed_s = time.perf_counter() - started
    if at_rest:
        lift_caps(demo.config_path)
    runs: list[TimedRun] = []
    with start_sandbox(demo, port=0) as sandbox:
        config = load_config(demo.config_path)
        if inspect is not None:
            inspect(sandbox, config)

        def timed(label: str) -> None:
            if runs:  # scheduled runs, not back to back (see the module docstring)
                sandbox.store.clock_offset += CADENCE
            started = time.perf_counter()
            result = run_once(config, AS_OF, dry_run=False)
            runs.append(TimedRun(label, result, time.perf_counter() - started))
            assert result.status == "ok", (label, result.errors[:3])

        timed("first (full)")
        timed("rerun")
        timed("unchanged")
        changed = change_accounts(sandbox, changed_share)
        timed(f"{changed_share:.0%} changed")
    assert runs[1].result.fields_written == 0, "the rerun rewrote fields"
    assert runs[2].result.fields_written == 0, "an unchanged run wrote fields"
    return BookRuns(config, seed_s, runs, changed)
