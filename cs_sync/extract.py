"""Extract: read what a run needs from Salesforce and the usage source into tables.

Salesforce records become one DataFrame per object, ids in their 18-character form; usage rows
are joined to the accounts read. Nothing here decides anything: the rules do.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from cs_sync.book_reads import (
    account_read,
    account_shapes,
    accounts_from,
    opportunities_from,
    opportunity_read,
    role_read,
    roles_from,
    task_read,
    tasks_from,
)
from cs_sync.config import Config
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.salesforce_batch import describe_all
from cs_sync.connectors.usage_checks import UsageTable
from cs_sync.connectors.usage_csv import read_usage_csv, read_usage_parquet
from cs_sync.connectors.usage_memo import UsageMemo, file_signature
from cs_sync.connectors.usage_settings import (
    BigQueryUsageSource,
    CsvUsage,
    ParquetUsage,
    SheetsUsage,
)
from cs_sync.errors import CsSyncError, SetupError
from cs_sync.extract_signals import (
    activity_from,
    activity_reads,
    case_reads,
    cases_from,
    described_objects,
    read_field_history,
    read_surveys,
    survey_reads,
    surveys_from,
)
from cs_sync.incremental import LocalCopy, read_now, read_whole
from cs_sync.org_fields import required_fields, unseen_inputs
from cs_sync.plan import Problem
from cs_sync.rules.arrays import shared_texts
from cs_sync.rules.calendar import last_complete_month
from cs_sync.score import Extracted

if TYPE_CHECKING:
    import gspread

log = logging.getLogger(__name__)


def with_former(client: SalesforceClient, config: Config, accounts: pd.DataFrame) -> pd.DataFrame:
    """The accounts cs-sync scores (`former` False) and the former customers
    (salesforce.former_customer_filter, `former` True), for the backfill and the backtest,
    which need the accounts that left."""
    former_filter = config.salesforce.former_customer_filter.strip()
    if not former_filter:
        return accounts
    rows = _whole_accounts(
        client, config, former_filter, "former customers", "salesforce.former_customer_filter"
    )
    former = shared_texts(accounts_from(rows, client, config))  # read whole, not shared yet
    former = former[~former["account_id"].isin(accounts["account_id"])]
    former["former"] = True
    return pd.concat([accounts, former], ignore_index=True) if len(former) else accounts


def _whole_accounts(
    client: SalesforceClient, config: Config, condition: str, what: str, key: str
) -> pd.DataFrame:
    try:
        return read_whole(client, account_read(client, config, condition, what))[0]
    except CsSyncError as error:
        raise _refused_filter(error, config, condition, key) from None


def _refused_filter(error: CsSyncError, config: Config, condition: str, key: str) -> CsSyncError:
    """A query refused for its condition is the admin's filter, named by its config key (the
    fields were checked first: what Salesforce refuses now is the condition)."""
    if (
        type(error) not in (CsSyncError, SetupError)
        or not condition.strip()
        or error.read not in (None, "Accounts", "former customers")
    ):
        return error
    return SetupError(
        f"{key} = {condition.strip()!r}: Salesforce refused it as a SOQL condition on "
        f"Account ({error}). Fix it in {config.path}; `cs-sync doctor` tries it alone"
    )


class Book(NamedTuple):
    """What a run reads from Salesforce, as the rules read it (None: a signal not read)."""

    accounts: pd.DataFrame
    tasks: pd.DataFrame
    opportunities: pd.DataFrame
    contact_roles: pd.DataFrame
    activities: pd.DataFrame | None
    cases: pd.DataFrame | None
    surveys: pd.DataFrame | None


def read_book(
    client: SalesforceClient,
    config: Config,
    as_of: date,
    local: LocalCopy | None = None,
    since: date | None = None,
) -> Book:
    """Accounts, cs-sync's Tasks, opportunities, contact roles and the signals the
    configuration scores on (activity, cases, answers on Contact): read whole, or (with a
    local copy) brought up to date by what changed since the last run. `since`: a backfill's
    earliest date (the signals' windows reach back from it)."""
    specs = [
        account_read(client, config, config.salesforce.account_filter),
        task_read(config, as_of),
        opportunity_read(config),
        role_read(config),
        *activity_reads(client, config, as_of, since),
        *case_reads(client, config, as_of, since),
        *survey_reads(client, config),
    ]
    try:
        rows = read_now(client, specs) if local is None else local.read(client, specs, as_of)
    except CsSyncError as error:
        raise _refused_filter(
            error, config, config.salesforce.account_filter, "salesforce.account_filter"
        ) from None
    # each object's rows are let go as its table is made: the rows of every object beside
    # the tables made of them were the read's peak (the first run's, at 100,000 accounts)
    accounts = accounts_from(rows.pop("accounts"), client, config)
    accounts["former"] = False
    return Book(
        accounts,
        tasks_from(rows.pop("tasks"), config),
        opportunities_from(rows.pop("opportunities"), ids=since is not None),
        roles_from(rows.pop("contact_roles")),
        (
            activity_from(rows.pop("activity_tasks"), rows.pop("events"), config)
            if "events" in rows
            else None
        ),
        cases_from(rows.pop("cases"), config) if "cases" in rows else None,
        surveys_from(rows.pop("survey_answers"), config) if "survey_answers" in rows else None,
    )


def join_usage(
    accounts: pd.DataFrame, usage: pd.DataFrame, account_key: str, source: str, as_of: date
) -> tuple[pd.DataFrame, list[Problem]]:
    """Attach usage rows to accounts. Keys with usage in the latest complete month that match
    no account cs-sync reads are reported (a typo, or salesforce.account_filter leaving a live
    customer out); older history of accounts outside the filter (former customers) is kept out
    of scoring and counted in the log. Each distinct key is looked up once: a row gets a
    code into the accounts' ids (a categorical), not a string of its own. The rows kept are
    taken out of `usage` a column at a time (see rules_usage): it is left without them, and
    without its keys and line numbers."""
    key_column = "account_id" if account_key == "salesforce_id" else "external_key"
    keyed = accounts[key_column].notna().to_numpy()
    keys = pd.Index(accounts[key_column].to_numpy()[keyed], dtype=object)
    ids = accounts["account_id"].to_numpy()[keyed]
    first = ~keys.duplicated()
    codes, distinct = _codes(usage["account_key"])
    at = keys[first].get_indexer(distinct)
    found = np.zeros(len(codes), dtype=bool)
    found[codes >= 0] = (at >= 0)[codes[codes >= 0]]
    unknown = usage.loc[~found, ["account_key", "month", "line"]]
    latest = last_complete_month(as_of)
    problems = []
    recent = unknown[unknown["month"] >= latest]
    for key, lines in recent.groupby("account_key", observed=True)["line"]:
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
    # each distinct key's account, as a code into the accounts' own ids
    known = at >= 0
    account_codes, account_ids = pd.factorize(ids[first][at[known]])
    code_of_key = np.full(len(distinct), -1, dtype=np.int32)
    code_of_key[known] = account_codes
    row_codes = np.where(found, code_of_key[np.maximum(codes, 0)], -1)
    # the source's keys and line numbers are read no more: let go before the rows are
    # copied (146 MiB at a million accounts' usage)
    del codes, unknown, recent
    for column in ("account_key", "line"):
        del usage[column]
    account_id = pd.Categorical.from_codes(row_codes, pd.Index(account_ids, dtype=object))
    del row_codes
    return rules_usage(usage, None if found.all() else found, account_id), problems


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's code into the column's distinct values (-1: missing)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories
    codes, distinct = pd.factorize(values)
    return codes, pd.Index(distinct)


def rules_usage(
    usage: pd.DataFrame, rows: np.ndarray | None = None, account_id: pd.Categorical | None = None
) -> pd.DataFrame:
    """The usage rows (those `rows` marks, else all) as the rules keep them: account_id as a
    categorical (a code a row into one string per account), month, and each metric as a
    32-bit float, the precision every rule computes in (rules/usage_metrics.py), so nothing
    they give changes; the source's key and line numbers (read for messages) are let go. At a
    million accounts and 13 months this halves what the usage holds (0.5 GiB less). Each
    column is taken out of `usage` as its kept rows are made (`usage` is left without them),
    so the rows read and the rows kept are never both held whole: with every row kept, the
    columns are the same arrays. `account_id`: each row's account, when it is not a column
    of `usage` (a column added to the table would keep every column alive after it is
    taken out)."""
    metrics = [c for c in usage.columns if c not in ("account_key", "account_id", "month", "line")]
    kept = slice(None) if rows is None else rows
    if account_id is None:
        ids = usage.pop("account_id")
        account_id = (
            ids.array
            if isinstance(ids.dtype, pd.CategoricalDtype)
            else pd.Categorical.from_codes(*_codes(ids))
        )
    table = {"account_id": account_id[kept], "month": usage.pop("month").array[kept]}
    for name in metrics:
        values = usage.pop(name)
        if values.dtype != np.float32:
            values = pd.to_numeric(values, errors="coerce")
        table[name] = values.to_numpy(np.float32)[kept]
    return pd.DataFrame(table, copy=False)


def usage_sheets_client(usage: SheetsUsage, sandbox_url: str | None) -> gspread.Client:
    """The Google Sheets client usage is read with (its credentials also ask for Drive's
    metadata, for the spreadsheet's version)."""
    from cs_sync.connectors.google_calls import sheets_client
    from cs_sync.connectors.usage_sheets import DRIVE_METADATA_SCOPE

    return sheets_client(
        usage.credentials_file,
        sandbox_url,
        None,
        "usage.credentials_file",
        (DRIVE_METADATA_SCOPE,),
    )


def read_usage(config: Config, as_of: date, memo: UsageMemo | None = None) -> UsageTable:
    """Monthly usage from the configured source, checked the same way whatever the source.
    With `memo` (the local copy's), a usage file, Sheets tab or BigQuery table is read again
    only when it changed since the read the memo keeps."""
    usage = config.usage
    shape: dict[str, Any] = {"metrics": usage.all_metrics, "columns": usage.columns}
    if isinstance(usage, ParquetUsage | CsvUsage) and memo is not None:
        settings = {
            "kind": type(usage).__name__,
            "path": str(usage.path),
            "as_of": as_of,
            "account_key": usage.account_key,
            "on_bad_rows": usage.on_bad_rows,
            **shape,
            "encoding": getattr(usage, "encoding", None),
            "delimiter": getattr(usage, "delimiter", None),
        }
        signature = file_signature(usage.path, settings)
        return memo.read(signature, lambda: read_usage(config, as_of))
    if isinstance(usage, ParquetUsage):
        return read_usage_parquet(usage.path, as_of, usage.account_key, usage.on_bad_rows, **shape)
    if isinstance(usage, SheetsUsage):
        from cs_sync.connectors.usage_sheets import read_usage_sheet

        return read_usage_sheet(
            usage_sheets_client(usage, config.sandbox.url),
            usage.spreadsheet_id,
            usage.worksheet,
            as_of,
            usage.account_key,
            usage.on_bad_rows,
            **shape,
            memo=memo,
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
            memo=memo,
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
    local: LocalCopy | None = None,
) -> Extracted:
    """What a run reads; `since`: the earliest date a backfill or backtest scores, so that
    activity and cases are read far enough back for it; `local`: the local copy a run keeps
    current by reading what changed."""
    describe_all(client, ["Account", *described_objects(config)])  # one call
    check_account_fields(client, config)
    book = read_book(client, config, as_of, local, since)
    accounts = with_former(client, config, book.accounts) if include_former else book.accounts
    memo = UsageMemo(local.store.path, local.keep) if local is not None else None
    usage_table = read_usage(config, as_of, memo)
    problems = [
        Problem("usage_row", p.key, f"{usage_table.source} {p}") for p in usage_table.problems
    ] + [Problem("usage_blank", p.key, f"{usage_table.source} {p}") for p in usage_table.blanks]
    expected = last_complete_month(as_of)
    latest = usage_table.frame["month"].max() if len(usage_table.frame) else None
    if latest is not None and latest < expected:
        problems.append(
            Problem(
                "usage_stale",
                None,
                f"{usage_table.source} has no usage for {expected:%Y-%m} yet (latest "
                f"{latest:%Y-%m}): every account looks idle that month, so scores drop; "
                "load it before the run (the brakes stop a mass regrade)",
            )
        )
    usage, join_problems = join_usage(
        accounts, usage_table.frame, config.usage.account_key, usage_table.source, as_of
    )
    surveys, survey_problems = read_surveys(config, as_of, since)
    if book.surveys is not None:
        surveys = book.surveys
    history = None
    if since is not None:  # a backfill or a backtest: the tracked fields' past values
        history = read_field_history(client, config, since, account_shapes(client, config))
        problems += [
            Problem("field_history", None, f"{p}: those fields read today's value on past dates")
            for p in history.problems
        ]
    return Extracted(
        accounts,  # texts shared as they were read (former customers' by with_former)
        usage,
        book.tasks,
        book.opportunities,  # their texts shared as they were read (incremental._shared)
        book.contact_roles,
        problems + join_problems + survey_problems,
        client.field_scales("Account"),
        activities=book.activities,
        cases=book.cases,
        surveys=surveys,
        field_history=history,
    )


# ---------------------------------------------------------------- pure middle
