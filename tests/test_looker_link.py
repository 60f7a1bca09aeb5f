"""`cs-sync dashboard link`: the Linking API address, with the real tab ids read from the
sandbox's spreadsheet."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cs_sync.cli import main
from cs_sync.demo import prepare_demo
from cs_sync.looker import (
    bigquery_link,
    default_bigquery_link,
    default_sheets_link,
    sheets_link,
)
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from tests.conftest import AS_OF, served


def query(link: str) -> dict[str, str]:
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "lookerstudio.google.com",
        "/reporting/create",
    )
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_sheets_and_bigquery_links() -> None:
    tabs = {
        "kpi_daily": 11,
        "kpi_periods": 12,
        "accounts": 13,
        "health_history": 14,
        "kpi_targets": 15,
        "kpi_csm": 16,
    }
    found = query(sheets_link("tmpl-1", "sheet-9", tabs, "CS 週次レビュー"))
    assert found["c.reportId"] == "tmpl-1" and found["r.reportName"] == "CS 週次レビュー"
    assert found["ds.ds0.connector"] == "googleSheets"
    assert (found["ds.ds0.spreadsheetId"], found["ds.ds0.worksheetId"]) == ("sheet-9", "11")
    assert found["ds.ds3.worksheetId"] == "14" and found["ds.ds4.worksheetId"] == "15"
    with pytest.raises(ValueError, match="run `cs-sync run` once"):
        sheets_link("tmpl-1", "sheet-9", {"accounts": 1}, "x")
    found = query(bigquery_link("tmpl-1", "acme-cs", "cs_sync", "x"))
    assert found["ds.ds0.connector"] == "bigQuery" and found["ds.ds0.type"] == "TABLE"
    assert (found["ds.ds0.projectId"], found["ds.ds0.datasetId"]) == ("acme-cs", "cs_sync")
    assert found["ds.ds0.tableId"] == "kpi_history"
    assert found["ds.ds3.tableId"] == "account_history"


def test_the_command_reads_the_tab_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = prepare_demo(tmp_path / "demo", 20, AS_OF, port=0)
    config = str(folder.config_path)
    with served(folder):
        assert main(["dashboard", "link", "--config", config]) == 2
        assert "no tab kpi_periods: run `cs-sync run` once" in capsys.readouterr().err
        assert main(["dashboard", "link", "--config", config, "--template", "t"]) == 2
        assert "run `cs-sync run` once" in capsys.readouterr().err
        assert main(["run", "--config", config, "--as-of", AS_OF.isoformat()]) == 0
        capsys.readouterr()
        assert main(["dashboard", "link", "--config", config, "--template", "t"]) == 0
        found = query(capsys.readouterr().out.strip())
        assert main(["dashboard", "link", "--config", config, "--tab", "accounts"]) == 0
        default = query(capsys.readouterr().out.strip())
    assert found["ds.ds0.spreadsheetId"] == DASHBOARD_SPREADSHEET_ID
    ids = {found[f"ds.ds{i}.worksheetId"] for i in range(6)}
    assert len(ids) == 6 and all(i.isdigit() for i in ids)
    # no template: Looker Studio's default one over the tab asked for
    assert "c.reportId" not in default and default["ds.connector"] == "googleSheets"
    assert default["ds.worksheetId"] == found["ds.ds2.worksheetId"]  # ds2 is accounts


def test_default_template_links() -> None:
    found = query(default_sheets_link("sheet-9", {"kpi_periods": 12}, "kpi_periods", "KPI"))
    assert found == {
        "r.reportName": "KPI",
        "ds.connector": "googleSheets",
        "ds.spreadsheetId": "sheet-9",
        "ds.worksheetId": "12",
    }
    found = query(default_bigquery_link("acme-cs", "cs_sync", "kpi_daily", "KPI"))
    assert (found["ds.connector"], found["ds.type"], found["ds.tableId"]) == (
        "bigQuery",
        "TABLE",
        "kpi_history",
    )
