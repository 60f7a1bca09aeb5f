"""The local dashboard: CSV tables plus a self-contained index.html that opens offline.

For the demo and for admins previewing what the Looker Studio dashboard will show. Files are
written to a temporary name and renamed, so a reader never sees a half-written file.
CRM-sourced strings are neutralised in CSV (formula_safe.py: a leading = + - @, after any
spaces or line breaks, gets a ' prefix), and a cell holding a line break is quoted.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from cs_sync.connectors.formula_safe import CSV_LINE_END, neutralise

PAGE_STYLE = """<style>
body { font-family: system-ui, "Hiragino Sans", "Noto Sans JP", sans-serif; margin: 24px;
       color: #212121; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; } .sub { color: #616161; margin-bottom: 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 20px; }
.card { background: #fff; border: 1px solid #e0e0e0; border-radius: 8px; padding: 12px 16px;
         min-width: 150px; }
.label { color: #616161; font-size: 12px; } .value { font-size: 22px; font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
section { background: #fff; border: 1px solid #e0e0e0; border-radius: 8px; padding: 12px 16px; }
h2 { font-size: 15px; margin: 0 0 8px; }
h3 { font-size: 13px; margin: 12px 0 4px; color: #616161; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #eee; padding: 6px; text-align: left; vertical-align: top; }
.gC { color: #f57f17; font-weight: 600; } .gD { color: #c62828; font-weight: 600; }
</style>"""
_GRADE_COLOURS = {"A": "#2e7d32", "B": "#7cb342", "C": "#f9a825", "D": "#c62828", "none": "#9e9e9e"}


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _csv(frame: pd.DataFrame) -> str:
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(neutralise)
    return str(safe.to_csv(index=False, lineterminator=CSV_LINE_END))


def write_local_dashboard(
    folder: Path,
    accounts: pd.DataFrame,
    kpis: pd.DataFrame,
    tasks: pd.DataFrame,
    title: str,
    monthly: pd.DataFrame | None = None,
    at_risk: tuple[str, ...] = ("C", "D"),
) -> Path:
    """Write accounts.csv, kpi_daily.csv, kpi_monthly.csv (with a history), tasks.csv and
    index.html; returns index.html. `at_risk`: the grades the ARR-at-risk KPIs counted."""
    _write_atomic(folder / "accounts.csv", _csv(accounts))
    _write_atomic(folder / "kpi_daily.csv", _csv(kpis))
    _write_atomic(folder / "tasks.csv", _csv(tasks))
    if monthly is not None:
        _write_atomic(folder / "kpi_monthly.csv", _csv(monthly))
    page = folder / "index.html"
    _write_atomic(page, render_html(accounts, kpis, title, monthly, at_risk))
    return page


MONTHLY_HEADLINE = (
    ("nrr", "NRR"),
    ("grr", "GRR"),
    ("revenue_churn_rate", "Revenue churn"),
    ("logo_churn_rate", "Logo churn"),
    ("renewal_rate", "Renewal rate"),
)


def _monthly_section(monthly: pd.DataFrame | None) -> str:
    """NRR and churn: the last complete month and the twelve months to it, then NRR by
    month as bars. Empty without a history."""
    if monthly is None or monthly.empty:
        return (
            '<section style="margin-top:16px"><h2>NRR and churn by month</h2>'
            "<p>Needs the history: appears after runs in two calendar months, or at once after "
            "<code>cs-sync backfill</code>.</p></section>"
        )
    last = monthly["period"].max()
    latest = monthly[monthly["period"] == last].set_index(["dimension", "metric"])["value"]
    cells = []
    for metric, label in MONTHLY_HEADLINE:
        for dimension, when in (("month", last[:7]), ("ttm", "12 months")):
            if (dimension, metric) in latest:
                cells.append(
                    f'<div class="card"><div class="label">{label} ({html.escape(when)})</div>'
                    f'<div class="value">{latest[(dimension, metric)]:.1%}</div></div>'
                )
    nrr = monthly[(monthly["metric"] == "nrr") & (monthly["dimension"] == "month")]
    bars = _bars(
        [
            (str(p)[:7], float(v), "#1565c0")
            for p, v in zip(nrr["period"], nrr["value"], strict=True)
        ],
        unit="percent",
    )
    return (
        '<section style="margin-top:16px"><h2>NRR and churn by month</h2>'
        f'<div class="cards">{"".join(cells)}</div><h3>NRR by month</h3>{bars}'
        "<p>Cohort: accounts paying at the start of the period; data in kpi_monthly.csv.</p>"
        "</section>"
    )


def _metric(kpis: pd.DataFrame, metric: str, dimension: str = "all") -> float:
    match = kpis[(kpis["metric"] == metric) & (kpis["dimension"] == dimension)]
    return float(match["value"].iloc[0]) if len(match) else 0.0


def yen(value: float) -> str:
    if value >= 100_000_000:
        return f"¥{value / 100_000_000:.2f}億"
    if value >= 10_000:
        return f"¥{value / 10_000:,.0f}万"
    return f"¥{value:,.0f}"


def _bars(items: list[tuple[str, float, str]], width: int = 420, unit: str = "") -> str:
    """A horizontal bar chart as inline SVG: (label, value, colour)."""
    top = max((v for _, v, _ in items), default=0) or 1
    row = 28
    parts = [
        f'<svg role="img" width="{width}" height="{row * len(items) + 4}" '
        f'viewBox="0 0 {width} {row * len(items) + 4}">'
    ]
    for index, (label, value, colour) in enumerate(items):
        y = index * row + 2
        length = (width - 190) * value / top
        shown = (
            yen(value)
            if unit == "yen"
            else f"{value:.0%}"
            if unit == "percent"
            else f"{value:,.0f}"
        )
        parts.append(
            f'<text x="0" y="{y + 17}" font-size="13">{html.escape(label)}</text>'
            f'<rect x="90" y="{y + 4}" width="{length:.1f}" height="18" fill="{colour}">'
            f"<title>{html.escape(label)}: {shown}</title></rect>"
            f'<text x="{96 + length:.1f}" y="{y + 17}" font-size="12">{shown}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(
    accounts: pd.DataFrame,
    kpis: pd.DataFrame,
    title: str,
    monthly: pd.DataFrame | None = None,
    at_risk_grades: tuple[str, ...] = ("C", "D"),
) -> str:
    grades = [d for d in kpis[kpis["metric"] == "accounts_by_grade"]["dimension"]]
    as_of = str(kpis["date"].iloc[0]) if len(kpis) else ""
    by_grade = _bars(
        [
            (
                f"Grade {g}" if g != "none" else "No data",
                _metric(kpis, "accounts_by_grade", g),
                _GRADE_COLOURS.get(g, "#607d8b"),
            )
            for g in grades
        ]
    )
    arr_by_grade = _bars(
        [
            (
                f"Grade {g}" if g != "none" else "No data",
                _metric(kpis, "arr_by_grade", g),
                _GRADE_COLOURS.get(g, "#607d8b"),
            )
            for g in grades
        ],
        unit="yen",
    )
    renewals = _bars(
        [
            (f"≤ {w} days", _metric(kpis, f"renewal_arr_due_{w}d"), "#1565c0")
            for w in (30, 60, 90, 120)
        ],
        unit="yen",
    )
    at_risk = _bars(
        [
            (f"≤ {w} days", _metric(kpis, f"renewal_arr_at_risk_{w}d"), "#c62828")
            for w in (30, 60, 90, 120)
        ],
        unit="yen",
    )
    phases = [d for d in kpis[kpis["metric"] == "accounts_by_phase"]["dimension"]]
    by_phase = _bars([(p, _metric(kpis, "accounts_by_phase", p), "#00897b") for p in phases])
    strategies = [d for d in kpis[kpis["metric"] == "renewal_arr_by_strategy"]["dimension"]]
    by_strategy = _bars(
        [(s, _metric(kpis, "renewal_arr_by_strategy", s), "#6a1b9a") for s in strategies],
        unit="yen",
    )
    strategy_section = (
        f"<section><h2>Renewal ARR by strategy (renewals in the plan window)</h2>"
        f"{by_strategy}</section>"
        if strategies
        else ""
    )
    risky = accounts[
        accounts["grade"].isin(["C", "D"])
        & (pd.to_numeric(accounts["days_to_renewal"], errors="coerce").between(0, 120))
    ]
    risky = risky.sort_values("arr", ascending=False).head(25)
    rows = "".join(
        f"<tr><td>{html.escape(str(r.name))}</td><td class=g{html.escape(str(r.grade))}>"
        f"{html.escape(str(r.grade))}</td><td>{r.score:.0f}</td><td>{yen(float(r.arr or 0))}"
        f"</td><td>{int(r.days_to_renewal)}</td><td>{html.escape(str(r.reasons or ''))}</td></tr>"
        for r in risky.itertuples(index=False)
    )
    cards = "".join(
        f'<div class="card"><div class="label">{label}</div><div class="value">{value}</div></div>'
        for label, value in [
            ("Accounts", f"{_metric(kpis, 'accounts'):,.0f}"),
            ("ARR", yen(_metric(kpis, "arr"))),
            ("Average health", f"{_metric(kpis, 'health_score_avg'):.1f}"),
            ("ARR at risk (120 days)", yen(_metric(kpis, "renewal_arr_at_risk_120d"))),
            ("Tasks created", f"{_metric(kpis, 'tasks_created'):,.0f}"),
        ]
        + (
            [
                ("Phase-ups since last run", f"{_metric(kpis, 'phase_ups'):,.0f}"),
                ("Phase behind schedule", f"{_metric(kpis, 'phase_delayed'):,.0f}"),
            ]
            if phases
            else []
        )
    )
    risky_grades = html.escape(" / ".join(at_risk_grades))
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{PAGE_STYLE}</head><body>
<h1>{html.escape(title)}</h1>
<div class="sub">As of {html.escape(as_of)} · generated by cs-sync · data in kpi_daily.csv,
accounts.csv and tasks.csv beside this page</div>
<div class="cards">{cards}</div>
<div class="grid">
<section><h2>Health distribution (accounts)</h2>{by_grade}</section>
<section><h2>Health distribution (ARR)</h2>{arr_by_grade}</section>
<section><h2>Renewals coming due (ARR)</h2>{renewals}</section>
<section><h2>Renewal ARR at risk (grade {risky_grades})</h2>{at_risk}</section>
{f"<section><h2>Lifecycle phase (accounts)</h2>{by_phase}</section>" if phases else ""}
{strategy_section}
</div>
{_monthly_section(monthly)}
<section style="margin-top:16px"><h2>Renewals at risk in the next 120 days</h2>
<table><thead><tr><th>Account</th><th>Grade</th><th>Score</th><th>ARR</th><th>Days to renewal</th>
<th>Why</th></tr></thead><tbody>{rows or '<tr><td colspan="6">None</td></tr>'}</tbody></table>
</section>
</body></html>
"""


def write_backtest_page(path: Path, report: dict[str, Any]) -> Path:
    """The backtest as a page that opens offline: the headline measures, churn rate by grade
    and by score band for each configuration (`report` is BacktestResult.as_json())."""
    configs = [report["config"]] + ([report["candidate"]] if "candidate" in report else [])
    sections = []
    for config in configs:
        name = html.escape(Path(config["path"]).name)
        grades = _bars(
            [
                (
                    f"Grade {row['grade']}" if row["grade"] != "none" else "No data",
                    row["churn_rate"] or 0.0,
                    _GRADE_COLOURS.get(row["grade"], "#607d8b"),
                )
                for row in config["by_grade"]
            ],
            unit="percent",
        )
        bands = _bars(
            [
                (band["band"], band["churn_rate"] or 0.0, "#1565c0")
                for band in config["calibration"]
            ],
            unit="percent",
        )
        auc = "-" if config["auc"] is None else f"{config['auc']:.2f}"
        lift = "-" if config["worst_grade_lift"] is None else f"{config['worst_grade_lift']:.1f}x"
        sections.append(
            f'<section><h2>{name}: ROC AUC <span class="auc">{auc}</span>, worst-grade lift '
            f"{lift}, churn {'rises' if config['monotonic'] else 'does NOT rise'} as grades "
            f"fall</h2><h3>Churn rate by grade</h3>{grades}"
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
