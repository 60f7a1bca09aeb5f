"""A deterministic sample book of business: a Japanese B2B SaaS for HR and payroll.

Same account count and same day give the same book. Accounts follow one of a few stories
(healthy, steady, declining, churned, new) and their usage tells that story: accounts that
churned really show decaying usage before they leave, so backtests have something to find.
Usage lands in a CSV file, the embedded default usage source.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cs_sync.connectors.usage_settings import KEY_COLUMN, METRIC_COLUMNS, MONTH_COLUMN
from cs_sync.sandbox.access import grant_seeded_access
from cs_sync.sandbox.drive_api import (
    FOLDER,
    SPREADSHEET,
    add_file,
    add_shared_drive,
    new_drive_state,
)
from cs_sync.sandbox.schema import (
    CLOSED_TASK_STATUSES,
    TASK_STATUSES,
    cs_sync_account_fields,
)
from cs_sync.sandbox.seed_data import (
    CSMS,
    GIVEN,
    INDUSTRY_BY_TAIL,
    NAME_HEADS,
    NAME_TAILS,
    PREFECTURES,
    SURNAMES,
    add_months,
    month_start,
    pick_profile,
    stage_for,
)
from cs_sync.sandbox.seed_signals import (
    account_fields,
    contract_terms,
    field_history,
    seed_activity,
    seed_field_history,
    signal_stream,
    survey_answer,
)
from cs_sync.sandbox.seed_usage import usage_months
from cs_sync.sandbox.sheets_api import new_spreadsheet
from cs_sync.sandbox.store import OrgStore, now_stamp

SANDBOX_USERNAME = "cs-sync@example.co.jp"
SANDBOX_PASSWORD = "sandbox-password"  # noqa: S105 - the sandbox's own throwaway login
SANDBOX_TOKEN = "SANDBOXTOKEN00"  # noqa: S105
# Raised when a seeded org changes shape, so that `cs-sync demo` seeds an old folder anew.
SEED_FORMAT = 8
# The org's External Client App: its client credentials flow runs as the integration user.
SANDBOX_CLIENT_ID = "3MVG9cs-sync-sandbox-app"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - the sandbox's own throwaway
DASHBOARD_SPREADSHEET_ID = "sandbox-kpi-dashboard"
# Google Drive: the service account the Google calls come from, and the shared drive (with a
# folder for dashboards) where it is Content manager, as `cs-sync setup dashboard` needs.
SANDBOX_SERVICE_ACCOUNT = "cs-sync@cs-sync-sandbox.iam.gserviceaccount.com"
SHARED_DRIVE_ID = "0AcsSyncSharedDrive"
DASHBOARD_FOLDER_ID = "1csSyncDashboardsFolder0000000000"
USAGE_COLUMNS = (KEY_COLUMN, MONTH_COLUMN, *METRIC_COLUMNS)


@dataclass
class SeedResult:
    accounts: int
    active_accounts: int
    churned_accounts: int
    users: int
    opportunities: int
    usage_rows: int
    usage_path: Path


class _BookBuilder:
    def __init__(self, store: OrgStore, accounts: int, as_of: date, seed: int) -> None:
        self.store = store
        self.count = accounts
        self.as_of = as_of
        self.rng = random.Random(f"cs-sync-book:{seed}:{accounts}:{as_of.isoformat()}")
        self.seed = seed
        self.activities = 0
        self.last_month = add_months(month_start(as_of), -1)  # the last complete month
        self.first_month = add_months(self.last_month, -26)  # 27 months of history
        self.usage: list[dict[str, Any]] = []
        self.opportunities = 0
        self.names: set[str] = set()
        self.divisions: dict[str, int] = {}

    def build(self) -> tuple[int, int, int]:
        manager = self.store.insert(
            "User",
            {
                "FirstName": "カスタマーサクセス",
                "LastName": "マネージャー",
                "Email": "cs-manager@example.co.jp",
                "Username": "cs-manager@example.co.jp",
                "IsActive": True,
                "Title": "CS Manager",
                "Name": "カスタマーサクセス マネージャー",
            },
        )
        integration = self.store.insert(
            "User",
            {
                "FirstName": "cs-sync",
                "LastName": "Integration",
                "Email": SANDBOX_USERNAME,
                "Username": SANDBOX_USERNAME,
                "IsActive": True,
                "Title": "Integration",
                "Name": "cs-sync Integration",
            },
        )
        self.store.add_login(SANDBOX_USERNAME, SANDBOX_PASSWORD + SANDBOX_TOKEN, integration)
        for order, status in enumerate(TASK_STATUSES, start=1):
            self.store.insert(
                "TaskStatus",
                {
                    "MasterLabel": status,
                    "ApiName": status,
                    "IsClosed": status in CLOSED_TASK_STATUSES,
                    "IsDefault": order == 1,
                    "SortOrder": order,
                },
            )
        self.store.register_client_app(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_USERNAME)
        self.store.set_meta("default_owner_id", manager)
        csms = []
        for index, (last, first, active) in enumerate(CSMS):
            user_id = self.store.insert(
                "User",
                {
                    "FirstName": first,
                    "LastName": last,
                    "Name": f"{last} {first}",
                    "Email": f"csm{index + 1:02d}@example.co.jp",
                    "Username": f"csm{index + 1:02d}@example.co.jp",
                    "IsActive": active,
                    "Title": "Customer Success Manager",
                },
            )
            csms.append((user_id, active))
        active_csms = [u for u, active in csms if active]
        inactive_csms = [u for u, active in csms if not active]
        churned = 0
        for index in range(self.count):
            owner = (
                self.rng.choice(inactive_csms)
                if self.rng.random() < 0.08
                else self.rng.choice(active_csms)
            )
            sub = self.rng.choice([u for u in active_csms if u != owner])
            if self._account(index, owner, sub):
                churned += 1
        return len(csms) + 2, self.count - churned, churned

    def _company_name(self) -> str:
        """A unique company name; large books fall back to branch offices, then divisions."""
        name = f"株式会社{self.rng.choice(NAME_HEADS)}{self.rng.choice(NAME_TAILS)}"
        branch = f"{name}{self.rng.choice(PREFECTURES)[:-1]}支社"
        for candidate in (name, branch):
            if candidate not in self.names:
                self.names.add(candidate)
                return candidate
        while True:  # numbered divisions: count per base name, so this stays O(1) per account
            self.divisions[name] = self.divisions.get(name, 1) + 1
            candidate = f"{name} 第{self.divisions[name]}事業部"
            if candidate not in self.names:
                self.names.add(candidate)
                return candidate

    def _account(self, index: int, owner: str, sub: str) -> bool:
        rng = self.rng
        profile = pick_profile(rng)
        name = self._company_name()
        tail = next(t for t in NAME_TAILS if name.endswith(t) or t in name)
        employees = int(min(8000, max(15, rng.lognormvariate(5.0, 1.0))))
        seats = max(10, int(employees * rng.uniform(0.7, 1.0)))
        unit_price = rng.choice([400, 500, 600])  # JPY per seat per month
        if profile == "new":
            start = add_months(month_start(self.as_of), -rng.randint(1, 5)) + timedelta(
                days=rng.randint(0, 27)
            )
        elif profile == "churned":
            start = add_months(self.last_month, -rng.randint(18, 54))
        else:
            start = add_months(self.last_month, -rng.randint(13, 60)) + timedelta(
                days=rng.randint(0, 27)
            )
        anniversaries = []
        year = 1
        while add_months(start, 12 * year) <= self.as_of:
            anniversaries.append(add_months(start, 12 * year))
            year += 1
        churn_date = None
        if profile == "churned":
            recent = [a for a in anniversaries if a >= add_months(self.as_of, -24)]
            if recent and recent[-1] > add_months(start, 6):
                churn_date = rng.choice(recent)
            else:
                profile = "declining"
        renewal = add_months(start, 12 * year)
        seat_growth = 1.0 + (
            rng.uniform(0.1, 0.35) if profile == "healthy" and rng.random() < 0.35 else 0.0
        )
        current_seats = int(seats * seat_growth)
        arr = 0 if churn_date else current_seats * unit_price * 12
        segment = (
            "High Touch" if arr >= 3_000_000 else "Low Touch" if arr >= 800_000 else "Tech Touch"
        )
        if churn_date:
            segment = (
                "High Touch"
                if seats * unit_price * 12 >= 3_000_000
                else "Low Touch"
                if seats * unit_price * 12 >= 800_000
                else "Tech Touch"
            )
        budget = {
            "healthy": ("Secured", "Planned"),
            "steady": ("Planned", "Unknown"),
            "declining": ("Unknown", "Cut"),
            "churned": ("Cut",),
            "new": ("Secured", "Planned"),
        }[profile]
        sentiment = {
            "healthy": ("Positive",),
            "steady": ("Positive", "Neutral"),
            "declining": ("Neutral", "Negative"),
            "churned": ("Negative",),
            "new": ("Positive", "Neutral"),
        }[profile]
        busy = sorted({3, *rng.sample([4, 6, 9, 12], rng.randint(0, 2))})
        signals = signal_stream(self.seed, index)
        record: dict[str, Any] = {
            "Name": name,
            "Type": "Former Customer" if churn_date else "Customer - Direct",
            "Industry": INDUSTRY_BY_TAIL[tail],
            "NumberOfEmployees": employees,
            "BillingState": rng.choice(PREFECTURES),
            "OwnerId": owner,
            "CS_External_Key__c": f"C-{index + 1:06d}",
            "CS_Segment__c": segment,
            "CS_ARR__c": arr,
            "CS_Seats__c": current_seats,
            "CS_Contract_Start__c": start.isoformat(),
            "CS_Renewal_Date__c": (churn_date or renewal).isoformat(),
            "CS_Sub_CSM__c": sub,
            "CS_Busy_Months__c": ",".join(str(m) for m in busy),
            "CS_Approval_Lead_Days__c": rng.choice([14, 21, 30, 45, 60]),
            "CS_Budget_Status__c": rng.choice(budget),
            "CS_Sentiment__c": rng.choice(sentiment),
            "CS_Phase_Delayed__c": False,
            **account_fields(signals, profile, segment, self.as_of),
            **contract_terms(self.seed, index),
        }
        if profile in ("declining", "steady") and rng.random() < 0.04:
            record.update(
                {
                    "CS_Override_Grade__c": "B",
                    "CS_Override_Reason__c": "経営層と再合意済み。来期の拡大を協議中",
                    "CS_Override_Expiry__c": (self.as_of + timedelta(days=45)).isoformat(),
                }
            )
        account_id = self.store.insert("Account", record)
        seed_field_history(
            self.store,
            account_id,
            owner,
            field_history(
                self.seed, index, profile, record, start, churn_date or self.as_of, self.as_of
            ),
        )
        self._opportunities(
            account_id,
            name,
            owner,
            start,
            anniversaries,
            churn_date,
            renewal,
            seats,
            current_seats,
            unit_price,
            profile,
            partial(survey_answer, signals, profile, churn_date or self.as_of),
        )
        self.usage.extend(
            usage_months(
                rng,
                (self.first_month, self.last_month),
                account_id,
                profile,
                start,
                churn_date,
                (seats, current_seats),
            )
        )
        # a former customer's story ends on its churn date, fading as a declining one does
        self.activities += seed_activity(
            self.store,
            signals,
            account_id,
            owner,
            "declining" if churn_date else profile,
            segment,
            churn_date or self.as_of,
            start,
        )
        return churn_date is not None

    def _opportunities(
        self,
        account_id: str,
        name: str,
        owner: str,
        start: date,
        anniversaries: list[date],
        churn_date: date | None,
        renewal: date,
        seats: int,
        current_seats: int,
        unit_price: int,
        profile: str,
        contact_fields: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        rng = self.rng
        opps = [
            (
                "New Business",
                f"{name} 新規契約",
                start - timedelta(days=rng.randint(5, 30)),
                "Closed Won",
                seats * unit_price * 12,
            )
        ]
        for number, anniversary in enumerate(anniversaries, start=1):
            grown = current_seats if number == len(anniversaries) else seats
            if churn_date and anniversary == churn_date:
                opps.append(
                    (
                        "Renewal",
                        f"{name} 更新 {anniversary.year}",
                        anniversary - timedelta(days=rng.randint(0, 20)),
                        "Closed Lost",
                        seats * unit_price * 12,
                    )
                )
                break
            opps.append(
                (
                    "Renewal",
                    f"{name} 更新 {anniversary.year}",
                    anniversary - timedelta(days=rng.randint(0, 20)),
                    "Closed Won",
                    grown * unit_price * 12,
                )
            )
        if current_seats > seats and anniversaries:
            opps.append(
                (
                    "Upsell",
                    f"{name} 追加ライセンス",
                    anniversaries[-1] - timedelta(days=rng.randint(20, 60)),
                    "Closed Won",
                    (current_seats - seats) * unit_price * 12,
                )
            )
        if not churn_date:
            days = (renewal - self.as_of).days
            opps.append(
                (
                    "Renewal",
                    f"{name} 更新 {renewal.year}",
                    renewal,
                    stage_for(days),
                    current_seats * unit_price * 12,
                )
            )
        last_opp = None
        for kind, title, close, stage, amount in opps:
            last_opp = self.store.insert(
                "Opportunity",
                {
                    "AccountId": account_id,
                    "Name": title,
                    "Type": kind,
                    "StageName": stage,
                    "CloseDate": close.isoformat(),
                    "Amount": amount,
                    "OwnerId": owner,
                    "IsClosed": stage.startswith("Closed"),
                    "IsWon": stage == "Closed Won",
                },
            )
        self.opportunities += len(opps)
        roles = [
            ("Economic Buyer", "代表取締役"),
            ("Champion", "人事部 部長"),
            ("Technical Buyer", "情報システム部"),
            ("Business User", "給与担当"),
        ]
        missing_chance = {"declining": 0.45, "churned": 0.5}.get(profile, 0.12)
        for role, title in roles:
            if role in ("Economic Buyer", "Champion") and rng.random() < missing_chance:
                continue
            contact = self.store.insert(
                "Contact",
                {
                    "AccountId": account_id,
                    **_person(rng.choice(SURNAMES), rng.choice(GIVEN)),
                    "Title": title,
                    "Email": f"{role.split()[0].lower()}.{account_id[-6:].lower()}"
                    "@customer.example",
                    **contact_fields(),
                },
            )
            self.store.insert(
                "OpportunityContactRole",
                {
                    "OpportunityId": last_opp,
                    "ContactId": contact,
                    "Role": role,
                    "IsPrimary": role == "Economic Buyer",
                },
            )


def _person(last: str, first: str) -> dict[str, str]:
    """A Japanese name as a Japanese org shows it: family name first."""
    return {"LastName": last, "FirstName": first, "Name": f"{last} {first}"}


def seed_book(
    store: OrgStore,
    usage_path: Path,
    accounts: int,
    as_of: date,
    seed: int = 7,
    bare: bool = False,
) -> SeedResult:
    """Fill an empty sandbox org with a book of business and write its usage CSV.

    `bare`: leave out cs-sync's own fields, as in an org where `cs-sync setup salesforce`
    has not run yet."""
    if store.count("Account"):
        raise ValueError(
            f"the sandbox database {store.path} already holds accounts; seed a new "
            "file (or delete this one) to get a fresh book"
        )
    builder = _BookBuilder(store, accounts, as_of, seed)
    with store.transaction():
        users, active, churned = builder.build()
        store.save_spreadsheet(
            DASHBOARD_SPREADSHEET_ID,
            new_spreadsheet(DASHBOARD_SPREADSHEET_ID, "cs-sync KPI dashboard", ["Sheet1"]),
        )
        store.set_meta("drive", _seed_drive(store))
        store.set_meta(
            "seeded",
            {"accounts": accounts, "as_of": as_of.isoformat(), "seed": seed, "format": SEED_FORMAT},
        )
        if bare:
            store.make_bare()
            own = {f.name for f in cs_sync_account_fields()}
            for record in store.all("Account"):
                store.replace(record["Id"], {k: v for k, v in record.items() if k not in own})
        grant_seeded_access(store, SANDBOX_USERNAME, with_cs_sync_fields=not bare)
        store.settle(now_stamp(datetime.combine(as_of - timedelta(days=1), time(), UTC)))
    usage_path.parent.mkdir(parents=True, exist_ok=True)
    with usage_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=USAGE_COLUMNS)
        writer.writeheader()
        writer.writerows(builder.usage)
    return SeedResult(
        accounts=accounts,
        active_accounts=active,
        churned_accounts=churned,
        users=users,
        opportunities=builder.opportunities,
        usage_rows=len(builder.usage),
        usage_path=usage_path,
    )


def _seed_drive(store: OrgStore) -> dict[str, Any]:
    """The shared drive "CS dashboards": the service account is its Content manager, the CS
    manager its Manager; a folder "KPI" holds the demo's spreadsheet. Every seeded user has a
    Google account."""
    accounts = sorted(str(user["Email"]).lower() for user in store.all("User") if user.get("Email"))
    state = new_drive_state(SANDBOX_SERVICE_ACCOUNT, accounts)
    add_shared_drive(
        state,
        SHARED_DRIVE_ID,
        "CS dashboards",
        {SANDBOX_SERVICE_ACCOUNT: "fileOrganizer", "cs-manager@example.co.jp": "organizer"},
    )
    add_file(state, DASHBOARD_FOLDER_ID, "KPI", FOLDER, SHARED_DRIVE_ID)
    add_file(
        state, DASHBOARD_SPREADSHEET_ID, "cs-sync KPI dashboard", SPREADSHEET, DASHBOARD_FOLDER_ID
    )
    return state
