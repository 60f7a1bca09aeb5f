"""The seeded book's signals beyond usage: the Account fields a team keeps of its own (the
fiscal-year-end month, the support plan, a risk flag, the last business review), the CSMs'
completed calls and meetings, and support cases, each telling the account's story.

Drawn from a random stream of their own per account, so the rest of the book (names, usage,
opportunities) stays as it was before these signals existed.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from cs_sync.sandbox.schema import FISCAL_MONTHS
from cs_sync.sandbox.store import OrgStore

# How often each story meets its CSM, in meetings over the last half year, by segment.
MEETINGS = {
    "High Touch": {"healthy": (3, 6), "steady": (2, 4), "new": (3, 6), "declining": (0, 2)},
    "Low Touch": {"healthy": (1, 2), "steady": (0, 2), "new": (1, 3), "declining": (0, 1)},
    "Tech Touch": {"healthy": (0, 1), "steady": (0, 1), "new": (0, 1), "declining": (0, 0)},
}
OPEN_CASES = {"healthy": (0, 1), "steady": (0, 1), "new": (0, 2), "declining": (1, 3)}


def signal_stream(seed: int, index: int) -> random.Random:
    return random.Random(f"cs-sync-signals:{seed}:{index}")


def account_fields(rng: random.Random, profile: str, segment: str, as_of: date) -> dict[str, Any]:
    """The Account fields of the team's own: most Japanese companies close their year in
    March, some in December."""
    fiscal = 3 if rng.random() < 0.6 else 12 if rng.random() < 0.5 else rng.randint(1, 12)
    qbr = None
    if segment == "High Touch" and profile != "churned":
        ago = rng.randint(20, 110) if profile != "declining" else rng.randint(120, 300)
        qbr = (as_of - timedelta(days=ago)).isoformat()
    risky = {"declining": 0.35, "churned": 0.5}.get(profile, 0.03)
    return {
        "CS_Fiscal_Year_End__c": FISCAL_MONTHS[fiscal - 1],
        "CS_Support_Plan__c": "Premium"
        if segment == "High Touch" and rng.random() < 0.7
        else "Standard",
        "CS_Risk_Flag__c": rng.random() < risky,
        "CS_Last_QBR__c": qbr,
    }


def contract_terms(seed: int, index: int) -> dict[str, Any]:
    """Whether the contract renews itself (自動更新, common in Japan: about two in five here)
    and the notice a cancellation needs, from a stream of its own so that the other signals
    stay as they were."""
    rng = random.Random(f"cs-sync-contract:{seed}:{index}")
    auto = rng.random() < 0.4
    return {
        "CS_Auto_Renew__c": auto,
        "CS_Notice_Days__c": rng.choice([30, 60, 90]) if auto else None,
    }


HISTORY_DAYS = 540  # activity and cases go back this far (a backtest's dates need them)


NPS_BY_PROFILE = {
    "healthy": (7, 10),
    "steady": (5, 9),
    "new": (6, 10),
    "declining": (1, 7),
    "churned": (0, 6),
}


def survey_answer(rng: random.Random, profile: str, as_of: date) -> dict[str, Any]:
    """A contact's latest NPS answer (0-10) and its date, for the six contacts in ten who
    answered the survey."""
    if rng.random() >= 0.6:
        return {}
    low, high = NPS_BY_PROFILE.get(profile, (5, 9))
    answered = as_of - timedelta(days=rng.randint(5, 300))
    return {"CS_NPS__c": rng.randint(low, high), "CS_NPS_Date__c": answered.isoformat()}


def seed_activity(
    store: OrgStore,
    rng: random.Random,
    account_id: str,
    owner: str,
    profile: str,
    segment: str,
    as_of: date,
    start: date,
) -> int:
    """Completed calls and emails, past (and a few planned) meetings, and cases of one
    customer from its contract start (at most HISTORY_DAYS) to `as_of` (the run date, or the
    day a former customer left). Returns how many records were made."""
    made = 0
    span = max(1, min(HISTORY_DAYS, (as_of - start).days))
    halves = span / 180  # the rates below are per half year
    low, high = MEETINGS[segment].get(profile, (0, 1))
    for _ in range(round(rng.randint(low, high) * halves)):
        day = as_of - timedelta(days=rng.randint(1, span))
        hour = rng.choice([1, 4, 6])  # 10:00, 13:00, 15:00 in Tokyo
        store.insert(
            "Event",
            {
                "Subject": "定例ミーティング",
                "OwnerId": owner,
                "WhatId": account_id,
                "AccountId": account_id,
                "ActivityDateTime": f"{day.isoformat()}T{hour:02d}:00:00.000+0000",
                "ActivityDate": day.isoformat(),
                "DurationInMinutes": 60,
                "Type": "Meeting",
            },
        )
        made += 1
    if segment != "Tech Touch" and rng.random() < 0.3:  # a meeting booked for next month
        day = as_of + timedelta(days=rng.randint(7, 30))
        store.insert(
            "Event",
            {
                "Subject": "次回定例",
                "OwnerId": owner,
                "WhatId": account_id,
                "AccountId": account_id,
                "ActivityDateTime": f"{day.isoformat()}T10:00:00.000+0000",
                "ActivityDate": day.isoformat(),
                "DurationInMinutes": 60,
                "Type": "Meeting",
            },
        )
        made += 1
    calls = round(rng.randint(2, 8 if profile != "declining" else 3) * halves)
    for _ in range(calls if segment != "Tech Touch" else 0):
        day = as_of - timedelta(days=rng.randint(1, span))
        store.insert(
            "Task",
            {
                "Subject": rng.choice(["電話フォロー", "メールでのご案内"]),
                "OwnerId": owner,
                "WhatId": account_id,
                "AccountId": account_id,
                "ActivityDate": day.isoformat(),
                "Status": "Completed",
                "IsClosed": True,
                "Priority": "Normal",
                "Type": rng.choice(["Call", "Email"]),
            },
        )
        made += 1
    return made + _cases(store, rng, account_id, owner, profile, as_of, span)


def _cases(
    store: OrgStore,
    rng: random.Random,
    account_id: str,
    owner: str,
    profile: str,
    as_of: date,
    span: int,
) -> int:
    low, high = OPEN_CASES.get(profile, (0, 1))
    opened = rng.randint(low, high)
    closed = round(rng.randint(0, 2) * span / 360)
    for number in range(opened + closed):
        still_open = number < opened
        ago = rng.randint(0, min(span, 45 if still_open else span))
        created = as_of - timedelta(days=ago)
        urgent = profile == "declining" and rng.random() < 0.5
        status = (
            ("Escalated" if urgent and rng.random() < 0.5 else rng.choice(["New", "Working"]))
            if still_open
            else "Closed"
        )
        store.insert(
            "Case",
            {
                "AccountId": account_id,
                "OwnerId": owner,
                "Subject": rng.choice(["ログインできない", "給与計算の設定", "CSV取込エラー"]),
                "Status": status,
                "Priority": "High" if urgent else rng.choice(["Medium", "Low"]),
                "IsEscalated": status == "Escalated",
                "IsClosed": not still_open,
                "CreatedDate": f"{created.isoformat()}T01:00:00.000+0000",
                "ClosedDate": None
                if still_open
                else f"{min(as_of, created + timedelta(days=rng.randint(1, 10))).isoformat()}"
                "T09:00:00.000+0000",
            },
        )
    return opened + closed


# ---------------------------------------------------------------- field history

# The org tracks sentiment and budget status (schema.SEEDED_TRACKING) and keeps 18 months of
# their history (Salesforce's retention): changes older than that are gone.
HISTORY_KEPT_DAYS = 548
# What each story's sentiment and budget status were before the value they hold today.
EARLIER = {
    "CS_Sentiment__c": {
        "Negative": ("Neutral", "Positive"),
        "Neutral": ("Positive",),
        "Positive": ("Neutral",),
    },
    "CS_Budget_Status__c": {
        "Cut": ("Unknown", "Planned"),
        "Unknown": ("Planned",),
        "Planned": ("Unknown", "Secured"),
        "Secured": ("Planned",),
    },
}
# How likely a story's value changed within the kept history, and how long before its end
# (the churn date, or today) the change came, in days.
CHANGED = {
    "churned": (0.95, 20, 150),
    "declining": (0.7, 15, 240),
    "steady": (0.25, 10, 500),
    "healthy": (0.15, 10, 500),
    "new": (0.0, 0, 0),
}


def field_history(
    seed: int, index: int, profile: str, now: dict[str, Any], start: date, end: date, as_of: date
) -> list[tuple[str, Any, Any, date]]:
    """The tracked fields' changes of one account (field, old value, new value, day), oldest
    first, ending at the values it holds today (`now`): a churned account's sentiment turned
    negative and its budget was cut some weeks or months before it left."""
    rng = random.Random(f"cs-sync-history:{seed}:{index}")
    chance, soonest, latest = CHANGED[profile]
    kept_from = as_of - timedelta(days=HISTORY_KEPT_DAYS)
    changes = []
    for name, earlier in EARLIER.items():
        value = now.get(name)
        if value not in earlier or rng.random() >= chance:
            continue
        day = end - timedelta(days=rng.randint(soonest, latest))
        if day <= start or day < kept_from or day > as_of:
            continue
        changes.append((name, rng.choice(earlier[value]), value, day))
    return sorted(changes, key=lambda change: change[3])


def seed_field_history(
    store: OrgStore, account_id: str, owner: str, changes: list[tuple[str, Any, Any, date]]
) -> None:
    for name, old, new, day in changes:
        store.insert(
            "AccountHistory",
            {
                "AccountId": account_id,
                "Field": name,
                "OldValue": old,
                "NewValue": new,
                "CreatedById": owner,
                "IsDeleted": False,
                "CreatedDate": f"{day.isoformat()}T01:00:00.000+0000",
            },
        )
