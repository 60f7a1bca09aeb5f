"""The sandbox's SOQL subset: what it accepts, how it evaluates, and what it refuses."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cs_sync.sandbox import soql, soql_eval
from cs_sync.sandbox.schema import Schema

SCHEMA = Schema()
ACCOUNTS = [
    {
        "Id": "001000000000001AAA",
        "Name": "Alpha",
        "CS_ARR__c": 1000,
        "Type": "Customer - Direct",
        "CS_Renewal_Date__c": "2027-01-10",
        "CreatedDate": "2026-01-01T09:00:00.000+0000",
        "CS_Segment__c": "High Touch",
        "NumberOfEmployees": 50,
    },
    {
        "Id": "001000000000002AAA",
        "Name": "beta",
        "CS_ARR__c": None,
        "Type": "Former Customer",
        "CS_Renewal_Date__c": None,
        "CreatedDate": "2026-06-01T00:00:00.000+0000",
        "CS_Segment__c": None,
        "NumberOfEmployees": 10,
    },
    {
        "Id": "001000000000003AAA",
        "Name": "Gamma 100%",
        "CS_ARR__c": 3000,
        "Type": "Customer - Direct",
        "CS_Renewal_Date__c": "2026-12-01",
        "CreatedDate": "2026-03-01T00:00:00.000+0000",
        "CS_Segment__c": "Low Touch",
        "NumberOfEmployees": 300,
    },
]


def run(text: str, today: date | None = None) -> list[str]:
    query = soql.parse(text, SCHEMA)
    assert query.sobject == "Account"

    def resolve(record: dict[str, Any], path: soql.Path) -> Any:
        return record.get(path.parts[-1])

    def type_of(path: soql.Path) -> str:
        field = SCHEMA.lookup_field("Account", path.parts[-1])
        assert field is not None
        return field.type

    rows = [r for r in ACCOUNTS if soql_eval.evaluate(query.where, r, resolve, type_of, today)]
    rows = soql_eval.sort_records(rows, query.order, resolve, type_of)
    if query.limit is not None:
        rows = rows[: query.limit]
    return [r["Name"] for r in rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param("Name = 'alpha'", ["Alpha"], id="equals-is-case-insensitive"),
        pytest.param("Name != 'Alpha'", ["beta", "Gamma 100%"], id="not-equals"),
        pytest.param("Name <> 'Alpha'", ["beta", "Gamma 100%"], id="angle-not-equals"),
        pytest.param("CS_ARR__c > 1000", ["Gamma 100%"], id="greater-skips-null"),
        pytest.param("CS_ARR__c >= 1000", ["Alpha", "Gamma 100%"], id="greater-equal"),
        pytest.param("CS_ARR__c = null", ["beta"], id="equals-null"),
        pytest.param("CS_ARR__c != null", ["Alpha", "Gamma 100%"], id="not-null"),
        pytest.param(
            "CS_Segment__c != 'High Touch'", ["beta", "Gamma 100%"], id="not-equals-includes-null"
        ),
        pytest.param("Type IN ('Former Customer', 'Other')", ["beta"], id="in"),
        pytest.param("Type NOT IN ('Former Customer')", ["Alpha", "Gamma 100%"], id="not-in"),
        pytest.param("Name LIKE 'a%'", ["Alpha"], id="like-prefix"),
        pytest.param("Name LIKE '%100\\%'", ["Gamma 100%"], id="like-escaped-percent"),
        pytest.param("Name LIKE '_eta'", ["beta"], id="like-underscore"),
        pytest.param("CS_Renewal_Date__c < 2027-01-01", ["Gamma 100%"], id="date-literal"),
        pytest.param(
            "CreatedDate >= 2026-03-01T00:00:00Z", ["beta", "Gamma 100%"], id="datetime-literal"
        ),
        pytest.param("CreatedDate < 2026-01-01T10:00:00+09:00", [], id="datetime-with-offset"),
        pytest.param("NOT (Type = 'Former Customer')", ["Alpha", "Gamma 100%"], id="not"),
        pytest.param(
            "(CS_ARR__c > 2000 OR Name = 'beta') AND NumberOfEmployees < 100",
            ["beta"],
            id="and-or-parentheses",
        ),
        pytest.param("Name = 'O\\'Brien'", [], id="escaped-quote"),
    ],
)
def test_where(where: str, expected: list[str]) -> None:
    assert run(f"SELECT Id, Name FROM Account WHERE {where}") == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        pytest.param("CS_ARR__c", ["beta", "Alpha", "Gamma 100%"], id="asc-nulls-first"),
        pytest.param("CS_ARR__c DESC", ["Gamma 100%", "Alpha", "beta"], id="desc-nulls-last"),
        pytest.param(
            "CS_ARR__c ASC NULLS LAST", ["Alpha", "Gamma 100%", "beta"], id="asc-nulls-last"
        ),
        pytest.param("Name", ["Alpha", "beta", "Gamma 100%"], id="strings-ignore-case"),
        pytest.param("Type DESC, Name", ["beta", "Alpha", "Gamma 100%"], id="two-keys"),
    ],
)
def test_order_by(order: str, expected: list[str]) -> None:
    assert run(f"SELECT Name FROM Account ORDER BY {order}") == expected


def test_limit() -> None:
    assert run("SELECT Name FROM Account ORDER BY Name LIMIT 2") == ["Alpha", "beta"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "SELECT Name, COUNT(Id) FROM Account GROUP BY Name HAVING COUNT(Id) > 1", id="having"
        ),
        pytest.param("SELECT Id, (SELECT Id FROM Opportunities) FROM Account", id="subquery"),
        pytest.param("SELECT Id FROM Account GROUP BY Name", id="group-by"),
        pytest.param("SELECT Id FROM Account LIMIT 10 OFFSET 5", id="offset"),
        pytest.param("SELECT Id FROM Account WHERE Name = TODAY", id="date-literal-on-text"),
        pytest.param(
            "SELECT Id FROM Account WHERE CS_Renewal_Date__c = LAST_N_DAYS", id="n-missing"
        ),
        pytest.param("SELECT Id FROM Account WHERE CS_ARR__c = '100'", id="quoted-number"),
        pytest.param(
            "SELECT Id FROM Account WHERE CS_Renewal_Date__c = '2026-01-01'", id="quoted-date"
        ),
        pytest.param("SELECT Id FROM Account WHERE Name > null", id="null-ordering"),
        pytest.param("SELECT Id FROM Account WHERE Name = 'x\\q'", id="bad-escape"),
        pytest.param("SELECT Id FROM Account WHERE (Name = 'x'", id="unbalanced"),
        pytest.param("SELECT Id FROM Account WHERE Name = :name", id="bind-variable"),
        pytest.param("SELECT FROM Account", id="no-fields"),
        pytest.param("SELECT Id FROM Account FOR UPDATE", id="for-update"),
        pytest.param("", id="empty"),
    ],
)
def test_unsupported_soql_is_malformed_not_wrong(text: str) -> None:
    with pytest.raises(soql.SoqlError) as raised:
        soql.parse(text, SCHEMA)
    assert raised.value.code == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SELECT Id FROM Acount", "INVALID_TYPE"),
        ("SELECT Id, Nmae FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Foo__c = 1", "INVALID_FIELD"),
        ("SELECT Owner.Emial FROM Account", "INVALID_FIELD"),
        ("SELECT Ownr.Email FROM Account", "INVALID_FIELD"),
    ],
)
def test_unknown_names(text: str, code: str) -> None:
    with pytest.raises(soql.SoqlError) as raised:
        soql.parse(text, SCHEMA)
    assert raised.value.code == code


def test_parent_paths_are_canonicalised() -> None:
    query = soql.parse("select id, owner.email, cs_sub_csm__r.isactive from account", SCHEMA)
    assert [p.parts for p in query.fields] == [
        ("Id",),
        ("Owner", "Email"),
        ("CS_Sub_CSM__r", "IsActive"),
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # SOQL and SOSL Reference, "Condition Expression Syntax (WHERE Clause)": AND and OR
        # mixed at one level need parentheses
        pytest.param(
            "SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR CS_ARR__c > 1",
            "MALFORMED_QUERY",
            id="and-or-mixed",
        ),
        pytest.param(
            "SELECT Id FROM Account WHERE Name = 'a' OR Type = 'b' AND CS_ARR__c > 1",
            "MALFORMED_QUERY",
            id="or-and-mixed",
        ),
        # "SELECT": a field may be selected once
        pytest.param("SELECT Id, Name, name FROM Account", "MALFORMED_QUERY", id="duplicate"),
        # an id compared with text that is no id
        pytest.param(
            "SELECT Id FROM Account WHERE Id = 'abc'",
            "INVALID_QUERY_FILTER_OPERATOR",
            id="malformed-id",
        ),
        pytest.param(
            "SELECT Id FROM Account WHERE OwnerId IN ('005000000000001', 'x')",
            "INVALID_QUERY_FILTER_OPERATOR",
            id="malformed-id-in-list",
        ),
        # Long text area fields can't be filtered (Text Area (Long) field type)
        pytest.param(
            "SELECT Id FROM Task WHERE Description = 'x'", "INVALID_FIELD", id="long-text"
        ),
    ],
)
def test_what_salesforce_refuses_is_refused(text: str, code: str) -> None:
    with pytest.raises(soql.SoqlError) as raised:
        soql.parse(text, SCHEMA)
    assert raised.value.code == code


@pytest.mark.parametrize(
    "where",
    [
        "(Name = 'Alpha' AND Type = 'Customer - Direct') OR CS_ARR__c > 2000",
        "Name = 'Alpha' AND (Type = 'Customer - Direct' OR CS_ARR__c > 2000)",
        "NOT (Name = 'beta' OR CS_ARR__c = null) AND CS_ARR__c > 500",
    ],
)
def test_parentheses_make_mixed_conditions_valid(where: str) -> None:
    assert run(f"SELECT Id FROM Account WHERE {where}")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # SOQL and SOSL Reference, "Date Formats and Date Literals"; today is 2026-11-24
        ("CS_Renewal_Date__c = NEXT_N_DAYS:90", ["Alpha", "Gamma 100%"]),
        ("CS_Renewal_Date__c > NEXT_N_DAYS:7", ["Alpha"]),
        ("CS_Renewal_Date__c = THIS_MONTH", []),
        ("CS_Renewal_Date__c = NEXT_MONTH", ["Gamma 100%"]),
        ("CS_Renewal_Date__c != TODAY", ["Alpha", "beta", "Gamma 100%"]),
        ("CreatedDate = THIS_YEAR", ["Alpha", "beta", "Gamma 100%"]),
        ("CreatedDate = THIS_FISCAL_YEAR", ["Alpha", "beta", "Gamma 100%"]),
        ("CreatedDate < LAST_N_DAYS:200", ["Alpha", "Gamma 100%"]),
        ("CreatedDate = N_MONTHS_AGO:5", ["beta"]),
        ("CreatedDate = LAST_N_MONTHS:6", ["beta"]),
        ("CreatedDate >= THIS_QUARTER", []),
        ("CreatedDate <= last_quarter", ["Alpha", "beta", "Gamma 100%"]),
    ],
)
def test_date_literals_are_ranges_of_days(where: str, expected: list[str]) -> None:
    query = f"SELECT Id FROM Account WHERE {where} ORDER BY Name"
    assert run(query, today=date(2026, 11, 24)) == expected
