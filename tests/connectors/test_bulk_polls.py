"""A Bulk API 2.0 job is first polled when its records should be done, so that one poll most
often finds it complete; a job still running is polled after short, growing pauses and
slows the pace the client's later jobs are waited for. A query job runs step by step like an
ingest job: a transient failure repeats that step alone, never the job."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from simple_salesforce import Salesforce

from cs_sync.connectors.bulk_jobs import QUERY_RECORDS_PER_S, Pace
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.transport import CallCounter
from cs_sync.errors import Interrupted
from cs_sync.sandbox.server import Sandbox
from tests.connectors.test_salesforce_connector import BASE, CONFIG

JOB = "7505g000000AfFMAA0"
QUERY = "SELECT Id, Name FROM Account"


class Clock:
    """Time that passes only when the client sleeps; what happened when, in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timeline: list[tuple[str, float]] = []

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now

    def mark(self, what: str) -> None:
        self.timeline.append((what, self.now))

    def polls(self) -> list[float]:
        return [at for what, at in self.timeline if what == "poll"]


def _client(clock: Clock) -> SalesforceClient:
    sf = Salesforce(
        instance="acme.my.salesforce.com",
        session_id="00D!x",
        version="62.0",
        session=requests.Session(),
    )
    sf_client = SalesforceClient(sf, CONFIG, max_attempts=2, wait_max_s=0.01)
    sf_client.sleep, sf_client.clock = clock.sleep, clock
    return sf_client


def _query_job(clock: Clock, states: list[str], records: int, job: str = JOB) -> None:
    """A query job answering `states` to its polls, then two pages of results."""
    answers = iter(states)

    def poll(_: Any) -> tuple[int, dict[str, str], str]:
        clock.mark("poll")
        state = next(answers)
        done = records if state == "JobComplete" else 0
        return 200, {}, f'{{"id": "{job}", "state": "{state}", "numberRecordsProcessed": {done}}}'

    def page(request: Any) -> tuple[int, dict[str, str], str]:
        clock.mark("page")
        asked = parse_qs(urlsplit(request.url).query)
        first = "locator" not in asked
        assert asked["maxRecords"] == ["50000"]
        assert first or asked["locator"] == ["next-page"]
        rows = "001000000000001AAA,One\n" if first else "001000000000002AAA,Two\n"
        locator = "next-page" if first else "null"
        return 200, {"Sforce-Locator": locator}, "Id,Name\n" + rows

    responses.post(f"{BASE}/jobs/query", json={"id": job, "state": "UploadComplete"})
    responses.add_callback(responses.GET, f"{BASE}/jobs/query/{job}", callback=poll)
    responses.add_callback(responses.GET, f"{BASE}/jobs/query/{job}/results", callback=page)


def _read(sf_client: SalesforceClient, records: int) -> list[str]:
    columns = {"Id": "id", "Name": "string"}
    threshold = CONFIG.bulk_query_threshold
    frame = sf_client.query_frame(QUERY, "accounts", columns, records=max(records, threshold + 1))
    return list(frame["Name"])


@responses.activate
def test_a_query_job_is_polled_once_when_its_records_should_be_done() -> None:
    clock = Clock()
    records = 60_000
    _query_job(clock, ["JobComplete"], records)
    assert _read(_client(clock), records) == ["One", "Two"]
    assert clock.polls() == [pytest.approx(records / QUERY_RECORDS_PER_S)]  # 3 s, one poll
    assert [what for what, _ in clock.timeline] == ["poll", "page", "page"]
    created = [c for c in responses.calls if c.request.method == "POST"]
    assert len(created) == 1 and b'"operation": "query"' in (created[0].request.body or b"")


@responses.activate
def test_a_job_still_running_is_polled_after_growing_pauses_and_slows_the_pace() -> None:
    clock = Clock()
    records = 60_000
    _query_job(clock, ["InProgress", "InProgress", "InProgress", "JobComplete"], records)
    sf_client = _client(clock)
    sf_client.query_pace.least_s = 2.0
    first = records / QUERY_RECORDS_PER_S
    _read(sf_client, records)
    assert clock.polls() == pytest.approx([first, first + 2.0, first + 5.0, first + 9.5])
    assert sf_client.query_pace.records_per_s == pytest.approx(records / (first + 9.5))
    # the client's next job of as many records is waited for as long as this one took
    responses.reset()
    clock.timeline.clear()
    started = clock.now
    _query_job(clock, ["JobComplete"], records, job="7505g000000AfFNAA0")
    _read(sf_client, records)
    assert clock.polls() == [pytest.approx(started + first + 9.5)]


def test_the_pace_bounds_the_first_wait_and_only_slows() -> None:
    pace = Pace(records_per_s=10_000.0, least_s=1.0)
    assert pace.first_wait(0) == 1.0  # not known: the least wait
    assert pace.first_wait(5_000) == 1.0
    assert pace.first_wait(50_000) == 5.0
    assert pace.first_wait(10**9) == 300.0  # never more than five minutes
    pace.learn(50_000, 2.0)  # faster than the pace: a first poll found it done, no lesson
    assert pace.records_per_s == 10_000.0
    pace.learn(50_000, 10.0)
    assert pace.records_per_s == 5_000.0
    pace.learn(10, 10**6)
    assert pace.records_per_s == 100.0  # never slower than this


@pytest.mark.parametrize(
    "step",
    [
        pytest.param("POST .*/jobs/query$", id="create-503"),
        pytest.param("GET .*/jobs/query/[^/]+$", id="poll-503"),
        pytest.param("GET .*/results$", id="page-503"),
    ],
)
def test_a_failed_step_of_a_query_job_is_repeated_alone(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter], step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sf_client, sandbox, _ = bulk
    monkeypatch.setattr("cs_sync.connectors.salesforce.BULK_QUERY_PAGE", 7)  # several pages
    columns = {"Id": "id", "Name": "string"}
    whole = sf_client.query_frame(QUERY, "accounts", columns)  # REST pages
    jobs_before = set(sandbox.salesforce.bulk.query_jobs)
    sandbox.faults.set(only_on=step, server_errors=1)
    big = sf_client.config.bulk_query_threshold + 1
    paged = sf_client.query_frame(QUERY, "accounts", columns, records=big)
    sandbox.faults.set(only_on="", server_errors=0)
    made = set(sandbox.salesforce.bulk.query_jobs) - jobs_before
    assert len(made) == 1, "the job was made again instead of the step repeated"
    assert sf_client.retries == 1
    assert sorted(paged["Id"]) == sorted(whole["Id"]) and len(paged) == len(whole) > 14


def test_a_stop_asked_while_a_query_job_runs_ends_the_wait(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter],
) -> None:
    sf_client, _, _ = bulk
    asked: list[bool] = []
    sf_client.stop_requested = lambda: asked.append(True) or len(asked) > 1
    with pytest.raises(Interrupted, match="Salesforce finishes it on its own"):
        sf_client.query_frame(QUERY, "accounts", {"Id": "id"}, records=10**6)  # a 50 s wait
    assert len(asked) == 2


def test_an_ingest_job_is_first_polled_when_its_rows_should_be_written(
    bulk: tuple[SalesforceClient, Sandbox, CallCounter],
) -> None:
    sf_client, _, _ = bulk
    clock = Clock()
    sf_client.sleep, sf_client.clock = clock.sleep, clock
    sf_client.ingest_pace = Pace(records_per_s=2.0, least_s=0.25)  # 2 rows a second

    def note(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        polled = response.request.method == "GET" and "/jobs/ingest/" in str(response.url)
        clock.mark("poll" if polled and not str(response.url).endswith("Results") else "other")

    sf_client.sf.session.hooks["response"].append(note)
    accounts = sf_client.query_frame(QUERY, "accounts", {"Id": "id"})["Id"]
    report = sf_client.update("Account", {a: {"CS_Health_Grade__c": "B"} for a in accounts})
    assert report.stopped_by is None and len(report.succeeded) == len(accounts) > 5
    first = len(accounts) / 2.0
    # the sandbox answers the first poll after the close InProgress, whatever the wait
    assert clock.polls() == pytest.approx([first, first + 0.25])
