"""The sandbox's Google Drive v3, reached through google-api-python-client over HTTP: it refuses
what Drive refuses, with Drive's bodies (docs/sandbox-fidelity.md cites each)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from googleapiclient.errors import HttpError

from cs_sync.connectors.drive import SPREADSHEET, drive_service
from cs_sync.sandbox.drive_api import STORAGE_QUOTA
from cs_sync.sandbox.seed import (
    DASHBOARD_FOLDER_ID,
    DASHBOARD_SPREADSHEET_ID,
    SANDBOX_SERVICE_ACCOUNT,
    SHARED_DRIVE_ID,
)
from cs_sync.sandbox.server import Sandbox


@pytest.fixture
def drive(sandbox: Sandbox) -> Any:
    return drive_service(None, sandbox.url)[0]


def refusal(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HttpError) as caught:
        call.execute()
    body = json.loads(caught.value.content)["error"]
    return int(caught.value.resp.status), body


def test_a_service_account_owns_nothing_in_my_drive(drive: Any, sandbox: Sandbox) -> None:
    body = {"name": "KPI", "mimeType": SPREADSHEET}
    status, error = refusal(drive.files().create(body=body))
    assert status == 403 and error["message"] == STORAGE_QUOTA
    assert error["errors"][0]["reason"] == "storageQuotaExceeded"
    assert error["errors"][0]["domain"] == "usageLimits"
    # a My Drive folder shared with it as writer does not help: the file would be its own
    state = sandbox.store.get_meta("drive")
    state["files"]["my-folder"] = {
        "id": "my-folder",
        "name": "Shared with the robot",
        "mimeType": "application/vnd.google-apps.folder",
        "parents": [],
        "driveId": None,
        "owners": ["cs-manager@example.co.jp"],
        "appProperties": {},
        "trashed": False,
        "permissions": [
            {"id": "1", "type": "user", "role": "writer", "emailAddress": SANDBOX_SERVICE_ACCOUNT}
        ],
    }
    sandbox.store.set_meta("drive", state)
    status, error = refusal(drive.files().create(body={**body, "parents": ["my-folder"]}))
    assert status == 403 and error["errors"][0]["reason"] == "storageQuotaExceeded"


def test_shared_drive_items_need_support_for_all_drives(drive: Any) -> None:
    status, error = refusal(drive.files().get(fileId=DASHBOARD_SPREADSHEET_ID))
    assert status == 404 and error["message"] == f"File not found: {DASHBOARD_SPREADSHEET_ID}."
    assert error["errors"][0] | {} == {
        "message": f"File not found: {DASHBOARD_SPREADSHEET_ID}.",
        "domain": "global",
        "reason": "notFound",
        "location": "fileId",
        "locationType": "parameter",
    }
    found = drive.files().get(fileId=DASHBOARD_SPREADSHEET_ID, supportsAllDrives=True).execute()
    # only the default fields unless `fields` names more
    assert set(found) == {"kind", "id", "name", "mimeType"}
    found = (
        drive.files()
        .get(fileId=DASHBOARD_SPREADSHEET_ID, supportsAllDrives=True, fields="id, driveId, parents")
        .execute()
    )
    assert found == {
        "id": DASHBOARD_SPREADSHEET_ID,
        "driveId": SHARED_DRIVE_ID,
        "parents": [DASHBOARD_FOLDER_ID],
    }
    status, error = refusal(
        drive.files().get(fileId=DASHBOARD_SPREADSHEET_ID, supportsAllDrives=True, fields="idd")
    )
    assert status == 400 and error["message"] == "Invalid field selection idd"


def test_a_new_spreadsheet_is_served_by_sheets(drive: Any, sandbox: Sandbox) -> None:
    body = {"name": "KPI", "mimeType": SPREADSHEET, "parents": [DASHBOARD_FOLDER_ID]}
    status, _ = refusal(drive.files().create(body=body))  # without supportsAllDrives
    assert status == 404
    made = drive.files().create(body=body, supportsAllDrives=True, fields="id, driveId").execute()
    assert made["driveId"] == SHARED_DRIVE_ID
    sheet = requests.get(f"{sandbox.url}/v4/spreadsheets/{made['id']}", timeout=10).json()
    assert [s["properties"]["title"] for s in sheet["sheets"]] == ["Sheet1"]


def test_listing_sees_shared_drives_only_when_asked(drive: Any) -> None:
    query = "mimeType = 'application/vnd.google-apps.spreadsheet' and trashed = false"
    assert drive.files().list(q=query).execute()["files"] == []
    listed = (
        drive.files()
        .list(q=query, corpora="allDrives", includeItemsFromAllDrives=True, supportsAllDrives=True)
        .execute()
    )
    assert [f["id"] for f in listed["files"]] == [DASHBOARD_SPREADSHEET_ID]
    status, error = refusal(drive.files().list(corpora="drive"))
    assert status == 400 and "driveId" in error["message"]
    status, error = refusal(drive.files().list(q="name contains 'KPI'"))
    assert status == 400 and error["message"] == "Invalid Value"
    assert error["errors"][0]["location"] == "q"


def test_permissions_as_drive_takes_them(drive: Any, sandbox: Sandbox) -> None:
    permissions = drive.permissions()
    on = {"fileId": DASHBOARD_SPREADSHEET_ID, "supportsAllDrives": True}
    status, error = refusal(permissions.create(body={"role": "reader"}, **on))
    assert status == 400 and error["message"] == "The permission type field is required."
    # an address with no Google account can only be invited with the e-mail
    body = {"type": "user", "role": "reader", "emailAddress": "someone@elsewhere.example"}
    status, error = refusal(permissions.create(body=body, sendNotificationEmail=False, **on))
    assert status == 400 and error["errors"][0]["reason"] == "invalidSharingRequest"
    first = permissions.create(body=body, **on).execute()
    again = permissions.create(body={**body, "role": "commenter"}, **on).execute()
    assert first["id"] == again["id"] and again["role"] == "commenter"
    listed = permissions.list(**on).execute()["permissions"]
    assert set(listed[0]) == {"kind", "id", "type", "role"}  # the default fields
    listed = permissions.list(fields="permissions(emailAddress, role, permissionDetails)", **on)
    rows = listed.execute()["permissions"]
    assert {"emailAddress": "someone@elsewhere.example", "role": "commenter"} in rows
    inherited = [r for r in rows if r.get("permissionDetails")]
    assert {r["emailAddress"] for r in inherited} == {
        SANDBOX_SERVICE_ACCOUNT,
        "cs-manager@example.co.jp",
    }


def test_a_reader_member_cannot_create_or_share(drive: Any, sandbox: Sandbox) -> None:
    state = sandbox.store.get_meta("drive")
    state["drives"][SHARED_DRIVE_ID]["members"][SANDBOX_SERVICE_ACCOUNT] = "reader"
    sandbox.store.set_meta("drive", state)
    body = {"name": "KPI", "mimeType": SPREADSHEET, "parents": [DASHBOARD_FOLDER_ID]}
    status, error = refusal(drive.files().create(body=body, supportsAllDrives=True))
    assert status == 403 and error["errors"][0]["reason"] == "insufficientFilePermissions"
    share = {"type": "domain", "role": "reader", "domain": "example.co.jp"}
    status, error = refusal(
        drive.permissions().create(
            fileId=DASHBOARD_SPREADSHEET_ID, body=share, supportsAllDrives=True
        )
    )
    assert status == 403


def test_unknown_parameters_and_fields_are_refused(sandbox: Sandbox) -> None:
    answer = requests.get(f"{sandbox.url}/drive/v3/files?colour=blue", timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        'Invalid JSON payload received. Unknown name "colour": Cannot bind query parameter. '
        "Field 'colour' could not be found in request message."
    )
    answer = requests.post(
        f"{sandbox.url}/drive/v3/files?supportsAllDrives=true",
        json={"name": "x", "colour": "blue", "parents": [DASHBOARD_FOLDER_ID]},
        timeout=10,
    )
    assert (
        answer.status_code == 400 and 'Unknown name "colour"' in answer.json()["error"]["message"]
    )


def test_a_spreadsheet_s_version_counts_every_saved_change(
    drive: Any, sandbox: Sandbox, gc: Any
) -> None:
    """A spreadsheet's version moves with each Sheets write, not with a read, and is sent as a
    string (int64)."""

    def version() -> str:
        answer = drive.files().get(
            fileId=DASHBOARD_SPREADSHEET_ID, fields="version", supportsAllDrives=True
        )
        return str(answer.execute()["version"])

    before = version()
    book = gc.open_by_key(DASHBOARD_SPREADSHEET_ID)
    book.sheet1.get_all_values()
    assert version() == before
    book.sheet1.update([["x"]], "A1")
    assert int(version()) == int(before) + 1
    shown = drive.files().get(fileId=DASHBOARD_SPREADSHEET_ID, supportsAllDrives=True).execute()
    assert shown["mimeType"] == SPREADSHEET and "version" not in shown  # only when asked


def test_drive_not_enabled_in_the_project(drive: Any, sandbox: Sandbox) -> None:
    sandbox.faults.set(drive_disabled=1)
    status, error = refusal(
        drive.files().get(fileId=DASHBOARD_SPREADSHEET_ID, fields="version", supportsAllDrives=True)
    )
    assert status == 403 and error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0]["reason"] == "accessNotConfigured"
    assert error["message"].startswith("Google Drive API has not been used in project")
    assert error["details"][0]["reason"] == "SERVICE_DISABLED"
    again = drive.files().get(
        fileId=DASHBOARD_SPREADSHEET_ID, fields="version", supportsAllDrives=True
    )
    assert again.execute()["version"]
