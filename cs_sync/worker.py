"""`cs-sync worker`: run on a cron schedule, never twice at once, stop cleanly on SIGTERM.

- The run lock is an exclusive `flock` on a file. The kernel drops it when the holding process
  ends, however it ends (kill -9 included), so a crashed run never blocks the next one. It
  guards one machine (or one shared volume); on Kubernetes, `concurrencyPolicy: Forbid` guards
  the cluster.
- SIGTERM and Ctrl-C set a stop flag. A run in progress finishes its current write step and
  ends there (see pipeline.apply_plan); the worker then exits 0.
- A failed run is logged and recorded in the status file; the worker waits for the next time.
- The configuration is read again before every run, so an edit takes effect at the next run.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any
from zoneinfo import ZoneInfo

from croniter import croniter

from cs_sync.config import Config, load_config
from cs_sync.errors import EXIT_OK, CsSyncError, LockHeld

log = logging.getLogger("cs_sync.worker")


class RunLock:
    """Held while a run writes; a second process asking for it gets LockHeld at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise LockHeld(
                f"another cs-sync run holds the lock {self.path} ({holder}); this run is "
                "skipped and wrote nothing. The lock is freed as soon as that process ends"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {started}")
        handle.flush()
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class StopFlag:
    """Set by SIGTERM / SIGINT; asked between write steps and while waiting."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        """Handle SIGTERM and SIGINT until exit (only the main thread may: elsewhere the flag
        is set by hand)."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.event.is_set():
            log.warning(
                "%s received: finishing the current step, then stopping",
                signal.Signals(signum).name,
            )
        self.event.set()

    def __call__(self) -> bool:
        return self.event.is_set()


def next_run(schedule: str, timezone: str, after: datetime) -> datetime:
    """The first time the cron schedule fires after `after`, in the schedule's time zone."""
    local = after.astimezone(ZoneInfo(timezone))
    return croniter(schedule, local).get_next(datetime)


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the status file in one step, so a monitor never reads half of it. A status
    that cannot be written is logged; it never stops the worker."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(status, ensure_ascii=False, indent=2, default=str)
        partial.write_text(text, "utf-8")
        os.replace(partial, path)
    except OSError as error:
        log.error("cannot write the status file %s: %s", path, error)


def scheduled_run(config_path: Path, stop: StopFlag, today: Callable[[str], Any]) -> dict[str, Any]:
    """One run under the lock, reported as the status file's `last_run`. Never raises for a
    failed run: the worker lives on."""
    from cs_sync.pipeline import run_once

    started = datetime.now(UTC)
    report: dict[str, Any] = {"started_at": started.isoformat(timespec="seconds")}
    config = None
    try:
        config = load_config(config_path)
        worker = config.worker
        with RunLock(worker.lock_file):
            as_of = today(config.timezone)
            result = run_once(config, as_of, dry_run=False, stop_requested=stop)
        summary = result.as_json()
        report |= {
            key: summary[key]
            for key in (
                "run_id",
                "status",
                "as_of",
                "accounts_read",
                "fields_written",
                "tasks_created",
                "tasks_closed",
                "duration_s",
            )
        }
        report["exit_code"] = result.exit_code
        report["errors"] = len(result.errors)
        if result.errors:
            report["first_error"] = result.errors[-1].message.splitlines()[0]
        log.info(
            "run %s: %s, %d accounts, %d fields written, %d tasks created, %d closed",
            result.run_id,
            result.status,
            result.accounts_read,
            result.fields_written,
            result.tasks_created,
            result.tasks_closed,
        )
        for problem in result.errors[:20]:
            log.warning("%s %s: %s", problem.kind, problem.record or "-", problem.message)
    except LockHeld as error:
        log.warning("%s", error)
        report |= {"status": "skipped", "exit_code": error.exit_code, "first_error": str(error)}
    except CsSyncError as error:
        log.error("run failed: %s", error)
        report |= {"status": "failed", "exit_code": error.exit_code, "first_error": str(error)}
    except Exception as error:  # the worker outlives any one run
        log.exception("run crashed")
        report |= {"status": "failed", "exit_code": 1, "first_error": repr(error)}
        if config is not None:  # a crash in the run (a bug) is told like a failed run
            _tell_crash(config, today(config.timezone), repr(error))
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return report


def _tell_crash(config: Config, as_of: Any, detail: str) -> None:
    """Post run_failed for a run that crashed; an alert that cannot go is only logged."""
    from cs_sync.alerts import alert_failed_run
    from cs_sync.connectors.transport import build_session
    from cs_sync.plan import Problem
    from cs_sync.result import RunResult

    crashed = RunResult(status="failed", as_of=as_of, dry_run=False)
    crashed.errors.append(Problem("internal", None, f"the run crashed: {detail}"))
    session = build_session(config.sandbox.url)
    try:
        alert_failed_run(config, crashed, session)
    except Exception:
        log.exception("the run_failed alert could not be sent")
    finally:
        session.close()
    for problem in crashed.errors[1:]:
        log.error("%s", problem.message)


def serve(
    config_path: Path,
    stop: StopFlag,
    today: Callable[[str], Any],
    run_at_start: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Wait for each scheduled time and run; return when the stop flag is set."""
    config = load_config(config_path)  # a broken config stops the worker at start
    worker = config.worker
    status: dict[str, Any] = {
        "pid": os.getpid(),
        "schedule": worker.schedule,
        "timezone": worker.timezone,
        "started_at": clock().isoformat(timespec="seconds"),
        "state": "idle",
        "last_run": None,
        "consecutive_failures": 0,
    }
    due_now = run_at_start
    while not stop():
        if due_now:
            status["state"] = "running"
            write_status(worker.status_file, status)
            last = scheduled_run(config_path, stop, today)
            status["last_run"] = last
            failed = last.get("status") in ("failed", "interrupted")
            status["consecutive_failures"] = status["consecutive_failures"] + 1 if failed else 0
            if stop():
                break
        upcoming = next_run(worker.schedule, str(worker.timezone), clock())
        status |= {"state": "idle", "next_run": upcoming.isoformat()}
        write_status(worker.status_file, status)
        log.info("next run at %s", upcoming.isoformat())
        wait_s = max((upcoming - clock()).total_seconds(), 0.0)
        due_now = not stop.event.wait(timeout=wait_s)
        try:  # pick up a changed schedule or status file for the next wait
            worker = load_config(config_path).worker
        except CsSyncError as error:
            log.error("configuration no longer loads; keeping the last good schedule: %s", error)
    status |= {"state": "stopped", "next_run": None}
    write_status(worker.status_file, status)
    log.info("worker stopped")
    return EXIT_OK
