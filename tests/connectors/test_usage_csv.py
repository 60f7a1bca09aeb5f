"""The usage CSV: ids kept as strings and normalised, every bad row named by line and column."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cs_sync.connectors.usage_checks import _repeated
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
        "finite non-negative number",
        "line 6, column active_users (account 001A000001HbB2zIAF): '-1' is not a "
        "finite non-negative number",
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
    assert config.usage.all_metrics == ("seats", "active_users", "logins", "reports_run")
    table = read_usage(config, AS_OF)
    assert table.frame[["seats", "reports_run"]].values.tolist() == [[10, 4]]
    assert "line 3, column reports_run (account 00123)" in str(table.problems[0])
    config_path.write_text(
        config_path.read_text("utf-8").replace('"licences"', '"seat_count"'), encoding="utf-8"
    )
    with pytest.raises(InputError, match="missing column.*seat_count.*usage.columns"):
        read_usage(load_config(config_path), AS_OF)


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "NaN", "Infinity"])
def test_numbers_that_are_no_numbers_are_bad_rows(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"001A000001HbB2z,2026-10,100,80,{value},80,0,1\n")
    table = read_usage_csv(path, AS_OF, "salesforce_id", "skip")
    assert [str(p) for p in table.problems] == [
        f"line 2, column logins (account 001A000001HbB2zIAF): {value!r} is not a finite "
        "non-negative number"
    ]
    assert table.frame.empty


def test_blank_cells_are_unknown_not_bad(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "001A000001HbB2z,2026-10,100,80,,80,0,1\n001A000001HbB2z,2026-09,100,80,,80,0,1\n",
    )
    for policy in ("skip", "stop"):
        table = read_usage_csv(path, AS_OF, "salesforce_id", policy)
        assert table.problems == [] and len(table.frame) == 2
        assert table.frame["logins"].isna().all()
        assert [str(b) for b in table.blanks] == [
            "line 2, column logins (account 001A000001HbB2zIAF): 2 blank cell(s) in logins, "
            "the first here: read as unknown, so the measures that use that month count it "
            "as missing data"
        ]


def test_a_duplicated_header_stops_the_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "001A000001HbB2z,2026-10,100,80,900,80,0,1,1\n",
        HEADER.replace("surveys_run", "surveys_run,seats"),
    )
    with pytest.raises(InputError, match="line 1: the header names seats more than once"):
        read_usage_csv(path, AS_OF, "salesforce_id", "skip")


def test_excel_japan_files_and_other_separators(tmp_path: Path) -> None:
    """CP932 (what Excel in Japan saves), semicolons and tabs are read; the rows are the same."""
    body = "001A000001HbB2z,2026-10,100,80,900,80,0,1\n"
    expected = read_usage_csv(write(tmp_path, body), AS_OF, "salesforce_id", "skip").frame
    path = tmp_path / "usage.csv"
    for encoding, separator in (("cp932", ","), ("utf-8-sig", ";"), ("utf-8", "\t")):
        rows = (HEADER + body).replace(",", separator)
        path.write_bytes(rows.encode(encoding))
        table = read_usage_csv(path, AS_OF, "salesforce_id", "skip")
        assert table.frame.equals(expected), (encoding, separator)
    path.write_bytes((HEADER.replace("seats", "席数") + body).encode("cp932"))
    with pytest.raises(InputError, match="missing column.*seats"):
        read_usage_csv(path, AS_OF, "salesforce_id", "skip")  # decoded: the name is readable
    with pytest.raises(InputError, match="not utf-8 text \\(line 1, byte"):
        read_usage_csv(path, AS_OF, "salesforce_id", "skip", encoding="utf-8")


def test_bytes_that_are_no_text_are_named(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_bytes(HEADER.encode() + b"\x81\x7f\xff\xfe,2026-10\n")
    with pytest.raises(InputError, match="neither UTF-8 nor CP932.*line 2, byte 1"):
        read_usage_csv(path, AS_OF, "salesforce_id", "skip")


def test_a_file_read_in_parts_gives_the_table_read_whole(tmp_path: Path) -> None:
    """Parts of two rows: the bad rows, the blanks and a duplicate two parts apart are found as
    in one part, and the rows come typed and compact (a key held once per account)."""
    body = (
        "001A000001HbB2z,2026-10,100,80,900,80,0,1\n"  # line 2
        "001A000001HbB2z,2026-09,100,80,,80,0,1\n"  # line 3: blank logins
        "bad,2026-09,100,80,900,80,0,1\n"  # line 4
        "001A000001HbB2z,2026-08,100,lots,900,80,0,1\n"  # line 5
        "001A000001HbB2z,2026-07,100,80,,80,0,1\n"  # line 6: blank logins
        "001A000001HbB3z,2026-07,100,80,900,80,0,1\n"  # line 7
        "001A000001HbB2zIAF,2026-10,1,1,1,1,0,1\n"  # line 8: duplicate of line 2
    )
    path = write(tmp_path, body)
    whole = read_usage_csv(path, AS_OF, "salesforce_id", "skip")
    parts = read_usage_csv(path, AS_OF, "salesforce_id", "skip", part_rows=2)
    assert parts.frame.equals(whole.frame)
    assert (parts.problems, parts.blanks) == (whole.problems, whole.blanks)
    assert [p.line for p in parts.problems] == [4, 5, 2, 8]
    assert str(parts.blanks[0]).startswith("line 3, column logins (account 001A000001HbB2zIAF): 2 ")
    frame = parts.frame
    assert frame["line"].tolist() == [3, 6, 7]
    assert isinstance(frame["account_key"].dtype, pd.CategoricalDtype)
    assert frame["account_key"].cat.categories.tolist() == [
        "001A000001HbB2zIAF",
        "001A000001HbB3zIAF",
    ]
    assert frame["seats"].dtype == np.float32 and frame["line"].dtype == np.int32
    with pytest.raises(InputError, match=r"4 bad row\(s\)"):
        read_usage_csv(path, AS_OF, "salesforce_id", "stop", part_rows=2)


def test_a_number_beyond_what_the_rules_hold_is_a_bad_row(tmp_path: Path) -> None:
    """The rules compute in 32-bit floats: 1e39 would reach them as infinity."""
    path = write(tmp_path, "001A000001HbB2z,2026-10,100,80,1e39,80,0,1\n")
    table = read_usage_csv(path, AS_OF, "salesforce_id", "skip")
    assert [str(p) for p in table.problems] == [
        "line 2, column logins (account 001A000001HbB2zIAF): '1e39' is over 3.4e38, the largest "
        "number the rules hold"
    ]


def test_bytes_that_are_no_text_far_into_a_large_file_are_named(tmp_path: Path) -> None:
    """The encoding is checked a block at a time: a bad byte past the first block is named by
    its own line and byte, and a CP932 file of that size is read as CP932."""
    row = "001A000001HbB2z,2026-10,100,80,900,80,0,1\n"
    count = 40_000  # 1.7 MB: past the first block
    path = tmp_path / "usage.csv"
    path.write_bytes((HEADER + row * count).encode() + b"001A000001HbB2z,\x81\x7f2026\n")
    with pytest.raises(InputError, match=f"neither UTF-8 nor CP932.*line {count + 2}, byte 17"):
        read_usage_csv(path, AS_OF, "salesforce_id", "skip")
    rows = "".join(f"k{n},2026-10,100,80,900,80,0,1\n" for n in range(count))
    cp932 = tmp_path / "cp932.csv"
    cp932.write_bytes((HEADER + rows + "本社,2026-10,1,1,1,1,0,1\n").encode("cp932"))
    table = read_usage_csv(cp932, AS_OF, "external_key", "skip")
    assert table.problems == [] and len(table.frame) == count + 1
    assert table.frame["account_key"].iloc[-1] == "本社"


def test_a_bom_is_read_past_whatever_the_encoding_setting(tmp_path: Path) -> None:
    """Excel's "CSV UTF-8" starts with a BOM: with encoding "utf-8" set, as with "auto", the
    header's first name is account_id, not the BOM before it."""
    path = tmp_path / "usage.csv"
    path.write_bytes((HEADER + "001A000001HbB2z,2026-10,100,80,900,80,0,1\n").encode("utf-8-sig"))
    for encoding in ("auto", "utf-8"):
        table = read_usage_csv(path, AS_OF, "salesforce_id", "skip", encoding=encoding)
        assert table.problems == [] and len(table.frame) == 1, encoding


@pytest.mark.parametrize("span", [12, 60])  # counted in a table of every pair; sorted
def test_rows_repeating_an_account_and_month_are_all_found(span: int) -> None:
    """Each (account, month) pair as one number, counted (300 accounts over 12 months: fewer
    pairs than rows) or sorted (over 60): the same rows as pandas' duplicated over the two
    columns, every copy marked (three of a kind too), months before 1970 and a key's
    neighbours in the sort left alone."""
    rng = np.random.default_rng(7)
    rows = 5_000
    keys = rng.choice([f"k{i}" for i in range(300)], rows)
    steps = rng.integers(0, span, rows) * 31
    months = pd.to_datetime("1969-01-01") + pd.to_timedelta(steps, "D")
    clean = pd.DataFrame(
        {
            "account_key": pd.Categorical(keys),
            "month": months.to_numpy().astype("datetime64[M]").astype("datetime64[us]"),
        }
    )
    expected = clean.duplicated(["account_key", "month"], keep=False).to_numpy()
    assert expected.any() and not expected.all()
    assert (_repeated(clean) == expected).all()
    assert not _repeated(clean.iloc[0:0]).any()
