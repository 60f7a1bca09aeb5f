"""Building blocks of the typed settings every layer declares: a strict, frozen pydantic base
that refuses unknown keys, number ranges that say both bounds, paths taken from the config
file's folder, and texts where "" means "none".

Neutral: rules, connectors and the app all build their settings from these, and this module
imports nothing of the project.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema


class Settings(BaseModel):
    """A table of the configuration: every key declared with a default and a description,
    unknown keys refused, numbers and texts taken only as TOML wrote them (2.5 is not a
    whole number, "5" is not a number)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        """Problems across keys, read from the table as written, so that they are reported
        beside a wrong type elsewhere in it; each one "key: what is wrong"."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        problems = cls.check(data) if isinstance(data, dict) else []
        try:
            model = handler(data)
        except ValidationError as error:
            if not problems:
                raise
            details: list[Any] = [
                {key: e[key] for key in ("type", "loc", "input", "ctx") if key in e}
                for e in error.errors(include_url=False)
            ]
            details += [
                {"type": "value_error", "loc": (), "input": data, "ctx": {"error": p}}
                for p in problems
            ]
            raise ValidationError.from_exception_data(cls.__name__, details) from None
        if problems:
            raise ValueError("\n".join(problems))
        return model


def names_twice(rows: Any) -> list[str]:
    """The names given to more than one table of an array of tables (as the file wrote it)."""
    names = [r.get("name") for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    return sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})


@dataclass(frozen=True)
class Between:
    """A number within [low, high] (high None: no upper bound); the message names both."""

    low: float
    high: float | None = None

    def _check(self, value: Any) -> Any:
        if value < self.low or (self.high is not None and value > self.high):
            bounds = (
                f"between {self.low} and {self.high}"
                if self.high is not None
                else f"at least {self.low}"
            )
            shown = int(value) if isinstance(value, float) and value.is_integer() else value
            raise ValueError(f"{shown} is out of range; expected {bounds}")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler(schema)
        value["minimum"] = self.low
        if self.high is not None:
            value["maximum"] = self.high
        return value


def _from_config_folder(value: Path, info: ValidationInfo) -> Path:
    """`~` expanded; a relative path is taken from the configuration file's folder."""
    path = value.expanduser()
    base = (info.context or {}).get("base")
    return path if path.is_absolute() or base is None else Path(base) / path


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


# A path in the configuration: text in the file, relative to the file's folder.
ConfigPath = Annotated[Path, Strict(False), AfterValidator(_from_config_folder)]
# The same, where "" (or leaving the key out) means "none".
OptionalPath = Annotated[ConfigPath | None, BeforeValidator(_blank_is_none)]
# A text where "" means "none".
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]
# A list in the file, kept as a tuple (lists of texts are compared and hashed as values).
Texts = Annotated[tuple[str, ...], Strict(False)]


# ---------------------------------------------------------------- months as people type them

_MONTH_SEPARATORS = str.maketrans({c: "," for c in "、・/;； \t"})
_RANGE = ("-", "〜", "~", "－")  # NFKC folds the full-width tilde into "~"


def parse_months(text: str) -> tuple[list[int], list[str]]:
    """Months from text as teams type them: "3,12", "３，１２", "3月・12月", "3、12", "3月",
    "11-2" (a range, which may cross the new year). Returns the months in the order written
    and the parts that are no month, for the caller to name; nothing is dropped silently."""
    folded = unicodedata.normalize("NFKC", text).translate(_MONTH_SEPARATORS)
    months: list[int] = []
    bad: list[str] = []
    for raw in folded.split(","):
        part = raw.strip().replace("月", "")
        if not part:
            continue
        bounds = next((part.split(dash) for dash in _RANGE if dash in part), [part])
        numbers = [b.strip() for b in bounds]
        if len(numbers) > 2 or not all(n.isdigit() and 1 <= int(n) <= 12 for n in numbers):
            bad.append(raw.strip())
            continue
        first, last = int(numbers[0]), int(numbers[-1])
        span = (last - first) % 12
        months += [(first - 1 + k) % 12 + 1 for k in range(span + 1)]
    return list(dict.fromkeys(months)), bad


def _months_value(value: Any) -> Any:
    """season_months as a list of numbers, or as text such as "11,12" or "１１月・１２月"."""
    if isinstance(value, str):
        months, bad = parse_months(value)
        if bad or not months:
            raise ValueError(
                f"{value!r}: {', '.join(repr(b) for b in bad) or 'nothing'} is not a month; "
                'write the months as [11, 12] or "11,12"'
            )
        return tuple(months)
    return value


MonthList = Annotated[
    tuple[Annotated[int, Between(1, 12)], ...],
    BeforeValidator(_months_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 12}},
                {"type": "string"},
            ]
        }
    ),
]


def key_part(longest: int, what: str) -> Any:
    """A validator of a name that becomes part of a Task's key: lower case letters, digits and
    _, at most `longest` characters; `what` says which key, for the message."""

    def check(name: str) -> str:
        if not re.fullmatch(rf"[a-z][a-z0-9_]{{0,{longest - 1}}}", name):
            raise ValueError(
                f"{name!r} must be lower case letters, digits and _ (at most {longest}; it "
                f"becomes part of {what})"
            )
        return name

    return AfterValidator(check)
