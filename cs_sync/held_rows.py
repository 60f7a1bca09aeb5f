"""How the rows a run reads hold their texts: one string per value, wherever the value is
read. A parent's id is one string across the objects that name it (`HeldIds`: an account's
id, however many opportunities, roles, Tasks, Events, Cases and answers point at it), each
repeated text (picklists, dates as text) one string per value (`shared_rows`), and a record
read again keeps the strings the local copy already holds for it (`as_held`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cs_sync.rules.arrays import shared_texts, shared_values


class HeldIds:
    """The ids of the objects a run holds, by key prefix (an id's first three characters name
    its object: 001 Account, 006 Opportunity). A lookup's ids then point at those strings:
    an account's id is one string in the whole run, however many opportunities, roles,
    Tasks, Events, Cases and answers name it (at 100,000 accounts, over half a million
    strings fewer than one per object)."""

    def __init__(self) -> None:
        self._ids: dict[str, list[np.ndarray]] = {}
        self._index: dict[frozenset[str], pd.Index] = {}

    def hold(self, ids: pd.Series) -> None:
        """An object's ids (one object: one key prefix), or a part of them. Held as an array
        of their own: a column is often a view of a block of the table's other columns
        too, which holding it would keep alive (a whole read's every page)."""
        first = ids.dropna()
        if len(first):
            prefix = str(first.iloc[0])[:3]
            self._ids.setdefault(prefix, []).append(first.to_numpy(dtype=object, copy=True))
            self._index = {key: held for key, held in self._index.items() if prefix not in key}

    def share(self, rows: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
        """An object's rows shared (`shared_rows`), then its own ids held for those after it
        (`rows`: all or some of its columns, as the local copy reads them)."""
        rows = shared_rows(rows, columns, self)
        if "Id" in rows:
            self.hold(rows["Id"])
        return rows

    def index(self, values: pd.Series) -> pd.Index | None:
        """The ids held of the objects that `values` name, as a spread sample of them shows
        (None: none held; a value of an object not held is shared among its own rows)."""
        sample = values.iloc[:: max(1, len(values) // 1000)].dropna()
        prefixes = frozenset({str(value)[:3] for value in sample} & self._ids.keys())
        if not prefixes:
            return None
        if prefixes not in self._index:
            parts = [ids for prefix in sorted(prefixes) for ids in self._ids[prefix]]
            held = pd.Index(np.concatenate(parts), dtype=object)
            self._index[prefixes] = held if held.is_unique else held.drop_duplicates()
        return self._index[prefixes]


def shared_rows(rows: pd.DataFrame, columns: dict[str, str], held: HeldIds) -> pd.DataFrame:
    """The rows with each lookup's ids (AccountId, Opportunity.AccountId: a parent's id
    repeated by its children) pointing at the ids `held` (else one string per parent) and
    each repeated text (picklists, dates as text) one string per value."""
    lookups = references(rows, columns)
    out = shared_texts(rows, columns=[c for c in rows.columns if c not in lookups])
    for path in lookups if len(rows) else ():
        out[path] = shared_values(rows[path], held.index(rows[path]))
    return out


def shared_unheld(rows: pd.DataFrame, columns: dict[str, str], held: HeldIds) -> pd.DataFrame:
    """The rows with each lookup of a parent no object holds (a role's contact) one string
    per value over all of them: shared a part or a page at a time as they were read, a
    value on two parts was still two strings."""
    for path in references(rows, columns) if len(rows) else ():
        if held.index(rows[path]) is None:
            rows[path] = shared_values(rows[path])
    return rows


def references(rows: pd.DataFrame, columns: dict[str, str]) -> list[str]:
    """The lookups among the rows' columns (by their describe type)."""
    return [path for path, kind in columns.items() if kind == "reference" and path in rows]


def as_held(fresh: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The changed records with each text the copy already holds for the same record (its
    name, owner, dates: most of a record whose one field changed) pointing at the copy's
    string, so the strings just read are the ones let go. They were made together as the
    answer was parsed, so whole blocks of them go back; the copy's own, let go instead, left
    holes among the strings kept (the rerun after a first run reads back every account it
    wrote: at 100,000 accounts its catch-up kept 10 MiB less to the run's end)."""
    held = pd.Index(rows["Id"])
    if not held.is_unique:  # not a copy's rows (each record once): nothing to point at
        return fresh
    at = held.get_indexer(fresh["Id"])
    found = at >= 0
    if not found.any():
        return fresh
    place = np.where(found, at, 0)
    out = fresh.copy(deep=False)
    for column in fresh.columns:
        if fresh[column].dtype != object or rows[column].dtype != object:
            continue
        new = fresh[column].to_numpy()
        old = rows[column].to_numpy()[place]
        same = found & (new == old)
        if same.any():
            out[column] = pd.Series(np.where(same, old, new), index=fresh.index, dtype=object)
    return out
