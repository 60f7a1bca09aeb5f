"""Alerts on the sandbox, through simple-salesforce and the webhooks over HTTP: each event is
posted once to Chatter, Slack and Teams; a rerun, a retry or the next day never repeats it; a
channel that refuses is named and never costs the run its writes; what a stopped run queued is
delivered by the next; a failed run is told once a day; the webhook address is never shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cs_sync.config import load_config
from cs_sync.demo import DemoFolder, prepare_demo
from cs_sync.pipeline import run_once
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.webhooks_api import shown_card
from tests.conftest import AS_OF, login, one_json, served

SLACK = "https://hooks.slack.com/services/T0CSSYNC1/B0ALERTS1/s3cr3tPart0fTheAddress"
TEAMS = (
    "https://prod-01.japaneast.logic.azure.com:443/workflows/0abc/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3tSignature"
)
CHANNELS = """
[[alerts.channels]]
name = "cs-team"
kind = "slack"
webhook_url_env = "CS_SYNC_TEST_SLACK"
events = ["grade_drop", "renewal_at_risk", "run_failed"]

[[alerts.channels]]
name = "cs-leads"
kind = "teams"
webhook_url_file = "secrets/teams_webhook"
segments = ["High Touch"]
"""


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DemoFolder, Sandbox]]:
    folder = prepare_demo(tmp_path / "demo", 80, AS_OF, port=0)
    text = folder.config_path.read_text("utf-8")
    marker = "[dashboard]\n"
    folder.config_path.write_text(text.replace(marker, CHANNELS + "\n" + marker, 1), "utf-8")
    (folder.workdir / "secrets" / "teams_webhook").write_text(TEAMS + "\n", "utf-8")
    monkeypatch.setenv("CS_SYNC_TEST_SLACK", SLACK)
    with served(folder) as sandbox:
        sandbox.add_webhook(SLACK)
        sandbox.add_webhook(TEAMS)
        yield folder, sandbox


def run(capsys: pytest.CaptureFixture[str], folder: DemoFolder, *more: str) -> tuple[int, Any]:
    return one_json(
        capsys, "run", "--config", str(folder.config_path), "--as-of", AS_OF.isoformat(), *more
    )


def feed(sandbox: Sandbox) -> list[dict[str, Any]]:
    return login(sandbox).query_all("SELECT Id, ParentId, Body FROM FeedItem")["records"]


def slack_titles(sandbox: Sandbox) -> list[str]:
    """Each alert's title as the Slack channel shows it, in the order received."""
    titles = []
    for post in sandbox.store.webhook_posts():
        if post["address"].startswith("hooks.slack.com") and post["status"] == 200:
            for block in json.loads(post["body"])["blocks"]:
                if block["type"] == "section":
                    titles.append(block["text"]["text"].split("|", 1)[1].split(">*")[0])
    return titles


def teams_posts(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [p for p in sandbox.store.webhook_posts() if "logic.azure.com" in p["address"]]


def drop_grades(sandbox: Sandbox, count: int) -> list[str]:
    """Write grade A on the record of `count` accounts graded C or D: the next run sees a
    drop from A."""
    sf = login(sandbox)
    found = sf.query_all("SELECT Id FROM Account WHERE CS_Health_Grade__c IN ('C', 'D')")
    ids = [record["Id"] for record in found["records"][:count]]
    for account_id in ids:
        sf.Account.update(account_id, {"CS_Health_Grade__c": "A"})
    return ids


def test_each_event_is_posted_once_to_every_channel_that_takes_it(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    code, first = run(capsys, folder)
    assert code == 0, first["errors"]
    posted = feed(sandbox)
    assert first["alerts"]["sent"] > 0 and posted
    assert all(post["Body"].startswith("更新リスク：") for post in posted)
    assert len(slack_titles(sandbox)) == len(posted)  # Slack takes the renewals too
    assert all(shown_card(p["body"]) for p in teams_posts(sandbox))
    assert first["webhook_calls"] == len(sandbox.store.webhook_posts())

    code, again = run(capsys, folder)
    assert (code, again["alerts"]["sent"], again["alerts_planned"]) == (0, 0, 0)
    assert len(feed(sandbox)) == len(posted)

    dropped = drop_grades(sandbox, 3)
    code, planned = one_json(
        capsys, "plan", "--config", str(folder.config_path), "--as-of", AS_OF.isoformat()
    )
    alerts = planned["plan"]["alerts"]
    drops = [a for a in alerts if a["event"] == "grade_drop"]
    assert sorted({a["account_id"] for a in drops}) == sorted(dropped)
    assert {a["channel"] for a in drops} >= {"account-feeds", "cs-team"}
    assert all(a["title"].startswith("ヘルス低下 A → ") for a in drops)
    assert len(feed(sandbox)) == len(posted)  # a plan posts nothing

    code, third = run(capsys, folder)
    assert code == 0, third["errors"]
    on_record = [p for p in feed(sandbox) if p["Body"].startswith("ヘルス低下")]
    assert sorted(p["ParentId"] for p in on_record) == sorted(dropped)
    code, fourth = run(capsys, folder)  # the record holds the new grade: no drop, no post
    assert fourth["alerts_planned"] == 0 and len(feed(sandbox)) == len(posted) + 3


def test_a_channel_that_refuses_is_named_keeps_the_writes_and_gets_its_alerts_later(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    sandbox.add_webhook(SLACK, "removed")
    code, first = run(capsys, folder)
    printed = capsys.readouterr()
    assert (code, first["status"]) == (1, "partial")
    assert first["fields_written"] > 0 and first["tasks_created"] > 0  # the writes stand
    refusal = [e for e in first["errors"] if e["kind"] == "alert"]
    assert len(refusal) == 1 and refusal[0]["record"] == "cs-team"
    assert "alerts.channels.cs-team" in refusal[0]["message"]
    assert "HTTP 404 no_service" in refusal[0]["message"]
    assert "s3cr3t" not in json.dumps(first) + printed.out + printed.err
    assert feed(sandbox)  # Chatter and Teams got theirs
    held = first["alerts"]["held_back"]
    assert held > 0

    sandbox.add_webhook(SLACK)  # the admin makes a new webhook (same address here)
    code, second = run(capsys, folder)
    assert code == 0, second["errors"]
    assert second["alerts"]["sent"] == held
    assert len(slack_titles(sandbox)) == held


def test_what_a_stopped_run_queued_is_delivered_by_the_next_and_a_lost_post_never_twice(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    config = load_config(folder.config_path)
    stopped = run_once(config, AS_OF, dry_run=False, stop_requested=lambda: True)
    assert stopped.status == "interrupted"
    assert feed(sandbox) == [] and sandbox.store.webhook_posts() == []
    queued = len(stopped.plan.alerts) if stopped.plan is not None else 0
    assert queued > 0

    # the Chatter post's answer is lost: it exists, and is not posted again
    sandbox.faults.set(lost_responses=1, only_on="POST .*/composite/sobjects$")
    code, second = run(capsys, folder)
    assert second["alerts"]["unconfirmed"] > 0
    assert [w["kind"] for w in second["warnings"]].count("alert_unconfirmed") == 1
    assert second["alerts"]["sent"] + second["alerts"]["unconfirmed"] == queued
    posted = len(feed(sandbox))
    assert posted == second["alerts"]["unconfirmed"]
    code, third = run(capsys, folder)
    assert third["alerts"]["sent"] == 0 and len(feed(sandbox)) == posted


def test_a_failed_run_is_told_to_slack_once_a_day(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    sandbox.faults.set(request_limit=1000)  # the org's allowance is used up
    code, first = run(capsys, folder)
    assert first["status"] == "failed" and code == 4
    told = [json.loads(p["body"]) for p in sandbox.store.webhook_posts()]
    assert len(told) == 2  # Slack takes run_failed; Teams takes every event
    section = told[0]["blocks"][1]["text"]["text"]
    assert "cs-sync の実行失敗" in section and "allowance is used up" in section
    assert shown_card(json.dumps(told[1]))
    assert feed_count_through_store(sandbox) == 0
    code, second = run(capsys, folder)
    assert second["status"] == "failed"
    assert len(sandbox.store.webhook_posts()) == 2  # the same failure, the same day: once
    next_day = (AS_OF + timedelta(days=1)).isoformat()
    one_json(capsys, "run", "--config", str(folder.config_path), "--as-of", next_day)
    assert len(sandbox.store.webhook_posts()) == 4


def feed_count_through_store(sandbox: Sandbox) -> int:
    """FeedItems in the org, read without an API call (the allowance is used up)."""
    return sandbox.store.count("FeedItem")


def test_over_max_per_run_a_webhook_gets_one_line_counting_the_rest(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    run(capsys, folder)
    drop_grades(sandbox, 4)
    text = folder.config_path.read_text("utf-8")
    capped = text.replace('name = "cs-team"\n', 'name = "cs-team"\nmax_per_run = 1\n', 1)
    folder.config_path.write_text(capped, "utf-8")
    before = len(sandbox.store.webhook_posts())
    code, second = run(capsys, folder)
    assert code == 0, second["errors"]
    posts = sandbox.store.webhook_posts()[before:]
    slack = [p for p in posts if p["address"].startswith("hooks")]
    assert len(slack) == 1
    blocks = json.loads(slack[0]["body"])["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "context"]
    assert (
        blocks[-1]["elements"][0]["text"]
        == "ほか 3件（ヘルス低下 3）はダッシュボードでご確認ください"
    )
    assert second["alerts"]["summarised"] == 3
    code, again = run(capsys, folder)
    assert again["alerts"]["sent"] == 0 and len(sandbox.store.webhook_posts()) == before + len(
        posts
    )


def test_a_run_that_crashes_in_the_worker_is_told_too(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    from cs_sync.worker import _tell_crash

    folder, sandbox = demo
    _tell_crash(load_config(folder.config_path), AS_OF, "KeyError('arr')")
    slack = [p for p in sandbox.store.webhook_posts() if p["address"].startswith("hooks")]
    assert len(slack) == 1
    assert "the run crashed: KeyError('arr')" in slack[0]["body"]


def test_doctor_checks_each_channel_without_posting(
    demo: tuple[DemoFolder, Sandbox],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cs_sync.cli import main

    folder, sandbox = demo
    main(["doctor", "--config", str(folder.config_path)])
    out = capsys.readouterr().out
    assert "[ok  ] alerts channel account-feeds: Chatter posts can be created on Accounts" in out
    assert "[ok  ] alerts channel cs-team: a slack webhook address (not posted)" in out
    assert "[ok  ] alerts channel cs-leads: a teams webhook address (not posted)" in out
    assert sandbox.store.webhook_posts() == [] and sandbox.store.count("FeedItem") == 0
    monkeypatch.setenv("CS_SYNC_TEST_SLACK", "https://example.com/hook/s3cr3t")
    main(["doctor", "--config", str(folder.config_path)])
    out = capsys.readouterr().out
    assert (
        "[FAIL] alerts channel cs-team: alerts.channels.cs-team: the address read is not a " in out
    )
    assert "s3cr3t" not in out


def test_a_grade_drop_seen_by_a_run_stopped_in_its_writes_is_posted_by_the_next(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, sandbox = demo
    run(capsys, folder)
    dropped = drop_grades(sandbox, 3)
    config = load_config(folder.config_path)

    def graded() -> list[str]:  # the dropped accounts holding their new grade (the store)
        return [i for i in dropped if sandbox.store.get(i)[1]["CS_Health_Grade__c"] != "A"]

    # one record a write step, stopped as soon as a new grade is on a record: the next run
    # sees no drop there, so only the alert queued before the writes can still tell it
    stopped = run_once(
        config, AS_OF, dry_run=False, stop_requested=lambda: bool(graded()), batch_size=1
    )
    assert stopped.status == "interrupted" and len(graded()) == 1
    code, after = run(capsys, folder)
    assert code == 0, after["errors"]
    posts = [p for p in feed(sandbox) if p["Body"].startswith("ヘルス低下")]
    assert sorted(p["ParentId"] for p in posts) == sorted(dropped)


def test_the_webhook_addresses_stay_out_of_the_debug_log(
    demo: tuple[DemoFolder, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    from cs_sync.cli import main

    folder, sandbox = demo
    code = main(["-vv", "run", "--config", str(folder.config_path), "--as-of", AS_OF.isoformat()])
    err = capsys.readouterr().err
    assert code == 0 and sandbox.store.webhook_posts()
    assert "POST /services/T0CSSYNC1/B0ALERTS1/[redacted]" in err  # the call is logged
    assert "s3cr3t" not in err
