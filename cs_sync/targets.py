"""KPI targets against the actuals: each [[dashboard.targets]] row read against the KPIs by
period (this period under way and the last complete one) or the run's own KPIs, with the
gap and whether it is met, as one table every dashboard shows."""

from __future__ import annotations

from datetime import date

import pandas as pd

from cs_sync.connectors.output_settings import KpiTarget
from cs_sync.kpis import RENEWAL_WINDOWS

# What a target can name: the KPIs by period (revenue.period_kpis) ...
PERIOD_METRICS = (
    "nrr",
    "grr",
    "starting_arr",
    "starting_accounts",
    "expansion_arr",
    "contraction_arr",
    "churned_arr",
    "accounts_lost",
    "accounts_expanded",
    "accounts_contracted",
    "revenue_churn_rate",
    "revenue_churn_annualised",
    "logo_churn_rate",
    "renewals_due",
    "renewal_rate",
    "phase_ups",
    "phase_downs",
    "overlay_entries",
    "arpa",
    "ltv",
    "ltv_cac",
    "cac_payback_months",
)
# ... and the run's own (kpis.snapshot_kpis, onboarding_kpis, task_kpis)
DAY_METRICS = (
    "accounts",
    "arr",
    "health_score_avg",
    "accounts_by_grade",
    "arr_by_grade",
    "accounts_by_segment",
    "accounts_by_phase",
    "arr_by_phase",
    "phase_delayed",
    "phase_ups",
    "phase_downs",
    "renewals_by_strategy",
    "renewal_arr_by_strategy",
    "renewal_actions_overdue",
    "tasks_created",
    "tasks_open",
    "tasks_overdue",
    "onboarding_cohort",
    "onboarding_completed_in_window",
    "onboarding_completion_rate",
    *(
        f"{kind}_{window}d"
        for window in RENEWAL_WINDOWS
        for kind in ("renewals_due", "renewal_arr_due", "renewal_arr_at_risk")
    ),
)
TARGET_COLUMNS = [
    "metric",
    "dimension",
    "grain",
    "period",
    "complete",
    "target",
    "direction",
    "actual",
    "gap",
    "met",
]


def target_problems(dashboard: object) -> list[str]:
    """A target naming a KPI that does not exist for its kind of period, with the ones that
    do; read from the [dashboard] table as written, so that it is reported beside any other
    mistake in it."""
    targets = dashboard.get("targets") if isinstance(dashboard, dict) else None
    problems = []
    for index, target in enumerate(targets if isinstance(targets, list) else []):
        if not isinstance(target, dict) or not isinstance(target.get("metric"), str):
            continue  # the table's own validation names it
        period = target.get("period", "fiscal_year")
        known = DAY_METRICS if period == "day" else PERIOD_METRICS
        if target["metric"] not in known:
            problems.append(
                f"dashboard.targets[{index}].metric: {target['metric']!r} is no KPI by "
                f"{period}; use one of {', '.join(known)}"
            )
    return problems


def target_table(
    targets: tuple[KpiTarget, ...], by_period: pd.DataFrame, day: pd.DataFrame, as_of: date
) -> pd.DataFrame:
    """One row per target and period: the actual (missing when the KPI has no value for the
    period), the gap (actual - target) and whether it is met. `by_period`: the KPIs by period
    (revenue.PERIOD_COLUMNS); `day`: the run's KPI rows (date, metric, dimension, value)."""
    rows = []
    for target in targets:
        direction = "at_least" if target.at_least is not None else "at_most"
        goal = float(target.at_least if target.at_least is not None else target.at_most or 0.0)
        for period, complete, actual in _actuals(target, by_period, day, as_of):
            gap = None if actual is None else actual - goal
            met = None if gap is None else (gap >= 0 if direction == "at_least" else gap <= 0)
            rows.append(
                (
                    target.metric,
                    target.dimension,
                    target.period,
                    period,
                    complete,
                    goal,
                    direction,
                    actual,
                    gap,
                    met,
                )
            )
    return pd.DataFrame(rows, columns=TARGET_COLUMNS)


def _actuals(
    target: KpiTarget, by_period: pd.DataFrame, day: pd.DataFrame, as_of: date
) -> list[tuple[str, bool, float | None]]:
    """(period, complete, actual) of the periods the target is read in."""
    if target.period == "day":
        found = day[(day["metric"] == target.metric) & (day["dimension"] == target.dimension)]
        value = float(found["value"].iloc[-1]) if len(found) else None
        return [(as_of.isoformat(), False, value)]
    grain = by_period[by_period["grain"] == target.period]
    labels = grain.drop_duplicates("period").sort_values("period_start")
    latest = (
        labels.tail(1)
        if target.period == "ttm"
        else pd.concat([labels[labels["complete"]].tail(1), labels[~labels["complete"]].tail(1)])
    )
    values = grain[(grain["metric"] == target.metric) & (grain["dimension"] == target.dimension)]
    by_label = values.set_index("period")["value"]
    return [
        (
            str(row.period),
            bool(row.complete),
            float(by_label[row.period]) if row.period in by_label.index else None,
        )
        for row in latest.itertuples()
    ]
