"""The playbooks cs-sync ships.

- One renewal playbook per strategy (the practice in shared/DOMAIN.md, as Japanese SaaS teams
  run it): the renewal plan's own steps (value review, proposal, quote, the customer's
  approval), dated back from the renewal date (or the notice deadline of a contract that
  renews itself) with the customer's approval lead time and busy months, each a Task on the
  plan's date. Very aggressive prepares next year's seats and options and proposes expansion;
  aggressive renews and adds options; passive secures the renewal as it is; rescue starts
  with an escalation and a recovery plan. They form one family: a strategy that changes
  mid-way does not ask again for a step already done, and the steps the renewal
  opportunity's stage shows done are skipped.
- A phase-delay flow: an account behind the lifecycle step expected for its age (beyond
  onboarding, which its own rule follows) gets a review, an action plan agreed with the
  customer, and an escalation to the sub CSM if it is still behind.
"""

from __future__ import annotations

from typing import Any

from cs_sync.rules.task_presets import PERSONAL

RENEWAL_STEPS = ("value_review", "proposal", "quote", "approval")
_RENEWAL_HEAD = {
    "ja": "更新日 {renewal_date}（{renewal_strategy}）。ARR {arr:,.0f}円。",
    "en": "Renewal on {renewal_date} ({renewal_strategy}). ARR {arr:,.0f}.",
}


def _renewal_step(
    step: str, subject: dict[str, str], body: dict[str, str], days: int = 0
) -> dict[str, Any]:
    index = RENEWAL_STEPS.index(step) if step in RENEWAL_STEPS else 0
    return {
        "name": step,
        "date": f"plan_{step}" if step in RENEWAL_STEPS else "plan_value_review",
        "days": days,
        "skip_when": f"renewal_steps_done > {index}",
        "priority": "High" if step in ("escalation", "approval") else "Normal",
        "subject": {
            "ja": f"【cs-sync】{subject['ja']}：{{name}}",
            "en": f"[cs-sync] {subject['en']}: {{name}}",
        },
        "description": {lang: _RENEWAL_HEAD[lang] + body[lang] for lang in ("ja", "en")},
    }


def _renewal(strategy: str, label: dict[str, str], steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "label": label,
        "when": f'renewal_strategy == "{strategy}"',
        "anchor": "renewal_anchor",
        "family": "renewal",
        "steps": steps,
    }


# The steps most strategies share.
_QUOTE = _renewal_step(
    "quote",
    {"ja": "見積提示", "en": "Send the quote"},
    {"ja": "更新見積を提示してください。", "en": "Send the renewal quote."},
)
_APPROVAL = _renewal_step(
    "approval",
    {"ja": "稟議・承認のフォロー", "en": "Follow the customer's approval"},
    {
        "ja": "先方の稟議の進み具合と決裁日を確認してください。",
        "en": "Check where the customer's approval (ringi) stands and when it is decided.",
    },
)


def preset_playbooks() -> dict[str, dict[str, Any]]:
    """Playbook definitions by name, in the order their steps are served under the caps."""
    return {
        "renewal_rescue": _renewal(
            "Rescue",
            {"ja": "更新：救済策", "en": "Renewal: rescue"},
            [
                _renewal_step(
                    "escalation",
                    {"ja": "更新リスクのエスカレーション", "en": "Escalate the renewal risk"},
                    {
                        "ja": "ヘルス {grade}（{reasons}）。上長と状況を共有し、先方の決裁者との"
                        "面談と立て直し策を決めてください。",
                        "en": "Health {grade} ({reasons}). Brief your manager, and agree a "
                        "meeting with the customer's decision maker and a recovery plan.",
                    },
                    days=-14,
                ),
                _renewal_step(
                    "value_review",
                    {"ja": "価値レビュー（立て直し）", "en": "Value review (recovery)"},
                    {
                        "ja": "利用状況と課題を先方と振り返り、改善計画と期限を合意してください。",
                        "en": "Review usage and issues with the customer; agree a recovery "
                        "plan with dates.",
                    },
                ),
                _renewal_step(
                    "proposal",
                    {"ja": "更新条件のご提案", "en": "Renewal proposal"},
                    {
                        "ja": "改善計画を踏まえた更新条件（席数の見直しを含む）をご提案ください。",
                        "en": "Propose renewal terms that follow the recovery plan (seats "
                        "reviewed if needed).",
                    },
                ),
                _QUOTE,
                _APPROVAL,
            ],
        ),
        "renewal_very_aggressive": _renewal(
            "Very aggressive",
            {"ja": "更新：超積極策", "en": "Renewal: very aggressive"},
            [
                _renewal_step(
                    "value_review",
                    {"ja": "価値レビュー・拡大の準備", "en": "Value review, expansion ready"},
                    {
                        "ja": "成果を決裁者と振り返り、来期の席数・オプションの拡大案を準備して"
                        "ください（現在 {seats:.0f}席）。",
                        "en": "Review outcomes with the decision maker and prepare next "
                        "year's seats and options ({seats:.0f} seats now).",
                    },
                ),
                _renewal_step(
                    "proposal",
                    {"ja": "拡大提案", "en": "Expansion proposal"},
                    {
                        "ja": "席数の追加・上位プラン・オプションを含めた更新をご提案ください。",
                        "en": "Propose the renewal with more seats, a higher plan or options.",
                    },
                ),
                _renewal_step(
                    "quote",
                    {"ja": "見積提示（拡大）", "en": "Send the expansion quote"},
                    {
                        "ja": "拡大分を含めた見積を提示してください。",
                        "en": "Send the quote with the expansion.",
                    },
                ),
                _renewal_step(
                    "approval",
                    {"ja": "稟議・承認のフォロー", "en": "Follow the customer's approval"},
                    {
                        "ja": "稟議の進み具合を確認し、決裁者向けの資料をお渡しください。",
                        "en": "Check the approval's progress; give the decision maker what "
                        "they need.",
                    },
                ),
            ],
        ),
        "renewal_aggressive": _renewal(
            "Aggressive",
            {"ja": "更新：積極策", "en": "Renewal: aggressive"},
            [
                _renewal_step(
                    "value_review",
                    {"ja": "価値レビュー", "en": "Value review"},
                    {
                        "ja": "成果を振り返り、追加できるオプションと来期の席数を"
                        "確認してください。",
                        "en": "Review outcomes; check which options fit and next year's seats.",
                    },
                ),
                _renewal_step(
                    "proposal",
                    {"ja": "更新・オプションのご提案", "en": "Renewal and options proposal"},
                    {
                        "ja": "更新とオプション追加をご提案ください。",
                        "en": "Propose the renewal with options.",
                    },
                ),
                _QUOTE,
                _APPROVAL,
            ],
        ),
        "renewal_passive": _renewal(
            "Passive",
            {"ja": "更新：消極策", "en": "Renewal: passive"},
            [
                _renewal_step(
                    "value_review",
                    {"ja": "更新意向の確認", "en": "Confirm the renewal"},
                    {
                        "ja": "利用状況を共有し、現行条件での更新意向を確認してください。",
                        "en": "Share usage and confirm the customer renews on current terms.",
                    },
                ),
                _QUOTE,
                _APPROVAL,
            ],
        ),
        "phase_delay": {
            "label": {"ja": "フェーズ遅延対応", "en": "Phase delay"},
            "when": "phase_delayed and onboarded",
            "segments": PERSONAL,
            "steps": [
                {
                    "name": "review",
                    "days": 0,
                    "priority": "High",
                    "subject": {
                        "ja": "【cs-sync】フェーズ遅延の確認：{name}（{phase}）",
                        "en": "[cs-sync] Behind schedule: {name} ({phase})",
                    },
                    "description": {
                        "ja": "契約から{months_since_start:.0f}か月で「{phase}」。想定より遅れて"
                        "います。理由：{reasons}\n何が進みを止めているかを確認してください。",
                        "en": "{months_since_start:.0f} months in and still {phase}, behind "
                        "schedule. Why: {reasons}\nFind out what holds it back.",
                    },
                },
                {
                    "name": "plan",
                    "days": 7,
                    "subject": {
                        "ja": "【cs-sync】立て直し計画の合意：{name}",
                        "en": "[cs-sync] Agree a plan to catch up: {name}",
                    },
                    "description": {
                        "ja": "先方の管理者と、次のフェーズに進むための施策と期限を"
                        "合意してください。",
                        "en": "Agree with the customer's admin what moves the account to the "
                        "next phase, and by when.",
                    },
                },
                {
                    "name": "escalate",
                    "days": 20,
                    "owner": "sub_csm",
                    "subject": {
                        "ja": "【cs-sync】フェーズ遅延のフォロー：{name}",
                        "en": "[cs-sync] Still behind schedule: {name}",
                    },
                    "description": {
                        "ja": "遅延が続いています。主担当と状況を確認し、必要なら上長に共有して"
                        "ください。",
                        "en": "Still behind. Review it with the main CSM and bring in your "
                        "manager if needed.",
                    },
                },
            ],
        },
    }
