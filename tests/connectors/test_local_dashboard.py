"""The local dashboard: CSV safe to open in a spreadsheet, HTML safe and self-contained."""

from __future__ import annotations

import filecmp
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.connectors.formula_safe import CSV_LINE_END, neutralise
from cs_sync.connectors.local_dashboard import _write_csv, write_local_dashboard
from cs_sync.kpis import snapshot_kpis


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+81 3 1234", "'+81 3 1234"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("株式会社サクラ", "株式会社サクラ"),
        (42, 42),
    ],
)
def test_neutralise(value: object, expected: object) -> None:
    assert neutralise(value) == expected


def accounts() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "account_id": "001A",
                "name": '=HYPERLINK("http://x","y")',
                "segment": "High Touch",
                "arr": 3_600_000,
                "score": 20.0,
                "grade": "D",
                "days_to_renewal": 45,
                "reasons": "<script>alert(1)</script>",
            },
            {
                "account_id": "001B",
                "name": "株式会社ミドリ商事",
                "segment": "Low Touch",
                "arr": 1_200_000,
                "score": 90.0,
                "grade": "A",
                "days_to_renewal": 200,
                "reasons": "all measures on target",
            },
        ]
    )


def test_files_are_written_safely(tmp_path: Path) -> None:
    frame = accounts()
    kpis = snapshot_kpis(
        frame, ["A", "B", "C", "D"], ("C", "D"), date(2026, 11, 24), tasks_created=1
    )
    page = write_local_dashboard(tmp_path, frame, kpis, pd.DataFrame(), "KPI")
    html = page.read_text("utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "=HYPERLINK(&quot;http://x&quot;" in html
    assert "http://x" not in html.replace("=HYPERLINK(&quot;http://x", "")
    csv_text = (tmp_path / "accounts.csv").read_text("utf-8")
    assert "'=HYPERLINK" in csv_text
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accounts.csv",
        "index.html",
        "kpi_daily.csv",
        "tasks.csv",
    ]


def test_only_the_files_whose_content_changed_are_written(tmp_path: Path) -> None:
    """An unchanged table keeps its file (and its time), so a copy tool sends only what
    changed; a changed one is replaced."""
    frame = accounts()
    kpis = snapshot_kpis(
        frame, ["A", "B", "C", "D"], ("C", "D"), date(2026, 11, 24), tasks_created=1
    )
    write_local_dashboard(tmp_path, frame, kpis, pd.DataFrame(), "KPI")
    files = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}  # a rename makes a new inode
    write_local_dashboard(tmp_path, frame, kpis, pd.DataFrame(), "KPI")
    assert {p.name: p.stat().st_ino for p in tmp_path.iterdir()} == files
    changed = frame.copy()
    changed.loc[0, "score"] = 1.5
    write_local_dashboard(tmp_path, changed, kpis, pd.DataFrame(), "KPI")
    now = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}
    assert now["accounts.csv"] != files["accounts.csv"] and now["index.html"] != files["index.html"]
    assert now["kpi_daily.csv"] == files["kpi_daily.csv"]
    assert "1.5" in (tmp_path / "accounts.csv").read_text("utf-8")


def test_a_table_written_a_part_at_a_time_is_the_whole_table_s_csv(tmp_path: Path) -> None:
    # 100,000 accounts' CSV as one text (with its encoded copy and the old file's bytes to
    # compare) held some 250 MB; a part of the rows at a time, the file is the same
    frame = pd.concat([accounts()] * 3, ignore_index=True)
    frame.loc[1, "reasons"] = "two\nlines, quoted"
    frame.loc[2, "score"] = float("nan")
    frame["renewal"] = pd.to_datetime(["2027-01-31", None, "2027-03-01"] * 2)
    whole = frame.copy()
    for column in ("account_id", "name", "segment", "grade", "reasons"):
        whole[column] = whole[column].map(neutralise)
    expected = whole.to_csv(index=False, lineterminator=CSV_LINE_END)
    _write_csv(tmp_path / "parts.csv", frame, part=4)
    assert (tmp_path / "parts.csv").read_bytes() == expected.encode("utf-8")
    _write_csv(tmp_path / "empty.csv", frame.iloc[0:0], part=4)
    assert (tmp_path / "empty.csv").read_bytes() == (",".join(frame.columns) + "\r\n").encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv", "parts.csv"]


def test_a_table_whose_old_file_cannot_be_read_is_written_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as before the tables were compared on disk: an unreadable file is replaced, not an error
    frame = accounts()
    _write_csv(tmp_path / "accounts.csv", frame.iloc[:1])

    def unreadable(*_: object, **__: object) -> bool:
        raise PermissionError("denied")

    monkeypatch.setattr(filecmp, "cmp", unreadable)
    _write_csv(tmp_path / "accounts.csv", frame)
    assert "ミドリ" in (tmp_path / "accounts.csv").read_text("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["accounts.csv"]


def test_kpis_by_hand() -> None:
    kpis = snapshot_kpis(
        accounts(), ["A", "B", "C", "D"], ("C", "D"), date(2026, 11, 24), tasks_created=1
    )
    value = {(r.metric, r.dimension): r.value for r in kpis.itertuples()}
    assert value[("accounts", "all")] == 2
    assert value[("arr", "all")] == 4_800_000
    assert value[("health_score_avg", "all")] == 55.0
    assert value[("accounts_by_grade", "D")] == 1 and value[("accounts_by_grade", "B")] == 0
    assert value[("renewal_arr_due_30d", "all")] == 0
    assert value[("renewal_arr_due_60d", "all")] == 3_600_000
    assert value[("renewal_arr_at_risk_60d", "all")] == 3_600_000
    assert value[("renewal_arr_due_120d", "all")] == 3_600_000
    assert value[("tasks_created", "all")] == 1
    assert set(kpis.columns) == {"date", "metric", "dimension", "value"}


# OWASP CSV Injection payloads, and the ways a line break or blank hides one.
PAYLOADS = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://evil.example","click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-2+3+cmd|' /C calc'!A0",
    "=10+20+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "   =1+1",
    "\u3000=1+1",
    "＝1+1",
    "株式会社サクラ\r=1+1",
    "株式会社サクラ\n@SUM(A1)",
    "Alpha\r\n-1+1",
]


def test_no_payload_survives_a_round_trip(tmp_path: Path) -> None:
    """Written as the dashboard CSV, read back by Python's csv module: one row per account
    (no line break starts a row of its own), and no cell a spreadsheet would run."""
    import csv

    template = accounts().iloc[0]
    frame = pd.DataFrame([template] * len(PAYLOADS)).reset_index(drop=True)
    frame["account_id"] = [f"001{i:03d}" for i in range(len(PAYLOADS))]
    frame["name"] = PAYLOADS
    path = tmp_path / "accounts.csv"
    kpis = snapshot_kpis(frame, ["A", "B", "C", "D"], ("C", "D"), date(2026, 11, 24), 0)
    write_local_dashboard(tmp_path, frame, kpis, pd.DataFrame(), "t")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["account_id"] for r in rows] == frame["account_id"].tolist()
    for row, sent in zip(rows, PAYLOADS, strict=True):
        cell = row["name"]
        assert cell.replace("'", "", 1) == sent  # only the apostrophe is added
        first_line_starts = [line.lstrip(" \t\u3000")[:1] for line in cell.splitlines() or [""]]
        assert cell.startswith("'") or first_line_starts[0] not in "=+-@＝＋－＠", sent


@pytest.mark.parametrize("payload", PAYLOADS)
def test_sheets_cells_are_inert_too(payload: str) -> None:
    from cs_sync.connectors.sheet_cells import cell_value

    assert not payload.lstrip(" \t\r\n\u3000").startswith(tuple("=+-@＝＋－＠")) or (
        cell_value(payload) == "'" + payload
    )
