"""The configuration as a typed schema: `cs-sync config schema` (what an editor validates
against), `cs-sync config check`, every key described, lines named, numbers kept strict."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cs_sync.cli import main
from cs_sync.config import config_schema, load_config
from cs_sync.errors import ConfigError
from cs_sync.rules.health import HealthConfig
from tests.test_config import MINIMAL, problems, write

ROOT = Path(__file__).resolve().parents[1]


def schema_errors(data: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(config_schema())
    return [error.message for error in validator.iter_errors(data)]


def test_the_printed_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == json.loads(json.dumps(config_schema()))


def test_the_schema_accepts_the_example_and_refuses_a_misspelled_key() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text("utf-8"))
    assert schema_errors(example) == []
    example["salesforce"]["instance_ulr"] = "https://acme.my.salesforce.com"
    assert any("'instance_ulr' was unexpected" in e for e in schema_errors(example))


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("brakes", "max_new_tasks", 2.5),
        ("brakes", "max_grade_change_share", 2),
        ("salesforce", "query_batch_size", "2000"),
        ("tasks", "enabled", 1),
        ("usage", "source", "excel"),
    ],
)
def test_the_schema_and_the_loader_refuse_the_same_values(
    tmp_path: Path, table: str, key: str, value: Any
) -> None:
    data = tomllib.loads(MINIMAL)
    data.setdefault(table, {})[key] = value
    assert schema_errors(data), f"the schema let {table}.{key} = {value!r} through"
    text = MINIMAL + f"\n[{table}]\n{key} = {json.dumps(value)}\n"
    if table in ("salesforce", "usage"):
        text = MINIMAL.replace(f"[{table}]\n", f"[{table}]\n{key} = {json.dumps(value)}\n")
    found = "\n".join(problems(tmp_path, text))
    assert f"{table}.{key}" in found


def test_every_key_is_described() -> None:
    schema = config_schema()
    undescribed = [
        f"{name}.{key}"
        for name, definition in schema["$defs"].items()
        for key, prop in definition.get("properties", {}).items()
        if not prop.get("description") and key not in ("source",)
    ]
    top = [k for k, v in schema["properties"].items() if not v.get("description")]
    assert undescribed == [] and top == []


def line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


def test_a_whole_number_is_not_silently_cut(tmp_path: Path) -> None:
    text = MINIMAL + "\n[brakes]\nmax_new_tasks = 2.5\n"
    at = line_of(text, "max_new_tasks = 2.5")
    found = problems(tmp_path, text)
    assert found == [f"brakes.max_new_tasks: expected a whole number, got 2.5 (line {at})"]


def test_problems_name_their_line(tmp_path: Path) -> None:
    text = (
        MINIMAL + '\n[[health.measures]]\nname = "active_ratio"\nweight = -1\nbad = 0\ngood = 1\n'
    )
    found = problems(tmp_path, text)
    at = line_of(text, "weight = -1")
    assert found == [
        f"health.measures[0].weight: -1 is out of range; expected at least 0 (line {at})"
    ]


def test_removed_and_misplaced_keys_say_where_they_went(tmp_path: Path) -> None:
    found = "\n".join(problems(tmp_path, MINIMAL + '\n[backtest]\nat_risk_grades = ["D"]\n'))
    assert "backtest.at_risk_grades: moved to health.at_risk_grades" in found
    found = "\n".join(problems(tmp_path, MINIMAL + '\n[sandbox]\nurl = "https://example.com"\n'))
    assert "sandbox.url: 'https://example.com' is not a loopback address" in found


def test_at_risk_grades_default_to_the_two_worst_of_any_scheme(tmp_path: Path) -> None:
    scheme = "\n[health]\ngrades = { Green = 70, Amber = 40, Red = 0 }\n"
    assert load_config(write(tmp_path, MINIMAL + scheme)).health.at_risk == ("Amber", "Red")
    chosen = scheme + 'at_risk_grades = ["Red"]\n'
    assert load_config(write(tmp_path, MINIMAL + chosen)).health.at_risk == ("Red",)
    found = "\n".join(problems(tmp_path, MINIMAL + scheme + 'at_risk_grades = ["D"]\n'))
    assert "health.at_risk_grades: 'D' is not a grade in health.grades (Green, Amber, Red)" in found
    assert HealthConfig().at_risk == ("C", "D")


def test_config_check_validates_without_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ROOT / "config.example.toml", tmp_path / "ok.toml")
    assert main(["config", "check", str(tmp_path / "ok.toml"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "ok" and report["measures"][0] == "active_ratio"
    assert report["sandbox"] is False
    text = MINIMAL + "\n[brakes]\nmax_new_tasks = 2.5\n"
    bad = write(tmp_path, text)
    assert main(["config", "check", str(bad), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "failed"
    at = line_of(text, "max_new_tasks = 2.5")
    assert report["problems"] == [
        f"brakes.max_new_tasks: expected a whole number, got 2.5 (line {at})"
    ]
    assert main(["config", "check", str(bad)]) == 2
    assert "max_new_tasks" in capsys.readouterr().err


def test_a_config_error_is_a_config_error_with_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, "[salesforce]\n[usage]\nsource = 3\n"))
    message = str(raised.value)
    assert "salesforce.instance_url: missing" in message
    assert "usage.source" in message


def test_the_configuration_reference_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/configuration.md is what `cs-sync config reference` prints: regenerate it with
    `cs-sync config reference > docs/configuration.md` after changing a setting."""
    assert main(["config", "reference"]) == 0
    printed = capsys.readouterr().out
    assert (ROOT / "docs" / "configuration.md").read_text("utf-8") == printed
    for key in ("share_with", "fiscal_year_start_month", "[[dashboard.targets]]", "[tasks]"):
        assert key in printed
