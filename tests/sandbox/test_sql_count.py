"""A query's totalSize counted in SQLite (sql_count.py) is the count soql_eval gives record
by record, for every clause it says in SQL, nulls, case, ids and the Recycle Bin included;
the clauses it cannot say are left to Python."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce

from cs_sync.sandbox import soql
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.sql_count import count_sql

SAID = [
    ("Account", "Type = 'Customer - Direct'"),
    ("Account", "Type = 'customer - DIRECT'"),
    ("Account", "Type != 'Customer - Direct'"),
    ("Account", "Type IN ('Customer - Direct', 'Prospect')"),
    ("Account", "Type NOT IN ('Customer - Direct')"),
    ("Account", "Type = null"),
    ("Account", "Type != null"),
    ("Account", "Name = 'ärger gmbh'"),
    ("Account", "Name > 'M'"),
    ("Account", "Name <= 'ärger'"),
    ("Account", "CS_ARR__c > 1000000"),
    ("Account", "CS_ARR__c <= 500000"),
    ("Account", "CS_ARR__c = null"),
    ("Account", "CS_ARR__c != 1200000"),
    ("Account", "CS_Phase_Delayed__c = true"),
    ("Account", "CS_Phase_Delayed__c = false"),
    ("Account", "CS_Phase_Delayed__c != true"),
    ("Account", "NOT (Type = 'Customer - Direct') OR CS_ARR__c > 100"),
    ("Account", "Type = 'Customer - Direct' AND (CS_ARR__c > 100 OR Name = null)"),
    ("Account", "NOT (CS_ARR__c > 1000000)"),
    ("Opportunity", "AccountId != null AND Type IN ('Renewal','Upsell','New Business')"),
    ("Opportunity", "IsClosed = false"),
    ("Opportunity", "Amount >= 1000000"),
    ("OpportunityContactRole", "Role IN ('Business User','Champion','Decision Maker')"),
    ("Account", "Name LIKE 'a%'"),
    ("Account", "Name LIKE 'ä%'"),
    ("Account", "Name LIKE '%GMBH'"),
    ("Account", "NOT Name LIKE '_rger%'"),
    ("Account", "Name LIKE 'a\\_b'"),
    ("Account", "Name LIKE 'a_b'"),
    ("Account", "Name LIKE 'ÄR%'"),
    ("Account", "CS_Renewal_Date__c > 2026-06-01"),
    ("Account", "CS_Renewal_Date__c <= 2026-12-31 AND CS_Renewal_Date__c != null"),
    ("Account", "CS_Renewal_Date__c = null"),
    ("Account", "CreatedDate >= 2026-11-01T00:00:00Z"),
    ("Account", "SystemModstamp < 2026-12-01T09:00:00+09:00"),
    (
        "Task",
        "CS_Sync_Key__c LIKE 'cs-sync:%' AND (IsClosed = false OR "
        "CreatedDate >= 2025-11-23T00:00:00Z)",
    ),
    ("Event", "AccountId != null AND ActivityDate >= 2026-05-28"),
]
UNSAID = [
    ("Account", "Owner.Name != null"),
    ("Opportunity", "CloseDate = THIS_YEAR"),
    ("Opportunity", "AccountId IN (SELECT Id FROM Account WHERE Type = 'Prospect')"),
]


@pytest.fixture
def edges(sandbox: Sandbox, sf: Salesforce) -> Sandbox:
    """The demo book with records at the edges: letters beyond ASCII in two cases, a
    field left out, a boolean never set, a datetime in another offset, some accounts in the
    Recycle Bin."""
    store = sandbox.store
    with store.transaction():
        for name in ("Ärger GmbH", "ärger gmbh", "ÄRGER GMBH", "Zeta", "a_b", "AXB"):
            store.insert("Account", {"Name": name, "Type": "Prospect"})
        store.insert("Account", {"Name": "Bare"})
        # 2026-10-31T23:00Z, written in another offset: before November by the clock in UTC
        store.insert("Account", {"Name": "Tokyo", "CreatedDate": "2026-11-01T08:00:00.000+0900"})
    for record in sf.query("SELECT Id FROM Account WHERE Type = 'Customer - Direct' LIMIT 3")[
        "records"
    ]:
        sf.Account.delete(record["Id"])
    return sandbox


@pytest.mark.parametrize("all_rows", [False, True])
@pytest.mark.parametrize(("sobject", "where"), SAID)
def test_sql_counts_as_soql_eval_does(
    edges: Sandbox, sobject: str, where: str, all_rows: bool
) -> None:
    api = edges.salesforce.queries
    parsed = soql.parse(f"SELECT Id FROM {sobject} WHERE {where}", edges.store.schema)
    snapshot = edges.store.snapshot()
    try:
        said = count_sql(parsed.where, all_rows, api._resolvers(parsed, snapshot).type_of)
        assert said is not None, where
        by_python = sum(1 for _ in api._each_matching(parsed, all_rows, snapshot))
        assert snapshot.count_where(sobject, *said) == by_python
    finally:
        snapshot.close()


def test_ids_compare_on_their_first_15_characters(edges: Sandbox, sf: Salesforce) -> None:
    owner = sf.query("SELECT OwnerId FROM Account WHERE Type = 'Customer - Direct' LIMIT 1")[
        "records"
    ][0]["OwnerId"]
    test_sql_counts_as_soql_eval_does(edges, "Account", f"OwnerId = '{owner[:15]}'", False)
    test_sql_counts_as_soql_eval_does(edges, "Account", f"OwnerId IN ('{owner}')", False)
    test_sql_counts_as_soql_eval_does(edges, "Account", f"OwnerId != '{owner}'", False)


@pytest.mark.parametrize(("sobject", "where"), UNSAID)
def test_what_sql_cannot_say_is_left_to_python(edges: Sandbox, sobject: str, where: str) -> None:
    api = edges.salesforce.queries
    parsed = soql.parse(f"SELECT Id FROM {sobject} WHERE {where}", edges.store.schema)
    assert count_sql(parsed.where, False, api._resolvers(parsed, edges.store).type_of) is None


def test_a_query_s_total_size_is_its_records(edges: Sandbox, sf: Salesforce) -> None:
    """Through the API: the total a query gives (counted in SQL) is the records its pages
    hold, with and without the Recycle Bin."""
    with edges.store.transaction():
        for i in range(450):
            edges.store.insert("Account", {"Name": f"Scale {i}", "Type": "Scale"})
    query = "SELECT Id FROM Account WHERE Type = 'Scale' OR CS_ARR__c > 100"
    alive = sf.query(query, headers={"Sforce-Query-Options": "batchSize=200"})
    assert not alive["done"]  # a cursor: the total was counted, not the pages made
    assert alive["totalSize"] == len(sf.query_all(query)["records"]) > 450
    every = sf.query_all(query, include_deleted=True)  # the three deleted accounts too
    assert every["totalSize"] == len(every["records"]) == alive["totalSize"] + 3


def test_pages_found_in_python_and_in_sqlite_are_the_same(edges: Sandbox, sf: Salesforce) -> None:
    """A clause SQLite cannot say (a parent's field) is paged through in Python: the same
    records, in the same order, as the pages SQLite finds."""
    with edges.store.transaction():
        for i in range(450):
            edges.store.insert("Account", {"Name": f"Scale {i}", "Type": "Scale"})
    options = {"Sforce-Query-Options": "batchSize=200"}

    def ids(where: str) -> list[str]:
        page = sf.query(f"SELECT Id FROM Account WHERE {where}", headers=options)
        found = [r["Id"] for r in page["records"]]
        while not page["done"]:
            page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=options)
            found += [r["Id"] for r in page["records"]]
        assert len(found) == page["totalSize"]
        return found

    by_sqlite = ids("Type = 'Scale'")
    assert len(by_sqlite) == 450 and by_sqlite == ids("Type = 'Scale' AND Owner.Name = null")
