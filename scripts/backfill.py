#!/usr/bin/env python3
"""Fill cs-sync's history after install: the same as `cs-sync backfill`.

    python scripts/backfill.py --config config.toml --since 2025-12-01 --every week
    python scripts/backfill.py --config config.toml --since 2025-12-01 --write-salesforce

Stopped (Ctrl-C, SIGTERM, a crash), the same command continues where it stopped.
"""

from __future__ import annotations

import sys

from cs_sync.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["backfill", *sys.argv[1:]]))
