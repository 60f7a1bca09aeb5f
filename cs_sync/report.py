"""The human-readable run summary printed by `run`, `plan` and `demo`."""

from __future__ import annotations

import os
from typing import Any

from cs_sync.backfill import BackfillResult
from cs_sync.backtest import BacktestResult
from cs_sync.config import Config
from cs_sync.connectors.page_charts import yen
from cs_sync.result import RunResult


def _shown_path(path: str) -> str:
    """Relative to the current folder when that is shorter (it usually is)."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if len(relative) < len(path) else path


def _read_words(read: dict[str, Any]) -> str:
    if read["whole"]:
        return f"whole ({read['why']})"
    return (
        f"by changes: {sum(read['changed'].values())} changed, "
        f"{sum(read['removed'].values())} removed, "
        f"{sum(read['read_again'].values())} read again for a parent's change"
    )


def summary_text(result: RunResult, title: str = "cs-sync run") -> str:
    grades = (
        " · ".join(f"{'no data' if g == 'none' else g} {n}" for g, n in result.grade_counts.items())
        or "-"
    )
    lines = [
        f"{title} {result.as_of.isoformat()}: {result.status}"
        + (" (dry run: nothing written)" if result.dry_run else "")
    ]
    rows = [("accounts read", str(result.accounts_read))]
    if result.read is not None:
        rows.append(("book read", _read_words(result.read)))
    rows.append(("grades", grades))
    if result.phase_counts:
        phases = " · ".join(f"{name} {n}" for name, n in result.phase_counts.items() if n)
        moves = result.phase_moves
        rows.append(("phases", phases))
        rows.append(
            (
                "",
                f"{result.phases_delayed} behind schedule · "
                f"{moves.get('up', 0)} moved up, {moves.get('down', 0)} down since the last run",
            )
        )
    if any(result.strategy_counts.values()):
        rows.append(
            (
                "renewal plans",
                " · ".join(f"{name} {n}" for name, n in result.strategy_counts.items() if n),
            )
        )
    if result.dry_run and result.plan is not None:
        rows.append(
            (
                "would change",
                f"{len(result.plan.updates)} account(s), {result.plan.fields_to_write} field(s)",
            )
        )
        rows.append(("would create", f"{len(result.plan.tasks)} task(s)"))
        rows.append(("would close", f"{len(result.plan.closes)} task(s)"))
        if len(result.plan.alerts):
            rows.append(("would alert", f"{len(result.plan.alerts)} time(s)"))
    else:
        rows.append(
            (
                "accounts changed",
                f"{result.accounts_changed} ({result.fields_written} field(s) written)",
            )
        )
        rows.append(("tasks created", str(result.tasks_created)))
        rows.append(("tasks closed", str(result.tasks_closed)))
        if result.alerts:
            shown = ", ".join(
                f"{n} {state.replace('_', ' ')}" for state, n in result.alerts.items() if n
            )
            rows.append(("alerts", shown or "none"))
    rows.append(("errors", str(len(result.errors))))
    if result.warnings:
        rows.append(("warnings", str(len(result.warnings))))
    usage = f" (org daily usage {result.api_usage})" if result.api_usage else ""
    rows.append(
        (
            "API calls",
            f"Salesforce {result.salesforce_api_calls}{usage} · Sheets {result.sheets_api_calls}"
            + (f" · webhooks {result.webhook_calls}" if result.webhook_calls else ""),
        )
    )
    if result.dashboard:
        rows.append(("dashboard", _shown_path(result.dashboard)))
    if result.history:
        rows.append(("history", _history_place(result.history)))
    rows.append(("took", f"{result.duration_s:.1f} s"))
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    for problem in (result.errors + result.warnings)[:10]:
        lines.append(f"  ! {problem.kind} {problem.record or ''}: {problem.message}")
    hidden = len(result.errors) + len(result.warnings) - 10
    if hidden > 0:
        lines.append(f"  ... and {hidden} more (use --json for all)")
    return "\n".join(lines)


def _history_place(described: str) -> str:
    """HistoryConfig.describe(): a file path (shown short) or bigquery:project.dataset."""
    return described if described.startswith("bigquery:") else _shown_path(described)


def backfill_text(result: BackfillResult, config: Config) -> str:
    lines = [
        f"cs-sync backfill: {result.status}"
        + (" (dry run: nothing written)" if result.dry_run else ""),
        f"  dates         {result.dates} ({result.dates_written} computed, "
        f"{result.dates_skipped} already done or kept from a daily run)",
        f"  accounts      up to {result.accounts} a date",
        f"  history       {_history_place(config.history.describe())}",
    ]
    if result.dashboard or config.dashboard.spreadsheet_id:
        places = [p for p in (result.dashboard, config.dashboard.spreadsheet_id and "Sheets") if p]
        failed = any(p.kind in ("dashboard", "history") for p in result.errors)
        state = "not refreshed (see below)" if failed else f"refreshed ({', '.join(places)})"
        lines.append(f"  dashboard     {state}")
    lines.append(f"  took          {result.duration_s:.1f} s")
    if result.salesforce is not None:
        lines.append(summary_text(result.salesforce, "  Salesforce, today's values,"))
    for problem in result.errors[:10]:
        lines.append(f"  ! {problem.kind} {problem.record or ''}: {problem.message}")
    if len(result.errors) > 10:
        lines.append(f"  ... and {len(result.errors) - 10} more (use --json for all)")
    return "\n".join(lines)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _number(value: float | None, form: str = "{:.2f}") -> str:
    return "-" if value is None else form.format(value)


def _with_interval(value: float | None, interval: list[float] | None, form: str) -> str:
    if value is None:
        return "-"
    shown = form.format(value)
    if interval is None:
        return shown
    return f"{shown} ({form.format(interval[0])}-{form.format(interval[1])})"


def _trend(trend: dict[str, Any]) -> str:
    verdict = trend["verdict"]
    if trend["p"] is None:
        return verdict
    p = "p < 0.001" if trend["p"] < 0.001 else f"p {trend['p']:.3f}"
    if verdict == "not conclusive":
        return f"not conclusive: {trend['churned_accounts']} churned accounts ({p})"
    return {"rises": "yes", "no clear rise": "NO clear rise"}.get(verdict, verdict) + f" ({p})"


def _arr_lost(report: dict[str, Any]) -> str:
    each = report["arr_lost_per_churned_account"]
    if not report["churned_accounts"]:
        return "-"
    return (
        f"{yen(report['arr_lost'])} by {report['churned_accounts']:,} accounts ({yen(each)} each)"
    )


def _switching(name: str, changes: dict[str, Any]) -> list[str]:
    """What switching to another configuration would change today."""
    flows = ", ".join(f"{k} {v}" for k, v in list(changes["grade_flows"].items())[:8])
    tasks = changes["tasks"]
    lines = [
        "",
        f"Switching to {name} today ({changes['as_of']}): "
        f"{changes['grade_changes']:,} of {changes['accounts']:,} accounts change grade"
        + (f" ({flows})" if flows else ""),
        f"  tasks this run: {tasks['config']['create']} created and "
        f"{tasks['config']['close']} closed now; {tasks['candidate']['create']} created and "
        f"{tasks['candidate']['close']} closed with the candidate "
        f"(before the per-run caps: {tasks['config']['wanted']} vs "
        f"{tasks['candidate']['wanted']} wanted)",
    ]
    for example in changes["examples"][:10]:
        lines.append(
            f"  ~ {example['name']} [{example['account_id']}]: "
            f"{example['from'] or '-'} -> {example['to'] or '-'}"
        )
    return lines


def backtest_text(result: BacktestResult) -> str:
    """The backtest report: the headline measures side by side, then each configuration's
    churn by grade, calibration and segments, then what switching would do today."""
    scored = [result.base] + ([result.candidate] if result.candidate else [])
    names = [_shown_path(str(s.config.path)) for s in scored]
    churn = ", ".join(kind.replace("_", " ") for kind in result.churn)
    dates = result.dates
    lines = [
        f"cs-sync backtest: {len(dates)} monthly date(s) {dates[0]} to {dates[-1]}; churn = "
        f"{churn} within {result.horizon_days} days after each date",
        "",
    ]
    reports = [s.report for s in scored]
    alert = reports[0]["renewal_alert"]
    rows = [
        ("", names),
        ("observations", [f"{r['observations']:,} ({r['accounts']:,} accounts)" for r in reports]),
        (
            "churned",
            [
                f"{r['churned']:,} ({_share(r['base_rate'])}); {r['churned_accounts']:,} accounts"
                for r in reports
            ],
        ),
        ("contracted", [f"{r['contracted']:,}" for r in reports]),
        ("ROC AUC", [_with_interval(r["auc"], r["intervals"]["auc"], "{:.2f}") for r in reports]),
        (
            "worst-grade lift",
            [
                _with_interval(r["worst_grade_lift"], r["intervals"]["worst_grade_lift"], "{:.1f}x")
                for r in reports
            ],
        ),
        ("churn rises as grades fall", [_trend(r["trend"]) for r in reports]),
        ("ARR lost", [_arr_lost(r) for r in reports]),
        (
            "renewal alert",
            [
                f"precision {_share(r['renewal_alert']['precision'])}, "
                f"recall {_share(r['renewal_alert']['recall'])}"
                for r in reports
            ],
        ),
    ]
    width = max(len(v) for _, values in rows for v in values) + 3
    for label, values in rows:
        lines.append(f"  {label:<28}" + "".join(f"{v:<{width}}" for v in values).rstrip())
    lines.append(
        f"  (intervals: 95%, from {reports[0]['intervals']['resamples']:,} resamplings of the "
        "accounts; the alert: grade "
        f"{' or '.join(alert['grades'])} within {alert['window_days']} days of renewal, judged "
        f"on the {alert['population']:,} observations that close to it)"
    )
    for report, name in zip(reports, names, strict=True):
        if not report["conclusive"]:
            lines.append(
                f"  ! {name}: only {report['churned_accounts']} churned account(s): not "
                "conclusive (about 20 are needed before these figures mean much)"
            )
    for one, name in zip(scored, names, strict=True):
        lines += ["", f"Churn by grade, {name}:"]
        lines.append("         account-dates                              accounts (each once)")
        lines.append(
            "  grade  observed  churned   rate  95% interval     accounts  churned   rate  "
            "   ARR lost  note"
        )
        intervals = one.report["intervals"]["churn_rate_by_grade"]
        by_account = {row["grade"]: row for row in one.report["by_grade_accounts"]}
        for row in one.report["by_grade"]:
            once = by_account[row["grade"]]
            spread = intervals.get(row["grade"])
            shown = f"{_share(spread[0])}-{_share(spread[1])}" if spread else "-"
            lines.append(
                f"  {row['grade']:<5}  {row['accounts']:>8,}  {row['churned']:>7,}  "
                f"{_share(row['churn_rate']):>5}  {shown:<15}  {once['accounts']:>8,}  "
                f"{once['churned']:>7,}  {_share(once['churn_rate']):>5}  "
                f"{yen(once['arr_lost']):>10}  " + ("" if once["conclusive"] else "not conclusive")
            )
        lines.append(
            "  calibration (score band: churn rate, accounts): "
            + " · ".join(
                f"{band['band']}: {_share(band['churn_rate'])} ({band['accounts']:,})"
                for band in one.report["calibration"]
            )
        )
        if one.report.get("measures"):
            lines.append(
                "  measures (alone: the AUC of the measure by itself; without: how the "
                "score's AUC moves without it):"
            )
            for row in one.report["measures"]:
                change = row["drop_one_change"]
                lines.append(
                    f"    {row['measure']:<24} weight {row['weight']:>5g}  alone "
                    f"{_number(row['alone_auc']):>5}  without "
                    f"{'-' if change is None else f'{change:+.3f}':>7}  data "
                    f"{row['with_data']:>4.0%}  {'; '.join(row['notes'])}".rstrip()
                )
        lines.append(
            "  how early (days before churn: AUC, share graded at risk, churned accounts): "
            + " · ".join(
                f"{band['days_before_churn']}: {_number(band['auc'])}, "
                f"{_share(band['at_risk_share'])} ({band['accounts']:,}"
                + ("" if band["conclusive"] else ", not conclusive")
                + ")"
                for band in one.report["lead_time"]
            )
        )
        lines.append(
            "  by segment (AUC, churn rate): "
            + " · ".join(
                f"{segment} {_number(report['auc'])}, {_share(report['base_rate'])}"
                for segment, report in one.by_segment.items()
            )
        )
    if result.candidate is not None and result.changes:
        lines += _switching(names[1], result.changes)
    if result.fit is not None:
        fit = result.fit
        lines += [
            "",
            f"Fitted weights, written to {_shown_path(str(fit.path))} (a logistic regression "
            f"on {fit.observations:,} observations; AUC on held-out accounts: fitted "
            f"{_number(fit.cv_auc)}, configured {_number(fit.configured_cv_auc)}):",
            "  measure                  configured  fitted",
        ]
        stale = {m["measure"] for m in result.base.report["measures"] if m["no_history"]}
        for row in fit.weights:
            fitted = f"{row['fitted']:g}" if row["fitted"] else "dropped"
            note = "  fitted on today's values (no history): trust it less"
            lines.append(
                f"  {row['measure']:<24} {row['configured']:>10g}  {fitted:>7}"
                + (note if row["measure"] in stale else "")
            )
        lines += _switching("the fitted weights", fit.changes)
    for warning in result.warnings:
        lines.append(f"  ! {warning}")
    lines.append(f"\n(took {result.duration_s:.1f} s)")
    return "\n".join(lines)
