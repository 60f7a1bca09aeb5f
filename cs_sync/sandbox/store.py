"""The sandbox's state in one SQLite file: records, custom fields, logins, API usage, sheets.

One lock serialises every operation: the sandbox favours being obviously right over speed.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cs_sync.sandbox.access import current
from cs_sync.sandbox.fields import field_from_tooling
from cs_sync.sandbox.record_reads import RecordReads, Snapshot, now_stamp
from cs_sync.sandbox.schema import (
    HISTORY_OBJECTS,
    KEY_PREFIXES,
    Schema,
    history_reference,
    remove_cs_sync_fields,
)
from cs_sync.sfid import checksum_suffix

HISTORY_OF = {parent: name for name, parent in HISTORY_OBJECTS.items()}
# What a delete takes along (Salesforce deletes these with their parent).
CASCADE: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (
        ("Contact", "AccountId"),
        ("Opportunity", "AccountId"),
        ("Case", "AccountId"),
        ("Task", "WhatId"),
        ("Event", "WhatId"),
        ("FeedItem", "ParentId"),
    ),
    "Opportunity": (
        ("OpportunityContactRole", "OpportunityId"),
        ("Task", "WhatId"),
        ("Event", "WhatId"),
    ),
    "Contact": (("OpportunityContactRole", "ContactId"),),
}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TABLES = """
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, sobject TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_by_object ON records (sobject);
CREATE INDEX IF NOT EXISTS records_by_stamp
    ON records (sobject, json_extract(data, '$.SystemModstamp'));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logins (username TEXT PRIMARY KEY, secret TEXT NOT NULL,
                                   user_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, username TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spreadsheets (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sheet_cells (spreadsheet_id TEXT NOT NULL, sheet_id INTEGER NOT NULL,
                                        cells TEXT NOT NULL,
                                        PRIMARY KEY (spreadsheet_id, sheet_id));
CREATE TABLE IF NOT EXISTS webhooks (address TEXT PRIMARY KEY, kind TEXT NOT NULL,
                                     state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_posts (n INTEGER PRIMARY KEY, address TEXT NOT NULL,
                                          body TEXT NOT NULL, status INTEGER NOT NULL,
                                          received_at TEXT NOT NULL);
"""


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class OrgStore(RecordReads):
    """Records and org state, persisted in SQLite at `path` (":memory:" for throwaway)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.clock_offset = timedelta(0)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_TABLES)
        self.org_schema = Schema()
        self._indexed: set[tuple[str, str]] = set()  # (object, field) with a lookup index
        if self.get_meta("bare_org", False):
            remove_cs_sync_fields(self.org_schema.objects)
        for sobject, name, metadata in self._custom_fields():
            self.org_schema.objects[sobject][name] = field_from_tooling(metadata, name)

    @property
    def schema(self) -> Schema:
        """The org as the calling user sees it (every field when no request is being served)."""
        access = current()
        return access.schema if access is not None else self.org_schema

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def snapshot(self) -> Snapshot:
        """The records as they are now, to read whatever happens to them after."""
        return Snapshot(self.path)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # ------------------------------------------------------------ meta values

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    # ------------------------------------------------------------ ids and records

    def new_id(self, sobject: str) -> str:
        with self.lock:
            counter = int(self.get_meta("id_counter", 1000)) + 1
            self.set_meta("id_counter", counter)
        digits = ""
        value = counter
        for _ in range(9):
            digits = _BASE62[value % 62] + digits
            value //= 62
        id15 = KEY_PREFIXES[sobject] + "5g" + "0" + digits  # 3 + 3 + 9 = 15
        return id15 + checksum_suffix(id15)

    def insert(self, sobject: str, record: dict[str, Any]) -> str:
        """Store a new record; fills Id and audit stamps. Returns the id."""
        stamp = now_stamp(self.now())
        record = dict(record)
        record.setdefault("Id", self.new_id(sobject))
        record.setdefault("CreatedDate", stamp)
        record.setdefault("IsDeleted", False)
        record["LastModifiedDate"] = stamp
        record["SystemModstamp"] = stamp
        with self.lock:
            self.db.execute(
                "INSERT INTO records (id, sobject, data) VALUES (?, ?, ?)",
                (record["Id"], sobject, json.dumps(record)),
            )
        return str(record["Id"])

    def replace(self, record_id: str, record: dict[str, Any]) -> None:
        stamp = now_stamp(self.now())
        record = dict(record, LastModifiedDate=stamp, SystemModstamp=stamp)
        with self.lock:
            self.db.execute(
                "UPDATE records SET data = ? WHERE id = ?", (json.dumps(record), record_id)
            )

    def update(self, sobject: str, before: dict[str, Any], record: dict[str, Any]) -> None:
        """An update through the API: the record replaced, and each change to a field with
        Field History Tracking on written to the object's history (multi-select picklists and
        long text areas as changed, without their values), in the same transaction."""
        history = HISTORY_OF.get(sobject)
        with self.lock:
            self.replace(str(before["Id"]), record)
            if history is None:
                return
            caller = current()
            for definition in self.org_schema.objects[sobject].values():
                old, new = before.get(definition.name), record.get(definition.name)
                if not definition.track_history or old == new:
                    continue
                valueless = definition.type == "multipicklist" or (
                    definition.type == "textarea" and definition.length > 255
                )
                self.insert(
                    history,
                    {
                        history_reference(sobject): before["Id"],
                        "Field": definition.name,
                        "OldValue": None if valueless else old,
                        "NewValue": None if valueless else new,
                        "CreatedById": caller.user_id if caller else record.get("OwnerId"),
                        "IsDeleted": False,
                    },
                )

    def delete(self, record_id: str) -> list[str]:
        """Move a record to the Recycle Bin (IsDeleted, a new SystemModstamp), with the
        records Salesforce deletes along with it: an account's contacts, opportunities,
        cases, activities and feed; an opportunity's contact roles and activities; a
        contact's roles. The ids moved, the record's first."""
        with self.lock:
            found = self.get(record_id)
            if found is None:
                return []
            sobject, record = found
            self.replace(record_id, {**record, "IsDeleted": True})
            moved = [record_id]
            for child, reference in CASCADE.get(sobject, ()):
                for child_id in self.find_ids(child, reference, record_id):
                    moved += self.delete(child_id)
            return moved

    def now(self) -> datetime:
        """The org's clock: this machine's, moved on by `clock_offset` (a benchmark stands for
        the time between scheduled runs by moving it; everything the org stamps, and the
        Date header of its answers, follow it)."""
        return datetime.now(UTC) + self.clock_offset

    def settle(self, moment: str) -> None:
        """Give every record the past of a real org's: one created without a date of its own
        was created at `moment`, and none was modified since its creation or `moment`,
        whichever is later (a seeded book is not a book everyone edited a minute ago)."""
        with self.lock:
            self.db.execute(
                "UPDATE records SET data = json_set(data, '$.CreatedDate', "
                "min(coalesce(json_extract(data, '$.CreatedDate'), ?1), ?1))",
                (moment,),
            )
            self.db.execute(
                "UPDATE records SET data = json_set(data, '$.SystemModstamp', "
                "max(json_extract(data, '$.CreatedDate'), ?1), '$.LastModifiedDate', "
                "max(json_extract(data, '$.CreatedDate'), ?1))",
                (moment,),
            )

    def find_ids(self, sobject: str, field_name: str, value: Any) -> list[str]:
        """Ids of the records whose field equals value (exact match, as for external ids),
        through an index made on the first lookup of that field, so that upserts into an
        object of a million records stay fast."""
        if not (_NAME.fullmatch(sobject) and _NAME.fullmatch(field_name)):
            raise ValueError(f"not an object and field name: {sobject}.{field_name}")
        path = f"json_extract(data, '$.\"{field_name}\"')"
        with self.lock:
            if (sobject, field_name) not in self._indexed:
                self.db.execute(
                    f'CREATE INDEX IF NOT EXISTS "ix_{sobject}_{field_name}" ON records({path}) '
                    f"WHERE sobject = '{sobject}'"
                )
                self._indexed.add((sobject, field_name))
            rows = self.db.execute(
                f"SELECT id FROM records WHERE sobject = '{sobject}' AND {path} = ? "  # noqa: S608
                "AND coalesce(json_extract(data, '$.IsDeleted'), 0) = 0",
                (value,),
            ).fetchall()
        return [row[0] for row in rows]

    def count(self, sobject: str) -> int:
        with self.lock:
            return int(
                self.db.execute(
                    "SELECT COUNT(*) FROM records WHERE sobject = ?", (sobject,)
                ).fetchone()[0]
            )

    # ------------------------------------------------------------ custom fields

    def make_bare(self) -> None:
        """Remove cs-sync's own fields, as in an org where setup has not run yet."""
        self.set_meta("bare_org", True)
        remove_cs_sync_fields(self.org_schema.objects)

    def _custom_fields(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [tuple(item) for item in self.get_meta("custom_fields", [])]

    def add_custom_field(self, sobject: str, name: str, metadata: dict[str, Any]) -> None:
        definition = field_from_tooling(metadata, name)
        with self.lock:
            fields = self.get_meta("custom_fields", [])
            fields.append([sobject, name, metadata])
            self.set_meta("custom_fields", fields)
            self.org_schema.objects[sobject][name] = definition

    # ------------------------------------------------------------ logins and sessions

    def add_login(self, username: str, secret: str, user_id: str) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO logins VALUES (?, ?, ?)", (username, secret, user_id)
            )

    def check_login(self, username: str, secret: str) -> str | None:
        with self.lock:
            row = self.db.execute(
                "SELECT secret, user_id FROM logins WHERE username = ?", (username,)
            ).fetchone()
        return row[1] if row and row[0] == secret else None

    def user_for_login(self, username: str) -> str | None:
        with self.lock:
            row = self.db.execute(
                "SELECT user_id FROM logins WHERE username = ?", (username,)
            ).fetchone()
        return row[0] if row else None

    def register_connected_app(self, consumer_key: str, public_key_pem: str) -> None:
        """Allow JWT bearer logins signed by the matching private key."""
        with self.lock:
            apps = self.get_meta("connected_apps", {})
            apps[consumer_key] = public_key_pem
            self.set_meta("connected_apps", apps)

    def register_client_app(self, client_id: str, secret: str, run_as: str | None) -> None:
        """An External Client App whose client credentials flow runs as `run_as`."""
        with self.lock:
            apps = self.get_meta("client_apps", {})
            apps[client_id] = {"secret": secret, "run_as": run_as}
            self.set_meta("client_apps", apps)

    def open_session(self, token: str, username: str) -> None:
        with self.lock:
            self.db.execute("INSERT INTO sessions VALUES (?, ?)", (token, username))

    def session_user(self, token: str) -> str | None:
        """The id of the user a session belongs to, or None for an unknown session."""
        with self.lock:
            row = self.db.execute(
                "SELECT l.user_id FROM sessions s JOIN logins l ON l.username = s.username "
                "WHERE s.token = ?",
                (token,),
            ).fetchone()
        return row[0] if row else None

    def session_valid(self, token: str) -> bool:
        with self.lock:
            return (
                self.db.execute("SELECT 1 FROM sessions WHERE token = ?", (token,)).fetchone()
                is not None
            )

    def expire_sessions(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM sessions")

    # ------------------------------------------------------------ daily API counter

    def count_api_call(self, today: date) -> int:
        """Count one REST call against today's allowance; returns the calls used today."""
        with self.lock:
            usage = self.get_meta("api_usage", {"day": "", "used": 0})
            if usage["day"] != today.isoformat():
                usage = {"day": today.isoformat(), "used": 0}
            usage["used"] += 1
            self.set_meta("api_usage", usage)
            return int(usage["used"])

    def api_calls_today(self, today: date) -> int:
        usage = self.get_meta("api_usage", {"day": "", "used": 0})
        return int(usage["used"]) if usage["day"] == today.isoformat() else 0

    # ------------------------------------------------------------ spreadsheets

    def load_spreadsheet(self, spreadsheet_id: str) -> dict[str, Any] | None:
        """The spreadsheet's properties and sheets; a sheet's `cells` are read from the store
        the first time a request touches them (a request for the tabs' metadata reads none,
        as Sheets answers it without the grid data), so a large tab costs only the requests
        that use it."""
        with self.lock:
            row = self.db.execute(
                "SELECT data FROM spreadsheets WHERE id = ?", (spreadsheet_id,)
            ).fetchone()
        if not row:
            return None
        book = json.loads(row[0])
        book["sheets"] = [_StoredSheet(self, spreadsheet_id, sheet) for sheet in book["sheets"]]
        return book

    def sheet_cells(self, spreadsheet_id: str, sheet_id: int) -> list[list[Any]]:
        with self.lock:
            row = self.db.execute(
                "SELECT cells FROM sheet_cells WHERE spreadsheet_id = ? AND sheet_id = ?",
                (spreadsheet_id, sheet_id),
            ).fetchone()
        return list(json.loads(row[0])) if row else []

    def save_spreadsheet(self, spreadsheet_id: str, data: dict[str, Any]) -> None:
        """The properties, and the cells of each sheet a request read or made (the others are
        as stored), in one transaction; a deleted sheet's cells go with it."""
        sheets = [{k: v for k, v in s.items() if k != "cells"} for s in data["sheets"]]
        touched = [s for s in data["sheets"] if dict.__contains__(s, "cells")]
        with self.lock:
            self.db.execute("SAVEPOINT spreadsheet")  # inside a seed's transaction too
            try:
                self._write_spreadsheet(spreadsheet_id, data, sheets, touched)
            except BaseException:
                self.db.execute("ROLLBACK TO spreadsheet")
                self.db.execute("RELEASE spreadsheet")
                raise
            self.db.execute("RELEASE spreadsheet")

    def _write_spreadsheet(
        self,
        spreadsheet_id: str,
        data: dict[str, Any],
        sheets: list[dict[str, Any]],
        touched: list[dict[str, Any]],
    ) -> None:
        # Drive's version of the file: every saved change counts, as on Google's side.
        data["driveVersion"] = int(data.get("driveVersion", 0)) + 1
        self.db.execute(
            "INSERT OR REPLACE INTO spreadsheets VALUES (?, ?)",
            (spreadsheet_id, json.dumps({**data, "sheets": sheets})),
        )
        kept = [s["properties"]["sheetId"] for s in sheets]
        marks = ", ".join("?" for _ in kept)
        self.db.execute(
            f"DELETE FROM sheet_cells WHERE spreadsheet_id = ? AND sheet_id NOT IN ({marks})",  # noqa: S608
            (spreadsheet_id, *kept),
        )
        self.db.executemany(
            "INSERT OR REPLACE INTO sheet_cells VALUES (?, ?, ?)",
            [(spreadsheet_id, s["properties"]["sheetId"], json.dumps(s["cells"])) for s in touched],
        )

    # ------------------------------------------------------------ webhooks

    def add_webhook(self, address: str, kind: str, state: str = "active") -> None:
        """A Slack or Teams webhook that accepts posts (`address`: host and path, without
        the query); state active, archived (Slack: the channel was archived) or removed."""
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO webhooks VALUES (?, ?, ?)", (address, kind, state)
            )

    def webhook(self, address: str) -> tuple[str, str] | None:
        """(kind, state) of a webhook by its host and path."""
        with self.lock:
            row = self.db.execute(
                "SELECT kind, state FROM webhooks WHERE address = ?", (address,)
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def webhooks_under(self, prefix: str) -> int:
        """How many webhooks' addresses start with `prefix`."""
        with self.lock:
            row = self.db.execute(
                "SELECT count(*) FROM webhooks WHERE substr(address, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchone()
        return int(row[0])

    def add_webhook_post(self, address: str, body: bytes, status: int) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO webhook_posts (address, body, status, received_at) "
                "VALUES (?, ?, ?, ?)",
                (address, body.decode("utf-8", "replace"), status, now_stamp(self.now())),
            )

    def webhook_posts(self) -> list[dict[str, Any]]:
        """Every post received, in order: address, body (text), status answered."""
        with self.lock:
            rows = self.db.execute(
                "SELECT address, body, status, received_at FROM webhook_posts ORDER BY n"
            ).fetchall()
        return [{"address": a, "body": b, "status": s, "received_at": r} for a, b, s, r in rows]


class _StoredSheet(dict[str, Any]):
    """A sheet of a stored spreadsheet whose `cells` are read on first use."""

    def __init__(self, store: OrgStore, spreadsheet_id: str, sheet: dict[str, Any]) -> None:
        super().__init__(sheet)
        self._store = store
        self._spreadsheet_id = spreadsheet_id

    def __missing__(self, key: str) -> Any:
        if key != "cells":
            raise KeyError(key)
        cells = self._store.sheet_cells(self._spreadsheet_id, int(self["properties"]["sheetId"]))
        self["cells"] = cells
        return cells
