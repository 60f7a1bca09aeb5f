"""`cs-sync setup dashboard`: the KPI spreadsheet created in a shared drive and shared with
the managers through Drive v3 (google-api-python-client over HTTP to the sandbox); a rerun
changes nothing, a lost answer makes no second spreadsheet, and a run then writes to it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cs_sync.cli import main
from cs_sync.connectors.drive import Grant
from cs_sync.dashboard_setup import Share, sharing_plan, wanted_shares
from cs_sync.demo import DemoFolder, prepare_demo
from cs_sync.sandbox.seed import DASHBOARD_FOLDER_ID, DASHBOARD_SPREADSHEET_ID
from cs_sync.sandbox.server import Sandbox
from tests.conftest import AS_OF, served

MANAGERS = '["cs-manager@example.co.jp", "group:cs-leads@example.co.jp", "domain:example.co.jp"]'


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    folder = prepare_demo(tmp_path / "demo", 20, AS_OF, port=0)
    with served(folder) as sandbox:
        yield folder, sandbox


def configure(folder: DemoFolder, **settings: str) -> str:
    """The demo config without its spreadsheet id and sharing, with these [dashboard]
    settings."""
    text = folder.config_path.read_text()
    for key in ("spreadsheet_id", "drive_folder_id", "share_with"):
        text = re.sub(rf"^{key} = .*\n", "", text, count=1, flags=re.MULTILINE)
    lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
    folder.config_path.write_text(text.replace("[dashboard]\n", f"[dashboard]\n{lines}", 1))
    return str(folder.config_path)


def drive_files(sandbox: Sandbox) -> dict[str, Any]:
    return dict(sandbox.store.get_meta("drive")["files"])


def setup(capsys: pytest.CaptureFixture[str], config: str, *more: str) -> tuple[int, str]:
    code = main(["setup", "dashboard", "--config", config, *more])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_created_shared_and_a_rerun_changes_nothing(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    config = configure(folder, drive_folder_id=f'"{DASHBOARD_FOLDER_ID}"', share_with=MANAGERS)
    before = drive_files(sandbox)
    code, said = setup(capsys, config)  # without --apply: reads only
    assert code == 0 and "Would create" in said and "run again with --apply" in said
    assert drive_files(sandbox) == before
    code, said = setup(capsys, config, "--apply")
    assert code == 0, said
    created = set(drive_files(sandbox)) - set(before)
    assert len(created) == 1
    spreadsheet = created.pop()
    assert f'spreadsheet_id = "{spreadsheet}"' in said
    # the manager is already the shared drive's Manager; the group and the domain are shared
    assert "cs-manager@example.co.jp: already organizer" in said
    assert "group:cs-leads@example.co.jp: shared" in said
    state = sandbox.store.get_meta("drive")
    grants = {
        (g["type"], g.get("emailAddress") or g.get("domain"), g["role"])
        for g in state["files"][spreadsheet]["permissions"]
    }
    assert grants == {
        ("group", "cs-leads@example.co.jp", "reader"),
        ("domain", "example.co.jp", "reader"),
    }
    assert [mail["to"] for mail in state["sent"]] == ["cs-leads@example.co.jp"]
    # again: the same spreadsheet found by its app property, nothing shared twice
    code, said = setup(capsys, config, "--apply")
    assert code == 0 and "the one cs-sync created before" in said and "Nothing to change" in said
    assert sandbox.store.get_meta("drive") == state

    # a run writes the dashboard into it, and the link opens the default template on it
    text = (
        Path(config)
        .read_text()
        .replace("[dashboard]\n", f'[dashboard]\nspreadsheet_id = "{spreadsheet}"\n', 1)
    )
    Path(config).write_text(text)
    assert main(["run", "--config", config, "--as-of", AS_OF.isoformat()]) == 0
    book = sandbox.store.load_spreadsheet(spreadsheet)
    titles = {
        sheet["properties"]["title"]: sheet["properties"]["sheetId"] for sheet in book["sheets"]
    }
    assert {"kpi_periods", "kpi_daily", "accounts"} <= set(titles)
    capsys.readouterr()
    assert main(["dashboard", "link", "--config", config]) == 0
    link = urlsplit(capsys.readouterr().out.strip())
    found = {key: values[0] for key, values in parse_qs(link.query).items()}
    assert "c.reportId" not in found
    assert found["ds.connector"] == "googleSheets" and found["ds.spreadsheetId"] == spreadsheet
    assert found["ds.worksheetId"] == str(titles["kpi_periods"])
    code, said = setup(capsys, config, "--apply")  # configured now: the same, nothing to do
    assert code == 0 and "from dashboard.spreadsheet_id" in said and "Nothing to change" in said


def test_a_service_account_cannot_create_in_my_drive(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    config = configure(folder, share_with=MANAGERS)
    before = drive_files(sandbox)
    code, said = setup(capsys, config, "--apply")
    assert code == 2
    assert "dashboard.drive_folder_id" in said and "storageQuotaExceeded" in said
    assert drive_files(sandbox) == before


def test_a_lost_answer_makes_no_second_spreadsheet(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    config = configure(folder, drive_folder_id=f'"{DASHBOARD_FOLDER_ID}"')
    before = drive_files(sandbox)
    sandbox.faults.set(lost_responses=2, only_on="POST /drive/v3/files$")
    code, said = setup(capsys, config, "--apply")
    assert code == 0, said
    assert len(set(drive_files(sandbox)) - set(before)) == 1


def test_the_configured_spreadsheet_is_checked_and_shared(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    config = configure(
        folder,
        spreadsheet_id=f'"{DASHBOARD_SPREADSHEET_ID}"',
        share_with='["csm01@example.co.jp"]',
        share_role='"writer"',
    )
    code, said = setup(capsys, config, "--apply")
    assert code == 0 and "csm01@example.co.jp: shared" in said
    files = drive_files(sandbox)
    assert [g["role"] for g in files[DASHBOARD_SPREADSHEET_ID]["permissions"]] == ["writer"]
    # the spreadsheet in the trash, or a folder given as the spreadsheet: named
    state = sandbox.store.get_meta("drive")
    state["files"][DASHBOARD_SPREADSHEET_ID]["trashed"] = True
    sandbox.store.set_meta("drive", state)
    code, said = setup(capsys, config)
    assert code == 2 and "in the trash" in said
    configure(folder, spreadsheet_id=f'"{DASHBOARD_FOLDER_ID}"')
    code, said = setup(capsys, config)
    assert code == 2 and "is not a Google Sheets spreadsheet" in said


def test_two_spreadsheets_of_cs_sync_are_named(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    config = configure(folder, drive_folder_id=f'"{DASHBOARD_FOLDER_ID}"')
    assert setup(capsys, config, "--apply")[0] == 0
    state = sandbox.store.get_meta("drive")
    (made,) = [f for f in state["files"].values() if f["appProperties"]]
    state["files"]["copy-of-it"] = {**made, "id": "copy-of-it", "name": "Copy of KPI"}
    sandbox.store.set_meta("drive", state)
    code, said = setup(capsys, config)
    assert code == 2 and "copy-of-it (Copy of KPI)" in said and made["id"] in said


def test_share_with_refuses_anyone_and_names_the_key(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = demo
    config = configure(folder, share_with='["anyone"]')
    code, said = setup(capsys, config)
    assert code == 2 and "dashboard.share_with" in said and "every customer's ARR" in said


def grant(kind: str, grantee: str, role: str, inherited: bool = False) -> Grant:
    return Grant(kind, grantee, role, f"id-{grantee}", inherited)


@pytest.mark.parametrize(
    ("held", "wanted_role", "action"),
    [
        ([], "reader", "grant"),
        ([grant("user", "a@x.jp", "reader")], "reader", "keep"),
        ([grant("user", "a@x.jp", "writer")], "reader", "keep"),  # never lowered
        ([grant("user", "a@x.jp", "reader")], "writer", "raise"),
        ([grant("user", "a@x.jp", "organizer", inherited=True)], "writer", "keep"),
        ([grant("user", "a@x.jp", "reader", inherited=True)], "writer", "grant"),
        ([grant("group", "a@x.jp", "writer")], "reader", "grant"),  # a group is not the user
    ],
)
def test_sharing_plan(held: list[Grant], wanted_role: str, action: str) -> None:
    (step,) = sharing_plan([Share("user", "a@x.jp", wanted_role)], held)
    assert step.action == action


def test_wanted_shares_read_the_kind() -> None:
    assert wanted_shares(("A@X.jp", "group:G@x.jp", "domain:x.jp", "user:b@x.jp"), "reader") == [
        Share("user", "a@x.jp", "reader"),
        Share("group", "g@x.jp", "reader"),
        Share("domain", "x.jp", "reader"),
        Share("user", "b@x.jp", "reader"),
    ]


def test_the_demo_config_shares_its_spreadsheet(
    demo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = demo
    code, said = setup(capsys, str(folder.config_path))
    assert code == 0 and "from dashboard.spreadsheet_id" in said
    assert "cs-manager@example.co.jp: already organizer" in said
    assert "group:cs-leads@example.co.jp: to share" in said
