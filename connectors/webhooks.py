"""Slack and Microsoft Teams incoming webhooks: alerts batched into few messages, paced under
each service's rate limit, and every refusal named with what to do.

- Slack: a message of Block Kit sections (at most 50 blocks, a section's text at most 3,000
  characters), one message a second per webhook; 200 "ok" is success. A 4xx answers with a
  short code (invalid_payload, no_text, invalid_token, no_service, channel_is_archived ...).
- Teams: an Adaptive Card in a "message" envelope, as a Workflows webhook ("when a Teams
  webhook request is received") and a channel's incoming webhook both take it; a message of at
  most 28 KB, at most four requests a second. 200 or 202 is success.
- 429: wait as Retry-After says (bounded), then once more. A request that may have arrived (its
  answer lost) is never sent again: a duplicate in a channel is worse than one line missing,
  and the alert log says which alerts are unconfirmed.

The webhook's address is a secret: it never appears in an error or a log line (requests puts
the address in its exception texts, so those are not shown).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from cs_sync.connectors.transport import SLACK_HOST, TEAMS_HOSTS, never_sent
from cs_sync.errors import CsSyncError, Unanswered

log = logging.getLogger("cs_sync.connectors.webhooks")

SLACK_ALERTS_PER_MESSAGE = 20  # sections (and a header and a footer) of the 50 blocks
SLACK_SECTION_CHARS = 3_000
TEAMS_MESSAGE_BYTES = 26_000  # of the 28 KB a Teams message may hold, room for the envelope
TEAMS_TEXT_CHARS = 4_000
GAP_S = {"slack": 1.0, "teams": 0.25}  # one message a second (Slack), four (Teams)
MAX_RETRY_AFTER_S = 30.0
RETRIES_429 = 2


@dataclass(frozen=True)
class Item:
    """One alert as a channel shows it."""

    title: str
    text: str
    link: str | None = None


@dataclass
class Delivery:
    """What became of each item, by position: sent, unconfirmed or queued (not sent: left
    for the next run); the error that stopped the channel, if any."""

    states: list[str]
    error: CsSyncError | None = None


class WebhookError(CsSyncError):
    kind = "alert"


def check_address(kind: str, url: str, label: str) -> None:
    """Refuse an address that is not the kind's webhook (a typo, the wrong secret), without
    showing it."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if kind == "slack":
        good = (
            parts.scheme == "https" and host == SLACK_HOST and parts.path.startswith("/services/")
        )
        shape = "https://hooks.slack.com/services/…"
    else:
        good = parts.scheme == "https" and host.endswith(TEAMS_HOSTS)
        shape = (
            "a Workflows webhook (https://…logic.azure.com/… or …api.powerplatform.com/…) or "
            "an incoming webhook (https://….webhook.office.com/…)"
        )
    if not good:
        raise WebhookError(
            f"{label}: the address read is not a {kind} webhook (expected {shape}); "
            "copy the webhook's address again into the variable or file"
        )


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(header: str, items: list[Item], footer: str | None) -> dict[str, Any]:
    """One Slack message: a header, a section an alert, an optional footer line."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150]}}
    ]
    for item in items:
        title = _slack_escape(item.title)
        heading = f"*<{item.link}|{title}>*" if item.link else f"*{title}*"
        body = f"{heading}\n{_slack_escape(item.text)}"
        if len(body) > SLACK_SECTION_CHARS:
            body = body[: SLACK_SECTION_CHARS - 1] + "…"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    fallback = f"{header}: " + " / ".join(item.title for item in items[:3])
    return {"text": fallback[:3000], "blocks": blocks}


def teams_message(header: str, items: list[Item], footer: str | None) -> dict[str, Any]:
    """One Teams message: an Adaptive Card (1.4) with a heading and two lines an alert."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": header, "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    for item in items:
        body += _teams_blocks(item)
    if footer:
        body.append({"type": "TextBlock", "text": footer, "wrap": True, "isSubtle": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _encoded(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


def _teams_blocks(item: Item) -> list[dict[str, Any]]:
    title = f"[{item.title}]({item.link})" if item.link else item.title
    return [
        {"type": "TextBlock", "text": f"**{title}**", "wrap": True},
        {"type": "TextBlock", "text": item.text, "wrap": True, "isSubtle": True, "spacing": "None"},
    ]


def messages(
    kind: str, header: str, items: list[Item], footer: str | None
) -> list[tuple[bytes, int]]:
    """The messages that carry `items` in order, each with how many it holds, the footer on
    the last. Slack: at most SLACK_ALERTS_PER_MESSAGE a message; Teams: as many as fit
    TEAMS_MESSAGE_BYTES (each alert's text cut at TEAMS_TEXT_CHARS, so one always fits)."""
    chunks: list[list[Item]] = []
    if kind == "slack":
        step = SLACK_ALERTS_PER_MESSAGE
        chunks = [items[i : i + step] for i in range(0, len(items), step)]
    else:
        room = TEAMS_MESSAGE_BYTES - len(_encoded(teams_message(header, [], footer)))
        current: list[Item] = []
        used = 0
        for item in items:
            if len(item.text) > TEAMS_TEXT_CHARS:
                item = Item(item.title[:500], item.text[: TEAMS_TEXT_CHARS - 1] + "…", item.link)
            size = len(json.dumps(_teams_blocks(item), ensure_ascii=False).encode()) + 2
            if current and used + size > room:
                chunks.append(current)
                current, used = [], 0
            current.append(item)
            used += size
        chunks.append(current)
    chunks = [chunk for chunk in chunks if chunk] or [[]]
    build = slack_message if kind == "slack" else teams_message
    return [
        (_encoded(build(header, chunk, footer if i == len(chunks) - 1 else None)), len(chunk))
        for i, chunk in enumerate(chunks)
    ]


class Webhook:
    """One incoming webhook, posted to through cs-sync's session (timeouts, the sandbox's
    routing)."""

    def __init__(
        self,
        session: requests.Session,
        kind: str,
        url: str,
        label: str,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_address(kind, url, label)
        self.session, self.kind, self.url, self.label = session, kind, url.strip(), label
        self.sleep, self.clock = sleep, clock
        self.last_post = -1e9

    def deliver(self, header: str, items: list[Item], footer: str | None) -> Delivery:
        """Post the items (and the footer, when there is one) in as few messages as allowed;
        stop at the first message that fails, leaving the rest queued."""
        states = ["queued"] * len(items)
        delivery = Delivery(states)
        done = 0
        for body, count in messages(self.kind, header, items, footer):
            try:
                self._post(body)
            except Unanswered as error:
                states[done : done + count] = ["unconfirmed"] * count
                delivery.error = error
                return delivery
            except CsSyncError as error:
                delivery.error = error
                return delivery
            states[done : done + count] = ["sent"] * count
            done += count
        return delivery

    def _pace(self) -> None:
        wait = self.last_post + GAP_S[self.kind] - self.clock()
        if wait > 0:
            self.sleep(wait)

    def _post(self, body: bytes) -> None:
        host = urlsplit(self.url).hostname
        for attempt in range(RETRIES_429 + 1):
            self._pace()
            try:
                answer = self.session.post(
                    self.url, data=body, headers={"Content-Type": "application/json"}
                )
            except requests.ConnectTimeout:
                raise WebhookError(
                    f"{self.label}: cannot reach {host} (connection timed out); "
                    "the alerts stay queued for the next run"
                ) from None
            except requests.Timeout:
                raise Unanswered(f"{self.label}: {host} did not answer in time") from None
            except requests.ConnectionError as error:
                if never_sent(error):
                    raise WebhookError(
                        f"{self.label}: cannot reach {host}; the alerts stay queued for the "
                        "next run"
                    ) from None
                raise Unanswered(f"{self.label}: the connection to {host} dropped") from None
            finally:
                self.last_post = self.clock()
            if answer.status_code in (200, 202):
                return
            if answer.status_code == 429 and attempt < RETRIES_429:
                wait = _retry_after(answer.headers.get("Retry-After"))
                log.info("%s: rate limited; waiting %.1f s", self.label, wait)
                self.sleep(wait)
                continue
            raise WebhookError(_refusal(self.kind, self.label, answer))
        raise WebhookError(f"{self.label}: still rate limited after {RETRIES_429} waits")


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return 1.0


# What each refusal means for the admin (Slack's codes; Teams answers with HTTP status only).
_WEBHOOK_GONE = (
    "the webhook no longer posts to its channel: create a new incoming webhook for the channel "
    "and put its address in the variable or file this setting names"
)


def _refusal(kind: str, label: str, answer: requests.Response) -> str:
    status = answer.status_code
    said = answer.text.strip().splitlines()[0][:200] if answer.text.strip() else ""
    service = "Slack" if kind == "slack" else "Teams"
    shown = f"{service} answered HTTP {status}" + (f" {said}" if said else "")
    if status >= 500:
        return f"{label}: {shown}; the service is failing, the alerts stay queued for the next run"
    if status in (403, 404, 410) or said in ("invalid_token", "no_service", "channel_not_found"):
        return f"{label}: {shown}: {_WEBHOOK_GONE}; the alerts stay queued for the next runs"
    if status == 401:
        return (
            f"{label}: {shown}: the webhook's address lost its signature (sig=...) or the flow "
            "was turned off; copy the address again from the flow's trigger"
        )
    return (
        f"{label}: {shown}: the channel refused the message cs-sync built (a bug: please "
        "report it with this line); the alerts stay queued for the next runs"
    )
