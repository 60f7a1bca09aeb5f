"""`cs-sync setup salesforce`: get an org ready for cs-sync.

It lists the fields cs-sync needs and their state; with --apply it creates the missing ones
(Tooling API) and grants the integration user access to them through a permission set
(org_access.py). A field that exists but is hidden from the integration user is granted, never
created again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cs_sync.config import Config
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.salesforce_admin import current_user, custom_fields
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.errors import CsSyncError
from cs_sync.org_access import GrantReport, grant_fields, grant_steps
from cs_sync.org_fields import PERMISSION_SET, FieldSpec, required_fields
from cs_sync.rules.phases import phase_order

# What a field's state says the integration user needs granted.
NEEDS_GRANT = ("hidden", "read-only", "created")


@dataclass
class FieldState:
    spec: FieldSpec
    status: str  # present | missing | hidden | wrong type | read-only | values missing | created
    detail: str = ""


@dataclass
class SetupReport:
    states: list[FieldState] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    grant: GrantReport | None = None
    user: str = ""


def client_for(config: Config) -> tuple[SalesforceClient, CallCounter]:
    counter = CallCounter()
    session = build_session(
        config.sandbox.url, counter, timeout=(10.0, config.salesforce.timeout_s)
    )
    return connect(config.salesforce, session, counter), counter


def described_fields(client: SalesforceClient, sobject: str) -> dict[str, dict[str, Any]]:
    return {f["name"].lower(): f for f in client.describe(sobject)["fields"]}


def field_states(client: SalesforceClient, specs: list[FieldSpec]) -> list[FieldState]:
    """Each field as the integration user sees it (describe), and whether a field it cannot
    see exists all the same (Tooling API)."""
    sobjects = sorted({s.sobject for s in specs})
    described = {sobject: described_fields(client, sobject) for sobject in sobjects}
    unseen = [s for s in specs if s.name.lower() not in described[s.sobject]]
    existing = custom_fields(client, sobjects) if unseen else set()
    states = []
    for spec in specs:
        found = described[spec.sobject].get(spec.name.lower())
        if found is None:
            hidden = f"{spec.sobject}.{spec.name}".lower() in existing
            states.append(
                FieldState(spec, "hidden", "exists; the integration user cannot see it")
                if hidden
                else FieldState(spec, "missing")
            )
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


def specs_for(config: Config) -> list[FieldSpec]:
    """The fields, with the picklist values this configuration writes."""
    return required_fields(
        config.salesforce.fields,
        [g for g, _ in config.health.grades],
        phase_order(config.phases.phases),
        [s.name for s in config.renewal.strategies],
    )


def setup_salesforce(config: Config, apply: bool) -> SetupReport:
    client, _ = client_for(config)
    specs = specs_for(config)
    report = SetupReport(states=field_states(client, specs))
    if not apply:
        return report
    for state in report.states:
        if state.status != "missing":
            continue
        try:
            client.create_custom_field(state.spec.full_name, state.spec.metadata())
            report.created.append(state.spec.full_name)
            state.status, state.detail = "created", ""
        except CsSyncError as error:
            report.failed.append((state.spec.full_name, str(error)))
    to_grant = [s.spec for s in report.states if s.status in NEEDS_GRANT]
    if to_grant:
        user_id, report.user = current_user(client)
        report.grant = grant_fields(client, to_grant, user_id)
        if not report.grant.refused:  # what the integration user sees now
            granted = {s.spec.name: s for s in field_states(client, specs)}
            report.states = [
                granted[s.spec.name] if s.status in NEEDS_GRANT else s for s in report.states
            ]
    return report


def describe_setup(report: SetupReport, config: Config, apply: bool) -> str:
    lines = ["Fields cs-sync needs:"]
    for state in report.states:
        spec = state.spec
        status = state.status + (f" ({state.detail})" if state.detail else "")
        if spec.full_name in report.created and state.status == "present":
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
    for state in report.states:
        if state.status == "wrong type":
            lines.append(
                f"  ! {state.spec.sobject}.{state.spec.name} exists with another type: "
                "map another field name in [salesforce.fields] or change its type"
            )
    lines += _grant_lines(report)
    ungranted = [s for s in report.states if s.status in NEEDS_GRANT]
    if not apply and (missing or ungranted):
        lines.append(
            f"\n{len(missing)} field(s) missing, {len(ungranted)} not open to the integration "
            f"user. `cs-sync setup salesforce --config {config.path} --apply` creates the "
            f"missing ones (Tooling API) and grants access through the permission set "
            f"{PERMISSION_SET}."
        )
    if setup_ok(report):
        lines.append("\nAll of cs-sync's fields are in place and open to the integration user.")
    return "\n".join(lines)


def _grant_lines(report: SetupReport) -> list[str]:
    grant = report.grant
    if grant is None:
        return []
    lines = [""]
    if grant.set_created:
        lines.append(f"Created the permission set {PERMISSION_SET}.")
    if grant.granted:
        lines.append(f"Granted {len(grant.granted)} field(s) in {PERMISSION_SET}.")
    if grant.assigned:
        lines.append(f"Assigned {PERMISSION_SET} to {report.user}.")
    lines += [f"  could not grant {name}: {message}" for name, message in grant.failed]
    if grant.refused:
        waiting = [s.spec for s in report.states if s.status in NEEDS_GRANT]
        lines.append(f"The integration user may not grant field access itself ({grant.refused}).")
        lines.append(grant_steps(waiting, report.user))
    return lines


def setup_ok(report: SetupReport) -> bool:
    """True when every field exists with the right type and the integration user can use it."""
    return not report.failed and all(s.status == "present" for s in report.states)
