"""The book's records as a run reads them: accounts, renewal and expansion opportunities,
stakeholder contact roles and cs-sync's own Tasks, each described once (a `CopiedObject`:
its columns, its condition, how its changes are found) and shaped into the tables the rules
read. The same description serves a whole read (a backfill, a run without a local copy) and
a read of changes (cs_sync/incremental.py), so both give the same tables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, timedelta
from functools import partial

import pandas as pd

from cs_sync.config import Config
from cs_sync.connectors.bulk_csv import flag
from cs_sync.connectors.salesforce import SalesforceClient, soql
from cs_sync.csm_book import TASK_WINDOW_DAYS
from cs_sync.incremental import CopiedObject
from cs_sync.rules.arrays import owned, owned_columns
from cs_sync.rules.playbooks import memory_since
from cs_sync.rules.tasks import KEY_PREFIX, key_pattern, parse_key, task_period
from cs_sync.sfid import canonical_ids

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


def account_read(
    client: SalesforceClient, config: Config, condition: str, what: str = "Accounts"
) -> CopiedObject:
    """The Account read: the mapped fields and the team's own, typed by the describe the run
    makes anyway; the owner's and the sub-CSM's name and whether they are active through
    their user records (the parents whose change reads an account again)."""
    f = config.salesforce.fields
    described = client.described_fields("Account")
    sub = _sub_csm_relationship(config)
    mapped = [getattr(f, key) for key in ACCOUNT_FIELDS.values()] + list(f.own_inputs().values())
    columns = {
        "Id": "id",
        "Name": "string",
        "OwnerId": "reference",
        "Owner.IsActive": "boolean",
        "Owner.Name": "string",
        f.sub_csm: "reference",
        f"{sub}.IsActive": "boolean",
        f"{sub}.Name": "string",
        **{name: str(described.get(name.lower(), {}).get("type", "string")) for name in mapped},
    }
    return CopiedObject(
        name="accounts",
        sobject="Account",
        what=what,
        columns=columns,
        condition=condition,
        parents=(("OwnerId", "User"), (f.sub_csm, "User")),
    )


def accounts_from(rows: pd.DataFrame, client: SalesforceClient, config: Config) -> pd.DataFrame:
    """The accounts table the rules read, from the Account read's columns."""
    f = config.salesforce.fields
    sub = _sub_csm_relationship(config)
    frame = pd.DataFrame(
        {
            "account_id": canonical_ids(rows["Id"]),
            "owner_active": owned(rows["Owner.IsActive"], bool),
            "sub_csm_active": owned(rows[f"{sub}.IsActive"], bool),
            **owned_columns(
                rows,
                name="Name",
                owner_id="OwnerId",
                owner_name="Owner.Name",
                sub_csm_id=f.sub_csm,
                sub_csm_name=f"{sub}.Name",
            ),
            **owned_columns(rows, **{c: getattr(f, key) for c, key in ACCOUNT_FIELDS.items()}),
            **owned_columns(rows, **f.own_inputs()),
        },
        columns=[*ACCOUNT_COLUMNS, *f.own_inputs()],
    )
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
        values = typed(values, types[column])
    mapping = config.salesforce.values.get(column)
    if mapping is not None:
        values = values.map(lambda v: mapping.get(v, v) if isinstance(v, str) else v)
    return values


NUMBER_TYPES = ("double", "currency", "percent", "int", "long")


def typed(values: pd.Series, field_type: str) -> pd.Series:
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


# ---------------------------------------------------------------- cs-sync's Tasks
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


def _task_windows(config: Config, as_of: date) -> tuple[date, date]:
    """Since when a closed Task still matters: young enough to hold back a rule (its
    cooldown) or to count in a CSM's last 30 days; and a playbook's steps, done or not, as
    long as its instance may still be running."""
    since = as_of - timedelta(days=max(config.tasks.longest_cooldown, TASK_WINDOW_DAYS) + 1)
    return since, memory_since(config.playbooks, as_of)


def task_read(config: Config, as_of: date) -> CopiedObject:
    """cs-sync's Tasks that matter now: every open one, this period's closed ones, and the
    closed ones young enough to hold back a rule's next Task or a playbook's next step."""
    key = config.salesforce.fields.task_key
    since, remembered = _task_windows(config, as_of)
    condition = soql(
        f"{key} LIKE {{period}} OR ({key} LIKE {{any}} AND (IsClosed = false "
        f"OR CreatedDate >= {since.isoformat()}T00:00:00Z)) OR ({key} LIKE {{steps}} AND "
        f"CreatedDate >= {remembered.isoformat()}T00:00:00Z)",
        period=key_pattern(as_of),
        any=key_pattern(),
        steps=f"{KEY_PREFIX}:%/%",
    )
    return CopiedObject(
        name="tasks",
        sobject="Task",
        what="cs-sync Tasks",
        columns={
            "Id": "id",
            key: "string",
            "WhatId": "reference",
            "IsClosed": "boolean",
            "Description": "textarea",
            "CreatedDate": "datetime",
            "OwnerId": "reference",
            "Owner.Name": "string",
            "ActivityDate": "date",
        },
        condition=condition,
        changes=soql(f"{key} LIKE {{any}}", any=key_pattern()),
        keep=partial(_task_kept, key=key, as_of=as_of, since=since, remembered=remembered),
        parents=(("OwnerId", "User"),),
        as_of_bound=True,
        settings=(as_of - since, as_of - remembered),
    )


def _task_kept(
    rows: pd.DataFrame, key: str, as_of: date, since: date, remembered: date
) -> pd.Series:
    """task_read's condition, decided here for the Tasks a read of changes brings (SOQL's
    LIKE ignores letter case; % matches any run of characters, none included)."""
    keys = rows[key].fillna("").astype(str).str.lower()
    prefix, period = f"{KEY_PREFIX}:".lower(), f":{task_period(as_of)}".lower()
    ours = keys.str.startswith(prefix)
    this_period = ours & keys.str.endswith(period) & (keys.str.len() >= len(prefix) + len(period))
    steps = ours & keys.str[len(prefix) :].str.contains("/", regex=False)
    created = pd.to_datetime(rows["CreatedDate"], utc=True, errors="coerce")

    def on_or_after(day: date) -> pd.Series:
        return created >= pd.Timestamp(day.isoformat(), tz=UTC)

    return (
        this_period
        | (ours & (~rows["IsClosed"].astype(bool) | on_or_after(since)))
        | (steps & on_or_after(remembered))
    )


def tasks_from(rows: pd.DataFrame, config: Config) -> pd.DataFrame:
    """cs-sync's Tasks as the rules read them, their rule and account parsed from the key."""
    key = config.salesforce.fields.task_key
    parsed = [parse_key(str(value or "")) for value in rows[key]]
    rows = rows[pd.Series([found is not None for found in parsed], index=rows.index, dtype=bool)]
    keys = [found for found in parsed if found is not None]
    return pd.DataFrame(
        {
            "rule": [rule for rule, _, _ in keys],
            "account_id": canonical_ids(account for _, account, _ in keys),
            **owned_columns(
                rows,
                task_id="Id",
                key=key,
                is_closed="IsClosed",
                description="Description",
                created_date="CreatedDate",
                owner_id="OwnerId",
                owner_name="Owner.Name",
                activity_date="ActivityDate",
            ),
        },
        columns=TASK_COLUMNS,
    )


# ---------------------------------------------------------------- opportunities and roles
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


def _among(values: pd.Series, wanted: tuple[str, ...] | list[str]) -> pd.Series:
    """SOQL's IN on text: letter case ignored."""
    return values.fillna("").astype(str).str.lower().isin({w.lower() for w in wanted})


def opportunity_read(config: Config) -> CopiedObject:
    """Renewal, expansion and new business opportunities (types from config), open and
    closed."""
    salesforce = config.salesforce
    types = (*salesforce.renewal_types, *salesforce.expansion_types, *salesforce.new_business_types)
    return CopiedObject(
        name="opportunities",
        sobject="Opportunity",
        what="Opportunities",
        columns=OPPORTUNITY_FIELDS,
        condition=soql("AccountId != null AND Type IN {types}", types=types),
        changes="",
        keep=lambda rows: rows["AccountId"].notna() & _among(rows["Type"], types),
    )


def opportunities_from(rows: pd.DataFrame, ids: bool = True) -> pd.DataFrame:
    """The opportunity table the rules read. `ids`: each opportunity's own id, which only a
    replay of the field history reads (backfill, backtest); a run leaves them out (None), so
    its book holds no string per opportunity (430,000 at 100,000 accounts)."""
    return pd.DataFrame(
        {
            "account_id": canonical_ids(rows["AccountId"]),
            "opportunity_id": owned(rows["Id"]) if ids else None,
            **owned_columns(
                rows,
                type="Type",
                stage="StageName",
                close_date="CloseDate",
                amount="Amount",
                is_closed="IsClosed",
                is_won="IsWon",
            ),
        },
        columns=OPPORTUNITY_COLUMNS,
    )


CONTACT_ROLE_COLUMNS = ["account_id", "contact_id", "role", "contact_name"]
ROLE_FIELDS = {
    "Id": "id",
    "OpportunityId": "reference",
    "ContactId": "reference",
    "Contact.Name": "string",
    "Role": "picklist",
    "Opportunity.AccountId": "reference",
}


def role_read(config: Config) -> CopiedObject:
    """Contact roles whose value config maps to a stakeholder (Economic Buyer, Champion…);
    a contact renamed, or an opportunity moved to another account, reads its roles again."""
    values = sorted({v for _, mapped in config.salesforce.roles for v in mapped})
    return CopiedObject(
        name="contact_roles",
        sobject="OpportunityContactRole",
        what="contact roles",
        columns=ROLE_FIELDS,
        condition=soql("Role IN {values}", values=values),
        changes="",
        keep=lambda rows: _among(rows["Role"], values),
        parents=(("ContactId", "Contact"), ("OpportunityId", "Opportunity")),
    )


def roles_from(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows[rows["Opportunity.AccountId"].notna()]
    return pd.DataFrame(
        {
            "account_id": canonical_ids(rows["Opportunity.AccountId"]),
            **owned_columns(rows, contact_id="ContactId", role="Role", contact_name="Contact.Name"),
        },
        columns=CONTACT_ROLE_COLUMNS,
    )
