"""KPI rows for the dashboard, as one long table: (date, metric, dimension, value).

Long ("tidy") rows survive new metrics without editing the Looker Studio report.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

RENEWAL_WINDOWS = (30, 60, 90, 120)
AT_RISK_GRADES = ("C", "D")


def snapshot_kpis(
    scored: pd.DataFrame,
    grades: list[str],
    as_of: date,
    tasks_created: int,
    phases: list[str] | None = None,
    strategies: list[str] | None = None,
) -> pd.DataFrame:
    """KPIs that need only today's scored accounts. Phase moves are those since the value on
    the record (the previous run)."""
    rows: list[tuple[str, str, float]] = []
    arr = pd.to_numeric(scored["arr"], errors="coerce").fillna(0)
    rows.append(("accounts", "all", float(len(scored))))
    rows.append(("arr", "all", float(arr.sum())))
    scores = pd.to_numeric(scored["score"], errors="coerce")
    rows.append(
        (
            "health_score_avg",
            "all",
            round(float(scores.mean()), 1) if scores.notna().any() else float("nan"),
        )
    )
    for grade in [*grades, "none"]:
        mask = scored["grade"].isna() if grade == "none" else scored["grade"] == grade
        rows.append(("accounts_by_grade", grade, float(mask.sum())))
        rows.append(("arr_by_grade", grade, float(arr[mask].sum())))
    days = pd.to_numeric(scored["days_to_renewal"], errors="coerce")
    for window in RENEWAL_WINDOWS:
        due = (days >= 0) & (days <= window)
        rows.append((f"renewals_due_{window}d", "all", float(due.sum())))
        rows.append((f"renewal_arr_due_{window}d", "all", float(arr[due].sum())))
        risky = due & scored["grade"].isin(AT_RISK_GRADES)
        rows.append((f"renewal_arr_at_risk_{window}d", "all", float(arr[risky].sum())))
    for segment, count in scored["segment"].fillna("(none)").value_counts().sort_index().items():
        rows.append(("accounts_by_segment", str(segment), float(count)))
    if phases is not None and "phase" in scored:
        for phase in phases:
            mask = scored["phase"] == phase
            rows.append(("accounts_by_phase", phase, float(mask.sum())))
            rows.append(("arr_by_phase", phase, float(arr[mask].sum())))
        rows.append(("phase_delayed", "all", float(scored["phase_delayed"].sum())))
        rows.append(("phase_ups", "all", float((scored["phase_change"] == "up").sum())))
        rows.append(("phase_downs", "all", float((scored["phase_change"] == "down").sum())))
    if strategies is not None and "renewal_strategy" in scored:
        for strategy in strategies:
            mask = scored["renewal_strategy"] == strategy
            rows.append(("renewals_by_strategy", strategy, float(mask.sum())))
            rows.append(("renewal_arr_by_strategy", strategy, float(arr[mask].sum())))
        overdue = scored["next_action_overdue"].astype(bool)
        rows.append(("renewal_actions_overdue", "all", float(overdue.sum())))
    rows.append(("tasks_created", "all", float(tasks_created)))
    frame = pd.DataFrame(rows, columns=["metric", "dimension", "value"])
    frame.insert(0, "date", as_of.isoformat())
    return frame
