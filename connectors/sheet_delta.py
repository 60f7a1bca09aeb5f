"""What a dashboard tab's refresh sends when it knows the rows the tab holds: only the changes,
as spreadsheets.batchUpdate requests that can go in the one batchUpdate switching the tabs.

A tab's rows are compared by a hash of each row as sent (its JSON text); rows that moved
(an account joining or leaving the book, a date's block appended to a history tab or thinned
out of it) become row insertions and deletions, rows changed in place become updateCells of
only the cells that changed (the old row's cells are read back from the local record). The
requests run from the bottom of the tab up, so each one's row numbers are those of the tab as
it was: a change lower down never shifts a row a later request names.

Everything here is pure: the record of the old rows comes in as a lookup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

import numpy as np

GAP_CELLS = 3  # unchanged cells between two changed ones are sent again when this close:
#               one request's framing (about 150 bytes) costs more than three cells
ROWS_PER_UPDATE = 500
Lookup = Callable[[list[int]], dict[int, list[Any]]]


def row_text(row: list[Any]) -> str:
    """A row as the JSON the API is sent: what its hash and the fingerprint are taken over."""
    return json.dumps(row)


def row_hash(text: str) -> int:
    """An int64 hash of a row's text (8 bytes of BLAKE2b)."""
    return _hash(text.encode())


def _hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def row_hashes(texts: Sequence[str]) -> np.ndarray:
    """Each row's `row_hash`."""
    return np.fromiter((row_hash(text) for text in texts), dtype=np.int64, count=len(texts))


@dataclass(frozen=True)
class TabDigest:
    """A tab's rows as sent, summed up without keeping their texts (a hundred thousand
    accounts' rows are some 80 MB of text): the tab's fingerprint (its row count and a hash
    of every row's text), each row's hash and each row's length as JSON."""

    fingerprint: str
    hashes: np.ndarray  # int64, one per row, header first
    lengths: np.ndarray  # int64 bytes of each row's text (ASCII: json.dumps escapes the rest)


def digest(rows: Sequence[list[Any]]) -> TabDigest:
    """The tab's digest, a row's text made at a time (TabRows makes its rows a part at a
    time: neither the rows nor their texts are ever all held)."""
    return _digest((row_text(row) for row in rows), len(rows))


def _digest(texts: Iterator[str], count: int) -> TabDigest:
    whole = hashlib.sha256()
    hashes = np.empty(count, dtype=np.int64)
    lengths = np.empty(count, dtype=np.int64)
    for place, text in enumerate(texts):
        data = text.encode()  # encoded once; its length is the bytes sent
        whole.update(data)
        whole.update(b"\n")
        hashes[place] = _hash(data)
        lengths[place] = len(data)
    return TabDigest(f"{count}:{whole.hexdigest()[:32]}", hashes, lengths)


@dataclass
class Delta:
    requests: list[dict[str, Any]]
    size: int  # bytes of the requests as JSON
    rows_moved: int  # rows inserted or deleted
    cells: int  # cells written


def cell_data(value: Any) -> dict[str, Any]:
    """An API value as a CellData: an empty string is an empty cell; text stays text (RAW)."""
    if value == "" or value is None:
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float):
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def _same(old: Any, new: Any) -> bool:
    return type(old) is type(new) and bool(old == new)


def changed_spans(old: list[Any], new: list[Any]) -> list[tuple[int, int]]:
    """The [start, end) column spans where `new` differs from `old`, spans closer than
    GAP_CELLS joined."""
    width = max(len(old), len(new))
    changed = [
        c for c in range(width) if c >= len(old) or c >= len(new) or not _same(old[c], new[c])
    ]
    spans: list[tuple[int, int]] = []
    for c in changed:
        if spans and c - spans[-1][1] <= GAP_CELLS:
            spans[-1] = (spans[-1][0], c + 1)
        else:
            spans.append((c, c + 1))
    return spans


def _opcodes(old: np.ndarray, new: np.ndarray) -> list[tuple[str, int, int, int, int]]:
    """difflib-style opcodes turning `old` into `new`. The common head and tail are found by
    comparing arrays; a middle of equal length with few rows changed in place is matched row
    by row, anything else by SequenceMatcher."""
    shortest = min(len(old), len(new))
    differ = np.nonzero(old[:shortest] != new[:shortest])[0]
    head = int(differ[0]) if len(differ) else shortest
    rest = shortest - head
    back = np.nonzero(old[len(old) - rest :][::-1] != new[len(new) - rest :][::-1])[0]
    tail = int(back[0]) if len(back) else rest
    a0, a1, b0, b1 = head, len(old) - tail, head, len(new) - tail
    codes: list[tuple[str, int, int, int, int]] = []
    if head:
        codes.append(("equal", 0, head, 0, head))
    if a1 - a0 == b1 - b0 and a1 > a0:
        moved = np.nonzero(old[a0:a1] != new[b0:b1])[0]
        if len(moved) <= max(16, (a1 - a0) // 50):
            codes.extend(
                ("replace", a0 + int(i), a0 + int(i) + 1, b0 + int(i), b0 + int(i) + 1)
                for i in moved
            )
            a0 = b0 = a1  # done
    if a1 > a0 or b1 > b0:
        matcher = SequenceMatcher(None, old[a0:a1].tolist(), new[b0:b1].tolist(), autojunk=False)
        codes.extend(
            (tag, a0 + i1, a0 + i2, b0 + j1, b0 + j2)
            for tag, i1, i2, j1, j2 in matcher.get_opcodes()
            if tag != "equal"
        )
    return codes


class _Budget(Exception):
    """The delta grew past the bytes it may take."""


def tab_delta(
    sheet_id: int,
    old: np.ndarray,
    new: np.ndarray,
    rows: Sequence[list[Any]],
    old_rows: Lookup,
    limit: int,
) -> Delta | None:
    """The requests that turn a tab holding rows hashed `old` into `rows` (hashed `new`), or
    None when they would pass `limit` bytes or the header changed (the tab is then replaced
    whole)."""
    if not len(old) or not len(new) or old[0] != new[0]:
        return None
    codes = _opcodes(old, new)
    in_place = [
        i1 + k
        for tag, i1, i2, j1, j2 in codes
        if tag == "replace" and i2 - i1 == j2 - j1
        for k in range(i2 - i1)
    ]
    known = old_rows(sorted({int(old[i]) for i in in_place})) if in_place else {}
    delta = Delta([], 0, 0, 0)
    try:
        for request in _requests(sheet_id, codes, len(old), rows, old, known):
            delta.size += len(json.dumps(request)) + 1
            if delta.size > limit:
                raise _Budget
            delta.requests.append(request)
    except _Budget:
        return None
    for request in delta.requests:
        if "updateCells" in request:
            delta.cells += sum(len(r["values"]) for r in request["updateCells"]["rows"])
        elif "deleteDimension" in request or "insertDimension" in request:
            span = next(iter(request.values()))["range"]
            delta.rows_moved += span["endIndex"] - span["startIndex"]
        elif "appendDimension" in request:
            delta.rows_moved += request["appendDimension"]["length"]
    return delta


def _requests(
    sheet_id: int,
    codes: list[tuple[str, int, int, int, int]],
    count: int,
    rows: Sequence[list[Any]],
    old: np.ndarray,
    known: dict[int, list[Any]],
) -> Iterator[dict[str, Any]]:
    """The requests, from the bottom of the tab up; `count` is the tab's rows as it is."""
    for tag, i1, i2, j1, j2 in reversed(codes):
        if tag == "equal":
            continue
        before, after = i2 - i1, j2 - j1
        if tag == "replace" and before == after:
            for k in range(before):
                previous = known.get(int(old[i1 + k]))
                new_row = rows[j1 + k]
                spans = (
                    changed_spans(previous, new_row)
                    if previous is not None
                    else [(0, len(new_row))]
                )
                for c0, c1 in reversed(spans):
                    yield _update(sheet_id, i1 + k, c0, [new_row[c0:c1]])
            continue
        if before > after:
            yield _rows_request("deleteDimension", sheet_id, i1 + after, i2)
            count -= before - after
        elif after > before:
            if i2 == count:
                yield {
                    "appendDimension": {
                        "sheetId": sheet_id,
                        "dimension": "ROWS",
                        "length": after - before,
                    }
                }
            else:
                yield _rows_request("insertDimension", sheet_id, i2, i2 + after - before)
            count += after - before
        for start in range(0, after, ROWS_PER_UPDATE):  # a block at a time: the budget
            end = min(start + ROWS_PER_UPDATE, after)  # stops a large one early
            yield _update(sheet_id, i1 + start, 0, list(rows[j1 + start : j1 + end]))


def _rows_request(kind: str, sheet_id: int, start: int, end: int) -> dict[str, Any]:
    span = {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": start, "endIndex": end}
    if kind == "insertDimension":
        return {kind: {"range": span, "inheritFromBefore": True}}
    return {kind: {"range": span}}


def _update(sheet_id: int, row: int, column: int, block: list[list[Any]]) -> dict[str, Any]:
    return {
        "updateCells": {
            "start": {"sheetId": sheet_id, "rowIndex": row, "columnIndex": column},
            "rows": [{"values": [cell_data(v) for v in values]} for values in block],
            "fields": "userEnteredValue",
        }
    }
