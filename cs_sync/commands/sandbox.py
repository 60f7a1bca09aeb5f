"""`cs-sync sandbox serve | seed`: the local stand-in for Salesforce and Google Sheets."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from cs_sync.commands.common import Subparsers, as_of, emit_failure
from cs_sync.config import load_config
from cs_sync.errors import EXIT_BAD_INPUT, EXIT_OK, CsSyncError


def register(commands: Subparsers) -> None:
    sandbox = commands.add_parser("sandbox", help="the local Salesforce/Sheets stand-in")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_commands.add_parser("serve", help="serve the sandbox a config points at")
    serve.add_argument("--config", required=True)
    serve.set_defaults(handler=serve_main)
    seed = sandbox_commands.add_parser(
        "seed", help="create a sandbox database with a sample book of business"
    )
    seed.add_argument("--accounts", type=int, default=300)
    seed.add_argument("--database", default="sandbox.db")
    seed.add_argument("--usage", default="usage.csv", help="where to write the usage CSV")
    seed.add_argument("--as-of", help="anchor date for the book (default today, Asia/Tokyo)")
    seed.add_argument(
        "--bare",
        action="store_true",
        help="leave out cs-sync's own fields, to try `cs-sync setup salesforce --apply`",
    )
    seed.set_defaults(handler=seed_main)


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM stops `sandbox serve` the way Ctrl-C does."""
    raise KeyboardInterrupt


def serve_main(args: argparse.Namespace) -> int:
    from cs_sync.sandbox.server import Sandbox

    try:
        config = load_config(args.config)
    except CsSyncError as error:
        return emit_failure(error, False, None)
    parts = urlsplit(config.sandbox.url or "")
    if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        print(
            f'cs-sync: {args.config}: [sandbox] url must be "http://127.0.0.1:PORT" '
            "to serve a sandbox",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if config.sandbox.database is None or not config.sandbox.database.exists():
        print(
            f"cs-sync: {args.config}: [sandbox] database is not set or does not exist; run "
            "`cs-sync demo --no-run` (or `cs-sync sandbox seed`) first",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    sandbox = Sandbox(config.sandbox.database, port=parts.port)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(
        f"Sandbox serving {config.sandbox.database} on {sandbox.url} (Ctrl-C to stop)", flush=True
    )
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.httpd.server_close()
        sandbox.store.close()
    return EXIT_OK


def seed_main(args: argparse.Namespace) -> int:
    from cs_sync.sandbox.seed import seed_book
    from cs_sync.sandbox.store import OrgStore

    database = Path(args.database)
    if database.exists():
        print(
            f"cs-sync: {database} already exists; choose another --database or delete it",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    database.parent.mkdir(parents=True, exist_ok=True)
    store = OrgStore(database)
    try:
        anchor = as_of(args.as_of, "Asia/Tokyo")
        result = seed_book(store, Path(args.usage), args.accounts, anchor, bare=args.bare)
    finally:
        store.close()
    print(
        f"Seeded {database}: {result.accounts} accounts ({result.active_accounts} active, "
        f"{result.churned_accounts} churned), {result.opportunities} opportunities, "
        f"{result.users} users; {result.usage_rows} usage rows in {result.usage_path}"
    )
    return EXIT_OK
