"""Reading the book by its changes gives exactly what reading it whole gives: after rounds of
random changes made through the API (fields edited, accounts leaving and joining the filter,
records deleted, owners and contacts renamed, opportunities moved, roles changed, cs-sync's
Tasks created, closed and deleted), the local copy brought up to date equals a whole read."""

from __future__ import annotations

import gc
import random
import weakref
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from simple_salesforce import Salesforce

from cs_sync import incremental
from cs_sync.book_reads import account_read, opportunity_read, role_read, task_read
from cs_sync.config import Config, load_config
from cs_sync.connectors import copy_store, salesforce
from cs_sync.connectors.bulk_csv import frame_from_csv
from cs_sync.connectors.copy_store import CopiedState, Copy, CopyStore
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.demo import DemoFolder
from cs_sync.errors import CsSyncError
from cs_sync.extract import Book, extract, read_book
from cs_sync.extract_signals import activity_reads, case_reads, survey_reads
from cs_sync.incremental import CopiedObject, LocalCopy, read_now, sync_copy
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, column_types, held_by_another_process, login

OVERLAP = timedelta(seconds=300)


@pytest.fixture
def book(demo40: tuple[DemoFolder, Sandbox]) -> Iterator[tuple[Config, Sandbox, Salesforce]]:
    folder, sandbox = demo40
    yield load_config(folder.config_path), sandbox, login(sandbox)


def _client(config: Config, counter: CallCounter | None = None) -> SalesforceClient:
    return connect(config.salesforce, build_session(config.sandbox.url, counter), counter)


def _first_read(config: Config, store: CopyStore) -> SalesforceClient:
    """A client, after a first read that makes the copy in `store`."""
    client = _client(config)
    read_book(client, config, AS_OF, LocalCopy(store, OVERLAP, 24))
    return client


def _assert_same(by_changes: Book, whole: Book) -> None:
    """The same tables, whatever order the records came in."""
    for name, mine, theirs in zip(Book._fields, by_changes, whole, strict=True):
        assert (mine is None) == (theirs is None), name
        if mine is None or theirs is None:
            continue
        columns = list(theirs.columns)
        pd.testing.assert_frame_equal(
            mine.sort_values(columns, kind="stable").reset_index(drop=True),
            theirs.sort_values(columns, kind="stable").reset_index(drop=True),
            obj=name,
        )


def _ids(sf: Salesforce, soql: str) -> list[str]:
    return [r["Id"] for r in sf.query_all(soql)["records"]]


def _a_customer(sf: Salesforce) -> str:
    """The id of an account the book scores (a direct customer)."""
    return _ids(sf, "SELECT Id FROM Account WHERE Type = 'Customer - Direct' LIMIT 1")[0]


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
            "log_a_call",
            "book_a_meeting",
            "open_a_case",
            "close_a_case",
            "answer_a_survey",
        ]
    )
    day = AS_OF - timedelta(days=rng.randint(-20, 200))  # some ahead of the run date
    if kind == "log_a_call":
        sf.Task.create(
            {
                "Subject": "電話",
                "WhatId": rng.choice(customers),
                "OwnerId": rng.choice(users),
                "Status": "Completed",
                "ActivityDate": day.isoformat(),
            }
        )
        return kind
    if kind == "book_a_meeting":
        sf.Event.create(
            {
                "Subject": "定例",
                "WhatId": rng.choice(customers),
                "OwnerId": rng.choice(users),
                "Type": "Meeting",
                "ActivityDate": day.isoformat(),
                "ActivityDateTime": f"{day.isoformat()}T01:00:00Z",
                "DurationInMinutes": 60,
            }
        )
        return kind
    if kind == "open_a_case":
        sf.Case.create(
            {"Subject": "不具合", "AccountId": rng.choice(customers), "Priority": "High"}
        )
        return kind
    if kind == "close_a_case":
        open_cases = _ids(sf, "SELECT Id FROM Case WHERE IsClosed = false")
        sf.Case.update(rng.choice(open_cases), {"Status": "Closed"})
        return kind
    if kind == "answer_a_survey":
        contacts = _ids(sf, "SELECT Id FROM Contact WHERE AccountId != null")
        sf.Contact.update(
            rng.choice(contacts),
            {"CS_NPS__c": rng.randint(0, 10), "CS_NPS_Date__c": day.isoformat()},
        )
        return kind
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
    for round_ in range(8):
        for step in range(10):
            made.add(_change_something(sf, rng, round_ * 10 + step))
        by_changes = read_book(client, config, AS_OF, local)
        assert local.report is not None and not local.report.full
        _assert_same(by_changes, read_book(client, config, AS_OF))
    assert len(made) >= 15  # most kinds of change were tried


def test_a_run_that_stops_before_saving_the_copy_reads_the_same_changes_again(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    config, _, sf = book
    store = CopyStore(tmp_path / "copy.duckdb")
    client = _first_read(config, store)
    customer = _a_customer(sf)
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
    for sobject in ("Account", "Event", "Case", "Contact"):  # the mapping's checks, first
        client.described_fields(sobject)
    before, moved = counter.calls["salesforce"], counter.bytes["salesforce"]
    queried = sandbox.salesforce.queries.objects_queried
    queried.clear()
    read_book(client, config, AS_OF, local)
    assert local.report is not None and not local.report.full
    assert sum(local.report.changed.values()) == sum(local.report.removed.values()) == 0
    assert local.report.refetched == {}  # no parent changed either
    # one question for each copied object (accounts, cs-sync's Tasks, opportunities, roles,
    # completed Tasks, Events, Cases, survey answers on Contact) and the users (the changed
    # contacts the survey answers' question brings tell the roles theirs): nine questions in
    # two Composite calls (at most five queries a call)
    assert counter.calls["salesforce"] - before == 2, sorted(queried.items())
    assert 0 < counter.bytes["salesforce"] - moved < 9 * 1_000  # nine answers with no record
    assert dict(queried) == {
        "Account": 1,
        "Contact": 1,
        "Opportunity": 1,
        "OpportunityContactRole": 1,
        "Task": 2,
        "User": 1,
        "Event": 1,
        "Case": 1,
    }


def test_a_full_read_asks_its_questions_in_the_whole_reads_calls(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    """The users changed lately (the question a full read asks too, for the next read of
    changes) go with the eight whole reads' first pages: nine queries, two Composite calls."""
    config, _, _ = book
    client = _client(config)
    for sobject in ("Account", "Event", "Case", "Contact"):  # the mapping's checks, first
        client.described_fields(sobject)
    paths: list[str] = []
    client.sf.session.hooks["response"].append(
        lambda response, *args, **kwargs: paths.append(response.request.path_url)
    )
    full = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24, forced=True)
    read_book(client, config, AS_OF, full)
    assert full.report is not None and full.report.full
    assert sum(path.endswith("/composite") for path in paths) == 2, paths


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


class WatchedStore(CopyStore):
    """A copy store that notes whether each load read the rows."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.loads: list[bool] = []

    def load(self, each_part: Any = lambda name, part: part, rows: bool = True) -> Copy:
        self.loads.append(rows)
        return super().load(each_part, rows)

    def load_rows(self, copy: Copy, each_part: Any = lambda name, part: part) -> None:
        self.loads.append(True)
        super().load_rows(copy, each_part)


def test_a_whole_read_leaves_the_copy_s_rows_in_the_file(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    # a nightly or --full read would otherwise hold the book twice: the copy's and the read's
    config, _, _ = book
    store = WatchedStore(tmp_path / "copy.duckdb")
    client = _first_read(config, store)
    assert store.loads == [False]  # no copy yet
    store.loads.clear()
    forced = LocalCopy(store, OVERLAP, 24, forced=True)
    whole = read_book(client, config, AS_OF, forced)
    assert forced.report is not None and forced.report.full
    assert store.loads == [False]  # the counts (Bulk or REST by the copy's sizes), no rows
    store.loads.clear()
    by_changes = LocalCopy(store, OVERLAP, 24)
    _assert_same(read_book(client, config, AS_OF, by_changes), whole)
    assert by_changes.report is not None and not by_changes.report.full
    assert store.loads == [False, True]
    copy = store.load(rows=False)
    assert {name: state.size for name, state in copy.objects.items()} == {
        name: len(state.rows) for name, state in store.load().objects.items()
    }
    with pytest.raises(ValueError, match="needs the copy's rows"):
        sync_copy(client, [opportunity_read(config)], copy, AS_OF, OVERLAP, 24)
    # a read of changes lets the loaded rows go as it catches each object up (the book is
    # not held twice), and each object's size is still known
    loaded = store.load()
    sizes = {name: len(state.rows) for name, state in loaded.objects.items()}
    frames, _, report = sync_copy(client, [opportunity_read(config)], loaded, AS_OF, OVERLAP, 24)
    assert not report.full and len(frames["opportunities"]) == sizes["opportunities"] > 0
    let_go = loaded.objects["opportunities"]
    assert let_go.rows.empty and let_go.size == sizes["opportunities"]


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


def test_windows_move_with_the_run_date_without_a_change_in_salesforce(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    """Activity dated ahead enters the window when its day comes, Cases, Tasks and activity
    that fall out of their windows leave, all without a change of their own: on each later
    run date the copy read by changes equals a whole read."""
    config, _, sf = book
    client = _client(config)
    customer = _a_customer(sf)
    ahead = AS_OF + timedelta(days=3)
    sf.Event.create(
        {
            "Subject": "来週の定例",
            "WhatId": customer,
            "Type": "Meeting",
            "ActivityDate": ahead.isoformat(),
            "ActivityDateTime": f"{ahead.isoformat()}T01:00:00Z",
            "DurationInMinutes": 60,
        }
    )
    done = sf.Task.create(  # a follow-up of cs-sync's, done: held while its rule cools down
        {
            "Subject": "フォロー",
            "WhatId": customer,
            "Status": "Completed",
            "CS_Sync_Key__c": f"cs-sync:no_touch:{customer}:{AS_OF:%Y-%m}",
        }
    )["id"]
    local = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24)
    today = read_book(client, config, AS_OF, local)
    mine = today.tasks.set_index("task_id").loc[done]
    created = pd.Timestamp(mine["created_date"]).date()  # today, by the org's clock
    gone = (created - AS_OF).days + config.tasks.longest_cooldown + 40  # its cooldown passed
    assert today.activities is not None
    assert ahead.isoformat() not in set(today.activities["day"])
    for days in (3, 10, 40, 100, 200, gone):
        later = AS_OF + timedelta(days=days)
        by_changes = read_book(client, config, later, local)
        assert local.report is not None and not local.report.full
        _assert_same(by_changes, read_book(client, config, later))
        assert by_changes.activities is not None
        seen = ahead.isoformat() in set(by_changes.activities["day"])
        assert seen == (days < 3 + config.salesforce.activity.days)
        assert (done in set(by_changes.tasks["task_id"])) == (days < gone)


def test_a_refused_read_of_another_object_is_not_blamed_on_the_account_filter(
    book: tuple[Config, Sandbox, Salesforce],
) -> None:
    config, _, _ = book
    text = config.path.read_text("utf-8").replace(
        "[salesforce.fields]\n", '[salesforce.fields]\ntask_key = "CS_Sync_Kee__c"\n', 1
    )
    config.path.write_text(text, "utf-8")
    mistyped = load_config(config.path)
    with pytest.raises(CsSyncError) as refused:
        read_book(_client(mistyped), mistyped, AS_OF)
    assert "CS_Sync_Kee__c" in str(refused.value)
    assert "account_filter" not in str(refused.value)
    assert refused.value.read == "cs-sync Tasks"


def test_a_copy_of_another_format_is_read_whole_and_made_anew(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    config, _, _ = book
    path = tmp_path / "copy.duckdb"
    old = duckdb.connect(str(path))
    old.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
    old.execute("INSERT INTO meta VALUES ('format', '0')")
    old.execute("CREATE TABLE objects (name VARCHAR, rows_kept INTEGER)")
    old.close()
    client = _client(config)
    first = LocalCopy(CopyStore(path), OVERLAP, 24)
    read_book(client, config, AS_OF, first)
    assert first.report is not None and first.report.why == "no local copy yet"
    again = LocalCopy(CopyStore(path), OVERLAP, 24)
    read_book(client, config, AS_OF, again)
    assert again.report is not None and not again.report.full


def test_a_change_inside_the_overlap_is_taken_in_once(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    """The next read asks again for what changed in the overlap before its watermark, and
    takes in nothing twice: the (id, SystemModstamp) pairs already taken in are remembered."""
    config, _, sf = book
    client = _client(config)
    local = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24)
    read_book(client, config, AS_OF, local)
    customer = _a_customer(sf)
    sf.Account.update(customer, {"CS_Sentiment__c": "Negative"})
    read_book(client, config, AS_OF, local)
    assert local.report is not None and local.report.changed["accounts"] == 1
    read_book(client, config, AS_OF, local)  # the change is still inside the overlap
    assert local.report is not None and sum(local.report.changed.values()) == 0


def test_stamps_are_held_as_moments_and_a_copy_with_text_stamps_still_reads_by_changes(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    """SystemModstamp is a moment in the rows and the file (8 bytes a row, not 70 of text);
    a copy whose stamps were kept as text (cs-sync before this) is read by changes as well."""
    config, _, sf = book
    store = CopyStore(tmp_path / "copy.duckdb")
    _first_read(config, store)
    rows = store.load().objects["accounts"].rows
    assert rows["SystemModstamp"].dtype.kind == "M" and rows["SystemModstamp"].notna().all()
    db = duckdb.connect(str(store.path))
    for (table,) in db.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'rows_%'"
    ).fetchall():
        db.execute(
            f'ALTER TABLE "{table}" ALTER "SystemModstamp" TYPE VARCHAR USING '
            """strftime("SystemModstamp", '%Y-%m-%dT%H:%M:%S.%g') || 'Z'"""
        )
    kept = db.execute('SELECT "SystemModstamp" FROM rows_accounts LIMIT 1').fetchone()
    assert kept is not None and str(kept[0]).endswith("Z")  # text, as before
    db.close()
    customer = _a_customer(sf)
    sf.Account.update(customer, {"CS_Sentiment__c": "Negative"})
    local = LocalCopy(store, OVERLAP, 24)
    by_changes = read_book(_client(config), config, AS_OF, local)
    assert local.report is not None and not local.report.full
    assert local.report.changed["accounts"] == 1
    _assert_same(by_changes, read_book(_client(config), config, AS_OF))
    assert store.load().objects["accounts"].rows["SystemModstamp"].dtype.kind == "M"


def test_a_full_read_of_an_object_the_copy_shows_large_goes_straight_to_bulk(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    """Bulk or REST is decided before the first page when the copy says how many records an
    object held: a full read of one above salesforce.bulk_query_threshold asks for no REST
    first page it would throw away, and reads what a whole read over REST reads."""
    config, sandbox, _ = book
    text = config.path.read_text("utf-8").replace(
        "[salesforce]\n", "[salesforce]\nbulk_query_threshold = 30\n", 1
    )
    config.path.write_text(text, "utf-8")
    small = load_config(config.path)
    local = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24)
    first = read_book(_client(small), small, AS_OF, local)  # no copy: first pages, then Bulk
    sent: list[str] = []
    session = build_session(small.sandbox.url)
    session.hooks["response"].append(
        lambda response, *a, **k: sent.append(
            f"{response.request.method} {response.request.url} {response.request.body!r}"
        )
    )
    client = connect(small.salesforce, session)
    forced = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24, forced=True)
    again = read_book(client, small, AS_OF, forced)
    assert forced.report is not None and forced.report.full
    composite = " ".join(call for call in sent if "/composite " in call)
    bulk = " ".join(call for call in sent if "/jobs/query " in call and call.startswith("POST"))
    assert "FROM+Account" not in composite and "FROM Account" in bulk  # the accounts: 40 > 30
    assert "FROM+OpportunityContactRole" not in composite
    _assert_same(again, first)


def _one_object_each(values: pd.Series) -> bool:
    values = values.dropna()
    return len({id(value) for value in values}) == values.nunique() < len(values) / 2


def test_the_rules_get_repeated_texts_as_one_object_each(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    # the copy's file gives each row its own string: a million accounts' picklists and dates
    # held so cost half a gigabyte more than the rules need; shared as the copy is read back
    # (a part at a time), and again by extract whatever the rows came from
    config, _, _ = book
    local = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24)
    extract(_client(config), config, AS_OF, local=local)  # read whole
    from_copy = read_book(_client(config), config, AS_OF, local)
    assert local.report is not None and not local.report.full
    assert _one_object_each(from_copy.accounts["segment"])
    extracted = extract(_client(config), config, AS_OF, local=local)
    for frame, column in (
        (extracted.accounts, "segment"),
        (extracted.accounts, "sentiment"),
        (extracted.opportunities, "stage"),
        (extracted.contact_roles, "role"),
    ):
        assert _one_object_each(frame[column]), column


def test_an_unchanged_object_s_rows_are_not_written_again(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    """A read of changes that finds none leaves every object's table in the file as it was;
    a changed account rewrites the accounts' table alone, and the next read still equals a
    whole read."""
    config, _, sf = book
    store = CopyStore(tmp_path / "copy.duckdb")
    client = _first_read(config, store)

    def marked() -> set[str]:
        """The rows tables still bearing the mark put on them after the first read (a table
        made again has none)."""
        db = duckdb.connect(str(store.path), read_only=True)
        try:
            found = db.execute(
                "SELECT table_name FROM duckdb_tables() "
                "WHERE table_name LIKE 'rows_%' AND comment = 'first'"
            ).fetchall()
        finally:
            db.close()
        return {table for (table,) in found}

    db = duckdb.connect(str(store.path))
    names = [t for (t,) in db.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    for table in [t for t in names if t.startswith("rows_")]:
        db.execute(f"COMMENT ON TABLE \"{table}\" IS 'first'")
    db.close()
    first = marked()
    local = LocalCopy(store, OVERLAP, 24)
    read_book(client, config, AS_OF, local)
    assert local.report is not None and not local.report.full
    assert marked() == first and len(first) >= 4
    customer = _a_customer(sf)
    sf.Account.update(customer, {"CS_Sentiment__c": "Negative"})
    read_book(client, config, AS_OF, local)
    assert marked() == first - {"rows_accounts"}
    _assert_same(read_book(client, config, AS_OF, local), read_book(client, config, AS_OF))


def test_lookups_hold_each_parent_s_id_once(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    """An account's id repeated by its opportunities is one string, however the rows were
    read: whole without a copy, whole into a copy, by changes from it."""
    config, _, _ = book
    specs = [opportunity_read(config)]
    local = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24)
    reads = [read_now(_client(config), specs)]
    reads += [local.read(_client(config), specs, AS_OF) for _ in range(2)]
    assert local.report is not None and not local.report.full
    for frames in reads:
        assert _one_object_each(frames["opportunities"]["AccountId"])


def test_a_whole_read_in_pages_holds_each_parent_s_id_once(
    book: tuple[Config, Sandbox, Salesforce], monkeypatch: pytest.MonkeyPatch
) -> None:
    # shared a page at a time as the pages come, an account named on two pages was two
    # strings until the object's pages were shared over all of them
    config, _, _ = book
    monkeypatch.setattr(salesforce, "BULK_QUERY_PAGE", 25)
    client = _client(config)
    client.sleep = lambda _: None  # the job is not waited for as if it held a billion records
    specs = [opportunity_read(config)]  # no account read: their ids are no object's
    stamp = pd.Timestamp("2026-11-24 09:00").to_pydatetime()
    large = CopiedState(pd.DataFrame(), "another query", stamp, AS_OF, count=10**9)
    frames, _, report = sync_copy(
        client, specs, Copy(objects={"opportunities": large}), AS_OF, OVERLAP, 24
    )
    assert report.full and report.why  # the copy's size sends it straight to a Bulk job
    opportunities = frames["opportunities"]
    assert len(opportunities) > 4 * 25  # pages of 25
    assert _one_object_each(opportunities["AccountId"])


def _points_at(values: pd.Series, ids: pd.Series) -> int:
    """How many of `values` are ids in `ids`; fails when one is an equal string of its own."""
    held = {value: value for value in ids}
    found = [value for value in values.dropna() if value in held]
    assert all(value is held[value] for value in found)
    return len(found)


def test_a_parent_s_id_is_one_string_across_its_children(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    """An account's id named by its opportunities and their contact roles (and by the
    activity, cases and survey answers the demo scores on), and an opportunity's id named by
    its roles, are the parent's own string, however the rows were read (whole without a
    copy, whole into a copy, by changes, a changed record taken in)."""
    config, _, sf = book
    client = _client(config)
    signals = [
        *activity_reads(client, config, AS_OF),
        *case_reads(client, config, AS_OF),
        *survey_reads(client, config),
    ]
    assert [s.name for s in signals] == ["activity_tasks", "events", "cases", "survey_answers"]
    specs = [
        account_read(client, config, config.salesforce.account_filter),
        opportunity_read(config),
        role_read(config),
        *signals,
    ]
    local = LocalCopy(CopyStore(tmp_path / "copy.duckdb"), OVERLAP, 24)
    reads = [read_now(client, specs)]
    reads += [local.read(_client(config), specs, AS_OF) for _ in range(2)]
    changed = sf.query("SELECT Id, Amount FROM Opportunity WHERE Amount != null LIMIT 1")
    record = changed["records"][0]
    sf.Opportunity.update(record["Id"], {"Amount": record["Amount"] + 1})
    reads.append(local.read(_client(config), specs, AS_OF))
    assert local.report is not None and not local.report.full
    assert local.report.changed["opportunities"] == 1
    for frames in reads:
        accounts, opportunities = frames["accounts"], frames["opportunities"]
        roles = frames["contact_roles"]
        assert _points_at(opportunities["AccountId"], accounts["Id"]) > len(accounts)
        assert _points_at(roles["Opportunity.AccountId"], accounts["Id"]) > len(accounts)
        assert _points_at(roles["OpportunityId"], opportunities["Id"]) > len(accounts)
        for signal in signals:
            rows = frames[signal.name]
            assert _points_at(rows["AccountId"], accounts["Id"]) > 0, signal.name


def test_the_copy_is_read_back_a_part_at_a_time(tmp_path: Path) -> None:
    rows = 250_000
    saved = pd.DataFrame(
        {
            "Id": [f"001{n:015d}" for n in range(rows)],
            "Stage": ["Won", "Lost", None, "Open"] * (rows // 4),
            "Amount": [float(n) for n in range(rows)],
        }
    )
    store = CopyStore(tmp_path / "copy.duckdb")
    stamp = pd.Timestamp("2026-11-24 09:00").to_pydatetime()
    store.save(Copy(objects={"big": CopiedState(saved, "q", stamp, AS_OF)}))
    parts: list[tuple[list[str], int]] = []

    kept: list[pd.DataFrame] = []

    def each_part(name: str, part: pd.DataFrame) -> pd.DataFrame:
        parts.append((list(part.columns), len(part)))
        kept.append(part)
        return part

    loaded = store.load(each_part).objects["big"].rows
    assert all(len(part.columns) == 0 for part in kept)  # stacked, their arrays let go
    # never the whole answer's strings at once; the ids (a string per row) in a scan of
    # their own, before the columns beside them
    sizes = [102_400, 102_400, 45_200]
    assert parts == [(["Id"], n) for n in sizes] + [(["Stage", "Amount"], n) for n in sizes]
    assert list(loaded.columns) == ["Id", "Stage", "Amount"]
    assert loaded["Id"].tolist() == saved["Id"].tolist()  # in the order saved
    assert loaded["Stage"].where(loaded["Stage"].notna(), None).tolist() == saved["Stage"].tolist()
    assert loaded["Amount"].tolist() == saved["Amount"].tolist()
    empty = CopyStore(tmp_path / "empty.duckdb")
    empty.save(Copy(objects={"none": CopiedState(saved.iloc[0:0], "q", stamp, AS_OF)}))
    assert list(empty.load().objects["none"].rows.columns) == ["Id", "Stage", "Amount"]


def test_repeated_texts_are_made_once_each_as_the_copy_is_read(tmp_path: Path) -> None:
    # a plain read makes a string for every row and most go again once shared: at 100,000
    # accounts over five million strings made and dropped, whose holes stay in the process
    rows = 120_000
    saved = pd.DataFrame(
        {
            "Id": [f"006{n:015d}" for n in range(rows)],
            "Owner.Name": ["Ann", 'Bo "B"', None] * (rows // 3),
            "Stage": [f"Stage {n % 7}" for n in range(rows)],
            "Amount": [float(n) for n in range(rows)],
        }
    )
    store = CopyStore(tmp_path / "copy.duckdb")
    stamp = pd.Timestamp("2026-11-24 09:00").to_pydatetime()
    store.save(Copy(objects={"opportunities": CopiedState(saved, "q", stamp, AS_OF)}))
    seen: dict[str, set[int]] = {"Owner.Name": set(), "Stage": set(), "Id": set()}

    def each_part(name: str, part: pd.DataFrame) -> pd.DataFrame:  # as the read makes them
        for column, objects in seen.items():  # a part holds some of the columns
            if column in part:
                objects.update(id(value) for value in part[column].dropna())
        return part

    loaded = store.load(each_part).objects["opportunities"].rows
    assert len(seen["Stage"]) == 7 and len(seen["Owner.Name"]) == 2  # across both parts
    assert len(seen["Id"]) == rows  # ids, nearly all distinct, are read as they are
    pd.testing.assert_frame_equal(loaded.drop(columns="SystemModstamp", errors="ignore"), saved)
    text = pd.Series(["text"]).dtype
    assert loaded["Stage"].dtype == text and loaded["Owner.Name"].isna().sum() == rows // 3


def test_a_bulk_job_s_pages_are_read_into_tables_as_they_come(
    book: tuple[Config, Sandbox, Salesforce], monkeypatch: pytest.MonkeyPatch
) -> None:
    # all of a job's CSV texts were held until its last page was read: some 50 MB beside
    # their tables for 87,000 accounts' changed records
    config, _, _ = book
    counter = CallCounter()
    client = _client(config, counter)
    monkeypatch.setattr(salesforce, "BULK_QUERY_PAGE", 25)
    seen: list[int] = []  # the calls made when each page is read into a table

    def reading(text: str, columns: dict[str, str]) -> pd.DataFrame:
        seen.append(counter.calls["salesforce"])
        return frame_from_csv(text, columns)

    monkeypatch.setattr(salesforce, "frame_from_csv", reading)
    read = opportunity_read(config)
    query = read.select(read.condition)
    whole = client.query_frame(query, read.what, read.read_columns)
    shaped: list[int] = []  # the calls made when each page's table was given to each_page
    pages: list[pd.DataFrame] = []

    def each_page(page: pd.DataFrame) -> pd.DataFrame:
        shaped.append(counter.calls["salesforce"])
        pages.append(page)
        return page

    seen.clear()
    paged = client.query_frame(
        query,
        read.what,
        read.read_columns,
        records=config.salesforce.bulk_query_threshold + 1,
        each_page=each_page,
    )
    assert len(seen) == -(-len(whole) // 25) > 2 and seen == sorted(set(seen))  # a page a call
    assert shaped == seen  # each page shaped before the next is read
    assert all(len(page.columns) == 0 for page in pages)  # stacked, their arrays let go
    pd.testing.assert_frame_equal(paged, whole)


def test_a_whole_read_shares_each_object_s_pages_as_they_come(
    book: tuple[Config, Sandbox, Salesforce], monkeypatch: pytest.MonkeyPatch
) -> None:
    # shared once every object was read, the strings each page made for its lookups were
    # let go among the ids and names kept, and no block of them went back
    config, _, _ = book
    client = _client(config)
    answered: list[pd.DataFrame] = []

    def recording(*args: Any, **kwargs: Any) -> list[pd.DataFrame]:  # the real reads
        frames: list[pd.DataFrame] = real(*args, **kwargs)
        answered.extend(frames)
        return frames

    real = incremental.query_frames
    monkeypatch.setattr(incremental, "query_frames", recording)
    _, copy, report = sync_copy(client, _specs(client, config), Copy(), AS_OF, OVERLAP, 24)
    assert report.full
    rows = {name: state.rows for name, state in copy.objects.items()}
    accounts = rows["accounts"]
    read = {tuple(frame.columns): frame for frame in answered if len(frame)}
    opportunities = read[tuple(rows["opportunities"].columns)]
    roles = read[tuple(rows["contact_roles"].columns)]
    # as the reads answered, before anything else was done with them
    assert _points_at(opportunities["AccountId"], rows["accounts"]["Id"]) > len(accounts) / 2
    assert _points_at(roles["OpportunityId"], opportunities["Id"]) > len(roles) / 2


def test_only_a_replay_of_the_field_history_holds_the_opportunities_ids(
    book: tuple[Config, Sandbox, Salesforce],
) -> None:
    """A run's opportunities come without their own ids (no rule reads them: 430,000 strings
    at 100,000 accounts); a backfill's or backtest's (`since`) keep them, to replay the
    opportunities' field history by id."""
    config, _, _ = book
    run = read_book(_client(config), config, AS_OF).opportunities
    replay = read_book(_client(config), config, AS_OF, since=AS_OF - timedelta(days=90))
    assert len(run) > 0 and run["opportunity_id"].isna().all()
    assert replay.opportunities["opportunity_id"].str.startswith("006").all()
    pd.testing.assert_frame_equal(
        run.drop(columns="opportunity_id"),
        replay.opportunities.drop(columns="opportunity_id"),
    )


def _specs(client: SalesforceClient, config: Config) -> list[CopiedObject]:
    """The objects as read_book reads them."""
    return [
        account_read(client, config, config.salesforce.account_filter),
        task_read(config, AS_OF),
        opportunity_read(config),
        role_read(config),
        *activity_reads(client, config, AS_OF, None),
        *case_reads(client, config, AS_OF, None),
        *survey_reads(client, config),
    ]


def test_a_read_of_changes_lets_go_of_every_array_the_copy_was_loaded_with(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    # an object's rows were emptied by slicing (`rows.iloc[0:0]`): a slice is a view, and a
    # view keeps the arrays it was cut from, so every object's loaded columns stayed alive
    # beside the ones it was caught up into (93 MiB more at 100,000 accounts)
    config, _, sf = book
    store = CopyStore(tmp_path / "copy.duckdb")
    client = _first_read(config, store)
    sf.Account.update(_a_customer(sf), {"CS_Sentiment__c": "Negative"})  # one object changed
    specs = _specs(client, config)
    copy = store.load()
    loaded = [
        weakref.ref(_memory(block.values))
        for state in copy.objects.values()
        for block in state.rows._mgr.blocks  # the arrays the columns are held in
        if isinstance(block.values, np.ndarray)
    ]
    assert len(loaded) >= 6
    frames, caught_up, report = sync_copy(client, specs, copy, AS_OF, OVERLAP, 24)
    gc.collect()
    assert report.changed["accounts"] == 1 and not report.full
    assert all(len(state.rows) == 0 for state in copy.objects.values())
    # a loaded array still alive is one the rows caught up hold (numbers and flags, already
    # typed, are taken as they are), never one beside a copy of it
    held = {
        id(_memory(block.values))
        for state in caught_up.objects.values()
        for block in state.rows._mgr.blocks
        if isinstance(block.values, np.ndarray)
    }
    alive = [ref() for ref in loaded if ref() is not None]
    assert [array for array in alive if id(array) not in held] == []
    assert len(alive) < len(loaded)  # the texts, typed into objects, are let go
    assert len(frames["accounts"]) == len(caught_up.objects["accounts"].rows) > 0


def _memory(array: np.ndarray) -> np.ndarray:
    """The array that owns the memory `array` shows (itself, or the one it is a view of)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def test_an_object_nothing_changed_in_keeps_its_typed_columns_uncopied(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # its rows were joined to no changed row all the same, a copy of every column beside the
    # columns copied (a million accounts' 4.3 million opportunities: 250 MB)
    config, _, sf = book
    store = CopyStore(tmp_path / "copy.duckdb")
    client = _first_read(config, store)
    sf.Account.update(_a_customer(sf), {"CS_Sentiment__c": "Negative"})  # one object changed
    typed: list[pd.DataFrame] = []

    def recording(*args: Any, **kwargs: Any) -> pd.DataFrame:  # the real typing
        frame: pd.DataFrame = real(*args, **kwargs)
        typed.append(frame)
        return frame

    real = incremental.typed_frame
    monkeypatch.setattr(incremental, "typed_frame", recording)
    frames, copy, report = sync_copy(
        client, _specs(client, config), store.load(), AS_OF, OVERLAP, 24
    )
    assert report.changed["accounts"] == 1 and report.changed["opportunities"] == 0
    amounts = copy.objects["opportunities"].rows["Amount"].to_numpy()
    assert len(amounts) == len(frames["opportunities"]) > 0
    assert any(np.shares_memory(amounts, f["Amount"].to_numpy()) for f in typed if "Amount" in f)


def test_the_copy_is_read_back_within_a_few_megabytes_of_duckdb_s_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the copy's repeated texts were coded as they were read: each coded column joined to
    # its values and the answer sorted by row number to keep the order, which held about
    # 100 MiB of DuckDB's memory reading a copy of 100,000 accounts and failed within any
    # bound; kept as codes (values:rows_...), the read is a plain scan in the order written
    rows = 300_000
    saved = pd.DataFrame(
        {
            "Id": [f"006{n:015d}" for n in range(rows)],
            "AccountId": [f"001{n // 6:015d}" for n in range(rows)],  # children together
            "Stage": [f"Stage {n % 7}" for n in range(rows)],
            "Owner.Name": ["Ann", None, "渡辺"] * (rows // 3),
            "Amount": [float(n) for n in range(rows)],
        }
    )
    store = CopyStore(tmp_path / "copy.duckdb")
    stamp = pd.Timestamp("2026-11-24 09:00").to_pydatetime()
    store.save(Copy(objects={"opportunities": CopiedState(saved, "q", stamp, AS_OF)}))
    opened = copy_store.open_copy

    def bounded(*args: Any) -> duckdb.DuckDBPyConnection:
        db = opened(*args)
        db.execute("SET memory_limit = '16MB'")
        db.execute("SET threads = 1")
        return db

    monkeypatch.setattr(copy_store, "open_copy", bounded)
    loaded = store.load().objects["opportunities"].rows
    pd.testing.assert_frame_equal(loaded, saved, check_dtype=False)
    assert column_types(tmp_path / "copy.duckdb", "rows_opportunities") == {
        "Id": "VARCHAR",  # all distinct: as it is
        "AccountId": "INTEGER",
        "Stage": "INTEGER",
        "Owner.Name": "INTEGER",
        "Amount": "DOUBLE",
    }


def test_a_record_read_again_keeps_the_copy_s_strings_for_what_did_not_change(
    book: tuple[Config, Sandbox, Salesforce], tmp_path: Path
) -> None:
    # the strings just read are the ones let go, made together as the answer was parsed;
    # letting the copy's go instead left holes among the strings kept (the rerun after a
    # first run reads back every account it wrote)
    config, _, sf = book
    store = CopyStore(tmp_path / "copy.duckdb")
    client = _first_read(config, store)
    customer = _a_customer(sf)
    sf.Account.update(customer, {"CS_Sentiment__c": "Negative"})
    copy = store.load()
    loaded = copy.objects["accounts"].rows
    name = loaded.loc[loaded["Id"] == customer, "Name"].iloc[0]
    sentiment = loaded.loc[loaded["Id"] == customer, "CS_Sentiment__c"].iloc[0]
    _, caught_up, report = sync_copy(client, _specs(client, config), copy, AS_OF, OVERLAP, 24)
    assert report.changed["accounts"] == 1
    rows = caught_up.objects["accounts"].rows
    row = rows[rows["Id"] == customer].iloc[0]
    assert row["Name"] is name  # the copy's own string, not the one just read
    assert row["CS_Sentiment__c"] == "Negative" != sentiment
