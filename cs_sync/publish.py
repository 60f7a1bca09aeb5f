"""After the writes: the run's record and snapshot in the history store, then the dashboards
(local files, Google Sheets tabs, and the tables a history store serves to Looker Studio).

A store or a dashboard that cannot be written is an error of the run, never a reason to lose
what the run did in Salesforce.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd

from cs_sync.config import Config
from cs_sync.connectors.history_store import open_history
from cs_sync.connectors.local_dashboard import write_local_dashboard
from cs_sync.connectors.sheet_record import SheetRecord
from cs_sync.connectors.sheet_tabs import health_tab_dates, sheet_tabs, tab_cells
from cs_sync.connectors.sheets_dashboard import dashboard_client, refresh_sheets
from cs_sync.connectors.transport import CallCounter
from cs_sync.csm_book import csm_labels, csm_table, recent_tasks
from cs_sync.errors import CsSyncError
from cs_sync.history import MOVEMENT_COLUMNS, SERIES_COLUMNS, History, RunRecord, snapshot_rows
from cs_sync.plan import Plan, Problem
from cs_sync.result import RunResult
from cs_sync.revenue import history_movements, kpi_dates, period_kpis, periods
from cs_sync.rules.features import STAKEHOLDERS
from cs_sync.rules.sponsors import SPONSOR_FEATURES
from cs_sync.targets import target_table

DASHBOARD_COLUMNS = (
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
    "days_in_phase",
    "stakeholders",
    "evaluation",
    "budget",
    "renewal_strategy",
    "next_action",
    "next_action_date",
    "coverage",
    "scorecard",
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
    "days_since_touch",
    "meetings_90d",
    "open_cases",
    "high_priority_cases",
)

# Each dashboard table column's kind, fixed whatever a run's values (a store that keeps typed
# tables, BigQuery, takes them from here); the columns not named are text.
DASHBOARD_KINDS: dict[str, dict[str, str]] = {
    "kpi_periods": {
        "period_start": "date",
        "period_end": "date",
        "complete": "bool",
        "value": "number",
    },
    "kpi_csm": {"value": "number"},
    "kpi_targets": {
        "complete": "bool",
        "target": "number",
        "actual": "number",
        "gap": "number",
        "met": "bool",
    },
    "accounts": {
        **dict.fromkeys(
            (
                "arr",
                "seats",
                "score",
                "coverage",
                "days_in_phase",
                "days_to_renewal",
                "active_ratio",
                "login_trend",
                "monthly_feature",
                "renewal_amount",
                *STAKEHOLDERS,
                "days_since_touch",
                "meetings_90d",
                "open_cases",
                "high_priority_cases",
            ),
            "number",
        ),
        **dict.fromkeys(("next_action_date", "renewal_date", "renewal_close_date"), "date"),
        **dict.fromkeys(("phase_delayed", "last_renewal_won"), "bool"),
    },
}

log = logging.getLogger(__name__)


@dataclass
class HistoryView:
    """What the dashboards show over time, read back from the history store after a run."""

    periods: pd.DataFrame  # revenue KPIs by period (revenue.period_kpis)
    kpis: pd.DataFrame  # every date's KPI rows
    series: pd.DataFrame  # per account per date: the health_history tab
    runs: pd.DataFrame
    phase_since: pd.Series  # by account_id: the first date of its current phase's run
    tables: DashboardTables | None = None  # built once the run's KPIs are known
    health_note: str | None = None  # why the health_history tab shows no date


def dashboard_accounts(plan: Plan, view: HistoryView | None) -> pd.DataFrame:
    """The accounts table of every dashboard; days in the current phase when the history
    says since when (else unknown)."""
    accounts = plan.scored.assign(days_in_phase=float("nan"))
    if view is not None and len(view.phase_since):
        since = pd.to_datetime(accounts["account_id"].map(view.phase_since))
        accounts["days_in_phase"] = (pd.Timestamp(plan.as_of) - since).dt.days.astype(float)
    return accounts[list(DASHBOARD_COLUMNS)]  # shares the plan's columns (copy on write)


def run_record(config: Config, result: RunResult, started_at: datetime) -> RunRecord:
    return RunRecord(
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


def record_history(
    config: Config, result: RunResult, started_at: datetime, kpis: pd.DataFrame | None
) -> HistoryView | None:
    """The run's record, and (when it got through) its snapshot, in the history store; then
    what the dashboards show over time, read back from it."""
    if not config.history.enabled or result.dry_run:
        return None
    record = run_record(config, result, started_at)
    try:
        with open_history(config.history, config.local_copy.path) as store:
            if kpis is None or result.plan is None:
                store.record_run(record)
                return None
            return _write_snapshot(store, config, result, result.plan, kpis, record)
    except CsSyncError as error:
        result.errors.append(Problem("history", None, str(error).splitlines()[0]))
    return None


def record_final_status(config: Config, result: RunResult, started_at: datetime) -> None:
    """The run's record again, with the status it ended with: a dashboard or history step
    that failed after the snapshot makes an ok run partial. The runs table keeps the last
    record of each run id."""
    if not config.history.enabled or result.dry_run:
        return
    try:
        with open_history(config.history) as store:
            store.record_run(run_record(config, result, started_at))
    except CsSyncError as error:
        log.warning("the history could not record the run's final status: %s", error)


def previous_sponsors(config: Config, as_of: date, problems: list[Problem]) -> pd.DataFrame | None:
    """Who held the sponsor roles at the last run before `as_of`, from the history store;
    None when nothing names the sponsor features, without a history, or when the history
    cannot be read (a warning then says the changes are not known this run)."""
    wanted = config.names_any(SPONSOR_FEATURES) or config.alerts.wants("sponsor_left")
    if not config.history.enabled or not wanted:
        return None
    return read_history(
        config,
        lambda store: store.sponsors_before(as_of),
        problems,
        "sponsors_unknown",
        "who left the sponsor roles since the last run is not known this run",
    )


def read_history(
    config: Config,
    read: Callable[[History], pd.DataFrame],
    problems: list[Problem],
    kind: str,
    consequence: str,
) -> pd.DataFrame | None:
    """What `read` reads of the history store before a run; None, with a problem of `kind`
    saying the consequence, when the store cannot be read (the run goes on without it)."""
    try:
        with open_history(config.history) as store:
            return read(store)
    except CsSyncError as error:
        message = f"the history store could not be read ({error}); {consequence}"
        problems.append(Problem(kind, None, message))
        return None


def _write_snapshot(
    store: History,
    config: Config,
    result: RunResult,
    plan: Plan,
    kpis: pd.DataFrame,
    record: RunRecord,
) -> HistoryView:
    measures = list(dict.fromkeys(m.name for m in config.health.every_measure()))
    store.write_date(  # the day's rows (their measures as JSON) are let go once written
        result.as_of,
        snapshot_rows(plan.scored, measures, config.version_hash, result.as_of),
        kpis,
        record,
        plan.sponsors,
    )
    result.history = config.history.describe()
    view = history_view(store, config, plan, result.as_of)
    view.tables = dashboard_tables(config, plan, view, kpis)
    _publish_tables(store, view.tables, result)
    return view


@dataclass
class DashboardTables:
    """The tables every dashboard shows beside the history's: today's accounts, the revenue
    KPIs by period, the targets against the actuals, each CSM's book."""

    accounts: pd.DataFrame
    periods: pd.DataFrame
    targets: pd.DataFrame
    csm: pd.DataFrame  # each CSM's book (csm_book.csm_table)


def economics_of(config: Config) -> tuple[float, float] | None:
    """(gross margin, CAC) when both are configured: the unit economics are shown then."""
    settings = config.dashboard
    if settings.gross_margin is None or settings.cac is None:
        return None
    return settings.gross_margin, settings.cac


def dashboard_tables(
    config: Config, plan: Plan, view: HistoryView | None, kpis: pd.DataFrame
) -> DashboardTables:
    """`kpis`: the run's own KPI rows; without a history, the revenue KPIs come from the
    opportunities alone."""
    if view is not None:
        by_period = view.periods
    else:
        shown = periods(plan.as_of, config.fiscal_start)
        by_period = period_kpis(plan.revenue_timeline(), shown, None, economics_of(config))
    return DashboardTables(
        dashboard_accounts(plan, view),
        by_period,
        target_table(config.dashboard.targets, by_period, kpis, plan.as_of),
        csm_table(
            plan.scored,
            [g for g, _ in config.health.grades],
            config.health.at_risk,
            csm_labels(plan.scored, plan.existing_tasks),
            kpis,
            plan.existing_tasks,
            plan.tasks,
            plan.as_of,
            plan.playbooks,
        ),
    )


def _publish_tables(store: History, tables: DashboardTables, result: RunResult) -> None:
    """A store that Looker Studio reads (BigQuery) keeps the dashboard's tables too."""
    try:
        store.publish_tables(
            {
                "kpi_periods": tables.periods,
                "kpi_targets": tables.targets,
                "kpi_csm": tables.csm,
                "accounts": tables.accounts,
            },
            DASHBOARD_KINDS,
        )
    except CsSyncError as error:
        result.errors.append(Problem("dashboard", None, str(error)))


def publish_backfilled(
    config: Config, plan: Plan, kpis: pd.DataFrame, counter: CallCounter
) -> RunResult:
    """The dashboards once a backfill has filled the history: today's accounts (`plan`,
    nothing written to Salesforce), the KPIs of every date, the revenue KPIs by period.
    Returns the step's result (its errors, warnings and the local page)."""
    result = RunResult(status="ok", as_of=plan.as_of, dry_run=False)
    result.plan = plan
    view = None
    try:
        with open_history(config.history, config.local_copy.path) as store:
            view = history_view(store, config, plan, plan.as_of)
            view.tables = dashboard_tables(config, plan, view, kpis)
            _publish_tables(store, view.tables, result)
    except CsSyncError as error:
        result.errors.append(Problem("history", None, str(error).splitlines()[0]))
    refresh_dashboards(config, result, kpis, view, counter)
    return result


def history_view(store: History, config: Config, plan: Plan, as_of: date) -> HistoryView:
    """What the dashboards show over time, read back from the history store: the revenue KPIs
    by period (from the history's snapshots where they cover a period, else the
    opportunities), every date's KPIs, the health tab's dates, the runs."""
    dates = store.dates()
    leave_out = config.dashboard.sheets_leave_out
    shown, note = (
        health_tab_dates(
            dates,
            len(plan.scored),
            len(SERIES_COLUMNS),
            0 if "accounts" in leave_out else tab_cells(len(plan.scored), len(DASHBOARD_COLUMNS)),
        )
        if config.dashboard.spreadsheet_id is not None and "health_history" not in leave_out
        else ([], None)
    )
    shown_periods = periods(as_of, config.fiscal_start)
    boundaries = store.series(kpi_dates(dates, shown_periods), MOVEMENT_COLUMNS)
    moves = history_movements(boundaries, shown_periods, config.phases.phases)
    return HistoryView(
        period_kpis(plan.revenue_timeline(), shown_periods, moves, economics_of(config)),
        store.kpis(),
        store.series(shown) if shown else pd.DataFrame(columns=list(SERIES_COLUMNS)),
        store.runs(),
        store.phase_since(as_of).set_index("account_id")["phase_since"],
        health_note=note,
    )


def sheet_record(config: Config) -> SheetRecord | None:
    """What the dashboard's tabs hold, kept in the local copy's file (none without one: every
    changed tab is then replaced whole)."""
    path = config.local_copy.path
    return SheetRecord(path) if path is not None else None


def refresh_dashboards(
    config: Config,
    result: RunResult,
    kpis: pd.DataFrame,
    view: HistoryView | None,
    counter: CallCounter,
) -> None:
    """The local files and the Google Sheets tabs; a dashboard that cannot be written is an
    error of the run (exit 1), after everything in Salesforce and the history is done."""
    if result.plan is None:
        return
    if view is not None and view.tables is not None:
        tables = view.tables  # built with the history step: once a run
    else:
        tables = dashboard_tables(config, result.plan, view, kpis)
    accounts = tables.accounts
    if config.dashboard.local_dir is not None:
        try:
            page = write_local_dashboard(
                config.dashboard.local_dir,
                accounts,
                kpis,
                recent_tasks(result.plan.existing_tasks, result.plan.tasks, result.as_of),
                "cs-sync KPI dashboard",
                tables.periods,
                config.health.at_risk,
                tables.targets,
                tables.csm,
                view.kpis if view is not None else None,
                config.language,
            )
            result.dashboard = str(page)
        except OSError as error:
            result.errors.append(Problem("dashboard", None, f"local dashboard: {error}"))
    tabs: dict[str, pd.DataFrame] = {}
    if config.dashboard.spreadsheet_id is not None:
        tabs = sheet_tabs(accounts, kpis, tables.periods, tables.targets, tables.csm, view)
        if view is None and config.history.enabled:
            # the history could not be read: the KPI tabs keep their complete previous rows
            # rather than be replaced by today's alone
            tabs = {"accounts": accounts}
            result.warnings.append(
                Problem(
                    "dashboard_partial",
                    None,
                    "the KPI tabs keep their previous rows until the history store can be "
                    "read again; only the accounts tab is refreshed",
                )
            )
        tabs = {k: v for k, v in tabs.items() if k not in config.dashboard.sheets_leave_out}
    if tabs and config.dashboard.spreadsheet_id is not None:
        try:
            warnings, left_out = refresh_sheets(
                dashboard_client(config.dashboard, config.sandbox.url, counter),
                config.dashboard.spreadsheet_id,
                tabs,
                record=sheet_record(config),
                # a run that read the book whole replaces changed tabs whole (daily at least):
                # what was edited by hand in the tabs is put right then
                whole=result.read is None or bool(result.read.get("whole")),
            )
            if view is not None and view.health_note is not None and "health_history" in tabs:
                warnings.append(view.health_note)
            result.warnings.extend(Problem("sheets_cells", None, w) for w in warnings)
            result.errors.extend(Problem("dashboard", None, message) for message in left_out)
        except CsSyncError as error:
            result.errors.append(Problem("dashboard", None, str(error)))
        result.sheets_api_calls = counter.calls["sheets"]
        result.sheets_bytes = counter.bytes["sheets"]
