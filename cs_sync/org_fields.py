"""The custom fields cs-sync needs in a Salesforce org, as Tooling API metadata.

One definition serves `cs-sync setup salesforce` (which creates what is missing),
`cs-sync doctor` (which checks what is there) and the sandbox (whose seeded org has them).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from cs_sync.connectors.settings import SalesforceFields
from cs_sync.rules.renewal import DEFAULT_STRATEGIES

# The permission set `cs-sync setup salesforce --apply` creates to give the integration user
# Read and Edit on these fields (a new field is hidden from every user until granted).
PERMISSION_SET = "CS_Sync_Integration"
PERMISSION_SET_LABEL = "cs-sync integration"
TRENDS = ("Up", "Flat", "Down", "New")
# The lifecycle preset's phases in the order rules.phases.phase_order lists them.
PHASES = ("Onboarding", "Adoption", "Self-running", "Advocate", "Dormant", "Renewal window")
BUDGET_STATUSES = ("Secured", "Planned", "Unknown", "Cut")
SENTIMENTS = ("Positive", "Neutral", "Negative")
STRATEGIES = tuple(name for name, _ in DEFAULT_STRATEGIES)
DEFAULT_GRADES = ("A", "B", "C", "D")

# What describe() reports for each Tooling API type.
DESCRIBE_TYPES = {
    "Number": "double",
    "Text": "string",
    "LongTextArea": "textarea",
    "Picklist": "picklist",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
}


@dataclass(frozen=True)
class FieldSpec:
    sobject: str  # "Account" or "Task"
    name: str
    label: str
    type: str  # a Tooling API CustomField type
    purpose: str  # "written" (cs-sync owns it) or "read" (CSMs / admins own it)
    description: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    values: tuple[str, ...] = ()
    external_id: bool = False

    @property
    def full_name(self) -> str:
        # Custom fields of Task are defined on the Activity object.
        return f"{'Activity' if self.sobject == 'Task' else self.sobject}.{self.name}"

    @property
    def describe_type(self) -> str:
        return DESCRIBE_TYPES[self.type]

    def summary(self) -> str:
        if self.type == "Number":
            return f"Number({self.precision - self.scale},{self.scale})"
        if self.type in ("Text", "LongTextArea"):
            return f"{self.type}({self.length})" + (
                " external id, unique" if self.external_id else ""
            )
        if self.type == "Picklist":
            return f"Picklist (restricted): {', '.join(self.values)}"
        return self.type

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "label": self.label,
            "type": self.type,
            "description": self.description,
        }
        if self.type == "Number":
            meta.update(precision=self.precision, scale=self.scale)
        elif self.type == "Text":
            meta.update(length=self.length)
        elif self.type == "LongTextArea":
            meta.update(length=self.length, visibleLines=3)
        elif self.type == "Checkbox":
            meta.update(defaultValue="false")
        elif self.type == "Picklist":
            meta["valueSet"] = {
                "restricted": True,
                "valueSetDefinition": {
                    "sorted": False,
                    "value": [{"fullName": v, "label": v, "default": False} for v in self.values],
                },
            }
        if self.external_id:
            meta.update(externalId=True, unique=True)
        return meta


def required_fields(
    fields: SalesforceFields,
    grades: Sequence[str] = DEFAULT_GRADES,
    phases: Sequence[str] = PHASES,
    strategies: Sequence[str] = STRATEGIES,
) -> list[FieldSpec]:
    """cs-sync's own fields under the API names the configuration gives them: those it
    writes, and those CSMs fill in for it (override, budget, sentiment, busy months…)."""
    grade_values = tuple(grades)
    w, r = "written", "read"
    return [
        FieldSpec(
            "Account",
            fields.score,
            "CS Health Score",
            "Number",
            w,
            "Health score 0-100 computed by cs-sync",
            precision=5,
            scale=1,
        ),
        FieldSpec(
            "Account",
            fields.grade,
            "CS Health Grade",
            "Picklist",
            w,
            "Health grade computed by cs-sync (or the CSM override)",
            values=grade_values,
        ),
        FieldSpec(
            "Account",
            fields.trend,
            "CS Health Trend",
            "Picklist",
            w,
            "Direction of the last score change",
            values=TRENDS,
        ),
        FieldSpec(
            "Account",
            fields.reasons,
            "CS Health Reasons",
            "LongTextArea",
            w,
            "Why the account has its grade, in one sentence",
            length=1000,
        ),
        FieldSpec(
            "Account",
            fields.phase,
            "CS Phase",
            "Picklist",
            w,
            "Lifecycle phase",
            values=tuple(phases),
        ),
        FieldSpec(
            "Account",
            fields.phase_delayed,
            "CS Phase Delayed",
            "Checkbox",
            w,
            "The phase milestone is behind schedule",
        ),
        FieldSpec(
            "Account",
            fields.renewal_strategy,
            "CS Renewal Strategy",
            "Picklist",
            w,
            "Renewal strategy for the next renewal",
            values=tuple(strategies),
        ),
        FieldSpec(
            "Account",
            fields.next_action,
            "CS Next Action",
            "Text",
            w,
            "The next renewal step",
            length=255,
        ),
        FieldSpec(
            "Account",
            fields.next_action_date,
            "CS Next Action Date",
            "Date",
            w,
            "When the next renewal step is due",
        ),
        FieldSpec(
            "Account",
            fields.last_synced,
            "CS Last Synced",
            "DateTime",
            w,
            "When cs-sync last changed this account",
        ),
        FieldSpec(
            "Account",
            fields.override_grade,
            "CS Override Grade",
            "Picklist",
            r,
            "A CSM's grade; cs-sync keeps it until the expiry date",
            values=grade_values,
        ),
        FieldSpec(
            "Account",
            fields.override_reason,
            "CS Override Reason",
            "Text",
            r,
            "Why the CSM overrode the grade",
            length=255,
        ),
        FieldSpec(
            "Account",
            fields.override_expiry,
            "CS Override Expiry",
            "Date",
            r,
            "Last day the override counts",
        ),
        FieldSpec(
            "Account",
            fields.budget_status,
            "CS Budget Status",
            "Picklist",
            r,
            "Next year's budget for this product (renewal strategy)",
            values=BUDGET_STATUSES,
        ),
        FieldSpec(
            "Account",
            fields.sentiment,
            "CS Sentiment",
            "Picklist",
            r,
            "The CSM's reading of how the customer rates the product",
            values=SENTIMENTS,
        ),
        FieldSpec(
            "Account",
            fields.busy_months,
            "CS Busy Months",
            "Text",
            r,
            "Months nothing can be asked of the customer, e.g. 3,12",
            length=40,
        ),
        FieldSpec(
            "Account",
            fields.approval_lead_days,
            "CS Approval Lead Days",
            "Number",
            r,
            "Days the customer's internal approval (ringi) takes",
            precision=4,
            scale=0,
        ),
        FieldSpec(
            "Task",
            fields.task_key,
            "CS Sync Key",
            "Text",
            w,
            "Keeps each cs-sync follow-up unique (rule:account:period)",
            length=255,
            external_id=True,
        ),
    ]


def input_fields(fields: SalesforceFields) -> list[tuple[str, str]]:
    """Account fields cs-sync reads that belong to the org (mapped in config): (key, API name)."""
    return [
        (key, getattr(fields, key))
        for key in (
            "arr",
            "seats",
            "contract_start",
            "renewal_date",
            "segment",
            "sub_csm",
            "external_key",
        )
    ] + list(fields.own_inputs().items())


def unseen_inputs(fields: SalesforceFields, seen: Collection[str]) -> list[tuple[str, str]]:
    """The mapped input fields (key, API name) absent from `seen`, the lower-cased names of
    the fields the integration user can see on Account (its describe)."""
    return [(key, name) for key, name in input_fields(fields) if name and name.lower() not in seen]
