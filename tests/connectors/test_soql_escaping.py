"""Every value put into SOQL goes in as a literal, never as SOQL: each row a value, the text
that reaches Salesforce, and (through the sandbox's parser) that it reads back as itself."""

from __future__ import annotations

import pytest

from cs_sync.connectors.salesforce import soql
from cs_sync.sandbox.server import Sandbox
from tests.conftest import login


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("Acme", "'Acme'"),
        ("O'Brien", r"'O\'Brien'"),
        ("a\\b", r"'a\\b'"),
        ("x' OR Name != '", r"'x\' OR Name != \''"),
        ('say "hi"', r"'say \"hi\"'"),
        ("line\nbreak", r"'line\nbreak'"),
        ("株式会社エー", "'株式会社エー'"),
        ("50%_off", "'50%_off'"),  # a plain literal: % and _ are LIKE's only under LIKE
    ],
    ids=[
        "plain",
        "quote",
        "backslash",
        "injection",
        "double quote",
        "newline",
        "japanese",
        "percent",
    ],
)
def test_a_text_is_one_quoted_literal(value: str, literal: str) -> None:
    assert soql("SELECT Id FROM Account WHERE Name = {v}", v=value) == (
        f"SELECT Id FROM Account WHERE Name = {literal}"
    )


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("50%", r"50\%"), ("a_b", r"a\_b"), ("O'Brien%", r"O\'Brien\%"), ("a\\b", r"a\\b")],
    ids=["percent", "underscore", "quote and percent", "backslash"],
)
def test_like_escapes_its_wildcards(value: str, escaped: str) -> None:
    query = soql("SELECT Id FROM Account WHERE Name LIKE '{v:like}%'", v=value)
    assert query == f"SELECT Id FROM Account WHERE Name LIKE '{escaped}%'"


def test_lists_numbers_booleans_and_none() -> None:
    assert soql("WHERE Id IN {ids}", ids=["001A", "O'B"]) == r"WHERE Id IN ('001A','O\'B')"
    assert soql("WHERE N = {n} AND F = {f} AND X = {x}", n=12.5, f=False, x=None) == (
        "WHERE N = 12.5 AND F = false AND X = null"
    )


@pytest.mark.parametrize(
    "value", ["O'Brien", "a\\b", "x' OR Name != '", 'say "hi"', "株式会社エー", "50%_off"]
)
def test_the_literal_finds_exactly_that_account(sandbox: Sandbox, value: str) -> None:
    """Through simple-salesforce and the sandbox's SOQL parser, as a real org reads it."""
    sf = login(sandbox)
    owner = sf.query("SELECT Id FROM User LIMIT 1")["records"][0]["Id"]
    created = sf.Account.create({"Name": value, "OwnerId": owner})["id"]
    found = sf.query(soql("SELECT Id, Name FROM Account WHERE Name = {v}", v=value))["records"]
    assert [(r["Id"], r["Name"]) for r in found] == [(created, value)]
