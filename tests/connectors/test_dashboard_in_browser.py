"""The local dashboard opened in a real browser (headless Chromium) with the network cut off:
its charts, the revenue table, the targets and the CSMs' books are there, drawn from the
page alone; it reads at 420 px without sideways scrolling; its headings follow the run's
language; it says so when the machine has no Japanese font. Screenshots are kept in
build/test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from cs_sync.connectors.local_dashboard import write_local_dashboard
from cs_sync.connectors.output_settings import KpiTarget
from cs_sync.csm_book import csm_table
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
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def browse(
    page: Path, profile: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Chromium on the page with every host name resolving nowhere (no network at all)."""
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
            *options,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


def open_in_browser(page: Path, profile: Path, env: dict[str, str] | None = None) -> str:
    """The DOM after load."""
    return browse(page, profile, "--dump-dom", env=env).stdout


def dashboard(folder: Path, language: str = "ja") -> Path:
    frame = accounts().assign(
        phase="Adoption",
        phase_delayed=[True, False],
        phase_change=None,
        owner_id=["005A", "005B"],
    )
    kpis = snapshot_kpis(
        frame, ["A", "B", "C", "D"], ("C", "D"), date(2026, 11, 24), 1, ["Adoption"]
    )
    revenue = period_kpis(timeline(), periods(REVENUE_AS_OF))
    nrr = KpiTarget.model_validate({"metric": "nrr", "at_least": "110%"})
    targets = target_table((nrr,), revenue, kpis, REVENUE_AS_OF)
    labels = {"005A": "佐藤 花子", "005B": "Alex <b>Kim</b>"}
    tasks = pd.DataFrame(
        {
            "owner_id": ["005A"],
            "created_date": ["2026-11-20T01:00:00.000+0000"],
            "is_closed": [False],
        }
    )
    csm = csm_table(
        frame,
        ["A", "B", "C", "D"],
        ("C", "D"),
        labels,
        kpis,
        tasks,
        pd.DataFrame(),
        date(2026, 11, 24),
    )
    return write_local_dashboard(
        folder,
        frame,
        kpis,
        pd.DataFrame(),
        "cs-sync",
        revenue,
        ("C", "D"),
        targets,
        csm,
        None,
        language,
    )


def test_the_dashboard_draws_its_charts_offline(tmp_path: Path) -> None:
    page = dashboard(tmp_path)
    dom = open_in_browser(page, tmp_path / "profile")
    assert '<html lang="ja">' in dom
    assert "ヘルス分布（アカウント数）" in dom and "NRR・アップセル・解約" in dom
    assert dom.count("<svg") >= 7 and dom.count("<rect") >= 10
    # last fiscal year's NRR with its upsells, beside this year's so far
    assert "<th>FY2025" in dom and "<td>115.0%</td>" in dom and "FY2026 途中" in dom
    assert dom.count("<polyline") == 2  # NRR and GRR by month
    # the target beside its actual: last year met by 5 points, this year so far missed
    assert 'class="card target met"' in dom and 'class="card target missed"' in dom
    assert "目標 ≥ 110.0% · 差 +5.0%" in dom
    # a card per CSM, CRM text escaped
    assert "CSM 別" in dom and "<h3>佐藤 花子</h3>" in dom and "Alex &lt;b&gt;Kim" in dom
    assert "<script>alert(1)</script>" not in dom  # CRM text stays text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    browse(page, tmp_path / "shot", f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.stat().st_size > 10_000


def test_headings_in_english_for_an_english_run(tmp_path: Path) -> None:
    dom = open_in_browser(dashboard(tmp_path, "en"), tmp_path / "profile")
    assert '<html lang="en">' in dom and "Health distribution (accounts)" in dom
    assert "By CSM" in dom and "ヘルス分布" not in dom


def test_it_reads_at_420_pixels(tmp_path: Path) -> None:
    """Nothing wider than a 420-pixel screen. A browser window is at least 500 pixels wide,
    so the page opens in a 420-pixel frame that reports the width its content takes."""
    dashboard(tmp_path)  # index.html beside the frame
    frame = tmp_path / "frame.html"
    frame.write_text(
        '<html><body style="margin:0"><iframe id="f" src="index.html" width="420" '
        'height="900" style="border:0"></iframe><script>document.getElementById("f").onload='
        "function(){var d=this.contentDocument.documentElement;document.body.setAttribute("
        '"data-width",this.contentWindow.innerWidth+"/"+d.clientWidth+"/"+d.scrollWidth);};'
        "</script></body></html>",
        "utf-8",
    )
    dom = browse(frame, tmp_path / "p", "--allow-file-access-from-files", "--dump-dom").stdout
    viewport, inside, content = dom.split('data-width="', 1)[1].split('"', 1)[0].split("/")
    assert int(viewport) == 420 and int(content) <= int(inside)  # no sideways scrolling
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard-420px.png"
    frame.write_text(frame.read_text("utf-8").replace('height="900"', 'height="3200"'), "utf-8")
    browse(
        frame,
        tmp_path / "s",
        "--allow-file-access-from-files",
        f"--screenshot={shot}",
        "--window-size=500,3200",
    )
    assert shot.stat().st_size > 10_000


def installed_japanese_fonts() -> bool:
    found = subprocess.run(  # noqa: S607 - fontconfig's own tool
        ["fc-list", ":lang=ja"], capture_output=True, text=True, check=False
    )
    return bool(found.stdout.strip())


@pytest.mark.skipif(not DEJAVU.is_dir(), reason="the DejaVu fonts Chromium's package brings")
def test_it_says_so_where_no_japanese_font_exists(tmp_path: Path) -> None:
    page = dashboard(tmp_path)
    config = tmp_path / "fonts.conf"  # a machine whose only fonts are DejaVu's
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{DEJAVU}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>",
        "utf-8",
    )
    bare = open_in_browser(page, tmp_path / "bare", {"FONTCONFIG_FILE": str(config)})
    assert 'data-japanese-font="no"' in bare and '<p id="font-note">' in bare
    here = open_in_browser(page, tmp_path / "here")
    if installed_japanese_fonts():
        assert 'data-japanese-font="yes"' in here and '<p id="font-note" hidden="">' in here
    else:
        assert 'data-japanese-font="no"' in here
