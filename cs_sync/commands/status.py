"""`cs-sync status`: is the sync healthy? For monitors: exit 0 yes, 1 no."""

from __future__ import annotations

import argparse

from cs_sync.commands.common import Subparsers, now_utc, print_json
from cs_sync.config import load_config
from cs_sync.errors import EXIT_OK, EXIT_PARTIAL, CsSyncError
from cs_sync.status import Health, check_health, health_text


def register(commands: Subparsers) -> None:
    status = commands.add_parser(
        "status", help="is the sync healthy? (for monitors: exit 0 yes, 1 no)"
    )
    status.add_argument("--config", required=True)
    status.add_argument(
        "--max-age-hours",
        type=float,
        default=26.0,
        help="unhealthy when the last run finished longer ago than this (default 26)",
    )
    status.add_argument("--strict", action="store_true", help="count a partial run as a failure")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Always its own answer, 0 or 1: a configuration or history store that cannot be read is
    a reason the sync is not healthy, not another kind of failure."""
    try:
        config = load_config(args.config)
        health = check_health(config, now_utc(), args.max_age_hours, args.strict)
    except CsSyncError as error:
        health = Health(healthy=False, reasons=[str(error)])
    if args.json:
        print_json(health.as_json())
    else:
        print(health_text(health))
    return EXIT_OK if health.healthy else EXIT_PARTIAL
