"""Logging in to Salesforce: the OAuth 2.0 client credentials and JWT bearer flows, the legacy
SOAP login(), or a given session, each retried when the failure is transient, and the client
that every other call goes through, ready with the org's API allowance read."""

from __future__ import annotations

import logging
from typing import Any

import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from cs_sync.connectors.retries import with_retries
from cs_sync.connectors.salesforce import SalesforceClient
from cs_sync.connectors.salesforce_calls import ApiBudget, translate
from cs_sync.connectors.settings import LOGIN_RETIREMENT, SalesforceConfig, my_domain
from cs_sync.connectors.transport import CallCounter
from cs_sync.errors import CsSyncError, TransientError

log = logging.getLogger("cs_sync.connectors.salesforce")


def connect(
    config: SalesforceConfig,
    session: requests.Session,
    counter: CallCounter | None = None,
    max_attempts: int = 5,
    wait_max_s: float = 30.0,
) -> SalesforceClient:
    """Log in (or use the given session id), read the API allowance, return a ready client."""
    version = config.api_version

    def login() -> Salesforce:
        if config.auth == "session":
            assert config.session_id is not None
            return Salesforce(
                instance_url=config.instance_url,
                session_id=config.session_id.read(),
                version=version,
                session=session,
            )
        # Log in ourselves and hand simple-salesforce the session: its own re-login on 401
        # can loop, and drops custom headers; SalesforceClient.call re-logs in once instead.
        if config.auth == "client_credentials":
            assert config.client_secret is not None
            # Client credentials flow: the app's id and secret (HTTP Basic) posted to
            # https://{My Domain}.salesforce.com/services/oauth2/token; the session is the
            # app's run-as user's.
            session_id, instance = SalesforceLogin(
                consumer_key=config.client_id,
                consumer_secret=config.client_secret.read(),
                domain=login_domain(config),
                sf_version=version,
                session=session,
            )
            return Salesforce(
                session_id=session_id, instance=instance, version=version, session=session
            )
        if config.auth == "jwt":
            assert config.private_key is not None
            # JWT bearer flow: simple-salesforce signs the assertion with the connected app's
            # private key and posts it to https://{domain}.salesforce.com/services/oauth2/token.
            credentials: dict[str, Any] = {
                "consumer_key": config.client_id,
                "privatekey": config.private_key.read(),
            }
        else:
            assert config.password is not None
            log.warning(
                'salesforce.auth = "password" logs in with SOAP login(), which Salesforce '
                'retires for every API version in %s; move to auth = "client_credentials" '
                "with an External Client App (see the README)",
                LOGIN_RETIREMENT,
            )
            credentials = {
                "password": config.password.read(),
                "security_token": config.security_token.read() if config.security_token else "",
            }
        session_id, instance = SalesforceLogin(
            username=config.username,
            domain=config.domain,
            sf_version=version,
            session=session,
            **credentials,
        )
        return Salesforce(
            session_id=session_id, instance=instance, version=version, session=session
        )

    def checked_login() -> Salesforce:
        """Log in with vendor errors translated: 5xx and connection problems are transient."""
        try:
            return login()
        except CsSyncError:
            raise
        except SalesforceAuthenticationFailed as exc:
            if isinstance(exc.code, int) and exc.code >= 500:
                raise TransientError(f"Salesforce login answered HTTP {exc.code}") from None
            raise translate(exc, "logging in") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(
                f"cannot reach Salesforce at {config.instance_url} to log in "
                f"({type(exc).__name__}). Check salesforce.instance_url and the network; for "
                "the sandbox, start `cs-sync sandbox serve`"
            ) from None
        except Exception as exc:
            raise translate(exc, "logging in") from None

    def note(state: Any) -> None:
        log.warning("retrying Salesforce login after: %s", state.outcome.exception())

    sf = with_retries(checked_login, max_attempts, wait_max_s, note)
    client = SalesforceClient(
        sf,
        config,
        login=checked_login if config.auth != "session" else None,
        max_attempts=max_attempts,
        wait_max_s=wait_max_s,
        budget=ApiBudget(config.api_reserve_share, counter),
    )
    session.hooks["response"].append(client.note_server_time)
    client.limits()
    return client


def login_domain(config: SalesforceConfig) -> str:
    """Where a token request goes: salesforce.domain when it names a My Domain, else the My
    Domain of instance_url (the client credentials flow takes no other)."""
    if config.domain not in ("login", "test"):
        return config.domain
    return my_domain(config.instance_url) or config.domain
