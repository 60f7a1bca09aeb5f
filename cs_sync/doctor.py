"""`cs-sync doctor`: log in, then check every part of an install and say what to fix.

One line per check: the Salesforce login and API allowance, cs-sync's fields and what the
integration user can see of them and of the book, the account filter, the Task settings, the
usage source, the history, the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cs_sync.brakes import brake_streak, brake_summary
from cs_sync.config import Config
from cs_sync.connectors.history_store import open_history
from cs_sync.connectors.salesforce import SalesforceClient, soql
from cs_sync.connectors.salesforce_admin import current_user
from cs_sync.connectors.sheets_dashboard import open_dashboard
from cs_sync.connectors.usage_settings import SheetsUsage
from cs_sync.connectors.usage_sheets import sheet_version
from cs_sync.connectors.webhooks import check_address
from cs_sync.errors import CsSyncError
from cs_sync.extract import read_usage, usage_sheets_client
from cs_sync.extract_signals import signal_checks
from cs_sync.org_access import record_access_gaps
from cs_sync.org_fields import PERMISSION_SET, unseen_inputs
from cs_sync.rules.calendar import last_complete_month
from cs_sync.setup import client_for, described_fields, field_states, specs_for


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


def run_doctor(config: Config, as_of: date) -> list[Check]:
    checks: list[Check] = [Check("configuration", True, f"{config.path} is valid")]
    try:
        client, counter = client_for(config)
    except CsSyncError as error:
        checks.append(
            Check(
                "Salesforce login",
                False,
                str(error),
                "check salesforce.instance_url, username, domain and the secrets",
            )
        )
        checks += _alert_checks(config, None)
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
        states = field_states(client, specs_for(config))
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
                f"run `cs-sync setup salesforce --config {config.path} --apply`: it creates the "
                f"missing fields and grants hidden or read-only ones to the integration user "
                f"(permission set {PERMISSION_SET})",
            )
        )
        checks.append(_record_access_check(client))
        account = described_fields(client, "Account")
        missing_inputs = [
            f"{key} = {name}" for key, name in unseen_inputs(config.salesforce.fields, account)
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
        for name, problem in signal_checks(client, config):
            checks.append(
                Check(
                    name,
                    problem is None,
                    problem or "the fields and values the configuration names are there",
                    "fix the setting named above",
                )
            )
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
    checks += _alert_checks(config, client)
    checks += _local_checks(config, as_of)
    return checks


def _alert_checks(config: Config, client: SalesforceClient | None) -> list[Check]:
    """Each alert channel without posting to it: a webhook's secret is readable and is the
    service's address (never shown); Chatter is on in the org (FeedItem exists)."""
    checks = []
    for channel in config.alerts.channels:
        name = f"alerts channel {channel.name}"
        try:
            if channel.webhook_url is not None:
                url = channel.webhook_url.read()
                check_address(channel.kind, url, f"alerts.channels.{channel.name}")
                checks.append(Check(name, True, f"a {channel.kind} webhook address (not posted)"))
            elif client is not None:
                client.describe("FeedItem")
                checks.append(Check(name, True, "Chatter posts can be created on Accounts"))
        except CsSyncError as error:
            fix = (
                "turn Chatter on (Setup > Chatter Settings) or remove the channel"
                if channel.kind == "chatter"
                else f"set alerts.channels.{channel.name}.webhook_url_env or _file"
            )
            checks.append(Check(name, False, str(error).splitlines()[0], fix))
    return checks


def _record_access_check(client: SalesforceClient) -> Check:
    """Without View All / Modify All a real org silently hides the records not shared with the
    integration user: the run would score part of the book and call it the whole."""
    try:
        user_id, username = current_user(client)
        gaps = record_access_gaps(client, user_id)
    except CsSyncError as error:
        return Check(
            "record access",
            False,
            f"cannot tell what the integration user may see: {error}",
            "give the integration user View Setup and Configuration, or check its access by hand",
        )
    if not gaps:
        return Check("record access", True, f"{username} can see and update the whole book")
    return Check(
        "record access",
        False,
        f"{username} lacks {', '.join(gaps)}: Salesforce would hide every record not shared "
        "with it, and cs-sync would score and update only part of the book",
        "in a permission set assigned to the integration user, tick View All (Opportunity) and "
        "Modify All (Account, Task) under Object Settings, or give it View All Data and Modify "
        "All Data",
    )


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


def _rereads(config: Config) -> str:
    """For a Sheets tab: whether runs read it again only when it changed (Drive's version of
    the spreadsheet answers), for the usage check's line."""
    if not isinstance(config.usage, SheetsUsage):
        return ""
    if config.local_copy.path is None:
        return "; read whole every run ([local_copy] path is empty: no last read is kept)"
    client = usage_sheets_client(config.usage, config.sandbox.url)
    version = sheet_version(client, config.usage.spreadsheet_id)
    if version is None:
        return (
            "; read whole every run: Drive gave no version of the spreadsheet (enable the "
            "Google Drive API in the service account's project)"
        )
    return f"; read again only when the spreadsheet changes (Drive version {version})"


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
                + (f"; first: {usage.problems[0]}" if usage.problems else "")
                + _rereads(config),
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
