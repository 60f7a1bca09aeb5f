"""SOQL over REST as the sandbox answers it: query and queryMore in pages, COUNT(), aggregate
results, semi-joins run first, only the records the caller may see, and each record shaped as
the REST API returns it (parents nested, a polymorphic parent read through Name). Bulk query
jobs run their SOQL here too.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any
from urllib.parse import quote

from cs_sync.sandbox import soql, soql_eval
from cs_sync.sandbox.access import current
from cs_sync.sandbox.http_types import Request, Response, sf_error
from cs_sync.sandbox.schema import target_of
from cs_sync.sandbox.store import OrgStore

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


class QueryApi:
    def __init__(self, store: OrgStore) -> None:
        self.store = store
        # a query's pages after the first (JSON, compressed: a million records' worth of
        # abandoned cursors held as dictionaries was gigabytes) and their size
        self.cursors: dict[str, tuple[list[bytes], int, int]] = {}
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
        first: list[dict[str, Any]] = []
        later: list[bytes] = []  # the pages after the first, made as the records come
        page: list[dict[str, Any]] = first
        total = 0
        for record in self.records(parsed, version, all_rows):
            if len(page) == batch:
                if page is not first:
                    later.append(zlib.compress(json.dumps(page).encode("utf-8")))
                page = []
            page.append(record)
            total += 1
        if page is not first:
            later.append(zlib.compress(json.dumps(page).encode("utf-8")))
        return self._page(version, first, later, 0, batch, total)

    def query_more(self, version: str, locator: str) -> Response:
        cursor_id, _, offset_text = locator.rpartition("-")
        with self.cursor_lock:
            cursor = self.cursors.get(cursor_id)
        if cursor is None or not offset_text.isdigit():
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        later, batch, total = cursor
        offset = int(offset_text)
        if offset % batch or not 0 < offset < total:
            return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        page = json.loads(zlib.decompress(later[offset // batch - 1]))
        return self._page(version, page, later, offset, batch, total, cursor_id)

    def _page(
        self,
        version: str,
        page: list[dict[str, Any]],
        later: list[bytes],
        offset: int,
        batch: int,
        total: int,
        cursor_id: str | None = None,
    ) -> Response:
        """The page of records at `offset`; `later`: the query's pages after the first."""
        done = offset + batch >= total
        body: dict[str, Any] = {"totalSize": total, "done": done, "records": page}
        if not done:
            if cursor_id is None:
                cursor_id = "01g" + secrets.token_hex(8)[:15].upper()
                with self.cursor_lock:
                    self.cursors[cursor_id] = (later, batch, total)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor_id}-{offset + batch}"
        elif cursor_id is not None:
            with self.cursor_lock:
                self.cursors.pop(cursor_id, None)
        return Response.of_json(200, body)

    def _resolvers(self, query: soql.Query) -> Resolvers:
        schema = self.store.schema
        cache: dict[str, tuple[str, dict[str, Any]] | None] = {}

        def parent(record_id: str | None) -> tuple[str, dict[str, Any]] | None:
            if not record_id:
                return None
            if record_id not in cache:
                if len(cache) >= PARENTS_KEPT:
                    cache.clear()  # the next records' parents are read again
                cache[record_id] = self.store.get(record_id)
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

    def _matching(self, query: soql.Query, all_rows: bool = False) -> list[dict[str, Any]]:
        """The records the caller can see that meet the WHERE clause (semi-joins run first);
        those in the Recycle Bin only for queryAll (`all_rows`)."""
        return list(self._each_matching(query, all_rows))

    def _each_matching(self, query: soql.Query, all_rows: bool = False) -> Iterator[dict[str, Any]]:
        """`_matching`, one record at a time."""
        on = self._resolvers(query)
        where = soql_eval.bind_semi_joins(
            query.where,
            lambda inner: [r.get(inner.fields[0].parts[0]) for r in self._matching(inner)],
        )
        access = current()
        since = stamp_floor(query.where)
        candidates = (
            self.store.each(query.sobject, deleted=all_rows)
            if since is None
            else self.store.changed_since(query.sobject, since, deleted=all_rows)
        )
        for r in candidates:
            if (access is None or access.sees(query.sobject, r, self.store.get)) and (
                soql_eval.evaluate(where, r, on.resolve, on.type_of)
            ):
                yield r

    def records(
        self, query: soql.Query, version: str, all_rows: bool = False
    ) -> Iterator[dict[str, Any]]:
        """`run`, one record at a time as they are found when the query is neither ordered,
        limited nor grouped (the whole result is never held)."""
        if query.grouped or query.order or query.limit is not None:
            yield from self.run(query, version, all_rows)
            return
        self.objects_queried[query.sobject] += 1
        on = self._resolvers(query)
        for row in self._each_matching(query, all_rows):
            yield self._shape(query, row, on, version)

    def run(self, query: soql.Query, version: str, all_rows: bool = False) -> list[dict[str, Any]]:
        self.objects_queried[query.sobject] += 1
        on = self._resolvers(query)
        rows = self._matching(query, all_rows)
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
