"""`cs-sync status`: healthy after a good run, not after a failed or a stale one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cs_sync.brakes import BrakeCheck, brake_message
from cs_sync.cli import main
from cs_sync.config import load_config
from cs_sync.connectors.history_store import HistoryStore
from cs_sync.demo import prepare_demo, write_demo_config
from cs_sync.doctor import run_doctor
from cs_sync.history import RunRecord
from cs_sync.status import check_health
from tests.conftest import AS_OF, held_by_another_process, served
from tests.test_config import MINIMAL, write


def status(capsys: pytest.CaptureFixture[str], config: str, *extra: str) -> tuple[int, dict]:
    code = main(["status", "--config", config, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_status_follows_the_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], closed_port: int
) -> None:
    folder = prepare_demo(tmp_path / "demo", 20, AS_OF, port=0)
    config = str(folder.config_path)
    code, report = status(capsys, config)
    assert code == 1 and "no run is recorded" in report["reasons"][0]
    with served(folder):
        assert main(["run", "--config", config, "--as-of", AS_OF.isoformat()]) == 0
    capsys.readouterr()
    code, report = status(capsys, config)
    assert code == 0 and report["healthy"] and report["last_run"]["status"] == "ok"
    read_at = report["freshness"]["read_at"]
    # the local copy's watermark per object: where its last read began by the org's clock
    marks = report["freshness"]["watermarks"]
    assert {"accounts", "opportunities", "contact_roles", "tasks", "User"} <= set(marks)
    began = datetime.fromisoformat(read_at)
    assert all(
        abs(datetime.fromisoformat(m) - began) < timedelta(minutes=1) for m in marks.values()
    )
    assert report["freshness"]["full_read_at"] in marks.values()
    # a run holding the copy does not make the sync look unwell
    with held_by_another_process(folder.config_path.parent / "cs-sync-copy.duckdb"):
        code, busy = status(capsys, config)
    assert code == 0 and busy["reasons"] == [] and busy["freshness"]["read_at"] == read_at
    write_demo_config(folder, closed_port)  # no longer served
    assert main(["run", "--config", config, "--as-of", AS_OF.isoformat()]) == 3
    capsys.readouterr()
    code, report = status(capsys, config)
    assert code == 1 and "the last run ended failed" in report["reasons"][0]
    assert "cannot reach Salesforce" in report["reasons"][0]
    assert report["freshness"]["read_at"] == read_at  # a failed run read nothing new
    later = datetime.now(UTC) + timedelta(hours=30)
    stale = check_health(load_config(config), later, 26, strict=False)
    assert not stale.healthy and any("hours ago" in r for r in stale.reasons)
    assert stale.freshness is not None and stale.freshness["behind_s"] >= 30 * 3600


def test_status_and_doctor_say_when_runs_keep_stopping_on_a_brake(
    tmp_path: Path, closed_port: int
) -> None:
    text = MINIMAL + f'\n[sandbox]\nurl = "http://127.0.0.1:{closed_port}"\n'
    config = load_config(write(tmp_path, text))
    stopped = brake_message([BrakeCheck("new_tasks", 1573, None, 500, True)])
    assert config.history.path is not None
    with HistoryStore(config.history.path) as store:
        for day in (22, 23, 24):
            finished = datetime(2026, 11, day, 7, 1)
            store.record_run(
                RunRecord(
                    f"r{day}", "run", AS_OF, finished, finished, "failed", "c", detail=stopped
                )
            )
    health = check_health(config, datetime(2026, 11, 24, 8, tzinfo=UTC), 26, strict=False)
    assert not health.healthy
    assert any(
        "the last 3 runs all stopped on a safety brake and wrote nothing "
        "(new_tasks: 1573 (limit 500) over the limit)" in reason
        for reason in health.reasons
    )
    checks = {check.name: check for check in run_doctor(config, AS_OF)}
    assert not checks["recent runs"].ok and "--force" in checks["recent runs"].fix
    assert "the last 3 run(s) stopped on a safety brake" in checks["recent runs"].detail
