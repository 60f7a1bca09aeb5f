"""The usage CSV: ids kept as strings and normalised, every bad row named by line and column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cs_sync.connectors.usage_csv import read_usage_csv
from cs_sync.errors import InputError

AS_OF = date(2026, 11, 24)
HEADER = (
    "account_id,month,seats,active_users,logins,payslips_sent,year_end_adjustments,surveys_run\n"
)


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "usage.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_ids_are_normalised_and_types_set(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "001A000001HbB2z,2026-10,100,80,900,80,0,1\n001a000001hbb2ziaf,2026-09,100,70,800,70,0,0\n",
    )
    table = read_usage_csv(path, AS_OF, "salesforce_id", "skip")
    assert table.problems == []
    assert table.frame["account_key"].tolist() == ["001A000001HbB2zIAF"] * 2
    assert table.frame["month"].dt.strftime("%Y-%m").tolist() == ["2026-10", "2026-09"]
    assert table.frame["active_users"].tolist() == [80, 70]


def test_external_keys_keep_leading_zeros(tmp_path: Path) -> None:
    path = write(tmp_path, "00123,2026-10,10,5,50,5,0,0\n")
    table = read_usage_csv(path, AS_OF, "external_key", "skip")
    assert table.frame["account_key"].tolist() == ["00123"]


def test_bad_rows_are_named_and_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        (
            "001A000001HbB2z,2026-10,100,80,900,80,0,1\n"  # line 2: fine
            "not-an-id,2026-10,100,80,900,80,0,1\n"  # line 3
            "001A000001HbB2z,Oct 2026,100,80,900,80,0,1\n"  # line 4
            "001A000001HbB2z,2026-09,100,lots,900,80,0,1\n"  # line 5
            "001A000001HbB2z,2026-08,100,-1,900,80,0,1\n"  # line 6
            "001A000001HbB2z,2027-01,100,80,900,80,0,1\n"  # line 7: future
            "001A000001HbB2z,2026-07,100,80,900,80,0,1\n"  # line 8: duplicate of 9
            "001A000001HbB2zIAF,2026-07,100,81,900,80,0,1\n"  # line 9
        ),
    )
    table = read_usage_csv(path, AS_OF, "salesforce_id", "skip")
    assert [str(p) for p in table.problems] == [
        "line 3, column account_id: 'not-an-id' is not a Salesforce id",
        "line 4, column month (account 001A000001HbB2zIAF): 'Oct 2026' is not a month (YYYY-MM)",
        "line 7, column month (account 001A000001HbB2zIAF): 2027-01 is after the run date "
        "2026-11-24",
        "line 5, column active_users (account 001A000001HbB2zIAF): 'lots' is not a "
        "non-negative number",
        "line 6, column active_users (account 001A000001HbB2zIAF): '-1' is not a "
        "non-negative number",
        "line 8, column month (account 001A000001HbB2zIAF): more than one row for this "
        "account and month",
        "line 9, column month (account 001A000001HbB2zIAF): more than one row for this "
        "account and month",
    ]
    assert table.frame["line"].tolist() == [2]


def test_stop_policy_uses_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "001A000001HbB2z,2026-10,100,80,900,80,0,1\nbad,2026-10,1,1,1,1,0,0\n")
    with pytest.raises(InputError, match=r"(?s)1 bad row\(s\); nothing was used.*line 3"):
        read_usage_csv(path, AS_OF, "salesforce_id", "stop")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("", "is empty", id="empty-file"),
        pytest.param(HEADER, "has a header but no rows", id="header-only"),
        pytest.param(
            "account_id,month,seats\n001A000001HbB2z,2026-10,1\n",
            "missing column\\(s\\) active_users",
            id="missing-columns",
        ),
    ],
)
def test_unusable_files(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, content, header="")
    with pytest.raises(InputError, match=message):
        read_usage_csv(path, AS_OF, "salesforce_id", "skip")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist; check usage.path"):
        read_usage_csv(tmp_path / "nope.csv", AS_OF, "salesforce_id", "skip")


def test_your_own_column_names_and_features(tmp_path: Path) -> None:
    """A product that is not payroll: seats are "licences", the monthly feature is reports,
    no seasonal feature; the config says so and the same checks apply."""
    from cs_sync.config import load_config
    from cs_sync.extract import read_usage

    (tmp_path / "usage.csv").write_text(
        "account_id,month,licences,active_users,logins,reports_run\n"
        "00123,2026-10,10,8,90,4\n00123,2026-09,10,7,80,x\n",
        encoding="utf-8",
    )
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        '[salesforce]\ninstance_url = "https://acme.my.salesforce.com"\n'
        'client_id = "c"\nclient_secret_env = "S"\n\n'
        '[usage]\npath = "usage.csv"\naccount_key = "external_key"\n'
        'monthly_feature = "reports_run"\nseasonal_feature = ""\n'
        'columns = { seats = "licences" }\n',
        encoding="utf-8",
    )
    config = load_config(config_path)
    assert config.usage.metrics == ("seats", "active_users", "logins", "reports_run")
    table = read_usage(config, AS_OF)
    assert table.frame[["seats", "reports_run"]].values.tolist() == [[10, 4]]
    assert "line 3, column reports_run (account 00123)" in str(table.problems[0])
    config_path.write_text(
        config_path.read_text("utf-8").replace('"licences"', '"seat_count"'), encoding="utf-8"
    )
    with pytest.raises(InputError, match="missing column.*seat_count.*usage.columns"):
        read_usage(load_config(config_path), AS_OF)
