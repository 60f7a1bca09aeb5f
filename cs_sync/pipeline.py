"""One run, left to right: extract → features → rules → plan → apply.

Only `extract` and `apply` do I/O; everything between is a function of tables and `as_of`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pandas as pd

from cs_sync.brakes import brake_message, check_brakes
from cs_sync.config import Config
from cs_sync.connectors.bigquery_history import BigQueryHistory
from cs_sync.connectors.history_store import open_history
from cs_sync.connectors.local_dashboard import write_local_dashboard
from cs_sync.connectors.salesforce import SalesforceClient, connect
from cs_sync.connectors.sheets_dashboard import (
    dashboard_client,
    health_tab_dates,
    refresh_sheets,
    sheet_tabs,
)
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.errors import EXIT_OK, EXIT_PARTIAL, BrakeError, ConfigError, CsSyncError
from cs_sync.extract import Extracted, extract
from cs_sync.history import SERIES_COLUMNS, RunRecord, snapshot_rows
from cs_sync.kpis import (
    kpi_dates,
    monthly_kpis,
    onboarding_kpis,
    owner_labels,
    snapshot_kpis,
    task_kpis,
)
from cs_sync.plan import Plan, Problem, build_plan
from cs_sync.rules.calendar import closed_days
from cs_sync.rules.expressions import ExpressionError
from cs_sync.rules.features import (
    STAKEHOLDERS,
    FeatureSettings,
    build_features,
    renewal_features,
    stakeholder_features,
)
from cs_sync.rules.health import score_health
from cs_sync.rules.phases import assign_phases, phase_order
from cs_sync.rules.renewal import assign_renewal
from cs_sync.rules.tasks import new_tasks, tasks_to_close, wanted_pairs

WARNING_KINDS = {"usage_unknown_account", "task_cap", "usage_stale"}


@dataclass
class RunResult:
    status: str  # ok | partial | failed
    as_of: date
    dry_run: bool
    accounts_read: int = 0
    accounts_changed: int = 0
    fields_written: int = 0
    tasks_created: int = 0
    tasks_closed: int = 0
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    salesforce_api_calls: int = 0
    sheets_api_calls: int = 0
    duration_s: float = 0.0
    grade_counts: dict[str, int] = field(default_factory=dict)
    phase_counts: dict[str, int] = field(default_factory=dict)  # in the configured order
    phases_delayed: int = 0
    phase_moves: dict[str, int] = field(default_factory=dict)  # up / down since last run
    strategy_counts: dict[str, int] = field(default_factory=dict)  # renewals in the window
    dashboard: str | None = None
    history: str | None = None  # the store the run's snapshot went to
    run_id: str = ""
    plan: Plan | None = None
    api_usage: str | None = None
    exit_code: int = EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "accounts_read": self.accounts_read,
            "accounts_changed": self.accounts_changed,
            "fields_written": self.fields_written,
            "tasks_created": self.tasks_created,
            "tasks_closed": self.tasks_closed,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
            "salesforce_api_calls": self.salesforce_api_calls,
            "sheets_api_calls": self.sheets_api_calls,
            "duration_s": round(self.duration_s, 2),
            "grade_counts": self.grade_counts,
            "phase_counts": self.phase_counts,
            "phases_delayed": self.phases_delayed,
            "phase_moves": self.phase_moves,
            "strategy_counts": self.strategy_counts,
            "fields_planned": self.plan.fields_to_write if self.plan else 0,
            "tasks_planned": len(self.plan.tasks) if self.plan else 0,
            "tasks_to_close_planned": len(self.plan.closes) if self.plan else 0,
            "dashboard": self.dashboard,
            "history": self.history,
            "run_id": self.run_id,
            "brakes": [check.as_dict() for check in self.plan.brakes] if self.plan else [],
            "salesforce_api_usage": self.api_usage,
        }


# ---------------------------------------------------------------- the pure middle


def account_features(extracted: Extracted, config: Config, as_of: date) -> pd.DataFrame:
    """Every rule's inputs, one row per account: the built-in features, then the admin's."""
    features = build_features(
        extracted.accounts,
        extracted.usage,
        as_of,
        FeatureSettings(
            onboarding_active_ratio=config.phases.settings.onboarding_active_ratio,
            onboarding_window_months=config.phases.settings.onboarding_window_months,
            monthly_feature=config.usage.monthly_feature,
            seasonal_feature=config.usage.seasonal_feature,
            season_months=config.usage.season_months,
        ),
    )
    features = features.join(
        renewal_features(
            extracted.accounts, extracted.opportunities, config.salesforce.renewal_types, as_of
        )
    )
    features = features.join(
        stakeholder_features(extracted.accounts, extracted.contact_roles, config.salesforce.roles)
    )
    for definition in config.features:  # names and columns were checked at load
        features[definition.name] = _checked(
            lambda d=definition: d.expression.evaluate(features), config
        )
    return features


def _checked(evaluate: Callable[[], pd.Series], config: Config) -> pd.Series:
    """An expression's value; its error becomes a configuration error (exit code 2)."""
    try:
        return evaluate()
    except ExpressionError as error:
        raise ConfigError(str(config.path), [str(error)]) from None


def closed_days_for(config: Config, as_of: date) -> frozenset[date]:
    """Public holidays and company closures for the run's year and the next."""
    return closed_days(
        config.holiday_country, config.company_closed, range(as_of.year, as_of.year + 2)
    )


def score_accounts(extracted: Extracted, config: Config, as_of: date) -> pd.DataFrame:
    """Features, health, phase and renewal strategy for every account read."""
    features = account_features(extracted, config, as_of)
    scored = score_health(features, config.health, as_of, config.language)
    phases = config.phases.phases
    scored = scored.join(_checked(lambda: assign_phases(scored, phases), config))
    renewal = config.renewal
    closed = closed_days_for(config, as_of)
    return scored.join(
        _checked(
            lambda: assign_renewal(
                scored,
                renewal.axes,
                renewal.strategies,
                renewal.settings,
                as_of,
                config.language,
                closed,
            ),
            config,
        )
    )


def compute_plan(extracted: Extracted, config: Config, as_of: date) -> Plan:
    scored = score_accounts(extracted, config, as_of).reset_index(drop=True)
    settings = config.tasks
    wanted = _checked(lambda: wanted_pairs(scored, settings), config)
    made = new_tasks(
        wanted,
        scored,
        extracted.tasks,
        settings,
        as_of,
        config.language,
        closed_days_for(config, as_of),
    )
    plan = build_plan(scored, made.tasks, config.salesforce.fields, as_of)
    plan.existing_tasks = extracted.tasks
    plan.tasks_wanted = len(made.tasks) + sum(made.held_back.values())
    plan.problems = extracted.problems + [
        Problem(
            "task_owner",
            account,
            f"no active owner for the task on {name}: the owner and sub CSM are inactive "
            "and tasks.default_owner_id is not set",
        )
        for account, name in made.no_owner
    ]
    if made.held_back:
        # The caps limit new tasks, not what the rules want: the rest come in later runs,
        # and their accounts' open tasks are not mistaken for cleared conditions.
        held = ", ".join(f"{rule} {n}" for rule, n in made.held_back.items())
        plan.problems.append(
            Problem(
                "task_cap",
                None,
                f"{sum(made.held_back.values())} more task(s) wanted than tasks.max_per_run = "
                f"{settings.max_per_run} / max_per_owner = {settings.max_per_owner} allow "
                f"({held}); they are created in the next runs",
            )
        )
    open_tasks = extracted.tasks[~extracted.tasks["is_closed"].astype(bool)]
    plan.closes = tasks_to_close(open_tasks, wanted, plan.scored, settings, as_of, config.language)
    return plan


# ---------------------------------------------------------------- apply


class Interrupted(CsSyncError):
    """A stop was requested (SIGTERM); the run ended between two write steps."""

    exit_code = EXIT_PARTIAL
    kind = "interrupted"


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def apply_plan(
    client: SalesforceClient,
    plan: Plan,
    config: Config,
    result: RunResult,
    stop_requested: Callable[[], bool] = lambda: False,
    batch_size: int | None = None,
) -> None:
    """Write the plan in steps of `batch_size` records (salesforce.write_step_records): Tasks
    to create first, then Tasks to close, then the Account fields. Tasks go first because the
    field values are what the next run compares against: a run cut short after its fields but
    before its Tasks would lose the Tasks of edge triggers; cut short the other way round, the
    rerun finds the Tasks by key and does not create them again. Between steps,
    `stop_requested()` is asked; when it says yes the run ends there, nothing half written."""
    f = config.salesforce.fields
    batch_size = batch_size or config.salesforce.write_step_records
    steps: list[tuple[str, Callable[[], None]]] = []
    task_records = [
        {
            f.task_key: task.key,
            "Subject": task.subject,
            "Description": task.description,
            "OwnerId": task.owner_id,
            "WhatId": task.account_id,
            "ActivityDate": task.due_date.isoformat(),
            "Priority": task.priority,
            "Status": "Not Started",
        }
        for task in plan.tasks.itertuples(index=False)
    ]
    for chunk in _batches(task_records, batch_size):
        steps.append(("create Tasks", lambda c=chunk: _create_tasks(client, c, f.task_key, result)))
    closes = [
        (row.task_id, {"Status": config.tasks.closed_status, "Description": row.description})
        for row in plan.closes.itertuples(index=False)
    ]
    for chunk in _batches(closes, batch_size):
        steps.append(("close Tasks", lambda c=chunk: _close_tasks(client, dict(c), result)))
    for chunk in _batches(list(plan.updates.items()), batch_size):
        steps.append(("update Accounts", lambda c=chunk: _update_accounts(client, dict(c), result)))
    for done, (what, step) in enumerate(steps):
        if stop_requested():
            raise Interrupted(
                f"stopped on request after {done} of {len(steps)} write step(s), before "
                f"'{what}'; every step sent was written whole, and the next run continues "
                "from what is in Salesforce"
            )
        step()


def _update_accounts(
    client: SalesforceClient, changes: dict[str, dict[str, Any]], result: RunResult
) -> None:
    report = client.update("Account", changes)
    result.fields_written += report.fields_written
    result.accounts_changed += len(report.succeeded)
    for failure in report.failed:
        result.errors.append(
            Problem(
                "salesforce_record",
                failure.record_id,
                f"{failure.code} on {', '.join(failure.fields) or '-'}: {failure.message}",
            )
        )
    if report.stopped_by is not None:
        raise report.stopped_by


def _create_tasks(
    client: SalesforceClient, records: list[dict[str, Any]], key_field: str, result: RunResult
) -> None:
    report = client.upsert("Task", key_field, records)
    result.tasks_created += sum(1 for r in report.succeeded if r.get("created"))
    for failure in report.failed:
        result.errors.append(
            Problem("salesforce_task", failure.key, f"{failure.code}: {failure.message}")
        )
    if report.stopped_by is not None:
        raise report.stopped_by


def _close_tasks(
    client: SalesforceClient, changes: dict[str, dict[str, Any]], result: RunResult
) -> None:
    report = client.update("Task", changes)
    result.tasks_closed += len(report.succeeded)
    for failure in report.failed:
        result.errors.append(
            Problem("salesforce_task", failure.record_id, f"{failure.code}: {failure.message}")
        )
    if report.stopped_by is not None:
        raise report.stopped_by


def _dashboard_accounts(plan: Plan) -> pd.DataFrame:
    columns = [
        "account_id",
        "name",
        "segment",
        "arr",
        "seats",
        "score",
        "grade",
        "computed_grade",
        "trend",
        "phase",
        "phase_delayed",
        "phase_change",
        "stakeholders",
        "evaluation",
        "budget",
        "renewal_strategy",
        "next_action",
        "next_action_date",
        "coverage",
        "reasons",
        "renewal_date",
        "days_to_renewal",
        "active_ratio",
        "login_trend",
        "monthly_feature",
        "renewal_stage",
        "renewal_amount",
        "renewal_close_date",
        "last_renewal_won",
        *STAKEHOLDERS,
    ]
    return plan.scored[columns].copy()


def summarise(plan: Plan, config: Config, result: RunResult) -> None:
    for problem in plan.problems:
        target = result.warnings if problem.kind in WARNING_KINDS else result.errors
        target.append(problem)
    result.grade_counts = {
        str(k): int(v)
        for k, v in plan.scored["grade"].fillna("none").value_counts().sort_index().items()
    }
    phases = plan.scored["phase"]
    result.phase_counts = {
        name: int((phases == name).sum()) for name in phase_order(config.phases.phases)
    }
    result.phases_delayed = int(plan.scored["phase_delayed"].sum())
    moves = plan.scored["phase_change"]
    result.phase_moves = {"up": int((moves == "up").sum()), "down": int((moves == "down").sum())}
    strategies = plan.scored["renewal_strategy"]
    result.strategy_counts = {
        s.name: int((strategies == s.name).sum()) for s in config.renewal.strategies
    }


def day_kpis(
    scored: pd.DataFrame,
    config: Config,
    as_of: date,
    tasks_created: int,
    new: pd.DataFrame | None = None,
    tasks: pd.DataFrame | None = None,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The day's KPI rows: the book's state, onboarding, and (for a run) Tasks per CSM."""
    frames = [
        snapshot_kpis(
            scored,
            [g for g, _ in config.health.grades],
            as_of,
            tasks_created,
            phase_order(config.phases.phases),
            [s.name for s in config.renewal.strategies],
        ),
        onboarding_kpis(scored, config.phases.settings.onboarding_window_months, as_of),
    ]
    if new is not None and tasks is not None:
        frames.append(task_kpis(new, tasks, as_of, labels))
    return pd.concat(frames, ignore_index=True)


@dataclass
class HistoryView:
    """What the dashboards show over time, read back from the history store after a run."""

    monthly: pd.DataFrame
    kpis: pd.DataFrame  # every date's KPI rows
    series: pd.DataFrame  # per account per date: the health_history tab
    runs: pd.DataFrame


def _record_history(
    config: Config, result: RunResult, started_at: datetime, kpis: pd.DataFrame | None
) -> HistoryView | None:
    """The run's record, and (when it got through) its snapshot, in the history store; then
    what the dashboards show over time, read back from it. A store that cannot be written is
    an error of this run, not a reason to lose the run's result."""
    if not config.history.enabled or result.dry_run:
        return None
    record = RunRecord(
        run_id=result.run_id,
        kind="run",
        as_of=result.as_of,
        started_at=started_at,
        finished_at=datetime.now(UTC).replace(tzinfo=None),
        status=result.status,
        config_hash=config.version_hash,
        accounts=result.accounts_read,
        fields_written=result.fields_written,
        tasks_created=result.tasks_created,
        tasks_closed=result.tasks_closed,
        errors=len(result.errors),
        warnings=len(result.warnings),
        detail="; ".join(e.message.splitlines()[0] for e in result.errors[:3]),
    )
    try:
        with open_history(config.history) as store:
            if kpis is not None and result.plan is not None:
                rows = snapshot_rows(
                    result.plan.scored,
                    [m.name for m in config.health.measures],
                    config.version_hash,
                    result.as_of,
                )
                store.write_date(result.as_of, rows, kpis, record)
                result.history = config.history.describe()
                dates = store.dates()
                needed = kpi_dates(dates, result.as_of)
                shown = (
                    health_tab_dates(dates, len(rows), len(SERIES_COLUMNS))
                    if config.dashboard.spreadsheet_id is not None
                    else []
                )
                series = store.series(sorted(set(needed) | set(shown)))
                in_tab = pd.to_datetime(series["as_of"]).isin(pd.to_datetime(shown))
                view = HistoryView(
                    monthly_kpis(series, result.as_of, phase_order(config.phases.phases)),
                    store.kpis(),
                    series[in_tab].reset_index(drop=True),
                    store.runs(),
                )
                if isinstance(store, BigQueryHistory):  # Looker Studio reads these tables too
                    try:
                        store.replace_table("kpi_monthly", view.monthly)
                        store.replace_table("accounts", _dashboard_accounts(result.plan))
                    except CsSyncError as error:
                        result.errors.append(Problem("dashboard", None, str(error)))
                return view
            store.record_run(record)
    except (CsSyncError, duckdb.Error) as error:
        result.errors.append(Problem("history", None, str(error).splitlines()[0]))
    return None


def _refresh_dashboards(
    config: Config,
    result: RunResult,
    kpis: pd.DataFrame,
    view: HistoryView | None,
    counter: CallCounter,
) -> None:
    """The local files and the Google Sheets tabs; a dashboard that cannot be written is an
    error of the run (exit 1), after everything in Salesforce and the history is done."""
    assert result.plan is not None  # noqa: S101 - called only with a plan
    accounts = _dashboard_accounts(result.plan)
    monthly = view.monthly if view is not None else None
    if config.dashboard.local_dir is not None:
        try:
            page = write_local_dashboard(
                config.dashboard.local_dir,
                accounts,
                kpis,
                result.plan.tasks,
                "cs-sync KPI dashboard",
                monthly,
            )
            result.dashboard = str(page)
        except OSError as error:
            result.errors.append(Problem("dashboard", None, f"local dashboard: {error}"))
    if config.dashboard.spreadsheet_id is not None:
        try:
            warnings = refresh_sheets(
                dashboard_client(config.dashboard, config.sandbox.url, counter),
                config.dashboard.spreadsheet_id,
                sheet_tabs(accounts, kpis, view),
            )
            result.warnings.extend(Problem("sheets_cells", None, w) for w in warnings)
        except CsSyncError as error:
            result.errors.append(Problem("dashboard", None, str(error)))
        result.sheets_api_calls = counter.calls["sheets"]


def run_once(
    config: Config,
    as_of: date,
    dry_run: bool,
    force: bool = False,
    stop_requested: Callable[[], bool] = lambda: False,
    batch_size: int | None = None,
) -> RunResult:
    """Extract, plan, check the brakes and (unless dry_run) apply, then keep the history and
    refresh the dashboard. A failure that stops the run (cannot connect, allowance used up, a
    brake, a stop request) ends it with its status and exit code; what was written before it
    stays written and is counted."""
    started = time.monotonic()
    started_at = datetime.now(UTC).replace(tzinfo=None)
    result = RunResult(status="ok", as_of=as_of, dry_run=dry_run, run_id=uuid.uuid4().hex[:16])
    counter = CallCounter()
    session = build_session(
        config.sandbox.url, counter, timeout=(10.0, config.salesforce.timeout_s)
    )
    kpis = None
    try:
        client = connect(config.salesforce, session, counter)
        extracted = extract(client, config, as_of)
        result.accounts_read = len(extracted.accounts)
        plan = compute_plan(extracted, config, as_of)
        result.plan = plan
        summarise(plan, config, result)
        plan.brakes = check_brakes(plan.scored, plan.tasks_wanted, config.brakes)
        if not dry_run:
            if any(check.fired for check in plan.brakes) and not force:
                raise BrakeError(brake_message(plan.brakes))
            apply_plan(client, plan, config, result, stop_requested, batch_size)
            accounts = extracted.accounts
            labels = owner_labels(
                [
                    (accounts["owner_id"], accounts["owner_name"]),
                    (accounts["sub_csm_id"], accounts["sub_csm_name"]),
                    (extracted.tasks["owner_id"], extracted.tasks["owner_name"]),
                ]
            )
            kpis = day_kpis(
                plan.scored,
                config,
                as_of,
                result.tasks_created,
                plan.tasks,
                extracted.tasks,
                labels,
            )
    except CsSyncError as error:
        result.status = "interrupted" if isinstance(error, Interrupted) else "failed"
        result.exit_code = error.exit_code
        result.errors.append(Problem(error.kind, None, str(error)))
        kpis = None
    finally:
        result.salesforce_api_calls = counter.calls["salesforce"]
        result.sheets_api_calls = counter.calls["sheets"]
        if counter.api_used is not None:
            result.api_usage = f"{counter.api_used}/{counter.api_max}"
        session.close()
    if result.errors and result.status == "ok":
        result.status = "partial"
        result.exit_code = EXIT_PARTIAL
    view = _record_history(config, result, started_at, kpis)
    if kpis is not None and result.plan is not None:
        _refresh_dashboards(config, result, kpis, view, counter)
    if result.errors and result.status == "ok":  # the history store or a dashboard failed
        result.status = "partial"
        result.exit_code = EXIT_PARTIAL
    result.duration_s = time.monotonic() - started
    return result
