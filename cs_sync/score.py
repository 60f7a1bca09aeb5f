"""The pure middle of a run: extracted tables → features → rules → plan.

A function of tables, the configuration and the run's date, nothing else: no connector, no
clock. `run`, `plan`, `backfill`, `backtest` and `explain` all score through here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

import pandas as pd

from cs_sync.config import Config
from cs_sync.errors import ConfigError
from cs_sync.field_history import FieldHistory
from cs_sync.kpis import onboarding_kpis, snapshot_kpis, task_kpis
from cs_sync.plan import Plan, Problem, build_plan
from cs_sync.revenue import (
    TIMELINE_ACCOUNT_COLUMNS,
    TIMELINE_OPPORTUNITY_COLUMNS,
    Timeline,
    arr_timeline,
)
from cs_sync.rules.activity import activity_features, case_features
from cs_sync.rules.calendar import closed_days
from cs_sync.rules.expressions import ExpressionError
from cs_sync.rules.features import (
    FeatureSettings,
    build_features,
    renewal_features,
    stakeholder_features,
)
from cs_sync.rules.health import score_health
from cs_sync.rules.health_reasons import metric_shapes
from cs_sync.rules.phases import assign_phases, phase_order
from cs_sync.rules.playbooks import PlaybookPlan, plan_playbooks, render_steps
from cs_sync.rules.renewal import assign_renewal, busy_month_problems
from cs_sync.rules.sponsors import current_sponsors, sponsor_features
from cs_sync.rules.surveys import survey_features
from cs_sync.rules.task_presets import SEGMENTS
from cs_sync.rules.tasks import new_tasks, tasks_to_close, wanted_pairs


@dataclass
class Extracted:
    """What a run reads: the book of business, its usage, and cs-sync's open Tasks."""

    accounts: pd.DataFrame
    usage: pd.DataFrame
    tasks: pd.DataFrame  # cs-sync Tasks read from Salesforce (see book_reads.task_read)
    opportunities: pd.DataFrame  # see book_reads.opportunity_read
    contact_roles: pd.DataFrame  # see book_reads.role_read
    problems: list[Problem] = field(default_factory=list)
    field_scales: dict[str, int] = field(default_factory=dict)  # Account number field -> scale
    activities: pd.DataFrame | None = None  # see extract_signals.activity_reads
    cases: pd.DataFrame | None = None  # see extract_signals.case_reads
    surveys: pd.DataFrame | None = None  # see extract_signals.read_surveys
    previous_sponsors: pd.DataFrame | None = None  # the last run's, from the history store
    # who holds the sponsors' roles, by run date: worked out once for the features and the
    # history record
    sponsors_by_date: dict[date, pd.DataFrame] = field(default_factory=dict, repr=False)
    timeline: Timeline | None = None  # each account's ARR over time (see timeline_of)
    field_history: FieldHistory | None = None  # tracked fields' changes (backfill, backtest)


def account_features(extracted: Extracted, config: Config, as_of: date) -> pd.DataFrame:
    """Every rule's inputs, one row per account: the built-in features, then the admin's."""
    features = build_features(
        extracted.accounts,
        extracted.usage,
        as_of,
        FeatureSettings(
            onboarding_active_ratio=config.phases.settings.onboarding_active_ratio,
            onboarding_window_months=config.phases.settings.onboarding_window_months,
            monthly_feature=config.usage.monthly_feature,
            seasonal_feature=config.usage.seasonal_feature,
            season_months=config.usage.season_months,
            metric_features=tuple(d.metric for d in config.features if d.metric),
        ),
    )
    accounts, salesforce, surveys = extracted.accounts, config.salesforce, config.surveys
    previous = extracted.previous_sponsors
    compared = previous is not None and not previous.empty
    current = sponsors_now(extracted, config, as_of) if compared else None
    parts = [
        renewal_features(accounts, extracted.opportunities, salesforce.renewal_types, as_of),
        stakeholder_features(accounts, extracted.contact_roles, salesforce.roles.pairs()),
        activity_features(accounts, extracted.activities, as_of, salesforce.activity.days),
        case_features(accounts, extracted.cases, as_of, salesforce.cases.days),
        survey_features(accounts, extracted.surveys, as_of, surveys.months, surveys.scale),
        sponsor_features(accounts, current, previous),
    ]
    # each part is indexed by account_id in the accounts' order: one concatenation, not a
    # join (and a copy of every column) per part
    features = pd.concat([features, *parts], axis=1)
    today = pd.Timestamp(as_of)
    for key in config.salesforce.fields.own_inputs():
        values = features[key]
        dated = pd.api.types.is_datetime64_any_dtype(values)
        features[f"days_since_{key}"] = (today - values).dt.days if dated else float("nan")
    for definition in config.features:  # names and columns were checked at load
        if definition.expression is not None:
            features[definition.name] = _checked(
                partial(definition.expression.evaluate, features), config
            )
    return features


def sponsors_now(extracted: Extracted, config: Config, as_of: date) -> pd.DataFrame:
    """Who holds the economic buyer's and the champion's roles on each account now."""
    if as_of not in extracted.sponsors_by_date:
        extracted.sponsors_by_date.clear()  # one date kept: a backfill moves on
        extracted.sponsors_by_date[as_of] = current_sponsors(
            extracted.contact_roles, config.salesforce.roles.pairs(), as_of
        )
    return extracted.sponsors_by_date[as_of]


def timeline_of(extracted: Extracted, config: Config) -> Timeline:
    """Each account's ARR over time, read off the opportunities (worked out once)."""
    if extracted.timeline is None:
        extracted.timeline = timeline_later(extracted, config)()
    return extracted.timeline


def timeline_later(extracted: Extracted, config: Config) -> Callable[[], Timeline]:
    """How to make the timeline of `extracted` (timeline_of) when it is first needed, holding
    only the columns it reads. A run's dashboards need it, after the writes: made with the
    plan, its making was the rules stage's peak (47 MiB over the scored table and every
    record read, at 100,000 accounts); made by the dashboards, the records are gone by then
    but for the opportunities' columns it reads."""
    if extracted.timeline is not None:
        made = extracted.timeline
        return lambda: made
    accounts = extracted.accounts
    salesforce = config.salesforce
    return partial(
        arr_timeline,
        extracted.opportunities[list(TIMELINE_OPPORTUNITY_COLUMNS)],  # shared, not copied
        accounts[[c for c in TIMELINE_ACCOUNT_COLUMNS if c in accounts]],
        salesforce.renewal_types,
        salesforce.expansion_types,
        salesforce.new_business_types,
    )


def _checked(evaluate: Callable[[], Any], config: Config) -> Any:
    """An expression's value; its error becomes a configuration error (exit code 2)."""
    try:
        return evaluate()
    except ExpressionError as error:
        raise ConfigError(str(config.path), [str(error)]) from None


def months_since(dates: pd.Series, as_of: date) -> pd.Series:
    """Whole calendar months from each date's month to the run's (missing where no date)."""
    day = pd.to_datetime(dates, errors="coerce")
    return (as_of.year - day.dt.year) * 12 + (as_of.month - day.dt.month)


def closed_days_for(config: Config, as_of: date) -> frozenset[date]:
    """Public holidays and company closures for the run's year and the next."""
    return closed_days(
        config.holiday_country, config.company_closed, range(as_of.year, as_of.year + 2)
    )


def health_of(
    extracted: Extracted, config: Config, as_of: date, with_reasons: bool = True
) -> pd.DataFrame:
    """Features and health for every account read (a backtest needs no more, nor the
    reasons' sentences)."""
    features = account_features(extracted, config, as_of)
    shapes = metric_shapes(d.metric for d in config.features if d.metric)
    shapes |= {
        f"days_since_{key}": ("days_ago", 0) for key in config.salesforce.fields.own_inputs()
    }
    return score_health(features, config.health, as_of, config.language, shapes, with_reasons)


def score_accounts(extracted: Extracted, config: Config, as_of: date) -> pd.DataFrame:
    """Features, health, phase and renewal strategy for every account read."""
    scored = health_of(extracted, config, as_of)
    phases = config.phases.phases
    clock = config.phases.settings.clock_start
    if clock != "contract_start":
        scored = scored.assign(phase_clock_months=months_since(scored[clock], as_of))
    column = "months_since_start" if clock == "contract_start" else "phase_clock_months"
    scored = scored.join(_checked(lambda: assign_phases(scored, phases, column), config))
    renewal = config.renewal
    closed = closed_days_for(config, as_of)
    return scored.join(
        _checked(
            lambda: assign_renewal(
                scored,
                renewal.axes,
                renewal.strategies,
                renewal.settings,
                as_of,
                config.language,
                closed,
            ),
            config,
        )
    )


def compute_plan(extracted: Extracted, config: Config, as_of: date) -> Plan:
    scored = score_accounts(extracted, config, as_of).reset_index(drop=True)
    settings = config.tasks
    closed = closed_days_for(config, as_of)
    wanted = _checked(lambda: wanted_pairs(scored, settings), config)
    playbooks = _checked(
        lambda: (
            plan_playbooks(
                scored,
                extracted.tasks,
                config.playbooks,
                as_of,
                config.language,
                closed,
                settings.default_owner_id,
            )
            if settings.enabled
            else PlaybookPlan.empty()
        ),
        config,
    )
    made = new_tasks(
        wanted,
        scored,
        extracted.tasks,
        settings,
        as_of,
        config.language,
        closed,
        playbooks.steps,
        lambda chosen: render_steps(chosen, scored, config.playbooks, config.language),
    )
    plan = build_plan(scored, made.tasks, config.salesforce.fields, as_of, extracted.field_scales)
    plan.existing_tasks = extracted.tasks
    plan.sponsors = sponsors_now(extracted, config, as_of)
    plan.timeline_maker = timeline_later(extracted, config)
    plan.tasks_wanted = len(made.tasks) + sum(made.held_back.values())
    plan.problems = extracted.problems + [
        Problem(
            "task_owner",
            account,
            f"no active owner for the task on {name}: the owner and sub CSM are inactive "
            "and tasks.default_owner_id is not set",
        )
        for account, name in made.no_owner
    ]
    field = config.salesforce.fields.busy_months
    plan.problems += [
        Problem(
            "busy_months",
            account,
            f"{field} = {text!r}: {', '.join(repr(b) for b in bad)} is not a month, so the "
            "renewal plan leaves it out; write busy months as 3,12 or 3月・12月 (ranges such "
            "as 11-2 work too)",
        )
        for account, text, bad in busy_month_problems(extracted.accounts)
    ]
    fiscal = config.renewal.settings.fiscal_year_end
    if fiscal in extracted.accounts:
        plan.problems += [
            Problem(
                "busy_months",
                account,
                f"{fiscal} = {text!r} (renewal.fiscal_year_end): not one month, so no busy "
                "months come from it; write the fiscal-year-end month as 3 or 3月",
            )
            for account, text, _ in busy_month_problems(extracted.accounts, fiscal, single=True)
        ]
    plan.problems += unknown_values(plan.scored, config)
    if made.held_back:
        # The caps limit new tasks, not what the rules want: the rest come in later runs,
        # and their accounts' open tasks are not mistaken for cleared conditions.
        held = ", ".join(f"{rule} {n}" for rule, n in made.held_back.items())
        plan.problems.append(
            Problem(
                "task_cap",
                None,
                f"{sum(made.held_back.values())} more task(s) wanted than tasks.max_per_run = "
                f"{settings.max_per_run} / max_per_owner = {settings.max_per_owner} allow "
                f"({held}); they are created in the next runs",
            )
        )
    open_tasks = extracted.tasks[~extracted.tasks["is_closed"].astype(bool)]
    closes = tasks_to_close(open_tasks, wanted, plan.scored, settings, as_of, config.language)
    plan.closes = (
        pd.concat([closes, playbooks.closes], ignore_index=True)
        if len(playbooks.closes)
        else closes
    )
    plan.playbooks = playbooks.instances
    return plan


def unknown_values(scored: pd.DataFrame, config: Config) -> list[Problem]:
    """Values no rule understands, one problem per value: a segment the presets and rules do
    not serve, or a value a text measure has no share for. Both would silently count for
    nothing, so each is named with its fix."""
    fields = config.salesforce.fields
    api_names = {
        "segment": fields.segment,
        "budget_status": fields.budget_status,
        "sentiment": fields.sentiment,
        **fields.own_inputs(),
    }
    served = {*SEGMENTS, *(s for r in config.tasks.rules for s in r.segments)}
    served |= {s for card in config.health.scorecards for s in card.segments}
    checks = [("segment", sorted(served))] + [
        (m.name, [text for text, _ in m.values])
        for m in config.health.every_measure()
        if m.kind == "values"
    ]
    problems = []
    for column, known in checks:  # a segment measured by values is checked both ways
        values = scored[column].dropna()
        values = values[values.astype(str) != ""]
        for value, count in values[~values.isin(known)].value_counts().items():
            example = scored.loc[values.index[values == value][0], "name"]
            if column in api_names:
                where = f"Account field {api_names[column]}"
                fix = f'map it in [salesforce.values] as {column} = {{ {value!r} = "..." }}'
            else:
                where = f"feature {column}"
                fix = "give it a share in the measure's values"
            problems.append(
                Problem(
                    "unknown_value",
                    None,
                    f"{where} = {value!r} on {count} account(s) (e.g. {example}): no rule "
                    f"knows this value (known: {', '.join(map(str, known))}); {fix}",
                )
            )
    return problems


def day_kpis(
    scored: pd.DataFrame,
    config: Config,
    as_of: date,
    tasks_created: int,
    new: pd.DataFrame | None = None,
    tasks: pd.DataFrame | None = None,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The day's KPI rows: the book's state, onboarding, and (for a run) Tasks per CSM."""
    frames = [
        snapshot_kpis(
            scored,
            [g for g, _ in config.health.grades],
            config.health.at_risk,
            as_of,
            tasks_created,
            phase_order(config.phases.phases),
            [s.name for s in config.renewal.strategies],
        ),
        onboarding_kpis(scored, config.phases.settings.onboarding_window_months, as_of),
    ]
    if new is not None and tasks is not None:
        frames.append(task_kpis(new, tasks, as_of, labels))
    return pd.concat(frames, ignore_index=True)
