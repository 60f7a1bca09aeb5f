"""KPI rows for the dashboard, as one long table: (date, metric, dimension, value).

Long ("tidy") rows survive new metrics without editing the Looker Studio report.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cs_sync.rules.phases import Phase

RENEWAL_WINDOWS = (30, 60, 90, 120)


def snapshot_kpis(
    scored: pd.DataFrame,
    grades: list[str],
    at_risk: tuple[str, ...],
    as_of: date,
    tasks_created: int,
    phases: list[str] | None = None,
    strategies: list[str] | None = None,
) -> pd.DataFrame:
    """KPIs that need only today's scored accounts. Phase moves are those since the value on
    the record (the previous run); ARR at risk is renewal ARR of the `at_risk` grades
    (health.at_risk_grades)."""
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
        risky = due & scored["grade"].isin(at_risk)
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
    if "grade" in scored:
        for window in RENEWAL_WINDOWS:
            due = (days >= 0) & (days <= window)
            for grade in grades:
                mask = due & (scored["grade"] == grade)
                rows.append((f"renewal_arr_due_{window}d", grade, float(arr[mask].sum())))
    rows.append(("tasks_created", "all", float(tasks_created)))
    frame = pd.DataFrame(rows, columns=["metric", "dimension", "value"])
    frame.insert(0, "date", as_of.isoformat())
    return frame


def owner_labels(pairs: list[tuple[pd.Series, pd.Series]]) -> dict[str, str]:
    """User id -> the name managers know the CSM by; "Name (id)" when two users share a
    name; the id alone when no name was read. `pairs`: (ids, names) columns."""
    names: dict[str, str] = {}
    for ids, labels in pairs:
        for user, name in zip(ids, labels, strict=True):
            if isinstance(user, str) and isinstance(name, str) and name.strip():
                names.setdefault(user, name.strip())
    counts = pd.Series(list(names.values())).value_counts()
    return {
        user: name if counts.get(name, 0) == 1 else f"{name} ({user})"
        for user, name in names.items()
    }


def task_kpis(
    new_tasks: pd.DataFrame,
    tasks: pd.DataFrame,
    as_of: date,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per CSM (the Task owner, by name when known): Tasks created this run, cs-sync Tasks
    open, and those open past their due date. `tasks`: cs-sync's Tasks as read before the
    run."""
    labels = labels or {}
    rows: list[tuple[str, str, float]] = []

    def per_owner(metric: str, owners: pd.Series) -> None:
        named = owners.map(lambda user: labels.get(user, str(user)))
        for owner, count in named.value_counts().sort_index().items():
            rows.append((metric, str(owner), float(count)))

    if len(new_tasks):
        per_owner("tasks_created", new_tasks["owner_id"])
    if len(tasks) and "owner_id" in tasks:
        still_open = tasks[~tasks["is_closed"].astype(bool)]
        due = pd.to_datetime(still_open["activity_date"], errors="coerce")
        late = still_open[due < pd.Timestamp(as_of)]
        for metric, frame in (("tasks_open", still_open), ("tasks_overdue", late)):
            per_owner(metric, frame["owner_id"])
            rows.append((metric, "all", float(len(frame))))
    table = pd.DataFrame(rows, columns=["metric", "dimension", "value"])
    table.insert(0, "date", as_of.isoformat())
    return table


def onboarding_kpis(scored: pd.DataFrame, window_months: int, as_of: date) -> pd.DataFrame:
    """Onboarding completed within its window, for the accounts whose window ended in the
    last twelve months: the loose definition (enough seats active), counted when reached no
    later than `window_months` after the contract start."""
    months = pd.to_numeric(scored["months_since_start"], errors="coerce")
    ended = (months >= window_months) & (months < window_months + 12)
    after = pd.to_numeric(scored["onboarded_after_months"], errors="coerce")
    onboarded = scored["onboarded"].astype(bool)
    in_time = onboarded & (after.isna() | (after <= window_months))
    cohort = int(ended.sum())
    rows = [
        ("onboarding_cohort", "all", float(cohort)),
        ("onboarding_completed_in_window", "all", float((ended & in_time).sum())),
    ]
    if cohort:
        rows.append(("onboarding_completion_rate", "all", float((ended & in_time).sum()) / cohort))
    table = pd.DataFrame(rows, columns=["metric", "dimension", "value"])
    table.insert(0, "date", as_of.isoformat())
    return table


# ---------------------------------------------------------------- over time, from the history


def arr_movements(start: pd.DataFrame, end: pd.DataFrame) -> dict[str, float]:
    """ARR movements of the cohort paying at the start (ARR > 0) by the end: an account
    absent from the end snapshot, or at 0, churned; accounts new since the start are left
    out (DOMAIN.md's definitions). `start` / `end`: snapshots indexed by account_id."""
    start_arr = pd.to_numeric(start["arr"], errors="coerce").fillna(0.0)
    cohort = start_arr[start_arr > 0]
    end_arr = pd.to_numeric(end["arr"], errors="coerce").reindex(cohort.index).fillna(0.0)
    churned = end_arr <= 0
    change = end_arr - cohort
    starting = float(cohort.sum())
    churned_arr = float(cohort[churned].sum())
    expansion = float(change[~churned & (change > 0)].sum())
    contraction = float(-change[~churned & (change < 0)].sum())
    out = {
        "starting_arr": starting,
        "starting_accounts": float(len(cohort)),
        "expansion_arr": expansion,
        "contraction_arr": contraction,
        "churned_arr": churned_arr,
        "accounts_lost": float(churned.sum()),
        "accounts_expanded": float((~churned & (change > 0)).sum()),
        "accounts_contracted": float((~churned & (change < 0)).sum()),
    }
    if starting > 0:
        out["nrr"] = (starting + expansion - contraction - churned_arr) / starting
        out["grr"] = (starting - contraction - churned_arr) / starting
        out["revenue_churn_rate"] = (churned_arr + contraction) / starting
        out["logo_churn_rate"] = float(churned.sum()) / len(cohort)
    renewal = pd.to_datetime(start.get("renewal_date"), errors="coerce")
    if renewal is not None and "as_of" in end:
        ending = end["as_of"].max()
        due = renewal.reindex(cohort.index).between(start["as_of"].max(), ending, "right")
        if due.any():
            out["renewals_due"] = float(due.sum())
            out["renewal_rate"] = float((due & ~churned).sum()) / float(due.sum())
    return out


def with_steps(snapshots: pd.DataFrame, phases: tuple[Phase, ...]) -> pd.DataFrame:
    """`phase_step`: each row's step on the lifecycle's ladder (NaN on an overlay or an
    unknown phase), looked up once per phase name however many rows there are."""
    ladder = {p.name: p.step for p in phases if p.step is not None}
    names = snapshots["phase"].astype("category")
    steps = np.array([ladder.get(n, np.nan) for n in names.cat.categories] + [np.nan], dtype=float)
    return snapshots.assign(phase=names, phase_step=steps[names.cat.codes.to_numpy()])


def phase_moves(
    start: pd.DataFrame, end: pd.DataFrame, phases: tuple[Phase, ...]
) -> dict[tuple[str, str], float]:
    """Moves between two snapshots along the lifecycle's ladder (an account on a step at both
    ends, higher or lower at the end), and entries into each overlay (Dormant, Renewal
    window: on it at the end, not at the start), which are no move up or down. Accounts in
    both snapshots; (metric, dimension) -> count."""
    if "phase_step" not in start or "phase_step" not in end:
        start, end = with_steps(start, phases), with_steps(end, phases)
    before = start["phase_step"]
    after = end["phase_step"].reindex(start.index)
    out = {
        ("phase_ups", "all"): float((after > before).sum()),
        ("phase_downs", "all"): float((after < before).sum()),
    }
    was, now = start["phase"], end["phase"].reindex(start.index)
    for phase in phases:
        if phase.step is None:
            entered = (was != phase.name) & (now == phase.name)
            out[("overlay_entries", phase.name)] = float(entered.sum())
    return out
