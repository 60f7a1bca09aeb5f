"""Salesforce API calls of a full first run, its rerun, an unchanged run and a run after 1% of
the accounts changed, on a large book, beside the floor and beside a naive integration that
reads everything and updates one account per call.

The floor (shared reference/salesforce.md): ceil(records / 2,000) calls per object read with
REST, and ceil(changed / 200) per object written, or one Bulk API 2.0 job counted as one call;
plus the login and the /limits reading. The naive figure is counted, not run: the same reads,
then one REST update per changed account and one create per task.

The task caps and the brake on new Tasks are lifted (`--caps` keeps them): the first run
creates every Task the book wants, so the unchanged run is a book at rest, as a scheduled book
becomes once its runs have worked through what the caps held back.

    .venv/bin/python -m benchmarks.api_calls --accounts 100000 --activities 1000000
"""

from __future__ import annotations

import argparse
import math
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from benchmarks.book import AS_OF, run_book
from cs_sync.config import Config
from cs_sync.connectors.salesforce import BULK_QUERY_PAGE
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.store import now_stamp


def floor_calls(reads: list[int], changed: int, tasks: int, bulk_threshold: int) -> int:
    def writes(count: int) -> int:
        if count == 0:
            return 0
        return 1 if count > bulk_threshold else math.ceil(count / 200)

    pages = sum(math.ceil(max(count, 1) / 2000) for count in reads)
    return 2 + pages + writes(changed) + writes(tasks)  # 2: login and /limits


def bulk_floor(reads: list[int], written: list[int], config: Config) -> int:
    """The Bulk-aware floor (issue 19): login and /limits; per object read, one Bulk API 2.0
    query job above `salesforce.bulk_query_threshold` (create, one poll, a result page per
    50,000 records, as cs-sync asks) or REST pages of 2,000 below it; per object written,
    one ingest job above `salesforce.bulk_threshold` (create, upload, close, one poll, the
    successful results) or sObject Collections calls of 200 below it."""
    salesforce = config.salesforce

    def read(count: int) -> int:
        if count > salesforce.bulk_query_threshold:
            return 2 + math.ceil(count / BULK_QUERY_PAGE)
        return math.ceil(max(count, 1) / 2000)

    def write(count: int) -> int:
        if count == 0:
            return 0
        return 5 if count > salesforce.bulk_threshold else math.ceil(count / 200)

    return 2 + sum(map(read, reads)) + sum(map(write, written))


def signal_records(sandbox: Sandbox, config: Config) -> dict[str, int]:
    """The records the activity and case reads match (see extract_signals), counted in the
    store: completed Tasks that are not cs-sync's and Events within the activity window,
    open Cases and those opened or closed within the cases window; and what the book holds."""
    since = (AS_OF - timedelta(days=config.salesforce.activity.days)).isoformat()
    cases_since = (AS_OF - timedelta(days=config.salesforce.cases.days)).isoformat()
    today = AS_OF.isoformat()
    tasks = sandbox.store.all("Task")
    events = sandbox.store.all("Event")
    cases = sandbox.store.all("Case")

    def within(day: object) -> bool:
        return since <= str(day or "")[:10] <= today

    return {
        "tasks": len(tasks),
        "events": len(events),
        "cases": len(cases),
        "read_tasks": sum(1 for t in tasks if t.get("IsClosed") and within(t.get("ActivityDate"))),
        "read_events": sum(1 for e in events if within(e.get("ActivityDate"))),
        "read_answers": sum(
            1
            for c in sandbox.store.all("Contact")
            if c.get("AccountId") and c.get(str(config.surveys.contact_field)) is not None
        ),
        "read_cases": sum(
            1
            for c in cases
            if not c.get("IsClosed")
            or str(c.get("CreatedDate"))[:10] >= cases_since
            or str(c.get("ClosedDate") or "")[:10] >= cases_since
        ),
    }


def pad_activity(sandbox: Sandbox, config: Config, total: int) -> int:
    """Completed calls on the book's accounts, dated within the activity window (so the run
    reads every one), until the org holds `total` Tasks and Events; returns how many."""
    store = sandbox.store
    missing = total - store.count("Task") - store.count("Event")
    accounts = [(a["Id"], a["OwnerId"]) for a in store.all("Account")]
    days = config.salesforce.activity.days
    for n in range(max(missing, 0)):
        account, owner = accounts[n % len(accounts)]
        day = AS_OF - timedelta(days=1 + n % (days - 1))
        store.insert(
            "Task",
            {
                "Subject": "電話フォロー",
                "OwnerId": owner,
                "WhatId": account,
                "AccountId": account,
                "ActivityDate": day.isoformat(),
                "Status": "Completed",
                "IsClosed": True,
                "Priority": "Normal",
                "Type": "Call",
            },
        )
    # as the seed's own records, made before the book's date, not a minute ago
    store.settle(now_stamp(datetime.combine(AS_OF - timedelta(days=1), time(), UTC)))
    return max(missing, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument(
        "--activities",
        type=int,
        default=0,
        help="pad the org with completed calls in the activity window up to this many Tasks "
        "and Events in all (the seed makes about 8 an account)",
    )
    parser.add_argument(
        "--caps",
        action="store_true",
        help="keep the task caps (200 a run, 25 an owner): the book then wants Tasks for many "
        "runs, and each run after the first creates what the caps held back",
    )
    args = parser.parse_args()
    counts: dict[str, int] = {}

    def count(sandbox: Sandbox, config: Config) -> None:
        counts["padded"] = pad_activity(sandbox, config, args.activities)
        salesforce = config.salesforce
        types = (
            *salesforce.renewal_types,
            *salesforce.expansion_types,
            *salesforce.new_business_types,
        )
        opportunities = sandbox.store.all("Opportunity")
        counts["opportunities"] = len(opportunities)
        counts["read_opps"] = sum(1 for o in opportunities if o.get("Type") in types)
        counts["read_roles"] = sandbox.store.count("OpportunityContactRole")
        counts.update(signal_records(sandbox, config))

    with tempfile.TemporaryDirectory() as temporary:
        book = run_book(args.accounts, Path(temporary) / "book", count, at_rest=not args.caps)
    config, first = book.config, book.first
    read_opps, read_roles = counts["read_opps"], counts["read_roles"]
    threshold = config.salesforce.bulk_threshold
    signals = [counts["read_tasks"], counts["read_events"], counts["read_cases"]]
    # accounts, cs-sync tasks, opportunities, contact roles, completed tasks, events, cases
    reads = [first.accounts_read, 0, read_opps, read_roles, *signals]
    naive = floor_calls(reads, 0, 0, threshold) + first.accounts_changed + first.tasks_created
    print(
        f"book: {args.accounts} accounts ({first.accounts_read} scored), "
        f"{counts['opportunities']} opportunities ({read_opps} renewal, expansion or first "
        "contract), "
        f"{read_roles} contact roles, {counts['tasks']} Tasks and {counts['events']} Events "
        f"({counts['read_tasks'] + counts['read_events']} in the activity window, "
        f"{counts['padded']} of them added to the seed), "
        f"{counts['cases']} Cases ({counts['read_cases']} open or recent); seeded in "
        f"{book.seed_s:.0f} s; {book.changed_accounts} accounts changed before the last run"
    )
    print(
        "floor: a REST integration reading everything each run; extra calls per describe: "
        "Event and Case (their picklist values), counted in the calls, not in the floor; Bulk "
        "floor: login, /limits, a Bulk query job per object read (REST pages below "
        "bulk_query_threshold) and an ingest job per object written (issue 19)"
    )
    print(
        f"{'run':<14} {'calls':>6} {'floor':>6} {'Bulk floor':>10} {'naive loop':>11} {'SF MB':>7} "
        f"{'Sheets':>6} {'Sh. MB':>6} {'fields':>8} {'tasks':>6} {'seconds':>8}  read"
    )
    opened = 0
    for run in book.runs:
        result = run.result
        reads[1] = opened  # cs-sync's Tasks opened so far are read back
        floor = floor_calls(reads, result.accounts_changed, result.tasks_created, threshold)
        loop = naive if run is book.runs[0] else "-"
        bulk = (
            str(
                bulk_floor(
                    [*reads, counts["read_answers"]],
                    [result.accounts_changed, result.tasks_created],
                    config,
                )
            )
            if run is book.runs[0]
            else "-"
        )
        read = result.read or {}
        how = "whole" if read.get("whole") else f"changes: {sum(read.get('changed', {}).values())}"
        print(
            f"{run.label:<14} {result.salesforce_api_calls:>6} {floor:>6} {bulk:>10} {loop:>11} "
            f"{result.salesforce_bytes / 1e6:>7.1f} {result.sheets_api_calls:>6} "
            f"{result.sheets_bytes / 1e6:>6.1f} "
            f"{result.fields_written:>8} {result.tasks_created:>6} {run.seconds:>8.1f}  {how}"
        )
        opened += result.tasks_created


if __name__ == "__main__":
    main()
