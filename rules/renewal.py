"""Renewal strategy from three axes, and a plan counted back from the renewal date.

Axes, each a level picked by the first condition that holds:
- stakeholders: is the Economic Buyer engaged, is there a Champion (strong / partial / weak);
- evaluation: how the customer rates the product: health grade and CSM sentiment
  (good / fair / poor);
- budget: next year's budget (secured / planned / unknown / cut).
The strategy is the first rule whose condition over the axes holds (very aggressive,
aggressive, passive, rescue by default): an ordered rule list is the matrix, written so that
the exceptions (rescue) come first.

The plan, for renewals within `plan_days`: the customer's approval (ringi) starts its lead time
before the renewal date (for a contract that renews itself, before its notice deadline: the
customer must decide before then); the quote, the proposal and the value review each come a
set number of days before the step after them. A step that lands in one of the customer's
busy months moves back to the last business day before it; weekends, public holidays and
company closures are skipped the same way. The next action is the step after the one the
renewal opportunity's stage shows under way (`renewal_steps_done`: how many steps that is); a
step whose date has passed is due now and marked overdue. The renewal playbooks turn these
steps into Tasks (playbook_presets.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Strict

from cs_sync.rules.arrays import lookup
from cs_sync.rules.calendar import workable
from cs_sync.rules.expressions import Columns, Expression, compile_expression
from cs_sync.settings import Between, Settings, parse_months


@dataclass(frozen=True)
class Axis:
    name: str  # a column the strategy rules can name
    levels: tuple[tuple[str, Expression], ...]  # first met wins; the last is the fallback


@dataclass(frozen=True)
class Strategy:
    name: str
    when: Expression


class RenewalSettings(Settings):
    """How the renewal plan is counted back from the renewal date, and which opportunity
    stages show each step under way."""

    plan_days: Annotated[int, Between(1, 730)] = 180
    """Renewals within this many days get a strategy, a plan and a next action."""
    default_approval_lead_days: Annotated[int, Between(0, 365)] = 30
    """The customer's approval starts this many days before renewal when
    CS_Approval_Lead_Days__c is empty."""
    quote_days: Annotated[int, Between(0, 180)] = 14
    """The quote goes out this many days before approval starts."""
    proposal_days: Annotated[int, Between(0, 180)] = 21
    """The proposal, this many days before the quote."""
    value_review_days: Annotated[int, Between(0, 180)] = 30
    """The value review, this many days before the proposal."""
    stage_value_review: str = "Value Review"
    """The renewal opportunity's StageName that shows the value review under way."""
    stage_proposal: str = "Proposal"
    """The StageName that shows the proposal under way."""
    stage_quote: str = "Quote"
    """The StageName that shows the quote under way."""
    stage_approval: str = "Customer Approval"
    """The StageName that shows the customer's approval under way."""
    fiscal_year_end: str = ""
    """The column holding each customer's fiscal-year-end month (決算月: 3, "3月", "３"), e.g.
    your own Account field mapped as salesforce.fields.fiscal_year_end; "" for none."""
    fiscal_busy_months: Annotated[tuple[Annotated[int, Between(-11, 11)], ...], Strict(False)] = (
        0,
    )
    """Which months around the fiscal-year end count as busy: 0 the month itself, 1 the
    next (closing the books), -1 the one before."""
    auto_renew: str = ""
    """The column saying a contract renews itself unless cancelled (自動更新: a checkbox
    mapped in [salesforce.fields], e.g. auto_renew = "AutoRenew__c"); "" for none. Such a
    renewal is planned back from its notice deadline, not the renewal date."""
    notice_days: str = ""
    """The column holding the days of notice before the renewal date a cancellation needs
    (解約予告期間), e.g. notice_days = "NoticeDays__c"; "" for none."""
    default_notice_days: Annotated[int, Between(0, 365)] = 30
    """The notice period of an auto-renewing contract whose notice_days is empty."""


DEFAULT_AXES = (
    (
        "stakeholders",
        (
            ("strong", "economic_buyer > 0 and champion > 0"),
            ("partial", "economic_buyer > 0 or champion > 0"),
            ("weak", "true"),
        ),
    ),
    (
        "evaluation",
        (
            ("poor", 'grade == "D" or sentiment == "Negative"'),
            ("good", 'grade in ["A", "B"] and sentiment != "Negative"'),
            ("fair", "true"),
        ),
    ),
    (
        "budget",
        (
            ("cut", 'budget_status == "Cut"'),
            ("secured", 'budget_status == "Secured"'),
            ("planned", 'budget_status == "Planned"'),
            ("unknown", "true"),
        ),
    ),
)
DEFAULT_STRATEGIES = (
    ("Rescue", 'evaluation == "poor" or budget == "cut"'),
    (
        "Very aggressive",
        'stakeholders == "strong" and evaluation == "good" and budget == "secured"',
    ),
    ("Aggressive", 'stakeholders != "weak" and budget in ["secured", "planned"]'),
    ("Passive", "true"),
)
AXIS_NAMES = tuple(name for name, _ in DEFAULT_AXES)

MAX_LEAD_DAYS = 365
STEPS = ("value_review", "proposal", "quote", "approval")
STEP_LABELS = {
    "en": {
        "value_review": "Value review",
        "proposal": "Proposal",
        "quote": "Quote",
        "approval": "Customer approval",
        "close": "Renewal closes",
        "notice": "Notice deadline",
        "overdue": "overdue since",
    },
    "ja": {
        "value_review": "価値レビュー",
        "proposal": "提案",
        "quote": "見積提示",
        "approval": "稟議・承認依頼",
        "close": "更新締結",
        "notice": "解約予告期限",
        "overdue": "予定日超過",
    },
}
OUTPUT_COLUMNS = (
    *AXIS_NAMES,
    "renewal_strategy",
    *(f"plan_{step}" for step in STEPS),
    "next_action",
    "next_action_date",
    "next_action_overdue",
    "renewal_steps_done",
    "renewal_anchor",
)


def build_axes(rows: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]) -> tuple[Axis, ...]:
    return tuple(
        Axis(
            name,
            tuple(
                (level, compile_expression(f"renewal.{name}.{level}", text))
                for level, text in levels
            ),
        )
        for name, levels in rows
    )


def build_strategies(rows: tuple[tuple[str, str], ...]) -> tuple[Strategy, ...]:
    return tuple(
        Strategy(name, compile_expression(f"renewal.strategy.{name}.when", when))
        for name, when in rows
    )


def _first_met(columns: Columns, choices: list[tuple[str, Expression]]) -> pd.Series:
    """The first choice whose condition each row meets (missing where none)."""
    names = list(dict.fromkeys(value for value, _ in choices))
    codes = np.full(len(columns.index), -1, dtype=np.int64)
    undecided = np.ones(len(columns.index), dtype=bool)
    for value, condition in choices:
        met = undecided & condition.condition(columns).to_numpy()
        codes[met] = names.index(value)
        undecided &= ~met
    held = sorted({names[c] for c in np.unique(codes[codes >= 0])})  # as pd.Categorical sorts
    position = np.array([held.index(n) if n in held else -1 for n in names] + [-1])
    return pd.Series(pd.Categorical.from_codes(position[codes], held), index=columns.index)


def assign_renewal(
    table: pd.DataFrame,
    axes: tuple[Axis, ...],
    strategies: tuple[Strategy, ...],
    settings: RenewalSettings,
    as_of: date,
    language: str,
    closed: frozenset[date] = frozenset(),
) -> pd.DataFrame:
    """Axis levels, strategy, the dated plan and the next action, for accounts whose renewal
    is within `plan_days` (the others get none). Needs the columns the conditions name,
    renewal_date, busy_months, approval_lead_days and renewal_stage."""
    out = pd.DataFrame(index=table.index)
    columns = Columns(table)
    for axis in axes:
        out[axis.name] = _first_met(columns, list(axis.levels))
    strategy = _first_met(columns.with_columns(out), [(s.name, s.when) for s in strategies])

    today = np.datetime64(as_of, "D")
    renewal = pd.to_datetime(table["renewal_date"], errors="coerce").to_numpy("datetime64[D]")
    notice = _notice_days(table, settings)
    renewal = renewal - notice.astype("timedelta64[D]")  # the notice deadline, if any
    in_window = (renewal >= today) & (renewal <= today + settings.plan_days)
    out["renewal_anchor"] = pd.Series(
        np.where(in_window, renewal, np.datetime64("NaT")), index=table.index
    )
    out["renewal_strategy"] = strategy.astype(object).where(in_window, None)

    holidays = np.array(sorted(closed), dtype="datetime64[D]")
    busy = _busy_masks(table["busy_months"])
    if settings.fiscal_year_end:
        busy |= _fiscal_masks(table[settings.fiscal_year_end], settings.fiscal_busy_months)
    lead = pd.to_numeric(table["approval_lead_days"], errors="coerce").to_numpy(dtype=float)
    lead = np.where(np.isnan(lead) | (lead < 0), settings.default_approval_lead_days, lead)
    lead = np.minimum(lead, MAX_LEAD_DAYS)  # a typo of 3000 days must not plan years ahead
    gaps = {
        "approval": lead.astype(np.int64),
        "quote": settings.quote_days,
        "proposal": settings.proposal_days,
        "value_review": settings.value_review_days,
    }
    planned: dict[str, np.ndarray] = {}
    later = np.where(in_window, renewal, today)  # placeholders outside the window
    for step in reversed(STEPS):
        later = workable(later - gaps[step], busy, holidays)
        planned[step] = later
        out[f"plan_{step}"] = pd.Series(
            np.where(in_window, later, np.datetime64("NaT")), index=table.index
        )

    under_way = _step_under_way(table["renewal_stage"], settings)
    next_step = under_way + 1  # 0 = value review … 4 = the renewal itself
    out["renewal_steps_done"] = pd.Series(
        np.where(in_window, next_step, 0), index=table.index, dtype=np.int64
    )
    out["busy_mask"] = busy  # the customer's busy months as bits (bit 0 = January)
    dates = np.column_stack([planned[step] for step in STEPS] + [renewal])
    next_date = dates[np.arange(len(table)), np.minimum(next_step, len(STEPS))]
    overdue = next_date < today
    due = np.where(
        overdue, np.busday_offset(today, 0, roll="forward", holidays=holidays), next_date
    )
    labels = STEP_LABELS[language]
    names = np.array([labels[step] for step in (*STEPS, "close")], dtype=object)
    action = names[np.minimum(next_step, len(STEPS))]
    action[(next_step >= len(STEPS)) & (notice > 0)] = labels["notice"]
    late = overdue & in_window
    since = np.datetime_as_string(next_date[late], unit="D").astype(object)
    if language == "ja":
        action[late] = action[late] + f"（{labels['overdue']} " + since + "）"
    else:
        action[late] = action[late] + f" ({labels['overdue']} " + since + ")"
    out["next_action"] = pd.Series(np.where(in_window, action, None), index=table.index)
    out["next_action_overdue"] = late
    out["next_action_date"] = pd.Series(
        np.where(in_window, due, np.datetime64("NaT")), index=table.index
    )
    return out


def _notice_days(table: pd.DataFrame, settings: RenewalSettings) -> np.ndarray:
    """Days of notice before each renewal date (0 where the contract does not renew itself)."""
    if not settings.auto_renew:
        return np.zeros(len(table), dtype=np.int64)
    auto = table[settings.auto_renew].fillna(False).astype(bool).to_numpy()
    days = np.full(len(table), float(settings.default_notice_days))
    if settings.notice_days:
        given = pd.to_numeric(table[settings.notice_days], errors="coerce").to_numpy(float)
        days = np.where(np.isnan(given) | (given < 0), days, np.minimum(given, 365))
    return np.where(auto, days, 0).astype(np.int64)


def _busy_masks(texts: pd.Series) -> np.ndarray:
    """A 12-bit mask of busy months per account, from text as teams type it ("3,12",
    "３，１２", "3月・12月", "11-2"). A part that is no month does not stop the plan; the
    run reports it by account (busy_month_problems)."""

    def mask(text: object) -> int:
        bits = 0
        for month in parse_months(str(text or ""))[0]:
            bits |= 1 << (month - 1)
        return bits

    codes, distinct = pd.factorize(texts.fillna(""))
    table = np.array([mask(text) for text in distinct] + [0], dtype=np.int64)
    return table[codes]  # code -1 (missing) picks the trailing 0


def _fiscal_masks(months: pd.Series, offsets: tuple[int, ...]) -> np.ndarray:
    """The busy months around each customer's fiscal-year-end month (none where unknown)."""

    def mask(value: object) -> int:
        found = parse_months(_month_text(value))[0]
        if len(found) != 1:
            return 0
        return sum(1 << ((found[0] - 1 + offset) % 12) for offset in set(offsets))

    codes, distinct = pd.factorize(months)
    table = np.array([mask(value) for value in distinct] + [0], dtype=np.int64)
    return table[codes]


def _month_text(value: object) -> str:
    """A month as a number field holds it (3.0) or as text ("3月")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None or value != value else str(value)


def busy_month_problems(
    accounts: pd.DataFrame, column: str = "busy_months", single: bool = False
) -> list[tuple[str, str, list[str]]]:
    """(account_id, the text, its parts that are no month) for every account whose busy
    months (in `column`) cannot all be read; `single`: the column holds one month (the
    fiscal-year end), so several months are wrong too."""
    found = []
    texts = accounts[column].map(_month_text)
    for text in texts.unique():
        months, bad = parse_months(text) if text.strip() else ([], [])
        if single and len(months) > 1:
            bad = [text]
        if bad:
            for account in accounts.loc[texts == text, "account_id"]:
                found.append((str(account), text, bad))
    return found


def _step_under_way(stages: pd.Series, settings: RenewalSettings) -> np.ndarray:
    """-1 when no step is under way yet, else the index in STEPS of the stage's step."""
    by_stage = {
        settings.stage_value_review: 0,
        settings.stage_proposal: 1,
        settings.stage_quote: 2,
        settings.stage_approval: 3,
    }
    return lookup(stages, by_stage, missing=-1).astype(np.int64)
