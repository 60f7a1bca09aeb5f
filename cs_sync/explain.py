"""`cs-sync explain`: why one account has its grade, phase, strategy and Tasks, line by line.

Built from the same plan a run computes (nothing is written), by re-reading each rule's
condition on the account's row: every measure's raw value, share and points, every phase
condition, every renewal axis level and strategy rule, every task rule, and every playbook's
steps (which exist, which it creates now, which are scheduled or skipped, and why).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cs_sync.book_reads import TASK_COLUMNS
from cs_sync.config import Config
from cs_sync.errors import InputError
from cs_sync.plan import Plan
from cs_sync.rules.health import Measure, measure_share
from cs_sync.rules.playbooks import plan_playbooks
from cs_sync.rules.tasks import TaskRule, task_period, wanted_pairs
from cs_sync.score import closed_days_for
from cs_sync.sfid import try_to18


def _plain(value: Any) -> Any:
    """JSON-friendly: numpy scalars to Python, missing to None, dates to ISO text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _scaling(measure: Measure) -> str:
    if measure.kind == "bands":
        sign = ">=" if measure.direction == "higher" else "<="
        return "bands " + ", ".join(f"{sign} {t:g}: {s:.0%}" for t, s in measure.bands)
    if measure.kind == "values":
        return "values " + ", ".join(f"{t}: {s:.0%}" for t, s in measure.values)
    return f"linear from {measure.bad:g} (0%) to {measure.good:g} (100%)"


def explain_account(plan: Plan, config: Config, account_id: str) -> dict[str, Any]:
    wanted_id = try_to18(account_id) or account_id
    rows = plan.scored[plan.scored["account_id"] == wanted_id]
    if rows.empty:
        raise InputError(
            f"account {account_id}: not among the {len(plan.scored)} accounts cs-sync reads; "
            "check the id and salesforce.account_filter"
        )
    row = rows.iloc[0]
    return {
        "as_of": plan.as_of.isoformat(),
        "account": {
            "id": wanted_id,
            "name": _plain(row["name"]),
            "segment": _plain(row.get("segment")),
            "arr": _plain(row.get("arr")),
        },
        "health": _health(rows, config),
        "phase": _phase(rows, config),
        "renewal": _renewal(rows, config),
        "tasks": _tasks(rows, plan, config),
        "playbooks": _playbooks(rows, plan, config),
    }


def _playbooks(rows: pd.DataFrame, plan: Plan, config: Config) -> list[dict[str, Any]]:
    account = rows.iloc[0]["account_id"]
    tasks = plan.existing_tasks
    mine = tasks[tasks["account_id"] == account] if len(tasks) else tasks
    if mine.empty:
        mine = pd.DataFrame(columns=TASK_COLUMNS)
    traced = plan_playbooks(
        rows.reset_index(drop=True),
        mine,
        config.playbooks,
        plan.as_of,
        config.language,
        closed_days_for(config, plan.as_of),
        config.tasks.default_owner_id,
        trace=True,
    )
    created = set(plan.tasks["key"]) if len(plan.tasks) else set()
    closing = set(plan.closes["key"]) if len(plan.closes) else set()
    result = []
    for playbook in config.playbooks.playbooks:
        trace = traced.trace[traced.trace["playbook"] == playbook.name]
        instance = traced.instances[traced.instances["playbook"] == playbook.name]
        entry: dict[str, Any] = {
            "playbook": playbook.name,
            "when": playbook.when.text,
            "condition_met": bool(playbook.when.condition(rows).iloc[0]),
            "running_since": instance.iloc[0]["period"] if len(instance) else None,
            "closes": sorted(k for k in closing if f":{playbook.name}/" in k),
            "steps": [],
        }
        for row in trace[trace["step"] != ""].itertuples(index=False):
            key = f"cs-sync:{playbook.name}/{row.step}:{account}:{entry['running_since']}"
            state = row.state
            if state == "creates" and key not in created:
                state = "held back by tasks.max_per_run / max_per_owner (next run)"
            entry["steps"].append(
                {"step": row.step, "state": state, "date": _plain(row.date), "key": key}
            )
        result.append(entry)
    return result


def _health(rows: pd.DataFrame, config: Config) -> dict[str, Any]:
    row = rows.iloc[0]
    card = config.health.measures_of(row.get("scorecard"))
    shares = []
    for measure in card:
        share = float(measure_share(measure, rows[measure.name])[0][0])
        policy = measure.missing
        if np.isnan(share) and policy != "skip":
            share = 0.5 if policy == "neutral" else 0.0
        shares.append(share)
    counted = sum(m.weight for m, s in zip(card, shares, strict=True) if not np.isnan(s))
    measures = []
    for measure, share in zip(card, shares, strict=True):
        used = not np.isnan(share)
        measures.append(
            {
                "measure": measure.name,
                "value": _plain(row[measure.name]),
                "scaling": _scaling(measure),
                "missing_policy": measure.missing,
                "weight": measure.weight,
                "share": round(share, 3) if used else None,
                "points": round(100 * share * measure.weight / counted, 1) if used else None,
                "points_lost": round(100 * (1 - share) * measure.weight / counted, 1)
                if used
                else None,
            }
        )
    return {
        "score": _plain(row["score"]),
        "grade": _plain(row["grade"]),
        "computed_grade": _plain(row["computed_grade"]),
        "override": {
            "active": bool(row["override_active"]),
            "grade": _plain(row.get("override_grade")),
            "reason": _plain(row.get("override_reason")),
            "expiry": _plain(row.get("override_expiry")),
        },
        "coverage": _plain(row["coverage"]),
        "scorecard": _plain(row.get("scorecard")),
        "sponsors_left": _plain(row.get("sponsors_left")),
        "trend": _plain(row["trend"]),
        "previous_score": _plain(row.get("prev_score")),
        "reasons": _plain(row["reasons"]),
        "measures": measures,
        "grades": dict(config.health.grades),
    }


def _phase(rows: pd.DataFrame, config: Config) -> dict[str, Any]:
    row = rows.iloc[0]
    return {
        "phase": _plain(row["phase"]),
        "step": _plain(row["phase_step"]),
        "expected_step": _plain(row["expected_step"]),
        "delayed": bool(row["phase_delayed"]),
        "previous": _plain(row.get("prev_phase")),
        "change": _plain(row["phase_change"]),
        "months_since_start": _plain(row["months_since_start"]),
        "conditions": [
            {
                "phase": phase.name,
                "step": phase.step,
                "expected_by_month": phase.expected_by_month,
                "when": phase.when.text,
                "met": bool(phase.when.condition(rows).iloc[0]),
            }
            for phase in config.phases.phases
        ],
    }


def _renewal(rows: pd.DataFrame, config: Config) -> dict[str, Any]:
    row = rows.iloc[0]
    axes = []
    for axis in config.renewal.axes:
        axes.append(
            {
                "axis": axis.name,
                "level": _plain(row[axis.name]),
                "levels": [
                    {"level": level, "when": cond.text, "met": bool(cond.condition(rows).iloc[0])}
                    for level, cond in axis.levels
                ],
            }
        )
    return {
        "renewal_date": _plain(row.get("renewal_date")),
        "days_to_renewal": _plain(row.get("days_to_renewal")),
        "strategy": _plain(row["renewal_strategy"]),
        "axes": axes,
        "strategies": [
            {
                "strategy": s.name,
                "when": s.when.text,
                "met": bool(s.when.condition(rows).iloc[0]),
            }
            for s in config.renewal.strategies
        ],
        "plan": {
            step: _plain(row[f"plan_{step}"])
            for step in ("value_review", "proposal", "quote", "approval")
        },
        "next_action": _plain(row["next_action"]),
        "next_action_date": _plain(row["next_action_date"]),
    }


def _tasks(rows: pd.DataFrame, plan: Plan, config: Config) -> list[dict[str, Any]]:
    account = rows.iloc[0]["account_id"]
    wanted = set(wanted_pairs(rows.reset_index(drop=True), config.tasks)["rule"])
    created = plan.tasks[plan.tasks["account_id"] == account]
    closing = plan.closes[plan.closes["account_id"] == account] if len(plan.closes) else None
    result = []
    for rule in config.tasks.rules:
        entry: dict[str, Any] = {
            "rule": rule.name,
            "when": rule.when.text,
            "trigger": rule.trigger,
            "segments": list(rule.segments) or "all",
            "condition_met": bool(rule.when.condition(rows).iloc[0]),
            "wanted": rule.name in wanted,
        }
        made = created[created["rule"] == rule.name]
        if len(made):
            entry["outcome"] = f"creates {made.iloc[0]['key']}, due {made.iloc[0]['due_date']}"
        elif closing is not None and (closing["rule"] == rule.name).any():
            entry["outcome"] = "closes its open Task: the condition has cleared"
        elif rule.name in wanted:
            entry["outcome"] = _why_not_created(plan, rule, account)
        else:
            entry["outcome"] = "nothing"
        result.append(entry)
    return result


def _why_not_created(plan: Plan, rule: TaskRule, account: str) -> str:
    tasks = plan.existing_tasks
    if tasks.empty:
        return "no new Task: held back by tasks.max_per_run / max_per_owner, next run"
    mine = tasks[(tasks["rule"] == rule.name) & (tasks["account_id"] == account)]
    period = ":" + task_period(plan.as_of)
    this_month = mine[mine["key"].str.endswith(period)]
    if len(this_month):
        return f"no new Task: this month's {this_month.iloc[0]['key']} exists"
    still_open = mine[~mine["is_closed"].astype(bool)]
    if len(still_open):
        return f"no new Task: {still_open.iloc[0]['key']} is still open"
    created = pd.to_datetime(mine["created_date"], errors="coerce", utc=True).max()
    if rule.trigger == "level" and pd.notna(created):
        until = (created + pd.Timedelta(days=rule.cooldown_days)).date()
        if until > plan.as_of:
            return f"no new Task: the last one was created {created.date()}; cooldown until {until}"
    return "no new Task: held back by tasks.max_per_run / max_per_owner, next run"


def explain_text(explanation: dict[str, Any]) -> str:
    account = explanation["account"]
    health = explanation["health"]
    lines = [
        f"{account['name']} [{account['id']}] as of {explanation['as_of']}"
        f" · {account['segment'] or '-'}",
        "",
        f"Health {health['grade']} ({health['score']}), computed {health['computed_grade']}, "
        f"coverage {health['coverage']}, trend {health['trend']} "
        f"(previous score {health['previous_score']})",
    ]
    if health["override"]["active"]:
        o = health["override"]
        lines.append(f"  CSM override {o['grade']} until {o['expiry']}: {o['reason']}")
    for m in health["measures"]:
        points = (
            "not counted (no data)"
            if m["points"] is None
            else (f"{m['points']} pts (−{m['points_lost']})")
        )
        value = f"{m['value']:.4g}" if isinstance(m["value"], float) else str(m["value"])
        lines.append(
            f"  {m['measure']:<22} value {value:<12} weight {m['weight']:<5g} "
            f"share {m['share'] if m['share'] is not None else '-'}  → {points}"
        )
        lines.append(f"  {'':<22} {m['scaling']}; missing: {m['missing_policy']}")
    lines.append(f"  reasons: {health['reasons']}")
    phase = explanation["phase"]
    lines += [
        "",
        f"Phase {phase['phase']} (step {phase['step']}, expected "
        f"{'-' if phase['expected_step'] is None else int(phase['expected_step'])}, "
        f"{'DELAYED' if phase['delayed'] else 'on schedule'}; was {phase['previous']}, "
        f"move {phase['change'] or '-'}); {phase['months_since_start']} months since start",
    ]
    for c in phase["conditions"]:
        kind = f"step {c['step']}" if c["step"] is not None else "overlay"
        lines.append(f"  [{'x' if c['met'] else ' '}] {c['phase']:<16} {kind:<8} {c['when']}")
    renewal = explanation["renewal"]
    lines += [
        "",
        f"Renewal {renewal['renewal_date']} (in {renewal['days_to_renewal']} days): "
        f"strategy {renewal['strategy'] or '- (outside the plan window)'}",
    ]
    for axis in renewal["axes"]:
        met = ", ".join(f"{lv['level']}{'*' if lv['met'] else ''}" for lv in axis["levels"])
        lines.append(f"  {axis['axis']:<13} {axis['level']!s:<9} ({met})")
    for s in renewal["strategies"]:
        lines.append(f"  [{'x' if s['met'] else ' '}] {s['strategy']:<16} {s['when']}")
    if renewal["strategy"]:
        dates = ", ".join(f"{k} {v}" for k, v in renewal["plan"].items())
        lines.append(f"  plan: {dates}")
        lines.append(f"  next: {renewal['next_action']} on {renewal['next_action_date']}")
    lines += ["", "Tasks"]
    for t in explanation["tasks"]:
        lines.append(
            f"  [{'x' if t['wanted'] else ' '}] {t['rule']:<20} {t['outcome']}"
            f"   ({t['trigger']}: {t['when']})"
        )
    lines += ["", "Playbooks"]
    for p in explanation["playbooks"]:
        since = f"running since {p['running_since']}" if p["running_since"] else "not running"
        lines.append(
            f"  [{'x' if p['condition_met'] else ' '}] {p['playbook']:<24} {since}   ({p['when']})"
        )
        for step in p["steps"]:
            lines.append(f"      {step['step']:<16} {step['state']:<10} {step['date'] or '-'}")
        for key in p["closes"]:
            lines.append(f"      closes {key}")
    return "\n".join(lines)
