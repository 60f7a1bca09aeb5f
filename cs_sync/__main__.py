"""Allows `python -m cs_sync`."""

from cs_sync.cli import main

raise SystemExit(main())
