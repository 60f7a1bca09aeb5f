"""What a playbook's earlier runs left in Salesforce: its step Tasks read back, read as running
instances (the key's last part is the instance's start or anchor date), the steps that exist,
and the open steps of instances that stopped. Vectorised: a run at 100,000 accounts reads back
hundreds of thousands of steps."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cs_sync.rules.arrays import per_distinct
from cs_sync.rules.tasks import CLOSE_COLUMNS, closing

if TYPE_CHECKING:
    from cs_sync.rules.playbooks import Playbook

START = "start"  # the anchor of a playbook dated from the day it started
INSTANCE_COLUMNS = ["playbook", "account_id", "period", "started"]


class StepTasks:
    """cs-sync's step Tasks read back (rule `<playbook>/<step>`), indexed by playbook and by
    family. The keys are split once, in plain Python (faster than pandas' string methods on
    a million keys), and looked up in sets."""

    def __init__(self, tasks: pd.DataFrame, families: dict[str, str]) -> None:
        keys = tasks["key"].astype(str).tolist() if len(tasks) else []
        playbooks, steps, periods, chosen = [], [], [], []
        present: dict[str, set[str]] = {}  # "family/step" -> "account:period" it exists for
        self.seen: dict[str, set[str]] = {}  # playbook -> "account:period" of its instances
        for at, key in enumerate(keys):
            parts = key.split(":", 3)
            if len(parts) != 4 or "/" not in parts[1]:
                continue
            playbook, _, step = parts[1].partition("/")
            playbooks.append(playbook)
            steps.append(step)
            periods.append(parts[3])
            chosen.append(at)
            family_step = f"{families.get(playbook, playbook)}/{step}"
            present.setdefault(family_step, set()).add(f"{parts[2]}:{parts[3]}")
            self.seen.setdefault(playbook, set()).add(f"{parts[2]}:{parts[3]}")
        self.present = present
        self.tasks = tasks.iloc[chosen].assign(
            playbook=np.array(playbooks, dtype=object),
            step=np.array(steps, dtype=object),
            period=np.array(periods, dtype=object),
        )
        self.by_playbook = {
            str(name): group for name, group in self.tasks.groupby("playbook", sort=False)
        }

    def has(
        self, family: str, step: str, accounts: np.ndarray, period_text: np.ndarray
    ) -> np.ndarray:
        """Whether a step of the family exists (open or done) for each account's instance (no
        look-up at all for a step no instance has yet: most of them on a first run)."""
        present = self.present.get(f"{family}/{step}")
        if not present:
            return np.zeros(len(accounts), dtype=bool)
        return np.fromiter(
            (f"{a}:{p}" in present for a, p in zip(accounts, period_text, strict=True)),
            dtype=bool,
            count=len(accounts),
        )

    def of(self, playbook: str) -> pd.DataFrame:
        found = self.by_playbook.get(playbook)
        return found if found is not None else self.tasks.iloc[0:0]


def start_periods(
    playbook: Playbook,
    known: StepTasks,
    accounts: np.ndarray,
    met: np.ndarray,
    starts: np.ndarray,
    as_of: date,
) -> np.ndarray:
    """Each account's running instance of a start-dated playbook (its start date), or a new
    one starting today where the condition starts one and no instance runs or has run lately."""
    mine = known.of(playbook.name)
    last = np.full(len(accounts), np.datetime64("NaT"), dtype="datetime64[D]")
    if len(mine):
        latest = pd.to_datetime(mine["period"], errors="coerce").groupby(mine["account_id"]).max()
        last = pd.Series(accounts).map(latest).to_numpy(dtype="datetime64[D]")
    day = np.datetime64(as_of, "D")
    age = (day - last).astype("timedelta64[D]").astype(np.int64)
    known_start = ~np.isnat(last)
    active = met & known_start & (age <= playbook.span_days)
    may_start = ~known_start | (age >= playbook.restart_after_days)
    new = starts & ~active & may_start
    return np.where(active, last, np.where(new, day, np.datetime64("NaT")))


def instances(
    name: str, accounts: np.ndarray, period_text: np.ndarray, known: StepTasks
) -> pd.DataFrame:
    """The running instances (one per account given, with its start or anchor date) and
    whether each started in this run."""
    seen = known.seen.get(name)
    started = (
        np.fromiter(
            (f"{a}:{p}" not in seen for a, p in zip(accounts, period_text, strict=True)),
            dtype=bool,
            count=len(accounts),
        )
        if seen
        else np.ones(len(accounts), dtype=bool)
    )
    return pd.DataFrame(
        {"playbook": name, "account_id": accounts, "period": period_text, "started": started}
    )


def to_close(
    playbook: Playbook,
    known: StepTasks,
    scored: pd.DataFrame,
    position: pd.Series,
    met: np.ndarray,
    period: np.ndarray,
    as_of: date,
    language: str,
) -> pd.DataFrame:
    """Open steps of instances that stopped: the condition cleared (with auto_close), or the
    anchor moved (another instance is the account's now). Accounts not scored in this run are
    never closed on a guess; a start-dated instance that ran its course keeps its last steps
    open for the CSM to finish."""
    mine = known.of(playbook.name)
    mine = mine[~mine["is_closed"].astype(bool).to_numpy()]
    at = mine["account_id"].map(position)
    mine, at = mine[at.notna().to_numpy()], at.dropna().astype(np.int64).to_numpy()
    if mine.empty:
        return pd.DataFrame(columns=CLOSE_COLUMNS)
    holds = met[at]
    now = per_distinct(period[at], lambda days: np.datetime_as_string(days, unit="D"))
    cleared = ~holds & playbook.auto_close
    moved = holds & (playbook.anchor != START) & (now != "NaT") & (now != mine["period"].to_numpy())
    stopping = cleared | moved
    mine, at, now, moved = mine[stopping], at[stopping], now[stopping], moved[stopping]
    label = playbook.label[language]
    rows = []
    for task, position_at, current, was_moved in zip(
        mine.itertuples(index=False), at, now, moved, strict=True
    ):
        if language == "ja":
            why = (
                f"基準日が {task.period} から {current} に変わりました"
                if was_moved
                else ("条件に当てはまらなくなりました")
            )
            note = f"[cs-sync {as_of.isoformat()}] 自動クローズ：「{label}」の{why}。"
        else:
            why = (
                f"its date moved from {task.period} to {current}"
                if was_moved
                else "no longer applies"
            )
            note = f'[cs-sync {as_of.isoformat()}] Closed automatically: "{label}" {why}.'
        rows.append(closing(task, scored["name"].iloc[int(position_at)], note))
    return pd.DataFrame(rows, columns=CLOSE_COLUMNS)
