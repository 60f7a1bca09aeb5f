"""Developer metadata in the sandbox's spreadsheets: key-value pairs kept on a sheet (or the
whole spreadsheet), created and deleted by batchUpdate, read back with the spreadsheet's
metadata, gone with their sheet (Sheets API: spreadsheets.developerMetadata)."""

from __future__ import annotations

from typing import Any

VISIBILITIES = ("DOCUMENT", "PROJECT")


class MetadataError(Exception):
    """A request Google answers 400 to."""


def metadata_request(book: dict[str, Any], kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Carry out a createDeveloperMetadata or deleteDeveloperMetadata request; its reply."""
    if kind == "createDeveloperMetadata":
        return {"createDeveloperMetadata": {"developerMetadata": _create(book, spec)}}
    filters = spec.get("dataFilter") or {}
    lookup = filters.get("developerMetadataLookup")
    if not isinstance(lookup, dict) or not lookup:
        raise MetadataError("Invalid dataFilter: a developerMetadataLookup is required")
    deleted: list[dict[str, Any]] = []
    for holder in _holders(book):
        kept: list[dict[str, Any]] = []
        for item in holder.get("developerMetadata", []):
            (deleted if _matches(item, lookup) else kept).append(item)
        if kept:
            holder["developerMetadata"] = kept
        else:
            holder.pop("developerMetadata", None)
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": deleted}}


def _create(book: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    item = dict(spec.get("developerMetadata") or {})
    if not item.get("metadataKey"):
        raise MetadataError("Developer metadata must always have a key specified.")
    if item.get("visibility") not in VISIBILITIES:
        raise MetadataError("Developer metadata must always have a visibility specified.")
    location = item.get("location") or {}
    if location.get("spreadsheet"):
        holder = book
        item["location"] = {"locationType": "SPREADSHEET", "spreadsheet": True}
    elif "sheetId" in location:
        holder = next(
            (s for s in book["sheets"] if s["properties"]["sheetId"] == location["sheetId"]), {}
        )
        if not holder:
            raise MetadataError(f"No grid with id: {location['sheetId']}")
        item["location"] = {"locationType": "SHEET", "sheetId": location["sheetId"]}
    else:
        raise MetadataError("The sandbox keeps developer metadata on a sheet or the spreadsheet")
    taken = {m["metadataId"] for h in _holders(book) for m in h.get("developerMetadata", [])}
    if "metadataId" in item:
        if item["metadataId"] in taken or int(item["metadataId"]) <= 0:
            raise MetadataError(f"Invalid metadataId: {item['metadataId']}")
    else:
        item["metadataId"] = max(taken, default=1000) + 7
    holder.setdefault("developerMetadata", []).append(item)
    return item


def _holders(book: dict[str, Any]) -> list[dict[str, Any]]:
    return [book, *book["sheets"]]


def _matches(item: dict[str, Any], lookup: dict[str, Any]) -> bool:
    location = lookup.get("metadataLocation") or {}
    return (
        lookup.get("metadataId", item["metadataId"]) == item["metadataId"]
        and lookup.get("metadataKey", item["metadataKey"]) == item["metadataKey"]
        and location.get("sheetId", item["location"].get("sheetId"))
        == item["location"].get("sheetId")
    )


def sheet_metadata(sheet: dict[str, Any]) -> dict[str, Any]:
    """A sheet as spreadsheets.get shows it: its properties, its metadata when it has any."""
    shown: dict[str, Any] = {"properties": sheet["properties"]}
    if sheet.get("developerMetadata"):
        shown["developerMetadata"] = sheet["developerMetadata"]
    return shown
