"""The sandbox org's objects and fields, shaped like Salesforce describe results.

Standard objects carry the fields the worker reads; the cs-sync custom fields are the ones
`cs-sync setup salesforce` creates in a real org (the seeded demo org has them already).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cs_sync.sandbox.fields import NAME_FIELDS, Field, field_from_tooling

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "OpportunityContactRole": "00K",
    "Task": "00T",
    "FeedItem": "0D5",
    "Event": "00U",
    "Case": "500",
    "Contract": "800",
    "CustomField": "00N",
    "AsyncApexJob": "750",
    "TaskStatus": "01J",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "FieldPermissions": "01k",
    "ObjectPermissions": "110",
    "AccountHistory": "017",  # every field history object's rows share the 017 prefix
    "OpportunityFieldHistory": "017",
}


def _system_fields() -> list[Field]:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    return [
        Field("Id", "id", length=18, nillable=False, **ro),
        Field("CreatedDate", "datetime", nillable=False, **ro),
        Field("LastModifiedDate", "datetime", nillable=False, **ro),
        Field("SystemModstamp", "datetime", nillable=False, **ro),
        Field("IsDeleted", "boolean", nillable=False, default=False, **ro),
    ]


# Field History Tracking (Object Reference: StandardObjectNameHistory): each tracked field's
# change is a row of the parent's history object, read-only, its values anyType. The seeded org
# tracks what an admin watching churn would: sentiment and budget status on Account, stage
# and amount on Opportunity.
HISTORY_OBJECTS = {"AccountHistory": "Account", "OpportunityFieldHistory": "Opportunity"}
SEEDED_TRACKING = {
    "Account": ("CS_Sentiment__c", "CS_Budget_Status__c"),
    "Opportunity": ("StageName", "Amount"),
}
MAX_TRACKED_FIELDS = 20  # per object, standard and custom together


def history_reference(parent: str) -> str:
    """The history object's field naming the changed record: AccountId, OpportunityId."""
    return f"{parent}Id"


def _history_fields(parent: str) -> list[Field]:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    return [
        _ref(history_reference(parent), parent, parent, nillable=False, **ro),
        Field("Field", "picklist", length=255, nillable=False, **ro),
        Field("OldValue", "anyType", length=255, **ro),
        Field("NewValue", "anyType", length=255, **ro),
        _ref("CreatedById", "User", "CreatedBy", nillable=False, **ro),
        Field("IsDeleted", "boolean", nillable=False, default=False, **ro),
    ]


def _ref(name: str, target: str, relationship: str, **kw: Any) -> Field:
    return Field(
        name, "reference", length=18, reference_to=(target,), relationship_name=relationship, **kw
    )


SEGMENTS = ("High Touch", "Low Touch", "Tech Touch")
OPPORTUNITY_STAGES = (
    "Prospecting",
    "Value Review",
    "Proposal",
    "Quote",
    "Customer Approval",
    "Closed Won",
    "Closed Lost",
)
MODULES = ("Payroll", "Year-end adjustment", "Attendance", "Labor", "Talent")
TASK_STATUSES = ("Not Started", "In Progress", "Waiting on someone else", "Deferred", "Completed")
CLOSED_TASK_STATUSES = ("Completed",)
TASK_PRIORITIES = ("High", "Normal", "Low")
ACTIVITY_TYPES = ("Call", "Email", "Meeting", "Other")
CASE_STATUSES = ("New", "Working", "Escalated", "Closed")
CLOSED_CASE_STATUSES = ("Closed",)
CASE_PRIORITIES = ("High", "Medium", "Low")
FISCAL_MONTHS = tuple(f"{m}月" for m in range(1, 13))
SUPPORT_PLANS = ("Standard", "Premium")
CONTACT_ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
    "Champion",
)  # "Champion" is an org-specific value, as it usually is.


def _cs_sync_fields(sobject: str) -> list[Field]:
    from cs_sync.connectors.settings import SalesforceFields
    from cs_sync.org_fields import required_fields
    from cs_sync.rules.phases import PRESETS, PhaseSettings, build_phases, phase_order

    # The sandbox org accepts the phase names of every preset, so either works in the demo.
    phase_names = [
        name
        for preset in PRESETS.values()
        for name in phase_order(build_phases(preset(PhaseSettings())))
    ]

    return [
        field_from_tooling(spec.metadata(), spec.name)
        for spec in required_fields(SalesforceFields(), phases=phase_names)
        if spec.sobject == sobject
    ]


def cs_sync_account_fields() -> list[Field]:
    """The Account fields `cs-sync setup salesforce` creates (the seeded org has them)."""
    return _cs_sync_fields("Account")


def remove_cs_sync_fields(objects: dict[str, dict[str, Field]]) -> None:
    """An org before `cs-sync setup salesforce`: none of cs-sync's own fields exist yet."""
    for definition in cs_sync_account_fields():
        objects["Account"].pop(definition.name, None)
    for definition in _cs_sync_fields("Task"):
        objects["Task"].pop(definition.name, None)


def _activity_fields() -> list[Field]:
    """What a Task and an Event share: the subject, the owner, and what and whom it is about
    (polymorphic lookups, read through the Name object)."""
    return [
        Field("Subject", "string", length=255),
        _ref("OwnerId", "User", "Owner", nillable=False, polymorphic=True),
        Field(
            "WhatId",
            "reference",
            length=18,
            reference_to=("Account", "Opportunity"),
            relationship_name="What",
            polymorphic=True,
        ),
        _ref("WhoId", "Contact", "Who", polymorphic=True),
    ]


def _account_of_activity() -> Field:
    """Task.AccountId / Event.AccountId: set by Salesforce from WhatId (an account, or the
    account of an opportunity) or the contact in WhoId; read-only."""
    return _ref("AccountId", "Account", "Account", createable=False, updateable=False)


def build_schema() -> dict[str, dict[str, Field]]:
    """Every object in the sandbox org with its fields, keyed by API name."""
    c: dict[str, Any] = {"custom": True}
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    objects: dict[str, list[Field]] = {
        "User": [
            Field("Name", "string", length=121, createable=False, updateable=False),
            Field("FirstName", "string", length=40),
            Field("LastName", "string", length=80, nillable=False),
            Field("Email", "email", length=80, nillable=False),
            Field("Username", "string", length=80, nillable=False, unique=True),
            Field("IsActive", "boolean", nillable=False, default=True),
            Field("Title", "string", length=80),
        ],
        "Account": [
            Field("Name", "string", length=255, nillable=False),
            Field(
                "Type",
                "picklist",
                picklist=(
                    "Prospect",
                    "Customer - Direct",
                    "Customer - Channel",
                    "Former Customer",
                    "Other",
                ),
            ),
            Field(
                "Industry",
                "picklist",
                picklist=(
                    "Manufacturing",
                    "Retail",
                    "Healthcare",
                    "Construction",
                    "Technology",
                    "Finance",
                    "Education",
                    "Hospitality",
                    "Logistics",
                    "Professional Services",
                ),
            ),
            Field("NumberOfEmployees", "int", precision=8),
            Field("BillingState", "string", length=80),
            _ref("OwnerId", "User", "Owner", nillable=False),
            Field("CS_External_Key__c", "string", length=40, external_id=True, unique=True, **c),
            Field("CS_Segment__c", "picklist", picklist=SEGMENTS, restricted=True, **c),
            Field("CS_ARR__c", "currency", precision=16, scale=0, **c),
            Field("CS_Seats__c", "double", precision=8, scale=0, **c),
            Field("CS_Contract_Start__c", "date", **c),
            Field("CS_Renewal_Date__c", "date", **c),
            _ref("CS_Sub_CSM__c", "User", "CS_Sub_CSM__r", **c),
            # The modules in the contract: a multi-select picklist, as admins often keep them.
            Field("CS_Modules__c", "multipicklist", picklist=MODULES, restricted=True, **c),
            # Fields a team keeps of its own, which cs-sync can read as signals: the
            # customer's fiscal-year-end month (決算月), their support plan, a risk flag CSMs
            # set, and the date of the last business review.
            Field("CS_Fiscal_Year_End__c", "picklist", picklist=FISCAL_MONTHS, **c),
            Field("CS_Support_Plan__c", "picklist", picklist=SUPPORT_PLANS, **c),
            Field("CS_Risk_Flag__c", "boolean", nillable=False, default=False, **c),
            Field("CS_Last_QBR__c", "date", **c),
            # Contract terms: a contract that renews itself unless cancelled (自動更新) and the
            # notice a cancellation needs (解約予告期間, days before the renewal date).
            Field("CS_Auto_Renew__c", "boolean", nillable=False, default=False, **c),
            Field("CS_Notice_Days__c", "double", precision=3, scale=0, **c),
            *cs_sync_account_fields(),
        ],
        "Contact": [
            _ref("AccountId", "Account", "Account"),
            Field("Name", "string", length=121, createable=False, updateable=False),
            Field("FirstName", "string", length=40),
            Field("LastName", "string", length=80, nillable=False),
            Field("Email", "email", length=80),
            Field("Title", "string", length=128),
            # the contact's latest NPS answer (0-10) and when it was given
            Field("CS_NPS__c", "double", precision=2, scale=0, custom=True),
            Field("CS_NPS_Date__c", "date", custom=True),
        ],
        "Opportunity": [
            _ref("AccountId", "Account", "Account"),
            Field("Name", "string", length=120, nillable=False),
            Field(
                "Type",
                "picklist",
                picklist=("New Business", "Renewal", "Existing Business", "Upsell"),
            ),
            Field("StageName", "picklist", picklist=OPPORTUNITY_STAGES, nillable=False),
            Field("CloseDate", "date", nillable=False),
            Field("Amount", "currency", precision=16, scale=0),
            Field("IsClosed", "boolean", createable=False, updateable=False, nillable=False),
            Field("IsWon", "boolean", createable=False, updateable=False, nillable=False),
            _ref("OwnerId", "User", "Owner", nillable=False),
        ],
        "OpportunityContactRole": [
            _ref("OpportunityId", "Opportunity", "Opportunity", nillable=False),
            _ref("ContactId", "Contact", "Contact", nillable=False),
            Field("Role", "picklist", picklist=CONTACT_ROLES),
            Field("IsPrimary", "boolean", nillable=False, default=False),
        ],
        "Task": [
            *_activity_fields(),
            Field("ActivityDate", "date"),
            Field(
                "Status",
                "picklist",
                picklist=TASK_STATUSES,
                restricted=True,
                nillable=False,
                default="Not Started",
            ),
            Field(
                "Priority",
                "picklist",
                picklist=TASK_PRIORITIES,
                restricted=True,
                nillable=False,
                default="Normal",
            ),
            Field("Description", "textarea", length=32000),
            Field("IsClosed", "boolean", createable=False, updateable=False, nillable=False),
            Field("Type", "picklist", picklist=ACTIVITY_TYPES),
            _account_of_activity(),
            *_cs_sync_fields("Task"),
        ],
        # A Chatter post on a record's feed (Object Reference: FeedItem): Body (10,000
        # characters) is required for a TextPost; whoever follows the record sees it.
        "FeedItem": [
            _ref("ParentId", "Account", "Parent", nillable=False),
            Field("Body", "textarea", length=10000, nillable=False),
            Field(
                "Type",
                "picklist",
                picklist=("TextPost", "LinkPost", "ContentPost"),
                restricted=True,
                default="TextPost",
            ),
            Field("IsRichText", "boolean", nillable=False, default=False),
        ],
        # Calendar events: meetings with the customer (Object Reference: Event).
        "Event": [
            *_activity_fields(),
            Field("ActivityDate", "date"),  # written for all-day events
            Field("ActivityDateTime", "datetime"),
            Field("DurationInMinutes", "int", precision=8),
            Field("Type", "picklist", picklist=ACTIVITY_TYPES),
            _account_of_activity(),
        ],
        # Support cases (Object Reference: Case); IsClosed follows the status.
        "Case": [
            _ref("AccountId", "Account", "Account"),
            _ref("ContactId", "Contact", "Contact"),
            _ref("OwnerId", "User", "Owner", nillable=False, polymorphic=True),
            Field("Subject", "string", length=255),
            Field("Status", "picklist", picklist=CASE_STATUSES, nillable=False, default="New"),
            Field("Priority", "picklist", picklist=CASE_PRIORITIES, default="Medium"),
            Field("IsEscalated", "boolean", nillable=False, default=False),
            Field("IsClosed", "boolean", createable=False, updateable=False, nillable=False),
            Field("ClosedDate", "datetime", createable=False, updateable=False),
        ],
        # The org's Task status values, as Setup > Task Fields > Status defines them; a
        # Task's IsClosed follows its status.
        "TaskStatus": [
            Field("MasterLabel", "string", length=255, **ro),
            Field("ApiName", "string", length=255, **ro),
            Field("IsClosed", "boolean", nillable=False, **ro),
            Field("IsDefault", "boolean", nillable=False, **ro),
            Field("SortOrder", "int", **ro),
        ],
        **_permission_objects(),
        **{name: _history_fields(parent) for name, parent in HISTORY_OBJECTS.items()},
    }
    built = {
        name: {f.name: f for f in _system_fields() + fields} for name, fields in objects.items()
    }
    for name in HISTORY_OBJECTS:  # a history row is written once: no modification stamps
        del built[name]["LastModifiedDate"], built[name]["SystemModstamp"]
    for sobject, names in SEEDED_TRACKING.items():
        for name in names:
            built[sobject][name] = replace(built[sobject][name], track_history=True)
    return built


PERMISSIONS = (
    "PermissionsViewAllData",
    "PermissionsModifyAllData",
    "PermissionsCustomizeApplication",
    "PermissionsAssignPermissionSets",
    "PermissionsManageProfilesPermissionsets",
)


def _permission_objects() -> dict[str, list[Field]]:
    """Who may see and change what: permission sets (a profile owns one too), their field and
    object permissions, and their assignments to users (Object Reference: PermissionSet,
    FieldPermissions, ObjectPermissions, PermissionSetAssignment)."""
    flag: dict[str, Any] = {"nillable": False, "default": False}
    return {
        "PermissionSet": [
            Field("Name", "string", length=80, nillable=False, unique=True),
            Field("Label", "string", length=80, nillable=False),
            Field("IsOwnedByProfile", "boolean", createable=False, updateable=False, **flag),
            *(Field(name, "boolean", **flag) for name in PERMISSIONS),
        ],
        "PermissionSetAssignment": [
            _ref("PermissionSetId", "PermissionSet", "PermissionSet", nillable=False),
            _ref("AssigneeId", "User", "Assignee", nillable=False),
        ],
        "FieldPermissions": [
            _ref("ParentId", "PermissionSet", "Parent", nillable=False),
            Field("SobjectType", "string", length=40, nillable=False),
            Field("Field", "string", length=120, nillable=False),
            Field("PermissionsRead", "boolean", **flag),
            Field("PermissionsEdit", "boolean", **flag),
        ],
        "ObjectPermissions": [
            _ref("ParentId", "PermissionSet", "Parent", nillable=False),
            Field("SobjectType", "string", length=40, nillable=False),
            *(
                Field(f"Permissions{name}", "boolean", **flag)
                for name in ("Read", "Create", "Edit", "ViewAllRecords", "ModifyAllRecords")
            ),
        ],
    }


@dataclass
class Schema:
    """The org's objects; custom fields can be added at run time (Tooling API)."""

    objects: dict[str, dict[str, Field]] = field(default_factory=build_schema)

    def lookup_object(self, name: str) -> str | None:
        for known in self.objects:
            if known.lower() == name.lower():
                return known
        return None

    def lookup_field(self, sobject: str, name: str) -> Field | None:
        fields = NAME_FIELDS if sobject == "Name" else self.objects[sobject]
        if name in fields:
            return fields[name]
        lowered = name.lower()
        for known, definition in fields.items():
            if known.lower() == lowered:
                return definition
        return None

    def lookup_relationship(self, sobject: str, name: str) -> Field | None:
        lowered = name.lower()
        for definition in self.objects.get(sobject, {}).values():
            if definition.relationship_name and definition.relationship_name.lower() == lowered:
                return definition
        return None
