"""Deleting records in the sandbox org, as Salesforce does: the record and what goes with it
move to the Recycle Bin (IsDeleted, a new SystemModstamp); query leaves them out, queryAll
(REST and Bulk) takes them in; reading or changing a deleted record is ENTITY_IS_DELETED."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from cs_sync.sandbox.server import Sandbox


def _account_with_opportunity(sf: Salesforce) -> tuple[str, str]:
    row = sf.query(
        "SELECT Id, AccountId FROM Opportunity WHERE Id IN "
        "(SELECT OpportunityId FROM OpportunityContactRole) LIMIT 1"
    )["records"][0]
    return row["AccountId"], row["Id"]


def test_a_deleted_account_goes_to_the_recycle_bin_with_its_records(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    account, opportunity = _account_with_opportunity(sf)
    before = sf.query(f"SELECT SystemModstamp FROM Account WHERE Id = '{account}'")["records"]
    roles = sf.query(
        f"SELECT Id FROM OpportunityContactRole WHERE OpportunityId = '{opportunity}'"
    )["totalSize"]
    assert sf.Account.delete(account) == 204
    assert sf.query(f"SELECT Id FROM Account WHERE Id = '{account}'")["totalSize"] == 0
    gone = sf.query_all(
        f"SELECT Id, IsDeleted, SystemModstamp FROM Account WHERE Id = '{account}'",
        include_deleted=True,
    )["records"]
    assert gone[0]["IsDeleted"] is True
    assert gone[0]["SystemModstamp"] >= before[0]["SystemModstamp"]
    # its opportunities (and their contact roles) went with it
    assert sf.query(f"SELECT Id FROM Opportunity WHERE AccountId = '{account}'")["totalSize"] == 0
    deleted_roles = sf.query_all(
        "SELECT Id FROM OpportunityContactRole WHERE IsDeleted = true "
        f"AND OpportunityId = '{opportunity}'",
        include_deleted=True,
    )["totalSize"]
    assert deleted_roles == roles > 0
    # a Bulk queryAll job sees the deletion too; a query job does not
    rows = sf.bulk2.Account.query_all(
        f"SELECT Id, IsDeleted FROM Account WHERE Id = '{account}'", wait=0.05
    )
    assert "true" in "".join(rows)


def test_a_deleted_record_cannot_be_read_changed_or_deleted_again(sf: Salesforce) -> None:
    account, _ = _account_with_opportunity(sf)
    sf.Account.delete(account)
    for action in (
        lambda: sf.Account.get(account),
        lambda: sf.Account.update(account, {"Name": "x"}),
        lambda: sf.Account.delete(account),
    ):
        with pytest.raises(SalesforceResourceNotFound) as raised:
            action()
        assert raised.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Account"}, "id": account, "Name": "x"}]},
    )
    assert results[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_only_an_owner_or_modify_all_deletes(sandbox: Sandbox, sf: Salesforce) -> None:
    from tests.sandbox.test_access_sandbox import _restricted_login

    restricted, _ = _restricted_login(sandbox, permissions=("PermissionsViewAllData",))
    account, _ = _account_with_opportunity(sf)
    response = restricted.session.delete(
        f"{restricted.base_url}sobjects/Account/{account}", headers=restricted.headers, timeout=5
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert sf.query(f"SELECT Id FROM Account WHERE Id = '{account}'")["totalSize"] == 1
