"""`cs-sync doctor`: check login, fields, API allowance, usage source and dashboard."""

from __future__ import annotations

import argparse

from cs_sync.commands.common import Subparsers, emit_failure, today
from cs_sync.config import load_config
from cs_sync.doctor import run_doctor
from cs_sync.errors import EXIT_BAD_INPUT, EXIT_CONNECT, EXIT_OK, CsSyncError


def register(commands: Subparsers) -> None:
    doctor = commands.add_parser(
        "doctor", help="check login, fields, API allowance, usage source and dashboard folder"
    )
    doctor.add_argument("--config", required=True)
    doctor.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except CsSyncError as error:
        return emit_failure(error, False, None)
    checks = run_doctor(config, today(config.timezone))
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} checks passed.")
    if not failed:
        return EXIT_OK
    return EXIT_CONNECT if any(c.name == "Salesforce login" for c in failed) else EXIT_BAD_INPUT
