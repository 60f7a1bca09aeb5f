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
from cs_sync.connectors.page_charts import bars, lines, shown, yen

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
.scroll { overflow-x: auto; }
.target.met { border-left: 6px solid #2e7d32; } .target.missed { border-left: 6px solid #c62828; }
.target.unknown { border-left: 6px solid #9e9e9e; }
table.kpi td { text-align: right; white-space: nowrap; }
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
    revenue: pd.DataFrame | None = None,
    at_risk: tuple[str, ...] = ("C", "D"),
    targets: pd.DataFrame | None = None,
) -> Path:
    """Write accounts.csv, kpi_daily.csv, kpi_periods.csv (the revenue KPIs), kpi_targets.csv
    (the targets against the actuals), tasks.csv and index.html; returns index.html.
    `at_risk`: the grades the ARR-at-risk KPIs counted."""
    _write_atomic(folder / "accounts.csv", _csv(accounts))
    _write_atomic(folder / "kpi_daily.csv", _csv(kpis))
    _write_atomic(folder / "tasks.csv", _csv(tasks))
    if revenue is not None:
        _write_atomic(folder / "kpi_periods.csv", _csv(revenue))
    if targets is not None:
        _write_atomic(folder / "kpi_targets.csv", _csv(targets))
    page = folder / "index.html"
    _write_atomic(page, render_html(accounts, kpis, title, revenue, at_risk, targets))
    return page


REVENUE_HEADLINE = (
    ("nrr", "NRR", "rate"),
    ("grr", "GRR", "rate"),
    ("expansion_arr", "Expansion", "yen"),
    ("churned_arr", "Churned ARR", "yen"),
    ("revenue_churn_rate", "Revenue churn", "rate"),
    ("logo_churn_rate", "Logo churn", "rate"),
    ("renewal_rate", "Renewal rate", "rate"),
)


def _revenue_section(revenue: pd.DataFrame | None) -> str:
    """NRR, GRR, expansion and churn this fiscal year so far, last fiscal year, the last
    complete month and the twelve months to it; then NRR and GRR by month as lines."""
    heading = '<section style="margin-top:16px"><h2>NRR, expansion and churn</h2>'
    if revenue is None or revenue.empty:
        return (
            f"{heading}<p>No closed renewal, expansion or first-contract opportunity was read: "
            "check salesforce.opportunities.</p></section>"
        )
    revenue = revenue[revenue["dimension"] == "all"]
    columns = []
    years = revenue[revenue["grain"] == "fiscal_year"].drop_duplicates("period")
    for year in years.sort_values("period_start", ascending=False).itertuples():
        columns.append((str(year.period), "so far" if not year.complete else ""))
    months = revenue[(revenue["grain"] == "month") & revenue["complete"]]
    if len(months):
        columns.append((str(months["period"].iloc[-1]), ""))
    ttm = revenue[revenue["grain"] == "ttm"]
    if len(ttm):
        columns.append((str(ttm["period"].iloc[-1]), ""))
    values = revenue.set_index(["period", "metric"])["value"]
    basis = revenue.drop_duplicates("period").set_index("period")["basis"]
    head = "".join(
        f"<th>{html.escape(period)}{' ' + note if note else ''}"
        f'<div class="label">{html.escape(str(basis.get(period, "")))}</div></th>'
        for period, note in columns
    )
    body = "".join(
        f"<tr><th>{label}</th>"
        + "".join(
            f"<td>{shown(float(values[(p, metric)]), unit)}</td>"
            if (p, metric) in values
            else "<td>-</td>"
            for p, _ in columns
        )
        + "</tr>"
        for metric, label, unit in REVENUE_HEADLINE
    )
    by_month = months.pivot_table(index="period", columns="metric", values="value")
    chart = lines(
        list(by_month.index),
        [
            (name, [None if v != v else float(v) for v in by_month.get(metric, [])], colour)
            for metric, name, colour in (("nrr", "NRR", "#1565c0"), ("grr", "GRR", "#ef6c00"))
        ],
        unit="rate",
    )
    return (
        f'{heading}<div class="scroll"><table class="kpi"><thead><tr><th></th>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table></div><h3>NRR and GRR by month</h3>{chart}"
        "<p>Cohort: accounts paying when the period starts. Under each period, its basis: "
        "<em>opportunities</em> (closed renewal, expansion and first-contract opportunities) "
        "until the history's snapshots cover the period, then <em>history</em>. Data in "
        "kpi_periods.csv.</p></section>"
    )


RATE_METRICS = {"nrr", "grr", "renewal_rate", "onboarding_completion_rate"}
METRIC_LABELS = {
    "nrr": "NRR",
    "grr": "GRR",
    "expansion_arr": "Expansion",
    "churned_arr": "Churned ARR",
    "revenue_churn_rate": "Revenue churn",
    "logo_churn_rate": "Logo churn",
    "renewal_rate": "Renewal rate",
    "onboarding_completion_rate": "Onboarding in time",
    "phase_ups": "Phase-ups",
    "tasks_overdue": "Tasks overdue",
    "health_score_avg": "Average health",
}


def _target_value(metric: str, value: float) -> str:
    if metric.endswith("_arr") or metric.startswith(("arr", "renewal_arr")):
        return yen(value)
    if metric in RATE_METRICS or metric.endswith("_rate") or metric.endswith("_annualised"):
        return shown(value, "rate")
    return f"{value:,.1f}".removesuffix(".0")


def _targets_section(targets: pd.DataFrame | None) -> str:
    """Each target against its actual, with the gap: green when met, red when not, grey
    while the KPI has no value for the period."""
    if targets is None or targets.empty:
        return ""
    cards = []
    for row in targets.itertuples():
        metric = str(row.metric)
        sign = "≥" if row.direction == "at_least" else "≤"
        if row.actual is None or row.actual != row.actual:
            state, actual, gap = "unknown", "-", "no value yet"
        else:
            state = "met" if row.met else "missed"
            actual = _target_value(metric, float(row.actual))
            gap = ("+" if row.gap >= 0 else "−") + _target_value(metric, abs(float(row.gap)))
        dimension = "" if row.dimension == "all" else f" · {row.dimension}"
        under_way = "" if row.complete else " (so far)"
        cards.append(
            f'<div class="card target {state}"><div class="label">'
            f"{html.escape(METRIC_LABELS.get(metric, metric))}{html.escape(dimension)} · "
            f"{html.escape(str(row.period))}{under_way}</div>"
            f'<div class="value">{actual}</div><div class="label">target {sign} '
            f"{_target_value(metric, float(row.target))} · gap {gap}</div></div>"
        )
    return (
        '<section style="margin-bottom:16px"><h2>Targets</h2>'
        f'<div class="cards">{"".join(cards)}</div></section>'
    )


def _time_in_phase(accounts: pd.DataFrame, phases: list[str]) -> str:
    """Per phase: its accounts, and the median and longest days they have been in it (from
    the history: empty until it knows since when)."""
    if "days_in_phase" not in accounts:
        return ""
    days = pd.to_numeric(accounts["days_in_phase"], errors="coerce")
    if not (days > 0).any():  # the history has one date so far: nothing to tell yet
        return ""
    rows = []
    for phase in phases:
        these = days[accounts["phase"] == phase].dropna()
        if len(these):
            rows.append(
                f"<tr><td>{html.escape(phase)}</td><td>{len(these):,}</td>"
                f"<td>{these.median():,.0f}</td><td>{these.max():,.0f}</td></tr>"
            )
    return (
        "<h3>Days in the current phase (since the history first saw it)</h3><table>"
        "<thead><tr><th>Phase</th><th>Accounts</th><th>Median</th><th>Longest</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _metric(kpis: pd.DataFrame, metric: str, dimension: str = "all") -> float:
    match = kpis[(kpis["metric"] == metric) & (kpis["dimension"] == dimension)]
    return float(match["value"].iloc[0]) if len(match) else 0.0


def render_html(
    accounts: pd.DataFrame,
    kpis: pd.DataFrame,
    title: str,
    revenue: pd.DataFrame | None = None,
    at_risk_grades: tuple[str, ...] = ("C", "D"),
    targets: pd.DataFrame | None = None,
) -> str:
    grades = [d for d in kpis[kpis["metric"] == "accounts_by_grade"]["dimension"]]
    as_of = str(kpis["date"].iloc[0]) if len(kpis) else ""
    by_grade = bars(
        [
            (
                f"Grade {g}" if g != "none" else "No data",
                _metric(kpis, "accounts_by_grade", g),
                _GRADE_COLOURS.get(g, "#607d8b"),
            )
            for g in grades
        ]
    )
    arr_by_grade = bars(
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
    renewals = bars(
        [
            (f"≤ {w} days", _metric(kpis, f"renewal_arr_due_{w}d"), "#1565c0")
            for w in (30, 60, 90, 120)
        ],
        unit="yen",
    )
    at_risk = bars(
        [
            (f"≤ {w} days", _metric(kpis, f"renewal_arr_at_risk_{w}d"), "#c62828")
            for w in (30, 60, 90, 120)
        ],
        unit="yen",
    )
    phases = [d for d in kpis[kpis["metric"] == "accounts_by_phase"]["dimension"]]
    by_phase = bars([(p, _metric(kpis, "accounts_by_phase", p), "#00897b") for p in phases])
    strategies = [d for d in kpis[kpis["metric"] == "renewal_arr_by_strategy"]["dimension"]]
    by_strategy = bars(
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
    phase_section = (
        f"<section><h2>Lifecycle phase (accounts)</h2>{by_phase}"
        f"{_time_in_phase(accounts, phases)}</section>"
        if phases
        else ""
    )
    return f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{PAGE_STYLE}</head><body>
<h1>{html.escape(title)}</h1>
<div class="sub">As of {html.escape(as_of)} · generated by cs-sync · data in kpi_daily.csv,
accounts.csv and tasks.csv beside this page</div>
<div class="cards">{cards}</div>
{_targets_section(targets)}
<div class="grid">
<section><h2>Health distribution (accounts)</h2>{by_grade}</section>
<section><h2>Health distribution (ARR)</h2>{arr_by_grade}</section>
<section><h2>Renewals coming due (ARR)</h2>{renewals}</section>
<section><h2>Renewal ARR at risk (grade {risky_grades})</h2>{at_risk}</section>
{phase_section}
{strategy_section}
</div>
{_revenue_section(revenue)}
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
        grades = bars(
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
        bands = bars(
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
