"""Reading Salesforce by its changes: the records a run needs come from the local copy
(connectors/copy_store.py), brought up to date with what changed since the last run.

Each object a run reads is described once (`CopiedObject`): its columns, the condition of a
whole read, and how its changes are found. A run then either reads every object whole (no
copy yet, `--full`, the copy older than `local_copy.full_read_hours`, a changed query or
mapping) or asks each object for the records whose SystemModstamp is at or after its
watermark less an overlap (queryAll, so deletions come too):

- an object whose keep-or-drop can be decided here (opportunity types, contact role values,
  cs-sync's task keys and dates, the windows of activity and cases) is asked for whole rows
  once, and each changed row is kept, replaced or dropped (deleted, or no longer matching);
  a window that records enter as days pass (activity dated ahead) is kept from its start and
  shown up to the run's date (`view`);
- an object filtered by the admin's SOQL (Account) is asked for the changed ids first and,
  only when there are any, for the changed records that match: a changed id not among them
  has left the filter;
- a record whose parent changed (an owner renamed or deactivated, a contact renamed, an
  opportunity moved to another account) is read again by id, since a parent's change does not
  touch the child's SystemModstamp.

The watermark is the org's clock (the Date header of its answers) before the run's first
read, so neither a local clock's drift nor a change made while the run reads is lost; the
(id, SystemModstamp) pairs already taken in inside the overlap are remembered, so the overlap
costs no second read of the same change. The questions go five to a Composite call
(connectors/salesforce_batch.py): an unchanged book costs two calls, whatever its size.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pandas as pd

from cs_sync.connectors.bulk_csv import STAMP_KIND, typed_frame
from cs_sync.connectors.copy_store import CopiedState, Copy, CopyStore
from cs_sync.connectors.salesforce import SalesforceClient, soql
from cs_sync.connectors.salesforce_batch import Read, query_frames
from cs_sync.errors import CsSyncError
from cs_sync.held_rows import HeldIds, as_held, shared_rows, shared_unheld

log = logging.getLogger(__name__)

STAMP = "SystemModstamp"
# Parents whose change asks more children than this to be read again: the object is read
# whole instead (one query, or one Bulk job, rather than many lists of ids).
REFETCH_LIMIT = 2_000
IDS_PER_QUERY = 200  # ids in one query: its address stays well under 16,384 bytes
# Objects without the Recycle Bin (a user is deactivated, never deleted): no queryAll.
NO_RECYCLE_BIN = frozenset({"User"})


@dataclass(frozen=True)
class CopiedObject:
    """One object a run reads, and how its changes are found."""

    name: str  # the copy's name for it: accounts, opportunities...
    sobject: str
    what: str  # how messages name its records
    columns: dict[str, str]  # selected path → describe type; "Id" first
    condition: str  # a whole read's WHERE clause ("": every record)
    changes: str | None = None  # a change read asks whole rows with this stable condition
    keep: Callable[[pd.DataFrame], pd.Series] | None = None  # `condition`, decided here
    # what the run sees of the kept rows (a window that records enter as days pass, such as
    # activity dated up to the run's date: kept before they are seen)
    view: Callable[[pd.DataFrame], pd.Series] | None = None
    parents: tuple[tuple[str, str], ...] = ()  # (reference column, the parent's object)
    as_of_bound: bool = False  # `condition` moves with the run's date (kept by `keep`)
    settings: tuple[object, ...] = ()  # what else decides the rows kept

    @property
    def read_columns(self) -> dict[str, str]:
        return {**self.columns, STAMP: STAMP_KIND}

    def signature(self) -> str:
        """What a copy made by another query cannot serve: the columns, conditions and
        settings (for a date-bound object, not its date)."""
        parts = [
            self.sobject,
            list(self.columns.items()),
            "" if self.as_of_bound else self.condition,
            self.changes,
            [str(s) for s in self.settings],
        ]
        return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:16]

    def select(self, condition: str, extra: tuple[str, ...] = ()) -> str:
        columns = ", ".join([*self.read_columns, *extra])
        where = f" WHERE {condition}" if condition.strip() else ""
        return f"SELECT {columns} FROM {self.sobject}{where}"


@dataclass
class ReadReport:
    """What a run read: whole, or by changes (per object: changed, removed, read again)."""

    full: bool
    why: str
    changed: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    refetched: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "whole": self.full,
            "why": self.why,
            "changed": self.changed,
            "removed": self.removed,
            "read_again": self.refetched,
        }


def read_whole(
    client: SalesforceClient,
    *specs: CopiedObject,
    sizes: dict[str, int] | None = None,
    held: HeldIds | None = None,
    also: Sequence[Read] = (),
) -> list[pd.DataFrame]:
    """Every record of each object that meets its condition, with its SystemModstamp (the
    first pages of up to five objects in one call), after the tables of `also`, reads asked
    in the same calls. `sizes`: how many records each held at its last read; one above
    salesforce.bulk_query_threshold goes straight to a Bulk job (first polled when that many
    records should be done). With `held`, each page is shared as it comes (`HeldIds.share`:
    lookups pointing at the ids of the objects read before, repeated texts one string each),
    so the strings a page made for its lookups go before the next page is read and the next
    page's strings take their place (shared once every object was read, they left their
    holes among the ids and names kept)."""
    reads = [
        Read(
            spec.select(spec.condition),
            spec.what,
            spec.read_columns,
            records=(sizes or {}).get(spec.name, 0),
            each_page=(
                (lambda page: page)
                if held is None
                else partial(held.share, columns=spec.read_columns)
            ),
        )
        for spec in specs
    ]
    found = query_frames(client, [*also, *reads])
    return [*found[: len(also)], *(_in_order(rows) for rows in found[len(also) :])]


def read_now(client: SalesforceClient, specs: list[CopiedObject]) -> dict[str, pd.DataFrame]:
    """Whole reads, as the run sees them (through each object's `view`)."""
    found = {}
    held = HeldIds()  # each object's ids, as its children's lookups are shared
    for spec, rows in zip(specs, read_whole(client, *specs, held=held), strict=True):
        rows = shared_unheld(rows, spec.read_columns, held)
        if spec.view is not None:
            rows = rows[spec.view(rows).to_numpy(dtype=bool)].reset_index(drop=True)
        found[spec.name] = rows
    return found


def why_full(
    specs: list[CopiedObject],
    copy: Copy,
    as_of: date,
    now: datetime,
    full_read_hours: float,
    forced: bool,
) -> str:
    """Why this run reads every object whole ("" when it reads changes)."""
    if forced:
        return "asked for (--full)"
    if not copy.objects:
        return "no local copy yet"
    for spec in specs:
        state = copy.objects.get(spec.name)
        if state is None or state.signature != spec.signature():
            return f"the query or mapping of {spec.what} changed"
        if spec.as_of_bound and as_of < state.as_of:
            return f"{as_of} is before the copy's date ({state.as_of})"
        if now - state.full_read_at >= timedelta(hours=full_read_hours):
            return f"the last full read is over {full_read_hours:g} hours old"
        if spec.name not in copy.watermarks:
            return f"no watermark for {spec.what}"
    return ""


def _parent_sources(specs: list[CopiedObject]) -> dict[str, str]:
    """Where each parent object's changes come from: a copied object that reads every changed
    record of it whole (Opportunity: the opportunities' own read), else a read of its own
    (named by the object: User, Contact)."""
    sources = {}
    for parent in sorted({p for spec in specs for _, p in spec.parents}):
        whole = [s.name for s in specs if s.sobject == parent and s.changes == ""]
        sources[parent] = whole[0] if whole else parent
    return sources


def sync_copy(
    client: SalesforceClient,
    specs: list[CopiedObject],
    copy: Copy,
    as_of: date,
    overlap: timedelta,
    full_read_hours: float,
    forced: bool = False,
    start: datetime | None = None,
) -> tuple[dict[str, pd.DataFrame], Copy, ReadReport]:
    """The rows of each object as of now (kept by each `keep`, shown through each `view`),
    the copy to save and what was read. Watermarks, the changes taken in and the reads of
    changes are kept per copied object (two may read one object: cs-sync's Tasks and the
    completed ones) and per parent read on its own. `start`: the org's clock when the read
    began (default: the time of its last answer). A read of changes lets `copy`'s rows go as
    it catches each object up (its size stays known): the caller saves the copy returned."""
    start = start or _floor(client.server_time or datetime.now(UTC))
    why = why_full(specs, copy, as_of, start, full_read_hours, forced)
    if not why and any(state.count is not None for state in copy.objects.values()):
        raise ValueError("a read of changes needs the copy's rows: load them")
    report = ReadReport(full=bool(why), why=why or "changes since the last run")
    since = start - overlap
    sources = _parent_sources(specs)
    own_parents = sorted(p for p, source in sources.items() if source == p)
    new_copy = Copy()
    questions: dict[str, Read] = {}
    for name in own_parents if why else [*own_parents, *(s.name for s in specs)]:
        spec = next((s for s in specs if s.name == name), None)
        after = since if why else copy.watermarks[name] - overlap
        questions[name] = _probe(spec.sobject if spec else name, spec, after)
        new_copy.watermarks[name] = start
    asked = list(questions.values())
    sizes = {name: state.size for name, state in copy.objects.items()}
    held = HeldIds()  # each object's ids, as its children's lookups are shared
    wholes: dict[str, pd.DataFrame] = {}
    if why:  # the questions go in the whole reads' calls: five queries to a call in all
        found = read_whole(client, *specs, sizes=sizes, held=held, also=asked)
        answers = found[: len(asked)]
        wholes = dict(zip((s.name for s in specs), found[len(asked) :], strict=True))
    else:
        answers = query_frames(client, asked)  # five to a call
    probed = {name: _probed(rows) for name, rows in zip(questions, answers, strict=True)}
    frames: dict[str, pd.DataFrame] = {}
    read: dict[str, pd.DataFrame] = {}  # the rows taken in, per copied object
    for spec in specs:
        if why:
            # shared, and its ids held, as its pages came
            rows = shared_unheld(wholes.pop(spec.name), spec.read_columns, held)
            full_read_at = start
        else:
            state = copy.objects[spec.name]
            rows = _catch_up(client, spec, state, copy, probed, sources, report, held)
            full_read_at = state.full_read_at
        if spec.keep is not None:
            rows = rows[spec.keep(rows).to_numpy(dtype=bool)].reset_index(drop=True)
        shown = rows if spec.view is None else rows[spec.view(rows).to_numpy(dtype=bool)]
        frames[spec.name] = shown.reset_index(drop=True)
        new_copy.watermarks[spec.name] = start
        previous = copy.objects.get(spec.name)
        new_copy.objects[spec.name] = CopiedState(
            rows,
            spec.signature(),
            full_read_at,
            as_of if why or previous is None else previous.as_of,
            unchanged=not why
            and previous is not None
            and _untouched(spec.name, rows, previous, report),
        )
        if not why:
            held.hold(rows["Id"])
        read[spec.name] = rows.loc[rows[STAMP] >= since, ["Id", STAMP]]
    for name in {*probed, *read}:
        pairs = pd.concat(
            [frame for frame in (probed.get(name), read.get(name)) if frame is not None]
        )
        recent = pairs[pairs[STAMP] >= since]
        new_copy.seen[name] = set(zip(recent["Id"], _spelled(recent[STAMP]), strict=True))
    return frames, new_copy, report


def _catch_up(
    client: SalesforceClient,
    spec: CopiedObject,
    state: CopiedState,
    copy: Copy,
    probed: dict[str, pd.DataFrame],
    sources: dict[str, str],
    report: ReadReport,
    held: HeldIds,
) -> pd.DataFrame:
    """The copy's rows with the object's changes and its parents' taken in (the rows the
    copy was loaded with are let go as they are typed: the book is not held twice)."""
    rows = typed_frame(state.rows, spec.read_columns)
    # a copy, not a slice: a slice is a view that keeps the loaded arrays alive
    state.rows, state.count = state.rows.iloc[0:0].copy(), len(rows)
    probe = _new(probed[spec.name], copy.seen.get(spec.name, set()))
    gone = set(probe["Id"])
    changed = probe[~probe["IsDeleted"]] if len(probe) else probe
    fresh: pd.DataFrame
    if spec.changes is not None:  # the probe read whole rows
        fresh = changed.loc[:, list(spec.read_columns)]
    elif len(changed):  # the changed records that still match, read once
        after = _oldest(changed)
        fresh = client.query_frame(
            spec.select(_and(f"{STAMP} >= {_literal(after)}", spec.condition)),
            spec.what,
            spec.read_columns,
        )
    else:
        fresh = rows.iloc[0:0]
    parent_changed: set[str] = set()
    for column, parent in spec.parents:
        source = sources[parent]
        ids = set(_new(probed[source], copy.seen.get(source, set()))["Id"])
        if ids:
            parent_changed |= set(rows.loc[rows[column].isin(ids), "Id"])
    parent_changed -= gone
    if len(parent_changed) > REFETCH_LIMIT:
        log.info(
            "%d %s to read again for their parents' changes: read whole instead",
            len(parent_changed),
            spec.what,
        )
        report.refetched[spec.name] = len(parent_changed)
        return shared_rows(read_whole(client, spec)[0], spec.read_columns, held)
    if parent_changed:
        report.refetched[spec.name] = len(parent_changed)
        fresh = pd.concat([fresh, _by_ids(client, spec, sorted(parent_changed))])
    if spec.changes is not None and spec.keep is not None and len(fresh):
        fresh = fresh[spec.keep(fresh).to_numpy(dtype=bool)]
    fresh = shared_rows(fresh.drop_duplicates("Id", keep="last"), spec.read_columns, held)
    kept = rows[~rows["Id"].isin(gone | parent_changed | set(fresh["Id"]))]
    fresh = as_held(typed_frame(fresh, spec.read_columns), rows)
    # an object nothing changed in keeps its rows as they are (no copy to let go)
    merged = pd.concat([kept, fresh], ignore_index=True) if len(fresh) else kept
    merged = shared_unheld(merged, spec.read_columns, held)
    report.changed[spec.name] = len(fresh)
    report.removed[spec.name] = int((~rows["Id"].isin(merged["Id"])).sum())
    return _in_order(merged)


def _untouched(name: str, rows: pd.DataFrame, before: CopiedState, report: ReadReport) -> bool:
    """Whether a read of changes left the object's rows as the copy holds them: nothing
    taken in, removed or read again, and nothing left its window."""
    counted = (report.changed, report.removed, report.refetched)
    return len(rows) == before.size and not any(counts.get(name, 0) for counts in counted)


def _probe(sobject: str, spec: CopiedObject | None, after: datetime) -> Read:
    """The question of what of the object changed (or was deleted) at or after `after`:
    whole rows for an object whose changes are read whole, else ids and stamps."""
    condition = f"{STAMP} >= {_literal(after)}"
    bin_kept = sobject not in NO_RECYCLE_BIN
    if spec is not None and spec.changes is not None:
        query = spec.select(_and(condition, spec.changes), ("IsDeleted",))
        columns = {**spec.read_columns, "IsDeleted": "boolean"}
    else:
        deleted = ", IsDeleted" if bin_kept else ""
        query = f"SELECT Id, {STAMP}{deleted} FROM {sobject} WHERE {condition}"
        columns = {"Id": "id", STAMP: STAMP_KIND, **({"IsDeleted": "boolean"} if bin_kept else {})}
    what = f"changed {spec.what if spec else sobject + ' records'}"
    return Read(query, what, columns, all_rows=bin_kept)


def _probed(rows: pd.DataFrame) -> pd.DataFrame:
    if "IsDeleted" not in rows:
        rows["IsDeleted"] = False
    return rows


def _by_ids(client: SalesforceClient, spec: CopiedObject, ids: list[str]) -> pd.DataFrame:
    condition = spec.changes if spec.changes is not None else spec.condition
    parts = [
        client.query_frame(
            spec.select(_and(soql("Id IN {ids}", ids=ids[i : i + IDS_PER_QUERY]), condition)),
            spec.what,
            spec.read_columns,
        )
        for i in range(0, len(ids), IDS_PER_QUERY)
    ]
    return pd.concat(parts, ignore_index=True)


def _new(probe: pd.DataFrame, seen: set[tuple[str, str]]) -> pd.DataFrame:
    """The probe's rows whose (id, SystemModstamp) was not taken in before."""
    if not len(probe):
        return probe
    pairs = pd.Series(
        list(zip(probe["Id"], _spelled(probe[STAMP]), strict=True)), index=probe.index
    )
    return probe[~pairs.isin(seen)]


def _oldest(probe: pd.DataFrame) -> datetime:
    return _floor(pd.to_datetime(probe[STAMP], utc=True).min().to_pydatetime())


def _spelled(stamps: pd.Series) -> list[str]:
    """SystemModstamps (moments) in one spelling, as the copy keeps the changes taken in (UTC,
    to the millisecond: 2026-12-04T09:00:00.123Z)."""
    return (stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z").tolist()


def _sharing(specs: list[CopiedObject]) -> Callable[[str, pd.DataFrame], pd.DataFrame]:
    """What a load of the copy does with each part of its rows as it comes: repeated texts
    one string each, lookups pointing at the ids of the objects loaded before (the copy
    keeps them in the order they are read: accounts first)."""
    columns = {spec.name: spec.read_columns for spec in specs}
    held = HeldIds()
    return lambda name, part: held.share(part, columns.get(name, {}))


def _in_order(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.sort_values("Id", kind="stable").reset_index(drop=True)


def _and(*conditions: str) -> str:
    return " AND ".join(f"({c})" for c in conditions if c.strip())


def _floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None)


def _literal(moment: datetime) -> str:
    """A SOQL dateTime literal (UTC, to the second: the documented formats have no
    fractions)."""
    return _floor(moment.replace(tzinfo=moment.tzinfo or UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LocalCopy:
    """The copy's file and how a run uses it ([local_copy]; `forced`: --full)."""

    store: CopyStore
    overlap: timedelta
    full_read_hours: float
    forced: bool = False
    keep: bool = True  # save what was read (a dry run leaves the copy as it was)
    report: ReadReport | None = None  # what the last read did

    def read(
        self, client: SalesforceClient, specs: list[CopiedObject], as_of: date
    ) -> dict[str, pd.DataFrame]:
        """Each object's rows now; the copy is saved before anything else happens, so a run
        that fails later still leaves the copy and its watermarks consistent. A dry run that
        cannot open the copy (a run holds it) reads whole."""
        start = _floor(client.server_time or datetime.now(UTC))
        try:
            found = self.store.load(rows=False)
            if not why_full(specs, found, as_of, start, self.full_read_hours, self.forced):
                # the rows, only for a read of changes: a whole read (nightly, or --full)
                # would otherwise hold the book twice
                self.store.load_rows(found, _sharing(specs))
        except CsSyncError:
            if self.keep:
                raise
            log.warning("the local copy is busy (a run holds it): reading every record")
            found = Copy()
        frames, copy, report = sync_copy(
            client, specs, found, as_of, self.overlap, self.full_read_hours, self.forced, start
        )
        if self.keep:
            self.store.save(copy)
        log.info("read %s: %s", "whole" if report.full else "by changes", report.why)
        self.report = report
        return frames
