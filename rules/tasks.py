"""Follow-up Tasks: rules that say when a CSM should act, and the Tasks they create or close.

A rule is a condition (an expression) with a trigger:
- "level": while the condition holds, one Task, and no new one while it is open or within
  `cooldown_days` of the last one created;
- "edge": only when the condition becomes true, compared with the values cs-sync stored on
  the Account at the last run (grade, score, trend, phase, phase delayed, strategy).
A segment filter (High / Low / Tech Touch) decides which accounts get it; subject and
description are templates with `{column}` fields in Japanese and English; the due date counts
business days. Caps per run and per owner keep a first run from flooding anyone's list: the
most urgent are served first (the earliest due date, then the rules in order, then the
largest accounts by ARR), playbook steps among them. When a rule's condition clears,
its open Task can be closed with a note saying why.

Each Task's key is `cs-sync:<rule>:<account id>:<YYYY-MM>`: a retry, a crash or a rerun in the
same month finds the same key and creates nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict

from cs_sync.rules.calendar import add_business_days
from cs_sync.rules.expressions import Columns, Expression, ExpressionError
from cs_sync.settings import Between, Settings

NEW_TASK_COLUMNS = [  # a Task to create (extract.TASK_COLUMNS: one read back)
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
# What cs-sync stores on the Account, so an edge trigger can compare with the last run.
STORED = ("score", "grade", "trend", "phase", "phase_delayed", "renewal_strategy")
LANGUAGES = ("ja", "en")


class Template:
    """Text with `{column}` or `{column:format}` fields (format: e.g. `.0f`, `.0%`, `,d`);
    `{{` and `}}` are literal braces. Nothing else is evaluated."""

    _FIELD = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*)(?::([,.0-9]*[dfe%]?))?\}")

    def __init__(self, rule: str, text: str) -> None:
        self.rule = rule
        self.text = text
        names = [match.group(1) for match in self._FIELD.finditer(text)]
        stripped = self._FIELD.sub("", text)
        if "{" in stripped or "}" in stripped:
            position = text.index("{" if "{" in stripped else "}")
            raise ExpressionError(
                rule,
                text,
                "a field is written {column} or {column:.0f}; use {{ and }} for braces",
                position,
            )
        self.names = frozenset(n for n in names if n)

    def render(self, values: Mapping[str, Any]) -> str:
        def field(match: re.Match[str]) -> str:
            if match.group(0) in ("{{", "}}"):
                return match.group(0)[0]
            value = values.get(match.group(1))
            if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
                return "-"
            if isinstance(value, pd.Timestamp):
                value = value.date()
            spec = match.group(2) or ""
            try:
                return format(value, spec) if spec else str(value)
            except (TypeError, ValueError):
                return str(value)

        return self._FIELD.sub(field, self.text)


@dataclass(frozen=True)
class TaskRule:
    name: str  # lower case; part of the Task key
    label: Mapping[str, str]  # by language: what the rule is for, in one phrase
    when: Expression
    subject: Mapping[str, Template]
    description: Mapping[str, Template]
    trigger: str = "level"  # level | edge
    cooldown_days: int = 30
    segments: tuple[str, ...] = ()  # empty: every segment
    due_in_business_days: int = 5
    priority: str = "Normal"
    auto_close: bool = True


class TaskLimits(Settings):
    """Who gets a Task when nobody else can, how many a run may create, and how one closes."""

    enabled: bool = True
    """Create and close follow-up Tasks at all."""
    default_owner_id: str | None = None
    """Owner when the account owner and the sub CSM are both inactive (a User id); unset:
    the task is reported instead of created."""
    max_per_run: Annotated[int, Between(0)] = 200
    """Never create more new Tasks in one run (0: no limit); the rest come in later runs."""
    max_per_owner: Annotated[int, Between(0)] = 0
    """Never create more new Tasks for one owner in one run (0: no limit)."""
    closed_status: str = "Completed"
    """The Task status that means "closed" in your org."""


class TaskSettings(TaskLimits):
    """The limits and the compiled rules (the presets chosen and the admin's own)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    rules: tuple[TaskRule, ...] = ()
    """The rules, in the order their Tasks are served under the caps."""

    @property
    def longest_cooldown(self) -> int:
        return max((r.cooldown_days for r in self.rules), default=0)


def task_period(as_of: date) -> str:
    """The last part of a Task key: one Task per rule, account and month."""
    return f"{as_of:%Y-%m}"


# A Task's key, on the Task's external-id field: cs-sync:<rule>:<account id>:<YYYY-MM>.
KEY_PREFIX = "cs-sync"


def task_key(rule: Any, account_id: Any, as_of: date) -> Any:
    """The key of one Task (texts), or of many at once (Series of rules and account ids)."""
    return KEY_PREFIX + ":" + rule + ":" + account_id + ":" + task_period(as_of)


def key_pattern(as_of: date | None = None) -> str:
    """A SOQL LIKE pattern for cs-sync's keys: every one, or those of `as_of`'s period."""
    return f"{KEY_PREFIX}:%" + (f":{task_period(as_of)}" if as_of is not None else "")


def parse_key(key: str) -> tuple[str, str, str] | None:
    """(rule, account id, period) of a cs-sync key, or None for a key of another shape."""
    parts = key.split(":")
    if len(parts) != 4 or parts[0] != KEY_PREFIX:
        return None
    return parts[1], parts[2], parts[3]


def wanted_pairs(scored: pd.DataFrame, settings: TaskSettings) -> pd.DataFrame:
    """(rule, account_id, row) for every rule whose condition holds for an account now (and,
    for an edge rule, did not at the last run), in the segments it serves; `row` is the
    account's position in `scored`."""
    if not settings.enabled or not settings.rules:
        return pd.DataFrame(columns=["rule", "account_id", "row"])
    columns = Columns(scored)
    previous = None
    parts = []
    for rule in settings.rules:
        met = rule.when.condition(columns).to_numpy()
        if rule.trigger == "edge":
            if previous is None:
                previous = columns.with_columns(last_run_values(scored))
            met = met & ~rule.when.condition(previous).to_numpy()
        if rule.segments:
            met = met & scored["segment"].isin(rule.segments).to_numpy()
        rows = np.flatnonzero(met)
        parts.append(
            pd.DataFrame(
                {
                    "rule": rule.name,
                    "account_id": scored["account_id"].to_numpy()[rows],
                    "row": rows,  # the account's position in `scored`
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def last_run_values(scored: pd.DataFrame) -> pd.DataFrame:
    """The stored outputs as they were before this run (prev_grade shown as grade…)."""
    return pd.DataFrame(
        {name: scored[f"prev_{name}"] for name in STORED if f"prev_{name}" in scored},
        index=scored.index,
    )


@dataclass
class NewTasks:
    tasks: pd.DataFrame  # NEW_TASK_COLUMNS, ready to create
    held_back: dict[str, int]  # rule → tasks the caps kept for later runs
    no_owner: list[tuple[str, str]]  # (account id, account name) without an active owner


def new_tasks(
    wanted: pd.DataFrame,
    scored: pd.DataFrame,
    existing: pd.DataFrame,
    settings: TaskSettings,
    as_of: date,
    language: str,
    closed: frozenset[date] = frozenset(),
    steps: pd.DataFrame | None = None,
    render_steps: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> NewTasks:
    """The Tasks to create now: wanted pairs without this month's key, without an open Task
    of the same rule, and (level rules) past their cooldown; owned by the main CSM, else the
    sub CSM, else the default owner; capped per owner and per run together with the
    playbooks' `steps`, the most urgent first (the earliest due date, then the rules and
    playbooks in order, then the largest accounts); rendered last (`render_steps` for the
    steps), so a large book formats only what is created. `existing`: task_id, key, rule,
    account_id, is_closed, created_date."""
    rules = {r.name: r for r in settings.rules}
    steps = _steps_or_none(steps)
    empty = NewTasks(pd.DataFrame(columns=NEW_TASK_COLUMNS), {}, [])
    if wanted.empty and steps.empty:
        return empty
    if wanted.empty:
        wanted = pd.DataFrame(
            {
                "rule": pd.Series(dtype=object),
                "account_id": pd.Series(dtype=object),
                "row": pd.Series(dtype=np.int64),
            }
        )
    candidates = wanted.assign(key=task_key(wanted["rule"], wanted["account_id"], as_of))
    candidates = candidates[~candidates["key"].isin(set(existing["key"]))]
    blocked = _blocked_pairs(existing, rules, as_of)
    pairs = list(zip(candidates["rule"], candidates["account_id"], strict=True))
    candidates = candidates[np.array([pair not in blocked for pair in pairs], dtype=bool)]

    needed = ["owner_id", "owner_active", "sub_csm_id", "sub_csm_active", "arr", "name"]
    info = scored[needed].iloc[candidates["row"].to_numpy(dtype=np.int64)]
    owner, source = choose_owners(info, settings.default_owner_id)
    candidates = candidates.assign(
        owner_id=owner,
        owner_source=source,
        arr=pd.to_numeric(info["arr"], errors="coerce").fillna(0).to_numpy(),
        rule_order=candidates["rule"].map({name: i for i, name in enumerate(rules)}),
    )
    nobody = candidates["owner_id"].isna().to_numpy()
    names = dict(zip(candidates["account_id"][nobody], info["name"][nobody], strict=True))
    no_owner = [(account, str(name)) for account, name in names.items()]
    candidates = candidates[candidates["owner_id"].notna()]
    ownerless = steps["owner_id"].isna().to_numpy()
    named = dict(zip(steps["account_id"][ownerless], steps["account_name"][ownerless], strict=True))
    step_owners = [(str(a), str(n)) for a, n in named.items() if a not in names]
    steps = steps[~ownerless]
    due_of = {
        name: add_business_days(as_of, rule.due_in_business_days, closed)
        for name, rule in rules.items()
    }
    served = pd.concat(
        [
            pd.DataFrame(
                {
                    "owner_id": candidates["owner_id"].to_numpy(dtype=object),
                    "rule": candidates["rule"].to_numpy(dtype=object),
                    "due": candidates["rule"].map(due_of).to_numpy(dtype=object),
                    "rank": candidates["rule_order"].to_numpy(dtype=np.int64),
                    "arr": candidates["arr"].to_numpy(dtype=float),
                    "at": np.arange(len(candidates)),
                    "kind": 0,
                }
            ),
            pd.DataFrame(
                {
                    "owner_id": steps["owner_id"].to_numpy(dtype=object),
                    "rule": steps["rule"].to_numpy(dtype=object),
                    "due": steps["due_date"].to_numpy(dtype=object),
                    "rank": len(rules) + steps["order"].to_numpy(dtype=np.int64),
                    "arr": pd.to_numeric(steps["arr"]).to_numpy(dtype=float),
                    "at": np.arange(len(steps)),
                    "kind": 1,
                }
            ),
        ],
        ignore_index=True,
    )
    # the most urgent first: the earliest due date, then the rules and playbooks in order,
    # then the largest accounts
    served = served.sort_values(
        ["due", "rank", "arr"], ascending=[True, True, False], kind="stable"
    )
    keep = np.ones(len(served), dtype=bool)
    if settings.max_per_owner:
        keep &= served.groupby("owner_id").cumcount().to_numpy() < settings.max_per_owner
    if settings.max_per_run:
        keep &= np.cumsum(keep) <= settings.max_per_run
    held = served[~keep]["rule"].value_counts().to_dict()
    kept = served[keep]
    chosen = candidates.iloc[np.sort(kept.loc[kept["kind"] == 0, "at"].to_numpy(dtype=np.int64))]
    chosen = chosen.sort_values(["rule_order", "arr"], ascending=[True, False], kind="stable")
    chosen_steps = steps.iloc[kept.loc[kept["kind"] == 1, "at"].to_numpy(dtype=np.int64)]

    rows = []
    for pair in chosen.itertuples(index=False):
        rule = rules[pair.rule]
        values = scored.iloc[pair.row].to_dict()
        rows.append(
            {
                "key": pair.key,
                "rule": rule.name,
                "account_id": pair.account_id,
                "account_name": values.get("name"),
                "owner_id": pair.owner_id,
                "owner_source": pair.owner_source,
                "subject": rule.subject[language].render(values)[:255],
                "description": rule.description[language].render(values)[:32000],
                "due_date": add_business_days(as_of, rule.due_in_business_days, closed),
                "priority": rule.priority,
            }
        )
    made = pd.DataFrame(rows, columns=NEW_TASK_COLUMNS)
    if not chosen_steps.empty:
        if render_steps is not None:
            chosen_steps = render_steps(chosen_steps)
        made = pd.concat([made, chosen_steps[NEW_TASK_COLUMNS]], ignore_index=True)
    return NewTasks(made, {str(k): int(v) for k, v in held.items()}, no_owner + step_owners)


def _steps_or_none(steps: pd.DataFrame | None) -> pd.DataFrame:
    columns = [*NEW_TASK_COLUMNS, "order", "arr"]
    if steps is None or steps.empty:
        return pd.DataFrame(columns=columns)
    return steps.reset_index(drop=True)


def _blocked_pairs(
    existing: pd.DataFrame, rules: Mapping[str, TaskRule], as_of: date
) -> set[tuple[str, str]]:
    """(rule, account) pairs with an open Task, or (level rules) one created in the cooldown."""
    if existing.empty:
        return set()
    open_tasks = existing[~existing["is_closed"].astype(bool)]
    blocked = set(zip(open_tasks["rule"], open_tasks["account_id"], strict=True))
    created = pd.to_datetime(existing.get("created_date"), errors="coerce", utc=True)
    for name, rule in rules.items():
        if rule.trigger != "level" or not rule.cooldown_days:
            continue
        since = pd.Timestamp(as_of - timedelta(days=rule.cooldown_days), tz="UTC")
        recent = existing[(existing["rule"] == name) & (created >= since).to_numpy()]
        blocked.update((name, account) for account in recent["account_id"])
    return blocked


def tasks_to_close(
    open_tasks: pd.DataFrame,
    wanted: pd.DataFrame,
    scored: pd.DataFrame,
    settings: TaskSettings,
    as_of: date,
    language: str,
) -> pd.DataFrame:
    """Open cs-sync Tasks whose rule (with auto_close) no longer wants them: the condition has
    cleared. Only accounts scored in this run are considered, so a narrowed account filter
    never closes anything; Tasks of rules no longer configured are left alone."""
    closing_rules = {r.name: r for r in settings.rules if r.auto_close}
    if open_tasks.empty or not settings.enabled:
        return pd.DataFrame(columns=CLOSE_COLUMNS)
    still_wanted = set(zip(wanted["rule"], wanted["account_id"], strict=True))
    by_account = scored.set_index("account_id")
    rows = []
    for task in open_tasks.itertuples(index=False):
        rule = closing_rules.get(task.rule)
        if rule is None or task.account_id not in by_account.index:
            continue
        if (task.rule, task.account_id) in still_wanted:
            continue
        account = by_account.loc[task.account_id]
        grade = account.get("grade") if isinstance(account.get("grade"), str) else "-"
        phase = account.get("phase") if isinstance(account.get("phase"), str) else "-"
        label = rule.label[language]
        if language == "ja":
            note = (
                f"[cs-sync {as_of.isoformat()}] 自動クローズ：「{label}」の条件に当てはまらなく"
                f"なりました（現在：ヘルス {grade}、フェーズ {phase}）。"
            )
        else:
            note = (
                f'[cs-sync {as_of.isoformat()}] Closed automatically: "{label}" no longer '
                f"applies (now: health {grade}, phase {phase})."
            )
        rows.append(closing(task, account["name"], note))
    return pd.DataFrame(rows, columns=CLOSE_COLUMNS)


def closing(task: Any, account_name: Any, note: str) -> dict[str, Any]:
    """A Task to close (CLOSE_COLUMNS): its description gains the dated note saying why."""
    previous = task.description if isinstance(task.description, str) else ""
    return {
        "task_id": task.task_id,
        "key": task.key,
        "rule": task.rule,
        "account_id": task.account_id,
        "account_name": account_name,
        "description": (previous + "\n\n" + note).strip()[:32000],
    }


def choose_owners(
    accounts: pd.DataFrame, default_owner_id: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per account: the main CSM; if inactive (left the company), the sub CSM; then the
    configured default owner. Returns the owner ids (None where nobody) and which it was."""
    main = (
        accounts["owner_active"].fillna(False).astype(bool).to_numpy()
        & accounts["owner_id"].notna().to_numpy()
    )
    sub = (
        accounts["sub_csm_active"].fillna(False).astype(bool).to_numpy()
        & accounts["sub_csm_id"].notna().to_numpy()
    )
    owner = np.where(
        main, accounts["owner_id"], np.where(sub, accounts["sub_csm_id"], default_owner_id)
    )
    source = np.where(
        main, "owner", np.where(sub, "sub_csm", "default" if default_owner_id else "none")
    )
    return owner, source
