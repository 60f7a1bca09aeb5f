"""Configuration: every problem reported at once, with key paths; secrets never in the TOML."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cs_sync.config import load_config
from cs_sync.errors import AuthError, ConfigError

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = """
[salesforce]
instance_url = "https://acme.my.salesforce.com"
client_id = "3MVG9-acme-cs-sync"
client_secret_env = "CS_SYNC_SF_CLIENT_SECRET"

[usage]
path = "usage.csv"
"""
# The legacy SOAP login, on the last API version that offers it.
PASSWORD = """
[salesforce]
instance_url = "https://acme.my.salesforce.com"
api_version = "64.0"
auth = "password"
username = "cs-sync@acme.example"
password_env = "CS_SYNC_SF_PASSWORD"
security_token_env = "CS_SYNC_SF_TOKEN"

[usage]
path = "usage.csv"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    return raised.value.problems


def test_example_config_loads(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.toml", tmp_path / "config.toml")
    config = load_config(tmp_path / "config.toml")
    assert config.salesforce.api_version == "68.0"
    assert config.usage.path == tmp_path / "usage.csv"
    assert [g for g, _ in config.health.grades] == ["A", "B", "C", "D"]


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.language == "ja" and config.timezone == "Asia/Tokyo"
    assert config.health.grades == (("A", 80.0), ("B", 60.0), ("C", 40.0), ("D", 0.0))
    assert [r.name for r in config.tasks.rules][:2] == ["reonboard", "onboarding_overdue"]
    assert config.salesforce.query_batch_size == 2000
    assert config.dashboard.local_dir == tmp_path / "dashboard"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
[run]
language = "fr"
timezone = "Mars/Olympus"

[salesforce]
instance_url = "acme.salesforce"
api_version = "62"
auth = "password"
query_batch_size = 5000
colour = "blue"

[usage]
on_bad_rows = "ignore"

[health]
grades = { A = 80, B = 80, C = 10 }

[tasks]
grades = ["E"]
presets = ["reonboard", "upsell"]
""",
    )
    text = "\n".join(found)
    for expected in [
        "run.language: 'fr' is not one of 'ja', 'en'",
        "run.timezone: 'Mars/Olympus' is not a time zone",
        "salesforce.instance_url: expected the org's base URL",
        "salesforce.api_version: '62' is not an API version",
        "salesforce.query_batch_size: 5000 is out of range",
        "salesforce.colour: unknown key",
        "salesforce.password: missing",
        "salesforce.username: missing",
        "usage.path: missing",
        "usage.on_bad_rows: 'ignore' is not one of 'skip', 'stop'",
        "health.grades: the lowest grade must start at 0",
        "health.grades: two grades share the same minimum score",
        "tasks.grades: replaced by task rules",
        "tasks.presets: 'upsell' is not a preset",
    ]:
        assert expected in text, f"{expected!r} not in:\n{text}"


@pytest.mark.parametrize("key", ["password", "security_token", "session_id"])
def test_literal_secret_is_refused_with_a_way_out(tmp_path: Path, key: str) -> None:
    text = PASSWORD.replace(
        'password_env = "CS_SYNC_SF_PASSWORD"\n',
        f'password_env = "CS_SYNC_SF_PASSWORD"\n{key} = "hunter2-secret"\n',
    )
    found = problems(tmp_path, text)
    message = next(p for p in found if p.startswith(f"salesforce.{key}:"))
    assert "never read from the configuration file" in message
    assert f"salesforce.{key}_env" in message and f"salesforce.{key}_file" in message
    assert "hunter2-secret" not in "\n".join(found)


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("file-token\n", encoding="utf-8")
    config = load_config(
        write(
            tmp_path,
            PASSWORD.replace(
                'security_token_env = "CS_SYNC_SF_TOKEN"', 'security_token_file = "token"'
            ),
        )
    )
    monkeypatch.setenv("CS_SYNC_SF_PASSWORD", "env-password")
    assert config.salesforce.password is not None
    assert config.salesforce.password.read() == "env-password"
    assert config.salesforce.security_token is not None
    assert config.salesforce.security_token.read() == "file-token"


def test_missing_secret_names_the_variable_not_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CS_SYNC_SF_PASSWORD", raising=False)
    config = load_config(write(tmp_path, PASSWORD))
    assert config.salesforce.password is not None
    with pytest.raises(AuthError, match="CS_SYNC_SF_PASSWORD is not set"):
        config.salesforce.password.read()


def test_measures_are_validated(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL
        + """
[[health.measures]]
name = "nps"
weight = 10
bad = 0
good = 50

[[health.measures]]
name = "active_ratio"
weight = -1
bad = 1
good = 1

[[health.measures]]
name = "budget_status"
weight = 10
values = { Secured = 1, Cut = 2 }

[[health.measures]]
name = "login_trend"
weight = 10
bad = 0.5
bands = [[1.0, 1]]

[[health.measures]]
name = "months_without_login"
weight = 10
bands = [[0, 1], [1, "half"]]
missing = "zero"
""",
    )
    text = "\n".join(found)
    assert "health.measures[0].name: 'nps' is not a feature; the features are:" in text
    assert "health.measures[1].weight: -1 is out of range" in text
    assert "health.measures[1]: bad and good must differ" in text
    assert "health.measures[2].values.Cut: expected a share from 0 to 1" in text
    assert "health.measures[3]: give one way to scale it" in text
    assert "health.measures[4].missing: 'zero' is not one of 'skip', 'neutral', 'worst'" in text
    assert "health.measures[4].bands: [1, 'half'] is not [threshold, share]" in text


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[salesforce\n"))


def test_jwt_needs_client_id_and_private_key(tmp_path: Path) -> None:
    text = PASSWORD.replace('password_env = "CS_SYNC_SF_PASSWORD"\n', 'auth = "jwt"\n').replace(
        'auth = "password"\n', ""
    )
    found = "\n".join(problems(tmp_path, text))
    assert "salesforce.client_id: missing" in found
    assert "salesforce.private_key: missing; set private_key_env" in found


def test_write_allowlist_defaults_to_what_cs_sync_owns(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert "CS_Health_Grade__c" in config.salesforce.writable
    assert "CS_Override_Grade__c" not in config.salesforce.writable
    found = "\n".join(
        problems(
            tmp_path,
            MINIMAL.replace(
                'client_secret_env = "CS_SYNC_SF_CLIENT_SECRET"',
                'client_secret_env = "CS_SYNC_SF_CLIENT_SECRET"\n'
                'write_allowlist = ["CS_Health_Score__c"]',
            ),
        )
    )
    assert "cannot do its job without writing CS_Health_Grade__c" in found


def test_holiday_settings_are_checked(tmp_path: Path) -> None:
    found = "\n".join(
        problems(
            tmp_path,
            '[run]\nholiday_country = "XX"\ncompany_closed = ["12-32", "02-29"]\n' + MINIMAL,
        )
    )
    assert "run.holiday_country: 'XX' is not a country code" in found
    assert "run.company_closed: '12-32' is not a month-day" in found
    assert "'02-29'" not in found


def test_phase_preset_and_settings(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, MINIMAL + '[phases]\npreset = "staging"\ndormant_after_months = 4\n')
    )
    assert config.phases.preset == "staging"
    stage_e = config.phases.phases[0]
    assert stage_e.name == "Stage E" and "months_without_login >= 5" in stage_e.when.text


def test_custom_phases_replace_the_preset(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            MINIMAL
            + """
[[phases.phase]]
name = "Churn risk"
when = 'grade == "D"'

[[phases.phase]]
name = "Live"
when = "active_ratio >= 0.5"
step = 2
expected_by_month = 2

[[phases.phase]]
name = "Set-up"
step = 1
""",
        )
    )
    assert config.phases.preset == "custom"
    assert [(p.name, p.step, p.expected_by_month) for p in config.phases.phases] == [
        ("Churn risk", None, None),
        ("Live", 2, 2),
        ("Set-up", 1, None),
    ]


def test_custom_phases_are_checked(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL
        + """
[phases]
preset = "lifecycle"

[[phases.phase]]
name = "Live"
when = "active_ratio >= 0.5 and"

[[phases.phase]]
name = "Live"
expected_by_month = 3
""",
    )
    text = "\n".join(found)
    assert "phases.preset: 'lifecycle' and a [[phases.phase]] list were both given" in text
    assert "phases.phase: the name 'Live' is used twice" in text
    assert "phases.phase[1].expected_by_month: only a step" in text
    assert "phases.phase: at least one phase needs a step" in text
    assert "phases.Live.when: syntax error" in text
    assert "    active_ratio >= 0.5 and\n" in text  # the expression, with a caret under it


def test_features_are_checked_when_loaded(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL
        + """
[[features]]
name = "Logins-per-seat"
expression = "logins / seats"

[[features]]
name = "ok"
expression = "__import__('os').system('true')"
""",
    )
    text = "\n".join(found)
    assert "features[0].name: 'Logins-per-seat' must be lower case letters" in text
    assert "features.ok: attribute access (a.b) is not allowed in expressions" in text


def test_renewal_axes_and_strategies_from_config(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            MINIMAL
            + """
[renewal]
plan_days = 120

[renewal.evaluation]
poor = 'grade == "D" or phase == "Dormant"'
fine = "true"

[[renewal.strategy]]
name = "Save"
when = 'evaluation == "poor"'

[[renewal.strategy]]
name = "Renew"
""",
        )
    )
    assert config.renewal.settings.plan_days == 120
    evaluation = next(a for a in config.renewal.axes if a.name == "evaluation")
    assert [level for level, _ in evaluation.levels] == ["poor", "fine"]
    stakeholders = next(a for a in config.renewal.axes if a.name == "stakeholders")
    assert [level for level, _ in stakeholders.levels] == ["strong", "partial", "weak"]
    assert [s.name for s in config.renewal.strategies] == ["Save", "Renew"]


def test_renewal_mistakes_are_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL
        + """
[renewal]
quote_days = -1

[renewal.budget]
cut = 3
unknown = "budget_satus == 'Cut'"

[[renewal.strategy]]
name = "Save"
when = 'evaluaton == "poor"'
""",
    )
    text = "\n".join(found)
    assert "renewal.quote_days: -1 is out of range" in text
    assert "renewal.budget.cut: expected a condition (an expression in quotes)" in text
    assert "renewal.budget.unknown: unknown column 'budget_satus'" in text
    assert "renewal.strategy.Save.when: unknown column 'evaluaton'" in text


def test_task_rules_from_config(tmp_path: Path) -> None:
    text = (ROOT / "config.example.toml").read_text("utf-8")
    example = text.split("# [[tasks.rule]]")[1].split("\n\n")[0]
    rule_text = "[[tasks.rule]]" + "\n".join(
        line.removeprefix("# ") for line in example.split("\n")
    )
    config = load_config(write(tmp_path, MINIMAL + "[tasks]\npresets = []\n" + rule_text))
    (rule,) = config.tasks.rules
    assert (rule.name, rule.trigger, rule.segments, rule.priority) == (
        "health_drop",
        "edge",
        ("High Touch",),
        "High",
    )
    assert (
        rule.subject["ja"].render({"name": "A社", "grade": "D"})
        == "【cs-sync】ヘルス悪化：A社（D）"
    )


def test_task_rule_mistakes_are_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL
        + """
[[tasks.rule]]
name = "Check-In"
when = "true"
subject = "x"
description = "y"

[[tasks.rule]]
name = "stale"
when = "monthly_feature >= 2"
trigger = "edge"
subject = "{name} {colour}"
description = "{monthly_feature:.0f}"

[[tasks.rule]]
name = "other"
when = "true"
subject = "x"
description = { ja = "y", fr = "z" }
""",
    )
    text = "\n".join(found)
    assert "tasks.rule[0].name: 'Check-In' must be lower case letters" in text
    assert "tasks.stale.trigger: an edge trigger compares with the last run" in text
    assert "tasks.rule[2].description: expected { ja" in text
    assert "tasks.stale.subject.en: unknown field {colour}" in text


def test_history_brakes_and_worker_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.history.path == tmp_path / "cs-sync-history.duckdb"
    assert config.brakes.max_grade_change_share == 0.25 and config.brakes.max_new_tasks == 500
    assert config.worker.schedule == "0 7 * * 1-5" and config.worker.timezone == "Asia/Tokyo"
    assert config.worker.lock_file == tmp_path / "cs-sync.lock"
    off = load_config(write(tmp_path, MINIMAL + '\n[history]\npath = ""\n'))
    assert off.history.path is None


def test_worker_and_brake_mistakes_are_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL
        + """
[brakes]
max_grade_change_share = 25
max_new_tasks = -1

[worker]
schedule = "every morning"
timezone = "Tokyo"
""",
    )
    text = "\n".join(found)
    assert "brakes.max_grade_change_share: 25 is out of range; expected between 0.0 and 1.0" in text
    assert "brakes.max_new_tasks" in text
    assert "worker.schedule: 'every morning' is not a cron expression" in text
    assert "worker.timezone: 'Tokyo' is not a time zone name" in text


def test_the_config_hash_follows_the_content(tmp_path: Path) -> None:
    first = load_config(write(tmp_path, MINIMAL)).version_hash
    assert first == load_config(write(tmp_path, "\n" + MINIMAL + "\n")).version_hash
    changed = load_config(write(tmp_path, MINIMAL + "\n[health]\ntrend_threshold = 6\n"))
    assert changed.version_hash != first and len(first) == 12


def test_bigquery_history_needs_project_and_dataset(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + '\n[history]\nbackend = "bigquery"\ndataset = "cs-sync"\n')
    text = "\n".join(found)
    assert "history.project: missing" in text
    assert "history.dataset: 'cs-sync' is not a dataset id" in text
    config = load_config(
        write(
            tmp_path,
            MINIMAL + '\n[history]\nbackend = "bigquery"\nproject = "acme"\ndataset = "cs_sync"\n',
        )
    )
    assert config.history.enabled and config.history.path is None
    assert config.history.describe() == "bigquery:acme.cs_sync"


def test_usage_columns_name_only_the_metrics_the_rules_read(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL.replace(
            'path = "usage.csv"',
            'path = "usage.csv"\ncolumns = { clicks = "c" }\nmonthly_feature = "reports run"',
        ),
    )
    text = "\n".join(found)
    assert "usage.columns: clicks is not a usage metric" in text
    assert "usage.monthly_feature: 'reports run' is not a column name" in text


def test_logins_a_real_org_accepts(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.salesforce.auth == "client_credentials"
    assert config.salesforce.api_version == "68.0"  # the current release, pinned
    assert config.salesforce.client_secret is not None
    assert config.salesforce.client_secret.label == "salesforce.client_secret"
    # SOAP login() is not offered from API 65.0: the legacy choice must pin an older version
    legacy = PASSWORD.replace('api_version = "64.0"\n', "")
    found = "\n".join(problems(tmp_path, legacy))
    assert 'salesforce.auth: SOAP login() (auth = "password") is not offered from API 65.0' in found
    assert "Summer '27 (June 2027)" in found and 'auth = "client_credentials"' in found
    # the client credentials flow needs the org's My Domain
    elsewhere = MINIMAL.replace("acme.my.salesforce.com", "login.salesforce.com")
    found = "\n".join(problems(tmp_path, elsewhere))
    assert "salesforce.instance_url: the client credentials flow logs in at your My Domain" in found
    renamed = MINIMAL.replace('client_id = "3MVG9-acme-cs-sync"', 'consumer_key = "3MVG9"')
    found = "\n".join(problems(tmp_path, renamed))
    assert "salesforce.consumer_key: renamed to client_id" in found
    literal = MINIMAL + ""
    literal = literal.replace("[usage]", 'client_secret = "s3cr3t-value"\n\n[usage]')
    found = "\n".join(problems(tmp_path, literal))
    assert "salesforce.client_secret: secrets are never read" in found and "s3cr3t" not in found


@pytest.mark.parametrize(
    ("written", "months"),
    [
        ("[11, 12]", (11, 12)),
        ('"11,12"', (11, 12)),
        ('"１２月・１月・２月"', (12, 1, 2)),
        ('"12-2"', (12, 1, 2)),
    ],
)
def test_season_months_as_typed_in_japan(
    tmp_path: Path, written: str, months: tuple[int, ...]
) -> None:
    config = load_config(write(tmp_path, MINIMAL + f"season_months = {written}\n"))
    assert config.usage.season_months == months


def test_season_months_that_are_no_months_are_named(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + 'season_months = "11月と12月"\n')
    assert any("'11月と12月' is not a month" in p and "season_months" in p for p in found), found


OWN_SIGNALS = """
[usage]
path = "usage.csv"
metrics = ["candidate_requests", "surveys_run"]
columns = { candidate_requests = "requests" }

[[features]]
name = "requests_trend"
metric = "candidate_requests"
function = "trend"
months = 6

[[features]]
name = "months_to_first_request"
metric = "candidate_requests"
function = "months_to_level"
level = 1

[[features]]
name = "reports_dropped"
metric = "surveys_run"
function = "season_dropped"
season = "３月・４月"

[[features]]
name = "fast_start"
expression = "months_to_first_request <= 2"

[[health.measures]]
name = "requests_trend"
weight = 2
bad = 0.5
good = 1

[[health.scorecards]]
name = "high_touch"
segments = ["High Touch"]
[[health.scorecards.measures]]
name = "months_to_first_request"
weight = 1
bad = 6
good = 1
"""


def test_features_of_your_own_usage_metrics(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL.split("[usage]")[0] + OWN_SIGNALS))
    assert config.usage.all_metrics[-2:] == ("candidate_requests", "surveys_run")
    metrics = {d.name: d.metric for d in config.features if d.metric}
    assert metrics["requests_trend"].months == 6
    assert metrics["reports_dropped"].season == (3, 4)
    assert config.health.scorecards[0].measures[0].name == "months_to_first_request"


def test_features_of_metrics_are_checked(tmp_path: Path) -> None:
    text = MINIMAL.split("[usage]")[0] + OWN_SIGNALS.replace(
        'metrics = ["candidate_requests", "surveys_run"]', 'metrics = ["surveys_run"]'
    ).replace('season = "３月・４月"', "").replace(
        'name = "months_to_first_request"\nweight', 'name = "time_to_value"\nweight'
    )
    text += '\n[[features]]\nname = "both"\nexpression = "1"\nmetric = "logins"\n'
    found = "\n".join(problems(tmp_path, text))
    assert (
        "features.requests_trend.metric: 'candidate_requests' is not a usage metric; "
        "declare it in usage.metrics" in found
    )
    assert "season: season_dropped needs the metric's season" in found
    assert "give either expression (computed from other columns) or metric" in found
    assert "health.scorecards[0].measures[0].name: 'time_to_value' is not a feature" in found


def test_own_account_fields_become_columns(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "[usage]",
        '[salesforce.fields]\nnps = "NPS__c"\nactive_ratio = "Active__c"\nBad = "X__c"\n'
        'plan = "not a name"\n\n[salesforce.values]\nsegment = { "ハイタッチ" = "High Touch" }\n'
        'region = { "東" = "East" }\n\n[renewal]\nfiscal_year_end = "fy"\n\n'
        '[[health.measures]]\nname = "days_since_nps"\nweight = 1\nbad = 365\ngood = 30\n\n[usage]',
    )
    found = "\n".join(problems(tmp_path, text))
    assert "salesforce.fields.active_ratio: a built-in column has this name" in found
    assert "salesforce.fields.Bad: your own field's key becomes a column name" in found
    assert "plan: 'not a name' is not a Salesforce field API name" in found
    assert "salesforce.values.region: not an input field cs-sync reads as text" in found
    assert "renewal.fiscal_year_end: 'fy' is not a column" in found
    assert "days_since_nps" not in found  # a date field of your own gives days_since_<key>


def test_surveys_need_their_source(tmp_path: Path) -> None:
    found = "\n".join(
        problems(tmp_path, MINIMAL + '\n[surveys]\nsource = "contact_field"\nscale = "ces"\n')
    )
    assert "surveys.contact_field: missing; name the Contact field of the score" in found
    assert "surveys.scale: 'ces' is not one of 'nps', 'csat'" in found
    config = load_config(
        write(tmp_path, MINIMAL + '\n[surveys]\nsource = "csv"\npath = "nps.csv"\n')
    )
    assert config.surveys.path == tmp_path / "nps.csv"


def test_surveys_from_bigquery_need_their_table(tmp_path: Path) -> None:
    found = "\n".join(problems(tmp_path, MINIMAL + '\n[surveys]\nsource = "bigquery"\n'))
    assert 'surveys.bigquery: missing; add [surveys.bigquery] with table = "project' in found
    text = '\n[surveys]\nsource = "bigquery"\n[surveys.bigquery]\ntable = "acme-cs.f.nps"\n'
    config = load_config(write(tmp_path, MINIMAL + text))
    assert config.surveys.bigquery is not None
    assert (config.surveys.bigquery.table, config.surveys.bigquery.score_column) == (
        "acme-cs.f.nps",
        "score",
    )


def test_the_phase_clock_and_the_notice_columns_must_be_columns(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        MINIMAL + '\n[phases]\nclock_start = "go_live"\n\n[renewal]\nauto_renew = "auto"\n',
    )
    assert any(p.startswith("phases.clock_start: 'go_live' is not a date column") for p in found)
    assert any("renewal: 'auto' is not a column" in p for p in found)
    text = MINIMAL + '\n[salesforce.fields]\ngo_live = "GoLive__c"\nauto = "Auto__c"\n'
    text += '\n[phases]\nclock_start = "go_live"\n\n[renewal]\nauto_renew = "auto"\n'
    config = load_config(write(tmp_path, text))
    assert config.phases.settings.clock_start == "go_live"


def test_alert_channels_are_checked_and_the_webhook_is_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = problems(
        tmp_path,
        MINIMAL
        + """
[alerts]
events = ["grade_drop", "churned"]
at_risk_grades = ["E"]

[[alerts.channels]]
name = "cs-team"
kind = "slack"

[[alerts.channels]]
name = "cs-team"
kind = "chatter"
events = ["run_failed"]
webhook_url_env = "X"

[[alerts.channels]]
name = "Leads!"
kind = "teams"
webhook_url_env = "9BAD"
webhook_url = "https://hooks.slack.com/services/T/B/secret"
""",
    )
    text = "\n".join(found)
    assert "alerts.events: 'churned' is not an event" in text
    assert "alerts.at_risk_grades: 'E' is not a grade in health.grades (A, B, C, D)" in text
    assert "alerts.channels[0].webhook_url: a slack channel needs webhook_url_env" in text
    assert "a chatter channel posts on an Account; 'run_failed' has no account" in text
    assert "a chatter channel posts to Salesforce; it has none" in text
    assert "alerts.channels: the name 'cs-team' is used twice" in text
    assert "'Leads!' is not a channel name" in text
    assert "webhook_url_env: '9BAD' is not an environment variable name" in text
    assert (  # the address itself is refused in the TOML, with the way out
        "alerts.channels[2].webhook_url: secrets are never read from the configuration file" in text
    )
    assert "hooks.slack.com/services/T/B/secret" not in text

    off = problems(
        tmp_path,
        MINIMAL + '\n[history]\npath = ""\n\n[[alerts.channels]]\nname = "f"\nkind = "chatter"\n',
    )
    assert any("alerts remember what they sent in the history store" in p for p in off)

    config = load_config(
        write(
            tmp_path,
            MINIMAL
            + '\n[[alerts.channels]]\nname = "team"\nkind = "slack"\n'
            + 'webhook_url_env = "CS_SYNC_SLACK"\nevents = ["grade_drop"]\n',
        )
    )
    channel = config.alerts.channels[0]
    assert config.alerts.routes() == (("team", ("grade_drop",), ()),)
    assert not config.alerts.wants("run_failed")
    monkeypatch.delenv("CS_SYNC_SLACK", raising=False)
    with pytest.raises(AuthError) as missing:
        assert channel.webhook_url is not None
        channel.webhook_url.read()
    assert "alerts.channels.team.webhook_url: environment variable CS_SYNC_SLACK" in str(
        missing.value
    )
