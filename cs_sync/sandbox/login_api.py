"""The sandbox's login endpoints: SOAP login() (username, password and security token) and the
OAuth 2.0 JWT bearer flow, answering as Salesforce does, session ids included."""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from urllib.parse import parse_qs
from xml.etree import ElementTree

import jwt

from cs_sync.sandbox.http_types import Request, Response
from cs_sync.sandbox.store import OrgStore

ORG_ID = "00D5g000004SANDBX"
# API versions the org serves (SOAP API End-of-Life Policy): 21.0-30.0 retired since Summer
# '25, 68.0 (Winter '27) the newest. SOAP login() is not offered from 65.0.
OLDEST_VERSION, NEWEST_VERSION, FIRST_WITHOUT_LOGIN = 31.0, 68.0, 65.0


def retired(version: str) -> bool:
    return float(version) < OLDEST_VERSION


def soap_login(store: OrgStore, request: Request, host: str, version: str) -> Response:
    """SOAP login() with username and password + security token, as simple-salesforce sends it."""
    if retired(version) or float(version) > NEWEST_VERSION:
        return _soap_fault("UNSUPPORTED_API_VERSION", f"UNSUPPORTED_API_VERSION: {version}")
    if float(version) >= FIRST_WITHOUT_LOGIN:
        return _soap_fault(
            "UNSUPPORTED_API_VERSION",
            f"login() is not available in API version {version}; use OAuth 2.0",
        )
    try:
        # Loopback-only stand-in; the body comes from the local client library.
        tree = ElementTree.fromstring(request.body)  # noqa: S314
    except ElementTree.ParseError:
        return _soap_fault("INVALID_LOGIN", "Invalid request body")
    username = _find_text(tree, "username")
    password = _find_text(tree, "password")
    user_id = store.check_login(username or "", password or "")
    if user_id is None:
        return _soap_fault(
            "INVALID_LOGIN",
            "INVALID_LOGIN: Invalid username, password, security token; or user locked out.",
        )
    token = f"{ORG_ID}!{secrets.token_urlsafe(24)}"
    store.open_session(token, username or "")
    server = f"https://{host}/services/Soap/u/{version}/{ORG_ID}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
        f"<metadataServerUrl>https://{host}/services/Soap/m/{version}/{ORG_ID}"
        "</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{token}</sessionId>"
        f"<userId>{user_id}</userId></result></loginResponse></soapenv:Body>"
        "</soapenv:Envelope>"
    )
    return Response.of_xml(200, body)


def oauth_token(store: OrgStore, request: Request, host: str) -> Response:
    """POST /services/oauth2/token: the JWT bearer and the client credentials grants."""
    form = parse_qs(request.body.decode("utf-8"))
    grant = (form.get("grant_type") or [""])[0]
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return _jwt_bearer(store, (form.get("assertion") or [""])[0], host)
    if grant == "client_credentials":
        return _client_credentials(store, request, form, host)
    return _oauth_error("unsupported_grant_type", "grant type not supported")


def _client_credentials(
    store: OrgStore, request: Request, form: dict[str, list[str]], host: str
) -> Response:
    """Client credentials flow: the app's id and secret, in an HTTP Basic header or the form;
    the session belongs to the app's run-as user."""
    client_id = (form.get("client_id") or [""])[0]
    secret = (form.get("client_secret") or [""])[0]
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return _oauth_error("invalid_client", "invalid client credentials")
    app = store.get_meta("client_apps", {}).get(client_id)
    if app is None:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if not hmac.compare_digest(str(app["secret"]), secret):
        return _oauth_error("invalid_client", "invalid client credentials")
    run_as = app.get("run_as")
    user_id = store.user_for_login(str(run_as)) if run_as else None
    if user_id is None:
        return _oauth_error("invalid_grant", "no client credentials user enabled")
    return _token(store, str(run_as), user_id, host)


def _token(store: OrgStore, username: str, user_id: str, host: str) -> Response:
    token = f"{ORG_ID}!{secrets.token_urlsafe(24)}"
    store.open_session(token, username)
    return Response.of_json(
        200,
        {
            "access_token": token,
            "scope": "api",
            "instance_url": f"https://{host}",
            "id": f"https://login.salesforce.com/id/{ORG_ID}/{user_id}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "signature": secrets.token_urlsafe(32),
        },
    )


def _jwt_bearer(store: OrgStore, assertion: str, host: str) -> Response:
    """OAuth 2.0 JWT bearer flow: an assertion signed with the connected app's key."""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    public_key = store.get_meta("connected_apps", {}).get(str(unverified.get("iss")))
    if public_key is None:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    try:
        claims = jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            audience=["https://login.salesforce.com", "https://test.salesforce.com"],
        )
    except jwt.ExpiredSignatureError:
        return _oauth_error("invalid_grant", "expired authorization code")
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    user_id = store.user_for_login(str(claims.get("sub")))
    if user_id is None:
        return _oauth_error("invalid_grant", "user hasn't approved this consumer")
    return _token(store, str(claims["sub"]), user_id, host)


def userinfo(store: OrgStore, request: Request) -> Response:
    """GET /services/oauth2/userinfo: the OpenID Connect claims of the token's user."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    user_id = store.session_user(token) if token else None
    found = store.get(user_id) if user_id else None
    if found is None:
        return Response.of_json(
            403, {"error": "invalid_token", "error_description": "Bad_OAuth_Token"}
        )
    user = found[1]
    return Response.of_json(
        200,
        {
            "sub": f"https://login.salesforce.com/id/{ORG_ID}/{user_id}",
            "user_id": user_id,
            "organization_id": ORG_ID,
            "preferred_username": user.get("Username"),
            "name": user.get("Name"),
            "email": user.get("Email"),
            "active": bool(user.get("IsActive", True)),
        },
    )


def _find_text(tree: ElementTree.Element, local_name: str) -> str | None:
    for element in tree.iter():
        if element.tag.rsplit("}", 1)[-1] == local_name:
            return element.text
    return None


def _oauth_error(code: str, description: str) -> Response:
    return Response.of_json(400, {"error": code, "error_description": description})


def _soap_fault(code: str, message: str) -> Response:
    return Response.of_xml(
        500,
        (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>sf:{code}</faultcode><faultstring>{message}</faultstring><detail>"
            f"<sf:LoginFault><sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        ),
    )
