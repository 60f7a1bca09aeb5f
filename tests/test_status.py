"""`cs-sync status`: healthy after a good run, not after a failed or a stale one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cs_sync.cli import main
from cs_sync.config import load_config
from cs_sync.demo import prepare_demo, write_demo_config
from cs_sync.status import check_health
from tests.conftest import AS_OF, served


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
    write_demo_config(folder, closed_port)  # no longer served
    assert main(["run", "--config", config, "--as-of", AS_OF.isoformat()]) == 3
    capsys.readouterr()
    code, report = status(capsys, config)
    assert code == 1 and "the last run ended failed" in report["reasons"][0]
    assert "cannot reach Salesforce" in report["reasons"][0]
    later = datetime.now(UTC) + timedelta(hours=30)
    stale = check_health(load_config(config), later, 26, strict=False)
    assert not stale.healthy and any("hours ago" in r for r in stale.reasons)
