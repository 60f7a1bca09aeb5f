"""Org administration calls that only `cs-sync setup` and `cs-sync doctor` make: who the
integration user is, which custom fields exist (Tooling API, whether or not the user may see
them), and the permission set records that grant field access.

Kept apart from SalesforceClient's guarded writes: the worker itself never writes these.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from simple_salesforce import Salesforce

from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.errors import PermissionDenied, SetupError

# The objects setup may write, and nothing else.
PERMISSION_OBJECTS = frozenset({"PermissionSet", "FieldPermissions", "PermissionSetAssignment"})


def _userinfo(sf: Salesforce) -> dict[str, Any]:
    response = sf.session.get(
        f"https://{sf.sf_instance}/services/oauth2/userinfo", headers=sf.headers, timeout=30
    )
    if response.status_code in (401, 403):
        raise PermissionDenied(
            "Salesforce would not say who the integration user is (OAuth userinfo answered "
            f"{response.status_code}); add the openid or id scope to the app"
        )
    response.raise_for_status()
    return dict(response.json())


def current_user(client: SalesforceClient) -> tuple[str, str]:
    """The logged-in user's id and username (OAuth 2.0 UserInfo endpoint)."""
    found = client.call("asking who the integration user is", _userinfo)
    user_id = str(found.get("user_id") or "")
    if not user_id:
        raise SetupError("Salesforce's userinfo answer has no user_id")
    return user_id, str(found.get("preferred_username") or user_id)


def custom_fields(client: SalesforceClient, sobjects: list[str]) -> set[str]:
    """ "Account.CS_Health_Score__c" for every custom field that exists on these objects
    (Task fields are defined on Activity), visible to the integration user or not."""
    tables = {"Activity" if s == "Task" else s: s for s in sobjects}
    listed = ", ".join(f"'{t}'" for t in sorted(tables))
    query = (
        f"SELECT DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId IN ({listed})"
    )
    found = client.call(
        "listing custom fields (Tooling API)",
        lambda sf: sf.toolingexecute("query/", params={"q": query}),
    )
    return {
        f"{tables[r['TableEnumOrId']]}.{r['DeveloperName']}__c".lower()
        for r in (found or {}).get("records", [])
        if r.get("TableEnumOrId") in tables
    }


def create_records(
    client: SalesforceClient, sobject: str, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Create permission records in one sObject Collections call; the results per record."""
    if sobject not in PERMISSION_OBJECTS:
        raise ValueError(f"setup does not write {sobject}")
    body = {
        "allOrNone": False,
        "records": [{"attributes": {"type": sobject}, **r} for r in records],
    }
    results = client.call(
        f"creating {sobject} records",
        partial(_post_collection, body=body),
    )
    return list(results or [])


def update_record(
    client: SalesforceClient, sobject: str, record_id: str, values: dict[str, Any]
) -> None:
    if sobject not in PERMISSION_OBJECTS:
        raise ValueError(f"setup does not write {sobject}")
    client.call(
        f"updating {sobject} {record_id}",
        lambda sf: getattr(sf, sobject).update(record_id, values),
    )


def _post_collection(sf: Salesforce, body: dict[str, Any]) -> Any:
    return sf.restful("composite/sobjects", method="POST", json=body)
