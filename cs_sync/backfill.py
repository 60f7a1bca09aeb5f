"""Backfill: fill the history store with past dates after install, and (optionally) write
today's values to every account.

Salesforce and the usage source are read once. Each past date is then scored from the data as
it stood on that date, as far as the records tell:
- accounts whose contract had not started are left out, and so are former customers (read
  with salesforce.former_customer_filter) after their contract ended;
- every account's ARR is its ARR on that date as its closed opportunities tell it
  (revenue.arr_timeline: first contract, renewals, expansions, a lost renewal), so the
  history's NRR sees the upsells;
- usage after the date is not seen (the features read complete months before it);
- an opportunity closed after the date counts as still open, stage unknown (unless tracked);
- a field with Field History Tracking on (sentiment, budget status, seats… and the stage
  and amount of opportunities) holds its value on that date (cs_sync/field_history.py); the
  others hold today's value;
- the renewal date is the first renewal opportunity closing on or after the date, else the
  account's renewal date moved back by whole years to the first one after the date;
- CSM overrides are not applied (their history is not recorded), and no Task is created;
- each date's "previous values" (trend, phase moves) are the previous backfilled date's.

Each date is written in one transaction and recorded as a backfill run with the config's hash:
that record is the checkpoint. A backfill stopped anywhere and started again skips the dates
already done and produces the same history as one that was never stopped.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from cs_sync.apply import apply_plan
from cs_sync.config import Config
from cs_sync.connectors.history_store import open_history
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.errors import EXIT_OK, EXIT_PARTIAL, CsSyncError
from cs_sync.extract import Extracted, extract
from cs_sync.field_history import values_on
from cs_sync.history import STORED_OUTPUTS, History, RunRecord, previous_values, snapshot_rows
from cs_sync.plan import Plan, Problem, build_plan
from cs_sync.publish import publish_backfilled
from cs_sync.result import WARNING_KINDS, RunResult, summarise
from cs_sync.revenue import Timeline
from cs_sync.score import day_kpis, score_accounts, timeline_of

EVERY = ("week", "month")


def backfill_dates(since: date, until: date, every: str) -> list[date]:
    """`since`, then every week or month after it (same weekday / day of month, clamped to
    the month's end), up to and including `until`."""
    if every not in EVERY:
        raise CsSyncError(f"--every: {every!r} is not one of {', '.join(EVERY)}")
    if since > until:
        raise CsSyncError(f"--since {since} is after --until {until}")
    if every == "week":
        return [since + timedelta(weeks=k) for k in range((until - since).days // 7 + 1)]
    dates: list[date] = []
    k = 0
    while True:
        month = since.month - 1 + k
        year, month = since.year + month // 12, month % 12 + 1
        last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        day = date(year, month, min(since.day, last_day))
        if day > until:
            return dates
        dates.append(day)
        k += 1


# ---------------------------------------------------------------- the pure middle


def _renewal_on(
    accounts: pd.DataFrame, opportunities: pd.DataFrame, types: tuple[str, ...], as_of: date
) -> pd.Series:
    day = pd.Timestamp(as_of)
    renewals = opportunities[opportunities["type"].isin(types)]
    close = pd.to_datetime(renewals["close_date"], format="ISO8601", errors="coerce")
    upcoming = close[close >= day].groupby(renewals["account_id"]).min()
    current = pd.to_datetime(accounts["renewal_date"], format="ISO8601", errors="coerce")
    years_back = np.maximum(current.dt.year.to_numpy(dtype=float) - as_of.year, 0)
    moved = _minus_years(current, years_back)
    too_far = moved <= day  # one year too many: step forward again
    moved = moved.where(~too_far, _minus_years(current, np.maximum(years_back - 1, 0)))
    rolled = moved.where(current > day, current)
    found = accounts["account_id"].map(upcoming)
    return found.where(found.notna(), rolled).dt.strftime("%Y-%m-%d")


def _minus_years(stamps: pd.Series, years: np.ndarray) -> pd.Series:
    """Each date `years` years earlier (Feb 29 becomes Feb 28), NaT stays NaT."""
    valid = stamps.notna().to_numpy()
    out = pd.Series(pd.NaT, index=stamps.index, dtype="datetime64[ns]")
    if valid.any():
        year = stamps.dt.year.to_numpy()[valid] - years[valid].astype(int)
        month = stamps.dt.month.to_numpy()[valid]
        day = stamps.dt.day.to_numpy()[valid]
        day = np.where((month == 2) & (day == 29), 28, day)
        moved = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}))
        out[valid] = moved.to_numpy()
    return out


def is_former(accounts: pd.DataFrame) -> pd.Series:
    if "former" not in accounts:
        return pd.Series(False, index=accounts.index)
    return accounts["former"].fillna(False).astype(bool)


def current_customers(extracted: Extracted) -> Extracted:
    """The tables without the former customers: the accounts a run may write to."""
    current = extracted.accounts[~is_former(extracted.accounts)].reset_index(drop=True)
    return replace(extracted, accounts=current)


def contract_end(
    accounts: pd.DataFrame, opportunities: pd.DataFrame, renewal_types: tuple[str, ...]
) -> pd.Series:
    """When each former customer's contract ended (NaT for current customers): its renewal
    date, which Salesforce leaves at the end of the last term, else the close date of its last
    lost renewal."""
    former = is_former(accounts)
    renewal = pd.to_datetime(accounts["renewal_date"], format="ISO8601", errors="coerce")
    lost = opportunities[
        opportunities["type"].isin(renewal_types)
        & opportunities["is_closed"].astype(bool)
        & ~opportunities["is_won"].astype(bool)
    ]
    fallback = pd.Series(pd.NaT, index=accounts.index, dtype="datetime64[ns]")
    if len(lost):
        closed = pd.to_datetime(lost["close_date"], format="ISO8601", errors="coerce")
        lost_on = closed.groupby(lost["account_id"]).max()
        fallback = pd.to_datetime(accounts["account_id"].map(lost_on))
    return renewal.where(renewal.notna(), fallback).where(former)


def as_of_view(
    extracted: Extracted,
    as_of: date,
    previous: pd.DataFrame | None,
    renewal_types: tuple[str, ...],
    timeline: Timeline,
) -> Extracted:
    """The extracted tables as they stood on `as_of` (see the module's docstring);
    `previous` is the previous date's snapshot rows, or None for the first date;
    `timeline`: every account's ARR over time (score.timeline_of)."""
    day = pd.Timestamp(as_of)
    accounts = extracted.accounts
    start = pd.to_datetime(accounts["contract_start"], format="ISO8601", errors="coerce")
    ended = contract_end(accounts, extracted.opportunities, renewal_types)
    accounts = accounts[~(start > day) & ~(ended <= day)].copy()
    accounts = values_on(accounts, extracted.field_history, "Account", as_of)
    arr_then = accounts["account_id"].map(timeline.arr_on(as_of))
    accounts["arr"] = arr_then.where(arr_then.notna(), accounts["arr"]).astype(object)
    opportunities = extracted.opportunities.copy()
    close = pd.to_datetime(opportunities["close_date"], format="ISO8601", errors="coerce")
    later = opportunities["is_closed"].astype(bool) & (close > day)
    opportunities.loc[later, ["is_closed", "is_won"]] = False
    opportunities["stage"] = opportunities["stage"].astype(object).where(~later, None)
    # a tracked stage is known as it stood (one closed since: the stage before it closed)
    opportunities = values_on(opportunities, extracted.field_history, "Opportunity", as_of)
    accounts["renewal_date"] = _renewal_on(accounts, opportunities, renewal_types, as_of)
    for column in ("override_grade", "override_reason", "override_expiry"):
        accounts[column] = None
    prev_columns = [f"prev_{name}" for name in STORED_OUTPUTS]
    if previous is None or previous.empty:
        for column in prev_columns:
            accounts[column] = None
    else:
        prev = previous_values(previous)
        for column in prev_columns:
            accounts[column] = accounts["account_id"].map(prev[column]).astype(object)
    return Extracted(
        accounts=accounts.reset_index(drop=True),
        usage=extracted.usage,
        tasks=extracted.tasks.iloc[0:0],
        opportunities=opportunities,
        contact_roles=extracted.contact_roles,
        activities=extracted.activities,
        cases=extracted.cases,
        surveys=extracted.surveys,
        field_history=extracted.field_history,
    )


# ---------------------------------------------------------------- the run


@dataclass
class BackfillResult:
    status: str  # ok | partial | interrupted | failed
    dates: int = 0
    dates_written: int = 0
    dates_skipped: int = 0  # done before (the checkpoint) or kept from a real run
    accounts: int = 0
    dry_run: bool = False
    duration_s: float = 0.0
    salesforce: RunResult | None = None
    dashboard: str | None = None  # the local page, refreshed when the backfill ends
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    exit_code: int = EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dates": self.dates,
            "dates_written": self.dates_written,
            "dates_skipped": self.dates_skipped,
            "accounts": self.accounts,
            "dry_run": self.dry_run,
            "duration_s": round(self.duration_s, 2),
            "salesforce": self.salesforce.as_json() if self.salesforce else None,
            "dashboard": self.dashboard,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
        }


def run_backfill(
    config: Config,
    dates: list[date],
    today: date,
    *,
    write_salesforce: bool = False,
    dry_run: bool = False,
    restart: bool = False,
    max_calls_per_minute: float | None = None,
    progress: bool = True,
    stop_requested: Callable[[], bool] = lambda: False,
    extracted: Extracted | None = None,
) -> BackfillResult:
    started = time.monotonic()
    result = BackfillResult(status="ok", dates=len(dates), dry_run=dry_run)
    if not config.history.enabled:
        raise CsSyncError(f"{config.path}: [history] path is empty; a backfill fills it")
    counter = CallCounter()
    session = build_session(
        config.sandbox.url,
        counter,
        timeout=(10.0, config.salesforce.timeout_s),
        max_calls_per_minute=max_calls_per_minute,
    )
    try:
        client = connect(config.salesforce, session, counter)
        if extracted is None:
            extracted = extract(
                client, config, today, include_former=True, since=min(dates, default=None)
            )
        result.errors.extend(p for p in extracted.problems if p.kind not in WARNING_KINDS)
        with open_history(config.history) as store:
            fill_history(store, config, extracted, dates, result, restart, progress, stop_requested)
        plan = None
        if write_salesforce and result.status == "ok":
            result.salesforce = _write_current(client, config, extracted, today, dry_run, counter)
            result.errors.extend(result.salesforce.errors)
            plan = result.salesforce.plan
        if not dry_run and result.status == "ok":
            plan = plan or today_plan(config, extracted, today)
            kpis = day_kpis(plan.scored, config, today, 0)
            shown = publish_backfilled(config, plan, kpis, counter)
            result.errors.extend(shown.errors)
            result.warnings.extend(shown.warnings)
            result.dashboard = shown.dashboard
    except CsSyncError as error:
        result.status = "failed"
        result.exit_code = error.exit_code
        result.errors.append(Problem(error.kind, None, str(error)))
    finally:
        session.close()
    if result.status == "ok" and result.errors:
        result.status, result.exit_code = "partial", EXIT_PARTIAL
    if result.status == "interrupted":
        result.exit_code = EXIT_PARTIAL
    result.duration_s = time.monotonic() - started
    return result


def fill_history(
    store: History,
    config: Config,
    extracted: Extracted,
    dates: list[date],
    result: BackfillResult,
    restart: bool,
    progress: bool,
    stop_requested: Callable[[], bool],
) -> None:
    config_hash = config.version_hash
    done = set() if restart else store.backfilled(config_hash)
    kept = store.run_dates()  # a real run's snapshot is better than a reconstruction
    measures = list(dict.fromkeys(m.name for m in config.health.every_measure()))
    previous: pd.DataFrame | None = None
    bar = tqdm(
        total=len(dates), unit="date", disable=not progress, file=sys.stderr, desc="backfill"
    )
    try:
        for day in dates:
            if stop_requested():
                result.status = "interrupted"
                result.errors.append(
                    Problem(
                        "interrupted",
                        None,
                        f"stopped on request before {day}; run the same command again to "
                        "continue from there",
                    )
                )
                return
            if day in done or day in kept:
                result.dates_skipped += 1
                previous = None  # read the stored one when the next date needs it
                bar.update(1)
                continue
            if previous is None:
                stored = store.latest_before(day)
                previous = None if stored.empty else stored
            view = as_of_view(
                extracted,
                day,
                previous,
                config.salesforce.renewal_types,
                timeline_of(extracted, config),
            )
            scored = score_accounts(view, config, day).reset_index(drop=True)
            rows = snapshot_rows(scored, measures, config_hash, day)
            result.accounts = max(result.accounts, len(rows))
            if not result.dry_run:
                now = datetime.now(UTC).replace(tzinfo=None)
                record = RunRecord(
                    run_id=uuid.uuid4().hex[:16],
                    kind="backfill",
                    as_of=day,
                    started_at=now,
                    finished_at=now,
                    status="ok",
                    config_hash=config_hash,
                    accounts=len(rows),
                )
                store.write_date(day, rows, day_kpis(scored, config, day, 0), record)
            result.dates_written += 1
            previous = rows
            bar.update(1)
    finally:
        bar.close()


def today_plan(config: Config, extracted: Extracted, today: date) -> Plan:
    """Today's values of the current customers, and no Task (the daily run makes those)."""
    current = current_customers(extracted)
    current.timeline = timeline_of(extracted, config)  # every account's, former ones too
    scored = score_accounts(current, config, today).reset_index(drop=True)
    plan = build_plan(
        scored,
        pd.DataFrame(columns=["key"]),
        config.salesforce.fields,
        today,
        extracted.field_scales,
    )
    plan.timeline = current.timeline
    return plan


def _write_current(
    client: Any,
    config: Config,
    extracted: Extracted,
    today: date,
    dry_run: bool,
    counter: CallCounter,
) -> RunResult:
    """Today's values to every account that differs (all of them on a first install): one
    Bulk API 2.0 job above salesforce.bulk_threshold. No Task is created: the daily run does
    that, under its caps and brakes."""
    started = time.monotonic()
    result = RunResult(status="ok", as_of=today, dry_run=dry_run)
    plan = result.plan = today_plan(config, extracted, today)
    result.accounts_read = len(plan.scored)
    summarise(plan, config, result)
    if not dry_run:
        apply_plan(client, plan, config, result)
    result.salesforce_api_calls = counter.calls["salesforce"]
    result.duration_s = time.monotonic() - started
    if result.errors:
        result.status, result.exit_code = "partial", EXIT_PARTIAL
    return result
