"""Google Drive v3 for `cs-sync setup dashboard`, through google-api-python-client (its bundled
discovery document: no network call to build the client): find, create and share the KPI
spreadsheet.

Every call asks for shared-drive items too (supportsAllDrives), names the fields it reads,
and goes through the project's one Google error mapping and retry policy. The spreadsheet
cs-sync creates carries the app property cs_sync=kpi_dashboard, which is how a rerun (or a
retry after a lost answer) finds it instead of creating a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cs_sync.connectors.google_calls import (
    GoogleTarget,
    account_of,
    call_google,
    google_credentials,
    google_error,
)
from cs_sync.connectors.transport import SessionHttp, build_session, configure_session
from cs_sync.errors import CsSyncError, InputError

DRIVE_SCOPES = ["https://www.googleapis.com/auth/drive"]
SPREADSHEET = "application/vnd.google-apps.spreadsheet"
MARKER_KEY, MARKER_VALUE = "cs_sync", "kpi_dashboard"
FILE_FIELDS = "id, name, mimeType, trashed, driveId, parents"
PERMISSION_FIELDS = "id, type, role, emailAddress, domain, permissionDetails"


@dataclass(frozen=True)
class Grant:
    """One permission on a file: type user / group / domain, the address or domain, the role,
    and whether it comes from the shared drive's membership."""

    kind: str
    grantee: str
    role: str
    permission_id: str
    inherited: bool = False


def drive_service(credentials_file: Path | None, sandbox_url: str | None) -> tuple[Any, str]:
    """The Drive v3 client over cs-sync's HTTP session (timeouts; with the sandbox's address
    the Google hosts are routed to it, without credentials), or with the service account's key
    or the environment's credentials; and the account it calls as, for messages."""
    from googleapiclient.discovery import build

    account = "the sandbox's service account"
    if sandbox_url is not None:
        session = build_session(sandbox_url)
    else:
        from google.auth.transport.requests import AuthorizedSession

        credentials = google_credentials(
            credentials_file, DRIVE_SCOPES, "dashboard.credentials_file"
        )
        session = configure_session(AuthorizedSession(credentials), None, None)
        account = account_of(credentials)
    service = build(
        "drive", "v3", http=SessionHttp(session), static_discovery=True, cache_discovery=False
    )
    return service, account


class Drive:
    """The Drive calls setup makes, each retried when transient and named when it fails."""

    def __init__(self, service: Any, account: str) -> None:
        self.service = service
        self.target = GoogleTarget(
            "Google Drive", account, "access to the folder or spreadsheet", "dashboard"
        )

    def _call(self, doing: str, request: Any, setting: str) -> Any:
        target = GoogleTarget(self.target.service, self.target.account, self.target.role, setting)
        return call_google(request.execute, doing, target)

    def file(self, file_id: str, setting: str) -> dict[str, Any]:
        files = self.service.files()
        request = files.get(fileId=file_id, supportsAllDrives=True, fields=FILE_FIELDS)
        return dict(self._call(f"reading file {file_id}", request, setting))

    def made_by_cs_sync(self) -> list[dict[str, Any]]:
        """Every spreadsheet cs-sync created that the account can see, in any drive."""
        query = (
            f"appProperties has {{ key='{MARKER_KEY}' and value='{MARKER_VALUE}' }} "
            f"and mimeType = '{SPREADSHEET}' and trashed = false"
        )
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            request = self.service.files().list(
                q=query,
                corpora="allDrives",
                includeItemsFromAllDrives=True,
                supportsAllDrives=True,
                pageSize=100,
                pageToken=token,
                fields=f"nextPageToken, files({FILE_FIELDS})",
            )
            page = self._call("looking for the dashboard spreadsheet", request, "dashboard")
            found += list(page.get("files", []))
            token = page.get("nextPageToken")
            if not token:
                return found

    def create_spreadsheet(self, name: str, folder_id: str | None) -> dict[str, Any]:
        """A new spreadsheet in `folder_id`. A retry after a lost answer first looks for the
        spreadsheet the lost attempt may have made."""
        body: dict[str, Any] = {
            "name": name,
            "mimeType": SPREADSHEET,
            "appProperties": {MARKER_KEY: MARKER_VALUE},
        }
        if folder_id is not None:
            body["parents"] = [folder_id]
        attempts = 0

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                earlier = self.made_by_cs_sync()
                if earlier:
                    return dict(earlier[0])
            request = self.service.files().create(
                body=body, supportsAllDrives=True, fields=FILE_FIELDS
            )
            try:
                return dict(request.execute())
            except Exception as error:
                raise self._creating_error(error, folder_id) from None

        return dict(call_google(attempt, "creating the dashboard spreadsheet", self.target))

    def _creating_error(self, error: Exception, folder_id: str | None) -> CsSyncError:
        details = getattr(error, "error_details", None)
        items = details if isinstance(details, list) else []
        reasons = {str(item.get("reason")) for item in items if isinstance(item, dict)}
        if "storageQuotaExceeded" in reasons:
            where = "in My Drive" if folder_id is None else f"in folder {folder_id} of a My Drive"
            return InputError(
                f"Google Drive: {self.target.account} cannot create the spreadsheet {where}: a "
                "service account owns no files (Google: storageQuotaExceeded). Set "
                "dashboard.drive_folder_id to a folder of a shared drive where the account is "
                "Content manager, or create the spreadsheet yourself, share it with the "
                "account as Editor and set dashboard.spreadsheet_id"
            )
        target = GoogleTarget(
            self.target.service,
            self.target.account,
            "Content manager on the shared drive",
            "dashboard.drive_folder_id",
        )
        return google_error(error, "creating the dashboard spreadsheet", target)

    def grants(self, file_id: str) -> list[Grant]:
        found: list[Grant] = []
        token: str | None = None
        while True:
            request = self.service.permissions().list(
                fileId=file_id,
                supportsAllDrives=True,
                pageToken=token,
                fields=f"nextPageToken, permissions({PERMISSION_FIELDS})",
            )
            page = self._call("reading who the spreadsheet is shared with", request, "dashboard")
            for item in page.get("permissions", []):
                found.append(_grant(item))
            token = page.get("nextPageToken")
            if not token:
                return found

    def share(self, file_id: str, kind: str, grantee: str, role: str) -> None:
        """Grant `role`; Google e-mails the people (an address without a Google account can
        only be invited that way)."""
        body: dict[str, Any] = {"type": kind, "role": role}
        body["domain" if kind == "domain" else "emailAddress"] = grantee
        request = self.service.permissions().create(
            fileId=file_id,
            body=body,
            supportsAllDrives=True,
            sendNotificationEmail=kind != "domain",
            fields="id",
        )
        self._call(f"sharing the spreadsheet with {grantee}", request, "dashboard.share_with")

    def raise_role(self, file_id: str, permission_id: str, grantee: str, role: str) -> None:
        request = self.service.permissions().update(
            fileId=file_id,
            permissionId=permission_id,
            body={"role": role},
            supportsAllDrives=True,
            fields="id",
        )
        self._call(f"giving {grantee} the {role} role", request, "dashboard.share_role")


def _grant(item: dict[str, Any]) -> Grant:
    kind = str(item.get("type", ""))
    grantee = str(item.get("domain") if kind == "domain" else item.get("emailAddress") or "")
    details = item.get("permissionDetails") or []
    inherited = bool(details) and all(detail.get("inherited") for detail in details)
    return Grant(
        kind, grantee.lower(), str(item.get("role", "")), str(item.get("id", "")), inherited
    )
