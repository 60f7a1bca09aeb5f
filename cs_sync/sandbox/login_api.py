"""The sandbox's login endpoints: SOAP login() (username, password and security token) and the
OAuth 2.0 JWT bearer flow, answering as Salesforce does, session ids included."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs
from xml.etree import ElementTree

import jwt

from cs_sync.sandbox.http_types import Request, Response
from cs_sync.sandbox.store import OrgStore

ORG_ID = "00D5g000004SANDBX"


def soap_login(store: OrgStore, request: Request, host: str, version: str) -> Response:
    """SOAP login() with username and password + security token, as simple-salesforce sends it."""
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


def jwt_login(store: OrgStore, request: Request, host: str) -> Response:
    """OAuth 2.0 JWT bearer flow: an assertion signed with the connected app's key."""
    form = parse_qs(request.body.decode("utf-8"))
    grant = (form.get("grant_type") or [""])[0]
    assertion = (form.get("assertion") or [""])[0]
    if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return _oauth_error("unsupported_grant_type", "grant type not supported")
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
    token = f"{ORG_ID}!{secrets.token_urlsafe(24)}"
    store.open_session(token, str(claims["sub"]))
    return Response.of_json(
        200,
        {
            "access_token": token,
            "scope": "api",
            "instance_url": f"https://{host}",
            "id": f"https://login.salesforce.com/id/{ORG_ID}/{user_id}",
            "token_type": "Bearer",
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
