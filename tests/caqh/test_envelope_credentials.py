"""The rule's Username/Password method: the partner id and secret in the message itself (SOAP
WS-Security UsernameToken, MIME Username and Password parts) when no Authorization header is
sent, checked as an HTTP Basic header is."""

from __future__ import annotations

from gateway import audit
from tests.caqh.conftest import CLEARINGHOUSE, EHR, JANE, zeep_module
from tests.caqh.test_mime import form, parts
from tests.caqh.test_soap import real_time
from tests.caqh.test_soap_raw import HEADERS, fields, message

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)


def with_token(body: bytes, username: str, password: str, kind: str = TEXT) -> bytes:
    token = (
        f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{kind}">{password}</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security>"
    )
    return body.replace(b"<soapenv:Header/>", f"<soapenv:Header>{token}</soapenv:Header>".encode())


def test_zeep_with_a_username_token_and_no_http_auth(app_client):
    zeep = zeep_module()
    from zeep.transports import Transport
    from zeep.wsse.username import UsernameToken

    from tests.caqh.conftest import BASE
    from tests.caqh.transport import session_for

    client = zeep.Client(
        f"{BASE}/core/wsdl",
        transport=Transport(session=session_for(app_client, None)),
        wsse=UsernameToken(*CLEARINGHOUSE),
    )
    fields_sent, response = real_time(client)
    assert response.ErrorCode == "Success"
    assert "HCR*A1" in response.Payload
    assert response.PayloadID == fields_sent["PayloadID"]


def test_a_wrong_secret_in_the_token_is_refused_and_audited(app_client, core):
    body = with_token(message(fields()), CLEARINGHOUSE[0], "not-the-secret")
    response = app_client.post("/core/soap", content=body, headers=HEADERS)
    assert response.status_code == 401
    with core.sessions() as session:
        logins = [e for e in audit.trail(session) if e.event == "login"]
    assert logins and logins[-1].outcome == audit.MINOR_FAILURE
    assert core.list_cases(limit=5) == []


def test_a_password_digest_cannot_be_checked_and_is_refused(app_client):
    digest = TEXT.replace("PasswordText", "PasswordDigest")
    body = with_token(message(fields()), CLEARINGHOUSE[0], "abc=", digest)
    assert app_client.post("/core/soap", content=body, headers=HEADERS).status_code == 401


def test_the_token_partner_is_held_to_its_own_sender_ids(app_client):
    body = with_token(message(fields()), *EHR)
    response = app_client.post("/core/soap", content=body, headers=HEADERS)
    assert response.status_code == 200
    assert b"<ErrorCode>UnAuthorized</ErrorCode>" in response.content


def test_mime_username_and_password_parts(app_client):
    values = form(JANE)
    files: dict = {name: (None, value) for name, value in values.items()}
    files["Username"], files["Password"] = (None, CLEARINGHOUSE[0]), (None, CLEARINGHOUSE[1])
    files["Payload"] = ("payload.x12", JANE, "application/edi-x12")
    response = app_client.post("/core/mime", files=files)
    assert response.status_code == 200
    answer = parts(response)
    assert answer["ErrorCode"] == b"Success"
    assert "Password" not in answer and CLEARINGHOUSE[1].encode() not in response.content
    files["Password"] = (None, "wrong")
    assert app_client.post("/core/mime", files=files).status_code == 401


def test_mime_without_any_credentials_is_refused_even_when_not_a_form(app_client):
    response = app_client.post(
        "/core/mime", content=JANE, headers={"Content-Type": "application/edi-x12"}
    )
    assert response.status_code == 401
