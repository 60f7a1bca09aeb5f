"""Shared fixtures: sandboxes on 127.0.0.1 and clients that reach them over real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import gspread
import pytest
from simple_salesforce import Salesforce, SalesforceLogin

from cs_sync.connectors.transport import CallCounter, build_session
from cs_sync.demo import DemoFolder, prepare_demo, start_sandbox
from cs_sync.sandbox.seed import SANDBOX_PASSWORD, SANDBOX_TOKEN, SANDBOX_USERNAME, seed_book
from cs_sync.sandbox.server import Sandbox
from cs_sync.sandbox.store import OrgStore

AS_OF = date(2026, 11, 24)
API_VERSION = "62.0"


def seed_database(folder: Path, accounts: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "sandbox.db"
    usage = folder / "usage.csv"
    store = OrgStore(database)
    try:
        seed_book(store, usage, accounts, AS_OF)
    finally:
        store.close()
    return database, usage


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A freshly seeded sandbox (40 accounts) per test: tests may change it freely."""
    database, _ = seed_database(tmp_path, 40)
    with Sandbox(database) as running:
        yield running


@contextmanager
def served(folder: DemoFolder) -> Iterator[Sandbox]:
    """The demo folder's sandbox on a port the system picks (bound first, then written into
    the folder's config), so no test depends on a fixed port being free."""
    with start_sandbox(folder, port=0) as running:
        yield running


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port nothing answers on: bound by the test, so no other process can take it, and
    never listening, so a connection to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def login(sandbox: Sandbox, counter: CallCounter | None = None) -> Salesforce:
    session = build_session(sandbox.url, counter)
    session_id, instance = SalesforceLogin(
        username=SANDBOX_USERNAME,
        password=SANDBOX_PASSWORD,
        security_token=SANDBOX_TOKEN,
        sf_version=API_VERSION,
        session=session,
    )
    return Salesforce(
        session_id=session_id, instance=instance, version=API_VERSION, session=session
    )


@pytest.fixture
def sf(sandbox: Sandbox) -> Salesforce:
    return login(sandbox)


@pytest.fixture
def gc(sandbox: Sandbox) -> gspread.Client:
    client = gspread.Client(auth=None, session=build_session(sandbox.url))  # type: ignore[arg-type]
    client.set_timeout(10)
    return client


def one_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """The command run with --json: its exit code and the one JSON object it must print."""
    from cs_sync.cli import main

    code = main([*args, "--json"])
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # exactly one JSON object, on one line
    return code, json.loads(out)


@pytest.fixture
def demo40(tmp_path: Path) -> Iterator[tuple[DemoFolder, Sandbox]]:
    """A demo folder of 40 accounts, its sandbox served."""
    folder = prepare_demo(tmp_path / "demo", 40, AS_OF, port=0)
    with served(folder) as sandbox:
        yield folder, sandbox


@contextmanager
def held_by_another_process(path: Path) -> Iterator[None]:
    """A DuckDB client in another process keeping the file open, as an analyst's might."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('ready', flush=True);"
            " sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.communicate("")


def traced_peak(work: Callable[[], object]) -> int:
    """The most memory Python held at once while `work` ran, beyond what it held before (its
    answer too), as tracemalloc counts it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def column_types(path: Path, table: str) -> dict[str, str]:
    """Each column of a table in a DuckDB file, and its type as DuckDB names it."""
    db = duckdb.connect(str(path), read_only=True)
    try:
        return dict(
            db.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = ?",
                [table],
            ).fetchall()
        )
    finally:
        db.close()
