"""`cs-sync demo`: seed a sample org, serve it, write a config pointing at it, run one sync.

Everything lands in one working folder (default ./demo) and stays there, so an admin can then
serve the sandbox themselves and run `plan` / `run` against it like against a real org.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cs_sync.sandbox.seed import (
    DASHBOARD_FOLDER_ID,
    DASHBOARD_SPREADSHEET_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SEED_FORMAT,
    seed_book,
)
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.store import OrgStore

DEFAULT_PORT = 8765


@dataclass
class DemoFolder:
    workdir: Path
    config_path: Path
    database: Path
    usage_path: Path
    port: int
    seeded_now: bool


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _existing_port(config_path: Path) -> int | None:
    if not config_path.exists():
        return None
    import tomllib

    try:
        url = tomllib.loads(config_path.read_text("utf-8"))["sandbox"]["url"]
        return int(str(url).rsplit(":", 1)[1].strip("/"))
    except (KeyError, ValueError, IndexError, tomllib.TOMLDecodeError):
        return None


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)


def demo_config_text(port: int, default_owner_id: str) -> str:
    return f"""# cs-sync configuration written by `cs-sync demo` for the local sandbox.
# The same keys configure a real org: see config.example.toml for every key.

[run]
language = "ja"
timezone = "Asia/Tokyo"

[salesforce]
# The org's My Domain; [sandbox] below routes it to the local sandbox.
instance_url = "https://cs-sync-demo.my.salesforce.com"
api_version = "68.0"
# OAuth 2.0 client credentials of the org's External Client App (its run-as user is the
# integration user). Secrets are read from files (or environment variables), never from here.
auth = "client_credentials"
client_id = "{SANDBOX_CLIENT_ID}"
client_secret_file = "secrets/salesforce_client_secret"
account_filter = "Type = 'Customer - Direct'"

[salesforce.fields]
# Account fields of the team's own, read as signals (each key becomes a column):
fiscal_year_end = "CS_Fiscal_Year_End__c"   # 決算月, "3月"
support_plan = "CS_Support_Plan__c"         # Standard / Premium
risk_flag = "CS_Risk_Flag__c"               # set by CSMs (checkbox)
last_qbr = "CS_Last_QBR__c"                 # last business review (date: days_since_last_qbr)
auto_renew = "CS_Auto_Renew__c"             # 自動更新 (checkbox)
notice_days = "CS_Notice_Days__c"           # 解約予告期間 in days

[usage]
source = "csv"
path = "usage.csv"
account_key = "salesforce_id"
on_bad_rows = "skip"
# a product metric beyond the core ones: surveys customers ran (the survey product)
metrics = ["surveys_run"]

[surveys]
# the latest NPS answer each contact gave, kept on the Contact (score 0-10 and its date)
source = "contact_field"
contact_field = "CS_NPS__c"
date_field = "CS_NPS_Date__c"

[[features]]
name = "surveys_3m"
metric = "surveys_run"
function = "total"
months = 3

[renewal]
# no renewal step in the customer's fiscal-year-end month or the month after (closing)
fiscal_year_end = "fiscal_year_end"
fiscal_busy_months = [0, 1]
# a contract that renews itself is planned back from its notice deadline
auto_renew = "auto_renew"
notice_days = "notice_days"

# The score: product usage first, then the CSM's contact and the support load.
[[health.measures]]
name = "active_ratio"
weight = 30
bad = 0.2
good = 0.8

[[health.measures]]
name = "login_trend"
weight = 15
bad = 0.5
good = 1.0

[[health.measures]]
name = "monthly_feature"
weight = 15
bad = 3
good = 0

[[health.measures]]
name = "seasonal_dropped"
weight = 15
bad = 1
good = 0

[[health.measures]]
name = "surveys_3m"
weight = 10
bad = 0
good = 3
label = {{ ja = "サーベイ実施数（3か月）", en = "surveys run (3 months)" }}

[[health.measures]]
name = "high_priority_cases"
weight = 10
bad = 2
good = 0
label = {{ ja = "優先度高の問い合わせ（30日）", en = "high-priority cases (30 days)" }}

[[health.measures]]
name = "survey_score"
weight = 5
bad = -50
good = 30
label = {{ ja = "NPS", en = "NPS" }}

[[health.measures]]
name = "risk_flag"
weight = 5
bad = 1
good = 0
label = {{ ja = "リスクフラグ", en = "risk flag" }}

# High Touch accounts are also judged on their CSM's contact.
[[health.scorecards]]
name = "high_touch"
segments = ["High Touch"]

[[health.scorecards.measures]]
name = "active_ratio"
weight = 25
bad = 0.2
good = 0.8

[[health.scorecards.measures]]
name = "login_trend"
weight = 10
bad = 0.5
good = 1.0

[[health.scorecards.measures]]
name = "monthly_feature"
weight = 10
bad = 3
good = 0

[[health.scorecards.measures]]
name = "seasonal_dropped"
weight = 10
bad = 1
good = 0

[[health.scorecards.measures]]
name = "days_since_meeting"
weight = 15
bad = 120
good = 45
label = {{ ja = "最終面談", en = "last meeting" }}

[[health.scorecards.measures]]
name = "days_since_last_qbr"
weight = 10
bad = 180
good = 90
label = {{ ja = "前回QBR", en = "last business review" }}

[[health.scorecards.measures]]
name = "high_priority_cases"
weight = 10
bad = 2
good = 0
label = {{ ja = "優先度高の問い合わせ（30日）", en = "high-priority cases (30 days)" }}

[[health.scorecards.measures]]
name = "surveys_3m"
weight = 5
bad = 0
good = 3
label = {{ ja = "サーベイ実施数（3か月）", en = "surveys run (3 months)" }}

[[health.scorecards.measures]]
name = "detractor_share"
weight = 5
bad = 0.5
good = 0
label = {{ ja = "批判者の割合（NPS）", en = "share of detractors (NPS)" }}

[[health.scorecards.measures]]
name = "risk_flag"
weight = 5
bad = 1
good = 0
label = {{ ja = "リスクフラグ", en = "risk flag" }}

[tasks]
# every preset rule (see config.example.toml); at most 25 new Tasks per CSM per run
max_per_owner = 25
default_owner_id = "{default_owner_id}"

[alerts]
# Grade drops, renewals at risk and sponsors leaving, posted once each on the Account's
# Chatter feed (Slack and Teams webhooks take them too: see config.example.toml)
[[alerts.channels]]
name = "account-feeds"
kind = "chatter"

[dashboard]
local_dir = "dashboard"
# The sandbox serves this Google Sheets spreadsheet too; a real one is shared with the
# service account named by dashboard.credentials_file.
spreadsheet_id = "{DASHBOARD_SPREADSHEET_ID}"
# `cs-sync setup dashboard` shares it (the sandbox's shared drive holds it, in this folder)
drive_folder_id = "{DASHBOARD_FOLDER_ID}"
share_with = ["cs-manager@example.co.jp", "group:cs-leads@example.co.jp"]

# The unit economics over twelve months: LTV, LTV/CAC, CAC payback
gross_margin = 0.8
cac = 1500000

# The manager's targets, shown against the actuals with the gap
[[dashboard.targets]]
metric = "nrr"
period = "fiscal_year"
at_least = "103%"

[[dashboard.targets]]
metric = "logo_churn_rate"
period = "ttm"
at_most = "5%"

[[dashboard.targets]]
metric = "onboarding_completion_rate"
period = "day"
at_least = "80%"

[sandbox]
# The local stand-in for Salesforce and Google: every Salesforce and Google call goes to this
# address. Leave [sandbox] out to talk to the real services.
url = "http://127.0.0.1:{port}"
database = "sandbox.db"
"""


def prepare_demo(workdir: Path, accounts: int, as_of: date, port: int | None = None) -> DemoFolder:
    """Seed (when needed) and write the config; returns where everything is. The sandbox's
    port: `port`, else the one the config already names, else 8765 when free, else any free
    one; `start_sandbox` rewrites it when the sandbox ends up elsewhere."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.toml"
    database = workdir / "sandbox.db"
    usage_path = workdir / "usage.csv"
    seeded_now = False
    if database.exists():
        store = OrgStore(database)
        seeded = store.get_meta("seeded", {})
        store.close()
        if (seeded.get("accounts"), seeded.get("as_of"), seeded.get("format")) != (
            accounts,
            as_of.isoformat(),
            SEED_FORMAT,
        ):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
    if not database.exists():
        store = OrgStore(database)
        try:
            seed_book(store, usage_path, accounts, as_of)
        finally:
            store.close()
        seeded_now = True
    store = OrgStore(database)
    default_owner = str(store.get_meta("default_owner_id"))
    store.close()
    if port is None:
        port = _existing_port(config_path) or DEFAULT_PORT
        if not _port_free(port):
            port = _free_port()
    _write_secret(workdir / "secrets" / "salesforce_client_secret", SANDBOX_CLIENT_SECRET)
    config_path.write_text(demo_config_text(port, default_owner), encoding="utf-8")
    return DemoFolder(
        workdir=workdir,
        config_path=config_path,
        database=database,
        usage_path=usage_path,
        port=port,
        seeded_now=seeded_now,
    )


def write_demo_config(folder: DemoFolder, port: int) -> None:
    """Point the demo config at the sandbox on `port`; the rest of the file, edits included,
    stays as it is."""
    text = folder.config_path.read_text("utf-8")
    text = text.replace(f"http://127.0.0.1:{folder.port}", f"http://127.0.0.1:{port}")
    folder.config_path.write_text(text, encoding="utf-8")
    folder.port = port


def start_sandbox(folder: DemoFolder, port: int | None = None) -> Sandbox:
    """The folder's sandbox, listening: on `port` (default: the config's) or, when that is
    taken, on any free port; the config is then rewritten to name the port it got. Bound
    first, written second, so no other process can take the port in between."""
    try:
        sandbox = Sandbox(folder.database, port=folder.port if port is None else port)
    except OSError:
        sandbox = Sandbox(folder.database, port=0)
    if sandbox.port != folder.port:
        write_demo_config(folder, sandbox.port)
    return sandbox


def relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
