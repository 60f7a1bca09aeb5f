"""Alerts: the few changes a CSM or a manager should hear about at once, where they are.

Events (each a fact of one run against the last, or of the run itself):
- grade_drop: the health grade fell (against the grade the record held before the run);
- renewal_at_risk: a renewal inside the window while the grade is an at-risk one;
- sponsor_left: an economic buyer or champion no longer holds the role;
- run_failed: a run failed (no account; sent by the app, see run_failed_alert).

Each alert has a key, `<event>:<account>:<subject>`: the new grade, the renewal date or who
left. A key already alerted within the event's memory is not alerted again, so a rerun, a
retry or the next day's run never repeats it; the memory is what the app reads back from its
alert log. Pure: tables in, tables out; the texts in the run's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

ACCOUNT_EVENTS = ("grade_drop", "renewal_at_risk", "sponsor_left")
EVENTS = (*ACCOUNT_EVENTS, "run_failed")
ALERT_COLUMNS = ("key", "event", "account_id", "name", "segment", "owner_id", "title", "text")

LABELS = {
    "grade_drop": {"ja": "ヘルス低下", "en": "Health dropped"},
    "renewal_at_risk": {"ja": "更新リスク", "en": "Renewal at risk"},
    "sponsor_left": {"ja": "キーパーソン離脱", "en": "Sponsor left"},
    "run_failed": {"ja": "cs-sync の実行失敗", "en": "cs-sync run failed"},
    "run_recovered": {"ja": "cs-sync の実行が回復", "en": "cs-sync runs recovered"},
}


@dataclass(frozen=True)
class AlertRules:
    """What counts as each event, and how long a key is remembered."""

    events: tuple[str, ...] = EVENTS
    grades: tuple[str, ...] = ()  # best first (health.grades)
    at_risk_grades: tuple[str, ...] = ()
    renewal_window_days: int = 90
    repeat_after_days: int = 30  # a grade drop or a sponsor leaving to the same state again

    def memory_days(self, event: str) -> int:
        """How long an alerted key is not alerted again: a renewal's key holds its date, so
        it is remembered through the window; the others for repeat_after_days."""
        if event == "renewal_at_risk":
            return self.renewal_window_days + 1
        return self.repeat_after_days

    @property
    def longest_memory(self) -> int:
        return max(self.memory_days(event) for event in EVENTS)


# Each event's title and text by language; {fields} from _shown.
TEMPLATES = {
    "grade_drop": {
        "ja": (
            "ヘルス低下 {prev_grade} → {grade}：{name}",
            "スコア {score}点。理由：{reasons}\n担当：{csm}",
        ),
        "en": (
            "Health dropped {prev_grade} → {grade}: {name}",
            "Score {score}. Why: {reasons}\nCSM: {csm}",
        ),
    },
    "renewal_at_risk": {
        "ja": (
            "更新リスク：{name}（ヘルス {grade}、更新日 {renewal_date}）",
            "更新まであと{days_to_renewal}日、ARR {arr}。更新戦略：{renewal_strategy}"
            "／次のステップ：{next_action}（{next_action_date}）\n担当：{csm}",
        ),
        "en": (
            "Renewal at risk: {name} (health {grade}, renews {renewal_date})",
            "{days_to_renewal} days to renewal, ARR {arr}. Strategy: {renewal_strategy}; next "
            "step: {next_action} ({next_action_date})\nCSM: {csm}",
        ),
    },
    "sponsor_left": {
        "ja": (
            "キーパーソン離脱：{name}（{sponsors_left}）",
            "後任を確認し、関係づくりの場を設定してください。ヘルス {grade}\n担当：{csm}",
        ),
        "en": (
            "Sponsor left: {name} ({sponsors_left})",
            "Find out who takes over and meet them. Health {grade}\nCSM: {csm}",
        ),
    },
}
_SHOWN_TEXT = {
    "name": "name",
    "grade": "grade",
    "prev_grade": "prev_grade",
    "reasons": "reasons",
    "csm": "owner_name",
    "renewal_strategy": "renewal_strategy",
    "next_action": "next_action",
    "sponsors_left": "sponsors_left",
}


def _shown(chosen: pd.DataFrame) -> pd.DataFrame:
    """The fields the templates name, as text, for the few accounts an event chose."""
    out = pd.DataFrame(index=chosen.index)
    for field, column in _SHOWN_TEXT.items():
        values = chosen[column] if column in chosen else pd.Series(None, index=chosen.index)
        out[field] = values.astype(object).where(values.notna(), "").astype(str)
    for field, digits in (("score", 0), ("days_to_renewal", 0), ("arr", 0)):
        numbers = pd.to_numeric(
            chosen.get(field, pd.Series(None, index=chosen.index)), errors="coerce"
        )
        out[field] = [f"{v:,.{digits}f}" if pd.notna(v) else "" for v in numbers]
    for field in ("renewal_date", "next_action_date"):
        stamps = pd.to_datetime(
            chosen.get(field, pd.Series(None, index=chosen.index)), errors="coerce"
        )
        out[field] = stamps.dt.strftime("%Y-%m-%d").astype(object).where(stamps.notna(), "")
    return out


def _masks(scored: pd.DataFrame, rules: AlertRules) -> dict[str, tuple[np.ndarray, str]]:
    """Each switched-on event's accounts (over the whole book, vectorised) and the field that
    completes its key."""
    found: dict[str, tuple[np.ndarray, str]] = {}
    if "grade_drop" in rules.events and "prev_grade" in scored and rules.grades:
        rank = {g: i for i, g in enumerate(rules.grades)}
        now = scored["grade"].map(rank).to_numpy(dtype=float)
        before = scored["prev_grade"].map(rank).to_numpy(dtype=float)
        found["grade_drop"] = (~np.isnan(now) & ~np.isnan(before) & (now > before), "grade")
    if "renewal_at_risk" in rules.events and rules.at_risk_grades and "days_to_renewal" in scored:
        days = pd.to_numeric(scored["days_to_renewal"], errors="coerce").to_numpy(dtype=float)
        risky = scored["grade"].isin(rules.at_risk_grades).to_numpy()
        window = risky & (days >= 0) & (days <= rules.renewal_window_days)
        found["renewal_at_risk"] = (window, "renewal_date")
    if "sponsor_left" in rules.events and "sponsors_lost" in scored:
        lost = pd.to_numeric(scored["sponsors_lost"], errors="coerce").fillna(0).to_numpy()
        found["sponsor_left"] = (lost >= 1, "sponsors_left")
    return found


def account_alerts(scored: pd.DataFrame, rules: AlertRules, language: str) -> pd.DataFrame:
    """The account events of this run (ALERT_COLUMNS), whatever was alerted before."""
    lang = "ja" if language == "ja" else "en"
    parts = []
    for event, (mask, subject) in _masks(scored, rules).items():
        chosen = scored[mask]
        if chosen.empty:
            continue
        shown = _shown(chosen)
        title, text = TEMPLATES[event][lang]
        rows = shown.to_dict("records")
        ids = chosen["account_id"].astype(str)
        parts.append(
            pd.DataFrame(
                {
                    "key": event + ":" + ids + ":" + shown[subject],
                    "event": event,
                    "account_id": ids,
                    "name": shown["name"],
                    "segment": _plain(chosen, "segment"),
                    "owner_id": _plain(chosen, "owner_id"),
                    "title": [title.format(**row) for row in rows],
                    "text": [text.format(**row) for row in rows],
                },
                index=chosen.index,
            )
        )
    if not parts:
        return pd.DataFrame(columns=list(ALERT_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(ALERT_COLUMNS)]


def _plain(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column] if column in frame else pd.Series(None, index=frame.index)
    return values.astype(object).where(values.notna(), "")


def run_failed_alert(as_of: date, kind: str, message: str, language: str) -> pd.DataFrame:
    """The alert for a failed run: one key a day and kind of failure, so a schedule that keeps
    failing says so once a day, not every run."""
    ja = language == "ja"
    label = LABELS["run_failed"]["ja" if ja else "en"]
    first = message.strip().splitlines()[0] if message.strip() else kind
    row = {
        "key": f"run_failed:{as_of.isoformat()}:{kind}",
        "event": "run_failed",
        "account_id": "",
        "name": "",
        "segment": "",
        "owner_id": "",
        "title": f"{label}（{as_of.isoformat()}）" if ja else f"{label} ({as_of.isoformat()})",
        "text": first[:1000],
    }
    return pd.DataFrame([row], columns=list(ALERT_COLUMNS))


def not_alerted(
    candidates: pd.DataFrame, log: pd.DataFrame, rules: AlertRules, as_of: date
) -> pd.DataFrame:
    """The candidates whose key no alert of the log (key, as_of) holds within its event's
    memory (whatever its state: queued, sent, summarised, unconfirmed or failed)."""
    if candidates.empty or log.empty:
        return candidates
    seen = pd.to_datetime(log["as_of"]).dt.date
    memory = log["event"].map(rules.memory_days).fillna(rules.repeat_after_days)
    recent = seen > pd.Series(
        [as_of - timedelta(days=int(d)) for d in memory], index=log.index, dtype=object
    )
    known = set(log.loc[recent.to_numpy(dtype=bool), "key"])
    return candidates[~candidates["key"].isin(known)].reset_index(drop=True)


def routed(
    alerts: pd.DataFrame, channels: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
) -> pd.DataFrame:
    """One row per alert and channel that takes it: channels as (name, events, segments),
    empty segments meaning every segment; the column `channel` added."""
    parts = []
    for name, events, segments in channels:
        mask = alerts["event"].isin(events)
        if segments:
            mask &= alerts["segment"].isin(segments) | (alerts["account_id"] == "")
        parts.append(alerts[mask].assign(channel=name))
    if not parts:
        return alerts.assign(channel=pd.Series(dtype=object)).iloc[0:0]
    return pd.concat(parts, ignore_index=True)
