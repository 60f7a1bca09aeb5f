"""SOQL over REST as the sandbox answers it: query and queryMore in pages, COUNT(), aggregate
results, semi-joins run first, only the records the caller may see, and each record shaped as
the REST API returns it (parents nested, a polymorphic parent read through Name). Bulk query
jobs run their SOQL here too.

A query is answered as its first page is found: its later pages are read from a snapshot of
the records as they were when it ran (record_reads.py) when they are asked for, so a query
over a million records neither holds them nor keeps its caller waiting past its timeout.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any
from urllib.parse import quote

from cs_sync.sandbox import soql, soql_eval
from cs_sync.sandbox.access import current
from cs_sync.sandbox.fields import target_of
from cs_sync.sandbox.http_types import Request, Response, sf_error
from cs_sync.sandbox.record_reads import READ_AT_ONCE, RecordReads, Snapshot
from cs_sync.sandbox.schema import HISTORY_OBJECTS
from cs_sync.sandbox.sql_count import count_sql
from cs_sync.sandbox.store import OrgStore

CURSOR_LIFE = timedelta(days=2)  # API Query Cursor Limits (API 56.0 and later)
PARENTS_KEPT = 50_000  # parent records a query keeps read (a million were all kept)


def stamp_floor(where: Any) -> datetime | None:
    """The earliest SystemModstamp a WHERE clause lets through, when it says so at its top
    level (`SystemModstamp >= t AND ...`): the records are then found through the index
    (the clause is still checked on each)."""
    items = where.items if isinstance(where, soql.BoolOp) and where.op == "AND" else (where,)
    for item in items:
        if (
            isinstance(item, soql.Comparison)
            and item.path.parts == ("SystemModstamp",)
            and item.op in (">=", ">")
            and isinstance(item.value, datetime)
        ):
            return item.value
    return None


@dataclass
class Cursor:
    """A query's pages after the first: read from `snapshot` (the records as they were when
    the query ran) when asked for, each page's records after rowid `after[offset]`; or, for
    an ordered, limited or indexed query (small), made at once and kept compressed
    (`pages`). `used`: by the org's clock, when it was last read."""

    query: soql.Query
    all_rows: bool
    batch: int
    total: int
    used: datetime
    snapshot: Snapshot | None = None
    said: tuple[str, list[Any]] | None = None  # the WHERE clause in SQL (sql_count.py)
    after: dict[int, int] = field(default_factory=dict)
    pages: list[bytes] = field(default_factory=list)

    def close(self) -> None:
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None


class QueryApi:
    def __init__(self, store: OrgStore) -> None:
        self.store = store
        self.cursors: dict[str, Cursor] = {}
        self.cursor_lock = threading.Lock()
        self.objects_queried: Counter[str] = Counter()  # queries run per object (REST or Bulk)

    def query(self, request: Request, version: str, all_rows: bool = False) -> Response:
        """`all_rows`: queryAll, the Recycle Bin's records included."""
        text = request.param("q")
        if text is None:
            return sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        parsed = soql.parse(text, self.store.schema)
        if parsed.count_only:  # SELECT COUNT(): the count is totalSize, with no records
            total = sum(1 for _ in islice(self._each_matching(parsed, all_rows), parsed.limit))
            return Response.of_json(200, {"totalSize": total, "done": True, "records": []})
        if parsed.grouped:  # aggregate results come in one answer: no queryMore
            records = self.run(parsed, version, all_rows)
            return Response.of_json(
                200, {"totalSize": len(records), "done": True, "records": records}
            )
        batch = 2000
        options = request.headers.get("sforce-query-options", "")
        match = re.search(r"batchSize=(\d+)", options)
        if match:
            batch = min(2000, max(200, int(match.group(1))))
        self._expire()
        cursor = Cursor(parsed, all_rows, batch, 0, self.store.now())
        if parsed.order or parsed.limit is not None or stamp_floor(parsed.where) is not None:
            first = self._made_at_once(cursor, version)
        else:  # the first page as soon as it is found, the others when asked for
            self.objects_queried[parsed.sobject] += 1
            cursor.snapshot = self.store.snapshot()
            try:
                cursor.said = self._said(parsed, all_rows, cursor.snapshot)
                first, cursor.after[batch] = self._next_page(cursor, 0, version)
                if len(first) < batch:  # the only page
                    cursor.total = len(first)
                elif cursor.said is not None:
                    cursor.total = cursor.snapshot.count_where(parsed.sobject, *cursor.said)
                else:
                    after = cursor.after[batch]
                    rest = self._each_matching(parsed, all_rows, cursor.snapshot, after)
                    cursor.total = batch + sum(1 for _ in rest)
            except BaseException:  # a refused query keeps no snapshot open
                cursor.close()
                raise
        return self._page(version, first, cursor, 0)

    def _said(
        self, query: soql.Query, all_rows: bool, snapshot: Snapshot
    ) -> tuple[str, list[Any]] | None:
        """The query's WHERE clause in SQL (sql_count.py) when it can be said exactly and the
        caller sees every record of the object; else None (the records are checked in
        Python)."""
        access = current()
        if access is not None and (
            query.sobject not in access.view_all or query.sobject in HISTORY_OBJECTS
        ):
            return None
        return count_sql(query.where, all_rows, self._resolvers(query, snapshot).type_of)

    def _next_page(
        self, cursor: Cursor, after: int, version: str
    ) -> tuple[list[dict[str, Any]], int]:
        """The records of the page that follows rowid `after`, shaped, and the rowid of its
        last (where the next page starts)."""
        query, snapshot = cursor.query, cursor.snapshot
        assert snapshot is not None
        found = self._found(query, cursor.all_rows, snapshot, cursor.said, after, cursor.batch)
        rows = list(islice(found, cursor.batch))
        position = snapshot.position if rows or cursor.said is None else after
        on = self._resolvers(query, snapshot)
        return [self._shape(query, row, on, version) for row in rows], position

    def _made_at_once(self, cursor: Cursor, version: str) -> list[dict[str, Any]]:
        """Every page of the cursor's query made now, the later ones kept compressed; returns
        the first."""
        first: list[dict[str, Any]] = []
        page = first
        for record in self.records(cursor.query, version, cursor.all_rows):
            if len(page) == cursor.batch:
                if page is not first:
                    cursor.pages.append(zlib.compress(json.dumps(page).encode("utf-8")))
                page = []
            page.append(record)
            cursor.total += 1
        if page is not first:
            cursor.pages.append(zlib.compress(json.dumps(page).encode("utf-8")))
        return first

    def _expire(self) -> None:
        """Cursors are kept two days (API Query Cursor Limits); a sandbox's clock may be moved
        on past that between runs."""
        stale = self.store.now() - CURSOR_LIFE
        with self.cursor_lock:
            gone = [key for key, cursor in self.cursors.items() if cursor.used < stale]
            for key in gone:
                self.cursors.pop(key).close()

    def query_more(self, version: str, locator: str) -> Response:
        cursor_id, _, offset_text = locator.rpartition("-")
        with self.cursor_lock:
            cursor = self.cursors.get(cursor_id)
        if cursor is None or not offset_text.isdigit():
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(offset_text)
        if offset % cursor.batch or not 0 < offset < cursor.total:
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.used = self.store.now()
        if cursor.snapshot is None:
            page = json.loads(zlib.decompress(cursor.pages[offset // cursor.batch - 1]))
            return self._page(version, page, cursor, offset, cursor_id)
        after = cursor.after.get(offset)
        if after is None:
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        page, cursor.after[offset + cursor.batch] = self._next_page(cursor, after, version)
        return self._page(version, page, cursor, offset, cursor_id)

    def _page(
        self,
        version: str,
        page: list[dict[str, Any]],
        cursor: Cursor,
        offset: int,
        cursor_id: str | None = None,
    ) -> Response:
        """The page of records at `offset`."""
        done = offset + cursor.batch >= cursor.total
        body: dict[str, Any] = {"totalSize": cursor.total, "done": done, "records": page}
        if not done:
            if cursor_id is None:
                cursor_id = "01g" + secrets.token_hex(8)[:15].upper()
                with self.cursor_lock:
                    self.cursors[cursor_id] = cursor
            body["nextRecordsUrl"] = (
                f"/services/data/v{version}/query/{cursor_id}-{offset + cursor.batch}"
            )
        else:
            cursor.close()
            if cursor_id is not None:
                with self.cursor_lock:
                    self.cursors.pop(cursor_id, None)
        return Response.of_json(200, body)

    def _resolvers(self, query: soql.Query, source: RecordReads | None = None) -> Resolvers:
        schema = self.store.schema
        reads = source or self.store
        cache: dict[str, tuple[str, dict[str, Any]] | None] = {}

        def parent(record_id: str | None) -> tuple[str, dict[str, Any]] | None:
            if not record_id:
                return None
            if record_id not in cache:
                if len(cache) >= PARENTS_KEPT:
                    cache.clear()  # the next records' parents are read again
                cache[record_id] = reads.get(record_id)
            return cache[record_id]

        def object_of(path: soql.Path) -> list[str]:
            sobjects = [query.sobject]
            for relationship in path.parts[:-1]:
                ref = schema.lookup_relationship(sobjects[-1], relationship)
                assert ref is not None
                sobjects.append(target_of(ref))
            return sobjects

        def resolve(record: dict[str, Any], path: soql.Path) -> Any:
            current: tuple[str, dict[str, Any]] | None = (query.sobject, record)
            for relationship in path.parts[:-1]:
                assert current is not None
                ref = schema.lookup_relationship(current[0], relationship)
                assert ref is not None
                current = parent(current[1].get(ref.name))
                if current is None:
                    return None
            assert current is not None
            if path.parts[-1] == "Type" and len(path.parts) > 1 and object_of(path)[-1] == "Name":
                return current[0]  # a polymorphic lookup's Type is the record's object
            return current[1].get(path.parts[-1])

        def type_of(path: soql.Path) -> str:
            definition = schema.lookup_field(object_of(path)[-1], path.parts[-1])
            assert definition is not None
            return definition.type

        return Resolvers(resolve, type_of, object_of, parent)

    def _matching(
        self, query: soql.Query, all_rows: bool = False, source: RecordReads | None = None
    ) -> list[dict[str, Any]]:
        """The records the caller can see that meet the WHERE clause (semi-joins run first);
        those in the Recycle Bin only for queryAll (`all_rows`). `source`: where the records
        are read (the org as it is, or a snapshot)."""
        return list(self._each_matching(query, all_rows, source))

    def _each_matching(
        self,
        query: soql.Query,
        all_rows: bool = False,
        source: RecordReads | None = None,
        after: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """`_matching`, one record at a time, from the record after rowid `after`."""
        reads = source or self.store
        on = self._resolvers(query, reads)
        where = soql_eval.bind_semi_joins(
            query.where,
            lambda inner: [
                r.get(inner.fields[0].parts[0]) for r in self._matching(inner, False, reads)
            ],
        )
        access = current()
        since = stamp_floor(query.where)
        candidates = (
            reads.each(query.sobject, deleted=all_rows, after=after)
            if since is None
            else reads.changed_since(query.sobject, since, deleted=all_rows)
        )
        for r in candidates:
            if (access is None or access.sees(query.sobject, r, reads.get)) and (
                soql_eval.evaluate(where, r, on.resolve, on.type_of)
            ):
                yield r

    def records(
        self,
        query: soql.Query,
        version: str,
        all_rows: bool = False,
        source: RecordReads | None = None,
    ) -> Iterator[dict[str, Any]]:
        """`run`, one record at a time as they are found when the query is neither ordered,
        limited nor grouped (the whole result is never held); on a snapshot, found by SQLite
        when it can say the WHERE clause (sql_count.py)."""
        if query.grouped or query.order or query.limit is not None:
            yield from self.run(query, version, all_rows, source)
            return
        self.objects_queried[query.sobject] += 1
        on = self._resolvers(query, source)
        said = self._said(query, all_rows, source) if isinstance(source, Snapshot) else None
        for row in self._found(query, all_rows, source, said):
            yield self._shape(query, row, on, version)

    def _found(
        self,
        query: soql.Query,
        all_rows: bool,
        source: RecordReads | None,
        said: tuple[str, list[Any]] | None,
        after: int = 0,
        at_once: int = READ_AT_ONCE,
    ) -> Iterator[dict[str, Any]]:
        """The records the query finds after rowid `after`, in rowid order: by SQLite where
        it can say the WHERE clause (`said`, on a snapshot), else checked one by one; the
        source's `position` is the rowid of the last record given."""
        if said is None:
            yield from self._each_matching(query, all_rows, source, after)
            return
        assert isinstance(source, Snapshot)
        while found := source.rows_where(query.sobject, *said, after, at_once):
            for after, row in found:
                source.position = after
                yield row

    def run(
        self,
        query: soql.Query,
        version: str,
        all_rows: bool = False,
        source: RecordReads | None = None,
    ) -> list[dict[str, Any]]:
        self.objects_queried[query.sobject] += 1
        on = self._resolvers(query, source)
        rows = self._matching(query, all_rows, source)
        if query.grouped:
            results = soql_eval.aggregate(query, rows, on.resolve, on.type_of)
            group_keys = {".".join(p.parts).lower(): p.parts[-1] for p in query.group_by}

            def by_name(result: dict[str, Any], path: soql.Path) -> Any:
                return result.get(group_keys[".".join(path.parts).lower()])

            results = soql_eval.sort_records(results, query.order, by_name, on.type_of)
            return results[: query.limit]
        rows = soql_eval.sort_records(rows, query.order, on.resolve, on.type_of)
        if query.limit is not None:
            rows = rows[: query.limit]
        return [self._shape(query, row, on, version) for row in rows]

    def _shape(
        self, query: soql.Query, row: dict[str, Any], on: Resolvers, version: str
    ) -> dict[str, Any]:
        """A record as the REST API returns it: selected fields, parent fields nested under
        their relationship with the parent's attributes (null when there is no parent)."""
        out: dict[str, Any] = {"attributes": attributes(query.sobject, row["Id"], version)}
        schema = self.store.schema
        for path in query.fields:
            if len(path.parts) == 1:
                out[path.parts[0]] = _json_value(
                    row.get(path.parts[0]), query.sobject, path.parts[0], schema
                )
                continue
            target = out
            current: tuple[str, dict[str, Any]] | None = (query.sobject, row)
            sobjects = on.object_of(path)
            for depth, relationship in enumerate(path.parts[:-1]):
                ref = schema.lookup_relationship(sobjects[depth], relationship)
                assert ref is not None
                current = on.parent(current[1].get(ref.name)) if current is not None else None
                if current is None:
                    target.setdefault(relationship, None)
                    break
                nested = target.get(relationship)
                if nested is None:
                    nested = {"attributes": attributes(current[0], current[1]["Id"], version)}
                    if sobjects[depth + 1] == "Name":
                        nested["attributes"]["type"] = "Name"
                    target[relationship] = nested
                target = nested
            else:
                value = on.resolve(row, path)
                target[path.parts[-1]] = _json_value(value, sobjects[-1], path.parts[-1], schema)
        return out


def _json_value(value: Any, sobject: str, name: str, schema: Any) -> Any:
    """As Salesforce's JSON has it: double, currency and percent fields are always floats."""
    if isinstance(value, int) and not isinstance(value, bool):
        definition = schema.lookup_field(sobject, name)
        if definition is not None and definition.type in ("double", "currency", "percent"):
            return float(value)
    return value


@dataclass(frozen=True)
class Resolvers:
    """How a query reads its records: field values along relationship paths, field types,
    the objects a path passes through, and parent records (cached per query)."""

    resolve: Callable[[dict[str, Any], soql.Path], Any]
    type_of: Callable[[soql.Path], str]
    object_of: Callable[[soql.Path], list[str]]
    parent: Callable[[str | None], tuple[str, dict[str, Any]] | None]


def attributes(sobject: str, record_id: str, version: str) -> dict[str, str]:
    version = version if version.startswith("v") else f"v{version}"
    return {
        "type": sobject,
        "url": f"/services/data/{version}/sobjects/{sobject}/{quote(record_id)}",
    }
