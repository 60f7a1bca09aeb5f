"""`cs-sync setup salesforce` and `cs-sync doctor`: get an org ready, then check it.

Both print one line per item with what to do about anything that is not right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cs_sync.brakes import brake_streak, brake_summary
from cs_sync.config import Config
from cs_sync.connectors.history_store import open_history
from cs_sync.connectors.salesforce import SalesforceClient, soql
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.sheets_dashboard import open_dashboard
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.errors import CsSyncError
from cs_sync.extract import read_usage
from cs_sync.org_fields import FieldSpec, input_fields, required_fields
from cs_sync.rules.calendar import last_complete_month
from cs_sync.rules.phases import phase_order

PERMISSION_STEP = (
    "Next: give the integration user access to these fields. In Setup > Permission Sets, "
    'create (or open) a permission set such as "cs-sync", add Field Permissions with Read and '
    "Edit on each field above (Account and Activity), and assign it to {user}. Until then "
    "Salesforce hides the fields from cs-sync; `cs-sync doctor` shows what it can see."
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        text = f"[{mark}] {self.name}: {self.detail}"
        return text + (f"\n       fix: {self.fix}" if not self.ok and self.fix else "")


@dataclass
class FieldState:
    spec: FieldSpec
    status: str  # present | missing | wrong type | read-only
    detail: str = ""


@dataclass
class SetupReport:
    states: list[FieldState] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _client(config: Config) -> tuple[SalesforceClient, CallCounter]:
    counter = CallCounter()
    session = build_session(
        config.sandbox.url, counter, timeout=(10.0, config.salesforce.timeout_s)
    )
    return connect(config.salesforce, session, counter), counter


def _described(client: SalesforceClient, sobject: str) -> dict[str, dict[str, Any]]:
    return {f["name"].lower(): f for f in client.describe(sobject)["fields"]}


def field_states(client: SalesforceClient, specs: list[FieldSpec]) -> list[FieldState]:
    described = {sobject: _described(client, sobject) for sobject in {s.sobject for s in specs}}
    states = []
    for spec in specs:
        found = described[spec.sobject].get(spec.name.lower())
        if found is None:
            states.append(FieldState(spec, "missing"))
        elif found["type"] != spec.describe_type:
            states.append(
                FieldState(
                    spec, "wrong type", f"is {found['type']}, cs-sync needs {spec.describe_type}"
                )
            )
        elif spec.purpose == "written" and not (
            found.get("updateable") and found.get("createable", True)
        ):
            states.append(FieldState(spec, "read-only", "the integration user cannot edit it"))
        elif missing := _missing_values(spec, found):
            states.append(
                FieldState(
                    spec,
                    "values missing",
                    f"the picklist lacks {', '.join(missing)}: add them to the field's values",
                )
            )
        else:
            states.append(FieldState(spec, "present"))
    return states


def _missing_values(spec: FieldSpec, described: dict[str, Any]) -> list[str]:
    """Values cs-sync writes (grades, phases) that a restricted picklist does not allow."""
    if spec.purpose != "written" or spec.type != "Picklist":
        return []
    allowed = {v.get("value") for v in described.get("picklistValues") or [] if v.get("active")}
    return [value for value in spec.values if value not in allowed]


def _specs(config: Config) -> list[FieldSpec]:
    """The fields, with the picklist values this configuration writes."""
    return required_fields(
        config.salesforce.fields,
        [g for g, _ in config.health.grades],
        phase_order(config.phases.phases),
        [s.name for s in config.renewal.strategies],
    )


def setup_salesforce(config: Config, apply: bool) -> SetupReport:
    client, _ = _client(config)
    specs = _specs(config)
    report = SetupReport(states=field_states(client, specs))
    if not apply:
        return report
    for state in report.states:
        if state.status != "missing":
            continue
        try:
            client.create_custom_field(state.spec.full_name, state.spec.metadata())
            report.created.append(state.spec.full_name)
        except CsSyncError as error:
            report.failed.append((state.spec.full_name, str(error)))
    return report


def describe_setup(report: SetupReport, config: Config, apply: bool) -> str:
    lines = ["Fields cs-sync needs:"]
    for state in report.states:
        spec = state.spec
        status = state.status + (f" ({state.detail})" if state.detail else "")
        if spec.full_name in report.created:
            status = "created"
        name = f"{spec.sobject}.{spec.name}"
        kind = spec.summary().split(":")[0]
        lines.append(f"  {name:<34} {kind:<40} {status}")
        if spec.values:
            lines.append(f"  {'':<34}   values: {', '.join(spec.values)}")
    missing = [s for s in report.states if s.status == "missing"]
    if report.failed:
        lines.append("")
        lines += [f"  could not create {name}: {message}" for name, message in report.failed]
    wrong = [s for s in report.states if s.status == "wrong type"]
    for state in wrong:
        lines.append(
            f"  ! {state.spec.sobject}.{state.spec.name} exists with another type: "
            "map another field name in [salesforce.fields] or change its type"
        )
    if not apply and missing:
        lines.append(
            f"\n{len(missing)} field(s) missing. Create them with `cs-sync setup "
            f"salesforce --config {config.path} --apply` (uses the Tooling API)."
        )
    if apply and report.created:
        user = config.salesforce.username or "the integration user (your app's run-as user)"
        lines.append("\n" + PERMISSION_STEP.format(user=user))
    if not missing and not wrong and not report.failed:
        lines.append("\nAll of cs-sync's fields are in place.")
    return "\n".join(lines)


def setup_ok(report: SetupReport) -> bool:
    """True when every field exists (or was just created) with the right type and access."""
    if report.failed or any(s.status in ("wrong type", "read-only") for s in report.states):
        return False
    return all(s.status == "present" or s.spec.full_name in report.created for s in report.states)


# ---------------------------------------------------------------- doctor


def run_doctor(config: Config, as_of: date) -> list[Check]:
    checks: list[Check] = [Check("configuration", True, f"{config.path} is valid")]
    try:
        client, counter = _client(config)
    except CsSyncError as error:
        checks.append(
            Check(
                "Salesforce login",
                False,
                str(error),
                "check salesforce.instance_url, username, domain and the secrets",
            )
        )
        checks += _local_checks(config, as_of)
        return checks
    checks.append(
        Check(
            "Salesforce login",
            True,
            f"logged in ({config.salesforce.auth}) as "
            + (
                config.salesforce.username
                or {"client_credentials": "the app's run-as user"}.get(
                    config.salesforce.auth, "the session user"
                )
            ),
        )
    )
    if counter.api_max is not None and counter.api_used is not None:
        remaining = counter.api_max - counter.api_used
        reserve = config.salesforce.api_reserve_share * counter.api_max
        checks.append(
            Check(
                "API allowance",
                remaining > reserve,
                f"{remaining} of {counter.api_max} daily calls left "
                f"(cs-sync keeps {config.salesforce.api_reserve_share:.0%} in reserve)",
                "wait for the 24-hour allowance to recover, or lower salesforce.api_reserve_share",
            )
        )
    try:
        states = field_states(client, _specs(config))
        bad = [s for s in states if s.status != "present"]
        checks.append(
            Check(
                "cs-sync fields",
                not bad,
                f"{len(states) - len(bad)} of {len(states)} present and editable"
                + (
                    ""
                    if not bad
                    else "; " + ", ".join(f"{s.spec.sobject}.{s.spec.name} {s.status}" for s in bad)
                ),
                f"run `cs-sync setup salesforce --config {config.path} --apply`, then grant the "
                "integration user Read and Edit on the fields (a permission set)",
            )
        )
        account = _described(client, "Account")
        missing_inputs = [
            f"{key} = {name}"
            for key, name in input_fields(config.salesforce.fields)
            if name.lower() not in account
        ]
        checks.append(
            Check(
                "input fields on Account",
                not missing_inputs,
                "all mapped fields readable"
                if not missing_inputs
                else "not found or not visible: " + ", ".join(missing_inputs),
                "map your own fields in [salesforce.fields] or grant the integration user Read",
            )
        )
        where = config.salesforce.account_filter.strip()
        query = "SELECT Id FROM Account" + (f" WHERE {where}" if where else "") + " LIMIT 1"
        try:
            found = list(client.query(query, "the account filter"))
            checks.append(
                Check(
                    "account filter",
                    True,
                    f"{where or '(none)'} matches accounts"
                    if found
                    else f"{where} matches no account",
                )
            )
        except CsSyncError as error:
            checks.append(
                Check(
                    "account filter",
                    False,
                    str(error),
                    "fix salesforce.account_filter (a SOQL condition)",
                )
            )
        checks.append(_closed_status_check(client, config.tasks.closed_status))
        owner = config.tasks.default_owner_id
        if owner:
            users = list(
                client.query(
                    soql("SELECT Id, IsActive FROM User WHERE Id = {owner}", owner=owner),
                    "the default task owner",
                )
            )
            active = bool(users and users[0].get("IsActive"))
            checks.append(
                Check(
                    "default task owner",
                    active,
                    f"{owner} is an active user" if active else f"{owner} is not an active user",
                    "set tasks.default_owner_id to an active user's id",
                )
            )
    except CsSyncError as error:
        checks.append(Check("Salesforce checks", False, str(error)))
    checks += _local_checks(config, as_of)
    return checks


def _closed_status_check(client: SalesforceClient, closed_status: str) -> Check:
    """tasks.closed_status must be one of the org's Task statuses that close a Task."""
    statuses = list(
        client.query("SELECT MasterLabel, IsClosed FROM TaskStatus", "the Task status values")
    )
    closing = [str(s["MasterLabel"]) for s in statuses if s.get("IsClosed")]
    known = {str(s["MasterLabel"]): bool(s.get("IsClosed")) for s in statuses}
    if known.get(closed_status):
        return Check("Task closed status", True, f"{closed_status!r} closes a Task in this org")
    detail = (
        f"{closed_status!r} is a Task status that does not close a Task"
        if closed_status in known
        else f"{closed_status!r} is not a Task status in this org"
    )
    return Check(
        "Task closed status",
        False,
        detail,
        f"set tasks.closed_status to one of: {', '.join(closing) or '(none: add one in Setup)'}",
    )


def _local_checks(config: Config, as_of: date) -> list[Check]:
    checks = []
    try:
        lenient = config.replace_sections(
            usage=config.usage.model_copy(update={"on_bad_rows": "skip"})
        )
        usage = read_usage(lenient, as_of)
        months = usage.frame["month"]
        latest = months.max().strftime("%Y-%m") if len(months) else "-"
        checks.append(
            Check(
                "usage source",
                not usage.problems,
                f"{usage.source}: {len(usage.frame)} good rows, latest month {latest}, "
                f"{len(usage.problems)} bad row(s)"
                + (f"; first: {usage.problems[0]}" if usage.problems else ""),
                'correct the rows named above (cs-sync skips them with usage.on_bad_rows = "skip")',
            )
        )
        expected = last_complete_month(as_of)
        checks.append(
            Check(
                "usage is up to date",
                len(months) > 0 and months.max() >= expected,
                f"latest month {latest}, last complete month {expected:%Y-%m}",
                f"load the usage of {expected:%Y-%m}: without it every account looks idle and "
                "the brakes stop the run",
            )
        )
    except CsSyncError as error:
        checks.append(Check("usage source", False, str(error), "fix the [usage] settings"))
    if config.history.enabled:
        try:
            with open_history(config.history) as store:
                dates, runs = store.dates(), store.runs()
            stopped, detail = brake_streak(runs)
            if stopped:
                checks.append(
                    Check(
                        "recent runs",
                        False,
                        f"the last {stopped} run(s) stopped on a safety brake and wrote "
                        f"nothing: {brake_summary(detail)}",
                        "check `cs-sync plan`; if the change is meant, run once with --force, "
                        "or raise the limits in [brakes]",
                    )
                )
            checks.append(
                Check(
                    "history store",
                    True,
                    f"{config.history.describe()}: {len(dates)} date(s)"
                    + (f", latest {dates[-1]}" if dates else "; run `cs-sync backfill` to fill it"),
                )
            )
        except (CsSyncError, OSError) as error:
            checks.append(
                Check("history store", False, str(error).splitlines()[0], "fix [history]")
            )
    if config.dashboard.spreadsheet_id is not None:
        try:
            sink = open_dashboard(config.dashboard, config.sandbox.url, None)
            checks.append(
                Check("Sheets dashboard", True, f"{len(sink.tab_ids())} tab(s), open to cs-sync")
            )
        except CsSyncError as error:
            checks.append(
                Check("Sheets dashboard", False, str(error), "fix dashboard.spreadsheet_id")
            )
    folder = config.dashboard.local_dir
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".cs-sync-doctor"
            probe.write_text("ok", encoding="utf-8")
            probe.unlink()
            checks.append(Check("dashboard folder", True, f"{folder} is writable"))
        except OSError as error:
            checks.append(
                Check(
                    "dashboard folder",
                    False,
                    f"{folder}: {error.strerror}",
                    "set dashboard.local_dir to a folder cs-sync may write",
                )
            )
    return checks
