"""`cs-sync setup salesforce` on an org without cs-sync's fields, then `cs-sync doctor`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gspread
import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from cs_sync.cli import main
from cs_sync.connectors.settings import SalesforceFields
from cs_sync.connectors.transport import build_session
from cs_sync.demo import DemoFolder, prepare_demo
from cs_sync.org_fields import required_fields
from cs_sync.sandbox.seed import DASHBOARD_SPREADSHEET_ID, seed_book
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.store import OrgStore
from tests.conftest import AS_OF, login, served


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[tuple[DemoFolder, Sandbox]]:
    """A demo folder whose org has none of cs-sync's fields yet."""
    folder = prepare_demo(tmp_path / "demo", 5, AS_OF, port=0)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{folder.database}{suffix}").unlink(missing_ok=True)
    store = OrgStore(folder.database)
    seed_book(store, folder.usage_path, 20, AS_OF, bare=True)
    store.close()
    with served(folder) as sandbox:
        yield folder, sandbox


def test_metadata_matches_what_describe_reports(sf) -> None:  # type: ignore[no-untyped-def]
    """The seeded org's fields are built from the same specs; describe agrees with them."""
    described = {f["name"]: f for f in sf.Account.describe()["fields"]}
    for spec in required_fields(SalesforceFields()):
        if spec.sobject != "Account":
            continue
        field = described[spec.name]
        assert field["type"] == spec.describe_type, spec.name
        assert field["custom"] is True
        if spec.values:
            # the sandbox allows the phase names of every preset
            allowed = [v["value"] for v in field["picklistValues"]]
            assert allowed[: len(spec.values)] == list(spec.values)
            assert field["restrictedPicklist"] is True


def test_setup_lists_then_creates_then_sync_runs(
    bare: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = bare
    config = str(folder.config_path)
    assert main(["run", "--config", config, "--as-of", AS_OF.isoformat()]) == 2  # not set up
    assert "cs-sync setup salesforce" in capsys.readouterr().out

    assert main(["setup", "salesforce", "--config", config]) == 2
    listing = capsys.readouterr().out
    assert listing.count("missing") >= 18
    assert "Task.CS_Sync_Key__c" in listing and "external id, unique" in listing
    assert "--apply" in listing

    assert main(["setup", "salesforce", "--config", config, "--apply"]) == 0
    applied = capsys.readouterr().out
    assert applied.count("created") == 18
    assert "Created the permission set CS_Sync_Integration." in applied
    assert "Granted 18 field(s) in CS_Sync_Integration." in applied
    assert "Assigned CS_Sync_Integration to cs-sync@example.co.jp." in applied
    task_fields = {f["name"]: f for f in login(sandbox).Task.describe()["fields"]}
    assert task_fields["CS_Sync_Key__c"]["externalId"] is True
    assert task_fields["CS_Sync_Key__c"]["updateable"] is True

    assert main(["setup", "salesforce", "--config", config, "--apply"]) == 0
    again = capsys.readouterr().out
    assert "All of cs-sync's fields are in place and open to the integration user." in again
    assert "created" not in again and "Granted" not in again  # nothing done twice
    assert main(["run", "--config", config, "--as-of", AS_OF.isoformat()]) == 0
    assert "errors            0" in capsys.readouterr().out


def _profile(sandbox: Sandbox, **flags: bool) -> None:
    """Change the integration user's profile, as an admin would in Setup."""
    store = sandbox.store
    profile = store.find_ids("PermissionSet", "Name", "X00e5g000000SysAdmin")[0]
    found = store.get(profile)
    assert found is not None
    store.replace(profile, {**found[1], **flags})


def test_setup_without_the_right_to_grant_prints_the_steps_and_never_recreates(
    bare: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = bare
    config = str(folder.config_path)
    _profile(
        sandbox,
        PermissionsManageProfilesPermissionsets=False,
        PermissionsAssignPermissionSets=False,
    )
    assert main(["setup", "salesforce", "--config", config, "--apply"]) == 2
    refused = capsys.readouterr().out
    assert refused.count("created") == 18
    assert "may not grant field access itself (" in refused
    assert (
        "1. Setup > Permission Sets > New" in refused and "API Name CS_Sync_Integration" in refused
    )
    assert "Read and Edit: Account.CS_Health_Score__c" in refused
    assert "     Read: Account.CS_Override_Grade__c, " in refused
    assert "Add Assignment: cs-sync@example.co.jp" in refused

    # a rerun sees the hidden fields and does not try to create them again
    assert main(["setup", "salesforce", "--config", config, "--apply"]) == 2
    rerun = capsys.readouterr().out
    assert rerun.count("hidden (exists; the integration user cannot see it)") == 18
    assert "could not create" not in rerun and "DUPLICATE" not in rerun
    assert main(["doctor", "--config", config]) == 2
    assert "Account.CS_Health_Score__c hidden" in capsys.readouterr().out

    # once an admin lets it manage permission sets, setup grants what it created before
    _profile(
        sandbox, PermissionsManageProfilesPermissionsets=True, PermissionsAssignPermissionSets=True
    )
    assert main(["setup", "salesforce", "--config", config, "--apply"]) == 0
    assert "Granted 18 field(s)" in capsys.readouterr().out
    assert main(["run", "--config", config, "--as-of", AS_OF.isoformat()]) == 0


def test_doctor_says_when_the_integration_user_cannot_see_the_whole_book(
    bare: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = bare
    main(["doctor", "--config", str(folder.config_path)])
    assert "[ok  ] record access: cs-sync@example.co.jp can see and update the whole book" in (
        capsys.readouterr().out
    )
    _profile(sandbox, PermissionsViewAllData=False, PermissionsModifyAllData=False)
    store = sandbox.store
    for grant in store.all("ObjectPermissions"):
        if grant["SobjectType"] in ("Account", "Task"):
            store.replace(
                grant["Id"],
                {**grant, "PermissionsViewAllRecords": False, "PermissionsModifyAllRecords": False},
            )
    main(["doctor", "--config", str(folder.config_path)])
    out = capsys.readouterr().out
    assert (
        "[FAIL] record access: cs-sync@example.co.jp lacks Modify All on Account, Modify All on "
        "Task: Salesforce would hide every record not shared with it"
    ) in out
    assert "fix: in a permission set assigned to the integration user" in out


def test_doctor_names_each_problem_and_its_fix(
    bare: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = bare
    with folder.usage_path.open("a", encoding="utf-8") as usage:
        usage.write("not-an-id,2026-10,1,1,1,1,0,0\n")
    assert main(["doctor", "--config", str(folder.config_path)]) == 2
    out = capsys.readouterr().out
    assert "[ok  ] Salesforce login" in out
    assert "[FAIL] cs-sync fields: 0 of 18 present" in out
    assert "fix: run `cs-sync setup salesforce" in out
    assert "[FAIL] usage source:" in out and "'not-an-id' is not a Salesforce id" in out
    assert "usage is up to date: latest month 2026-10" in out  # ok or not: today decides
    assert "[ok  ] dashboard folder" in out
    assert "[ok  ] history store" in out and "run `cs-sync backfill` to fill it" in out
    assert "[ok  ] Sheets dashboard" in out
    assert "[ok  ] Task closed status: 'Completed' closes a Task in this org" in out


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        ("Done", "'Done' is not a Task status in this org"),
        ("Deferred", "'Deferred' is a Task status that does not close a Task"),
    ],
)
def test_doctor_checks_the_closed_status_against_the_org(
    bare: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str], status: str, detail: str
) -> None:
    folder, _ = bare
    text = folder.config_path.read_text("utf-8")
    folder.config_path.write_text(
        text.replace("[tasks]\n", f'[tasks]\nclosed_status = "{status}"\n')
    )
    main(["doctor", "--config", str(folder.config_path)])
    out = capsys.readouterr().out
    assert f"[FAIL] Task closed status: {detail}" in out
    assert "fix: set tasks.closed_status to one of: Completed" in out


def test_tasks_take_the_orgs_status_and_priority_values(sandbox: Sandbox) -> None:
    """Status and Priority are restricted picklists; IsClosed follows the status."""
    sf = login(sandbox)
    owner = sf.query("SELECT Id FROM User LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "x", "OwnerId": owner, "Status": "Done"})
    assert raised.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Task.create({"Subject": "x", "OwnerId": owner, "Priority": "Urgent"})
    task = sf.Task.create({"Subject": "x", "OwnerId": owner, "Status": "Completed"})["id"]
    assert sf.Task.get(task)["IsClosed"] is True
    closing = sf.query("SELECT MasterLabel FROM TaskStatus WHERE IsClosed = true")["records"]
    assert [s["MasterLabel"] for s in closing] == ["Completed"]


def test_doctor_with_a_wrong_client_secret(
    bare: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = bare
    (folder.workdir / "secrets" / "salesforce_client_secret").write_text("nope-s3cret\n")
    assert main(["doctor", "--config", str(folder.config_path)]) == 3
    out = capsys.readouterr().out
    assert "[FAIL] Salesforce login" in out and "invalid_client" in out
    assert "nope-s3cret" not in out
    assert "[ok  ] usage source" in out


def test_doctor_checks_the_signals_the_config_reads(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = demo40
    main(["doctor", "--config", str(folder.config_path)])
    out = capsys.readouterr().out
    for name in ("activity (Task, Event)", "support cases (Case)", "surveys (Contact)"):
        assert f"[ok  ] {name}: the fields and values the configuration names are there" in out
    text = folder.config_path.read_text("utf-8")
    folder.config_path.write_text(
        text.replace('date_field = "CS_NPS_Date__c"', 'date_field = "NPS_When__c"')
        + '\n[salesforce.cases]\nescalated_statuses = ["On Fire"]\n',
        "utf-8",
    )
    main(["doctor", "--config", str(folder.config_path)])
    out = capsys.readouterr().out
    assert "[FAIL] support cases (Case): salesforce.cases.escalated_statuses = ['On Fire']" in out
    assert "[FAIL] surveys (Contact): surveys.date_field = 'NPS_When__c'" in out


def test_doctor_says_whether_a_usage_tab_is_read_again_only_when_it_changes(
    demo40: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    """A Sheets usage source: the usage line says the spreadsheet's Drive version is known
    (an unchanged tab is not read again), or that it is read whole and how to change that."""
    folder, sandbox = demo40
    header = (folder.workdir / "usage.csv").read_text("utf-8").splitlines()[:3]
    client = gspread.Client(auth=None, session=build_session(sandbox.url))  # type: ignore[arg-type]
    tab = client.open_by_key(DASHBOARD_SPREADSHEET_ID).add_worksheet("usage", rows=5, cols=8)
    tab.update([line.split(",") for line in header], "A1")
    text = folder.config_path.read_text("utf-8")
    usage = text[text.index("[usage]") :].split("\n\n")[0]
    folder.config_path.write_text(
        text.replace(
            usage,
            f'[usage]\nsource = "sheets"\nspreadsheet_id = "{DASHBOARD_SPREADSHEET_ID}"\n'
            'worksheet = "usage"\nmetrics = ["surveys_run"]',
        ),
        "utf-8",
    )
    main(["doctor", "--config", str(folder.config_path)])
    line = next(x for x in capsys.readouterr().out.splitlines() if "usage source" in x)
    assert "2 good rows" in line and "read again only when the spreadsheet changes" in line
    sandbox.faults.set(drive_disabled=1000)
    main(["doctor", "--config", str(folder.config_path)])
    line = next(x for x in capsys.readouterr().out.splitlines() if "usage source" in x)
    assert "read whole every run" in line and "enable the Google Drive API" in line
    text = folder.config_path.read_text("utf-8")
    folder.config_path.write_text(text + '\n[local_copy]\npath = ""\n', "utf-8")
    main(["doctor", "--config", str(folder.config_path)])
    line = next(x for x in capsys.readouterr().out.splitlines() if "usage source" in x)
    assert "read whole every run ([local_copy] path is empty" in line
