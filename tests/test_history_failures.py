"""A history store that cannot be opened (a DuckDB client holding the file): the run is
partial and says why, the dashboard's KPI tabs keep their complete rows instead of being cut
to today's, and `status` gives its own answer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gspread
import pytest

from cs_sync.cli import main
from cs_sync.config import load_config
from cs_sync.connectors.transport import build_session
from cs_sync.demo import DemoFolder, prepare_demo
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, served


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[DemoFolder, Sandbox]]:
    folder = prepare_demo(tmp_path / "demo", 40, AS_OF, port=0)
    with served(folder) as sandbox:
        yield folder, sandbox


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return code, json.loads(out)


def tab_rows(sandbox: Sandbox, title: str) -> int:
    client = gspread.Client(auth=None, session=build_session(sandbox.url))  # type: ignore[arg-type]
    return len(client.open_by_key(DASHBOARD_SPREADSHEET_ID).worksheet(title).get_all_values())


def test_a_held_history_store_leaves_the_kpi_tabs_whole(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    config = str(folder.config_path)
    history = load_config(folder.config_path).history.path
    assert history is not None
    for day in ("2026-11-22", "2026-11-23"):
        code, _ = run_json(capsys, "run", "--config", config, "--as-of", day)
        assert code == 0
    kpi_rows = tab_rows(sandbox, "kpi_daily")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(history)!r}); "
            "print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        code, result = run_json(capsys, "run", "--config", config, "--as-of", "2026-11-24")
        assert (code, result["status"]) == (1, "partial")
        assert [e["kind"] for e in result["errors"]] == ["history"]
        assert "another process holds it" in result["errors"][0]["message"]
        assert "dashboard_partial" in [w["kind"] for w in result["warnings"]]
        assert tab_rows(sandbox, "kpi_daily") == kpi_rows  # two dates' rows, not one
        code, health = run_json(capsys, "status", "--config", config)
        assert code == 1 and health["healthy"] is False
        assert "the history store cannot be read" in health["reasons"][0]
    finally:
        holder.communicate("")
    code, health = run_json(capsys, "status", "--config", config, "--max-age-hours", "100000")
    assert health["last_run"]["as_of"] == "2026-11-23"  # the held run left no record


def test_status_answers_for_itself_on_a_broken_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[salesforce]\nnope = 1\n", "utf-8")
    code, health = run_json(capsys, "status", "--config", str(broken))
    assert code == 1 and set(health) == {"healthy", "reasons", "last_run", "worker"}
    assert health["healthy"] is False and "nope" in health["reasons"][0]
