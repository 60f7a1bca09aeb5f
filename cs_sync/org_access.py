"""Field and record access for the integration user: what `cs-sync setup salesforce --apply`
grants, and what `cs-sync doctor` checks.

A custom field created through the Tooling API is hidden from every user until a permission
set grants it. Setup keeps one permission set, CS_Sync_Integration, granting Read (fields CSMs
own) or Read and Edit (fields cs-sync writes) on cs-sync's fields, assigned to the integration
user. A user without the permission to manage permission sets gets the exact steps instead.
Record access is the admin's call: doctor only says when the user cannot see or change the
whole book.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cs_sync.connectors.salesforce import SalesforceClient, soql
from cs_sync.connectors.salesforce_admin import create_records, update_record
from cs_sync.errors import PermissionDenied
from cs_sync.org_fields import PERMISSION_SET, PERMISSION_SET_LABEL, FieldSpec


@dataclass
class GrantReport:
    set_created: bool = False
    granted: list[str] = field(default_factory=list)  # "Account.CS_Health_Score__c"
    assigned: bool = False
    refused: str = ""  # what the org said when the user may not grant access itself
    failed: list[tuple[str, str]] = field(default_factory=list)


def grant_fields(client: SalesforceClient, specs: list[FieldSpec], user_id: str) -> GrantReport:
    """Grant these fields in the CS_Sync_Integration permission set (created if missing) and
    assign it to the user. Grants already there are kept; Edit is added where it is missing."""
    report = GrantReport()
    try:
        set_id = _permission_set(client, report)
        grants = {
            str(r["Field"]).lower(): r
            for r in client.query(
                soql(
                    "SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
                    "WHERE ParentId = {set_id}",
                    set_id=set_id,
                ),
                "reading the permission set's field grants",
            )
        }
        wanted: list[dict[str, object]] = []
        for spec in specs:
            name = f"{spec.sobject}.{spec.name}"
            edit = spec.purpose == "written"
            existing = grants.get(name.lower())
            if existing is None:
                wanted.append(
                    {
                        "ParentId": set_id,
                        "SobjectType": spec.sobject,
                        "Field": name,
                        "PermissionsRead": True,
                        "PermissionsEdit": edit,
                    }
                )
            elif edit and not existing.get("PermissionsEdit"):
                update_record(
                    client,
                    "FieldPermissions",
                    str(existing["Id"]),
                    {"PermissionsRead": True, "PermissionsEdit": True},
                )
                report.granted.append(name)
        if wanted:
            results = create_records(client, "FieldPermissions", wanted)
            for values, result in zip(wanted, results, strict=True):
                if result.get("success"):
                    report.granted.append(str(values["Field"]))
                    continue
                code, message = _failure(result)
                if code.startswith("INSUFFICIENT_ACCESS"):
                    raise PermissionDenied(message)
                report.failed.append((str(values["Field"]), f"{code}: {message}"))
        assigned = list(
            client.query(
                soql(
                    "SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = {set_id} "
                    "AND AssigneeId = {user}",
                    set_id=set_id,
                    user=user_id,
                ),
                "reading the permission set's assignments",
            )
        )
        if not assigned:
            created = create_records(
                client,
                "PermissionSetAssignment",
                [{"PermissionSetId": set_id, "AssigneeId": user_id}],
            )[0]
            if not created.get("success"):
                raise PermissionDenied("{}: {}".format(*_failure(created)))
            report.assigned = True
    except PermissionDenied as denied:
        report.refused = str(denied)
    return report


def _permission_set(client: SalesforceClient, report: GrantReport) -> str:
    found = list(
        client.query(
            soql("SELECT Id FROM PermissionSet WHERE Name = {name}", name=PERMISSION_SET),
            "looking for cs-sync's permission set",
        )
    )
    if found:
        return str(found[0]["Id"])
    created = create_records(
        client, "PermissionSet", [{"Name": PERMISSION_SET, "Label": PERMISSION_SET_LABEL}]
    )[0]
    if not created.get("success"):
        raise PermissionDenied("{}: {}".format(*_failure(created)))
    report.set_created = True
    return str(created["id"])


def _failure(result: dict[str, object]) -> tuple[str, str]:
    """The status code and message of a record that Salesforce did not write."""
    errors = result.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else {}
    return str(first.get("statusCode", "UNKNOWN")), str(first.get("message", ""))


def grant_steps(specs: list[FieldSpec], user: str) -> str:
    """What an admin does by hand when the integration user may not grant access itself."""
    written = [f"{s.sobject}.{s.name}" for s in specs if s.purpose == "written"]
    read = [f"{s.sobject}.{s.name}" for s in specs if s.purpose != "written"]
    lines = [
        "An admin gives the integration user access to cs-sync's fields:",
        f'  1. Setup > Permission Sets > New: Label "{PERMISSION_SET_LABEL}", '
        f"API Name {PERMISSION_SET}.",
        "  2. Object Settings > Accounts and Tasks > Edit: Field Permissions",
    ]
    if written:
        lines.append(f"     Read and Edit: {', '.join(written)}")
    if read:
        lines.append(f"     Read: {', '.join(read)}")
    lines.append(f"  3. Manage Assignments > Add Assignment: {user}.")
    lines.append("Then run `cs-sync doctor`: it shows what the integration user can see.")
    return "\n".join(lines)


# What the worker needs on each object: to read every record, and to change them.
NEEDED = {"Account": "Modify All", "Opportunity": "View All", "Task": "Modify All"}


def record_access_gaps(client: SalesforceClient, user_id: str) -> list[str]:
    """The objects on which the user lacks View All / Modify All (by View All Data, Modify All
    Data or object permissions from any assigned permission set or the profile)."""
    assigned = list(
        client.query(
            soql(
                "SELECT PermissionSet.PermissionsViewAllData, "
                "PermissionSet.PermissionsModifyAllData FROM PermissionSetAssignment "
                "WHERE AssigneeId = {user}",
                user=user_id,
            ),
            "reading the integration user's permission sets",
        )
    )
    sets = [a.get("PermissionSet") or {} for a in assigned]
    view_all = any(s.get("PermissionsViewAllData") for s in sets)
    modify_all = any(s.get("PermissionsModifyAllData") for s in sets)
    objects = list(
        client.query(
            soql(
                "SELECT SobjectType, PermissionsViewAllRecords, PermissionsModifyAllRecords "
                "FROM ObjectPermissions WHERE ParentId IN (SELECT PermissionSetId FROM "
                "PermissionSetAssignment WHERE AssigneeId = {user}) "
                "AND SobjectType IN ('Account', 'Opportunity', 'Task')",
                user=user_id,
            ),
            "reading the integration user's object permissions",
        )
    )
    gaps = []
    for sobject, needed in NEEDED.items():
        grants = [o for o in objects if o.get("SobjectType") == sobject]
        modify = modify_all or any(o.get("PermissionsModifyAllRecords") for o in grants)
        view = view_all or modify or any(o.get("PermissionsViewAllRecords") for o in grants)
        if not (modify if needed == "Modify All" else view):
            gaps.append(f"{needed} on {sobject}")
    return gaps
