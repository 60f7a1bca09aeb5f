"""The configuration's rule tables: [phases], [renewal], [tasks] and [[features]] as the file
writes them, then compiled into the rules' own objects (phases, axes, strategies, task rules,
features), with every expression checked against the columns it may name.

A table that failed validation is compiled from the keys and rows that validate alone, so an
expression's mistake is reported beside a wrong type elsewhere in the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError

from cs_sync.config_playbooks import PlaybooksFile, compile_playbooks, unknown_presets
from cs_sync.connectors.settings import SalesforceFields
from cs_sync.rules.expressions import Expression, ExpressionError, compile_expression
from cs_sync.rules.features import ACCOUNT_INPUTS, FEATURE_COLUMNS
from cs_sync.rules.health import HEALTH_COLUMNS, HealthConfig, Measure
from cs_sync.rules.phases import PHASE_COLUMNS, PRESETS, Phase, PhaseSettings, build_phases
from cs_sync.rules.playbooks import PlaybookSettings
from cs_sync.rules.renewal import (
    AXIS_NAMES,
    DEFAULT_AXES,
    DEFAULT_STRATEGIES,
    Axis,
    RenewalSettings,
    Strategy,
    build_axes,
    build_strategies,
)
from cs_sync.rules.renewal import OUTPUT_COLUMNS as RENEWAL_COLUMNS
from cs_sync.rules.renewal import STEPS as PLAN_STEPS
from cs_sync.rules.task_presets import build_rule, preset_rules
from cs_sync.rules.tasks import STORED as STORED_OUTPUTS
from cs_sync.rules.tasks import TaskLimits, TaskSettings
from cs_sync.rules.usage_metrics import SEASON_FUNCTIONS, Function, MetricFeature
from cs_sync.settings import Between, MonthList, Settings, Texts, key_part, names_twice

# The columns that hold dates, which a playbook can date its steps from.
DATE_COLUMNS = (
    "contract_start",
    "renewal_date",
    "renewal_anchor",
    "next_action_date",
    *(f"plan_{step}" for step in PLAN_STEPS),
)


def _condition(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("expected a condition (an expression in quotes)")
    return value


def _by_language(value: Any) -> Any:
    if isinstance(value, str) or (
        isinstance(value, dict)
        and all(k in ("ja", "en") and isinstance(v, str) for k, v in value.items())
    ):
        return value
    raise ValueError('expected { ja = "...", en = "..." } or text')


def _feature_name(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(
            f"{name!r} must be lower case letters, digits and _ (it becomes a column name in "
            "expressions)"
        )
    return name


Condition = Annotated[str, BeforeValidator(_condition)]
ByLanguage = Annotated[str | dict[str, str], BeforeValidator(_by_language)]


class PhaseRow(Settings):
    """[[phases.phase]]: one of your own phases."""

    name: Annotated[str, Field(min_length=1, max_length=255)]
    """The phase's name, as the picklist shows it."""
    when: Condition = "true"
    """The condition (an expression) under which the account is in this phase."""
    step: Annotated[int, Between(1)] | None = None
    """Its place in the order (1 the first); without a step the phase is an overlay."""
    expected_by_month: int | None = None
    """An account this many months in that is below this step is delayed."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        if "expected_by_month" in data and "step" not in data:
            return [
                "expected_by_month: only a step (a phase with step = N) can be expected by a "
                "month; overlays have none"
            ]
        return []


class PhasesFile(PhaseSettings):
    """[phases]: the lifecycle phase and whether the account is behind schedule."""

    preset: Literal["lifecycle", "staging", "custom"] | None = None
    """lifecycle or staging; custom (or leaving it out) with your own [[phases.phase]]."""
    phase: Annotated[tuple[PhaseRow, ...], Field(strict=False)] | None = None
    """Your own phases, replacing the preset."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        preset, rows = data.get("preset"), data.get("phase")
        rows = rows if isinstance(rows, list) else []
        problems = []
        if rows and preset not in (None, "custom"):
            problems.append(
                f"preset: {preset!r} and a [[phases.phase]] list were both given; the list "
                'replaces the preset, so delete preset (or set it to "custom")'
            )
        if preset == "custom" and not rows:
            problems.append('preset: "custom" needs a [[phases.phase]] list')
        problems += [f"phase: the name {n!r} is used twice" for n in names_twice(rows)]
        steps = [r["step"] for r in rows if isinstance(r, dict) and "step" in r]
        if rows and not steps:
            problems.append("phase: at least one phase needs a step (step = 1 for the first)")
        problems += [
            f"phase: two phases have step = {s}"
            for s in sorted({s for s in steps if steps.count(s) > 1})
        ]
        return problems


class StrategyRow(Settings):
    """[[renewal.strategy]]: a renewal strategy; the first whose condition holds wins."""

    name: str
    """The strategy's name, as the picklist shows it."""
    when: Condition = "true"
    """The condition over the axes (stakeholders, evaluation, budget) and the features."""


AxisLevels = Annotated[dict[str, Condition], Field(strict=False)]


class RenewalFile(RenewalSettings):
    """[renewal]: the strategy and the plan of renewals within plan_days."""

    stakeholders: AxisLevels | None = None
    """Levels of the stakeholders axis, first met wins (default: strong, partial, weak)."""
    evaluation: AxisLevels | None = None
    """Levels of the evaluation axis (default: poor, good, fair)."""
    budget: AxisLevels | None = None
    """Levels of the budget axis (default: cut, secured, planned, unknown)."""
    strategy: Annotated[tuple[StrategyRow, ...], Field(strict=False)] | None = None
    """The strategies, exceptions first (default: Rescue, Very aggressive, Aggressive,
    Passive)."""


class TaskRuleRow(Settings):
    """[[tasks.rule]]: your own follow-up rule (a rule named like a preset replaces it)."""

    name: Annotated[str, key_part(40, "each Task's key")]
    """Lower case letters, digits and _; part of each Task's key."""
    when: Condition
    """The condition (an expression) that calls for the Task."""
    subject: ByLanguage
    """The Task's subject; {column} fields, text or { ja = "...", en = "..." }."""
    description: ByLanguage
    """The Task's description; {column} fields, text or { ja = "...", en = "..." }."""
    label: ByLanguage | None = None
    """What the rule is for, in one phrase."""
    trigger: Literal["level", "edge"] = "level"
    """level: while the condition holds; edge: when it becomes true since the last run."""
    cooldown_days: Annotated[int, Between(0, 730)] | None = None
    """Days between two Tasks of a level rule (default: tasks.cooldown_days)."""
    due_in_business_days: Annotated[int, Between(0, 60)] | None = None
    """Due date in business days after the run (default: tasks.due_in_business_days)."""
    segments: Texts | None = None
    """Only accounts of these segments (default: every segment)."""
    priority: Literal["High", "Normal", "Low"] | None = None
    """The Task's priority (default: tasks.priority)."""
    auto_close: bool | None = None
    """Close the open Task once the condition clears (default: tasks.auto_close)."""


PRESET_NAMES = tuple(preset_rules(PhaseSettings()))
# renewal_review (one Task 90 days before renewal) gave way to the renewal playbooks, which
# date every step of the plan; it stays available by name.
DEFAULT_PRESETS = tuple(name for name in PRESET_NAMES if name != "renewal_review")


class TasksFile(TaskLimits):
    """[tasks]: follow-up Tasks in Salesforce, keyed so that each is created once."""

    presets: Texts = DEFAULT_PRESETS
    """The rules cs-sync ships (remove a name to switch it off), served in this order;
    renewal_review is off by default (the renewal playbooks date each step instead)."""
    due_in_business_days: Annotated[int, Between(0, 60)] = 5
    """Due date in business days after the run, for rules that do not say."""
    priority: Literal["High", "Normal", "Low"] = "Normal"
    """Priority of Tasks of rules that do not say."""
    cooldown_days: Annotated[int, Between(0, 730)] = 30
    """A level rule creates no new Task while one is open or within this many days."""
    auto_close: bool = True
    """Close an open Task, with a note saying why, once its condition clears."""
    rule: Annotated[tuple[TaskRuleRow, ...], Field(strict=False)] = ()
    """Your own rules."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        return unknown_presets(data, PRESET_NAMES)


class FeatureRow(Settings):
    """[[features]]: a column computed from the others by an expression, or from one usage
    metric by a function; usable in every measure and condition."""

    name: Annotated[str, AfterValidator(_feature_name)]
    """The column's name."""
    expression: str | None = None
    """How it is computed from other columns (the safe expression language)."""
    metric: str | None = None
    """Or: the usage metric it is computed from (a column of usage.metrics, or seats,
    active_users, logins, usage.monthly_feature, usage.seasonal_feature)."""
    function: Function = "last"
    """With metric: last (the last complete month), total / average / trend (over `months`),
    months_without (in a row, up to 12), months_since_use (since the last month of use),
    season_total / season_change / season_dropped (over `season`), months_to_level (from the
    contract start to the first month it reached `level`)."""
    months: Annotated[int, Between(1, 24)] = 3
    """total, average, trend: the months counted (trend: against as many months before)."""
    season: Annotated[MonthList, Field(strict=False)] = ()
    """The season functions: the metric's season, months in order ([11, 12] or "11,12")."""
    level: float = 1.0
    """months_to_level: the monthly value that counts as reached (e.g. 1 first request)."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        has_expression, has_metric = "expression" in data, "metric" in data
        if has_expression == has_metric:
            return [
                "give either expression (computed from other columns) or metric (a usage "
                "metric, with a function), not both"
                if has_expression
                else "expression or metric: missing; say how the feature is computed"
            ]
        if has_expression:
            extra = [k for k in ("function", "months", "season", "level") if k in data]
            return [f"{k}: only a feature of a metric takes {k}" for k in extra]
        function = data.get("function", "last")
        if function in SEASON_FUNCTIONS and not data.get("season"):
            return [f"season: {function} needs the metric's season, e.g. season = [11, 12]"]
        if "season" in data and function not in SEASON_FUNCTIONS:
            return [f"season: {function!r} takes no season; the season functions do"]
        return []


@dataclass(frozen=True)
class PhasesConfig:
    preset: str  # lifecycle | staging | custom
    settings: PhaseSettings
    phases: tuple[Phase, ...]


@dataclass(frozen=True)
class RenewalConfig:
    settings: RenewalSettings
    axes: tuple[Axis, ...]
    strategies: tuple[Strategy, ...]


@dataclass(frozen=True)
class FeatureDefinition:
    """An admin's extra feature, usable by every rule: a column computed from the others
    (expression), or from one usage metric (metric)."""

    name: str
    expression: Expression | None = None
    metric: MetricFeature | None = None


def compile_rules(
    sections: dict[str, Any], data: dict[str, Any], context: dict[str, Any], problems: list[str]
) -> tuple[
    PhasesConfig, RenewalConfig, TaskSettings, tuple[FeatureDefinition, ...], PlaybookSettings
]:
    """The expressions of phases, renewal, tasks, features and playbooks, compiled and checked
    against the columns each may name; a table that failed validation counts as its
    defaults."""
    part = _salvage(sections, data, context)
    phases = _phases(part("phases", PhasesFile), problems)
    renewal = _renewal(part("renewal", RenewalFile), problems)
    tasks = _tasks(part("tasks", TasksFile), phases.settings, problems)
    features = _features(
        sections.get("features") or _rows(data.get("features"), FeatureRow), problems
    )
    health = part("health", HealthConfig)
    measures = [(f"health.measures[{i}]", m) for i, m in enumerate(health.measures)] + [
        (f"health.scorecards[{j}].measures[{i}]", m)
        for j, card in enumerate(health.scorecards)
        for i, m in enumerate(card.measures)
    ]
    own = own_account_columns(data)
    known = _check_columns(measures, features, phases, renewal, tasks, problems, own)
    for name in (renewal.settings.auto_renew, renewal.settings.notice_days):
        if name and name not in known:
            problems.append(
                f"renewal: {name!r} is not a column; map the Account field in "
                '[salesforce.fields] (e.g. auto_renew = "AutoRenew__c") and name its key'
            )
    dates = {*DATE_COLUMNS, *(c for c in own if not c.startswith("days_since_"))}
    clock = phases.settings.clock_start
    if clock not in dates:
        problems.append(
            f'phases.clock_start: {clock!r} is not a date column; use "contract_start" or '
            "the key of a date field of yours in [salesforce.fields] (e.g. go_live = "
            '"GoLive__c", then clock_start = "go_live")'
        )
    playbooks = compile_playbooks(part("playbooks", PlaybooksFile), known, dates, problems)
    return phases, renewal, tasks, features, playbooks


def _salvage(sections: dict[str, Any], data: dict[str, Any], context: dict[str, Any]) -> Any:
    """A table as validated, or, when it failed, built from the keys (and the rows of its
    arrays) that validate on their own, so their expressions are still checked."""

    def part(name: str, model: type[Settings]) -> Any:
        if name in sections:
            return sections[name]
        raw = data.get(name)
        if not isinstance(raw, dict):
            return model.model_construct()
        hints = get_type_hints(model, include_extras=True)
        good: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in hints:
                continue
            adapter = TypeAdapter(hints[key])
            if isinstance(value, list):
                value = [v for v in value if _valid(adapter, [v], context)]
            elif isinstance(value, dict) and key in ("stakeholders", "evaluation", "budget"):
                value = {k: v for k, v in value.items() if _valid(adapter, {k: v}, context)}
            if _valid(adapter, value, context):
                good[key] = adapter.validate_python(value, context=context)
        return model.model_construct(**good)

    return part


def _valid(adapter: TypeAdapter[Any], value: Any, context: dict[str, Any]) -> bool:
    try:
        adapter.validate_python(value, context=context)
    except ValidationError:
        return False
    return True


def _rows(raw: Any, model: type[Settings]) -> tuple[Any, ...]:
    adapter = TypeAdapter(model)
    return tuple(
        adapter.validate_python(row)
        for row in (raw if isinstance(raw, list) else [])
        if _valid(adapter, row, {})
    )


def _collect(problems: list[str], build: Any, *args: Any) -> Any:
    try:
        return build(*args)
    except ExpressionError as error:
        problems.append(str(error))
        return ()


def _phases(file: PhasesFile, problems: list[str]) -> PhasesConfig:
    settings = PhaseSettings(**{k: getattr(file, k) for k in PhaseSettings.model_fields})
    if file.phase:
        rows = [(r.name, r.when, r.step, r.expected_by_month) for r in file.phase]
    else:
        rows = PRESETS[file.preset if file.preset in PRESETS else "lifecycle"](settings)
    phases = [p for row in rows for p in _collect(problems, build_phases, [row])]
    preset = "custom" if file.phase else str(file.preset or "lifecycle")
    return PhasesConfig(preset, settings, tuple(phases))


def _renewal(file: RenewalFile, problems: list[str]) -> RenewalConfig:
    settings = RenewalSettings(**{k: getattr(file, k) for k in RenewalSettings.model_fields})
    axes: list[Axis] = []
    for name, default_levels in DEFAULT_AXES:
        levels = getattr(file, name)
        rows = tuple(levels.items()) if levels else default_levels
        axes.extend(_collect(problems, build_axes, ((name, rows),)))
    strategy_rows = (
        [(s.name, s.when) for s in file.strategy] if file.strategy else list(DEFAULT_STRATEGIES)
    )
    strategies = [s for row in strategy_rows for s in _collect(problems, build_strategies, (row,))]
    return RenewalConfig(settings, tuple(axes), tuple(strategies))


def _tasks(file: TasksFile, phase_settings: PhaseSettings, problems: list[str]) -> TaskSettings:
    presets = preset_rules(phase_settings)
    definitions = {name: presets[name] for name in file.presets if name in presets}
    for row in file.rule:  # a rule named like a preset replaces it
        definitions[row.name] = row.model_dump(exclude_none=True, exclude={"name"})
    defaults = {
        "due_in_business_days": file.due_in_business_days,
        "priority": file.priority,
        "auto_close": file.auto_close,
        "cooldown_days": file.cooldown_days,
    }
    rules = []
    for name, raw in definitions.items():
        try:
            rule = build_rule(name, raw, defaults)
        except ExpressionError as error:
            problems.append(str(error))
            continue
        if rule.trigger == "edge" and not rule.when.names & set(STORED_OUTPUTS):
            problems.append(
                f"tasks.{name}.trigger: an edge trigger compares with the last run, which "
                f"cs-sync knows only for {', '.join(STORED_OUTPUTS)}; this condition names "
                'none of them, so use trigger = "level" with a cooldown_days'
            )
        rules.append(rule)
    limits = {k: getattr(file, k) for k in TaskLimits.model_fields}
    return TaskSettings(**limits, rules=tuple(rules))


def _features(rows: tuple[FeatureRow, ...], problems: list[str]) -> tuple[FeatureDefinition, ...]:
    definitions: list[FeatureDefinition] = []
    for index, row in enumerate(rows):
        if any(d.name == row.name for d in definitions):
            problems.append(f"features[{index}].name: {row.name!r} is defined twice")
            continue
        if row.metric is not None:
            metric = MetricFeature(
                row.name, row.metric, row.function, row.months, row.season, row.level
            )
            definitions.append(FeatureDefinition(row.name, metric=metric))
            continue
        expression = _collect(
            problems, compile_expression, f"features.{row.name}", row.expression or ""
        )
        if expression:
            definitions.append(FeatureDefinition(row.name, expression))
    return tuple(definitions)


def own_account_columns(data: dict[str, Any]) -> list[str]:
    """The columns of the admin's own Account fields ([salesforce.fields] beyond cs-sync's
    keys): each key, and days_since_<key> (filled for date fields)."""
    salesforce = data.get("salesforce")
    fields = salesforce.get("fields") if isinstance(salesforce, dict) else None
    keys = (
        [k for k in fields if k not in SalesforceFields.model_fields]
        if isinstance(fields, dict)
        else []
    )
    return [c for key in keys for c in (key, f"days_since_{key}")]


def _check_columns(
    measures: list[tuple[str, Measure]],
    features: tuple[FeatureDefinition, ...],
    phases: PhasesConfig,
    renewal: RenewalConfig,
    tasks: TaskSettings,
    problems: list[str],
    own: list[str],
) -> list[str]:
    """Every column an expression names exists: a feature sees the built-in features and
    the admin features above it; a phase condition also sees the health results; a renewal
    axis also sees the phase; a strategy also sees the axes."""
    known = [*ACCOUNT_INPUTS, *FEATURE_COLUMNS]
    problems += [
        f"salesforce.fields.{c}: a built-in column has this name; pick another key"
        for c in own
        if c in known
    ]
    known += [c for c in own if c not in known]
    admin = [d.name for d in features]
    # features of usage metrics need no other column: every condition can name them
    known += [d.name for d in features if d.metric is not None and d.name not in known]
    for path, measure in measures:
        if measure.name not in known + admin:
            problems.append(
                f"{path}.name: {measure.name!r} is not a feature; the "
                f"features are: {', '.join(sorted(known + admin))}"
            )
    for definition in features:
        if definition.metric is not None:
            if definition.name in FEATURE_COLUMNS or definition.name in ACCOUNT_INPUTS:
                problems.append(
                    f"features.{definition.name}: a built-in feature has this name; pick another"
                )
            continue
        if definition.name in known:
            problems.append(
                f"features.{definition.name}: a built-in feature has this name; pick another"
            )
            continue
        _check(known, [definition.expression] if definition.expression else [], problems)
        known.append(definition.name)
    known += HEALTH_COLUMNS
    _check(known, [p.when for p in phases.phases], problems)
    known += PHASE_COLUMNS
    fiscal = renewal.settings.fiscal_year_end
    if fiscal and fiscal not in known:
        problems.append(
            f"renewal.fiscal_year_end: {fiscal!r} is not a column; map the Account field that "
            "holds the fiscal-year-end month in [salesforce.fields] (e.g. fiscal_year_end = "
            '"FiscalYearEnd__c") and name its key here'
        )
    _check(known, [e for axis in renewal.axes for _, e in axis.levels], problems)
    known += AXIS_NAMES
    _check(known, [s.when for s in renewal.strategies], problems)
    known += [c for c in RENEWAL_COLUMNS if c not in known]
    _check(known, [r.when for r in tasks.rules], problems)
    for rule in tasks.rules:
        for template in (*rule.subject.values(), *rule.description.values()):
            unknown = sorted(template.names - set(known))
            if unknown:
                problems.append(
                    f"{template.rule}: unknown field {{{unknown[0]}}}; the fields are the "
                    f"columns: {', '.join(sorted(known))}"
                )
    return known


def _check(known: list[str], expressions: list[Expression], problems: list[str]) -> None:
    for expression in expressions:
        try:
            expression.check_columns(known)
        except ExpressionError as error:
            problems.append(str(error))
