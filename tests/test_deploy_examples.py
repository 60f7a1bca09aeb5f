"""The deployment examples call commands and options cs-sync really has, and the image
carries every package the project installs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from cs_sync.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def invocations() -> list[tuple[str, list[str]]]:
    found = []
    for path in sorted((ROOT / "deploy").rglob("*")) + [ROOT / "Dockerfile"]:
        if not path.is_file():
            continue
        text = path.read_text("utf-8")
        name = str(path.relative_to(ROOT))
        for match in re.finditer(r"^\s*(?:args|CMD):?\s*(\[.*\])\s*$", text, re.M):
            found.append((name, json.loads(match.group(1))))
        for match in re.finditer(r"(?:ExecStart=\S*|run: )cs-sync (.*)$", text, re.M):
            found.append((name, shlex.split(match.group(1))))
        for match in re.finditer(r'--args="([^"]+)"', text):
            found.append((name, match.group(1).split(",")))
    return found


def test_examples_were_found() -> None:
    names = {name for name, _ in invocations()}
    assert len(names) >= 6, names


@pytest.mark.parametrize(("name", "args"), invocations())
def test_each_example_parses(name: str, args: list[str]) -> None:
    parsed = build_parser().parse_args(args)
    assert parsed.command in {"run", "worker", "backfill"}, name


def test_the_image_carries_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    packages = re.search(r"include = \[(.*?)\]", pyproject).group(1)
    for package in re.findall(r'"(\w+)\*"', packages):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "USER 10001" in dockerfile
