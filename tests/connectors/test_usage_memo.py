"""A usage file that has not changed since the last read is not parsed and checked again: its
checked rows, and the problems found in them, come back from the local copy's file, exactly
as read; any changed byte, another date or another setting reads the file again. A Sheets
tab likewise, by its spreadsheet's Drive version (the sandbox's, over HTTP)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import duckdb
import gspread
import numpy as np
import pandas as pd
import pytest

from cs_sync.config import Config, load_config
from cs_sync.connectors.usage_checks import UsageTable
from cs_sync.connectors.usage_memo import UsageMemo
from cs_sync.errors import CsSyncError
from cs_sync.extract import read_usage
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox
from tests.conftest import column_types, held_by_another_process

AS_OF = date(2026, 11, 24)
ROWS = (
    "account_id,month,licences,active_users,logins,reports_run\n"
    "00123,2026-10,10,8,90,4\n"
    "00123,2026-09,10,7,80,x\n"  # a bad row: named, skipped
    "00456,2026-10,20,,150,9\n"  # a blank: reported once for its column
)


def configured(tmp_path: Path, usage: str, key: str = "external_key") -> Config:
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        '[salesforce]\ninstance_url = "https://acme.my.salesforce.com"\n'
        'client_id = "c"\nclient_secret_env = "S"\n\n'
        f'[usage]\nsource = "{usage.rsplit(".", 1)[1]}"\npath = "{usage}"\n'
        f'account_key = "{key}"\n'
        'monthly_feature = "reports_run"\nseasonal_feature = ""\n'
        'columns = { seats = "licences" }\n',
        encoding="utf-8",
    )
    return load_config(config_path)


def same(a: UsageTable, b: UsageTable) -> bool:
    return (
        a.frame.equals(b.frame)
        and a.frame.dtypes.equals(b.frame.dtypes)
        and (a.problems, a.blanks, a.source) == (b.problems, b.blanks, b.source)
    )


def reused(caplog: pytest.LogCaptureFixture) -> bool:
    found = any("checked rows reused" in r.getMessage() for r in caplog.records)
    caplog.clear()
    return found


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_an_unchanged_file_is_not_read_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    (tmp_path / "usage.csv").write_text(ROWS, encoding="utf-8")
    if kind == "parquet":
        duckdb.sql(
            f"COPY (SELECT * FROM read_csv('{tmp_path / 'usage.csv'}', all_varchar = true)) "
            f"TO '{tmp_path / 'usage.parquet'}' (FORMAT parquet)"
        )
    config = configured(tmp_path, f"usage.{kind}")
    caplog.set_level(logging.INFO)
    memo = UsageMemo(tmp_path / "copy.duckdb")
    fresh = read_usage(config, AS_OF)
    assert fresh.problems and fresh.blanks  # something to keep
    first = read_usage(config, AS_OF, memo)
    assert not reused(caplog) and same(first, fresh)
    again = read_usage(config, AS_OF, memo)
    assert reused(caplog) and same(again, fresh)
    read_usage(config, AS_OF + timedelta(days=1), memo)  # another date: read again
    assert not reused(caplog)


def test_a_changed_byte_another_setting_or_a_dry_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(ROWS, encoding="utf-8")
    config = configured(tmp_path, "usage.csv")
    caplog.set_level(logging.INFO)
    memo = UsageMemo(tmp_path / "copy.duckdb")
    read_usage(config, AS_OF, memo)
    path.write_text(ROWS.replace(",90,4", ",91,4"), encoding="utf-8")  # same size
    changed = read_usage(config, AS_OF, memo)
    assert not reused(caplog) and changed.frame["logins"].tolist()[0] == 91
    read_usage(
        configured(tmp_path, "usage.csv", "salesforce_id"), AS_OF, memo
    )  # every key is now a bad row: read, not reused
    assert not reused(caplog)
    looked = UsageMemo(tmp_path / "copy.duckdb", keep=False)  # a dry run
    path.write_text(ROWS.replace(",90,4", ",92,4"), encoding="utf-8")
    read_usage(config, AS_OF, looked)
    assert not reused(caplog)
    read_usage(config, AS_OF, looked)
    assert not reused(caplog)  # the dry run kept nothing


def test_a_copy_held_by_another_process(tmp_path: Path) -> None:
    """A run stops, named; a dry run reads the usage file itself."""
    (tmp_path / "usage.csv").write_text(ROWS, encoding="utf-8")
    config = configured(tmp_path, "usage.csv")
    path = tmp_path / "copy.duckdb"
    read_usage(config, AS_OF, UsageMemo(path))
    with held_by_another_process(path):
        with pytest.raises(CsSyncError, match="cannot open the local copy"):
            read_usage(config, AS_OF, UsageMemo(path))
        planned = read_usage(config, AS_OF, UsageMemo(path, keep=False))
    assert same(planned, read_usage(config, AS_OF))


def sheet_configured(tmp_path: Path, sandbox: Sandbox) -> Config:
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        '[salesforce]\ninstance_url = "https://acme.my.salesforce.com"\n'
        'client_id = "c"\nclient_secret_env = "S"\n\n'
        f'[usage]\nsource = "sheets"\nspreadsheet_id = "{DASHBOARD_SPREADSHEET_ID}"\n'
        'worksheet = "usage"\naccount_key = "external_key"\n'
        'monthly_feature = "reports_run"\nseasonal_feature = ""\n'
        'columns = { seats = "licences" }\n\n'
        f'[sandbox]\nurl = "{sandbox.url}"\n',
        encoding="utf-8",
    )
    return load_config(config_path)


def usage_sheet(
    tmp_path: Path, sandbox: Sandbox, gc: gspread.Client
) -> tuple[gspread.Worksheet, Config]:
    """ROWS as a usage tab of the sandbox's spreadsheet, and a config that reads it."""
    tab = gc.open_by_key(DASHBOARD_SPREADSHEET_ID).add_worksheet("usage", rows=10, cols=6)
    tab.update([line.split(",") for line in ROWS.splitlines()], "A1", value_input_option="RAW")
    return tab, sheet_configured(tmp_path, sandbox)


def test_an_unchanged_sheet_is_not_read_again(
    tmp_path: Path, sandbox: Sandbox, gc: gspread.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """One Drive call asks the spreadsheet's version; the tab is read only when it moved."""
    tab, config = usage_sheet(tmp_path, sandbox, gc)
    caplog.set_level(logging.INFO)
    memo = UsageMemo(tmp_path / "copy.duckdb")
    fresh = read_usage(config, AS_OF)
    assert fresh.problems and fresh.blanks
    first = read_usage(config, AS_OF, memo)
    assert not reused(caplog) and same(first, fresh)
    served = sandbox.requests_served
    again = read_usage(config, AS_OF, memo)
    assert reused(caplog) and same(again, fresh)
    assert sandbox.requests_served - served == 1  # the version, not the tab
    tab.update([["91"]], "E2", value_input_option="RAW")  # any write moves the version
    changed = read_usage(config, AS_OF, memo)
    assert not reused(caplog) and changed.frame["logins"].tolist()[0] == 91
    kept = read_usage(config, AS_OF, memo)
    assert reused(caplog) and same(kept, changed)
    read_usage(config, AS_OF + timedelta(days=1), memo)  # another date: read again
    assert not reused(caplog)


def test_without_drive_the_sheet_is_read_whole_and_the_log_says_why(
    tmp_path: Path, sandbox: Sandbox, gc: gspread.Client, caplog: pytest.LogCaptureFixture
) -> None:
    _, config = usage_sheet(tmp_path, sandbox, gc)
    caplog.set_level(logging.INFO)
    memo = UsageMemo(tmp_path / "copy.duckdb")
    sandbox.faults.set(drive_disabled=1000)
    first = read_usage(config, AS_OF, memo)
    assert "Google Drive API has not been used" in caplog.text
    assert "an unchanged tab is not read again" in caplog.text
    assert not reused(caplog)
    again = read_usage(config, AS_OF, memo)
    assert not reused(caplog) and same(again, first)  # read whole every time, never stale
    sandbox.faults.set(drive_disabled=0)
    read_usage(config, AS_OF, memo)
    assert not reused(caplog)  # nothing was kept without a version
    read_usage(config, AS_OF, memo)
    assert reused(caplog)


def test_the_account_keys_are_kept_as_numbers_beside_their_values(tmp_path: Path) -> None:
    # DuckDB makes an ENUM of a categorical column it is given: an ENUM of 87,000 keys took
    # 117 MB of its memory beyond the write's bound (the first run's peak at 100,000
    # accounts). Codes are numbers like the other columns, the keys a table of their own.
    keys = [f"001{n:015d}" for n in range(20_000)]
    frame = pd.DataFrame(
        {
            "account_key": pd.Categorical([*keys, None, *reversed(keys)]),
            "month": pd.Timestamp("2026-10-01"),
            "seats": np.arange(40_001, dtype=np.float32),
            "line": np.arange(2, 40_003, dtype=np.int32),
        }
    )
    table = UsageTable(frame, [], "usage.csv", [])
    memo = UsageMemo(tmp_path / "copy.duckdb")
    assert memo.read("s", lambda: table) is table
    kinds = column_types(tmp_path / "copy.duckdb", "usage_memo_rows")
    assert kinds["account_key"] in ("TINYINT", "SMALLINT", "INTEGER"), kinds
    again = memo.read("s", lambda: pytest.fail("read again"))
    assert same(again, table)
    assert again.frame["account_key"].isna().sum() == 1
