"""The Composite resource in the sandbox: several reads in one call that counts once, each
answer what the request alone would have answered, a failed subrequest failing alone, and
the documented limits (25 subrequests, 5 query operations); and cs-sync's reads through it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from cs_sync.config import load_config
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.salesforce_batch import Read, describe_all, query_frames
from cs_sync.connectors.salesforce_login import connect
from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.demo import DemoFolder
from cs_sync.errors import CsSyncError
from cs_sync.sandbox.server import Sandbox
from tests.conftest import API_VERSION


def _get(url: str, ref: str) -> dict[str, Any]:
    return {"method": "GET", "url": f"/services/data/v{API_VERSION}/{url}", "referenceId": ref}


def _composite(sf: Salesforce, requests: list[dict[str, Any]]) -> Any:
    return sf.restful("composite", method="POST", json={"compositeRequest": requests})


def _calls_today(sandbox: Sandbox) -> int:
    return sandbox.store.api_calls_today(datetime.now(UTC).date())


def test_reads_in_one_call_answer_as_alone(sandbox: Sandbox, sf: Salesforce) -> None:
    soql = "SELECT Id, Name FROM Account ORDER BY Id LIMIT 3"
    alone = sf.query(soql)
    described = sf.restful("sobjects/Case/describe")
    before = _calls_today(sandbox)
    answer = _composite(
        sf,
        [
            _get(f"query/?q={soql.replace(' ', '+')}", "accounts"),
            _get("sobjects/Case/describe", "cases"),
            _get("query/?q=SELECT+Nope+FROM+Account", "broken"),
        ],
    )
    assert _calls_today(sandbox) - before == 1  # the whole series counts as one call
    by_ref = {item["referenceId"]: item for item in answer["compositeResponse"]}
    assert by_ref["accounts"]["httpStatusCode"] == 200
    assert by_ref["accounts"]["body"] == alone
    assert by_ref["cases"]["body"] == described
    # a failed subrequest fails alone, with the body the request alone gets
    assert by_ref["broken"]["httpStatusCode"] == 400
    assert by_ref["broken"]["body"][0]["errorCode"] == "INVALID_FIELD"


def test_the_documented_limits_are_kept(sf: Salesforce) -> None:
    queries = [_get("query/?q=SELECT+Id+FROM+User", f"q{i}") for i in range(6)]
    with pytest.raises(SalesforceMalformedRequest, match="5 query operations"):
        _composite(sf, queries)
    describes = [_get("sobjects/Account/describe", f"d{i}") for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest, match="25 subrequests"):
        _composite(sf, describes)
    assert len(_composite(sf, queries[:5] + describes[:20])["compositeResponse"]) == 25
    with pytest.raises(SalesforceMalformedRequest, match="allOrNone"):
        sf.restful(
            "composite", method="POST", json={"allOrNone": True, "compositeRequest": queries[:1]}
        )


def test_cs_syncs_reads_continue_past_the_first_page(
    demo40: tuple[DemoFolder, Sandbox],
) -> None:
    folder, _ = demo40
    text = folder.config_path.read_text("utf-8")
    folder.config_path.write_text(
        text.replace("account_filter =", "query_batch_size = 200\naccount_filter ="), "utf-8"
    )
    config = load_config(folder.config_path)
    counter = CallCounter()
    client = connect(config.salesforce, build_session(config.sandbox.url, counter), counter)
    describe_all(client, ["Account", "Case", "Event"])
    assert client.described == {"Account", "Case", "Event"}
    reads = [
        Read("SELECT Id, Subject FROM Task", "tasks", {"Id": "id", "Subject": "string"}),
        Read("SELECT Id FROM User", "users", {"Id": "id"}),
        Read(
            "SELECT Id, IsDeleted FROM Account",
            "accounts",
            {"Id": "id", "IsDeleted": "boolean"},
            True,
        ),
    ]
    before = counter.calls["salesforce"]
    together = query_frames(client, reads)
    tasks = len(together[0])
    assert tasks > 200  # more than a page of 200: continued by queryMore
    pages = -(-tasks // 200)
    assert counter.calls["salesforce"] - before == 1 + pages - 1
    for read, frame in zip(reads, together, strict=True):
        alone = client.query_frame(read.soql, read.what, read.columns, read.all_rows)
        assert frame.equals(alone)
    with pytest.raises(CsSyncError, match="Nope"):
        query_frames(client, [Read("SELECT Nope FROM Account", "broken", {"Nope": "string"})])


@pytest.fixture
def quick_retries(demo40: tuple[DemoFolder, Sandbox]) -> tuple[SalesforceClient, Sandbox]:
    """cs-sync's client on the demo's org, waiting next to nothing between attempts."""
    folder, sandbox = demo40
    config = load_config(folder.config_path)
    client = connect(config.salesforce, build_session(config.sandbox.url))
    client.wait_max_s = 0.01
    return client, sandbox


def test_a_composite_call_that_fails_on_salesforces_side_is_retried(
    quick_retries: tuple[SalesforceClient, Sandbox],
) -> None:
    client, sandbox = quick_retries
    sandbox.faults.set(server_errors=1, only_on="POST .*/composite$")
    (users,) = query_frames(client, [Read("SELECT Id FROM User", "users", {"Id": "id"})])
    assert len(users) > 0 and client.retries == 1


def test_a_subrequest_that_fails_on_salesforces_side_fails_the_call_which_is_retried(
    quick_retries: tuple[SalesforceClient, Sandbox],
) -> None:
    """One part of a Composite call answers 500 inside the call's 200: the call is sent again
    (as any call that failed on Salesforce's side), and every read answers as alone."""
    client, sandbox = quick_retries
    reads = [
        Read("SELECT Id FROM User", "users", {"Id": "id"}),
        Read("SELECT Id, Name FROM Account", "accounts", {"Id": "id", "Name": "string"}),
    ]
    alone = [client.query_frame(r.soql, r.what, r.columns) for r in reads]
    sandbox.faults.set(composite_sub_errors=1)
    together = query_frames(client, reads)
    assert client.retries == 1 and sandbox.faults.composite_sub_errors == 0
    for frame, expected in zip(together, alone, strict=True):
        assert frame.equals(expected)
