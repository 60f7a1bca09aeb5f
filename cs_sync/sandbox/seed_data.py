"""The sample book's raw material: Japanese company and people names, the stories accounts
follow (healthy, steady, declining, churned, new), and the month arithmetic they are dated by."""

from __future__ import annotations

import random
from datetime import date

CSMS = [
    ("佐藤", "美咲", True),
    ("鈴木", "健太", True),
    ("高橋", "彩", True),
    ("田中", "翔", True),
    ("伊藤", "結衣", True),
    ("渡辺", "大輔", True),
    ("山本", "奈々", True),
    ("中村", "拓也", True),
    ("小林", "真由", False),
    ("加藤", "亮", False),
]
NAME_HEADS = [
    "サクラ",
    "ミドリ",
    "アオバ",
    "ヒカリ",
    "ツバサ",
    "ヤマト",
    "フジ",
    "カエデ",
    "アサヒ",
    "ミナト",
    "コダマ",
    "ハヤテ",
    "スバル",
    "イロハ",
    "ナギサ",
    "トキワ",
    "シラカバ",
    "ホクト",
    "ワカバ",
    "ユウヒ",
    "タチバナ",
    "アカツキ",
    "ミズホ",
    "ヒバリ",
]
NAME_TAILS = [
    "製作所",
    "商事",
    "物流",
    "建設",
    "ホールディングス",
    "システムズ",
    "フーズ",
    "メディカル",
    "工業",
    "不動産",
    "電機",
    "ホテルズ",
    "学園",
    "精機",
    "ファーマ",
]
INDUSTRY_BY_TAIL = {
    "製作所": "Manufacturing",
    "商事": "Retail",
    "物流": "Logistics",
    "建設": "Construction",
    "ホールディングス": "Finance",
    "システムズ": "Technology",
    "フーズ": "Retail",
    "メディカル": "Healthcare",
    "工業": "Manufacturing",
    "不動産": "Professional Services",
    "電機": "Manufacturing",
    "ホテルズ": "Hospitality",
    "学園": "Education",
    "精機": "Manufacturing",
    "ファーマ": "Healthcare",
}
PREFECTURES = ["東京都", "大阪府", "愛知県", "福岡県", "北海道", "神奈川県", "宮城県", "広島県"]
SURNAMES = [
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "山口",
    "松本",
    "森",
    "池田",
    "橋本",
    "石川",
    "前田",
    "藤田",
    "後藤",
    "岡田",
    "長谷川",
    "村上",
    "近藤",
    "坂本",
    "遠藤",
]
GIVEN = ["直樹", "由美", "隆", "恵", "誠", "久美子", "浩二", "智子", "剛", "麻衣", "修", "陽子"]
PROFILES = (
    ("healthy", 0.42),
    ("steady", 0.20),
    ("declining", 0.13),
    ("churned", 0.13),
    ("new", 0.12),
)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = [
        31,
        29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month]
    return date(year, month + 1, min(day.day, last))


def pick_profile(rng: random.Random) -> str:
    roll = rng.random()
    for name, share in PROFILES:
        if roll < share:
            return name
        roll -= share
    return PROFILES[0][0]


def stage_for(days_to_renewal: int) -> str:
    if days_to_renewal > 120:
        return "Prospecting"
    if days_to_renewal > 90:
        return "Value Review"
    if days_to_renewal > 60:
        return "Proposal"
    if days_to_renewal > 30:
        return "Quote"
    return "Customer Approval"
