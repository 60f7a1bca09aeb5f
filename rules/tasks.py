"""Follow-up Tasks the rules want, each with a stable key so it is created once per period.

The key is `cs-sync:<rule>:<account id>:<YYYY-MM>`: a retry, a crash or a rerun in the same
month finds the same key and creates nothing new.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from rules.calendar import add_business_days

if TYPE_CHECKING:  # rules stay free of cs_sync at run time
    from cs_sync.config import TasksConfig

TASK_COLUMNS = [
    "key",
    "rule",
    "account_id",
    "account_name",
    "owner_id",
    "owner_source",
    "subject",
    "description",
    "due_date",
    "priority",
]


CLOSE_COLUMNS = ["task_id", "key", "rule", "account_id", "account_name", "description"]
KNOWN_RULES = ("reonboard",)


def task_key(rule: str, account_id: str, as_of: date) -> str:
    return f"cs-sync:{rule}:{account_id}:{as_of:%Y-%m}"


def parse_key(key: str) -> tuple[str, str, str] | None:
    """(rule, account id, period) of a cs-sync key, or None for a key of another shape."""
    parts = key.split(":")
    if len(parts) != 4 or parts[0] != "cs-sync":
        return None
    return parts[1], parts[2], parts[3]


def tasks_to_close(
    open_tasks: pd.DataFrame, wanted: pd.DataFrame, scored: pd.DataFrame, as_of: date, language: str
) -> pd.DataFrame:
    """Open cs-sync Tasks whose condition has cleared: the rule no longer wants a task for
    that account. Only accounts scored in this run are considered, so a narrowed account
    filter never closes anything."""
    if open_tasks.empty:
        return pd.DataFrame(columns=CLOSE_COLUMNS)
    still_wanted = set(zip(wanted["rule"], wanted["account_id"], strict=True))
    by_account = scored.set_index("account_id")
    rows = []
    for task in open_tasks.itertuples(index=False):
        if task.rule not in KNOWN_RULES or task.account_id not in by_account.index:
            continue
        if (task.rule, task.account_id) in still_wanted:
            continue
        account = by_account.loc[task.account_id]
        grade = account["grade"] if isinstance(account["grade"], str) else "-"
        if language == "ja":
            note = (
                f"[cs-sync {as_of.isoformat()}] 自動クローズ：ヘルスが {grade} に回復したため、"
                "再オンボーディングは不要になりました。"
            )
        else:
            note = (
                f"[cs-sync {as_of.isoformat()}] Closed automatically: health is now "
                f"{grade}, so re-onboarding is no longer needed."
            )
        previous = task.description if isinstance(task.description, str) else ""
        rows.append(
            {
                "task_id": task.task_id,
                "key": task.key,
                "rule": task.rule,
                "account_id": task.account_id,
                "account_name": account["name"],
                "description": (previous + "\n\n" + note).strip()[:32000],
            }
        )
    return pd.DataFrame(rows, columns=CLOSE_COLUMNS)


def choose_owner(row: pd.Series, default_owner_id: str | None) -> tuple[str | None, str]:
    """The account's main CSM; if inactive, the sub CSM; then the configured default owner."""
    if row.get("owner_id") and row.get("owner_active"):
        return str(row["owner_id"]), "owner"
    if row.get("sub_csm_id") and row.get("sub_csm_active"):
        return str(row["sub_csm_id"]), "sub_csm"
    if default_owner_id:
        return default_owner_id, "default"
    return None, "none"


def _text(row: pd.Series, language: str) -> tuple[str, str]:
    name = row["name"]
    reasons = row.get("reasons") or ""
    if language == "ja":
        subject = f"【cs-sync】再オンボーディング：{name}（ヘルス {row['grade']}）"
        description = (
            f"ヘルススコアが {row['grade']} です。理由：{reasons}\n"
            "利用状況を確認し、管理者・担当者との再オンボーディングの場を設定してください。"
            "\n（cs-sync が自動作成）"
        )
    else:
        subject = f"[cs-sync] Re-onboarding: {name} (health {row['grade']})"
        description = (
            f"Health is {row['grade']}. Why: {reasons}\n"
            "Review usage and book a re-onboarding session with the admin and "
            "key users.\n(created by cs-sync)"
        )
    return subject[:255], description


def wanted_tasks(
    scored: pd.DataFrame,
    config: TasksConfig,
    as_of: date,
    language: str,
    closed: frozenset[date] = frozenset(),
) -> pd.DataFrame:
    """One row per Task the rules want this period (re-onboarding for the configured grades).
    Due dates count business days, skipping weekends and the `closed` days."""
    if not config.enabled:
        return pd.DataFrame(columns=TASK_COLUMNS)
    due = add_business_days(as_of, config.due_in_business_days, closed)
    rows = []
    for _, row in scored[scored["grade"].isin(config.grades)].iterrows():
        owner, source = choose_owner(row, config.default_owner_id)
        subject, description = _text(row, language)
        rows.append(
            {
                "key": task_key("reonboard", row["account_id"], as_of),
                "rule": "reonboard",
                "account_id": row["account_id"],
                "account_name": row["name"],
                "owner_id": owner,
                "owner_source": source,
                "subject": subject,
                "description": description,
                "due_date": due,
                "priority": config.priority,
            }
        )
    return pd.DataFrame(rows, columns=TASK_COLUMNS)
