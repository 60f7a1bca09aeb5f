"""A run's alerts, from the rules' events to the channels, kept in the history store's alert
log so each is posted once.

The log is an outbox: the alerts a run will post are queued there before the run writes to
Salesforce (a grade drop is an edge against the record, gone once the new grade is written),
and delivered after the writes. An alert a run could not deliver (the run stopped, a channel
down) stays queued and the next runs deliver it, for alerts.keep_days. A failed alert is an
error of the run, never a reason to lose its writes; a post whose answer was lost is never
sent again (it is "unconfirmed": a duplicate is worse than a line missing).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import pandas as pd
import requests

from cs_sync.config import Config
from cs_sync.config_alerts import AlertChannel
from cs_sync.connectors.history_store import open_history
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.webhooks import Item, Webhook
from cs_sync.errors import CsSyncError
from cs_sync.history import ALERT_LOG_COLUMNS
from cs_sync.plan import Problem
from cs_sync.publish import read_history
from cs_sync.result import RunResult
from cs_sync.rules.alerts import (
    LABELS,
    account_alerts,
    not_alerted,
    routed,
    run_failed_alert,
)

log = logging.getLogger(__name__)
PENDING = ("queued",)
OUTBOX_COLUMNS = ("as_of", "key", "event", "account_id", "name", "channel", "title", "text")
BODY_CHARS = 10_000  # FeedItem.Body


def read_alert_log(config: Config, as_of: date, problems: list[Problem]) -> pd.DataFrame | None:
    """The alert log back to the longest memory (and keep_days); None when no channel is
    set, or when the log cannot be read (a problem then says no alert goes out this run:
    without the log an alert could be sent twice)."""
    alerts = config.alerts
    if not alerts.channels or not config.history.enabled:
        return None
    rules = alerts.rules(config.health)
    since = as_of - timedelta(days=max(rules.longest_memory, alerts.keep_days))
    return read_history(
        config,
        lambda store: store.alert_log(since),
        problems,
        "alert",
        "no alert is sent this run (without the alert log one could go twice). Renewals at "
        "risk and sponsors leaving are found again by the next run; this run's grade drops "
        "are not",
    )


def outbox(
    scored: pd.DataFrame, config: Config, as_of: date, log_rows: pd.DataFrame
) -> pd.DataFrame:
    """OUTBOX_COLUMNS plus `new`: this run's events not alerted before, one row per channel
    that takes them, and the alerts earlier runs queued and did not deliver (within
    keep_days)."""
    alerts = config.alerts
    rules = alerts.rules(config.health)
    found = account_alerts(scored, rules, config.language)
    fresh = routed(not_alerted(found, log_rows, rules, as_of), alerts.routes())
    fresh = fresh.assign(as_of=as_of, new=True)
    waiting = _pending(log_rows, as_of, alerts.keep_days, {c.name for c in alerts.channels})
    waiting = waiting.assign(name=waiting["title"], new=False)
    columns = [*OUTBOX_COLUMNS, "new"]
    parts = [frame[columns] for frame in (waiting, fresh) if not frame.empty]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def _pending(
    log_rows: pd.DataFrame, as_of: date, keep_days: int, channels: set[str]
) -> pd.DataFrame:
    if log_rows.empty:
        return pd.DataFrame(columns=list(ALERT_LOG_COLUMNS))
    queued_on = pd.to_datetime(log_rows["as_of"]).dt.date
    keep = (
        log_rows["state"].isin(PENDING)
        & log_rows["channel"].isin(channels)
        & (queued_on >= as_of - timedelta(days=keep_days))
    )
    chosen = log_rows[keep.to_numpy(dtype=bool)]
    return chosen.assign(as_of=pd.to_datetime(chosen["as_of"]).dt.date)


def expired(log_rows: pd.DataFrame | None, as_of: date, keep_days: int) -> pd.DataFrame:
    """Queued alerts older than keep_days: dropped unsent."""
    if log_rows is None or log_rows.empty:
        return pd.DataFrame(columns=list(ALERT_LOG_COLUMNS))
    queued_on = pd.to_datetime(log_rows["as_of"]).dt.date
    old = log_rows["state"].isin(PENDING) & (queued_on < as_of - timedelta(days=keep_days))
    return log_rows[old.to_numpy(dtype=bool)]


# ------------------------------------------------------------------ the log


def _log_rows(frame: pd.DataFrame, states: list[str], run_id: str) -> pd.DataFrame:
    now = datetime.now(UTC).replace(tzinfo=None)
    out = frame.reset_index(drop=True).copy()
    out["state"] = states
    out["logged_at"] = now
    out["run_id"] = run_id
    for column in ALERT_LOG_COLUMNS:
        if column not in out:
            out[column] = None
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.date
    return out[list(ALERT_LOG_COLUMNS)]


def record(config: Config, rows: pd.DataFrame) -> None:
    if rows.empty:
        return
    with open_history(config.history) as store:
        store.record_alerts(rows)


def queue(config: Config, box: pd.DataFrame, result: RunResult) -> pd.DataFrame:
    """Log this run's new alerts as queued, before the writes; the outbox to deliver (empty
    when the log cannot be written: nothing is sent unlogged)."""
    new = box[box["new"].astype(bool)] if not box.empty else box
    try:
        record(config, _log_rows(new, ["queued"] * len(new), result.run_id))
    except CsSyncError as error:
        result.errors.append(
            Problem(
                "alert",
                None,
                f"the alert log could not be written ({error}); no alert is sent this run",
            )
        )
        return box.iloc[0:0]
    return box


# ------------------------------------------------------------------ delivery


def deliver(
    config: Config,
    box: pd.DataFrame,
    result: RunResult,
    session: requests.Session,
    client: SalesforceClient | None,
    log_rows: pd.DataFrame | None = None,
) -> None:
    """Post the outbox channel by channel, log what became of each alert, and count it in
    the result. Every failure is named in the result; none stops the others."""
    updates = [expired(log_rows, result.as_of, config.alerts.keep_days)]
    updates[0] = _log_rows(updates[0], ["dropped"] * len(updates[0]), result.run_id)
    if len(updates[0]):
        result.warnings.append(
            Problem(
                "alert_dropped",
                None,
                f"{len(updates[0])} alert(s) queued more than alerts.keep_days "
                f"({config.alerts.keep_days}) days ago were never delivered and are dropped",
            )
        )
    counts: Counter[str] = Counter(dropped=len(updates[0]))
    link = _account_link(client)
    for channel in config.alerts.channels:
        mine = box[box["channel"] == channel.name].reset_index(drop=True)
        if mine.empty:
            continue
        try:
            if channel.kind == "chatter":
                states = _chatter(channel, mine, client, result)
            else:
                states = _webhook(channel, mine, session, link, config.language, result)
        except CsSyncError as error:  # the channel's secret or address: none of it sent
            result.errors.append(Problem("alert", channel.name, str(error)))
            states = ["queued"] * len(mine)
        counts.update(states)
        changed = [i for i, s in enumerate(states) if s != "queued"]
        updates.append(_log_rows(mine.iloc[changed], [states[i] for i in changed], result.run_id))
        counts["held_back"] += sum(1 for s in states if s == "queued")
    result.alerts = {
        state: int(counts[state])
        for state in ("sent", "summarised", "held_back", "unconfirmed", "failed", "dropped")
    }
    rows = pd.concat([u for u in updates if not u.empty] or [updates[0]], ignore_index=True)
    try:
        record(config, rows)
    except CsSyncError as error:
        result.errors.append(
            Problem(
                "alert",
                None,
                f"the alerts were delivered but the alert log could not be written ({error}); "
                "the next run may post them again",
            )
        )


def _account_link(client: SalesforceClient | None) -> str | None:
    if client is None:
        return None
    parts = urlsplit(str(client.sf.base_url))
    return f"{parts.scheme}://{parts.netloc}/lightning/r/Account/{{}}/view"


def _chatter(
    channel: AlertChannel, mine: pd.DataFrame, client: SalesforceClient | None, result: RunResult
) -> list[str]:
    """One FeedItem on each Account; over max_per_run, the rest wait for the next runs."""
    states = ["queued"] * len(mine)
    if client is None:
        return states
    take = mine.head(channel.max_per_run)
    records = [
        {"ParentId": row.account_id, "Body": _body(row.title, row.text), "Type": "TextPost"}
        for row in take.itertuples(index=False)
    ]
    unconfirmed, not_sent = 0, set()
    for i, (outcome, detail) in enumerate(client.create_once("FeedItem", records)):
        if outcome == "created":
            states[i] = "sent"
        elif outcome == "failed":
            states[i] = "failed"
            result.errors.append(
                Problem(
                    "alert",
                    str(take.iloc[i]["account_id"]),
                    f"alerts.channels.{channel.name}: Salesforce refused the Chatter post on "
                    f"{take.iloc[i]['name']} ({detail})",
                )
            )
        elif outcome == "unconfirmed":
            states[i] = "unconfirmed"
            unconfirmed += 1
        else:  # not sent: left queued for the next run
            not_sent.add(detail)
    result.errors += [
        Problem(
            "alert",
            channel.name,
            f"alerts.channels.{channel.name}: {detail}; the alerts stay queued for the next run",
        )
        for detail in sorted(not_sent)
    ]
    if unconfirmed:
        result.warnings.append(_unconfirmed(channel.name, unconfirmed))
    return states


def _body(title: str, text: str) -> str:
    body = f"{title}\n{text}\n(cs-sync)"
    return body if len(body) <= BODY_CHARS else body[: BODY_CHARS - 1] + "…"


def _unconfirmed(channel: str, count: int) -> Problem:
    return Problem(
        "alert_unconfirmed",
        None,
        f"alerts.channels.{channel}: the answer to {count} alert(s) was lost; they may have "
        "been posted and are not sent again",
    )


def _webhook(
    channel: AlertChannel,
    mine: pd.DataFrame,
    session: requests.Session,
    link: str | None,
    language: str,
    result: RunResult,
) -> list[str]:
    """Batched messages; over max_per_run, one line counts the rest (summarised: they are
    not posted later)."""
    secret = channel.webhook_url
    assert secret is not None  # a webhook channel has one (config_alerts checks it)
    hook = Webhook(session, channel.kind, secret.read(), f"alerts.channels.{channel.name}")
    take, rest = mine.head(channel.max_per_run), mine.iloc[channel.max_per_run :]
    items = [
        Item(row.title, row.text, link.format(row.account_id) if link and row.account_id else None)
        for row in take.itertuples(index=False)
    ]
    delivery = hook.deliver(
        _header(len(mine), result.as_of, language), items, _footer(rest, language)
    )
    last_sent = bool(delivery.states) and delivery.states[-1] == "sent"
    states = delivery.states + ["summarised" if last_sent else "queued"] * len(rest)
    if delivery.error is not None:
        if "unconfirmed" in states:
            result.warnings.append(_unconfirmed(channel.name, states.count("unconfirmed")))
        else:
            result.errors.append(Problem("alert", channel.name, str(delivery.error)))
    return states


def _header(count: int, as_of: date, language: str) -> str:
    if language == "ja":
        return f"cs-sync アラート {count}件（{as_of.isoformat()}）"
    return f"cs-sync: {count} alert{'s' if count != 1 else ''} ({as_of.isoformat()})"


def _footer(rest: pd.DataFrame, language: str) -> str | None:
    if rest.empty:
        return None
    lang = "ja" if language == "ja" else "en"
    by_event = Counter(rest["event"])
    parts = ", ".join(f"{LABELS[e][lang]} {n}" for e, n in sorted(by_event.items()))
    if lang == "ja":
        return f"ほか {len(rest)}件（{parts}）はダッシュボードでご確認ください"
    return f"…and {len(rest)} more ({parts}): see the dashboard"


# ------------------------------------------------------------------ a failed run


def alert_failed_run(config: Config, result: RunResult, session: requests.Session) -> None:
    """Tell the webhook channels that take run_failed: once a day per kind of failure."""
    if not config.alerts.wants("run_failed") or not result.errors:
        return
    problem = result.errors[-1]
    found = run_failed_alert(result.as_of, problem.kind, problem.message, config.language)
    problems: list[Problem] = []
    log_rows = read_alert_log(config, result.as_of, problems)
    rules = config.alerts.rules(config.health)
    if log_rows is not None:
        found = not_alerted(found, log_rows, rules, result.as_of)
    box = routed(found, config.alerts.routes()).assign(as_of=result.as_of, new=True)
    if box.empty:
        return
    kept = RunResult(status="failed", as_of=result.as_of, dry_run=False, run_id=result.run_id)
    deliver(config, box[[*OUTBOX_COLUMNS, "new"]], kept, session, None)
    result.alerts = kept.alerts
    for problem in kept.errors:  # the alert's own failure, told beside the run's
        result.errors.append(problem)
