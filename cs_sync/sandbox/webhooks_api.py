"""The sandbox's stand-ins for Slack and Microsoft Teams incoming webhooks: what each service
takes and how it refuses (docs/sandbox-fidelity.md cites the pages), every post kept so tests
and the demo can read what a channel received.

Slack (hooks.slack.com/services/T…/B…/secret): 200 "ok"; 400 invalid_payload (not JSON),
no_text (neither text nor blocks), invalid_blocks (over 50 blocks, a section over 3,000
characters, a header over 150); 403 invalid_token (the secret part wrong); 404 no_service
(no such webhook: removed); 410 channel_is_archived; 429 with Retry-After over one message a
second (short bursts allowed).
Teams: a Workflows webhook (…logic.azure.com, …api.powerplatform.com) accepts any request it
can read with 202 (a card it cannot show fails inside the flow, not in the answer: the post is
kept, marked); a channel's incoming webhook (….webhook.office.com) answers 200 "1", 400
"Summary or Text is required." without a text or card; both refuse a message over 28 KB
(413) and more than four requests a second (429).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from cs_sync.connectors.transport import SLACK_HOST, TEAMS_HOSTS
from cs_sync.sandbox.faults import Faults
from cs_sync.sandbox.http_types import Request, Response
from cs_sync.sandbox.store import OrgStore

SLACK_MAX_BLOCKS = 50
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
TEAMS_MAX_BYTES = 28 * 1024
# requests a second each service takes (a burst of a few over it is tolerated)
RATE = {"slack": 1.0, "teams": 4.0}
BURST = {"slack": 3.0, "teams": 4.0}
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def _text(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"), {"Content-Type": "text/html"})


class WebhooksApi:
    """Serves the webhook hosts the transport forwards (X-Forwarded-Host)."""

    def __init__(self, store: OrgStore, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self.buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)
        self.lock = threading.Lock()

    @staticmethod
    def handles_host(host: str) -> bool:
        return host == SLACK_HOST or host.endswith(TEAMS_HOSTS)

    def handle(self, request: Request, host: str) -> Response:
        if request.method != "POST":
            return _text(405, "invalid_method")
        if host == SLACK_HOST:
            return self._slack(request, host)
        return self._teams(request, host)

    def _limited(self, address: str, kind: str) -> bool:
        """A token bucket per webhook: RATE a second, BURST at most."""
        now = time.monotonic()
        with self.lock:
            tokens, at = self.buckets.get(address, (BURST[kind], now))
            tokens = min(BURST[kind], tokens + (now - at) * RATE[kind])
            if tokens < 1.0 or self.faults.take("webhook_rate_limited"):
                self.buckets[address] = (tokens, now)
                return True
            self.buckets[address] = (tokens - 1.0, now)
            return False

    def _kept(self, address: str, request: Request, response: Response) -> Response:
        self.store.add_webhook_post(address, request.body, response.status)
        return response

    def _slack(self, request: Request, host: str) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "services":
            return _text(404, "no_service")
        address = f"{host}{request.path}"
        found = self.store.webhook(address)
        if found is None:  # the team and app known, the secret part wrong: invalid_token
            known = self.store.webhooks_under(f"{host}/services/{parts[1]}/{parts[2]}/")
            return _text(403, "invalid_token") if known else _text(404, "no_service")
        if found[1] == "removed":
            return _text(404, "no_service")
        if found[1] == "archived":
            return self._kept(address, request, _text(410, "channel_is_archived"))
        if self._limited(address, "slack"):
            return Response(429, b"rate_limited", {"Retry-After": "1", "Content-Type": "text/html"})
        try:
            message = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._kept(address, request, _text(400, "invalid_payload"))
        if not isinstance(message, dict):
            return self._kept(address, request, _text(400, "invalid_payload"))
        blocks = message.get("blocks")
        if not message.get("text") and not blocks:
            return self._kept(address, request, _text(400, "no_text"))
        if blocks is not None and not _slack_blocks_ok(blocks):
            return self._kept(address, request, _text(400, "invalid_blocks"))
        return self._kept(address, request, _text(200, "ok"))

    def _teams(self, request: Request, host: str) -> Response:
        address = f"{host}{request.path}"
        found = self.store.webhook(address)
        workflow = not host.endswith(".webhook.office.com")
        if found is None or found[1] == "removed":
            if workflow:
                return Response.of_json(
                    404,
                    {
                        "error": {
                            "code": "WorkflowNotFound",
                            "message": "The workflow was not found.",
                        }
                    },
                )
            return _text(404, "Webhook not found")
        if workflow and not request.param("sig"):
            return Response.of_json(
                401,
                {
                    "error": {
                        "code": "DirectApiAuthorizationRequired",
                        "message": "The request must be authenticated (the address's sig).",
                    }
                },
            )
        if len(request.body) > TEAMS_MAX_BYTES:
            return self._kept(address, request, _text(413, "Request Entity Too Large"))
        if self._limited(address, "teams"):
            return Response(429, b"Too Many Requests", {"Retry-After": "1"})
        try:
            message: Any = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            message = None
        if workflow:
            if message is None:
                return self._kept(address, request, _text(400, "The request body is not JSON."))
            return self._kept(address, request, Response(202))
        if not isinstance(message, dict) or not (
            message.get("text") or message.get("summary") or _adaptive_card(message)
        ):
            return self._kept(address, request, _text(400, "Summary or Text is required."))
        return self._kept(address, request, _text(200, "1"))


def _slack_blocks_ok(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > SLACK_MAX_BLOCKS:
        return False
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            return False
        text = block.get("text")
        if isinstance(text, dict):
            limit = SLACK_HEADER_CHARS if block["type"] == "header" else SLACK_SECTION_CHARS
            if len(str(text.get("text", ""))) > limit:
                return False
    return True


def _adaptive_card(message: dict[str, Any]) -> dict[str, Any] | None:
    """The Adaptive Card a Teams message carries (the Workflows template reads the first
    attachment of this content type), or None."""
    attachments = message.get("attachments")
    if message.get("type") != "message" or not isinstance(attachments, list):
        return None
    for attachment in attachments:
        if isinstance(attachment, dict) and attachment.get("contentType") == ADAPTIVE:
            content = attachment.get("content")
            if isinstance(content, dict) and content.get("type") == "AdaptiveCard":
                return content
    return None


def shown_card(body: str) -> dict[str, Any] | None:
    """The card a Teams channel shows for a post's body (None: the flow fails to show it)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return _adaptive_card(message) if isinstance(message, dict) else None
