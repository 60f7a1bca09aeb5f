"""A history store that cannot be opened (a DuckDB client holding the file): the run is
partial and says why, the dashboard's KPI tabs keep their complete rows instead of being cut
to today's, and `status` gives its own answer."""

from __future__ import annotations

from pathlib import Path

import gspread
import pytest

from cs_sync.config import load_config
from cs_sync.connectors.transport import build_session
from cs_sync.demo import DemoFolder
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox
from tests.conftest import held_by_another_process, one_json


def tab_rows(sandbox: Sandbox, title: str) -> int:
    client = gspread.Client(auth=None, session=build_session(sandbox.url))  # type: ignore[arg-type]
    return len(client.open_by_key(DASHBOARD_SPREADSHEET_ID).worksheet(title).get_all_values())


def test_a_held_history_store_leaves_the_kpi_tabs_whole(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo40
    config = str(folder.config_path)
    history = load_config(folder.config_path).history.path
    assert history is not None
    for day in ("2026-11-22", "2026-11-23"):
        code, _ = one_json(capsys, "run", "--config", config, "--as-of", day)
        assert code == 0
    kpi_rows = tab_rows(sandbox, "kpi_daily")
    with held_by_another_process(history):
        code, result = one_json(capsys, "run", "--config", config, "--as-of", "2026-11-24")
        assert (code, result["status"]) == (1, "partial")
        # without the alert log no alert goes out either (else one could go twice)
        assert [e["kind"] for e in result["errors"]] == ["alert", "history"]
        assert all("another process holds it" in e["message"] for e in result["errors"])
        assert "dashboard_partial" in [w["kind"] for w in result["warnings"]]
        assert tab_rows(sandbox, "kpi_daily") == kpi_rows  # two dates' rows, not one
        code, health = one_json(capsys, "status", "--config", config)
        assert code == 1 and health["healthy"] is False
        assert "the history store cannot be read" in health["reasons"][0]
    code, health = one_json(capsys, "status", "--config", config, "--max-age-hours", "100000")
    assert health["last_run"]["as_of"] == "2026-11-23"  # the held run left no record


def test_status_answers_for_itself_on_a_broken_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[salesforce]\nnope = 1\n", "utf-8")
    code, health = one_json(capsys, "status", "--config", str(broken))
    assert code == 1 and set(health) == {"healthy", "reasons", "last_run", "worker", "freshness"}
    assert health["healthy"] is False and "nope" in health["reasons"][0]
