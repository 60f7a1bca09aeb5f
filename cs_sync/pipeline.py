"""One run, left to right: extract → score (features → rules → plan) → brakes → apply →
publish (history, dashboards).

Only extract, apply and publish do I/O; score is a function of tables and `as_of`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import pandas as pd

from cs_sync import alerts
from cs_sync.apply import apply_plan
from cs_sync.brakes import brake_message, check_brakes
from cs_sync.config import Config
from cs_sync.connectors.copy_store import CopyStore
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.csm_book import csm_labels
from cs_sync.errors import EXIT_PARTIAL, BrakeError, CsSyncError, Interrupted
from cs_sync.extract import extract
from cs_sync.incremental import LocalCopy
from cs_sync.plan import Plan, Problem
from cs_sync.publish import (
    previous_sponsors,
    record_final_status,
    record_history,
    refresh_dashboards,
)
from cs_sync.result import RunResult, summarise
from cs_sync.score import compute_plan, day_kpis

__all__ = ["RunResult", "run_once"]
log = logging.getLogger(__name__)
T = TypeVar("T")


def run_once(
    config: Config,
    as_of: date,
    dry_run: bool,
    force: bool = False,
    stop_requested: Callable[[], bool] = lambda: False,
    batch_size: int | None = None,
    full: bool = False,
) -> RunResult:
    """Extract, plan, check the brakes and (unless dry_run) apply, then keep the history and
    refresh the dashboard. A failure that stops the run (cannot connect, allowance used up, a
    brake, a stop request) ends it with its status and exit code; what was written before it
    stays written and is counted. With a local copy ([local_copy]) the book is read by its
    changes; `full` reads it whole (so does a dry run that finds the copy busy)."""
    started, started_at = time.monotonic(), datetime.now(UTC).replace(tzinfo=None)
    result = RunResult(status="ok", as_of=as_of, dry_run=dry_run, run_id=uuid.uuid4().hex[:16])
    counter = CallCounter()
    timeout = (10.0, config.salesforce.timeout_s)
    session = build_session(config.sandbox.url, counter, timeout=timeout)
    kpis = None
    try:
        client = connect(config.salesforce, session, counter)
        local = local_copy(config, full, dry_run)
        extracted = extract(client, config, as_of, local=local)
        if local is not None and local.report is not None:
            result.read = local.report.as_dict()
        extracted.previous_sponsors = previous_sponsors(config, as_of, extracted.problems)
        alert_log = alerts.read_alert_log(config, as_of, extracted.problems)
        result.accounts_read = len(extracted.accounts)
        plan = result.plan = compute_plan(extracted, config, as_of)
        if alert_log is not None:
            plan.alerts = alerts.outbox(plan.scored, config, as_of, alert_log)
        summarise(plan, config, result)
        labels = csm_labels(extracted.accounts, plan.existing_tasks)
        # the records read are let go before the writes, the history and the dashboards (the
        # plan keeps what they show): at 100,000 accounts, some 170 MiB held no longer
        del extracted
        plan.brakes = check_brakes(plan.scored, len(plan.tasks), config.brakes)
        if not dry_run:
            if any(check.fired for check in plan.brakes) and not force:
                raise BrakeError(brake_message(plan.brakes))
            outbox = alerts.queue(config, plan.alerts, result) if alert_log is not None else None
            apply_plan(client, plan, config, result, stop_requested, batch_size)
            kpis = _run_kpis(plan, labels, config, result)
            if outbox is not None:
                _guarded(
                    result,
                    "alerts",
                    lambda: alerts.deliver(config, outbox, result, session, client, alert_log),
                )
    except CsSyncError as error:
        result.status = "interrupted" if isinstance(error, Interrupted) else "failed"
        result.exit_code = error.exit_code
        result.errors.append(Problem(error.kind, None, str(error)))
        kpis = None
    finally:
        if result.status == "failed" and not dry_run:
            _guarded(result, "alerts", lambda: alerts.alert_failed_run(config, result, session))
        _count_calls(result, counter)
        session.close()
    _partial_if_errors(result)
    recorded = result.status
    view = _guarded(result, "history", lambda: record_history(config, result, started_at, kpis))
    if kpis is not None:
        _guarded(
            result, "dashboard", lambda: refresh_dashboards(config, result, kpis, view, counter)
        )
    _partial_if_errors(result)  # the history store or a dashboard may have failed
    if result.status != recorded:  # the history keeps the run's final word
        _guarded(result, "history", lambda: record_final_status(config, result, started_at))
    result.duration_s = time.monotonic() - started
    return result


def local_copy(config: Config, full: bool, dry_run: bool) -> LocalCopy | None:
    """The run's local copy ([local_copy]); a dry run reads it but leaves it as it was."""
    settings = config.local_copy
    if settings.path is None:
        return None
    return LocalCopy(
        CopyStore(settings.path),
        timedelta(seconds=settings.overlap_s),
        settings.full_read_hours,
        forced=full,
        keep=not dry_run,
    )


def _guarded(result: RunResult, step: str, action: Callable[[], T]) -> T | None:
    """A publishing step that fails in a way nobody foresaw (a bug) is an error of the run,
    named, with the traceback in the debug log: the Salesforce writes before it are done
    and counted, and --json still prints its one object."""
    try:
        return action()
    except Exception as error:
        log.debug("the %s step failed", step, exc_info=True)
        result.errors.append(
            Problem(
                step,
                None,
                f"internal error while publishing the {step}: {type(error).__name__}: {error} "
                "(rerun with -vv for the traceback)",
            )
        )
        return None


def _run_kpis(
    plan: Plan, labels: dict[str, str], config: Config, result: RunResult
) -> pd.DataFrame:
    """The day's KPIs, with the Tasks per CSM named by the owners read with the accounts
    (`labels`, see csm_labels)."""
    return day_kpis(
        plan.scored,
        config,
        result.as_of,
        result.tasks_created,
        plan.tasks,
        plan.existing_tasks,
        labels,
    )


def _count_calls(result: RunResult, counter: CallCounter) -> None:
    result.salesforce_api_calls = counter.calls["salesforce"]
    result.sheets_api_calls = counter.calls["sheets"]
    result.webhook_calls = counter.calls["webhooks"]
    result.salesforce_bytes = counter.bytes["salesforce"]
    if counter.api_used is not None:
        result.api_usage = f"{counter.api_used}/{counter.api_max}"


def _partial_if_errors(result: RunResult) -> None:
    if result.errors and result.status == "ok":
        result.status = "partial"
        result.exit_code = EXIT_PARTIAL
