"""The follow-up rules cs-sync ships, one per practice of the CS teams it serves.

Low health → re-onboarding; high health and long tenure → a case study or expansion ask;
the renewal window → a value review with the Economic Buyer; a seasonal key feature coming
due → "will you use it this year?"; the monthly feature missing for two months → check for a
tool switch; onboarding past its window → escalation; dormant → a check-in. Personal
follow-ups go to high- and low-touch accounts; the tech-touch tail is left to automated
programmes (the case-study ask only to high touch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cs_sync.rules.expressions import compile_expression
from cs_sync.rules.phases import PhaseSettings
from cs_sync.rules.tasks import LANGUAGES, TaskRule, Template

SEGMENTS = ("High Touch", "Low Touch", "Tech Touch")  # the values the presets serve by
PERSONAL = SEGMENTS[:2]
NO_TOUCH_DAYS = 60  # a high-touch account this long without a CSM's touch gets a check-in
SIGNATURE = {"ja": "\n（cs-sync が自動作成）", "en": "\n(created by cs-sync)"}


def preset_rules(settings: PhaseSettings) -> dict[str, dict[str, Any]]:
    """Rule definitions by name, in the order their Tasks are served under the caps."""
    window = settings.onboarding_window_months
    return {
        "reonboard": {
            "label": {"ja": "再オンボーディング", "en": "Re-onboarding"},
            "when": 'grade == "D"',
            "cooldown_days": 60,
            "segments": PERSONAL,
            "priority": "High",
            "subject": {
                "ja": "【cs-sync】再オンボーディング：{name}（ヘルス {grade}）",
                "en": "[cs-sync] Re-onboarding: {name} (health {grade})",
            },
            "description": {
                "ja": "ヘルススコアが {grade} です。理由：{reasons}\n利用状況を確認し、管理者・"
                "担当者との再オンボーディングの場を設定してください。",
                "en": "Health is {grade}. Why: {reasons}\nReview usage and book a re-onboarding "
                "session with the admin and key users.",
            },
        },
        "onboarding_overdue": {
            "label": {"ja": "オンボーディング遅延", "en": "Onboarding overdue"},
            "when": f"not onboarded and months_since_start >= {window}",
            "cooldown_days": 60,
            "segments": PERSONAL,
            "priority": "High",
            "subject": {
                "ja": "【cs-sync】オンボーディング遅延：{name}",
                "en": "[cs-sync] Onboarding overdue: {name}",
            },
            "description": {
                "ja": f"契約から{{months_since_start:.0f}}か月、アクティブ率 {{active_ratio:.0%}}"
                f"（目標 {settings.onboarding_active_ratio:.0%}）。オンボーディング期間（{window}"
                "か月）を過ぎています。上長と対応を相談し、立ち上げ支援を再設定してください。",
                "en": f"{{months_since_start:.0f}} months since contract start and "
                f"{{active_ratio:.0%}} of seats active (target "
                f"{settings.onboarding_active_ratio:.0%}): past the {window}-month onboarding "
                "window. Escalate and plan the roll-out help it needs.",
            },
        },
        "dormant_checkin": {
            "label": {"ja": "休眠アカウントの状況確認", "en": "Dormant account check-in"},
            "when": f"months_without_login >= {settings.dormant_after_months}",
            "cooldown_days": 30,
            "segments": PERSONAL,
            "priority": "High",
            "subject": {
                "ja": "【cs-sync】休眠：{name}（{months_without_login:.0f}か月ログインなし）",
                "en": "[cs-sync] Dormant: {name} (no login for {months_without_login:.0f} months)",
            },
            "description": {
                "ja": "{months_without_login:.0f}か月ログインがありません。担当者に状況を確認"
                "してください。",
                "en": "Nobody has logged in for {months_without_login:.0f} months. Check in "
                "with the customer's admin.",
            },
        },
        "tool_switch_check": {
            "label": {"ja": "毎月機能の停止確認", "en": "Monthly feature stopped"},
            "when": "monthly_feature >= 2",
            "cooldown_days": 90,
            "segments": PERSONAL,
            "priority": "High",
            "subject": {
                "ja": "【cs-sync】毎月機能が{monthly_feature:.0f}か月未使用：{name}",
                "en": "[cs-sync] Monthly feature unused for {monthly_feature:.0f} months: {name}",
            },
            "description": {
                "ja": "毎月使われるはずの機能が{monthly_feature:.0f}か月使われていません。"
                "他ツールへの切り替えや外部委託の可能性を確認してください。",
                "en": "The feature they use every month has not been used for "
                "{monthly_feature:.0f} months. Check whether they switched tools or "
                "outsourced the work.",
            },
        },
        "renewal_review": {
            "label": {"ja": "更新前の価値レビュー", "en": "Pre-renewal value review"},
            "when": f"0 <= days_to_renewal <= {settings.renewal_window_days}",
            "cooldown_days": 300,  # once per renewal
            "segments": PERSONAL,
            "priority": "High",
            "due_in_business_days": 10,
            "subject": {
                "ja": "【cs-sync】更新前の価値レビュー：{name}（更新日 {renewal_date}）",
                "en": "[cs-sync] Value review before renewal: {name} (renews {renewal_date})",
            },
            "description": {
                "ja": "更新まであと{days_to_renewal:.0f}日。経済的意思決定者（EB）との価値"
                "レビューを設定してください。更新戦略：{renewal_strategy}。次のステップ："
                "{next_action}（{next_action_date}）。ヘルス：{reasons}",
                "en": "{days_to_renewal:.0f} days to renewal. Book a value review with the "
                "Economic Buyer. Strategy: {renewal_strategy}. Next step: {next_action} "
                "({next_action_date}). Health: {reasons}",
            },
        },
        "no_touch": {
            "label": {"ja": "接点なし", "en": "No CSM touch"},
            "when": f"days_since_touch >= {NO_TOUCH_DAYS}",
            "cooldown_days": NO_TOUCH_DAYS,
            "segments": ("High Touch",),
            "subject": {
                "ja": "【cs-sync】{days_since_touch:.0f}日間接点なし：{name}",
                "en": "[cs-sync] No touch for {days_since_touch:.0f} days: {name}",
            },
            "description": {
                "ja": "ハイタッチのお客様ですが、{days_since_touch:.0f}日間、面談・電話などの"
                "記録がありません。近況を伺う場を設定してください。ヘルス：{reasons}",
                "en": "A high-touch customer with no meeting, call or other completed activity "
                "for {days_since_touch:.0f} days. Book a check-in. Health: {reasons}",
            },
        },
        "sponsor_left": {
            "label": {"ja": "キーパーソン離脱", "en": "Sponsor left"},
            "when": "sponsors_lost >= 1",
            "cooldown_days": 30,
            "segments": PERSONAL,
            "priority": "High",
            "subject": {
                "ja": "【cs-sync】キーパーソン離脱：{name}（{sponsors_left}）",
                "en": "[cs-sync] Sponsor left: {name} ({sponsors_left})",
            },
            "description": {
                "ja": "前回の同期から、経済的意思決定者またはチャンピオンの役割を持つ方が"
                "外れました：{sponsors_left}。後任を確認し、関係づくりの場を設定してください。"
                "ヘルス：{reasons}",
                "en": "Since the last sync, an economic buyer or champion no longer holds the "
                "role: {sponsors_left}. Find out who takes over and meet them. Health: "
                "{reasons}",
            },
        },
        "seasonal_checkin": {
            "label": {"ja": "年次機能の利用確認", "en": "Seasonal feature check-in"},
            "when": "days_to_season <= 30 and seasonal_last_season > 0",
            "cooldown_days": 300,  # once per season
            "segments": PERSONAL,
            "subject": {
                "ja": "【cs-sync】今年も年次機能をお使いになるか確認：{name}",
                "en": "[cs-sync] Will they use the yearly feature again? {name}",
            },
            "description": {
                "ja": "年次の重要機能のシーズンまであと{days_to_season:.0f}日です（昨季は利用"
                "あり）。今年も使う予定か、準備に支援が要るかを確認してください。",
                "en": "The season of their yearly key feature starts in {days_to_season:.0f} "
                "days and they used it last season. Ask whether they will use it again and "
                "what help they need to prepare.",
            },
        },
        "advocate_ask": {
            "label": {"ja": "事例・拡大の打診", "en": "Case study or expansion ask"},
            "when": f'grade == "A" and months_since_start >= {settings.advocate_min_months} '
            "and champion > 0",
            "cooldown_days": 365,
            "segments": ("High Touch",),
            "due_in_business_days": 10,
            "subject": {
                "ja": "【cs-sync】導入事例・拡大のご相談：{name}",
                "en": "[cs-sync] Ask for a case study or expansion: {name}",
            },
            "description": {
                "ja": "ヘルス {grade}（{score:.0f}点）、契約から{months_since_start:.0f}か月。"
                "チャンピオンに導入事例・登壇へのご協力、または利用拡大をご相談ください。",
                "en": "Health {grade} ({score:.0f}), {months_since_start:.0f} months in. Ask "
                "the champion for a case study or a speaking slot, or discuss expansion.",
            },
        },
    }


def by_language(value: Any) -> dict[str, str]:
    """A text given once, or as { ja = "...", en = "..." } (English where a language is
    missing), by language."""
    if isinstance(value, str):
        return dict.fromkeys(LANGUAGES, value)
    return {language: str(value.get(language, value.get("en", ""))) for language in LANGUAGES}


def build_rule(
    name: str,
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any],
    label_prefix: str = "tasks",
) -> TaskRule:
    """A TaskRule from its definition; raises ExpressionError naming the rule's part."""
    where = f"{label_prefix}.{name}"
    subject = by_language(raw["subject"])
    description = by_language(raw["description"])
    return TaskRule(
        name=name,
        label=by_language(raw.get("label", name)),
        when=compile_expression(f"{where}.when", raw["when"]),
        subject={lang: Template(f"{where}.subject.{lang}", text) for lang, text in subject.items()},
        description={
            lang: Template(f"{where}.description.{lang}", text + SIGNATURE[lang])
            for lang, text in description.items()
        },
        trigger=raw.get("trigger", "level"),
        cooldown_days=int(raw.get("cooldown_days", defaults.get("cooldown_days", 30))),
        segments=tuple(raw.get("segments", ())),
        due_in_business_days=int(
            raw.get("due_in_business_days", defaults.get("due_in_business_days", 5))
        ),
        priority=str(raw.get("priority", defaults.get("priority", "Normal"))),
        auto_close=bool(raw.get("auto_close", defaults.get("auto_close", True))),
    )
