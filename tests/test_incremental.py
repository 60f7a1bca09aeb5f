"""Reading the book by its changes gives exactly what reading it whole gives: after rounds of
random changes made through the API (fields edited, accounts leaving and joining the filter,
records deleted, owners and contacts renamed, opportunities moved, roles changed, cs-sync's
Tasks created, closed and deleted), the local copy brought up to date equals a whole read."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from simple_salesforce import Salesforce

from cs_sync.config import Config, load_config
from cs_sync.connectors.copy_store import CopyStore
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.demo import DemoFolder
from cs_sync.errors import CsSyncError
from cs_sync.extract import read_book
from cs_sync.incremental import LocalCopy
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, held_by_another_process, login

OVERLAP = timedelta(seconds=300)


@pytest.fixture
def book(demo40: tuple[DemoFolder, Sandbox]) -> Iterator[tuple[Config, Sandbox, Salesforce]]:
    folder, sandbox = demo40
    yield load_config(folder.config_path), sandbox, login(sandbox)


def _client(config: Config, counter: CallCounter | None = None) -> SalesforceClient:
    return connect(config.salesforce, build_session(config.sandbox.url, counter), counter)


def _tables(frames: tuple[pd.DataFrame, ...]) -> list[pd.DataFrame]:
    """The four tables in one order whatever order the records came in."""
    keys = ["account_id", "task_id", "opportunity_id", ["account_id", "contact_id", "role"]]
    return [
        frame.sort_values(key, kind="stable").reset_index(drop=True)
        for frame, key in zip(frames, keys, strict=True)
    ]


def _assert_same(by_changes: tuple[pd.DataFrame, ...], whole: tuple[pd.DataFrame, ...]) -> None:
    for mine, theirs in zip(_tables(by_changes), _tables(whole), strict=True):
        pd.testing.assert_frame_equal(mine, theirs)


def _ids(sf: Salesforce, soql: str) -> list[str]:
    return [r["Id"] for r in sf.query_all(soql)["records"]]


def _change_something(sf: Salesforce, rng: random.Random, step: int) -> str:
    """One random change through the REST API, as a person or another integration makes it."""
    customers = _ids(sf, "SELECT Id FROM Account WHERE Type = 'Customer - Direct'")
    users = _ids(sf, "SELECT Id FROM User WHERE IsActive = true")
    kind = rng.choice(
        [
            "edit_account",
            "leave_filter",
            "join_filter",
            "delete_account",
            "rename_user",
            "rename_contact",
            "move_opportunity",
            "retype_opportunity",
            "change_role",
            "delete_role",
            "new_task",
            "close_task",
            "delete_task",
        ]
    )
    if kind == "edit_account":
        sf.Account.update(
            rng.choice(customers), {"CS_Sentiment__c": rng.choice(["Positive", "Negative"])}
        )
    elif kind == "leave_filter":
        sf.Account.update(rng.choice(customers), {"Type": "Former Customer"})
    elif kind == "join_filter":
        sf.Account.create(
            {"Name": f"新規顧客 {step}", "Type": "Customer - Direct", "OwnerId": rng.choice(users)}
        )
    elif kind == "delete_account":
        sf.Account.delete(rng.choice(customers))
    elif kind == "rename_user":
        sf.User.update(rng.choice(users), {"LastName": f"改名{step}"})
    elif kind == "rename_contact":
        contacts = [
            r["ContactId"]
            for r in sf.query_all("SELECT ContactId FROM OpportunityContactRole")["records"]
        ]
        sf.Contact.update(rng.choice(contacts), {"LastName": f"改名{step}"})
    elif kind in ("move_opportunity", "retype_opportunity"):
        opportunities = _ids(
            sf,
            "SELECT Id FROM Opportunity "
            "WHERE Id IN (SELECT OpportunityId FROM OpportunityContactRole)",
        )
        change = (
            {"AccountId": rng.choice(customers)}
            if kind == "move_opportunity"
            else {"Type": rng.choice(["New Business", "Renewal", "Upsell"])}
        )
        sf.Opportunity.update(rng.choice(opportunities), change)
    elif kind == "change_role":
        sf.OpportunityContactRole.update(
            rng.choice(_ids(sf, "SELECT Id FROM OpportunityContactRole")),
            {"Role": rng.choice(["Economic Buyer", "Business User", "Evaluator"])},
        )
    elif kind == "delete_role":
        sf.OpportunityContactRole.delete(
            rng.choice(_ids(sf, "SELECT Id FROM OpportunityContactRole"))
        )
    elif kind == "new_task":
        account = rng.choice(customers)
        sf.Task.create(
            {
                "Subject": "フォロー",
                "WhatId": account,
                "OwnerId": rng.choice(users),
                "CS_Sync_Key__c": f"cs-sync:test_rule:{account}:{AS_OF:%Y-%m}",
            }
        )
    else:
        tasks = _ids(sf, "SELECT Id FROM Task WHERE CS_Sync_Key__c LIKE 'cs-sync:%'")
        if not tasks:
            return kind
        if kind == "close_task":
            sf.Task.update(rng.choice(tasks), {"Status": "Completed"})
        else:
            sf.Task.delete(rng.choice(tasks))
    return kind


def test_reading_by_changes_equals_reading_whole_after_random_changes(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    config, _, sf = book
    client = _client(config)
    local = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, full_read_hours=24)
    first = read_book(client, config, AS_OF, local)
    assert local.report is not None and local.report.full
    _assert_same(first, read_book(client, config, AS_OF))
    rng = random.Random(20261204)
    made: set[str] = set()
    for round_ in range(6):
        for step in range(8):
            made.add(_change_something(sf, rng, round_ * 10 + step))
        by_changes = read_book(client, config, AS_OF, local)
        assert local.report is not None and not local.report.full
        _assert_same(by_changes, read_book(client, config, AS_OF))
    assert len(made) >= 10  # most kinds of change were tried


def test_a_run_that_stops_before_saving_the_copy_reads_the_same_changes_again(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    config, _, sf = book
    client = _client(config)
    store = CopyStore(tmp_path / "copy.duckdb")
    read_book(client, config, AS_OF, LocalCopy(store, OVERLAP, 24))
    customer = _ids(sf, "SELECT Id FROM Account WHERE Type = 'Customer - Direct' LIMIT 1")[0]
    sf.Account.update(customer, {"Name": "変更後"})
    # read but never saved (a crash between the read and the save)
    read_book(client, config, AS_OF, LocalCopy(store, OVERLAP, 24, keep=False))
    accounts = read_book(client, config, AS_OF, LocalCopy(store, OVERLAP, 24))[0]
    assert accounts.set_index("account_id").loc[customer, "name"] == "変更後"


def test_an_unchanged_book_costs_one_small_read_per_object(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    config, sandbox, _ = book
    local = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24)
    read_book(_client(config), config, AS_OF, local)
    counter = CallCounter()
    client = _client(config, counter)
    client.described_fields("Account")  # as every run does first, to check the mapping
    before, moved = counter.calls["salesforce"], counter.bytes["salesforce"]
    queried = sandbox.salesforce.queries.objects_queried
    queried.clear()
    read_book(client, config, AS_OF, local)
    assert local.report is not None and not local.report.full
    assert sum(local.report.changed.values()) == sum(local.report.removed.values()) == 0
    assert local.report.refetched == {}  # no parent changed either
    # one question each of Account, Contact, Opportunity, OpportunityContactRole, Task, User
    assert counter.calls["salesforce"] - before == 6
    assert 0 < counter.bytes["salesforce"] - moved < 6 * 1_000  # six answers with no record
    assert sorted(queried) == [
        "Account",
        "Contact",
        "Opportunity",
        "OpportunityContactRole",
        "Task",
        "User",
    ]


def test_full_reads_come_back_when_asked_when_old_and_when_the_query_changes(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    config, _, _ = book
    client = _client(config)
    store = CopyStore(tmp_path / "copy.duckdb")
    read_book(client, config, AS_OF, LocalCopy(store, OVERLAP, 24))
    forced = LocalCopy(store, OVERLAP, 24, forced=True)
    read_book(client, config, AS_OF, forced)
    assert forced.report is not None and forced.report.why == "asked for (--full)"
    # a copy older than full_read_hours
    copy = store.load()
    for state in copy.objects.values():
        state.full_read_at -= timedelta(hours=25)
    store.save(copy)
    aged = LocalCopy(store, OVERLAP, 24)
    read_book(client, config, AS_OF, aged)
    assert aged.report is not None and "over 24 hours old" in aged.report.why
    # the admin changes the account filter: the copy cannot serve the new query
    text = config.path.read_text("utf-8").replace(
        "account_filter = \"Type = 'Customer - Direct'\"",
        "account_filter = \"Type IN ('Customer - Direct', 'Former Customer')\"",
    )
    config.path.write_text(text, "utf-8")
    widened = load_config(config.path)
    changed = LocalCopy(store, OVERLAP, 24)
    accounts = read_book(client, widened, AS_OF, changed)[0]
    assert changed.report is not None and "Accounts changed" in changed.report.why
    assert len(accounts) == len(read_book(client, widened, AS_OF)[0])
    # and a Task read for an earlier date than the copy's
    earlier = LocalCopy(store, OVERLAP, 24)
    read_book(client, widened, AS_OF - timedelta(days=40), earlier)
    assert earlier.report is not None and "before the copy's date" in earlier.report.why


def test_a_copy_held_by_another_process_stops_a_run_and_a_dry_run_reads_whole(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    config, _, _ = book
    client = _client(config)
    path = tmp_path / "copy.duckdb"
    read_book(client, config, AS_OF, LocalCopy(CopyStore(path), OVERLAP, 24))
    with held_by_another_process(path):
        with pytest.raises(CsSyncError, match="cannot open the local copy"):
            read_book(client, config, AS_OF, LocalCopy(CopyStore(path), OVERLAP, 24))
        planned = LocalCopy(CopyStore(path), OVERLAP, 24, keep=False)
        accounts = read_book(client, config, AS_OF, planned)[0]
    assert planned.report is not None and planned.report.full
    assert len(accounts) == len(read_book(client, config, AS_OF)[0])
