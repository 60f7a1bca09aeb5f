"""Slack and Teams webhooks over real HTTP to the sandbox's stand-ins: alerts batched within
each service's limits, refusals named with the fix and without the secret address, a rate
limit waited out, a lost answer never sent twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.connectors.webhooks import (
    SLACK_ALERTS_PER_MESSAGE,
    TEAMS_MESSAGE_BYTES,
    Item,
    Webhook,
    WebhookError,
    messages,
)
from cs_sync.errors import Unanswered
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.webhooks_api import shown_card

SLACK = "https://hooks.slack.com/services/T0CSSYNC1/B0ALERTS1/s3cr3tPart0fTheAddress"
WORKFLOW = (
    "https://prod-01.japaneast.logic.azure.com:443/workflows/0abc/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3tSignature"
)
OFFICE = "https://contoso.webhook.office.com/webhookb2/aaa@bbb/IncomingWebhook/ccc/ddd"


@pytest.fixture
def hooks(sandbox: Sandbox) -> Iterator[Sandbox]:
    for url in (SLACK, WORKFLOW, OFFICE):
        sandbox.add_webhook(url)
    yield sandbox


def hook(sandbox: Sandbox, kind: str, url: str, waits: list[float] | None = None) -> Webhook:
    """`waits`: the pauses asked for, kept instead of taken (else they are taken)."""
    session = build_session(sandbox.url, CallCounter())
    pause = waits.append if waits is not None else time.sleep
    return Webhook(session, kind, url, "alerts.channels.team", sleep=pause)


def items(count: int, text: str = "Score 42. Why: fewer logins") -> list[Item]:
    return [
        Item(f"Health dropped B → C: Customer {i}", text, f"https://x/{i}") for i in range(count)
    ]


def test_slack_gets_few_messages_within_its_block_limits_and_the_footer_last(
    hooks: Sandbox,
) -> None:
    waits: list[float] = []
    delivery = hook(hooks, "slack", SLACK, waits).deliver("cs-sync: 45 alerts", items(45), "…more")
    assert delivery.states == ["sent"] * 45
    posts = hooks.store.webhook_posts()
    assert [p["status"] for p in posts] == [200, 200, 200]
    bodies = [json.loads(p["body"]) for p in posts]
    assert [len(b["blocks"]) for b in bodies] == [21, 21, 7]  # header + sections (+ footer)
    assert bodies[-1]["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "…more"}],
    }
    assert bodies[0]["blocks"][1]["text"]["text"].startswith("*<https://x/0|Health dropped")
    assert len(waits) == 2 and all(0 < w <= 1.0 for w in waits)  # one message a second


def test_teams_messages_stay_under_28_kb_and_carry_a_card_the_channel_shows(
    hooks: Sandbox,
) -> None:
    long_text = "理由：" + "ログインが減っています。" * 600  # over the 4,000 characters kept
    delivery = hook(hooks, "teams", WORKFLOW).deliver("cs-sync", items(8, long_text), None)
    assert set(delivery.states) == {"sent"}
    posts = hooks.store.webhook_posts()
    assert len(posts) > 1 and {p["status"] for p in posts} == {202}
    assert all(len(p["body"].encode()) <= TEAMS_MESSAGE_BYTES for p in posts)
    assert all(shown_card(p["body"]) is not None for p in posts)
    assert hook(hooks, "teams", OFFICE).deliver("cs-sync", items(2), None).states == ["sent"] * 2
    assert hooks.store.webhook_posts()[-1]["status"] == 200


def test_each_slack_message_is_split_by_count_and_an_empty_batch_still_says_the_footer() -> None:
    found = messages("slack", "h", items(SLACK_ALERTS_PER_MESSAGE * 2), None)
    assert [count for _, count in found] == [SLACK_ALERTS_PER_MESSAGE] * 2
    assert [count for _, count in messages("slack", "h", [], "only a footer")] == [0]


@pytest.mark.parametrize(
    ("state", "url", "said"),
    [
        ("removed", SLACK, "HTTP 404 no_service"),
        ("archived", SLACK, "HTTP 410 channel_is_archived"),
        ("active", SLACK.replace("s3cr3t", "wrong"), "HTTP 403 invalid_token"),
    ],
)
def test_a_slack_webhook_that_no_longer_posts_is_named_with_the_fix_and_no_address(
    hooks: Sandbox, state: str, url: str, said: str
) -> None:
    hooks.add_webhook(SLACK, state)
    delivery = hook(hooks, "slack", url).deliver("h", items(3), None)
    assert delivery.states == ["queued"] * 3
    message = str(delivery.error)
    assert said in message and "alerts.channels.team" in message
    assert "create a new incoming webhook" in message
    assert "s3cr3t" not in message and "hooks.slack.com/services" not in message


def test_a_rate_limit_is_waited_out_as_retry_after_says(hooks: Sandbox) -> None:
    hooks.faults.set(webhook_rate_limited=1)
    waits: list[float] = []  # the sandbox's own bucket is full: only the fault answers 429
    delivery = hook(hooks, "slack", SLACK, waits).deliver("h", items(1), None)
    assert delivery.states == ["sent"]
    assert 1.0 in waits  # the Retry-After of the 429


def test_an_address_of_the_wrong_kind_is_refused_before_anything_is_sent(hooks: Sandbox) -> None:
    with pytest.raises(WebhookError) as refused:
        hook(hooks, "slack", "https://example.com/services/T/B/s3cr3t")
    assert "is not a slack webhook" in str(refused.value) and "s3cr3t" not in str(refused.value)
    with pytest.raises(WebhookError):
        hook(hooks, "teams", SLACK)
    assert hooks.store.webhook_posts() == []


def test_an_answer_lost_on_the_way_back_is_unconfirmed_and_not_sent_again(
    hooks: Sandbox, closed_port: int
) -> None:
    session = build_session(f"http://127.0.0.1:{closed_port}", CallCounter())
    refused = Webhook(session, "slack", SLACK, "alerts.channels.team", sleep=lambda _: None)
    delivery = refused.deliver("h", items(2), None)  # nothing listens: never sent
    assert delivery.states == ["queued", "queued"] and "cannot reach" in str(delivery.error)
    hooks.faults.set(lost_responses=1)  # posted, then the connection closed unanswered
    delivery = hook(hooks, "slack", SLACK, []).deliver("h", items(2), None)
    assert delivery.states == ["unconfirmed", "unconfirmed"]
    assert isinstance(delivery.error, Unanswered)
    assert [p["status"] for p in hooks.store.webhook_posts()] == [200]  # it did arrive, once
