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


def _text(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "")


def _number(values: pd.Series, digits: int = 0) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    shown = numbers.round(digits).map(lambda v: f"{v:,.{digits}f}", na_action="ignore")
    return _text(shown)


def _day(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values, errors="coerce")
    return _text(stamps.dt.strftime("%Y-%m-%d"))


def _frame(
    scored: pd.DataFrame,
    mask: np.ndarray,
    event: str,
    subject: pd.Series,
    title: pd.Series,
    text: pd.Series,
) -> pd.DataFrame:
    chosen = scored[mask]
    ids = chosen["account_id"].astype(str)
    return pd.DataFrame(
        {
            "key": event + ":" + ids + ":" + subject[mask].astype(str),
            "event": event,
            "account_id": ids,
            "name": _text(chosen["name"]),
            "segment": _text(chosen.get("segment", pd.Series(None, index=chosen.index))),
            "owner_id": _text(chosen.get("owner_id", pd.Series(None, index=chosen.index))),
            "title": title[mask],
            "text": text[mask],
        }
    )


def account_alerts(
    scored: pd.DataFrame, rules: AlertRules, as_of: date, language: str
) -> pd.DataFrame:
    """The account events of this run (ALERT_COLUMNS), whatever was alerted before."""
    ja = language == "ja"
    found: list[pd.DataFrame] = []
    name = _text(scored["name"])
    grade = _text(scored["grade"])
    score = _number(scored["score"])
    reasons = _text(scored["reasons"]) if "reasons" in scored else pd.Series("", scored.index)
    csm = _text(scored["owner_name"]) if "owner_name" in scored else pd.Series("", scored.index)
    if "grade_drop" in rules.events and "prev_grade" in scored and rules.grades:
        rank = {g: i for i, g in enumerate(rules.grades)}
        now = scored["grade"].map(rank).to_numpy(dtype=float)
        before = scored["prev_grade"].map(rank).to_numpy(dtype=float)
        mask = ~np.isnan(now) & ~np.isnan(before) & (now > before)
        prev = _text(scored["prev_grade"])
        label = LABELS["grade_drop"]["ja" if ja else "en"]
        title = f"{label} " + prev + " → " + grade + ("：" if ja else ": ") + name
        if ja:
            text = "スコア " + score + "点。理由：" + reasons + "\n担当：" + csm
        else:
            text = "Score " + score + ". Why: " + reasons + "\nCSM: " + csm
        found.append(_frame(scored, mask, "grade_drop", grade, title, text))
    if "renewal_at_risk" in rules.events and rules.at_risk_grades and "days_to_renewal" in scored:
        days = pd.to_numeric(scored["days_to_renewal"], errors="coerce").to_numpy(dtype=float)
        risky = scored["grade"].isin(rules.at_risk_grades).to_numpy()
        mask = risky & (days >= 0) & (days <= rules.renewal_window_days)
        renewal = _day(scored["renewal_date"])
        left = _number(scored["days_to_renewal"])
        arr = _number(scored["arr"]) if "arr" in scored else pd.Series("", scored.index)
        strategy = _text(scored.get("renewal_strategy", pd.Series(None, index=scored.index)))
        step = _text(scored.get("next_action", pd.Series(None, index=scored.index)))
        step_day = _day(scored.get("next_action_date", pd.Series(None, index=scored.index)))
        label = LABELS["renewal_at_risk"]["ja" if ja else "en"]
        if ja:
            title = label + "：" + name + "（ヘルス " + grade + "、更新日 " + renewal + "）"
            text = (
                "更新まであと"
                + left
                + "日、ARR "
                + arr
                + "。更新戦略："
                + strategy
                + "／次のステップ："
                + step
                + "（"
                + step_day
                + "）\n担当："
                + csm
            )
        else:
            title = label + ": " + name + " (health " + grade + ", renews " + renewal + ")"
            text = (
                left
                + " days to renewal, ARR "
                + arr
                + ". Strategy: "
                + strategy
                + "; next step: "
                + step
                + " ("
                + step_day
                + ")\nCSM: "
                + csm
            )
        found.append(_frame(scored, mask, "renewal_at_risk", renewal, title, text))
    if "sponsor_left" in rules.events and "sponsors_lost" in scored:
        lost = pd.to_numeric(scored["sponsors_lost"], errors="coerce").fillna(0).to_numpy()
        mask = lost >= 1
        who = _text(scored["sponsors_left"]) if "sponsors_left" in scored else name
        label = LABELS["sponsor_left"]["ja" if ja else "en"]
        title = label + ("：" if ja else ": ") + name + ("（" if ja else " (") + who
        title = title + ("）" if ja else ")")
        if ja:
            text = "後任を確認し、関係づくりの場を設定してください。ヘルス " + grade
            text = text + "\n担当：" + csm
        else:
            text = "Find out who takes over and meet them. Health " + grade + "\nCSM: " + csm
        found.append(_frame(scored, mask, "sponsor_left", who, title, text))
    if not found:
        return pd.DataFrame(columns=list(ALERT_COLUMNS))
    return pd.concat(found, ignore_index=True)[list(ALERT_COLUMNS)]


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
