"""`cs-sync config schema | reference | check`: the configuration file's JSON Schema, its
reference in Markdown (docs/configuration.md), and a check of a file that connects to
nothing."""

from __future__ import annotations

import argparse

from cs_sync.commands.common import Subparsers, emit_failure, print_json
from cs_sync.config import config_schema, load_config
from cs_sync.config_reference import config_reference
from cs_sync.errors import EXIT_OK, CsSyncError


def register(commands: Subparsers) -> None:
    config = commands.add_parser("config", help="the configuration file: its schema, a check")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    schema = config_commands.add_parser(
        "schema", help="print the JSON Schema of the configuration (for editors)"
    )
    schema.set_defaults(handler=schema_main)
    reference = config_commands.add_parser(
        "reference", help="print the reference of every key in Markdown (docs/configuration.md)"
    )
    reference.set_defaults(handler=reference_main)
    check = config_commands.add_parser(
        "check", help="validate a configuration file without connecting to anything"
    )
    check.add_argument("file", help="the TOML configuration file")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(handler=check_main)


def schema_main(args: argparse.Namespace) -> int:
    print_json(config_schema())
    return EXIT_OK


def reference_main(args: argparse.Namespace) -> int:
    print(config_reference(), end="")
    return EXIT_OK


def check_main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except CsSyncError as error:
        if args.json:
            problems = getattr(error, "problems", [str(error)])
            print_json({"status": "failed", "file": args.file, "problems": problems})
            return error.exit_code
        return emit_failure(error, False, None)
    summary = {
        "status": "ok",
        "file": args.file,
        "config_hash": config.version_hash,
        "usage_source": config.usage.source,
        "measures": [m.name for m in config.health.measures],
        "phases": [p.name for p in config.phases.phases],
        "strategies": [s.name for s in config.renewal.strategies],
        "task_rules": [r.name for r in config.tasks.rules],
        "sandbox": config.sandbox.url is not None,
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"{args.file}: OK (config hash {summary['config_hash']}): "
            f"{len(summary['measures'])} measures, {len(summary['phases'])} phases, "
            f"{len(summary['strategies'])} renewal strategies, "
            f"{len(summary['task_rules'])} task rules, usage from {summary['usage_source']}"
            + (", talking to the local sandbox" if summary["sandbox"] else "")
        )
    return EXIT_OK
