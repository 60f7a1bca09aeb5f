"""Google failing under a run: a reset connection is retried; a Sheets outage leaves the
Salesforce writes done and counted, the run partial (exit 1) with its one JSON object, and the
history and `status` saying so; a tab too large for the spreadsheet is left out and named."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import gspread
import pandas as pd
import pytest

from cs_sync.cli import main
from cs_sync.config import load_config
from cs_sync.connectors.sheet_tabs import CELL_BUDGET
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.demo import DemoFolder
from cs_sync.history import SERIES_COLUMNS
from cs_sync.publish import DashboardTables, HistoryView, refresh_dashboards
from cs_sync.result import RunResult
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, one_json


def test_a_reset_connection_to_sheets_is_retried(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo40
    sandbox.faults.set(sheets_resets=2)
    code, result = one_json(capsys, "run", "--config", str(folder.config_path))
    assert (code, result["status"], result["errors"]) == (0, "ok", [])
    assert sandbox.faults.sheets_resets == 0


def test_a_sheets_outage_makes_the_run_partial_everywhere(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo40
    config = str(folder.config_path)
    sandbox.faults.set(sheets_resets=1000)
    code, result = one_json(capsys, "run", "--config", config, "--as-of", AS_OF.isoformat())
    sandbox.faults.set(sheets_resets=0)
    assert (code, result["status"]) == (1, "partial")
    assert result["fields_written"] > 0  # the Salesforce writes are done and counted
    dashboard = [e for e in result["errors"] if e["kind"] == "dashboard"]
    assert dashboard and "cannot reach Google" in dashboard[0]["message"]
    assert "gave up after 5 attempts" in dashboard[0]["message"]
    code, status = one_json(capsys, "status", "--config", config)
    assert status["last_run"]["status"] == "partial"
    assert status["last_run"]["run_id"] == result["run_id"]


def test_sheets_usage_outage_is_a_connection_failure_not_bad_input(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo40
    text = folder.config_path.read_text("utf-8")
    usage = text[text.index("[usage]") :].split("\n\n")[0]
    folder.config_path.write_text(
        text.replace(
            usage,
            '[usage]\nsource = "sheets"\nspreadsheet_id = "sandbox-kpi-dashboard"\n'
            'worksheet = "usage"\nmetrics = ["surveys_run"]',
        ),
        "utf-8",
    )
    sandbox.faults.set(server_errors=1000, only_on="/v4/spreadsheets")
    code, result = one_json(capsys, "plan", "--config", str(folder.config_path))
    assert code == 3, result
    assert result["errors"][0]["kind"] == "connect"
    assert "Google is busy" in result["errors"][0]["message"]


def test_a_failure_prints_every_key_a_run_prints(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[salesforce]\nnope = 1\n", "utf-8")
    code, failed = one_json(capsys, "run", "--config", str(broken))
    assert code == 2 and failed["status"] == "failed"
    every = set(RunResult(status="ok", as_of=AS_OF, dry_run=False).as_json())
    assert set(failed) == every


def test_an_internal_error_is_named_with_one_json_object(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A bug anywhere in a command: exit 1, the one object under --json, no traceback."""
    import cs_sync.commands.status as status_command

    def broken(args: object) -> int:
        raise KeyError("boom")

    monkeypatch.setattr(status_command, "main", broken)
    parser_args = ["status", "--config", str(tmp_path / "x.toml"), "--json"]
    code = main(parser_args)
    captured = capsys.readouterr()
    assert code == 1
    failed = json.loads(captured.out)
    assert failed["errors"][0]["kind"] == "internal"
    assert "KeyError" in failed["errors"][0]["message"]
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("setting", "named", "not_said"),
    [
        pytest.param(
            '[salesforce.fields]\narr = "CS_ARRR__c"',
            "salesforce.fields.arr = 'CS_ARRR__c': Account has no such field",
            "--apply",
            id="mistyped-mapping",
        ),
        pytest.param(
            'account_filter = "Type = Customer"',
            "salesforce.account_filter = 'Type = Customer': Salesforce refused it",
            "--apply",
            id="bad-filter",
        ),
    ],
)
def test_run_names_the_setting_and_the_fix(
    demo40: tuple[DemoFolder, Sandbox],
    capsys: pytest.CaptureFixture[str],
    setting: str,
    named: str,
    not_said: str,
) -> None:
    folder, _ = demo40
    text = folder.config_path.read_text("utf-8")
    if setting.startswith("["):
        table, line = setting.split("\n")
        text = text.replace(table + "\n", setting + "\n", 1)
        assert setting in text
    else:
        text = re.sub(r"(?m)^account_filter = .*$", lambda _: setting, text, count=1)
        assert setting in text
    folder.config_path.write_text(text, "utf-8")
    code = main(["run", "--config", str(folder.config_path), "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 2 and result["errors"][0]["kind"] == "setup"
    message = result["errors"][0]["message"]
    assert named in message and not_said not in message
    assert named in captured.err  # said on stderr too, where a scheduler's log looks


def test_a_tab_too_large_for_google_sheets_leaves_the_rest_refreshed(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    """The admin's own tab takes all but about 4,000 of the 8 million cells cs-sync allows
    itself (Google's 10 million less a fifth), as a million-account book's accounts tab takes
    more than the room: the tabs that do not fit are not sent and named with the fix, the run
    is partial with its Salesforce writes done, the other tabs are refreshed; once the admin
    leaves those tabs out (`sheets_leave_out`), the runs are ok again."""
    folder, sandbox = demo40
    config = str(folder.config_path)
    client = gspread.Client(auth=None, session=build_session(sandbox.url))  # type: ignore[arg-type]
    book = client.open_by_key(DASHBOARD_SPREADSHEET_ID)
    book.worksheet("Sheet1").resize(rows=(CELL_BUDGET - 4_000) // 26, cols=26)
    code, result = one_json(capsys, "run", "--config", config, "--as-of", AS_OF.isoformat())
    assert (code, result["status"]) == (1, "partial")
    assert result["fields_written"] > 0 and result["tasks_created"] > 0
    assert {e["kind"] for e in result["errors"]} == {"dashboard"}
    left_out = [
        re.match(r"the (\w+) tab was not refreshed", e["message"]) for e in result["errors"]
    ]
    names = [found.group(1) for found in left_out if found]
    assert len(names) == len(result["errors"]) and "accounts" in names
    assert "sheets_leave_out" in result["errors"][0]["message"]
    titles = {sheet.title for sheet in book.worksheets()}
    assert not titles & set(names)  # never sent
    assert {"kpi_daily", "kpi_csm", "runs"} <= titles  # the others refreshed
    text = folder.config_path.read_text("utf-8")
    folder.config_path.write_text(
        text.replace("[dashboard]\n", f"[dashboard]\nsheets_leave_out = {json.dumps(names)}\n"),
        "utf-8",
    )
    code, result = one_json(capsys, "run", "--config", config, "--as-of", AS_OF.isoformat())
    assert (code, result["status"], result["errors"]) == (0, "ok", [])
    assert not {sheet.title for sheet in book.worksheets()} & set(names)


@pytest.mark.parametrize("left_out", [False, True])
def test_a_health_tab_with_no_date_that_fits_is_a_warning_of_the_run(
    demo40: tuple[DemoFolder, Sandbox], left_out: bool
) -> None:
    """At 87,000 scored accounts and more no date of the health tab fits beside the accounts
    tab (test_the_health_tab_shows_no_date_when_one_does_not_fit_beside_the_accounts): the
    run says so among its warnings, unless the admin left the tab out."""
    folder, _ = demo40
    text = folder.config_path.read_text("utf-8").replace(
        'local_dir = "dashboard"', 'local_dir = ""'
    )
    if left_out:
        text = text.replace("[dashboard]\n", '[dashboard]\nsheets_leave_out = ["health_history"]\n')
    folder.config_path.write_text(text, "utf-8")
    config = load_config(folder.config_path)
    rows = pd.DataFrame({"date": [AS_OF.isoformat()], "metric": ["accounts"], "value": [1.0]})
    periods = pd.DataFrame({"period_start": ["2026-10-01"], "period_end": ["2026-12-31"]})
    accounts = pd.DataFrame({"account_id": ["001000000000001AAA"], "score": [50.0]})
    view = HistoryView(
        periods,
        rows,
        pd.DataFrame(columns=list(SERIES_COLUMNS)),
        rows,
        pd.Series(dtype=object),
        DashboardTables(accounts, periods, rows, rows),
        health_note="the health_history tab shows no date: ...",
    )
    result = RunResult(status="ok", as_of=AS_OF, dry_run=False)
    result.plan = SimpleNamespace()  # type: ignore[assignment]
    refresh_dashboards(config, result, rows, view, CallCounter())
    assert result.errors == []
    noted = [w.message for w in result.warnings if w.kind == "sheets_cells"]
    assert noted == ([] if left_out else [view.health_note])
