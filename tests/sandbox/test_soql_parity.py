"""SOQL as an admin types it (`account_filter`, `former_customer_filter`, doctor's checks),
sent over HTTP to the sandbox, with the answer Salesforce gives for each.

Each row cites the SOQL and SOSL Reference page that decides it (prefix
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/):
  select   = sforce_api_calls_soql_select.htm
  compare  = sforce_api_calls_soql_select_comparisonoperators.htm (IN, LIKE, INCLUDES,
             semi-joins and anti-joins with their limits)
  logic    = sforce_api_calls_soql_select_logicaloperators.htm (AND / OR need parentheses)
  dates    = sforce_api_calls_soql_select_dateformats.htm (date formats and date literals)
  count    = sforce_api_calls_soql_select_count.htm (COUNT() and COUNT(fieldName))
  agg      = sforce_api_calls_soql_select_agg_functions.htm (SUM, AVG, MIN, MAX, COUNT_DISTINCT)
  group    = sforce_api_calls_soql_select_groupby.htm (grouped or aggregated fields; groupable)
  escapes  = sforce_api_calls_soql_select_quotedstringescapes.htm
  poly     = sforce_api_calls_soql_relationships_and_polymorph_keys.htm (What.Type)
  fields   = sforce_api_calls_soql_select_fields.htm (duplicate fields)
Error codes as the REST API returns them (api_rest/errorcodes.htm); "ok" means 200.
"""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

A = "SELECT Id FROM Account WHERE "
OK = "ok"

CASES: list[tuple[str, str, str]] = [
    # (doc, SOQL, answer)
    ("select", "SELECT Id, Name FROM Account", OK),
    ("select", "SELECT Id, Owner.Name, Owner.IsActive FROM Account", OK),
    ("select", "SELECT Id FROM Acount", "INVALID_TYPE"),
    ("select", "SELECT Nmae FROM Account", "INVALID_FIELD"),
    ("select", "SELECT Id, Ownr.Name FROM Account", "INVALID_FIELD"),
    ("fields", "SELECT Id, Name, name FROM Account", "MALFORMED_QUERY"),
    ("select", "SELECT Id FROM Account LIMIT -1", "MALFORMED_QUERY"),
    ("select", "SELECT Id FROM Account ORDER BY Name DESC NULLS LAST LIMIT 5", OK),
    ("compare", A + "Type IN ('Customer - Direct', 'Customer - Channel')", OK),
    ("compare", A + "Type NOT IN ('Former Customer')", OK),
    ("compare", A + "Name LIKE '%株式会社%'", OK),
    ("compare", A + "CS_ARR__c LIKE '1%'", "MALFORMED_QUERY"),
    ("compare", A + "CS_ARR__c > 1000000 AND CS_Segment__c != null", OK),
    ("compare", A + "CS_ARR__c = '1000'", "MALFORMED_QUERY"),
    ("compare", A + "Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR"),
    ("compare", A + "OwnerId = '005000000000000'", OK),
    # every object has IsDeleted (Object Reference, Account: "Defaulted on create, Filter");
    # query leaves the Recycle Bin out, queryAll takes it in
    ("compare", A + "IsDeleted = false", OK),
    ("compare", A + "CS_Modules__c INCLUDES ('Payroll;Attendance', 'Talent')", OK),
    ("compare", A + "CS_Modules__c EXCLUDES ('Labor')", OK),
    ("compare", A + "Type INCLUDES ('Other')", "MALFORMED_QUERY"),
    ("compare", A + "Id IN (SELECT AccountId FROM Opportunity WHERE IsWon = true)", OK),
    ("compare", A + "Id NOT IN (SELECT AccountId FROM Opportunity WHERE IsClosed = false)", OK),
    (
        "compare",
        A + "Id IN (SELECT AccountId FROM Contact) AND Id IN (SELECT AccountId FROM Opportunity)",
        OK,
    ),
    ("compare", A + "Id IN (SELECT Id FROM Account)", "MALFORMED_QUERY"),
    ("compare", A + "Id IN (SELECT Name FROM Opportunity)", "MALFORMED_QUERY"),
    ("compare", A + "Id IN (SELECT WhatId FROM Task)", "MALFORMED_QUERY"),
    ("compare", A + "Name IN (SELECT AccountId FROM Contact)", "MALFORMED_QUERY"),
    (
        "compare",
        A + "Id IN (SELECT AccountId FROM Opportunity ORDER BY CloseDate LIMIT 5)",
        "MALFORMED_QUERY",
    ),
    ("compare", A + "Id IN (SELECT AccountId FROM Contact) OR Name = 'x'", "MALFORMED_QUERY"),
    (
        "compare",
        A
        + "Id IN (SELECT AccountId FROM Contact WHERE AccountId IN "
        + "(SELECT AccountId FROM Opportunity))",
        "MALFORMED_QUERY",
    ),
    ("logic", A + "Type = 'Other' AND Name = 'x' OR Name = 'y'", "MALFORMED_QUERY"),
    ("logic", A + "Type = 'Other' AND (Name = 'x' OR Name = 'y')", OK),
    ("logic", A + "NOT (Type = 'Other')", OK),
    ("dates", A + "CS_Renewal_Date__c = NEXT_N_DAYS:90", OK),
    ("dates", A + "CreatedDate = LAST_N_DAYS:30", OK),
    ("dates", A + "CS_Renewal_Date__c < THIS_FISCAL_YEAR", OK),
    ("dates", A + "CS_Renewal_Date__c > 2026-01-01", OK),
    ("dates", A + "CreatedDate > 2026-01-01", "MALFORMED_QUERY"),
    ("dates", A + "CreatedDate > 2026-01-01T00:00:00Z", OK),
    ("dates", A + "CS_Renewal_Date__c = LAST_N_DAYS", "MALFORMED_QUERY"),
    ("count", "SELECT COUNT() FROM Account WHERE Type = 'Former Customer'", OK),
    ("count", "SELECT COUNT(), Name FROM Account", "MALFORMED_QUERY"),
    ("count", "SELECT COUNT(Id) FROM Account", OK),
    ("group", "SELECT OwnerId, COUNT(Id) FROM Account GROUP BY OwnerId", OK),
    ("group", "SELECT OwnerId, Name FROM Account GROUP BY OwnerId", "MALFORMED_QUERY"),
    ("group", "SELECT CS_ARR__c FROM Account GROUP BY CS_ARR__c", "INVALID_FIELD"),
    ("group", "SELECT Type, COUNT(Id) n FROM Account GROUP BY Type ORDER BY Type", OK),
    ("agg", "SELECT SUM(CS_ARR__c), AVG(CS_ARR__c), MAX(CS_Renewal_Date__c) FROM Account", OK),
    ("agg", "SELECT SUM(Name) FROM Account", "INVALID_FIELD"),
    ("agg", "SELECT COUNT_DISTINCT(OwnerId) FROM Account", OK),
    ("agg", "SELECT MEDIAN(CS_ARR__c) FROM Account", "MALFORMED_QUERY"),
    ("escapes", A + "Name = 'O\\'Brien'", OK),
    ("escapes", A + "Name = 'x\\q'", "MALFORMED_QUERY"),
    ("poly", "SELECT Id, What.Type, What.Name FROM Task", OK),
    ("poly", "SELECT Id, What.Industry FROM Task", "INVALID_FIELD"),
    ("select", "SELECT Id FROM Task WHERE Description = 'x'", "INVALID_FIELD"),
]


def _answer(sf: Salesforce, text: str) -> tuple[str, dict[str, Any] | None]:
    try:
        return OK, sf.query(text)
    except SalesforceMalformedRequest as error:
        return str(error.content[0]["errorCode"]), None


@pytest.mark.parametrize(("doc", "text", "expected"), CASES, ids=[c[1][-60:] for c in CASES])
def test_salesforce_answers(sf: Salesforce, doc: str, text: str, expected: str) -> None:
    assert _answer(sf, text)[0] == expected, f"see {doc}"


def test_the_table_is_wide_enough() -> None:
    assert len(CASES) >= 40
    assert sum(answer != OK for _, _, answer in CASES) >= 20


def test_count_and_aggregates_answer_as_salesforce_does(sf: Salesforce) -> None:
    records = sf.query("SELECT Id, OwnerId, Type FROM Account")["records"]
    counted = sf.query("SELECT COUNT() FROM Account WHERE Type = 'Former Customer'")
    former = sum(r["Type"] == "Former Customer" for r in records)
    assert (counted["totalSize"], counted["records"]) == (former, [])
    grouped = sf.query("SELECT OwnerId, COUNT(Id) n FROM Account GROUP BY OwnerId")["records"]
    assert grouped[0]["attributes"] == {"type": "AggregateResult"}
    assert {g["OwnerId"]: g["n"] for g in grouped} == {
        owner: sum(r["OwnerId"] == owner for r in records)
        for owner in {r["OwnerId"] for r in records}
    }
    total = sf.query("SELECT COUNT(Id), COUNT_DISTINCT(OwnerId) owners FROM Account")["records"]
    assert total[0]["expr0"] == len(records)
    assert total[0]["owners"] == len({r["OwnerId"] for r in records})


def test_semi_and_anti_joins_split_the_book(sf: Salesforce) -> None:
    every = {r["Id"] for r in sf.query("SELECT Id FROM Account")["records"]}
    with_won = {
        r["AccountId"]
        for r in sf.query("SELECT AccountId FROM Opportunity WHERE IsClosed = false")["records"]
    }
    semi = {
        r["Id"]
        for r in sf.query(A + "Id IN (SELECT AccountId FROM Opportunity WHERE IsClosed = false)")[
            "records"
        ]
    }
    anti = {
        r["Id"]
        for r in sf.query(
            A + "Id NOT IN (SELECT AccountId FROM Opportunity WHERE IsClosed = false)"
        )["records"]
    }
    assert semi == with_won & every and semi and anti
    assert semi | anti == every and not semi & anti


def test_multi_select_values_are_matched_by_set(sf: Salesforce) -> None:
    accounts = [r["Id"] for r in sf.query("SELECT Id FROM Account LIMIT 3")["records"]]
    sf.Account.update(accounts[0], {"CS_Modules__c": "Payroll;Attendance"})
    sf.Account.update(accounts[1], {"CS_Modules__c": "Attendance"})
    sf.Account.update(accounts[2], {"CS_Modules__c": "Talent;Payroll"})

    def hits(condition: str) -> list[str]:
        found = {r["Id"] for r in sf.query(A + condition)["records"]}
        return [a for a in accounts if a in found]

    assert hits("CS_Modules__c INCLUDES ('Attendance;Payroll')") == [accounts[0]]
    assert hits("CS_Modules__c INCLUDES ('Attendance', 'Talent')") == accounts
    assert hits("CS_Modules__c EXCLUDES ('Payroll')") == [accounts[1]]
    assert hits("CS_Modules__c = 'Attendance;Payroll'") == [accounts[0]]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Account.update(accounts[0], {"CS_Modules__c": "Payroll;Golf"})
    assert raised.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_a_polymorphic_lookup_reads_the_object_name(sf: Salesforce) -> None:
    account = sf.query("SELECT Id, Name, Type, OwnerId FROM Account LIMIT 1")["records"][0]
    task = sf.Task.create({"Subject": "x", "OwnerId": account["OwnerId"], "WhatId": account["Id"]})
    found = sf.query(f"SELECT What.Type, What.Name FROM Task WHERE Id = '{task['id']}'")
    what = found["records"][0]["What"]
    assert (what["Type"], what["Name"], what["attributes"]["type"]) == (
        "Account",
        account["Name"],
        "Name",
    )
