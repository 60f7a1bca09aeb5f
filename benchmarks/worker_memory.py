"""The worker's own memory, end to end: `cs-sync run` in a process of its own against a seeded
sandbox, its peak resident memory as the kernel counts it for that process alone.

    .venv/bin/python -m benchmarks.worker_memory --accounts 20000 100000
    .venv/bin/python -m benchmarks.worker_memory --accounts 1000000 --seeded books

`--seeded DIR` keeps each seeded book in DIR (seeded there once, which takes most of an hour
at a million accounts) and runs on a copy of it, so the book is seeded once for every try.

For each size: seed the demo book, serve it from this process, then run the worker as a
child process five times, 15 minutes apart by the org's clock (as benchmarks/book.py does):
the first run (no local copy: every record read, every field written, the dashboard made),
its rerun, an unchanged run, a run after 1% of the accounts changed and the nightly whole
read that keeps the local copy honest (`--full`, as `local_copy.full_read_hours` makes one).
Each child's peak is the high-water mark of its own memory (VmHWM), so neither the sandbox
nor this process is counted. The last lines give the memory per account between the two
sizes and the straight line through them at 1,000,000 accounts (the end-to-end target there
is under 4 GiB); the line assumes what the two sizes show, that the worker's memory grows
with the book and nothing else.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.book import AS_OF, CADENCE, change_accounts
from cs_sync.demo import prepare_demo, start_sandbox

TARGET_ACCOUNTS = 1_000_000
TARGET_GIB = 4.0
RUNS = ("first", "rerun", "unchanged", "1% changed", "nightly")  # nightly: a whole read


@dataclass
class ChildRun:
    label: str
    peak_mib: float
    seconds: float
    status: str
    accounts_read: int


# `python -m cs_sync` that writes its own peak (VmHWM) to a file as it exits. Not the
# child's rusage: Linux carries the parent's peak into a spawned child's ru_maxrss, and the
# parent here holds the sandbox.
MEASURED = """
import atexit, runpy, sys
path = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as status, open(path, "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(peak)
sys.argv[0] = "cs-sync"
runpy.run_module("cs_sync", run_name="__main__")
"""


def run_worker(config: Path, label: str, folder: Path) -> ChildRun:
    """One `cs-sync run --json` in its own process, and that process's peak resident memory."""
    peak_file = folder / "peak.txt"
    command = [sys.executable, "-c", MEASURED, str(peak_file), "run", "--config", str(config)]
    command += ["--json", "--as-of", AS_OF.isoformat(), *(["--full"] if label == "nightly" else [])]
    started = time.perf_counter()
    child = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    seconds = time.perf_counter() - started
    try:
        result = json.loads(child.stdout)
    except json.JSONDecodeError as error:  # what the run printed, to say why
        raise SystemExit(
            f"{label}: not one JSON object on stdout ({error}): {child.stdout[:300]!r}; "
            f"stderr ends {child.stderr[-1500:]}"
        ) from None
    return ChildRun(
        label,
        int(peak_file.read_text()) / 1024,  # kB
        seconds,
        result["status"],
        int(result.get("accounts_read", 0)),
    )


def measure(accounts: int, folder: Path, seeded: Path | None = None) -> list[ChildRun]:
    started = time.perf_counter()
    if seeded is not None:  # seeded once there, the runs on a copy
        book = seeded / f"book-{accounts}"
        prepare_demo(book, accounts, AS_OF, port=0)
        for name in ("usage.csv", "sandbox.db", "sandbox.db-wal"):
            if (book / name).exists():
                shutil.copy2(book / name, folder / name)
    demo = prepare_demo(folder, accounts, AS_OF, port=0)
    print(f"{accounts:,} accounts seeded in {time.perf_counter() - started:.0f} s", flush=True)
    runs: list[ChildRun] = []
    with start_sandbox(demo, port=0) as sandbox:
        for label in RUNS:
            if runs:  # scheduled runs, not back to back
                sandbox.store.clock_offset += CADENCE
            if label == "1% changed":
                change_accounts(sandbox, 0.01)
            run = run_worker(demo.config_path, label, folder)
            print(
                f"  {label:<11} peak {run.peak_mib:7.0f} MiB  {run.seconds:6.1f} s  "
                f"{run.status} ({run.accounts_read:,} accounts read)",
                flush=True,
            )
            runs.append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--seeded", type=Path, help="keep the seeded books here, run on copies")
    args = parser.parse_args()
    peaks: dict[int, float] = {}
    for accounts in args.accounts:
        with tempfile.TemporaryDirectory() as folder:
            runs = measure(accounts, Path(folder), args.seeded)
        peaks[accounts] = max(run.peak_mib for run in runs)
        print(f"{accounts:>9,} accounts: worker peak {peaks[accounts]:.0f} MiB (the largest run)")
    if len(peaks) > 1:
        (small, low), (large, high) = min(peaks.items()), max(peaks.items())
        per_account = (high - low) / (large - small)  # MiB an account
        at_target = high + per_account * (TARGET_ACCOUNTS - large)
        print(
            f"per account {per_account * 1024:.2f} KiB ({small:,} to {large:,}); the straight "
            f"line at {TARGET_ACCOUNTS:,} accounts: {at_target / 1024:.2f} GiB "
            f"(target {TARGET_GIB:.0f} GiB)"
        )


if __name__ == "__main__":
    main()
