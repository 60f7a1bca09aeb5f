"""The Salesforce connector's own settings: the [salesforce] table of the configuration,
typed, with its defaults and what each key means ([usage] is in usage_settings.py, [dashboard]
and [history] in output_settings.py).

A cross-key problem is raised as lines of "key: what is wrong"; the configuration loader
reports each line under the table's path, beside every other problem of the file.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
)

from cs_sync.secrets import ENV_NAME, Secret
from cs_sync.settings import Between, OptionalPath, Settings, Texts

_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _field_name(value: str) -> str:
    if not _FIELD_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a Salesforce field API name")
    return value


FieldName = Annotated[str, AfterValidator(_field_name)]


_INPUT_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


class SalesforceFields(Settings):
    """API names of the Account fields cs-sync reads (inputs) and writes (outputs). The
    defaults are the fields `cs-sync setup salesforce` creates. Any other key maps one more
    Account field of yours (number, currency, percent, checkbox, date, picklist, text) to a
    column of that name that features, measures and conditions can use, e.g.
    nps = "NPS__c"; a date field also gives days_since_<key>."""

    model_config = ConfigDict(extra="allow")

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        problems = []
        for key, value in data.items():
            if key in cls.model_fields:
                continue
            if not _INPUT_KEY.fullmatch(key):
                problems.append(
                    f"{key}: your own field's key becomes a column name: lower case letters, "
                    "digits and _ (at most 40)"
                )
            elif not isinstance(value, str) or not _FIELD_NAME.fullmatch(value):
                problems.append(f"{key}: {value!r} is not a Salesforce field API name")
        return problems

    def own_inputs(self) -> dict[str, str]:
        """Your own Account fields: column -> API name."""
        return {key: str(value) for key, value in (self.model_extra or {}).items()}

    arr: FieldName = "CS_ARR__c"
    """Annual recurring revenue (currency)."""
    seats: FieldName = "CS_Seats__c"
    """Contracted seats (number)."""
    contract_start: FieldName = "CS_Contract_Start__c"
    """First contract start (date)."""
    renewal_date: FieldName = "CS_Renewal_Date__c"
    """Next renewal date (date)."""
    segment: FieldName = "CS_Segment__c"
    """High Touch / Low Touch / Tech Touch (picklist)."""
    sub_csm: FieldName = "CS_Sub_CSM__c"
    """The backup CSM (lookup to User)."""
    external_key: FieldName = "CS_External_Key__c"
    """Your customer key, if usage data uses it (text)."""
    budget_status: FieldName = "CS_Budget_Status__c"
    """Secured / Planned / Unknown / Cut (picklist), filled in by CSMs."""
    sentiment: FieldName = "CS_Sentiment__c"
    """Positive / Neutral / Negative (picklist), filled in by CSMs."""
    busy_months: FieldName = "CS_Busy_Months__c"
    """Months nothing can be asked of the customer, e.g. "3,12" (text)."""
    approval_lead_days: FieldName = "CS_Approval_Lead_Days__c"
    """Days the customer's internal approval takes (number)."""
    score: FieldName = "CS_Health_Score__c"
    """Output: the health score, 0-100 (number)."""
    grade: FieldName = "CS_Health_Grade__c"
    """Output: the health grade (picklist)."""
    trend: FieldName = "CS_Health_Trend__c"
    """Output: Up / Flat / Down / New (picklist)."""
    reasons: FieldName = "CS_Health_Reasons__c"
    """Output: why, in one sentence (long text)."""
    phase: FieldName = "CS_Phase__c"
    """Output: the lifecycle phase (picklist)."""
    phase_delayed: FieldName = "CS_Phase_Delayed__c"
    """Output: the phase milestone is behind schedule (checkbox)."""
    renewal_strategy: FieldName = "CS_Renewal_Strategy__c"
    """Output: the renewal strategy (picklist)."""
    next_action: FieldName = "CS_Next_Action__c"
    """Output: the next renewal step (text)."""
    next_action_date: FieldName = "CS_Next_Action_Date__c"
    """Output: when the next renewal step is due (date)."""
    last_synced: FieldName = "CS_Last_Synced__c"
    """Output: when cs-sync last changed the account (date/time)."""
    override_grade: FieldName = "CS_Override_Grade__c"
    """A CSM's grade override; cs-sync never writes it."""
    override_reason: FieldName = "CS_Override_Reason__c"
    """Why the CSM overrode the grade."""
    override_expiry: FieldName = "CS_Override_Expiry__c"
    """The override counts until this date (inclusive)."""
    task_key: FieldName = "CS_Sync_Key__c"
    """On Task: the external-id field that keeps every follow-up unique."""

    def owned(self) -> tuple[str, ...]:
        """The Account fields cs-sync owns and may write (the default write allowlist)."""
        return (
            self.score,
            self.grade,
            self.trend,
            self.reasons,
            self.phase,
            self.phase_delayed,
            self.renewal_strategy,
            self.next_action,
            self.next_action_date,
            self.last_synced,
        )


# The inputs read as text whose values a mapping may translate (and your own fields).
MAPPABLE_INPUTS = ("segment", "budget_status", "sentiment")


def _value_mapping_problems(data: dict[str, Any]) -> list[str]:
    values, fields = data.get("values", {}), data.get("fields", {})
    own = (
        [k for k in fields if k not in SalesforceFields.model_fields]
        if isinstance(fields, dict)
        else []
    )
    return [
        f"values.{key}: not an input field cs-sync reads as text; map the values of "
        f"{', '.join([*MAPPABLE_INPUTS, *own])}"
        for key in (values if isinstance(values, dict) else {})
        if key not in MAPPABLE_INPUTS and key not in own
    ]


def _version_at_least(version: Any, least: float) -> bool:
    try:
        return float(version if version is not None else API_VERSION) >= least
    except (TypeError, ValueError):
        return False


class OpportunityTypes(Settings):
    """Which Opportunity Type values mean a renewal and an expansion (org-specific)."""

    renewal_types: Texts = ("Renewal",)
    """Type values of renewal opportunities."""
    expansion_types: Texts = ("Upsell", "Existing Business")
    """Type values of expansion opportunities."""
    new_business_types: Texts = ("New Business",)
    """Type values of a customer's first contract: its amount is the ARR the customer
    started with (the dashboard's revenue KPIs)."""


class StakeholderRoles(Settings):
    """Which OpportunityContactRole.Role values make a contact each stakeholder."""

    economic_buyer: Texts = ("Economic Buyer", "Economic Decision Maker", "Decision Maker")
    """Roles of the economic buyer."""
    champion: Texts = ("Champion",)
    """Roles of the champion ("Champion" is not a standard value: add it to the picklist)."""
    administrator: Texts = ("Technical Buyer",)
    """Roles of the customer's administrator."""
    end_user: Texts = ("Business User",)
    """Roles of end users."""

    def pairs(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(stakeholder, role values) in the order the rules list the stakeholders."""
        return tuple((name, getattr(self, name)) for name in type(self).model_fields)


class ActivitySettings(Settings):
    """[salesforce.activity]: CSM activity on each account, from completed Tasks and past
    Events (one query each, grouped per account by cs-sync), read when a measure or a
    condition names an activity feature."""

    enabled: bool = True
    """Read activity; false leaves the activity features empty (no data)."""
    days: Annotated[int, Between(30, 730)] = 180
    """How far back to read; an account without a touch in this window counts as this many
    days since one."""
    meeting_types: Texts = ("Meeting",)
    """Event Type values that count as a meeting ([] = every event)."""
    task_types: Texts = ()
    """Completed Task Type values that count as a touch ([] = every completed Task that is
    not one of cs-sync's own follow-ups left unworked)."""


class CaseSettings(Settings):
    """[salesforce.cases]: support load on each account, from Case (one query), read when a
    measure or a condition names a case feature."""

    enabled: bool = True
    """Read cases; false leaves the case features empty (no data)."""
    days: Annotated[int, Between(1, 365)] = 30
    """The window of the recent-case features (cases, high-priority, escalated)."""
    high_priorities: Texts = ("High",)
    """Case Priority values that count as high priority."""
    escalated_statuses: Texts = ("Escalated",)
    """Case Status values that count as escalated (as does IsEscalated)."""


# The secrets [salesforce] may name, each by <name>_env or <name>_file.
SALESFORCE_SECRETS = ("client_secret", "private_key", "password", "security_token", "session_id")
# The API version cs-sync talks by default: the current release (Winter '27).
API_VERSION = "68.0"
# SOAP login() (auth = "password"): not offered from API 65.0, retired for every version with
# Summer '27 (SOAP API End-of-Life Policy; Platform SOAP API login() Retirement).
LOGIN_LAST_VERSION = 64.0
LOGIN_RETIREMENT = "Summer '27 (June 2027)"


def my_domain(instance_url: str) -> str | None:
    """ "acme.my" for https://acme.my.salesforce.com (and sandboxes' ...sandbox.my...)."""
    host = re.sub(r"^https?://", "", instance_url).split("/")[0].split(":")[0]
    return host.removesuffix(".salesforce.com") if host.endswith(".my.salesforce.com") else None


class SalesforceConfig(Settings):
    """The org cs-sync reads and writes, how it logs in, and how it spends the API."""

    instance_url: str
    """The org's base URL (My Domain), e.g. "https://acme.my.salesforce.com"."""
    api_version: str = API_VERSION
    """API version, pinned so that a library upgrade never changes what cs-sync talks to."""
    auth: Literal["client_credentials", "jwt", "password", "session"] = "client_credentials"
    """client_credentials: OAuth 2.0 client credentials flow of an External Client App (or
    connected app) with a run-as user, at your My Domain; jwt: OAuth 2.0 JWT bearer flow;
    password: SOAP login() with username, password and security token (legacy: not offered
    from API 65.0, retired in Summer '27); session: an existing session id."""
    username: str | None = None
    """The integration user cs-sync logs in as (password and jwt)."""
    domain: str = "login"
    """Where logins go: "login", "test" or your My Domain prefix such as "acme.my"."""
    client_id: str | None = None
    """The External Client App's (or connected app's) consumer key, the OAuth client_id, for
    client_credentials and jwt (an identifier, not a secret)."""
    client_secret_env: str | None = None
    """Environment variable holding the app's consumer secret (client_credentials)."""
    client_secret_file: OptionalPath = None
    """File holding the app's consumer secret (client_credentials)."""
    password_env: str | None = None
    """Environment variable holding the password."""
    password_file: OptionalPath = None
    """File holding the password."""
    security_token_env: str | None = None
    """Environment variable holding the security token."""
    security_token_file: OptionalPath = None
    """File holding the security token."""
    session_id_env: str | None = None
    """Environment variable holding a session id (auth = "session")."""
    session_id_file: OptionalPath = None
    """File holding a session id (auth = "session")."""
    private_key_env: str | None = None
    """Environment variable holding the JWT private key (PEM text)."""
    private_key_file: OptionalPath = None
    """File holding the JWT private key."""
    account_filter: str = "Type = 'Customer - Direct'"
    """SOQL condition choosing the accounts cs-sync scores."""
    former_customer_filter: str = "Type = 'Former Customer'"
    """SOQL condition choosing former customers (read by backfill and backtest; "": none)."""
    query_batch_size: Annotated[int, Between(200, 2000)] = 2000
    """Records per query page."""
    timeout_s: Annotated[float, Between(1, 600)] = 120
    """Seconds to wait for one Salesforce answer before retrying."""
    api_reserve_share: Annotated[float, Between(0, 0.9)] = 0.2
    """Share of the org's daily API allowance left for your other integrations."""
    bulk_threshold: Annotated[int, Between(1)] = 2000
    """Above this many records to write in one object, one Bulk API 2.0 job is used."""
    bulk_query_threshold: Annotated[int, Between(1)] = 10000
    """A query whose first page reports more records reads the rest with Bulk API 2.0; a full
    read of an object the local copy held more of goes to Bulk API 2.0 without a first page."""
    write_step_records: Annotated[int, Between(10, 1_000_000)] = 1_000_000
    """The most records one write step sends (above bulk_threshold, one Bulk API 2.0 job
    per step); a stop request is answered between calls, not only between steps."""
    write_allowlist: tuple[FieldName, ...] | None = Field(None, strict=False)
    """The only Account fields cs-sync may write (default: the fields it owns)."""
    fields: SalesforceFields = SalesforceFields()
    """API names of the Account fields cs-sync reads and writes."""
    opportunities: OpportunityTypes = OpportunityTypes()
    """Opportunity Type values of renewals and expansions."""
    roles: StakeholderRoles = StakeholderRoles()
    """Contact role values of each stakeholder."""
    activity: ActivitySettings = ActivitySettings()
    """CSM activity: completed Tasks and past Events on each account."""
    cases: CaseSettings = CaseSettings()
    """Support cases on each account."""
    values: dict[str, dict[str, str]] = {}
    """Picklist (or text) values as your org spells them, mapped to the values cs-sync's
    rules use, per input field: segment = { "ハイタッチ" = "High Touch" }."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        url = data.get("instance_url")
        if isinstance(url, str) and not re.fullmatch(r"https?://[^/\s]+/?", url):
            problems.append(
                "instance_url: expected the org's base URL such as "
                '"https://acme.my.salesforce.com"'
            )
        version = data.get("api_version")
        if isinstance(version, str) and not re.fullmatch(r"\d{2,3}\.0", version):
            problems.append(f'api_version: {version!r} is not an API version such as "68.0"')
        auth = data.get("auth", "client_credentials")
        required = {
            "client_credentials": "client_secret",
            "password": "password",
            "session": "session_id",
            "jwt": "private_key",
        }
        for name in SALESFORCE_SECRETS:
            env, file = data.get(f"{name}_env"), data.get(f"{name}_file")
            if env and file:
                problems.append(f"{name}: set either {name}_env or {name}_file, not both")
            elif isinstance(env, str) and env and not ENV_NAME.fullmatch(env):
                problems.append(f"{name}_env: {env!r} is not an environment variable name")
            elif not env and not file and required.get(auth) == name:
                problems.append(
                    f'{name}: missing; set {name}_env = "VARIABLE_NAME" or '
                    f'{name}_file = "path/to/file"'
                )
        if auth in ("password", "jwt") and not data.get("username"):
            problems.append(
                f"username: missing; {auth} login needs the integration user's username"
            )
        if auth in ("client_credentials", "jwt") and not data.get("client_id"):
            problems.append(
                f"client_id: missing; {auth} login needs the app's consumer key (its client_id)"
            )
        if (
            auth == "client_credentials"
            and isinstance(url, str)
            and my_domain(url) is None
            and data.get("domain", "login") in ("login", "test")
        ):
            problems.append(
                "instance_url: the client credentials flow logs in at your My Domain; set "
                'instance_url = "https://<your domain>.my.salesforce.com" (Setup > My Domain)'
            )
        if auth == "password" and _version_at_least(version, LOGIN_LAST_VERSION + 1):
            problems.append(
                f'auth: SOAP login() (auth = "password") is not offered from API 65.0 and is '
                f"retired for every version in {LOGIN_RETIREMENT}; use auth = "
                '"client_credentials" with an External Client App (see the README), or pin '
                'api_version = "64.0" until you move'
            )
        problems += _value_mapping_problems(data)
        allowlist, fields = data.get("write_allowlist"), data.get("fields", {})
        if isinstance(allowlist, list) and isinstance(fields, dict):
            defaults = SalesforceFields.model_fields
            needed = [
                fields.get(n, defaults[n].default) for n in ("score", "grade", "trend", "reasons")
            ]
            lacking = [str(n) for n in needed if n not in allowlist]
            if lacking:
                problems.append(
                    "write_allowlist: cs-sync cannot do its job without writing "
                    f"{', '.join(lacking)}; add them"
                )
        return problems

    def _secret(self, name: str) -> Secret | None:
        env, file = getattr(self, f"{name}_env"), getattr(self, f"{name}_file")
        return Secret(f"salesforce.{name}", env=env, file=file) if env or file else None

    @property
    def client_secret(self) -> Secret | None:
        return self._secret("client_secret")

    @property
    def password(self) -> Secret | None:
        return self._secret("password")

    @property
    def security_token(self) -> Secret | None:
        return self._secret("security_token")

    @property
    def session_id(self) -> Secret | None:
        return self._secret("session_id")

    @property
    def private_key(self) -> Secret | None:
        return self._secret("private_key")

    @property
    def writable(self) -> tuple[str, ...]:
        """The Account fields cs-sync may write."""
        return self.write_allowlist if self.write_allowlist is not None else self.fields.owned()

    @property
    def renewal_types(self) -> tuple[str, ...]:
        return self.opportunities.renewal_types

    @property
    def expansion_types(self) -> tuple[str, ...]:
        return self.opportunities.expansion_types

    @property
    def new_business_types(self) -> tuple[str, ...]:
        return self.opportunities.new_business_types
