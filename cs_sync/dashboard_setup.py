"""`cs-sync setup dashboard`: the KPI spreadsheet in Google Drive, created when none is
configured and shared with the managers (`dashboard.share_with`).

Without --apply it only reads Drive and says what it would do. A rerun changes nothing: the
spreadsheet cs-sync made is found again (by its app property, in any drive the account can
see) and a share is made only where nobody holds the role yet, directly or through the shared
drive. Shares are never removed or lowered: people an admin added by hand keep their access.
The sharing plan is pure (`sharing_plan`); the Drive calls are in connectors/drive.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cs_sync.config import Config
from cs_sync.connectors.drive import SPREADSHEET, Drive, Grant
from cs_sync.errors import InputError

ROLES = ("reader", "commenter", "writer", "fileOrganizer", "organizer", "owner")
DEFAULT_NAME = "cs-sync KPI dashboard"


@dataclass(frozen=True)
class Share:
    """Who should have the spreadsheet: type (user, group, domain), address or domain, role."""

    kind: str
    grantee: str
    role: str

    @property
    def label(self) -> str:
        return self.grantee if self.kind == "user" else f"{self.kind}:{self.grantee}"


@dataclass(frozen=True)
class ShareStep:
    share: Share
    action: Literal["grant", "raise", "keep"]
    held: str | None = None  # the role already held (keep, raise)
    permission_id: str | None = None  # the direct permission to raise


@dataclass
class DashboardSetup:
    spreadsheet_id: str | None
    name: str
    origin: Literal["configured", "found", "created", "to create"]
    folder_id: str | None
    steps: list[ShareStep] = field(default_factory=list)
    applied: bool = False

    @property
    def changes(self) -> int:
        made = self.origin in ("created", "to create")
        return int(made) + sum(step.action != "keep" for step in self.steps)


def wanted_shares(share_with: tuple[str, ...], role: str) -> list[Share]:
    """The configured entries ("a@x.jp", "group:g@x.jp", "domain:x.jp") as shares."""
    shares = []
    for entry in share_with:
        kind, _, grantee = entry.partition(":") if ":" in entry else ("user", "", entry)
        shares.append(Share(kind, grantee.lower(), role))
    return shares


def sharing_plan(wanted: list[Share], grants: list[Grant]) -> list[ShareStep]:
    """For each share: keep it when the grantee already holds the role or a higher one
    (directly or as a member of the shared drive); raise their own permission when it is lower;
    otherwise grant it."""
    steps = []
    for share in wanted:
        held = [g for g in grants if g.kind == share.kind and g.grantee == share.grantee]
        best = max(held, key=lambda g: _rank(g.role), default=None)
        if best is not None and _rank(best.role) >= _rank(share.role):
            steps.append(ShareStep(share, "keep", best.role))
            continue
        direct = [g for g in held if not g.inherited]
        if direct:
            steps.append(ShareStep(share, "raise", direct[0].role, direct[0].permission_id))
        else:
            steps.append(ShareStep(share, "grant", best.role if best else None))
    return steps


def _rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


def setup_dashboard(config: Config, drive: Drive, apply: bool, name: str) -> DashboardSetup:
    settings = config.dashboard
    wanted = wanted_shares(settings.share_with, settings.share_role)
    if settings.spreadsheet_id is not None:
        sheet = _checked(drive.file(settings.spreadsheet_id, "dashboard.spreadsheet_id"))
        result = DashboardSetup(sheet["id"], sheet["name"], "configured", _parent(sheet))
    else:
        result = _find_or_create(drive, settings.drive_folder_id, apply, name)
    if result.spreadsheet_id is None:
        result.steps = sharing_plan(wanted, [])
        return result
    result.steps = sharing_plan(wanted, drive.grants(result.spreadsheet_id))
    if apply:
        for step in result.steps:
            if step.action == "grant":
                drive.share(
                    result.spreadsheet_id, step.share.kind, step.share.grantee, step.share.role
                )
            elif step.action == "raise":
                drive.raise_role(
                    result.spreadsheet_id,
                    str(step.permission_id),
                    step.share.label,
                    step.share.role,
                )
        result.applied = True
    return result


def _find_or_create(drive: Drive, folder_id: str | None, apply: bool, name: str) -> DashboardSetup:
    found = drive.made_by_cs_sync()
    if len(found) > 1:
        listed = ", ".join(f"{item['id']} ({item['name']})" for item in found)
        raise InputError(
            f"Google Drive holds {len(found)} spreadsheets cs-sync created: {listed}; set "
            "dashboard.spreadsheet_id to the one to keep (and delete the others)"
        )
    if found:
        return DashboardSetup(found[0]["id"], found[0]["name"], "found", _parent(found[0]))
    if folder_id is not None:
        folder = drive.file(folder_id, "dashboard.drive_folder_id")
        if folder.get("mimeType") != "application/vnd.google-apps.folder":
            raise InputError(
                f"dashboard.drive_folder_id: {folder_id} is a file ({folder.get('name')}), not "
                "a folder; use the id in the folder's address (after /folders/)"
            )
    if not apply:
        return DashboardSetup(None, name, "to create", folder_id)
    sheet = drive.create_spreadsheet(name, folder_id)
    return DashboardSetup(sheet["id"], sheet["name"], "created", folder_id)


def _checked(sheet: dict[str, Any]) -> dict[str, Any]:
    if sheet.get("trashed"):
        raise InputError(
            f"dashboard.spreadsheet_id: {sheet['id']} ({sheet.get('name')}) is in the trash; "
            "restore it, or leave the setting out to create a new spreadsheet"
        )
    if sheet.get("mimeType") != SPREADSHEET:
        raise InputError(
            f"dashboard.spreadsheet_id: {sheet['id']} ({sheet.get('name')}) is not a Google "
            f"Sheets spreadsheet ({sheet.get('mimeType')})"
        )
    return sheet


def _parent(sheet: dict[str, Any]) -> str | None:
    parents = sheet.get("parents") or []
    return str(parents[0]) if parents else None


def describe_dashboard_setup(result: DashboardSetup, config_path: str) -> str:
    """What setup found, did or would do, and the line to put in the config."""
    where = f" in folder {result.folder_id}" if result.folder_id else " in My Drive"
    opening = {
        "configured": f"Dashboard spreadsheet {result.spreadsheet_id} ({result.name}), "
        "from dashboard.spreadsheet_id",
        "found": f"Dashboard spreadsheet {result.spreadsheet_id} ({result.name}), the one "
        "cs-sync created before",
        "created": f"Created the dashboard spreadsheet {result.spreadsheet_id} "
        f"({result.name}){where}",
        "to create": f"Would create the dashboard spreadsheet {result.name!r}{where}",
    }[result.origin]
    lines = [opening]
    if not result.steps:
        lines.append("  shared with nobody more: dashboard.share_with is empty")
    for step in result.steps:
        lines.append(f"  {step.share.role:<9} {step.share.label}: {_said(step, result.applied)}")
    if result.origin in ("found", "created"):
        lines += [
            "",
            f"Put this in {config_path} so that runs write to it:",
            "  [dashboard]",
            f'  spreadsheet_id = "{result.spreadsheet_id}"',
        ]
    if not result.applied and result.changes:
        lines += ["", f"{result.changes} change(s) to make: run again with --apply."]
    elif result.applied and not result.changes:
        lines += ["", "Nothing to change."]
    return "\n".join(lines)


def _said(step: ShareStep, applied: bool) -> str:
    if step.action == "keep":
        return f"already {step.held}"
    if step.action == "raise":
        return f"raised from {step.held}" if applied else f"to raise from {step.held}"
    if not applied:
        return "to share"
    return "shared" if step.share.kind == "domain" else "shared (Google e-mails them)"
