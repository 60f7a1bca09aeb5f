"""The run lock, the scheduler, SIGTERM, and runs cut short then rerun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cs_sync.cli import main
from cs_sync.config import Config, load_config
from cs_sync.demo import prepare_demo
from cs_sync.errors import LockHeld
from cs_sync.pipeline import run_once
from cs_sync.sandbox.server import Sandbox
from cs_sync.worker import RunLock, next_run
from tests.conftest import AS_OF, login, served

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
AT = ("--as-of", AS_OF.isoformat())  # the date the book is seeded on


def test_next_run_follows_cron_in_the_time_zone() -> None:
    after = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # Saturday 08:00 in Tokyo
    upcoming = next_run("0 7 * * 1-5", "Asia/Tokyo", after)
    assert upcoming.isoformat() == "2026-11-30T07:00:00+09:00"  # Monday 07:00


def test_a_second_holder_is_refused_and_named(tmp_path: Path) -> None:
    path = tmp_path / "cs-sync.lock"
    with RunLock(path):
        with pytest.raises(LockHeld, match=f"pid {os.getpid()}") as refused:
            RunLock(path).acquire()
        assert refused.value.exit_code == 5
    with RunLock(path):  # released: free again
        pass


def test_a_killed_holder_does_not_hold_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "cs-sync.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from cs_sync.worker import RunLock; "
            f"lock = RunLock(Path({str(path)!r})); lock.acquire(); print('held', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(LockHeld):
        RunLock(path).acquire()
    holder.kill()  # SIGKILL: no cleanup runs
    holder.communicate(timeout=10)
    with RunLock(path):
        pass


def state(sandbox: Sandbox) -> tuple[list[Any], list[Any]]:
    """Everything cs-sync writes, in a comparable form."""
    sf = login(sandbox)
    accounts = sf.query_all(
        "SELECT Id, CS_Health_Score__c, CS_Health_Grade__c, CS_Health_Trend__c, "
        "CS_Health_Reasons__c, CS_Phase__c, CS_Phase_Delayed__c, CS_Renewal_Strategy__c, "
        "CS_Next_Action__c, CS_Next_Action_Date__c FROM Account ORDER BY Id"
    )["records"]
    tasks = sf.query_all(
        "SELECT CS_Sync_Key__c, Subject, OwnerId, WhatId, ActivityDate, Priority, Status "
        "FROM Task WHERE CS_Sync_Key__c != null ORDER BY CS_Sync_Key__c"
    )["records"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "attributes"} for r in rows]  # noqa: E731
    return strip(accounts), strip(tasks)


def elsewhere(config: Config, url: str) -> Config:
    """The same configuration for the same org served at another address."""
    return config.replace_sections(sandbox=config.sandbox.model_copy(update={"url": url}))


class Crash(BaseException):
    """Stands in for the process dying: nothing after it runs."""


def test_a_crash_between_batches_then_a_rerun_equals_one_clean_run(tmp_path: Path) -> None:
    folder = prepare_demo(tmp_path / "demo", 80, AS_OF, port=0)
    reference_db = tmp_path / "reference.db"
    shutil.copy(folder.database, reference_db)
    with Sandbox(reference_db) as reference:
        ref_config = elsewhere(load_config(folder.config_path), reference.url)
        clean = run_once(ref_config, AS_OF, dry_run=False)
        assert clean.status == "ok" and clean.tasks_created > 0
        expected = state(reference)
    with served(folder) as sandbox:
        config = load_config(folder.config_path)
        steps = []

        def crash_on_third_step() -> bool:
            steps.append(1)
            if len(steps) == 3:
                raise Crash
            return False

        with pytest.raises(Crash):
            run_once(config, AS_OF, False, stop_requested=crash_on_third_step, batch_size=25)
        between = state(sandbox)
        assert between != expected  # it really stopped half way
        rerun = run_once(config, AS_OF, dry_run=False)
        assert rerun.status == "ok"
        accounts, tasks = state(sandbox)
    assert tasks == expected[1]
    assert len({t["CS_Sync_Key__c"] for t in tasks}) == len(tasks)
    assert accounts == expected[0]


def test_sigterm_stops_between_steps_and_the_rerun_finishes(tmp_path: Path) -> None:
    """A real `cs-sync run` process, slowed down and stopped with SIGTERM, then killed -9."""
    folder = prepare_demo(tmp_path / "demo", 80, AS_OF, port=0)
    text = folder.config_path.read_text("utf-8")
    folder.config_path.write_text(
        text.replace("account_filter =", "write_step_records = 10\naccount_filter =")
    )
    reference_db = tmp_path / "reference.db"
    shutil.copy(folder.database, reference_db)
    with Sandbox(reference_db) as reference:
        ref_config = elsewhere(load_config(folder.config_path), reference.url)
        assert run_once(ref_config, AS_OF, dry_run=False).status == "ok"
        expected = state(reference)
    command = [
        sys.executable,
        "-m",
        "cs_sync",
        "run",
        "--config",
        str(folder.config_path),
        "--as-of",
        AS_OF.isoformat(),
        "--json",
    ]
    with served(folder) as sandbox:
        sandbox.faults.set(latency_ms=400)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=ENV)
        sf = login(sandbox)
        deadline = time.monotonic() + 60
        while (
            sf.query("SELECT Id FROM Task WHERE CS_Sync_Key__c != null")["totalSize"] == 0
        ):  # its first write step
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 1
        result = json.loads(out)
        assert result["status"] == "interrupted"
        # between two steps ("after N of M write step(s)") or, on a loaded machine, between
        # a step's start and its first call ("while upserting Task, after 0 of 10 record(s)")
        assert "stopped on request " in result["errors"][-1]["message"]
        assert result["fields_written"] > 0 or result["tasks_created"] > 0
        # a second run is killed outright while writing
        before = state(sandbox)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=ENV)
        while state(sandbox) == before:  # until its first write step is in
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        process.kill()
        process.communicate(timeout=10)
        sandbox.faults.set(latency_ms=0)
        assert main(["run", "--config", str(folder.config_path), "--as-of", "2026-11-24"]) == 0
        assert state(sandbox) == expected


def test_two_runs_at_once_one_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = prepare_demo(tmp_path / "demo", 30, AS_OF, port=0)
    with served(folder) as sandbox:
        config = load_config(folder.config_path)
        with RunLock(config.worker.lock_file):
            code = main(["run", "--config", str(folder.config_path), "--json", *AT])
            out = json.loads(capsys.readouterr().out)
        assert code == 5 and out["errors"][0]["kind"] == "locked"
        assert "another cs-sync run holds the lock" in out["errors"][0]["message"]
        assert (
            login(sandbox).query("SELECT Id FROM Task WHERE CS_Sync_Key__c != null")["totalSize"]
            == 0
        )
        # two worker processes started together on a slow org: one runs, one skips
        sandbox.faults.set(latency_ms=300)
        command = [
            sys.executable,
            "-m",
            "cs_sync",
            "--json-logs",
            "worker",
            "--config",
            str(folder.config_path),
            "--run-at-start",
            *AT,
        ]
        paths = [tmp_path / f"worker-{n}.log" for n in range(2)]
        sinks = [path.open("w") for path in paths]
        workers = [subprocess.Popen(command, stderr=sink, text=True, env=ENV) for sink in sinks]
        status_file = config.worker.status_file
        deadline = time.monotonic() + 90
        while not all(_run_ended(path) for path in paths):  # each one's run is logged
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers)
            time.sleep(0.1)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        logs = []
        for worker, path, sink in zip(workers, paths, sinks, strict=True):
            worker.wait(timeout=60)
            sink.close()
            err = path.read_text("utf-8")
            assert worker.returncode == 0, err
            logs.append([json.loads(line) for line in err.splitlines() if line.startswith("{")])
    messages = [" ".join(entry["message"] for entry in log) for log in logs]
    ran = [m for m in messages if "run " in m and ": ok," in m]
    skipped = [m for m in messages if "another cs-sync run holds the lock" in m]
    assert len(ran) == 1 and len(skipped) == 1, messages
    assert all("worker stopped" in m for m in messages)
    status = json.loads(status_file.read_text())
    assert status["state"] == "stopped"


def _run_ended(log: Path) -> bool:
    """The worker's JSON log says its first run ended (ran, or skipped for the lock)."""
    text = log.read_text("utf-8") if log.exists() else ""
    return ": ok," in text or "another cs-sync run holds the lock" in text


def _idle_with_result(path: Path) -> bool:
    try:
        status = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError):
        return False
    return status.get("state") == "idle" and status.get("last_run") is not None


def test_worker_status_and_a_failing_run_do_not_kill_it(tmp_path: Path, closed_port: int) -> None:
    folder = prepare_demo(tmp_path / "demo", 20, AS_OF, port=closed_port)  # every run fails
    config = load_config(folder.config_path)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cs_sync",
            "worker",
            "--config",
            str(folder.config_path),
            "--run-at-start",
            *AT,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    deadline = time.monotonic() + 60
    while not (config.worker.status_file.exists() and _idle_with_result(config.worker.status_file)):
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.1)
    status = json.loads(config.worker.status_file.read_text())
    assert status["last_run"]["status"] == "failed"
    assert status["last_run"]["exit_code"] == 3
    assert "cannot reach Salesforce" in status["last_run"]["first_error"]
    assert status["consecutive_failures"] == 1
    assert status["next_run"] is not None and worker.poll() is None  # alive, waiting
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert "SIGTERM received" in err
