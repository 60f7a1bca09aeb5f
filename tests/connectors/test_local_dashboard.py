"""The local dashboard: CSV safe to open in a spreadsheet, HTML safe and self-contained."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.connectors.local_dashboard import neutralise, write_local_dashboard
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
