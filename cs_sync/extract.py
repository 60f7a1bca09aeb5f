"""Extract: read what a run needs from Salesforce and the usage source into tables.

Salesforce records become one DataFrame per object, ids in their 18-character form; usage rows
are joined to the accounts read. Nothing here decides anything: the rules do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

import pandas as pd

from cs_sync.config import Config
from cs_sync.connectors.bulk_csv import flag
from cs_sync.connectors.salesforce import SalesforceClient, soql
from cs_sync.connectors.usage_csv import UsageTable, read_usage_csv, read_usage_parquet
from cs_sync.connectors.usage_settings import BigQueryUsageSource, ParquetUsage, SheetsUsage
from cs_sync.csm_book import TASK_WINDOW_DAYS
from cs_sync.errors import CsSyncError, SetupError
from cs_sync.extract_signals import read_activity, read_cases, read_field_history, read_surveys
from cs_sync.org_fields import required_fields, unseen_inputs
from cs_sync.plan import Problem
from cs_sync.rules.calendar import last_complete_month
from cs_sync.rules.playbooks import memory_since
from cs_sync.rules.tasks import KEY_PREFIX, key_pattern, parse_key
from cs_sync.score import Extracted
from cs_sync.sfid import canonical_ids, try_to18

log = logging.getLogger(__name__)


# Account table column → the [salesforce.fields] key that names its API field.
ACCOUNT_FIELDS = {
    "arr": "arr",
    "seats": "seats",
    "contract_start": "contract_start",
    "renewal_date": "renewal_date",
    "segment": "segment",
    "external_key": "external_key",
    "budget_status": "budget_status",
    "sentiment": "sentiment",
    "busy_months": "busy_months",
    "approval_lead_days": "approval_lead_days",
    "prev_score": "score",
    "prev_grade": "grade",
    "prev_trend": "trend",
    "prev_reasons": "reasons",
    "prev_phase": "phase",
    "prev_phase_delayed": "phase_delayed",
    "prev_renewal_strategy": "renewal_strategy",
    "prev_next_action": "next_action",
    "prev_next_action_date": "next_action_date",
    "override_grade": "override_grade",
    "override_reason": "override_reason",
    "override_expiry": "override_expiry",
}
ACCOUNT_COLUMNS = [
    "account_id",
    "name",
    "owner_id",
    "owner_active",
    "owner_name",
    "sub_csm_id",
    "sub_csm_active",
    "sub_csm_name",
    *ACCOUNT_FIELDS,
]


def _sub_csm_relationship(config: Config) -> str:
    return config.salesforce.fields.sub_csm.removesuffix("__c") + "__r"


def _account_query(config: Config, condition: str) -> str:
    f = config.salesforce.fields
    columns = [
        "Id",
        "Name",
        "OwnerId",
        "Owner.IsActive",
        "Owner.Name",
        f.sub_csm,
        f"{_sub_csm_relationship(config)}.IsActive",
        f"{_sub_csm_relationship(config)}.Name",
        *(getattr(f, key) for key in ACCOUNT_FIELDS.values()),
        *f.own_inputs().values(),
    ]
    query = f"SELECT {', '.join(columns)} FROM Account"
    if condition.strip():
        query += f" WHERE {condition}"
    return query + " ORDER BY Id"


def _nested(record: dict[str, Any], relationship: str, name: str) -> Any:
    parent = record.get(relationship)
    return parent.get(name) if isinstance(parent, dict) else None


def read_accounts(
    client: SalesforceClient, config: Config, include_former: bool = False
) -> pd.DataFrame:
    """The accounts cs-sync scores (salesforce.account_filter), `former` False; with
    `include_former`, also the former customers (salesforce.former_customer_filter), `former`
    True, for the backfill and the backtest, which need the accounts that left."""
    frame = _read_accounts(
        client, config, config.salesforce.account_filter, "Accounts", "salesforce.account_filter"
    )
    frame["former"] = False
    former_filter = config.salesforce.former_customer_filter.strip()
    if include_former and former_filter:
        former = _read_accounts(
            client, config, former_filter, "former customers", "salesforce.former_customer_filter"
        )
        former = former[~former["account_id"].isin(frame["account_id"])]
        former["former"] = True
        frame = pd.concat([frame, former], ignore_index=True) if len(former) else frame
    return frame


def _read_accounts(
    client: SalesforceClient, config: Config, condition: str, what: str, key: str
) -> pd.DataFrame:
    f = config.salesforce.fields
    sub_relationship = _sub_csm_relationship(config)
    try:
        records = list(client.query(_account_query(config, condition), what))
    except CsSyncError as error:
        if type(error) not in (CsSyncError, SetupError) or not condition.strip():
            raise
        # the fields were checked first: what Salesforce refuses now is the condition
        raise SetupError(
            f"{key} = {condition.strip()!r}: Salesforce refused it as a SOQL condition on "
            f"Account ({error}). Fix it in {config.path}; `cs-sync doctor` tries it alone"
        ) from None
    rows = [
        {
            "account_id": try_to18(record["Id"]) or record["Id"],
            "name": record.get("Name"),
            "owner_id": record.get("OwnerId"),
            "owner_active": bool(_nested(record, "Owner", "IsActive")),
            "owner_name": _nested(record, "Owner", "Name"),
            "sub_csm_id": record.get(f.sub_csm),
            "sub_csm_active": bool(_nested(record, sub_relationship, "IsActive")),
            "sub_csm_name": _nested(record, sub_relationship, "Name"),
            **{column: record.get(getattr(f, key)) for column, key in ACCOUNT_FIELDS.items()},
            **{column: record.get(name) for column, name in f.own_inputs().items()},
        }
        for record in records
    ]
    frame = pd.DataFrame(rows, columns=[*ACCOUNT_COLUMNS, *f.own_inputs()])
    for column, shape in account_shapes(client, config).items():
        frame[column] = shape(frame[column])
    return frame


Shape = Callable[[pd.Series], pd.Series]


def account_shapes(client: SalesforceClient, config: Config) -> dict[str, Shape]:
    """How an Account column's raw values become what the rules read: the team's own fields
    typed by their describe, text values translated by [salesforce.values]. The same for the
    values read today and for their history (cs_sync/field_history.py)."""
    described = client.described_fields("Account")
    types = {
        column: described[name.lower()]["type"]
        for column, name in config.salesforce.fields.own_inputs().items()
    }
    columns = {*types, *config.salesforce.values}
    return {
        column: partial(_shaped, column=column, types=types, config=config) for column in columns
    }


def _shaped(values: pd.Series, column: str, types: dict[str, str], config: Config) -> pd.Series:
    if column in types:
        values = _typed(values, types[column])
    mapping = config.salesforce.values.get(column)
    if mapping is not None:
        values = values.map(lambda v: mapping.get(v, v) if isinstance(v, str) else v)
    return values


NUMBER_TYPES = ("double", "currency", "percent", "int", "long")


def _typed(values: pd.Series, field_type: str) -> pd.Series:
    """An Account field of the admin's, as the rules use it: numbers as floats (missing:
    NaN), a checkbox as True/False, a date as a timestamp, anything else as text."""
    if field_type in NUMBER_TYPES:
        return pd.to_numeric(values, errors="coerce").astype(float)
    if field_type == "boolean":  # JSON true/false, or a Bulk job's "true"/"false" text
        return values.map(flag).astype(bool)
    if field_type == "date":
        return pd.to_datetime(values, errors="coerce", format="ISO8601")
    if field_type == "datetime":  # as the UTC day
        return pd.to_datetime(values, errors="coerce", utc=True).dt.tz_localize(None)
    return values.astype(object).where(values.notna(), None)


TASK_COLUMNS = [
    "task_id",
    "key",
    "rule",
    "account_id",
    "is_closed",
    "description",
    "created_date",
    "owner_id",
    "owner_name",
    "activity_date",
]


def read_tasks(client: SalesforceClient, config: Config, as_of: date) -> pd.DataFrame:
    """cs-sync's Tasks that matter now: every open one, this period's closed ones, and the
    closed ones young enough to hold back a rule's next Task (its cooldown)."""
    key = config.salesforce.fields.task_key
    # every Task young enough to hold back a rule, or to count in a CSM's last 30 days
    since = as_of - timedelta(days=max(config.tasks.longest_cooldown, TASK_WINDOW_DAYS) + 1)
    # a playbook's steps, done or not, as long as its instance may still be running
    remembered = memory_since(config.playbooks, as_of)
    query = soql(
        f"SELECT Id, {key}, WhatId, IsClosed, Description, CreatedDate, OwnerId, Owner.Name, "
        "ActivityDate FROM Task "
        f"WHERE {key} LIKE {{period}} OR ({key} LIKE {{any}} AND (IsClosed = false "
        f"OR CreatedDate >= {since.isoformat()}T00:00:00Z)) OR ({key} LIKE {{steps}} AND "
        f"CreatedDate >= {remembered.isoformat()}T00:00:00Z)",
        period=key_pattern(as_of),
        any=key_pattern(),
        steps=f"{KEY_PREFIX}:%/%",
    )
    fields = {
        "Id": "id",
        key: "string",
        "WhatId": "reference",
        "IsClosed": "boolean",
        "Description": "textarea",
        "CreatedDate": "datetime",
        "OwnerId": "reference",
        "Owner.Name": "string",
        "ActivityDate": "date",
    }
    read = client.query_frame(query, "cs-sync Tasks", fields)
    parsed = [parse_key(str(value or "")) for value in read[key]]
    read = read[pd.Series([found is not None for found in parsed], index=read.index, dtype=bool)]
    keys = [found for found in parsed if found is not None]
    return pd.DataFrame(
        {
            "task_id": read["Id"].to_numpy(),
            "key": read[key].to_numpy(),
            "rule": [rule for rule, _, _ in keys],
            "account_id": canonical_ids(account for _, account, _ in keys),
            "is_closed": read["IsClosed"].to_numpy(),
            "description": read["Description"].to_numpy(),
            "created_date": read["CreatedDate"].to_numpy(),
            "owner_id": read["OwnerId"].to_numpy(),
            "owner_name": read["Owner.Name"].to_numpy(),
            "activity_date": read["ActivityDate"].to_numpy(),
        },
        columns=TASK_COLUMNS,
    )


OPPORTUNITY_COLUMNS = [
    "opportunity_id",
    "account_id",
    "type",
    "stage",
    "close_date",
    "amount",
    "is_closed",
    "is_won",
]
CONTACT_ROLE_COLUMNS = ["account_id", "contact_id", "role", "contact_name"]


OPPORTUNITY_FIELDS = {
    "Id": "id",
    "AccountId": "reference",
    "Type": "picklist",
    "StageName": "picklist",
    "CloseDate": "date",
    "Amount": "currency",
    "IsClosed": "boolean",
    "IsWon": "boolean",
}


def read_opportunities(client: SalesforceClient, config: Config) -> pd.DataFrame:
    """Renewal, expansion and new business opportunities (types from config), open and
    closed."""
    salesforce = config.salesforce
    types = (*salesforce.renewal_types, *salesforce.expansion_types, *salesforce.new_business_types)
    query = soql(
        f"SELECT {', '.join(OPPORTUNITY_FIELDS)} "
        "FROM Opportunity WHERE AccountId != null AND Type IN {types}",
        types=types,
    )
    read = client.query_frame(query, "Opportunities", OPPORTUNITY_FIELDS)
    return pd.DataFrame(
        {
            "opportunity_id": read["Id"],
            "account_id": canonical_ids(read["AccountId"]),
            "type": read["Type"],
            "stage": read["StageName"],
            "close_date": read["CloseDate"],
            "amount": read["Amount"],
            "is_closed": read["IsClosed"],
            "is_won": read["IsWon"],
        },
        columns=OPPORTUNITY_COLUMNS,
    )


ROLE_FIELDS = {
    "ContactId": "reference",
    "Contact.Name": "string",
    "Role": "picklist",
    "Opportunity.AccountId": "reference",
}


def read_contact_roles(client: SalesforceClient, config: Config) -> pd.DataFrame:
    """Contact roles whose value config maps to a stakeholder (Economic Buyer, Champion…)."""
    values = sorted({v for _, mapped in config.salesforce.roles for v in mapped})
    query = soql(
        f"SELECT {', '.join(ROLE_FIELDS)} FROM OpportunityContactRole WHERE Role IN {{values}}",
        values=values,
    )
    read = client.query_frame(query, "contact roles", ROLE_FIELDS)
    read = read[read["Opportunity.AccountId"].notna()]
    return pd.DataFrame(
        {
            "account_id": canonical_ids(read["Opportunity.AccountId"]),
            "contact_id": read["ContactId"].to_numpy(),
            "role": read["Role"].to_numpy(),
            "contact_name": read["Contact.Name"].to_numpy(),
        },
        columns=CONTACT_ROLE_COLUMNS,
    )


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


def read_usage(config: Config, as_of: date) -> UsageTable:
    """Monthly usage from the configured source, checked the same way whatever the source."""
    usage = config.usage
    shape: dict[str, Any] = {"metrics": usage.all_metrics, "columns": usage.columns}
    if isinstance(usage, ParquetUsage):
        return read_usage_parquet(usage.path, as_of, usage.account_key, usage.on_bad_rows, **shape)
    if isinstance(usage, SheetsUsage):
        from cs_sync.connectors.google_calls import sheets_client
        from cs_sync.connectors.usage_sheets import read_usage_sheet

        client = sheets_client(
            usage.credentials_file, config.sandbox.url, None, "usage.credentials_file"
        )
        return read_usage_sheet(
            client,
            usage.spreadsheet_id,
            usage.worksheet,
            as_of,
            usage.account_key,
            usage.on_bad_rows,
            **shape,
        )
    if isinstance(usage, BigQueryUsageSource):
        from cs_sync.connectors.usage_bigquery import read_usage_bigquery

        return read_usage_bigquery(
            usage.bigquery,
            usage.table_columns(),
            as_of,
            usage.account_key,
            usage.on_bad_rows,
            timezone=config.timezone,
        )
    return read_usage_csv(
        usage.path,
        as_of,
        usage.account_key,
        usage.on_bad_rows,
        **shape,
        encoding=usage.encoding,
        delimiter=usage.delimiter,
    )


def check_account_fields(client: SalesforceClient, config: Config) -> None:
    """Every Account field the run reads or writes, against what the integration user sees
    (the describe the run makes anyway): a wrong mapping is named by its config key, a field of
    cs-sync's own sends the admin to setup, before any query fails on it."""
    seen = client.described_fields("Account")
    config_path = config.path
    mapped = [
        f"salesforce.fields.{key} = {name!r}"
        for key, name in unseen_inputs(config.salesforce.fields, seen)
    ]
    if mapped:
        raise SetupError(
            f"{', '.join(mapped)}: Account has no such field that the integration user can "
            f"see. Correct the API name in [salesforce.fields] of {config_path}, or grant the "
            "integration user Read on it in a permission set; `cs-sync doctor` lists the "
            "fields it checks"
        )
    own = [
        spec.name
        for spec in required_fields(config.salesforce.fields)
        if spec.sobject == "Account" and spec.name.lower() not in seen
    ]
    if own:
        raise SetupError(
            f"cs-sync's own Account field(s) {', '.join(own)} are missing or hidden from the "
            f"integration user. Run `cs-sync setup salesforce --config {config_path} --apply`: "
            "it creates the missing fields and grants access to them"
        )


def extract(
    client: SalesforceClient,
    config: Config,
    as_of: date,
    include_former: bool = False,
    since: date | None = None,
) -> Extracted:
    """What a run reads; `since`: the earliest date a backfill or backtest scores, so that
    activity and cases are read far enough back for it."""
    check_account_fields(client, config)
    accounts = read_accounts(client, config, include_former)
    usage_table = read_usage(config, as_of)
    problems = [
        Problem("usage_row", p.key, f"{usage_table.source} {p}") for p in usage_table.problems
    ] + [Problem("usage_blank", p.key, f"{usage_table.source} {p}") for p in usage_table.blanks]
    expected = last_complete_month(as_of)
    months = usage_table.frame["month"]
    if len(months) and months.max() < expected:
        problems.append(
            Problem(
                "usage_stale",
                None,
                f"{usage_table.source} has no usage for {expected:%Y-%m} yet (latest "
                f"{months.max():%Y-%m}): every account looks idle that month, so scores drop; "
                "load it before the run (the brakes stop a mass regrade)",
            )
        )
    usage, join_problems = join_usage(
        accounts, usage_table.frame, config.usage.account_key, usage_table.source, as_of
    )
    tasks = read_tasks(client, config, as_of)
    opportunities = read_opportunities(client, config)
    contact_roles = read_contact_roles(client, config)
    surveys, survey_problems = read_surveys(client, config, as_of, since)
    history = None
    if since is not None:  # a backfill or a backtest: the tracked fields' past values
        history = read_field_history(client, config, since, account_shapes(client, config))
        problems += [
            Problem("field_history", None, f"{p}: those fields read today's value on past dates")
            for p in history.problems
        ]
    return Extracted(
        accounts,
        usage,
        tasks,
        opportunities,
        contact_roles,
        problems + join_problems + survey_problems,
        client.field_scales("Account"),
        activities=read_activity(client, config, as_of, since),
        cases=read_cases(client, config, as_of, since),
        surveys=surveys,
        field_history=history,
    )


# ---------------------------------------------------------------- pure middle
