"""Revenue KPIs by period from Salesforce's own opportunities, right on the first run: NRR,
GRR, expansion, contraction, revenue and logo churn, renewal rate, by month, fiscal
quarter and fiscal year and over twelve months (shared/DOMAIN.md's definitions; the cohort
is the accounts paying when the period starts).

Each account's ARR over time is read off its closed opportunities, in close-date order:
a won New Business or renewal opportunity sets the ARR to its amount (a renewal's amount is
the next term's ARR), a won expansion adds its amount, a lost renewal ends it. Before the
first of them, or where an amount cannot be placed, the ARR is worked back from the
Account's ARR field today (an expansion subtracted, a renewal taken as renewing at the same
ARR). A period's movements are then those of the accounts between its two ends, exactly as
the history's snapshots give them (kpis.arr_movements), which replace these figures where
the history covers a period.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from cs_sync.kpis import arr_movements, phase_moves, with_steps
from cs_sync.rules.phases import Phase

GRAINS = ("month", "quarter", "fiscal_year", "ttm")
PERIOD_COLUMNS = [
    "period_start",
    "period_end",
    "period",
    "grain",
    "complete",
    "metric",
    "dimension",
    "value",
    "basis",
]
Movements = dict[tuple[str, str], float]  # (metric, dimension) -> value


@dataclass(frozen=True)
class Period:
    grain: str  # month, quarter, fiscal_year, ttm
    label: str  # 2026-10, FY2026 Q3, FY2026, TTM 2026-10
    start: date
    end: date  # the last day counted: the run date for a period under way
    complete: bool


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _month_end(start: date, months: int) -> date:
    return _month_start(start, -months) - timedelta(days=1)


def fiscal_year_of(day: date, start_month: int) -> int:
    """The fiscal year `day` falls in, named by the calendar year it starts in (2026年度 runs
    from April 2026 to March 2027 when the year starts in April)."""
    return day.year if day.month >= start_month else day.year - 1


def periods(as_of: date, fiscal_start: int = 4, months: int = 13) -> list[Period]:
    """The periods a dashboard shows on `as_of`: the last `months` complete months and the
    one under way, the fiscal quarters of the last year and the one under way, the last
    complete fiscal year and the one under way, and the twelve months ending with each
    complete month."""
    this_month = _month_start(as_of)
    found = []
    for back in range(months, -1, -1):
        start = _month_start(as_of, back)
        end = min(_month_end(start, 1), as_of)
        found.append(Period("month", f"{start:%Y-%m}", start, end, start < this_month))
    year = fiscal_year_of(as_of, fiscal_start)
    fiscal_start_day = date(year, fiscal_start, 1)
    quarter_now = (this_month.year * 12 + this_month.month - fiscal_start_day.month) % 12 // 3
    current_quarter = _month_start(fiscal_start_day, -3 * quarter_now)
    for back in range(4, -1, -1):
        start = _month_start(current_quarter, 3 * back)
        end = min(_month_end(start, 3), as_of)
        number = (start.year * 12 + start.month - fiscal_start) % 12 // 3 + 1
        label = f"FY{fiscal_year_of(start, fiscal_start)} Q{number}"
        found.append(Period("quarter", label, start, end, back > 0))
    for fiscal_year in (year - 1, year):
        start = date(fiscal_year, fiscal_start, 1)
        end = min(_month_end(start, 12), as_of)
        found.append(Period("fiscal_year", f"FY{fiscal_year}", start, end, fiscal_year < year))
    for back in range(months, 0, -1):
        last = _month_start(as_of, back)
        start = _month_start(last, 11)
        found.append(Period("ttm", f"TTM {last:%Y-%m}", start, _month_end(last, 1), True))
    return found


class Timeline:
    """Each account's ARR after each of its closed opportunities (`steps`: account_id, day,
    arr, sorted by account and day), and its ARR before the first of them (`before`, by
    account_id: every account); `renewals`: the closed renewals (account_id, day, won) for
    the renewal rate; `contract_start` by account_id (NaT when unknown)."""

    def __init__(
        self,
        steps: pd.DataFrame,
        before: pd.Series,
        renewals: pd.DataFrame,
        contract_start: pd.Series,
    ) -> None:
        self.steps, self.before, self.renewals = steps, before, renewals
        self.contract_start = contract_start
        # numpy views for arr_on: each step's account as a position in `before`, the first
        # step of each account, and the days as integers
        self._account = before.index.get_indexer(steps["account_id"])
        self._day = steps["day"].to_numpy(dtype="datetime64[ns]").view(np.int64)
        self._arr = steps["arr"].to_numpy(dtype=float)
        self._first = np.zeros(len(before), dtype=np.int64)
        if len(self._account):
            starts = np.flatnonzero(np.r_[True, self._account[1:] != self._account[:-1]])
            self._first[self._account[starts]] = starts
        self._started = (
            contract_start.reindex(before.index).to_numpy(dtype="datetime64[ns]").view(np.int64)
        )
        self._on: dict[date, pd.Series] = {}

    def arr_on(self, day: date) -> pd.Series:
        """Each account's ARR at the end of `day`, by account_id (nothing before its
        contract started, when the Account says when that was); worked out once a day."""
        if day not in self._on:
            if len(self._on) >= 64:  # a dashboard's period ends; a backfill moves on
                self._on.clear()
            moment = pd.Timestamp(day).value
            done = self._day <= moment  # steps are sorted by day within each account
            count = np.bincount(self._account[done], minlength=len(self.before))
            latest = self._first + count - 1
            base = self.before.to_numpy(dtype=float)
            not_yet = (self._started != np.iinfo(np.int64).min) & (self._started > moment)
            base = np.where(not_yet, 0.0, base)
            arr = np.where(
                count > 0, self._arr[np.maximum(latest, 0)] if len(self._arr) else 0.0, base
            )
            self._on[day] = pd.Series(arr, index=self.before.index)
        return self._on[day]


# what arr_timeline reads of the opportunities and the accounts
TIMELINE_OPPORTUNITY_COLUMNS = ("account_id", "type", "close_date", "amount", "is_closed", "is_won")
TIMELINE_ACCOUNT_COLUMNS = ("account_id", "arr", "contract_start")


def arr_timeline(
    opportunities: pd.DataFrame,
    accounts: pd.DataFrame,
    renewal_types: tuple[str, ...],
    expansion_types: tuple[str, ...],
    new_business_types: tuple[str, ...],
) -> Timeline:
    """`opportunities`: account_id, type, close_date, amount, is_closed, is_won (as read);
    `accounts`: account_id, arr (the ARR field today) and contract_start of the accounts
    read."""
    kinds = {
        **dict.fromkeys(new_business_types, 0),
        **dict.fromkeys(renewal_types, 1),
        **dict.fromkeys(expansion_types, 2),
    }
    # the closed opportunities' columns as arrays, sorted by account (by id, as text), day
    # and kind: the accounts' ids compared as numbers into their distinct ids, never a copy
    # of the table (some 75 MB at a peak for 430,000 opportunities)
    kind_of = opportunities["type"].map(kinds)
    take = np.flatnonzero(opportunities["is_closed"].to_numpy(dtype=bool) & kind_of.notna())
    day = pd.to_datetime(opportunities["close_date"].take(take), errors="coerce").to_numpy()
    kind = kind_of.to_numpy(dtype=np.float64)[take].astype(np.int64)
    won = opportunities["is_won"].to_numpy(dtype=bool)[take]
    # a lost New Business or expansion changes nothing; an amount-less win is not placed
    placed = ~np.isnat(day) & (won | (kind == 1))
    take, day, kind, won = take[placed], day[placed], kind[placed], won[placed]
    ids = opportunities["account_id"].take(take).astype(str).reset_index(drop=True)
    first_seen, distinct = pd.factorize(ids)
    rank = np.empty(len(distinct) + 1, dtype=np.int64)  # each id's place in id order
    rank[np.argsort(np.asarray(distinct, dtype=object), kind="stable")] = np.arange(len(distinct))
    rank[-1] = len(distinct)  # no account: last
    order = np.lexsort((kind, day.view(np.int64), rank[first_seen]))
    take, day, kind, won = take[order], day[order], kind[order], won[order]
    account = ids.take(order).reset_index(drop=True)
    del ids, first_seen, distinct, rank, order
    codes, names = pd.factorize(account)
    amount = pd.to_numeric(opportunities["amount"].take(take), errors="coerce").to_numpy(float)
    del take
    now = pd.to_numeric(accounts.set_index("account_id")["arr"], errors="coerce")
    now = now[~now.index.duplicated()]
    arr_now = now.reindex(names).to_numpy(dtype=float)
    arr_after, first, odd = _steps(codes, kind, won, amount, arr_now)
    # the rare account with an amount missing or negative: the plain walk, event by event
    for code in np.flatnonzero(odd):
        rows = np.flatnonzero(codes == code)
        listed = [(names[code], int(kind[i]), bool(won[i]), float(amount[i])) for i in rows]
        arr_after[rows], first[code] = _account_steps(listed, arr_now[code])
    steps = pd.DataFrame({"account_id": account, "day": day, "arr": arr_after})
    known = now.fillna(0.0)
    base = pd.Series(first, index=pd.Index(names, dtype=str), dtype=float)
    base = pd.concat([base, known[~known.index.isin(base.index)]])  # no opportunity at all
    base = base[~base.index.duplicated()]
    renewal = kind == 1
    renewals = pd.DataFrame(
        {
            "account_id": account[renewal].reset_index(drop=True),
            "day": day[renewal],
            "won": won[renewal],
        }
    )
    starts = accounts.set_index("account_id").get("contract_start")
    started = pd.to_datetime(starts, errors="coerce") if starts is not None else None
    if started is None:
        started = pd.Series(pd.NaT, index=now.index)
    return Timeline(steps, base, renewals, started[~started.index.duplicated()])


def _steps(
    codes: np.ndarray, kind: np.ndarray, won: np.ndarray, amount: np.ndarray, arr_now: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_account_steps for every account at once (events sorted by account and day): the ARR
    after each event, each account's ARR before its first, and the accounts whose amounts
    (missing, or a negative expansion) need the plain walk instead."""
    accounts = len(arr_now)
    count = len(codes)
    if count == 0:
        return np.empty(0), np.empty(0), np.zeros(0, dtype=bool)
    sets = (kind <= 1) & won | (kind == 1) & ~won  # a first contract or renewal decides it
    value = np.where(won, amount, 0.0)
    adds = np.where((kind == 2) & won, amount, 0.0)
    odd = np.zeros(accounts, dtype=bool)
    odd[codes[np.isnan(value) & (sets | (kind == 2))]] = True
    odd[codes[adds < 0]] = True
    adds = np.nan_to_num(adds)
    total = np.cumsum(adds)
    index = np.arange(count)
    last_set = np.maximum.accumulate(np.where(sets, index, -1)) if count else index
    start = np.ones(count, dtype=bool)
    start[1:] = codes[1:] != codes[:-1]
    first_row = np.maximum.accumulate(np.where(start, index, 0)) if count else index
    del start
    decided = last_set >= first_row  # a deciding event earlier in the same account
    anchor_row = np.where(decided, last_set, 0)
    del last_set
    after = np.where(decided, value[anchor_row] + total - total[anchor_row], np.nan)
    del anchor_row
    # before an account's first deciding event: worked back from it, or from today's field
    has_set = np.zeros(accounts, dtype=bool)
    has_set[codes[sets]] = True
    first_set = np.full(accounts, count, dtype=np.int64)
    np.minimum.at(first_set, codes[sets], index[sets])
    safe = np.minimum(first_set, max(count - 1, 0))
    at_first = np.where(
        kind[safe] == 0, 0.0, np.where(won[safe], value[safe], np.nan_to_num(amount[safe]))
    )
    now = np.where(np.isnan(arr_now), 0.0, arr_now)
    anchor = np.where(has_set, at_first, now)
    prefix = ~decided
    prefix_total = np.bincount(codes[prefix], weights=adds[prefix], minlength=accounts)
    # an expansion before the anchor: the anchor less the expansions after it, not below 0
    later = np.bincount(codes, weights=np.where(prefix, adds, 0.0), minlength=accounts)
    upto = total - (total[first_row] - adds[first_row])  # the account's adds so far
    after = np.where(prefix, np.maximum(anchor[codes] - (later[codes] - upto), 0.0), after)
    return after, np.maximum(anchor - prefix_total, 0.0), odd


def _account_steps(
    rows: list[tuple[str, int, bool, float]], arr_now: float
) -> tuple[list[float], float]:
    """One account's ARR after each event (kinds: 0 New Business, 1 renewal, 2 expansion)
    and before the first: forward where an amount sets it, then back from today's ARR field
    where it cannot. The plain walk: _steps does the same for every account at once."""
    after: list[float | None] = []
    arr: float | None = None
    for _, kind, won, amount in rows:
        value = None if amount != amount else float(amount)  # NaN: no amount
        if kind in (0, 1) and won:
            arr = value
        elif kind == 1:  # a lost renewal: nothing is paid after it
            arr = 0.0
        elif arr is not None and value is not None:
            arr += value
        else:
            arr = None
        after.append(arr)
    known_now = arr_now == arr_now  # not NaN
    current = after[-1] if after[-1] is not None else (arr_now if known_now else 0.0)
    for index in range(len(rows) - 1, -1, -1):
        if after[index] is None:
            after[index] = current
        current = after[index] or 0.0
        earlier = after[index - 1] if index > 0 else None
        if earlier is not None:
            current = earlier
            continue
        _, kind, won, amount = rows[index]
        value = 0.0 if amount != amount else float(amount)
        if kind == 0:
            current = 0.0  # nothing was paid before the first contract
        elif kind == 1 and not won:
            current = value  # the ARR that was up for renewal
        elif kind == 2:
            current = max(current - value, 0.0)
        # a won renewal whose earlier ARR is not known renews at the same ARR
    return [float(a or 0.0) for a in after], current


def revenue_movements(timeline: Timeline, period: Period) -> Movements:
    """The period's movements from the opportunities (see kpis.arr_movements), with the
    renewal rate of the cohort's renewals closed in the period."""
    opening = timeline.arr_on(period.start - timedelta(days=1))
    closing = timeline.arr_on(period.end)
    start = pd.DataFrame({"arr": opening})
    end = pd.DataFrame({"arr": closing.reindex(opening.index).fillna(0.0)})
    out = arr_movements(start, end)
    renewals = timeline.renewals
    cohort = opening[opening > 0].index
    within = renewals[
        renewals["day"].between(pd.Timestamp(period.start), pd.Timestamp(period.end))
        & renewals["account_id"].isin(cohort)
    ]
    if len(within):
        out["renewals_due"] = float(len(within))
        out["renewal_rate"] = float(within["won"].sum()) / len(within)
    return {(metric, "all"): value for metric, value in out.items()}


def kpi_dates(dates: list[date], shown: list[Period]) -> list[date]:
    """The only snapshot dates `history_movements` looks at: for each period the latest on or
    before its first day and its last. Reading these alone keeps the KPIs cheap however long
    the daily history grows."""
    known = pd.Series(pd.to_datetime(sorted(set(dates))))
    wanted = set()
    for period in shown:
        for boundary in (period.start, period.end):
            before = known[known <= pd.Timestamp(boundary)]
            if len(before):
                wanted.add(before.iloc[-1].date())
    return sorted(wanted)


def history_movements(
    history: pd.DataFrame, shown: list[Period], phases: tuple[Phase, ...] = ()
) -> dict[tuple[str, str], Movements]:
    """The movements of each period the history covers, from its snapshots (as_of,
    account_id, arr, phase, renewal_date): one on or before the period's first day and one
    within it (the latest by its end), with the phase moves (kpis.phase_moves). A period
    without them is left out."""
    if history.empty:
        return {}
    history = history.assign(as_of=pd.to_datetime(history["as_of"]))
    if phases and "phase" in history:  # a few names on many rows: looked up per name
        history = with_steps(history, phases)
    # each snapshot indexed once, and the latest by a day found by bisection
    snapshots = {day: rows.set_index("account_id") for day, rows in history.groupby("as_of")}
    days = sorted(snapshots)

    def state_on(day: date) -> pd.DataFrame | None:
        found = bisect_right(days, pd.Timestamp(day))
        return snapshots[days[found - 1]] if found else None

    found = {}
    for period in shown:
        before, after = state_on(period.start), state_on(period.end)
        if before is None or after is None or before["as_of"].iloc[0] == after["as_of"].iloc[0]:
            continue
        if after["as_of"].iloc[0] < pd.Timestamp(period.start):  # nothing recorded within
            continue
        moves = {(m, "all"): v for m, v in arr_movements(before, after).items()}
        if phases and "phase" in before and "phase" in after:
            moves |= phase_moves(before, after, phases)
        found[(period.grain, period.label)] = moves
    return found


def unit_economics(values: Movements, margin: float, cac: float) -> Movements:
    """LTV = ARPA × gross margin / logo churn rate over a year (shared/DOMAIN.md), LTV/CAC,
    and CAC payback in months = CAC / (monthly ARPA × margin). No LTV without churn."""
    starting = values.get(("starting_arr", "all"), 0.0)
    accounts = values.get(("starting_accounts", "all"), 0.0)
    churn = values.get(("logo_churn_rate", "all"))
    if not accounts or not starting:
        return {}
    arpa = starting / accounts
    out: Movements = {("arpa", "all"): arpa}
    if cac > 0:
        out[("cac_payback_months", "all")] = cac / (arpa / 12 * margin)
    if churn:
        ltv = arpa * margin / churn
        out[("ltv", "all")] = ltv
        if cac > 0:
            out[("ltv_cac", "all")] = ltv / cac
    return out


def period_kpis(
    timeline: Timeline | None,
    shown: list[Period],
    from_history: dict[tuple[str, str], Movements] | None = None,
    economics: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """One row per period and metric; `from_history`: (grain, label) -> the movements the
    history's snapshots give, used where present (basis "history"); the others come from
    `timeline` (basis "opportunities"), or are left out without one. `economics`: (gross
    margin, CAC) for the unit economics of each year-long period."""
    rows = []
    for period in shown:
        found = (from_history or {}).get((period.grain, period.label))
        if found:
            basis, values = "history", found
        elif timeline is not None:
            basis, values = "opportunities", revenue_movements(timeline, period)
        else:
            continue
        churn = values.get(("revenue_churn_rate", "all"))
        if period.grain == "month" and churn is not None:
            values = {**values, ("revenue_churn_annualised", "all"): 1 - (1 - churn) ** 12}
        yearly = period.grain == "ttm" or (period.grain == "fiscal_year" and period.complete)
        if economics is not None and yearly:
            values = {**values, **unit_economics(values, *economics)}
        for (metric, dimension), value in values.items():
            rows.append(
                (
                    period.start,
                    period.end,
                    period.label,
                    period.grain,
                    period.complete,
                    metric,
                    dimension,
                    float(value),
                    basis,
                )
            )
    return pd.DataFrame(rows, columns=PERIOD_COLUMNS)
