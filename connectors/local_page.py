"""The local KPI dashboard page: one self-contained index.html, in the run's language, that
opens offline and reads at 420 px as on a desk (grids fold to one column, wide tables
scroll inside their section, charts scale with their viewBox). Japanese text asks for the
Japanese fonts a machine may have; where it has none, a line at the top says so (a small
script measures the text, the only script on the page). CRM text is always escaped."""

from __future__ import annotations

import html

import pandas as pd

from cs_sync.connectors.page_charts import bars, lines, shown, stacked, yen
from cs_sync.connectors.page_words import metric_label, words

JAPANESE_FONTS = (
    "Hiragino Sans",
    "Hiragino Kaku Gothic ProN",
    "Yu Gothic",
    "Meiryo",
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "Source Han Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "TakaoGothic",
    "VL Gothic",
)
FONT_STACK = ", ".join(["system-ui", *(f'"{f}"' for f in JAPANESE_FONTS), "sans-serif"])
PAGE_STYLE = f"""<style>
body {{ font-family: {FONT_STACK}; margin: 16px; color: #212121; background: #fafafa; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} .sub {{ color: #616161; margin-bottom: 16px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 20px; }}
.card {{ background: #fff; border: 1px solid #e0e0e0; border-radius: 8px; padding: 12px 16px;
         min-width: 140px; flex: 1 1 140px; }}
.label {{ color: #616161; font-size: 12px; }} .value {{ font-size: 22px; font-weight: 600; }}
.grid {{ display: grid; gap: 16px;
         grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); }}
section {{ background: #fff; border: 1px solid #e0e0e0; border-radius: 8px; padding: 12px;
           min-width: 0; }}
h2 {{ font-size: 15px; margin: 0 0 8px; }}
h3 {{ font-size: 13px; margin: 12px 0 4px; color: #616161; font-weight: 600; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ border-bottom: 1px solid #eee; padding: 6px; text-align: left; vertical-align: top; }}
.scroll {{ overflow-x: auto; }} svg.chart text {{ font-family: {FONT_STACK}; }}
.target.met {{ border-left: 6px solid #2e7d32; }}
.target.missed {{ border-left: 6px solid #c62828; }}
.target.unknown {{ border-left: 6px solid #9e9e9e; }}
.late {{ color: #c62828; font-weight: 600; }}
.csms {{ grid-template-columns: repeat(auto-fit, minmax(min(100%, 260px), 1fr)); }}
section.csm h3 {{ color: #212121; font-size: 14px; }}
table.kpi td {{ text-align: right; white-space: nowrap; }}
.gC {{ color: #f57f17; font-weight: 600; }} .gD {{ color: #c62828; font-weight: 600; }}
#font-note {{ background: #fff8e1; border: 1px solid #ffe082; padding: 8px 12px;
              border-radius: 8px; }}
</style>"""
GRADE_COLOURS = {"A": "#2e7d32", "B": "#7cb342", "C": "#f9a825", "D": "#c62828", "none": "#9e9e9e"}
# Shows the note when the page's fonts draw no Japanese: Japanese text then measures exactly
# as wide as as many unassigned code points (both are the same missing-glyph box); a font that
# has the glyphs draws them at their own width.
FONT_CHECK = (
    "<script>(function(){var c=document.createElement('canvas').getContext('2d');"
    "c.font='32px '+getComputedStyle(document.body).fontFamily;"
    "var found=c.measureText('日本語のテキスト').width!=="
    "c.measureText('\\u0378\\u0378\\u0378\\u0378\\u0378\\u0378\\u0378\\u0378').width;"
    "document.body.setAttribute('data-japanese-font',found?'yes':'no');"
    "if(!found){document.getElementById('font-note').hidden=false;}})();</script>"
)
REVENUE_HEADLINE = (
    ("nrr", "rate"),
    ("grr", "rate"),
    ("expansion_arr", "yen"),
    ("churned_arr", "yen"),
    ("revenue_churn_rate", "rate"),
    ("logo_churn_rate", "rate"),
    ("renewal_rate", "rate"),
    ("ltv_cac", "ratio"),
    ("cac_payback_months", "months"),
)
RATE_METRICS = {"nrr", "grr", "renewal_rate", "onboarding_completion_rate"}


def render_html(
    accounts: pd.DataFrame,
    kpis: pd.DataFrame,
    title: str,
    revenue: pd.DataFrame | None = None,
    at_risk_grades: tuple[str, ...] = ("C", "D"),
    targets: pd.DataFrame | None = None,
    csm: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    language: str = "ja",
) -> str:
    """`kpis`: the run's KPI rows; `history`: every date's (the grade mix over time)."""
    w = words(language)
    grades = [d for d in kpis[kpis["metric"] == "accounts_by_grade"]["dimension"]]
    as_of = str(kpis["date"].iloc[0]) if len(kpis) else ""

    def grade_bars(metric: str, unit: str = "") -> str:
        return bars(
            [
                (_grade(g, w), _metric(kpis, metric, g), GRADE_COLOURS.get(g, "#607d8b"))
                for g in grades
            ],
            unit=unit,
        )

    def window_bars(metric: str, colour: str) -> str:
        return bars(
            [
                (w["within_days"].format(days=d), _metric(kpis, f"{metric}_{d}d"), colour)
                for d in (30, 60, 90, 120)
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
    sections = [
        (w["health_accounts"], grade_bars("accounts_by_grade")),
        (w["health_arr"], grade_bars("arr_by_grade", "yen")),
        (w["renewals_due"], window_bars("renewal_arr_due", "#1565c0")),
        (
            w["renewal_at_risk"].format(grades=" / ".join(at_risk_grades)),
            window_bars("renewal_arr_at_risk", "#c62828"),
        ),
    ]
    if phases:
        sections.append((w["phases"], by_phase + _time_in_phase(accounts, phases, w)))
    if strategies:
        sections.append((w["strategies"], by_strategy))
    mix = _grade_mix(history, grades, w)
    if mix:
        sections.append((w["grade_mix"], mix))
    grid = "".join(f"<section><h2>{html.escape(h)}</h2>{body}</section>" for h, body in sections)
    cards = [
        (w["accounts"], f"{_metric(kpis, 'accounts'):,.0f}"),
        (w["arr"], yen(_metric(kpis, "arr"))),
        (w["average_health"], f"{_metric(kpis, 'health_score_avg'):.1f}"),
        (w["arr_at_risk_120"], yen(_metric(kpis, "renewal_arr_at_risk_120d"))),
        (w["tasks_created_30"], f"{_tasks_created(kpis, csm):,.0f}"),
    ]
    if phases:
        cards += [
            (w["phase_ups"], f"{_metric(kpis, 'phase_ups'):,.0f}"),
            (w["behind"], f"{_metric(kpis, 'phase_delayed'):,.0f}"),
        ]
    card_html = "".join(
        f'<div class="card"><div class="label">{html.escape(label)}</div>'
        f'<div class="value">{value}</div></div>'
        for label, value in cards
    )
    return f"""<!doctype html>
<html lang="{"ja" if language == "ja" else "en"}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{PAGE_STYLE}</head><body>
<p id="font-note" hidden>{html.escape(w["font_note"])}</p>
<h1>{html.escape(title)}</h1>
<div class="sub">{html.escape(w["sub"].format(as_of=as_of))}</div>
<div class="cards">{card_html}</div>
{_targets_section(targets, language)}
<div class="grid">{grid}</div>
{_revenue_section(revenue, language)}
{_csm_section(csm, language)}
{_at_risk_section(accounts, at_risk_grades, w)}
{FONT_CHECK}
</body></html>
"""


def _grade(grade: str, w: dict[str, str]) -> str:
    return w["grade"].format(grade=grade) if grade != "none" else w["no_data"]


def _metric(kpis: pd.DataFrame, metric: str, dimension: str = "all") -> float:
    match = kpis[(kpis["metric"] == metric) & (kpis["dimension"] == dimension)]
    return float(match["value"].iloc[0]) if len(match) else 0.0


def _tasks_created(kpis: pd.DataFrame, csm: pd.DataFrame | None) -> float:
    """cs-sync's Tasks created over the last 30 days (the CSMs' books), else this run's."""
    if csm is not None and len(csm):
        return float(csm[csm["metric"] == "tasks_created_30d"]["value"].sum())
    return _metric(kpis, "tasks_created")


def _grade_mix(history: pd.DataFrame | None, grades: list[str], w: dict[str, str]) -> str:
    """Accounts by grade on each date of the history, one line a grade (two dates at least)."""
    if history is None or history.empty:
        return ""
    mix = history[history["metric"] == "accounts_by_grade"]
    table = mix.pivot_table(index="date", columns="dimension", values="value", aggfunc="last")
    if len(table) < 2:
        return ""
    table.index = [str(d)[:10] for d in table.index]
    return lines(
        list(table.index),
        [
            (
                _grade(g, w),
                [None if v != v else float(v) for v in table.get(g, [])],
                GRADE_COLOURS.get(g, "#607d8b"),
            )
            for g in grades
            if g in table
        ],
        unit="",
    )


def _time_in_phase(accounts: pd.DataFrame, phases: list[str], w: dict[str, str]) -> str:
    """Per phase: its accounts, and the median and longest days they have been in it (from
    the history: nothing until it has seen a second date)."""
    if "days_in_phase" not in accounts:
        return ""
    days = pd.to_numeric(accounts["days_in_phase"], errors="coerce")
    if not (days > 0).any():
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
        f"<h3>{html.escape(w['days_in_phase'])}</h3><table><thead><tr>"
        f"<th>{w['phase']}</th><th>{w['accounts']}</th><th>{w['median']}</th>"
        f"<th>{w['longest']}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _target_value(metric: str, value: float) -> str:
    if metric.endswith("_arr") or metric.startswith(("arr", "renewal_arr")):
        return yen(value)
    if metric in RATE_METRICS or metric.endswith(("_rate", "_annualised")):
        return shown(value, "rate")
    return f"{value:,.1f}".removesuffix(".0")


def _targets_section(targets: pd.DataFrame | None, language: str) -> str:
    """Each target against its actual, with the gap: green when met, red when not, grey
    while the KPI has no value for the period."""
    if targets is None or targets.empty:
        return ""
    w = words(language)
    cards = []
    for row in targets.itertuples():
        metric = str(row.metric)
        sign = "≥" if row.direction == "at_least" else "≤"
        if row.actual is None or row.actual != row.actual:
            state, actual, gap = "unknown", "-", w["no_value"]
        else:
            state = "met" if row.met else "missed"
            actual = _target_value(metric, float(row.actual))
            gap = ("+" if row.gap >= 0 else "−") + _target_value(metric, abs(float(row.gap)))
        dimension = "" if row.dimension == "all" else f" · {row.dimension}"
        under_way = "" if row.complete else f" ({w['so_far']})"
        cards.append(
            f'<div class="card target {state}"><div class="label">'
            f"{html.escape(metric_label(metric, language) + dimension)} · "
            f"{html.escape(str(row.period))}{under_way}</div>"
            f'<div class="value">{actual}</div><div class="label">{w["target"]} {sign} '
            f"{_target_value(metric, float(row.target))} · {w['gap']} {gap}</div></div>"
        )
    return (
        f'<section style="margin-bottom:16px"><h2>{w["targets"]}</h2>'
        f'<div class="cards">{"".join(cards)}</div></section>'
    )


def _revenue_section(revenue: pd.DataFrame | None, language: str) -> str:
    """NRR, GRR, expansion and churn this fiscal year so far, last fiscal year, the last
    complete month and the twelve months to it; then NRR and GRR by month as lines."""
    w = words(language)
    heading = f'<section style="margin-top:16px"><h2>{w["revenue"]}</h2>'
    if revenue is None or revenue.empty:
        return f"{heading}<p>{html.escape(w['no_revenue'])}</p></section>"
    revenue = revenue[revenue["dimension"] == "all"]
    columns = []
    years = revenue[revenue["grain"] == "fiscal_year"].drop_duplicates("period")
    for year in years.sort_values("period_start", ascending=False).itertuples():
        columns.append((str(year.period), w["so_far"] if not year.complete else ""))
    months = revenue[(revenue["grain"] == "month") & revenue["complete"]]
    if len(months):
        columns.append((str(months["period"].iloc[-1]), ""))
    ttm = revenue[revenue["grain"] == "ttm"]
    if len(ttm):
        columns.append((str(ttm["period"].iloc[-1]), ""))
    values = revenue.set_index(["period", "metric"])["value"]
    basis = revenue.drop_duplicates("period").set_index("period")["basis"]
    head = "".join(
        f"<th>{html.escape(period)}{' ' + html.escape(note) if note else ''}"
        f'<div class="label">{html.escape(str(basis.get(period, "")))}</div></th>'
        for period, note in columns
    )
    body = "".join(
        f"<tr><th>{html.escape(metric_label(metric, language))}</th>"
        + "".join(
            f"<td>{shown(float(values[(p, metric)]), unit)}</td>"
            if (p, metric) in values
            else "<td>-</td>"
            for p, _ in columns
        )
        + "</tr>"
        for metric, unit in REVENUE_HEADLINE
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
        f"</thead><tbody>{body}</tbody></table></div><h3>{w['by_month']}</h3>{chart}"
        f"<p>{w['revenue_note']}</p></section>"
    )


def _csm_section(csm: pd.DataFrame | None, language: str) -> str:
    """A card per CSM, the largest book first: accounts and ARR, the grade mix, the accounts
    behind schedule and the renewal ARR at risk, and the Tasks (created over 30 days, open,
    overdue)."""
    if csm is None or csm.empty:
        return ""
    w = words(language)
    values = csm.set_index(["csm", "metric", "dimension"])["value"]

    def value(name: str, metric: str, dimension: str = "all") -> float:
        return float(values.get((name, metric, dimension), 0.0))

    names = sorted(set(csm["csm"]), key=lambda n: (-value(n, "arr"), n))
    grades = list(dict.fromkeys(csm[csm["metric"] == "accounts_by_grade"]["dimension"]))
    cards = []
    for name in names:
        mix = stacked(
            [
                (_grade(g, w), value(name, "accounts_by_grade", g), GRADE_COLOURS.get(g, "#607d8b"))
                for g in grades
            ]
        )
        overdue = value(name, "tasks_overdue")
        figures = [
            (w["accounts"], f"{value(name, 'accounts'):,.0f}"),
            (w["arr"], yen(value(name, "arr"))),
            (metric_label("phase_delayed", language), f"{value(name, 'phase_delayed'):,.0f}"),
            (
                metric_label("renewal_arr_at_risk_120d", language),
                yen(value(name, "renewal_arr_at_risk_120d")),
            ),
            (w["tasks_created_30"], f"{value(name, 'tasks_created_30d'):,.0f}"),
            (w["tasks_open"], f"{value(name, 'tasks_open'):,.0f}"),
            (
                w["tasks_overdue"],
                f'<span class="{"late" if overdue else ""}">{overdue:,.0f}</span>',
            ),
        ]
        running = float(
            csm[(csm["csm"] == name) & (csm["metric"] == "playbooks_running")]["value"].sum()
        )
        if running:
            steps_late = value(name, "playbook_steps_overdue")
            figures += [
                (w["playbooks_running"], f"{running:,.0f}"),
                (
                    w["playbook_steps"],
                    f"{value(name, 'playbook_steps_open'):,.0f} / "
                    f'<span class="{"late" if steps_late else ""}">{steps_late:,.0f}</span>',
                ),
            ]
        rows = "".join(
            f"<tr><th>{html.escape(label)}</th><td>{figure}</td></tr>" for label, figure in figures
        )
        cards.append(
            f'<section class="csm"><h3>{html.escape(name)}</h3>{mix}'
            f'<table class="kpi">{rows}</table></section>'
        )
    return (
        f'<section style="margin-top:16px"><h2>{w["by_csm"]}</h2>'
        f'<div class="grid csms">{"".join(cards)}</div><p>{w["csm_note"]}</p></section>'
    )


def _at_risk_section(accounts: pd.DataFrame, at_risk: tuple[str, ...], w: dict[str, str]) -> str:
    """The at-risk grades' accounts renewing within 120 days, the largest ARR first."""
    risky = accounts[
        accounts["grade"].isin(list(at_risk))
        & (pd.to_numeric(accounts["days_to_renewal"], errors="coerce").between(0, 120))
    ]
    risky = risky.sort_values("arr", ascending=False).head(25)
    rows = "".join(
        f"<tr><td>{html.escape(str(r.name))}</td><td class=g{html.escape(str(r.grade))}>"
        f"{html.escape(str(r.grade))}</td><td>{r.score:.0f}</td><td>{yen(float(r.arr or 0))}"
        f"</td><td>{int(r.days_to_renewal)}</td><td>{html.escape(str(r.reasons or ''))}</td></tr>"
        for r in risky.itertuples(index=False)
    )
    empty = f'<tr><td colspan="6">{w["none"]}</td></tr>'
    return (
        f'<section style="margin-top:16px"><h2>{w["at_risk_list"]}</h2><div class="scroll">'
        f"<table><thead><tr><th>{w['account']}</th><th>{w['grade'].format(grade='').strip()}</th>"
        f"<th>{w['score']}</th><th>ARR</th><th>{w['days_to_renewal']}</th><th>{w['why']}</th>"
        f"</tr></thead><tbody>{rows or empty}</tbody></table></div></section>"
    )
