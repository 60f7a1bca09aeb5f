"""The sandbox finds records by SystemModstamp through an index, as an org does, so that a
read of what changed costs what it does in Salesforce and not a scan of every record; the
answer is the one a scan gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from simple_salesforce import Salesforce

from cs_sync.sandbox import soql
from cs_sync.sandbox.query_api import stamp_floor
from cs_sync.sandbox.server import Sandbox


def test_a_read_by_systemmodstamp_answers_as_a_scan_would(sandbox: Sandbox, sf: Salesforce) -> None:
    accounts = sf.query("SELECT Id FROM Account ORDER BY Id LIMIT 3")["records"]
    for account in accounts:
        sf.Account.update(account["Id"], {"CS_Sentiment__c": "Negative"})
    sf.Account.delete(accounts[2]["Id"])
    stamp = sf.query_all(f"SELECT SystemModstamp FROM Account WHERE Id = '{accounts[0]['Id']}'")[
        "records"
    ][0]["SystemModstamp"]
    since = stamp[:19] + "Z"  # to the second, as the documented literal
    changed = sf.query_all(
        f"SELECT Id FROM Account WHERE SystemModstamp >= {since} ORDER BY Id",
        include_deleted=True,
    )["records"]
    assert [r["Id"] for r in changed] == [a["Id"] for a in accounts]
    # without queryAll the deleted one is left out; the rest of the clause still applies
    alive = sf.query(f"SELECT Id FROM Account WHERE (SystemModstamp >= {since}) AND Name != null")[
        "records"
    ]
    assert [r["Id"] for r in alive] == [a["Id"] for a in accounts[:2]]
    # a bound under OR is no bound: every record that meets either side
    either = sf.query(
        f"SELECT COUNT() FROM Account WHERE SystemModstamp >= {since} OR Name != null"
    )["totalSize"]
    assert either == sf.query("SELECT COUNT() FROM Account")["totalSize"]
    plan = sandbox.store.db.execute(
        "EXPLAIN QUERY PLAN SELECT data FROM records WHERE sobject = 'Account' AND "
        "json_extract(data, '$.SystemModstamp') >= '2026'"
    ).fetchall()
    assert any("records_by_stamp" in str(row) for row in plan)


def test_the_bound_the_index_serves_is_read_off_the_top_of_the_clause(sandbox: Sandbox) -> None:
    def floor(where: str) -> object:
        parsed = soql.parse(f"SELECT Id FROM Account WHERE {where}", sandbox.store.schema)
        return stamp_floor(parsed.where)

    moment = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert floor("SystemModstamp >= 2026-12-04T09:00:00Z") == moment
    assert floor("(SystemModstamp > 2026-12-04T09:00:00Z) AND (Name != null)") == moment
    assert floor("SystemModstamp >= 2026-12-04T09:00:00Z OR Name != null") is None
    assert floor("SystemModstamp < 2026-12-04T09:00:00Z") is None
    assert floor("CreatedDate >= 2026-12-04T09:00:00Z") is None


def test_the_orgs_clock_can_be_moved_on(sandbox: Sandbox, sf: Salesforce) -> None:
    """A benchmark stands for the 15 minutes between scheduled runs by moving the org's clock:
    what the org stamps and the Date header of its answers follow it."""
    sandbox.store.clock_offset = timedelta(minutes=15)
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]
    sf.Account.update(account["Id"], {"CS_Sentiment__c": "Negative"})
    stamp = sf.Account.get(account["Id"])["SystemModstamp"]
    stamped = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert stamped - datetime.now(UTC) > timedelta(minutes=14)
    answer = sf.session.get(f"{sandbox.url}/services/oauth2/userinfo")
    dated = parsedate_to_datetime(answer.headers["Date"])
    assert dated - datetime.now(UTC) > timedelta(minutes=14)
