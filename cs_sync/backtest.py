"""`cs-sync backtest`: replay past dates through a configuration and score it against what
really happened; `--compare` puts a candidate configuration beside it, `--fit` writes one
with weights fitted from the history (backtest_fit.py).

Salesforce and the usage data are read once (former customers included). Each snapshot date
is scored from the records as they stood then, the way the backfill does (cs_sync/backfill.py),
so two configurations are judged on exactly the same accounts and dates; the outcomes (who
churned, when) are backtest_outcomes.py's. Fields with Field History Tracking are read as
they stood on each date (cs_sync/field_history.py); measures on fields without history are
flagged: their value today stands in for every past date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from cs_sync.backfill import as_of_view, current_customers
from cs_sync.backtest_fit import Fit, fit_weights
from cs_sync.backtest_outcomes import (
    churn_events,
    contraction_events,
    snapshot_dates,
    with_outcomes,
)
from cs_sync.config import Config, load_config
from cs_sync.connectors.history_store import open_history
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.errors import InputError
from cs_sync.extract import Extracted, extract
from cs_sync.field_history import TODAY_VALUED, FieldHistory
from cs_sync.rules.backtest import (
    CHURN_EVENTS,
    OBSERVED,
    BacktestSettings,
    evaluate,
    evaluate_by_segment,
)
from cs_sync.rules.backtest_stats import measure_report
from cs_sync.rules.features import STAKEHOLDERS
from cs_sync.rules.health import DEFAULT_SCORECARD
from cs_sync.score import compute_plan, health_of, timeline_of

CHURN_KINDS = CHURN_EVENTS


@dataclass
class Scored:
    """One configuration's observations and their measures."""

    config: Config
    observations: pd.DataFrame
    report: dict[str, Any]
    by_segment: dict[str, dict[str, Any]]


@dataclass
class BacktestResult:
    dates: list[date]
    horizon_days: int
    churn: tuple[str, ...]
    base: Scored
    candidate: Scored | None = None
    changes: dict[str, Any] = field(default_factory=dict)  # --compare: today's differences
    fit: Fit | None = None  # --fit: the fitted weights and what switching would change
    warnings: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dates": [d.isoformat() for d in self.dates],
            "horizon_days": self.horizon_days,
            "churn": list(self.churn),
            "config": _config_json(self.base),
            "warnings": self.warnings,
            "duration_s": round(self.duration_s, 2),
        }
        if self.candidate is not None:
            out["candidate"] = _config_json(self.candidate)
            out["changes"] = self.changes
        if self.fit is not None:
            out["fit"] = self.fit.as_json()
        return out


def _config_json(scored: Scored) -> dict[str, Any]:
    return {
        "path": str(scored.config.path),
        "config_hash": scored.config.version_hash,
        **scored.report,
        "by_segment": scored.by_segment,
    }


# ---------------------------------------------------------------- observations


OBSERVATION_COLUMNS = list(OBSERVED)


def observe(extracted: Extracted, config: Config, dates: list[date]) -> pd.DataFrame:
    """Each account's score and grade on each date, scored from the records as they stood."""
    frames = []
    for day in dates:
        view = as_of_view(
            extracted, day, None, config.salesforce.renewal_types, timeline_of(extracted, config)
        )
        scored = health_of(view, config, day, with_reasons=False).reset_index(drop=True)
        measures = [m.name for m in config.health.measures if m.name in scored]
        frame = scored[[*OBSERVATION_COLUMNS[1:], "scorecard"]].copy()
        for name in measures:  # numbers kept in 32 bits: 52 dates of a large book add up
            values = scored[name]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                frame[name] = values.astype("float32")
            else:
                frame[name] = values
        frame.insert(0, "date", pd.Timestamp(day))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def observe_history(config: Config, dates: list[date]) -> tuple[pd.DataFrame, list[str]]:
    """Each account's score and grade as the runs (or the backfill) recorded them: for each
    date, the latest snapshot on or before it, if one is less than a month old then."""
    frames, warnings = [], []
    with open_history(config.history) as store:
        for day in dates:
            snapshot = store.latest_before(day + timedelta(days=1))
            if snapshot.empty:
                warnings.append(f"no snapshot on or before {day} in the history: left out")
                continue
            taken = pd.Timestamp(snapshot["as_of"].max()).date()
            if (day - taken).days > 31:
                warnings.append(f"the snapshot nearest {day} is from {taken}: left out")
                continue
            frame = snapshot[OBSERVATION_COLUMNS[1:]].copy()
            frame.insert(0, "date", pd.Timestamp(day))
            frames.append(frame)
    if not frames:
        raise InputError(
            "the history store has no snapshots for these dates: run `cs-sync backfill` "
            "first, or leave out --from-history to recompute them"
        )
    return pd.concat(frames, ignore_index=True), warnings


def _score(
    config: Config,
    observed: pd.DataFrame,
    churn: pd.DataFrame,
    contraction: pd.DataFrame,
    settings: BacktestSettings,
    tracked: frozenset[str] = frozenset(),
) -> Scored:
    """One configuration judged on its observations, with its own grades and at-risk
    grades."""
    observations = with_outcomes(observed, churn, contraction, settings.horizon_days)
    grades = [g for g, _ in config.health.grades]
    at_risk = config.health.at_risk
    window = settings.alert_window_days
    report = evaluate(
        observations, grades, at_risk, window, settings.resamples, settings.horizon_days
    )
    names = [m.name for m in config.health.measures if m.name in observations]
    default = observations[["churned", *names]]
    if "scorecard" in observations:  # the default measures score the accounts no card took
        default = default[(observations["scorecard"] == DEFAULT_SCORECARD).to_numpy()]
    stale = no_history(config, tracked)
    report["measures"] = measure_report(default, config.health.measures, stale)
    return Scored(
        config, observations, report, evaluate_by_segment(observations, grades, at_risk, window)
    )


def no_history(config: Config, tracked: frozenset[str] = frozenset()) -> frozenset[str]:
    """The columns a backtest reads at today's value on every past date: Account fields
    whose history was not found (`tracked`: the columns whose history was read), the contact
    roles, and every feature computed from one of them."""
    found = set(TODAY_VALUED) | set(STAKEHOLDERS) | {"stakeholders"}
    for key in config.salesforce.fields.own_inputs():
        found |= {key, f"days_since_{key}"}
    found -= tracked | {f"days_since_{key}" for key in tracked}
    for definition in config.features:  # in order: a feature may name an earlier one
        if definition.expression is not None and definition.expression.names & found:
            found.add(definition.name)
    return frozenset(found)


def same_rows(base: pd.DataFrame, other: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Both sets of observations kept to the account-dates both configurations scored, so
    they are judged on the same rows; how many rows were left out."""
    keys = ["account_id", "date"]
    scored = base.loc[base["score"].notna(), keys].merge(
        other.loc[other["score"].notna(), keys], on=keys
    )
    kept = [frame.merge(scored, on=keys) for frame in (base, other)]
    return kept[0], kept[1], len(base) - len(kept[0]) + len(other) - len(kept[1])


def today_differences(
    extracted: Extracted, base: Config, candidate: Config, today: date, limit: int = 20
) -> dict[str, Any]:
    """What switching would do today: accounts whose grade changes, Tasks created and closed
    under each configuration."""
    current = current_customers(extracted)
    plans = {
        name: compute_plan(current, config, today)
        for name, config in (("config", base), ("candidate", candidate))
    }
    before = plans["config"].scored.set_index("account_id")
    after = plans["candidate"].scored.set_index("account_id")
    old = before["grade"].astype(object).where(before["grade"].notna(), None)
    new = after["grade"].astype(object).reindex(old.index)
    new = new.where(new.notna(), None)
    moved = old.index[old.to_numpy() != new.to_numpy()]
    rows = [
        {"account_id": a, "name": before.loc[a, "name"], "from": old[a], "to": new[a]}
        for a in moved
    ]
    flows = pd.Series([f"{r['from']}->{r['to']}" for r in rows]).value_counts()
    return {
        "as_of": today.isoformat(),
        "accounts": len(before),
        "grade_changes": len(rows),
        "grade_flows": {str(k): int(v) for k, v in flows.items()},
        "examples": rows[:limit],
        "tasks": {
            name: {
                "create": len(plan.tasks),
                "close": len(plan.closes),
                "wanted": plan.tasks_wanted,
            }
            for name, plan in plans.items()
        },
    }


def run_backtest(
    config: Config,
    today: date,
    settings: BacktestSettings,
    *,
    candidate: Config | None = None,
    since: date | None = None,
    until: date | None = None,
    extracted: Extracted | None = None,
    from_history: bool = False,
    fit: Path | None = None,
) -> BacktestResult:
    started = time.monotonic()
    dates = snapshot_dates(today, settings, since, until)
    unknown = set(settings.churn) - set(CHURN_KINDS)
    if unknown:
        raise InputError(
            f"--churn: {', '.join(sorted(unknown))} unknown; choose from {', '.join(CHURN_KINDS)}"
        )
    warnings: list[str] = []
    if extracted is None:
        counter = CallCounter()
        session = build_session(
            config.sandbox.url, counter, timeout=(10.0, config.salesforce.timeout_s)
        )
        try:
            client = connect(config.salesforce, session, counter)
            extracted = extract(
                client, config, today, include_former=True, since=min(dates, default=None)
            )
        finally:
            session.close()
    _check_data(extracted, dates)
    arr_history = None
    if "arr_zero" in settings.churn:
        arr_history = _arr_history(config, warnings)
    renewal_types = config.salesforce.renewal_types
    churn = churn_events(extracted, settings.churn, renewal_types, arr_history)
    contraction = contraction_events(extracted, renewal_types)
    observed = None
    if fit is not None and (candidate is not None or from_history):
        raise InputError(
            "--fit writes a candidate from recomputed scores; run it alone, then --compare "
            "the file it writes"
        )
    if from_history:
        if candidate is not None:
            raise InputError(
                "--from-history reads the scores as they ran; a candidate never ran, so "
                "--compare recomputes both: leave out one of the two options"
            )
        observed, found = observe_history(config, dates)
        warnings.extend(found)
    if observed is None:
        observed = observe(extracted, config, dates)
    other = observe(extracted, candidate, dates) if candidate is not None else None
    if other is not None:
        observed, other, left_out = same_rows(observed, other)
        if left_out:
            warnings.append(
                f"{left_out:,} account-date(s) scored by only one of the two configurations "
                "(a score needs usage or fields the other does not) were left out: both are "
                "judged on the same rows"
            )
    history = extracted.field_history
    tracked = history.columns() if history is not None and not from_history else frozenset()
    base = _score(config, observed, churn, contraction, settings, tracked)
    result = BacktestResult(dates, settings.horizon_days, settings.churn, base, warnings=warnings)
    warnings += _measure_warnings(base)
    if history is not None and not from_history:
        warnings += _history_notes(base, history, dates[0])
    if base.report["churned"] == 0:
        warnings.append(
            "no account churned within the horizon after any snapshot date: the AUC and lift "
            "cannot be computed. Check salesforce.former_customer_filter (churned accounts "
            "must be read) and the renewal opportunity types"
        )
    if candidate is not None and other is not None:
        result.candidate = _score(candidate, other, churn, contraction, settings, tracked)
        result.changes = today_differences(extracted, config, candidate, today)
    if fit is not None:
        result.fit = fit_weights(base.observations, config, fit)
        result.fit.changes = today_differences(extracted, config, load_config(fit), today)
    result.duration_s = time.monotonic() - started
    return result


def _measure_warnings(scored: Scored) -> list[str]:
    out = []
    for row in scored.report["measures"]:
        change = row["drop_one_change"]
        effect = "" if change is None else f" (without it the score's AUC moves {change:+.3f})"
        if row["no_history"]:
            out.append(
                f"measure {row['measure']!r} reads a field Salesforce keeps no history of: "
                f"today's value stands in for every past date, which flatters it{effect}; "
                "judge the score without it, or track the field's history"
            )
        if row["contradicts"]:
            out.append(
                f"measure {row['measure']!r} alone ranks churn the other way round from its "
                f"good and bad values (AUC {row['alone_auc']:.2f}){effect}: check its "
                "direction or drop it"
            )
    return out


def _history_notes(scored: Scored, history: FieldHistory, first: date) -> list[str]:
    """Measures whose field's history starts after the first snapshot date: the earlier
    dates read the oldest value recorded (Salesforce keeps 18 months of history, and none
    from before tracking was turned on)."""
    names = {row["measure"] for row in scored.report["measures"]}
    return [
        f"measure {column!r}: its past values come from the field's history, which starts "
        f"{since}; on the dates before, it reads the oldest value recorded"
        for column, since in sorted(history.since.items())
        if column in names and since > first
    ]


def _check_data(extracted: Extracted, dates: list[date]) -> None:
    usage = extracted.usage
    if extracted.accounts.empty:
        raise InputError("no accounts were read: check salesforce.account_filter")
    if usage.empty:
        raise InputError(
            "no usage rows: a backtest scores past dates from usage history (usage.path)"
        )
    first = pd.to_datetime(usage["month"]).min().date()
    if first > dates[0]:
        raise InputError(
            f"the usage data starts in {first:%Y-%m}, after the first snapshot date "
            f"{dates[0]}: there is no history to score it from. Use --since {first} or later"
        )


def _arr_history(config: Config, warnings: list[str]) -> pd.DataFrame | None:
    if not config.history.enabled:
        warnings.append("arr_zero needs the history store ([history]); it was skipped")
        return None
    with open_history(config.history) as store:
        frames = [store.snapshot(day)[["as_of", "account_id", "arr"]] for day in store.dates()]
    if not frames:
        warnings.append("arr_zero: the history store is empty; it was skipped")
        return None
    return pd.concat(frames, ignore_index=True)
