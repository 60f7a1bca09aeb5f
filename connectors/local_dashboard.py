"""The local dashboard: CSV tables plus a self-contained index.html that opens offline.

For the demo and for admins previewing what the Looker Studio dashboard will show. Files are
written to a temporary name and renamed, so a reader never sees a half-written file, and only
when their content changed.
CRM-sourced strings are neutralised in CSV (formula_safe.py: a leading = + - @, after any
spaces or line breaks, gets a ' prefix), and a cell holding a line break is quoted.
"""

from __future__ import annotations

import filecmp
import html
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from cs_sync.connectors.formula_safe import CSV_LINE_END, neutralise
from cs_sync.connectors.local_page import GRADE_COLOURS, PAGE_STYLE, render_html
from cs_sync.connectors.page_charts import bars

CSV_PART_ROWS = 20_000  # a table's rows written this many at a time


@contextmanager
def _atomic(path: Path) -> Iterator[TextIO]:
    """A text stream (UTF-8) whose content becomes the file's; a file that already holds the
    same is left as it is, so that an unchanged table keeps its time and a copy tool (rsync,
    gsutil rsync) sends only what changed. Compared on disk, not in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
        if _same_file(Path(temporary), path):
            Path(temporary).unlink()
        else:
            os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _same_file(new: Path, old: Path) -> bool:
    """Whether `old` holds what `new` does (no such file, or unreadable: not the same)."""
    try:
        return old.is_file() and filecmp.cmp(new, old, shallow=False)
    except OSError:
        return False


def _write_atomic(path: Path, text: str) -> None:
    with _atomic(path) as stream:
        stream.write(text)


def _write_csv(path: Path, frame: pd.DataFrame, part: int = CSV_PART_ROWS) -> None:
    """The table as CSV, `part` rows at a time: the text of 100,000 accounts at once (and its
    encoded copy, and the file's former bytes to compare) held some 250 MB."""
    with _atomic(path) as stream:
        for start in range(0, max(len(frame), 1), part):
            rows = frame.iloc[start : start + part].copy()
            for column in rows.columns:
                if rows[column].dtype == object or pd.api.types.is_string_dtype(rows[column]):
                    rows[column] = rows[column].map(neutralise)
            rows.to_csv(stream, index=False, header=start == 0, lineterminator=CSV_LINE_END)


def write_local_dashboard(
    folder: Path,
    accounts: pd.DataFrame,
    kpis: pd.DataFrame,
    tasks: pd.DataFrame,
    title: str,
    revenue: pd.DataFrame | None = None,
    at_risk: tuple[str, ...] = ("C", "D"),
    targets: pd.DataFrame | None = None,
    csm: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    language: str = "ja",
) -> Path:
    """Write accounts.csv, kpi_daily.csv, kpi_periods.csv (the revenue KPIs), kpi_targets.csv
    (the targets against the actuals), kpi_csm.csv (each CSM's book), tasks.csv (cs-sync's
    Tasks of the last 30 days) and index.html; returns index.html. `at_risk`: the grades the
    ARR-at-risk KPIs counted; `history`: every date's KPI rows (the grade mix over time)."""
    _write_csv(folder / "accounts.csv", accounts)
    _write_csv(folder / "kpi_daily.csv", kpis)
    _write_csv(folder / "tasks.csv", tasks)
    for name, table in (("kpi_periods", revenue), ("kpi_targets", targets), ("kpi_csm", csm)):
        if table is not None:
            _write_csv(folder / f"{name}.csv", table)
    page = folder / "index.html"
    html_text = render_html(
        accounts, kpis, title, revenue, at_risk, targets, csm, history, language
    )
    _write_atomic(page, html_text)
    return page


def _figure(value: float | None, interval: list[float] | None, form: str) -> str:
    if value is None:
        return "-"
    spread = "" if interval is None else f" ({form.format(interval[0])}–{form.format(interval[1])})"
    return html.escape(form.format(value) + spread)


def _lead_table(bands: list[dict[str, Any]]) -> str:
    """AUC and the share graded at risk by how long before churning an account was seen."""
    rows = []
    for band in bands:
        auc = "-" if band["auc"] is None else f"{band['auc']:.2f}"
        share = "-" if band["at_risk_share"] is None else f"{band['at_risk_share']:.0%}"
        note = "" if band["conclusive"] else " (not conclusive)"
        rows.append(
            f"<tr><td>{html.escape(band['days_before_churn'])}</td><td>{auc}</td>"
            f"<td>{share}</td><td>{band['accounts']:,}{note}</td></tr>"
        )
    return (
        "<table><tr><th>days</th><th>AUC</th><th>graded at risk</th>"
        f"<th>churned accounts</th></tr>{''.join(rows)}</table>"
    )


def _measure_table(rows: list[dict[str, Any]]) -> str:
    """Each measure alone, and how the score's AUC moves without it; flags."""
    lines = []
    for row in rows:
        alone = "-" if row["alone_auc"] is None else f"{row['alone_auc']:.2f}"
        change = row["drop_one_change"]
        without = "-" if change is None else f"{change:+.3f}"
        notes = row["notes"]
        lines.append(
            f"<tr><td>{html.escape(row['measure'])}</td><td>{row['weight']:g}</td>"
            f"<td>{alone}</td><td>{without}</td><td>{html.escape('; '.join(notes))}</td></tr>"
        )
    return (
        "<table><tr><th>measure</th><th>weight</th><th>AUC alone</th><th>AUC without it</th>"
        f"<th>note</th></tr>{''.join(lines)}</table>"
    )


def write_backtest_page(path: Path, report: dict[str, Any]) -> Path:
    """The backtest as a page that opens offline: the headline measures, churn rate by grade
    and by score band for each configuration (`report` is BacktestResult.as_json())."""
    configs = [report["config"]] + ([report["candidate"]] if "candidate" in report else [])
    sections = []
    for config in configs:
        name = html.escape(Path(config["path"]).name)
        grades = bars(
            [
                (
                    f"Grade {row['grade']}" if row["grade"] != "none" else "No data",
                    row["churn_rate"] or 0.0,
                    GRADE_COLOURS.get(row["grade"], "#607d8b"),
                )
                for row in config["by_grade"]
            ],
            unit="percent",
        )
        bands = bars(
            [
                (band["band"], band["churn_rate"] or 0.0, "#1565c0")
                for band in config["calibration"]
            ],
            unit="percent",
        )
        intervals = config["intervals"]
        auc = _figure(config["auc"], intervals["auc"], "{:.2f}")
        lift = _figure(config["worst_grade_lift"], intervals["worst_grade_lift"], "{:.1f}x")
        trend = config["trend"]
        rises = {
            "rises": "rises as grades fall",
            "no clear rise": "shows no clear rise as grades fall",
        }.get(trend["verdict"], "is not conclusive across grades")
        p = "" if trend["p"] is None else f" (trend test p {trend['p']:.3g})"
        caution = (
            ""
            if config["conclusive"]
            else f'<p class="late">Only {config["churned_accounts"]} churned account(s): not '
            "conclusive.</p>"
        )
        lead = bars(
            [
                (f"{band['days_before_churn']} days", band["at_risk_share"] or 0.0, "#c62828")
                for band in config["lead_time"]
            ],
            unit="percent",
        )
        sections.append(
            f'<section><h2>{name}: ROC AUC <span class="auc">{auc}</span>, worst-grade lift '
            f"{lift}; churn {rises}{p}</h2>{caution}"
            f"<p>{config['churned_accounts']:,} churned accounts lost ARR "
            f"{config['arr_lost']:,.0f} (each account counted once, at its last date before "
            f"churning); 95% intervals from {intervals['resamples']:,} resamplings of the "
            f"accounts.</p><h3>Churn rate by grade</h3>{grades}"
            "<h3>How early it warns: share graded at risk, by days before churn</h3>"
            f"{lead}{_lead_table(config['lead_time'])}"
            f"<h3>Each measure</h3>{_measure_table(config.get('measures', []))}"
            f"<h3>Churn rate by score band (calibration)</h3>{bands}</section>"
        )
    dates = report["dates"]
    page = f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cs-sync backtest</title>
{PAGE_STYLE}</head><body>
<h1>cs-sync backtest</h1>
<div class="sub">{len(dates)} monthly dates {html.escape(dates[0])} to {html.escape(dates[-1])};
churn ({html.escape(", ".join(report["churn"]))}) within {report["horizon_days"]} days after
each date · generated by cs-sync</div>
<div class="grid">{"".join(sections)}</div>
</body></html>
"""
    _write_atomic(path, page)
    return path
