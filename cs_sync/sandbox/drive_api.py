"""Google Drive v3, as `cs-sync setup dashboard` calls it through google-api-python-client:
files.create / get / list and permissions.create / list / update, every request checked
against the Drive v3 discovery document (query parameters, body fields and their types, the
fields a method requires) and answered with Drive's own error bodies.

What the sandbox holds to, each cited in docs/sandbox-fidelity.md:
- a service account owns nothing: creating a file in My Drive, even in a folder shared
  with it, is refused with 403 storageQuotaExceeded; in a shared drive the drive owns the
  file and a member with at least the writer role may create it;
- shared-drive items are invisible (404 notFound) unless the request says
  supportsAllDrives=true, and are listed only with includeItemsFromAllDrives=true;
- a response carries only the default fields unless `fields` asks for more; a field it does
  not know is refused;
- a permission for a grantee who already has one updates it (same id); sharing with an
  address that has no Google account needs the notification e-mail;
- a new Google Sheets file is a spreadsheet the Sheets stand-in serves, with one sheet, and
  its `version` counts every change the Sheets stand-in saved;
- with the switch `drive_disabled`, Drive answers as when its API is not enabled in the
  caller's project (403 accessNotConfigured).

The state is one JSON value in the sandbox's meta table (a few files at most).
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from cs_sync.sandbox.discovery import (
    missing_required,
    schema_fields,
    unknown_parameters,
    validate,
)
from cs_sync.sandbox.drive_query import QueryError, query
from cs_sync.sandbox.drive_query import selection as parse_selection
from cs_sync.sandbox.faults import Faults
from cs_sync.sandbox.http_types import Request, Response
from cs_sync.sandbox.sheets_api import new_spreadsheet
from cs_sync.sandbox.store import OrgStore

SPREADSHEET = "application/vnd.google-apps.spreadsheet"
FOLDER = "application/vnd.google-apps.folder"
ROLES = ("reader", "commenter", "writer", "fileOrganizer", "organizer", "owner")
API = "drive.v3"
STORAGE_QUOTA = (
    "Service Accounts do not have storage quota. Leverage shared drives "
    "(https://developers.google.com/workspace/drive/api/guides/about-shareddrives), or use "
    "OAuth delegation (http://support.google.com/a/answer/7281227) instead."
)
# The fields a response carries when the request names none.
DEFAULT_FILE_FIELDS = ("kind", "id", "name", "mimeType")
DEFAULT_PERMISSION_FIELDS = ("kind", "id", "type", "role")
_LIST_FIELDS = {
    "files": "kind nextPageToken incompleteSearch files",
    "permissions": "kind nextPageToken permissions",
}


class DriveError(Exception):
    def __init__(self, status: int, message: str, reason: str, location: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.reason, self.location = status, message, reason, location

    def response(self) -> Response:
        item: dict[str, Any] = {"message": self.message, "domain": "global", "reason": self.reason}
        if self.reason == "storageQuotaExceeded":
            item["domain"] = "usageLimits"
        if self.location:
            item |= {"location": self.location, "locationType": "parameter"}
        return Response.of_json(
            self.status, {"error": {"code": self.status, "message": self.message, "errors": [item]}}
        )


def not_found(file_id: str) -> DriveError:
    return DriveError(404, f"File not found: {file_id}.", "notFound", "fileId")


def disabled() -> Response:
    """Drive's answer when its API is not enabled in the caller's project."""
    project = "123456789012"
    message = (
        f"Google Drive API has not been used in project {project} before or it is disabled. "
        "Enable it by visiting https://console.developers.google.com/apis/api/"
        f"drive.googleapis.com/overview?project={project} then retry. If you enabled this API "
        "recently, wait a few minutes for the action to propagate to our systems and retry."
    )
    item = {
        "message": message,
        "domain": "usageLimits",
        "reason": "accessNotConfigured",
        "extendedHelp": "https://console.developers.google.com",
    }
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "SERVICE_DISABLED",
        "domain": "googleapis.com",
        "metadata": {"service": "drive.googleapis.com", "consumer": f"projects/{project}"},
    }
    body = {"code": 403, "message": message, "errors": [item], "status": "PERMISSION_DENIED"}
    return Response.of_json(403, {"error": {**body, "details": [detail]}})


def is_service_account(address: str) -> bool:
    return address.endswith(".gserviceaccount.com")


def new_drive_state(caller: str, accounts: list[str]) -> dict[str, Any]:
    """An empty Drive: `caller` is who the requests come from, `accounts` the addresses that
    have a Google account."""
    return {"caller": caller, "accounts": accounts, "drives": {}, "files": {}, "sent": []}


def add_shared_drive(
    state: dict[str, Any], drive_id: str, name: str, members: dict[str, str]
) -> None:
    state["drives"][drive_id] = {"name": name, "members": members}


def add_file(
    state: dict[str, Any], file_id: str, name: str, mime_type: str, parent: str
) -> dict[str, Any]:
    """A file or folder under `parent` (a shared drive, or a folder of one)."""
    drive_id = parent if parent in state["drives"] else state["files"][parent]["driveId"]
    entry: dict[str, Any] = {
        "id": file_id,
        "name": name,
        "mimeType": mime_type,
        "parents": [parent],
        "driveId": drive_id,
        "owners": [],
        "appProperties": {},
        "trashed": False,
        "permissions": [],
    }
    state["files"][file_id] = entry
    return entry


class DriveApi:
    def __init__(self, store: OrgStore, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    def handles(self, path: str) -> bool:
        return path.startswith("/drive/v3/")

    def handle(self, request: Request, host: str) -> Response:
        parts = request.path.removeprefix("/drive/v3/").strip("/").split("/")
        route = {
            ("GET", 1): "drive.files.list",
            ("POST", 1): "drive.files.create",
            ("GET", 2): "drive.files.get",
            ("GET", 3): "drive.permissions.list",
            ("POST", 3): "drive.permissions.create",
            ("PATCH", 4): "drive.permissions.update",
        }.get((request.method, len(parts)))
        if parts[0] != "files" or route is None or (len(parts) >= 3 and parts[2] != "permissions"):
            return DriveError(404, "Not Found", "notFound").response()
        if self.faults.take("drive_disabled"):
            return disabled()
        problems = unknown_parameters(API, route, sorted(request.query))
        if problems:
            return DriveError(400, problems[0], "badRequest").response()
        with self.store.lock:
            state = self.store.get_meta("drive") or new_drive_state("", [])
            try:
                answer = _Call(self.store, state, request, parts[1:]).run(route)
            except DriveError as error:
                return error.response()
            self.store.set_meta("drive", state)
        return Response.of_json(200, answer)


class _Call:
    """One request against the Drive state."""

    def __init__(
        self, store: OrgStore, state: dict[str, Any], request: Request, ids: list[str]
    ) -> None:
        self.store, self.state, self.request, self.ids = store, state, request, ids
        self.caller = str(state["caller"])
        self.all_drives = request.param("supportsAllDrives") == "true"

    def run(self, route: str) -> dict[str, Any]:
        name = route.split(".", 1)[1].replace(".", "_")
        return dict(getattr(self, name)())

    # ------------------------------------------------------------------ access

    def role_on(self, entry: dict[str, Any]) -> str | None:
        """The caller's best role on a file (None: cannot see it)."""
        ranks: list[int] = []
        if entry.get("driveId"):
            member = self.state["drives"][entry["driveId"]]["members"].get(self.caller)
            if member:
                ranks.append(ROLES.index(member))
        if self.caller in entry.get("owners", []):
            ranks.append(ROLES.index("owner"))
        walk: dict[str, Any] | None = entry
        while walk is not None:
            for grant in walk["permissions"]:
                if grant["type"] == "user" and grant.get("emailAddress") == self.caller:
                    ranks.append(ROLES.index(grant["role"]))
            parent = walk["parents"][0] if walk["parents"] else None
            walk = self.state["files"].get(parent) if parent else None
        return ROLES[max(ranks)] if ranks else None

    def visible(self, file_id: str) -> dict[str, Any]:
        if file_id in self.state["drives"]:
            if not self.all_drives or self.caller not in self.state["drives"][file_id]["members"]:
                raise not_found(file_id)
            return {
                "id": file_id,
                "driveId": file_id,
                "mimeType": FOLDER,
                "parents": [],
                "permissions": [],
            }
        entry = self.state["files"].get(file_id)
        if entry is None or self.role_on(entry) is None:
            raise not_found(file_id)
        if entry.get("driveId") and not self.all_drives:
            raise not_found(file_id)
        return dict(entry)

    def can_write(self, entry: dict[str, Any]) -> None:
        role = (
            self.state["drives"][entry["id"]]["members"][self.caller]
            if entry["id"] in self.state["drives"]
            else self.role_on(entry)
        )
        if role is None or ROLES.index(role) < ROLES.index("writer"):
            raise DriveError(
                403,
                "The user does not have sufficient permissions for this file.",
                "insufficientFilePermissions",
            )

    # ------------------------------------------------------------------ files

    def files_create(self) -> dict[str, Any]:
        body = self.body("File", "drive.files.create")
        parents = list(body.get("parents") or [])
        if len(parents) > 1:
            raise DriveError(
                403, "Increasing the number of parents is not allowed.", "cannotAddParent"
            )
        if not parents:  # the caller's own My Drive
            if is_service_account(self.caller):
                raise DriveError(403, STORAGE_QUOTA, "storageQuotaExceeded")
            drive_id = None
        else:
            parent = self.visible(parents[0])
            if parent["mimeType"] != FOLDER:
                raise DriveError(
                    400, "The specified parent is not a folder.", "invalidParent", "parents"
                )
            self.can_write(parent)
            drive_id = parent.get("driveId")
            if drive_id is None and is_service_account(self.caller):
                raise DriveError(403, STORAGE_QUOTA, "storageQuotaExceeded")
        file_id = self.new_id("1", 44)
        entry: dict[str, Any] = {
            "id": file_id,
            "name": str(body.get("name") or "Untitled"),
            "mimeType": str(body.get("mimeType") or "application/octet-stream"),
            "parents": parents,
            "driveId": drive_id,
            "owners": [] if drive_id else [self.caller],
            "appProperties": dict(body.get("appProperties") or {}),
            "trashed": False,
            "permissions": [],
        }
        if drive_id is None:
            entry["permissions"].append(self.grant("user", self.caller, "owner"))
        self.state["files"][file_id] = entry
        if entry["mimeType"] == SPREADSHEET:
            self.store.save_spreadsheet(
                file_id, new_spreadsheet(file_id, entry["name"], ["Sheet1"])
            )
        return self.shape_file(entry, self.fields(DEFAULT_FILE_FIELDS))

    def files_get(self) -> dict[str, Any]:
        return self.shape_file(self.visible(self.ids[0]), self.fields(DEFAULT_FILE_FIELDS))

    def files_list(self) -> dict[str, Any]:
        corpora = self.request.param("corpora") or "user"
        drive_id = self.request.param("driveId")
        if (corpora == "drive") != (drive_id is not None):
            raise DriveError(
                400,
                "The driveId parameter must be specified if and only if corpora is set to drive.",
                "invalid",
                "driveId",
            )
        shared = self.request.param("includeItemsFromAllDrives") == "true" and self.all_drives
        try:
            test = query(self.request.param("q") or "")
        except QueryError:
            raise DriveError(400, "Invalid Value", "invalid", "q") from None
        found = [
            entry
            for entry in self.state["files"].values()
            if self.role_on(entry) is not None
            and (shared if entry.get("driveId") else corpora != "drive")
            and (drive_id is None or entry.get("driveId") == drive_id)
            and test(entry)
        ]
        wanted = self.fields(("kind", "incompleteSearch", "files"), listing="files")
        start = int(self.request.param("pageToken") or 0)
        size = min(int(self.request.param("pageSize") or 100), 1000)
        page = found[start : start + size]
        answer: dict[str, Any] = {"kind": "drive#fileList", "incompleteSearch": False}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        inner = wanted.get("files") or {name: None for name in DEFAULT_FILE_FIELDS}
        answer["files"] = [self.shape_file(entry, inner) for entry in page]
        return {key: value for key, value in answer.items() if key in wanted}

    # ------------------------------------------------------------------ permissions

    def permissions_list(self) -> dict[str, Any]:
        entry = self.visible(self.ids[0])
        grants = [dict(grant) for grant in entry["permissions"]]
        if entry.get("driveId"):
            for address, role in self.state["drives"][entry["driveId"]]["members"].items():
                grant = self.grant(
                    "group" if address.startswith("group:") else "user", address, role
                )
                grant["permissionDetails"] = [
                    {
                        "permissionType": "member",
                        "role": role,
                        "inherited": True,
                        "inheritedFrom": entry["driveId"],
                    }
                ]
                grants.append(grant)
        wanted = self.fields(("kind", "permissions"), listing="permissions")
        inner = wanted.get("permissions") or {name: None for name in DEFAULT_PERMISSION_FIELDS}
        answer = {
            "kind": "drive#permissionList",
            "permissions": [_pick(grant, inner) for grant in grants],
        }
        return {key: value for key, value in answer.items() if key in wanted}

    def permissions_create(self) -> dict[str, Any]:
        entry = self.state["files"].get(self.ids[0]) or {}
        self.visible(self.ids[0])
        self.can_write(entry)
        body = self.body("Permission", "drive.permissions.create")
        kind, role = str(body["type"]), str(body["role"])
        if role not in ROLES:
            raise DriveError(
                400, f"The value of the parameter 'role' is invalid: {role}", "invalid"
            )
        if kind in ("user", "group"):
            grantee = str(body.get("emailAddress") or "")
            if not grantee:
                raise DriveError(400, "The permission emailAddress field is required.", "required")
        elif kind == "domain":
            grantee = str(body.get("domain") or "")
            if not grantee:
                raise DriveError(400, "The permission domain field is required.", "required")
        else:
            grantee = ""
        notify = self.request.param("sendNotificationEmail") != "false"
        if (
            kind in ("user", "group")
            and not notify
            and grantee.lower() not in self.state["accounts"]
        ):
            raise DriveError(
                400,
                f'Bad Request. User message: "You are trying to invite {grantee}. Since there is '
                "no Google account associated with this email address, you must check the "
                '"Notify people" box to invite this recipient."',
                "invalidSharingRequest",
            )
        grant = self.grant(kind, grantee, role)
        entry["permissions"] = [g for g in entry["permissions"] if g["id"] != grant["id"]] + [grant]
        if notify and kind in ("user", "group"):
            self.state["sent"].append({"to": grantee, "file": entry["id"]})
        return _pick(grant, self.fields(DEFAULT_PERMISSION_FIELDS))

    def permissions_update(self) -> dict[str, Any]:
        entry = self.state["files"].get(self.ids[0]) or {}
        self.visible(self.ids[0])
        self.can_write(entry)
        body = self.body("Permission", "drive.permissions.update")
        for grant in entry["permissions"]:
            if grant["id"] == self.ids[2]:
                grant["role"] = str(body.get("role") or grant["role"])
                return _pick(grant, self.fields(DEFAULT_PERMISSION_FIELDS))
        raise DriveError(404, f"Permission not found: {self.ids[2]}.", "notFound", "permissionId")

    # ------------------------------------------------------------------ helpers

    def body(self, schema: str, method_id: str) -> dict[str, Any]:
        value = self.request.json() or {}
        problems = validate(API, schema, value)
        if problems:
            raise DriveError(400, problems[0], "badRequest")
        missing = missing_required(API, schema, method_id, value)
        if missing:
            noun = schema.lower()
            raise DriveError(400, f"The {noun} {missing[0]} field is required.", "required")
        return dict(value)

    def grant(self, kind: str, grantee: str, role: str) -> dict[str, Any]:
        digits = int(hashlib.sha256(f"{kind}:{grantee.lower()}".encode()).hexdigest()[:15], 16)
        grant = {"kind": "drive#permission", "id": str(digits), "type": kind, "role": role}
        if kind == "domain":
            grant["domain"] = grantee
        elif grantee:
            grant["emailAddress"] = grantee.removeprefix("group:")
        return grant

    def new_id(self, prefix: str, length: int) -> str:
        self.state["next"] = int(self.state.get("next", 0)) + 1
        digest = hashlib.sha256(f"drive-{self.state['next']}".encode()).hexdigest()
        return (prefix + digest)[:length]

    def fields(self, default: tuple[str, ...], listing: str | None = None) -> dict[str, Any]:
        """The `fields` parameter as {name: inner selection or None}; unknown names refused."""
        text = self.request.param("fields")
        if not text:
            return {name: None for name in default}
        selection = parse_selection(text)
        known = set(_LIST_FIELDS[listing].split()) if listing else _file_or_permission_fields()
        for name, inner in selection.items():
            if name != "*" and name not in known:
                raise DriveError(
                    400, f"Invalid field selection {name}", "invalidParameter", "fields"
                )
            for inner_name in inner or {}:
                if inner_name != "*" and inner_name not in _file_or_permission_fields():
                    raise DriveError(
                        400, f"Invalid field selection {inner_name}", "invalidParameter", "fields"
                    )
        if "*" in selection:
            return {name: None for name in known}
        return selection

    def shape_file(self, entry: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
        shown = {key: value for key, value in entry.items() if key != "permissions"}
        shown["kind"] = "drive#file"
        shown["version"] = "1"  # int64, sent as a string
        if entry["mimeType"] == SPREADSHEET:  # every change the Sheets stand-in saved
            book = self.store.load_spreadsheet(entry["id"])
            shown["version"] = str(book.get("driveVersion", 1) if book else 1)
        if not shown.get("driveId"):
            shown.pop("driveId", None)
        if not shown.get("appProperties"):
            shown.pop("appProperties", None)
        return _pick(shown, wanted)


@cache
def _file_or_permission_fields() -> frozenset[str]:
    """The fields a `fields` selection may name: those of File and Permission."""
    return frozenset(schema_fields(API, "File")) | frozenset(schema_fields(API, "Permission"))


def _pick(value: dict[str, Any], wanted: dict[str, Any] | None) -> dict[str, Any]:
    if not wanted or "*" in wanted:
        return dict(value)
    return {key: value[key] for key in wanted if key in value}
