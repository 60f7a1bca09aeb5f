"""The local dashboard opened in a real browser (headless Chromium) with the network cut off:
its charts are there, drawn from the page alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.connectors.local_dashboard import write_local_dashboard
from cs_sync.connectors.settings import KpiTarget
from cs_sync.kpis import snapshot_kpis
from cs_sync.revenue import period_kpis, periods
from cs_sync.targets import target_table
from tests.connectors.test_local_dashboard import accounts
from tests.test_revenue import AS_OF as REVENUE_AS_OF
from tests.test_revenue import timeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("CI must install Chromium (.ci/run does): the browser test cannot be skipped")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")


def open_in_browser(page: Path, profile: Path) -> str:
    """The DOM after load, with every host name resolving nowhere (no network at all)."""
    completed = subprocess.run(  # noqa: S603 - the browser we found, our own file
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def test_the_dashboard_draws_its_charts_offline(tmp_path: Path) -> None:
    frame = accounts().assign(phase="Adoption", phase_delayed=False, phase_change=None)
    kpis = snapshot_kpis(
        frame, ["A", "B", "C", "D"], ("C", "D"), date(2026, 11, 24), 1, ["Adoption"]
    )
    revenue = period_kpis(timeline(), periods(REVENUE_AS_OF))
    nrr = KpiTarget.model_validate({"metric": "nrr", "at_least": "110%"})
    targets = target_table((nrr,), revenue, kpis, REVENUE_AS_OF)
    page = write_local_dashboard(
        tmp_path, frame, kpis, pd.DataFrame(), "cs-sync", revenue, ("C", "D"), targets
    )
    dom = open_in_browser(page, tmp_path / "profile")
    assert "Health distribution (accounts)" in dom and "NRR, expansion and churn" in dom
    assert dom.count("<svg") >= 6 and dom.count("<rect") >= 10
    # last fiscal year's NRR with its upsells, beside this year's so far
    assert "<th>FY2025" in dom and "<td>115.0%</td>" in dom and "FY2026 so far" in dom
    assert dom.count("<polyline") == 2  # NRR and GRR by month
    # the target beside its actual: last year met by 5 points, this year so far missed
    assert 'class="card target met"' in dom and 'class="card target missed"' in dom
    assert "target ≥ 110.0% · gap +5.0%" in dom
    assert "<script>alert(1)</script>" not in dom  # CRM text stays text
