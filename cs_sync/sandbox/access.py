"""Who is calling and what they may see: field-level security and record sharing.

As a real org decides it (docs/sandbox-fidelity.md cites the pages): a custom field is hidden
from a user (absent from describe, an unknown column in SOQL and in writes) until a permission
set assigned to the user (a profile owns one too) grants Read on it in FieldPermissions, and it
is read-only without Edit. Records follow a private sharing model: a user sees the records they
own, every record of an object with View All Records (ObjectPermissions) or View All Data, and
the children of what they see (Contacts, contact roles and Tasks are controlled by their
parent); editing takes ownership, Modify All Records or Modify All Data.

The request dispatcher sets CURRENT for the duration of a request; OrgStore.schema then answers
with the caller's view of the org. Without a caller (seeding, tests that use the store
directly) everything is visible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cs_sync.sandbox.fields import Field
from cs_sync.sandbox.schema import (
    HISTORY_OBJECTS,
    PERMISSIONS,
    Schema,
    history_reference,
)

if TYPE_CHECKING:
    from cs_sync.sandbox.store import OrgStore

Lookup = Callable[[str], tuple[str, dict[str, Any]] | None]

# A child's visibility follows the record its reference points at.
_PARENTS = {
    "Contact": "AccountId",
    "OpportunityContactRole": "OpportunityId",
    "Task": "WhatId",
    "Event": "WhatId",
    "FeedItem": "ParentId",
    # a history row: its record's sharing, and Read on the field it records
    **{name: history_reference(parent) for name, parent in HISTORY_OBJECTS.items()},
}


@dataclass
class Access:
    """What one user may see and change, read from the org's permission records."""

    user_id: str
    full: Schema
    permissions: frozenset[str] = frozenset()
    readable: frozenset[str] = frozenset()  # "account.cs_health_score__c"
    editable: frozenset[str] = frozenset()
    view_all: frozenset[str] = frozenset()  # object names
    modify_all: frozenset[str] = frozenset()
    _seen: dict[str, bool] = field(default_factory=dict)

    def _reads(self, sobject: str, definition: Field) -> bool:
        key = f"{sobject}.{definition.name}".lower()
        return key in self.readable or key in self.editable

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    @cached_property
    def schema(self) -> Schema:
        """The org as this user's describe shows it: custom fields without Read left out,
        those without Edit neither createable nor updateable."""
        objects: dict[str, dict[str, Field]] = {}
        for sobject, fields in self.full.objects.items():
            visible: dict[str, Field] = {}
            for name, definition in fields.items():
                key = f"{sobject}.{name}".lower()
                if not definition.custom or key in self.editable:
                    visible[name] = definition
                elif key in self.readable:
                    visible[name] = replace(definition, createable=False, updateable=False)
            objects[sobject] = visible
        return Schema(objects=objects)

    def sees(self, sobject: str, record: dict[str, Any], lookup: Lookup) -> bool:
        parent = HISTORY_OBJECTS.get(sobject)
        if parent is not None:  # "respects field level security on the parent object"
            tracked = self.full.objects[parent].get(str(record.get("Field")))
            if tracked is not None and tracked.custom and not self._reads(parent, tracked):
                return False
        if sobject in self.view_all:
            return True
        owner = record.get("OwnerId")
        if owner is not None and owner == self.user_id:
            return True
        parent_field = _PARENTS.get(sobject)
        if parent_field is not None:
            return self._parent_seen(record.get(parent_field), lookup)
        return False

    def may_edit(self, sobject: str, record: dict[str, Any], lookup: Lookup) -> bool:
        if sobject in self.modify_all or record.get("OwnerId") == self.user_id:
            return True
        parent_field = _PARENTS.get(sobject)
        if parent_field is None or not record.get(parent_field):
            return sobject not in _OWNED and sobject not in _PARENTS
        found = lookup(str(record[parent_field]))
        return found is not None and self.may_edit(found[0], found[1], lookup)

    def _parent_seen(self, parent_id: Any, lookup: Lookup) -> bool:
        if not parent_id:
            return False
        key = str(parent_id)
        if key not in self._seen:
            found = lookup(key)
            self._seen[key] = found is not None and self.sees(found[0], found[1], lookup)
        return self._seen[key]


_OWNED = frozenset({"Account", "Opportunity", "Task", "Event", "Case"})


def load_access(store: OrgStore, user_id: str) -> Access:
    """The union of every permission set assigned to the user."""
    assigned = {
        a["PermissionSetId"]
        for a in store.all("PermissionSetAssignment")
        if a.get("AssigneeId") == user_id
    }
    sets = [s for s in store.all("PermissionSet") if s["Id"] in assigned]
    permissions = frozenset(name for s in sets for name, value in s.items() if value is True)
    readable: set[str] = set()
    editable: set[str] = set()
    for grant in store.all("FieldPermissions"):
        if grant.get("ParentId") in assigned:
            key = str(grant.get("Field", "")).lower()
            if grant.get("PermissionsRead") or grant.get("PermissionsEdit"):
                readable.add(key)
            if grant.get("PermissionsEdit"):
                editable.add(key)
    every = frozenset(store.org_schema.objects)
    view_all: set[str] = set(every) if "PermissionsViewAllData" in permissions else set()
    modify_all: set[str] = set(every) if "PermissionsModifyAllData" in permissions else set()
    for grant in store.all("ObjectPermissions"):
        if grant.get("ParentId") in assigned:
            sobject = str(grant.get("SobjectType"))
            if grant.get("PermissionsViewAllRecords") or grant.get("PermissionsModifyAllRecords"):
                view_all.add(sobject)
            if grant.get("PermissionsModifyAllRecords"):
                modify_all.add(sobject)
    view_all |= every - _OWNED - set(_PARENTS)  # users, statuses, permission records
    return Access(
        user_id=user_id,
        full=store.org_schema,
        permissions=permissions,
        readable=frozenset(readable),
        editable=frozenset(editable),
        view_all=frozenset(view_all),
        modify_all=frozenset(modify_all),
    )


CURRENT: ContextVar[Access | None] = ContextVar("sandbox_access", default=None)


@contextmanager
def acting_as(access: Access | None) -> Iterator[None]:
    """Answer the enclosed request as this user."""
    token = CURRENT.set(access)
    try:
        yield
    finally:
        CURRENT.reset(token)


def current() -> Access | None:
    return CURRENT.get()


# Changing who may do what takes these user permissions (the "Manage Profiles and Permission
# Sets" and "Assign Permission Sets" permissions).
_WRITE_NEEDS = {
    "PermissionSet": "PermissionsManageProfilesPermissionsets",
    "FieldPermissions": "PermissionsManageProfilesPermissionsets",
    "ObjectPermissions": "PermissionsManageProfilesPermissionsets",
    "PermissionSetAssignment": "PermissionsAssignPermissionSets",
}


def write_refusal(
    store: OrgStore, sobject: str, record: dict[str, Any], existing: dict[str, Any] | None
) -> tuple[str, str, list[str]] | None:
    """Why the caller may not write this record, as (code, message, fields), or None."""
    access = current()
    if access is None:
        return None
    needed = _WRITE_NEEDS.get(sobject)
    if needed is not None and not access.has(needed):
        return ("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [])
    if existing is not None and not access.may_edit(sobject, existing, store.get):
        return ("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [])
    if sobject == "FieldPermissions":
        return _field_permission_problem(store, record)
    if sobject in _GRANT_KEYS:
        return _duplicate_grant(store, sobject, record)
    return None


def visible_ids(store: OrgStore, sobject: str, ids: list[str]) -> list[str]:
    """The ids the caller can see: an upsert matches only records shared with it."""
    access = current()
    if access is None or sobject in access.view_all:
        return ids
    found = [(i, store.get(i)) for i in ids]
    return [i for i, f in found if f and access.sees(sobject, f[1], store.get)]


def reference_hidden(store: OrgStore, target: tuple[str, dict[str, Any]]) -> bool:
    """A lookup to a record the caller cannot see is refused
    (INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY)."""
    access = current()
    return access is not None and not access.sees(target[0], target[1], store.get)


def _field_permission_problem(
    store: OrgStore, record: dict[str, Any]
) -> tuple[str, str, list[str]] | None:
    sobject_name, _, field_name = str(record.get("Field", "")).partition(".")
    sobject = store.org_schema.lookup_object(sobject_name)
    definition = store.org_schema.lookup_field(sobject, field_name) if sobject else None
    if (
        definition is None
        or not definition.custom
        or str(record.get("SobjectType", "")).lower() != sobject_name.lower()
    ):
        return (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"Field Name: bad value for restricted picklist field: {record.get('Field')}",
            ["Field"],
        )
    if record.get("PermissionsEdit") and not record.get("PermissionsRead"):
        return (
            "FIELD_INTEGRITY_EXCEPTION",
            "Permission Edit depends on permission(s): Read",
            ["PermissionsEdit"],
        )
    return _duplicate_grant(store, "FieldPermissions", record)


_GRANT_KEYS = {
    "FieldPermissions": ("ParentId", "Field"),
    "ObjectPermissions": ("ParentId", "SobjectType"),
    "PermissionSetAssignment": ("PermissionSetId", "AssigneeId"),
}


def _duplicate_grant(
    store: OrgStore, sobject: str, record: dict[str, Any]
) -> tuple[str, str, list[str]] | None:
    keys = _GRANT_KEYS[sobject]
    wanted = tuple(str(record.get(k, "")).lower() for k in keys)
    for other in store.all(sobject):
        if other["Id"] != record.get("Id") and (
            tuple(str(other.get(k, "")).lower() for k in keys) == wanted
        ):
            return (
                "DUPLICATE_VALUE",
                f"duplicate value found: {keys[1]} duplicates value on record with id: "
                f"{other['Id']}",
                list(keys),
            )
    return None


def add_permission_set(
    store: OrgStore,
    name: str,
    label: str,
    *,
    assignees: list[str],
    fields: Sequence[str] = (),
    permissions: tuple[str, ...] = (),
    profile: bool = False,
    view_all: tuple[str, ...] = (),
) -> str:
    """Create a permission set (or a profile's) granting Read and Edit on `fields`
    ("Account.CS_Health_Score__c"), View All Records on `view_all` objects and the named user
    permissions, assigned to `assignees`. Used to seed an org; returns the set's id."""
    set_id = store.insert(
        "PermissionSet",
        {
            "Name": name,
            "Label": label,
            "IsOwnedByProfile": profile,
            **{permission: permission in permissions for permission in PERMISSIONS},
        },
    )
    for full_name in fields:
        store.insert(
            "FieldPermissions",
            {
                "ParentId": set_id,
                "SobjectType": full_name.partition(".")[0],
                "Field": full_name,
                "PermissionsRead": True,
                "PermissionsEdit": True,
            },
        )
    for sobject in view_all:
        store.insert(
            "ObjectPermissions",
            {
                "ParentId": set_id,
                "SobjectType": sobject,
                "PermissionsRead": True,
                "PermissionsCreate": True,
                "PermissionsEdit": True,
                "PermissionsViewAllRecords": True,
                "PermissionsModifyAllRecords": True,
            },
        )
    for user_id in assignees:
        store.insert("PermissionSetAssignment", {"PermissionSetId": set_id, "AssigneeId": user_id})
    return set_id


def grant_seeded_access(store: OrgStore, username: str, with_cs_sync_fields: bool) -> None:
    """The integration user's profile is a System Administrator's (every user permission, all
    records, the org's own custom fields); cs-sync's fields are granted by the permission set
    `cs-sync setup salesforce --apply` creates, assigned to the integration user."""
    integration = store.user_for_login(username)
    assert integration is not None
    from cs_sync.connectors.settings import SalesforceFields
    from cs_sync.org_fields import PERMISSION_SET, PERMISSION_SET_LABEL, required_fields

    own = {(s.sobject, s.name) for s in required_fields(SalesforceFields())}
    custom = [
        (sobject, name)
        for sobject, fields in store.org_schema.objects.items()
        for name, definition in fields.items()
        if definition.custom
    ]
    add_permission_set(
        store,
        "X00e5g000000SysAdmin",
        "System Administrator",
        profile=True,
        permissions=PERMISSIONS,
        view_all=("Account", "Opportunity", "Task", "Event", "Case", "Contact"),
        fields=[f"{o}.{n}" for o, n in custom if (o, n) not in own],
        assignees=[integration],
    )
    if with_cs_sync_fields:
        add_permission_set(
            store,
            PERMISSION_SET,
            PERMISSION_SET_LABEL,
            fields=[f"{o}.{n}" for o, n in custom if (o, n) in own],
            assignees=[integration],
        )
