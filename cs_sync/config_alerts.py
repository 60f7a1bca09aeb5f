"""The configuration's [alerts] table: which events are alerted, and the channels that carry
them (Slack or Microsoft Teams incoming webhooks, Chatter posts on the Account).

A webhook's address is a secret (anyone holding it can post to the channel): it is read from
an environment variable or a file named here, never written in the TOML.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Strict

from cs_sync.rules.alerts import ACCOUNT_EVENTS, EVENTS, AlertRules
from cs_sync.rules.health import HealthConfig, unknown_grades
from cs_sync.secrets import ENV_NAME, Secret
from cs_sync.settings import Between, OptionalPath, Settings, Texts, names_twice

CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
KINDS = ("slack", "teams", "chatter")


class AlertChannel(Settings):
    """[[alerts.channels]]: one place alerts go."""

    name: str
    """Lower case letters, digits, - and _ (the alert log keeps it with each alert)."""
    kind: Literal["slack", "teams", "chatter"]
    """slack or teams: an incoming webhook (Teams: a Workflows "when a webhook request is
    received" flow, or a channel's incoming webhook); chatter: a post on each Account's feed,
    seen by whoever follows the account."""
    webhook_url_env: str | None = None
    """slack / teams: the environment variable holding the webhook's address."""
    webhook_url_file: OptionalPath = None
    """slack / teams: a file holding the webhook's address (readable only by cs-sync)."""
    events: Annotated[Texts, Strict(False)] = ()
    """The events this channel takes ([]: all it can carry; Chatter carries account events
    only: a failed run has no account)."""
    segments: Annotated[Texts, Strict(False)] = ()
    """Only accounts of these segments ([]: every segment)."""
    max_per_run: Annotated[int, Between(1, 10_000)] = 100
    """Most alerts one run posts here. Over it, a webhook channel gets one line counting the
    rest (they are not posted later); Chatter keeps the rest for the next runs."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        problems = []
        name, kind = data.get("name"), data.get("kind")
        if isinstance(name, str) and not CHANNEL_NAME.fullmatch(name):
            problems.append(
                f"name: {name!r} is not a channel name (lower case letters, digits, - and _, "
                "up to 40 characters)"
            )
        env, file = data.get("webhook_url_env"), data.get("webhook_url_file")
        if kind in ("slack", "teams"):
            if env and file:
                problems.append("webhook_url: set either webhook_url_env or webhook_url_file")
            elif not env and not file:
                problems.append(
                    f'webhook_url: a {kind} channel needs webhook_url_env = "VARIABLE_NAME" or '
                    'webhook_url_file = "path/to/file" (the address is a secret: never in '
                    "the TOML)"
                )
            if isinstance(env, str) and not ENV_NAME.fullmatch(env):
                problems.append(f"webhook_url_env: {env!r} is not an environment variable name")
        elif kind == "chatter" and (env or file):
            problems.append("webhook_url: a chatter channel posts to Salesforce; it has none")
        events = data.get("events", [])
        carries = ACCOUNT_EVENTS if kind == "chatter" else EVENTS
        for event in events if isinstance(events, list) else []:
            if event not in EVENTS:
                problems.append(f"events: {event!r} is not an event ({', '.join(EVENTS)})")
            elif event not in carries:
                problems.append(
                    f"events: a chatter channel posts on an Account; {event!r} has no account "
                    "(send it to a slack or teams channel)"
                )
        return problems

    @property
    def webhook_url(self) -> Secret | None:
        if self.kind == "chatter":
            return None
        label = f"alerts.channels.{self.name}.webhook_url"
        return Secret(label, env=self.webhook_url_env, file=self.webhook_url_file)

    @property
    def carried(self) -> tuple[str, ...]:
        return self.events or (ACCOUNT_EVENTS if self.kind == "chatter" else EVENTS)


class AlertsConfig(Settings):
    """[alerts]: the events worth a message, and the channels that carry them."""

    events: Annotated[Texts, Strict(False)] = EVENTS
    """grade_drop, renewal_at_risk, sponsor_left, run_failed ([]: none)."""
    renewal_window_days: Annotated[int, Between(1, 730)] = 90
    """A renewal at risk is alerted once it is this many days away or fewer."""
    at_risk_grades: Annotated[Texts, Strict(False)] = ()
    """The grades that make a renewal at risk ([]: health.at_risk_grades)."""
    repeat_after_days: Annotated[int, Between(1, 3650)] = 30
    """A grade drop to the same grade, or the same sponsor leaving, is not alerted again
    within this many days."""
    keep_days: Annotated[int, Between(1, 90)] = 7
    """An alert a run could not deliver (a channel down, a run stopped) is tried again by the
    next runs for this many days, then dropped (the alert log says so)."""
    channels: Annotated[tuple[AlertChannel, ...], Strict(False)] = ()
    """[[alerts.channels]]: where alerts go ([]: nowhere, and nothing is alerted)."""

    @classmethod
    def check(cls, data: dict[str, Any]) -> list[str]:
        events = data.get("events")
        problems = [
            f"events: {event!r} is not an event ({', '.join(EVENTS)})"
            for event in (events if isinstance(events, list) else [])
            if event not in EVENTS
        ]
        channels = data.get("channels")
        problems += [f"channels: the name {n!r} is used twice" for n in names_twice(channels)]
        return problems

    def rules(self, health: HealthConfig) -> AlertRules:
        return AlertRules(
            events=self.events,
            grades=tuple(g for g, _ in health.grades),
            at_risk_grades=self.at_risk_grades or health.at_risk,
            renewal_window_days=self.renewal_window_days,
            repeat_after_days=self.repeat_after_days,
        )

    def routes(self) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
        """(channel, its events that are switched on, segments) for rules.alerts.routed."""
        return tuple(
            (c.name, tuple(e for e in c.carried if e in self.events), c.segments)
            for c in self.channels
        )

    def wants(self, event: str) -> bool:
        """Whether some channel carries this event."""
        return any(event in events for _, events, _ in self.routes())


def alert_problems(data: dict[str, Any], history_enabled: bool, grades: list[str]) -> list[str]:
    """Checks across tables: alerts remember what they sent in the history store; at-risk
    grades are grades."""
    alerts = data.get("alerts")
    if not isinstance(alerts, dict):
        return []
    problems = []
    if alerts.get("channels") and not history_enabled:
        problems.append(
            "alerts.channels: alerts remember what they sent in the history store, and "
            '[history] path is "" (off); set a path (or backend = "bigquery"), or remove '
            "the channels"
        )
    return problems + unknown_grades("alerts.at_risk_grades", alerts.get("at_risk_grades"), grades)
