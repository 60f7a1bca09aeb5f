"""A field of the sandbox org, shaped like a Salesforce describe result's field: its type,
lengths, picklist values, references and what describe says of it (filterable, groupable,
idLookup), and a custom field made from a Tooling API CustomField body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # id string textarea email double currency percent int date datetime boolean
    #            picklist multipicklist reference
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    external_id: bool = False
    unique: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    label: str = ""
    custom: bool = False
    default: Any = None
    polymorphic: bool = False  # a lookup to several objects (Task.What): read through Name
    track_history: bool = False  # Field History Tracking on: each change is a history row

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "length": self.length,
            "precision": self.precision,
            "scale": self.scale,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.name == "Id" or self.external_id,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "polymorphicForeignKey": self.polymorphic,
            "filterable": self.type != "anyType"
            and not (self.type == "textarea" and self.length > 255),
            "groupable": self.type not in UNGROUPABLE,
            "restrictedPicklist": self.restricted,
            "defaultValue": self.default,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == self.default,
                    "label": value,
                    "validFor": None,
                    "value": value,
                }
                for value in self.picklist
            ],
        }


# What describe calls groupable: false, as GROUP BY refuses it.
UNGROUPABLE = frozenset(
    {"double", "currency", "percent", "datetime", "textarea", "multipicklist", "anyType"}
)

# Fields read through a polymorphic lookup (Task.What.Type) are those of the Name object.
NAME_FIELDS = {
    f.name: f
    for f in (
        Field("Id", "id", length=18),
        Field("Name", "string", length=255),
        Field("Type", "string", length=40),
        Field("Alias", "string", length=8),
        Field("Email", "email", length=80),
        Field("FirstName", "string", length=40),
        Field("LastName", "string", length=80),
        Field("IsActive", "boolean"),
        Field("Title", "string", length=80),
        Field("Username", "string", length=80),
    )
}


def target_of(reference: Field) -> str:
    """The object a relationship path continues on: the referenced one, or Name for a
    polymorphic lookup."""
    return "Name" if reference.polymorphic else reference.reference_to[0]


def field_from_tooling(metadata: dict[str, Any], api_name: str) -> Field:
    """A Field from a Tooling API CustomField `Metadata` body (the subset cs-sync sends)."""
    kind = str(metadata.get("type", "Text"))
    kinds = {
        "Text": "string",
        "TextArea": "textarea",
        "LongTextArea": "textarea",
        "Number": "double",
        "Currency": "currency",
        "Percent": "percent",
        "Checkbox": "boolean",
        "Date": "date",
        "DateTime": "datetime",
        "Picklist": "picklist",
        "Email": "email",
    }
    if kind not in kinds:
        raise ValueError(f"unsupported CustomField type {kind!r}")
    picklist: tuple[str, ...] = ()
    restricted = False
    value_set = metadata.get("valueSet")
    if kind == "Picklist":
        if not isinstance(value_set, dict):
            raise ValueError("a Picklist CustomField needs Metadata.valueSet")
        definition = value_set.get("valueSetDefinition") or {}
        picklist = tuple(str(v.get("fullName")) for v in definition.get("value", []))
        restricted = bool(value_set.get("restricted", False))
    return Field(
        api_name,
        kinds[kind],
        length=int(metadata.get("length") or (32768 if kind == "LongTextArea" else 0)),
        precision=int(metadata.get("precision") or 0),
        scale=int(metadata.get("scale") or 0),
        picklist=picklist,
        restricted=restricted,
        external_id=bool(metadata.get("externalId", False)),
        unique=bool(metadata.get("unique", False)),
        label=str(metadata.get("label") or ""),
        custom=True,
        nillable=kind != "Checkbox",
        default=False if kind == "Checkbox" else None,
        track_history=bool(metadata.get("trackHistory", False)),
    )
