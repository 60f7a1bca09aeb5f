"""One run, left to right: extract → features → rules → plan → apply.

Only `extract` and `apply` do I/O; everything between is a function of tables and `as_of`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from connectors.local_dashboard import write_local_dashboard
from connectors.salesforce import SalesforceClient, connect, soql
from connectors.transport import CallCounter, build_session
from connectors.usage_csv import read_usage_csv
from cs_sync.config import Config
from cs_sync.errors import EXIT_OK, EXIT_PARTIAL, CsSyncError
from cs_sync.kpis import snapshot_kpis
from cs_sync.plan import Plan, Problem, build_plan
from cs_sync.sfid import try_to18
from rules.calendar import last_complete_month
from rules.features import (
    STAKEHOLDERS,
    build_features,
    renewal_features,
    stakeholder_features,
)
from rules.health import score_health
from rules.tasks import parse_key, tasks_to_close, wanted_tasks

log = logging.getLogger(__name__)
WARNING_KINDS = {"usage_unknown_account"}


@dataclass
class Extracted:
    accounts: pd.DataFrame
    usage: pd.DataFrame
    tasks: pd.DataFrame  # cs-sync Tasks read from Salesforce (see read_tasks)
    opportunities: pd.DataFrame  # see read_opportunities
    contact_roles: pd.DataFrame  # see read_contact_roles
    problems: list[Problem] = field(default_factory=list)


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
    dashboard: str | None = None
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
            "fields_planned": self.plan.fields_to_write if self.plan else 0,
            "tasks_planned": len(self.plan.tasks) if self.plan else 0,
            "tasks_to_close_planned": len(self.plan.closes) if self.plan else 0,
            "dashboard": self.dashboard,
            "salesforce_api_usage": self.api_usage,
        }


# ---------------------------------------------------------------- extract


def _account_query(config: Config) -> str:
    f = config.salesforce.fields
    sub_relationship = f.sub_csm.removesuffix("__c") + "__r"
    columns = [
        "Id",
        "Name",
        "OwnerId",
        "Owner.IsActive",
        f.sub_csm,
        f"{sub_relationship}.IsActive",
        f.arr,
        f.seats,
        f.contract_start,
        f.renewal_date,
        f.segment,
        f.external_key,
        f.score,
        f.grade,
        f.trend,
        f.reasons,
        f.override_grade,
        f.override_reason,
        f.override_expiry,
    ]
    query = f"SELECT {', '.join(columns)} FROM Account"
    if config.salesforce.account_filter.strip():
        query += f" WHERE {config.salesforce.account_filter}"
    return query + " ORDER BY Id"


def _nested(record: dict[str, Any], relationship: str, name: str) -> Any:
    parent = record.get(relationship)
    return parent.get(name) if isinstance(parent, dict) else None


def read_accounts(client: SalesforceClient, config: Config) -> pd.DataFrame:
    f = config.salesforce.fields
    sub_relationship = f.sub_csm.removesuffix("__c") + "__r"
    rows = []
    for record in client.query(_account_query(config), "Accounts"):
        rows.append(
            {
                "account_id": try_to18(record["Id"]) or record["Id"],
                "name": record.get("Name"),
                "owner_id": record.get("OwnerId"),
                "owner_active": bool(_nested(record, "Owner", "IsActive")),
                "sub_csm_id": record.get(f.sub_csm),
                "sub_csm_active": bool(_nested(record, sub_relationship, "IsActive")),
                "arr": record.get(f.arr),
                "seats": record.get(f.seats),
                "contract_start": record.get(f.contract_start),
                "renewal_date": record.get(f.renewal_date),
                "segment": record.get(f.segment),
                "external_key": record.get(f.external_key),
                "prev_score": record.get(f.score),
                "prev_grade": record.get(f.grade),
                "prev_trend": record.get(f.trend),
                "prev_reasons": record.get(f.reasons),
                "override_grade": record.get(f.override_grade),
                "override_reason": record.get(f.override_reason),
                "override_expiry": record.get(f.override_expiry),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "account_id",
            "name",
            "owner_id",
            "owner_active",
            "sub_csm_id",
            "sub_csm_active",
            "arr",
            "seats",
            "contract_start",
            "renewal_date",
            "segment",
            "external_key",
            "prev_score",
            "prev_grade",
            "prev_trend",
            "prev_reasons",
            "override_grade",
            "override_reason",
            "override_expiry",
        ],
    )


TASK_COLUMNS = ["task_id", "key", "rule", "account_id", "is_closed", "description"]


def read_tasks(client: SalesforceClient, config: Config, as_of: date) -> pd.DataFrame:
    """cs-sync's Tasks that matter now: every open one, and this period's closed ones."""
    key = config.salesforce.fields.task_key
    query = soql(
        f"SELECT Id, {key}, WhatId, IsClosed, Description FROM Task WHERE {key} LIKE {{period}} "
        f"OR ({key} LIKE {{any}} AND IsClosed = false)",
        period=f"cs-sync:%:{as_of:%Y-%m}",
        any="cs-sync:%",
    )
    rows = []
    for record in client.query(query, "cs-sync Tasks"):
        parsed = parse_key(str(record.get(key) or ""))
        if parsed is None:
            continue
        rule, account, _ = parsed
        rows.append(
            {
                "task_id": record["Id"],
                "key": record[key],
                "rule": rule,
                "account_id": try_to18(account) or account,
                "is_closed": bool(record.get("IsClosed")),
                "description": record.get("Description"),
            }
        )
    return pd.DataFrame(rows, columns=TASK_COLUMNS)


def read_opportunities(client: SalesforceClient, config: Config) -> pd.DataFrame:
    """Renewal and expansion opportunities (types from config), open and closed."""
    types = (*config.salesforce.renewal_types, *config.salesforce.expansion_types)
    query = soql(
        "SELECT Id, AccountId, Type, StageName, CloseDate, Amount, IsClosed, IsWon "
        "FROM Opportunity WHERE AccountId != null AND Type IN {types}",
        types=types,
    )
    rows = [
        {
            "opportunity_id": r["Id"],
            "account_id": try_to18(r["AccountId"]) or r["AccountId"],
            "type": r.get("Type"),
            "stage": r.get("StageName"),
            "close_date": r.get("CloseDate"),
            "amount": r.get("Amount"),
            "is_closed": bool(r.get("IsClosed")),
            "is_won": bool(r.get("IsWon")),
        }
        for r in client.query(query, "Opportunities")
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "opportunity_id",
            "account_id",
            "type",
            "stage",
            "close_date",
            "amount",
            "is_closed",
            "is_won",
        ],
    )


def read_contact_roles(client: SalesforceClient, config: Config) -> pd.DataFrame:
    """Contact roles whose value config maps to a stakeholder (Economic Buyer, Champion…)."""
    values = sorted({v for _, mapped in config.salesforce.roles for v in mapped})
    query = soql(
        "SELECT ContactId, Role, Opportunity.AccountId FROM OpportunityContactRole "
        "WHERE Role IN {values}",
        values=values,
    )
    rows = []
    for record in client.query(query, "contact roles"):
        account = _nested(record, "Opportunity", "AccountId")
        if account:
            rows.append(
                {
                    "account_id": try_to18(account) or account,
                    "contact_id": record.get("ContactId"),
                    "role": record.get("Role"),
                }
            )
    return pd.DataFrame(rows, columns=["account_id", "contact_id", "role"])


def join_usage(
    accounts: pd.DataFrame, usage: pd.DataFrame, account_key: str, source: str, as_of: date
) -> tuple[pd.DataFrame, list[Problem]]:
    """Attach usage rows to accounts. Keys with usage in the latest complete month that match
    no account cs-sync reads are reported (a typo, or salesforce.account_filter leaving a live
    customer out); older history of accounts outside the filter (former customers) is kept out
    of scoring and counted in the log."""
    key_column = "account_id" if account_key == "salesforce_id" else "external_key"
    lookup = accounts.dropna(subset=[key_column]).set_index(key_column, drop=False)["account_id"]
    matched = usage.assign(account_id=usage["account_key"].map(lookup))
    unknown = matched[matched["account_id"].isna()]
    latest = last_complete_month(as_of)
    problems = []
    recent = unknown[unknown["month"] >= latest]
    for key, lines in recent.groupby("account_key")["line"]:
        problems.append(
            Problem(
                "usage_unknown_account",
                str(key),
                f"{source} line {int(lines.min())}: usage for "
                f"{latest:%Y-%m} but no account with this key among the "
                "accounts cs-sync reads (check the id, or "
                "salesforce.account_filter); rows ignored",
            )
        )
    older = unknown["account_key"].nunique() - recent["account_key"].nunique()
    if older:
        log.info(
            "%d account key(s) in %s have only older usage and are not among the accounts "
            "read (e.g. former customers); their rows are not scored",
            older,
            source,
        )
    return matched.dropna(subset=["account_id"]), problems


def extract(client: SalesforceClient, config: Config, as_of: date) -> Extracted:
    accounts = read_accounts(client, config)
    usage_table = read_usage_csv(
        config.usage.path, as_of, config.usage.account_key, config.usage.on_bad_rows
    )
    problems = [
        Problem("usage_row", p.key, f"{usage_table.source} {p}") for p in usage_table.problems
    ]
    usage, join_problems = join_usage(
        accounts, usage_table.frame, config.usage.account_key, usage_table.source, as_of
    )
    tasks = read_tasks(client, config, as_of)
    opportunities = read_opportunities(client, config)
    contact_roles = read_contact_roles(client, config)
    return Extracted(accounts, usage, tasks, opportunities, contact_roles, problems + join_problems)


# ---------------------------------------------------------------- pure middle


def compute_plan(extracted: Extracted, config: Config, as_of: date) -> Plan:
    features = build_features(extracted.accounts, extracted.usage, as_of)
    features = features.join(
        renewal_features(
            extracted.accounts, extracted.opportunities, config.salesforce.renewal_types, as_of
        )
    )
    features = features.join(
        stakeholder_features(extracted.accounts, extracted.contact_roles, config.salesforce.roles)
    )
    scored = score_health(features, config.health, as_of, config.language)
    wanted = wanted_tasks(scored, config.tasks, as_of, config.language)
    if config.tasks.max_per_run and len(wanted) > config.tasks.max_per_run:
        wanted = wanted.head(config.tasks.max_per_run)
    plan = build_plan(
        scored.reset_index(drop=True),
        wanted,
        extracted.tasks,
        config.salesforce.fields,
        as_of,
    )
    plan.problems = extracted.problems + plan.problems
    if config.tasks.auto_close:
        open_tasks = extracted.tasks[~extracted.tasks["is_closed"]]
        plan.closes = tasks_to_close(open_tasks, wanted, plan.scored, as_of, config.language)
    return plan


# ---------------------------------------------------------------- apply


def apply_plan(client: SalesforceClient, plan: Plan, config: Config, result: RunResult) -> None:
    if plan.updates:
        report = client.update("Account", plan.updates)
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
    if len(plan.tasks):
        f = config.salesforce.fields
        records = [
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
        report = client.upsert("Task", f.task_key, records)
        result.tasks_created += sum(1 for r in report.succeeded if r.get("created"))
        for failure in report.failed:
            result.errors.append(
                Problem("salesforce_task", failure.key, f"{failure.code}: {failure.message}")
            )
        if report.stopped_by is not None:
            raise report.stopped_by
    if len(plan.closes):
        changes = {
            row.task_id: {"Status": config.tasks.closed_status, "Description": row.description}
            for row in plan.closes.itertuples(index=False)
        }
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


def run_once(config: Config, as_of: date, dry_run: bool) -> RunResult:
    """Extract, plan and (unless dry_run) apply. A failure that stops the run (cannot connect,
    allowance used up) ends it with status "failed" and its exit code; what was written before
    it stays written and is counted."""
    started = time.monotonic()
    result = RunResult(status="ok", as_of=as_of, dry_run=dry_run)
    counter = CallCounter()
    session = build_session(
        config.salesforce.instance_url, counter, timeout=(10.0, config.salesforce.timeout_s)
    )
    try:
        client = connect(config.salesforce, session, counter)
        extracted = extract(client, config, as_of)
        result.accounts_read = len(extracted.accounts)
        plan = compute_plan(extracted, config, as_of)
        result.plan = plan
        for problem in plan.problems:
            target = result.warnings if problem.kind in WARNING_KINDS else result.errors
            target.append(problem)
        result.grade_counts = {
            str(k): int(v)
            for k, v in plan.scored["grade"].fillna("none").value_counts().sort_index().items()
        }
        if not dry_run:
            apply_plan(client, plan, config, result)
            if config.dashboard.local_dir is not None:
                grades = [g for g, _ in config.health.grades]
                kpis = snapshot_kpis(plan.scored, grades, as_of, result.tasks_created)
                page = write_local_dashboard(
                    config.dashboard.local_dir,
                    _dashboard_accounts(plan),
                    kpis,
                    plan.tasks,
                    "cs-sync KPI dashboard",
                )
                result.dashboard = str(page)
    except CsSyncError as error:
        result.status = "failed"
        result.exit_code = error.exit_code
        result.errors.append(Problem(error.kind, None, str(error)))
    finally:
        result.salesforce_api_calls = counter.calls["salesforce"]
        result.sheets_api_calls = counter.calls["sheets"]
        if counter.api_used is not None:
            result.api_usage = f"{counter.api_used}/{counter.api_max}"
        result.duration_s = time.monotonic() - started
        session.close()
    if result.errors and result.status == "ok":
        result.status = "partial"
        result.exit_code = EXIT_PARTIAL
    return result
