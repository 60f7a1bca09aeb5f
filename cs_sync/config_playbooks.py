"""The configuration's [playbooks] table as the file writes it, compiled into the rules'
Playbook objects with every condition, date column, owner and template checked.

[playbooks] presets picks the playbooks cs-sync ships; [[playbooks.playbook]] adds your own
(or replaces a preset by name), each with its [[playbooks.playbook.steps]].
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from cs_sync.rules.expressions import ExpressionError, compile_expression
from cs_sync.rules.playbook_presets import preset_playbooks
from cs_sync.rules.playbooks import START, Playbook, PlaybookLimits, PlaybookSettings, Step
from cs_sync.rules.task_presets import SIGNATURE, by_language
from cs_sync.rules.tasks import Template
from cs_sync.settings import Between, Settings, Texts, key_part

# Fields a step's subject and description may name beyond the account's columns.
STEP_FIELDS = ("playbook", "step_due", "anchor_date")
PRESET_NAMES = tuple(preset_playbooks())
_USER_ID = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")


def _owner(owner: str) -> str:
    if owner in ("csm", "sub_csm"):
        return owner
    if owner.startswith("queue:"):
        raise ValueError(
            "a Salesforce queue cannot own a Task (queues own Leads, Cases and custom objects "
            'only); name a person: "user:<User id>", or "csm" / "sub_csm"'
        )
    if owner.startswith("user:") and _USER_ID.fullmatch(owner.removeprefix("user:")):
        return owner
    raise ValueError(
        f'{owner!r}: the owner is "csm" (the account\'s CSM, else the sub CSM, else '
        'tasks.default_owner_id), "sub_csm" (the other way round) or "user:<User id>" (005...)'
    )


Name = Annotated[str, key_part(30, "each step's Task key")]
ByLanguage = str | dict[str, str]


class StepRow(Settings):
    """[[playbooks.playbook.steps]]: one step, in order."""

    name: Name
    """Lower case letters, digits and _; part of the step's Task key."""
    subject: ByLanguage
    """The Task's subject: {column} fields (and {playbook}, {step_due}, {anchor_date})."""
    description: ByLanguage
    """The Task's description, with the same fields."""
    days: Annotated[int, Between(-730, 730)] = 0
    """When: business days after the playbook started (anchor = "start"), or calendar days
    from the anchor date (negative: before it); with `date`, days from that date."""
    date: str | None = None
    """A column holding the step's date (e.g. plan_quote), instead of the anchor."""
    owner: Annotated[str, AfterValidator(_owner)] = "csm"
    """csm (the account's CSM, then the sub CSM, then tasks.default_owner_id), sub_csm, or
    user:<User id>."""
    priority: Literal["High", "Normal", "Low"] = "Normal"
    """The Task's priority."""
    skip_when: str | None = None
    """A condition under which the step is skipped (e.g. the renewal stage shows it done)."""


class PlaybookRow(Settings):
    """[[playbooks.playbook]]: a playbook of your own (named like a preset, it replaces it)."""

    name: Name
    """Lower case letters, digits and _; part of each step's Task key."""
    when: str
    """The condition that starts it and keeps it running (an expression)."""
    steps: Annotated[tuple[StepRow, ...], Field(strict=False, min_length=1)]
    """The steps, in order."""
    label: ByLanguage | None = None
    """What the playbook is for, in one phrase."""
    trigger: Literal["level", "edge"] = "level"
    """level: starts while the condition holds; edge: only when it becomes true since the
    last run (it still stops when the condition clears)."""
    anchor: str = START
    """"start": steps dated from the day it started; or a date column the steps count from
    (renewal_anchor: the renewal date or the notice deadline; contract_start; your own)."""
    family: str | None = None
    """Playbooks of one family share steps of the same name (done once for all)."""
    segments: Texts | None = None
    """Only accounts of these segments (default: every segment)."""
    restart_after_days: Annotated[int, Between(1, 3650)] = 180
    """A start-dated playbook may run again for the same account after this many days."""
    auto_close: bool = True
    """Close the open steps, with a note, when the condition clears."""


class PlaybooksFile(PlaybookLimits):
    """[playbooks]: sequences of dated steps, each a Task for the right person."""

    presets: Texts = PRESET_NAMES
    """The playbooks cs-sync ships (remove a name to switch it off): one per renewal
    strategy, and the phase-delay flow."""
    playbook: Annotated[tuple[PlaybookRow, ...], Field(strict=False)] = ()
    """Your own playbooks."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        return unknown_presets(data, PRESET_NAMES)


def unknown_presets(data: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """A table's `presets` that name no preset, each with the list."""
    presets = data.get("presets", [])
    return [
        f"presets: {name!r} is not a preset; the presets are: {', '.join(names)}"
        for name in (presets if isinstance(presets, list) else [])
        if name not in names
    ]


def compile_playbooks(
    file: PlaybooksFile, known: list[str], date_columns: set[str], problems: list[str]
) -> PlaybookSettings:
    """The chosen presets and the file's own playbooks, compiled; every expression, template,
    anchor and date column checked against the columns (`known`; `date_columns` those that
    hold dates)."""
    presets = preset_playbooks()
    definitions = {name: presets[name] for name in file.presets if name in presets}
    for row in file.playbook:
        definitions[row.name] = row.model_dump(exclude_none=True, exclude={"name"})
    playbooks = []
    for name, raw in definitions.items():
        try:
            playbook = _build(name, raw)
        except ExpressionError as error:
            problems.append(str(error))
            continue
        problems += _column_problems(playbook, known, date_columns)
        playbooks.append(playbook)
    limits = {k: getattr(file, k) for k in PlaybookLimits.model_fields}
    return PlaybookSettings(PlaybookLimits(**limits), tuple(playbooks))


def _build(name: str, raw: dict[str, Any]) -> Playbook:
    where = f"playbooks.{name}"
    steps = []
    for row in raw["steps"]:
        step = dict(row)
        at = f"{where}.steps.{step['name']}"
        subject = by_language(step["subject"])
        description = by_language(step["description"])
        skip = step.get("skip_when")
        steps.append(
            Step(
                name=step["name"],
                subject={k: Template(f"{at}.subject.{k}", v) for k, v in subject.items()},
                description={
                    k: Template(f"{at}.description.{k}", v + SIGNATURE[k])
                    for k, v in description.items()
                },
                days=int(step.get("days", 0)),
                date=step.get("date"),
                owner=str(step.get("owner", "csm")),
                priority=str(step.get("priority", "Normal")),
                skip_when=compile_expression(f"{at}.skip_when", skip) if skip else None,
            )
        )
    return Playbook(
        name=name,
        label=by_language(raw.get("label", name)),
        when=compile_expression(f"{where}.when", raw["when"]),
        steps=tuple(steps),
        trigger=str(raw.get("trigger", "level")),
        anchor=str(raw.get("anchor", START)),
        family=raw.get("family"),
        segments=tuple(raw.get("segments", ())),
        restart_after_days=int(raw.get("restart_after_days", 180)),
        auto_close=bool(raw.get("auto_close", True)),
    )


def _column_problems(playbook: Playbook, known: list[str], dates: set[str]) -> list[str]:
    where = f"playbooks.{playbook.name}"
    problems = []
    expressions = [playbook.when, *(s.skip_when for s in playbook.steps if s.skip_when)]
    for expression in expressions:
        try:
            expression.check_columns(known)
        except ExpressionError as error:
            problems.append(str(error))
    if playbook.anchor != START and playbook.anchor not in dates:
        problems.append(
            f'{where}.anchor: {playbook.anchor!r} is not a date column; use "start" or one '
            f"of: {', '.join(sorted(dates))}"
        )
    names = [s.name for s in playbook.steps]
    for step in playbook.steps:
        if names.count(step.name) > 1:
            problems.append(f"{where}.steps.{step.name}: two steps have this name")
        if step.date is not None and step.date not in dates:
            problems.append(
                f"{where}.steps.{step.name}.date: {step.date!r} is not a date column; the date "
                f"columns are: {', '.join(sorted(dates))}"
            )
        for template in (*step.subject.values(), *step.description.values()):
            unknown = sorted(template.names - set(known) - set(STEP_FIELDS))
            if unknown:
                problems.append(
                    f"{template.rule}: unknown field {{{unknown[0]}}}; the fields are "
                    f"{', '.join(STEP_FIELDS)} and the columns: {', '.join(sorted(known))}"
                )
    return sorted(set(problems), key=problems.index)
