"""DuckDB as cs-sync opens it (the history file, Parquet usage): offline. DuckDB would
otherwise download and load an extension when a file needs one (a SQLite file at the history
path, say); cs-sync runs unattended and never reaches the internet for code, so such a file
is an error, named by the caller."""

from __future__ import annotations

import duckdb

OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    return duckdb.connect(path, config=dict(OFFLINE))
