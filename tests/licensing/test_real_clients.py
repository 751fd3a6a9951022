"""The two FLECS runtimes, replayed byte for byte over a real HTTP connection, and read as they read the answers.

Sources (FLECS-Technologies/flecs-public):

- C++ runtime, v3.4.0-hedgehog (the last 3.x with the C++ console client):
  `flecs/modules/console/src/impl/console_impl.cpp` (the requests), `flecs/modules/console/src/types/*.cpp` (what
  it reads), `flecs/modules/device/src/impl/device_impl.cpp` (what it keeps). It speaks through cpr 1.10.5 over
  libcurl: `cpr::Post(Url, Body(json.dump()), Header{...})` sets no Content-Type, so libcurl sends its default
  `application/x-www-form-urlencoded`; with no `cpr::Body` cpr posts an empty body, with the same type. cpr
  replaces libcurl's `Expect:` with nothing and asks for every encoding libcurl was built with.
- Rust runtime, main: `flecs-core/src/sorcerer/spell/license.rs`, `.../licenso/licenso_impl.rs`,
  `flecs-core/src/fsm/console_client.rs` (reads X-Session-Id off every answer), `flecs-core/src/vault/pouch/secret.rs`
  (keeps a session only when it is not older); the requests are made by the generated client
  (FLECS-Technologies/flecs-console-api `flecs_console_client/src/apis/device_api.rs`) on reqwest 0.12 / hyper 1:
  lower-case header names, `.json(&None)` is the body `null`, and a POST with no body has no Content-Length.

The byte strings below are those requests. Only the `User-Agent`/`Accept-Encoding` values depend on the library
build; the service reads neither.
"""

import http.client
import json
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from devices import services
from devices.choices import EventSource
from devices.models import Device
from licensing.models import License, LicenseSession
from licensing.tokens import token_issue
from tests.factories import AccountFactory
from tests.licensing.conftest import make_license

pytestmark = pytest.mark.django_db(transaction=True)

UUID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")
INT32_MAX, UINT64_MAX = 2**31 - 1, 2**64 - 1
OPERATOR = services.Actor(source=EventSource.ADMIN, name="operator")


@dataclass
class Answer:
    status: int
    header_block: bytes  # the status line and headers, as received
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)


def exchange(live_server, request: bytes) -> Answer:
    """Send the request's bytes on a new connection and read one answer."""
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        body = response.read()
    block = f"HTTP/1.1 {response.status} {response.reason}\r\n{response.headers.as_string()}".encode("latin-1")
    return Answer(response.status, block, response.headers, body)


def host(live_server) -> bytes:
    return urlsplit(live_server.url).netloc.encode()


# -- the C++ runtime (3.x) -------------------------------------------------------------------------------------


def cpp_activate_by_key(live_server, key: str, session_id: str | None) -> bytes:
    # console_impl.cpp: json["licenseKey"] = license; cpr::Post(Url, Body(json.dump()), Header{{"X-Session-Id", id}})
    body = json.dumps({"licenseKey": key}, separators=(",", ":")).encode()  # nlohmann's dump(): compact
    session = b"X-Session-Id: %s\r\n" % session_id.encode() if session_id else b""
    return (
        b"POST /api/v2/device/license/activate HTTP/1.1\r\n"
        b"Host: %s\r\n"
        b"User-Agent: curl/8.5.0\r\n"
        b"Accept: */*\r\n"
        b"Accept-Encoding: deflate, gzip\r\n"
        b"%s"
        b"Content-Length: %d\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"\r\n"
        b"%s"
    ) % (host(live_server), session, len(body), body)


def cpp_activate_user_license(live_server, token: str) -> bytes:
    # console_impl.cpp: cpr::Post(Url, Header{{"Authorization", "Bearer " + jwt.token()}}): no cpr::Body, so cpr
    # posts CURLOPT_POSTFIELDS "" and libcurl still names its form type.
    return (
        b"POST /api/v2/device/license/activate HTTP/1.1\r\n"
        b"Host: %s\r\n"
        b"User-Agent: curl/8.5.0\r\n"
        b"Accept: */*\r\n"
        b"Accept-Encoding: deflate, gzip\r\n"
        b"Authorization: Bearer %s\r\n"
        b"Content-Length: 0\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"\r\n"
    ) % (host(live_server), token.encode())


def cpp_validate(live_server, session_id: str) -> bytes:
    # console_impl.cpp: cpr::Post(Url, Header{{"X-Session-Id", std::string{session_id}}})
    return (
        b"POST /api/v2/device/license/validate HTTP/1.1\r\n"
        b"Host: %s\r\n"
        b"User-Agent: curl/8.5.0\r\n"
        b"Accept: */*\r\n"
        b"Accept-Encoding: deflate, gzip\r\n"
        b"X-Session-Id: %s\r\n"
        b"Content-Length: 0\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"\r\n"
    ) % (host(live_server), session_id.encode())


def cpr_headers(block: bytes) -> dict[str, str]:
    """cpr::util::parseHeader: split at the first ':', trim, and a map whose names compare without case."""
    headers = {}
    for line in block.decode("latin-1").split("\n"):
        name, colon, value = line.partition(":")
        if colon and not line.startswith("HTTP/"):
            headers[name.lower()] = value.lstrip("\t ").rstrip("\t\n\r ")
    return headers


def nlohmann_session(text: str) -> tuple[str, int]:
    """session_id_t::read_from_header / from_json: j.at("id") as std::string, j.at("timestamp") as time_t."""
    value = json.loads(text)
    session_id, timestamp = value["id"], value["timestamp"]
    assert isinstance(session_id, str)
    assert isinstance(timestamp, int) and not isinstance(timestamp, bool) and -(2**63) <= timestamp < 2**63
    return session_id, timestamp


def cpp_base_response(body: dict) -> None:
    """base_response_t from_json: j.at("statusCode") as int, j.at("statusText") as std::string."""
    assert isinstance(body["statusCode"], int) and -(2**31) <= body["statusCode"] <= INT32_MAX
    assert isinstance(body["statusText"], str)


@dataclass
class CppRuntime:
    """device_impl.cpp's license state and what console_impl.cpp does with each answer (v3.4.0)."""

    live_server: object
    token: str = ""
    license: str | None = None
    session: tuple[str, int] | None = None
    answers: list[Answer] = field(default_factory=list)

    def activate(self) -> str | None:
        """do_activate_license: the error message, or None on success."""
        if self.license is None:
            answer = exchange(self.live_server, cpp_activate_user_license(self.live_server, self.token))
        else:
            session_id = self.session[0] if self.session else None
            answer = exchange(self.live_server, cpp_activate_by_key(self.live_server, self.license, session_id))
        self.answers.append(answer)
        if answer.status == 200:
            body = answer.json()
            cpp_base_response(body)
            data = body["data"]
            session = (data["sessionId"]["id"], data["sessionId"]["timestamp"])
            assert isinstance(session[0], str) and isinstance(session[1], int)
            assert isinstance(data["licenseKey"], str)
            self.license, self.session = data["licenseKey"], session
            return None
        if answer.status == 204:
            assert self.license is not None, "No license present but console responded with 'already active'"
            self.session = nlohmann_session(cpr_headers(answer.header_block)["x-session-id"])
            return None
        return self._error(answer)

    def validate(self) -> bool | str:
        """do_validate_license: isValid, or the error message."""
        assert self.session is not None
        answer = exchange(self.live_server, cpp_validate(self.live_server, self.session[0]))
        self.answers.append(answer)
        if answer.status == 200:
            body = answer.json()
            cpp_base_response(body)
            is_valid = body["data"]["isValid"]
            assert isinstance(is_valid, bool)
            if "x-session-id" in cpr_headers(answer.header_block):  # save_session_id_from_header
                new = nlohmann_session(cpr_headers(answer.header_block)["x-session-id"])
                if new[0] != self.session[0] and new[1] >= self.session[1]:
                    self.session = new
            return is_valid
        return self._error(answer)

    @staticmethod
    def _error(answer: Answer) -> str:
        body = answer.json()  # error_response_t: statusCode, statusText and reason, all required
        cpp_base_response(body)
        assert isinstance(body["reason"], str)
        return body["reason"]


def assert_activated(answer: Answer, key: str) -> dict:
    """The whole 200 answer of an activation; returns its session."""
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    session = body["data"]["sessionId"]
    assert body == {
        "data": {"sessionId": {"id": session["id"], "timestamp": session["timestamp"]}, "licenseKey": key},
        "statusCode": 200,
        "statusText": "OK",
    }
    assert UUID.fullmatch(session["id"])
    assert answer.headers["X-Session-Id"] == json.dumps(session, separators=(",", ":"))
    return session


def assert_already_active(answer: Answer, session: dict) -> None:
    assert answer.status == 204
    assert answer.body == b""
    assert "Content-Type" not in answer.headers
    assert json.loads(answer.headers["X-Session-Id"]) == session


def assert_validated(answer: Answer, valid: bool) -> None:
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"data": {"isValid": valid}, "statusCode": 200, "statusText": "OK"}


def assert_refused(answer: Answer, status: int, reason: str) -> None:
    assert answer.status == status
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {"reason": reason, "statusCode": status, "statusText": http.client.responses[status]}


def test_the_cpp_runtime_activates_with_its_users_license_then_always_by_key_and_validates(live_server):
    # given: an account with a key in its pool, logged in on the device
    owner = AccountFactory()
    key = make_license(account=owner).key
    runtime = CppRuntime(live_server, token=token_issue(account=owner)[0])

    # when: the first activation (no license yet: the user-license path, no body, a form content type)
    assert runtime.activate() is None
    # then
    session = assert_activated(runtime.answers[-1], key)
    assert (runtime.license, runtime.session) == (key, (session["id"], session["timestamp"]))
    assert nlohmann_session(cpr_headers(runtime.answers[-1].header_block)["x-session-id"]) == runtime.session

    # when: it starts again: now it has a license, so the key path, the JSON with a form content type, and the
    # bare session id (today's 415 made this fail for good)
    assert runtime.activate() is None
    # then: already active, and the session it keeps is still the one it has
    assert_already_active(runtime.answers[-1], session)
    assert runtime.session == (session["id"], session["timestamp"])
    assert Device.objects.count() == 1

    # when: it validates
    assert runtime.validate() is True
    assert_validated(runtime.answers[-1], True)
    assert runtime.session == (session["id"], session["timestamp"])


def test_the_cpp_runtime_activates_with_a_configured_key_and_no_session(live_server):
    # given: a device whose .license file holds a key, and no .session_id yet
    license = make_license()
    runtime = CppRuntime(live_server, license=license.key)
    # when
    assert runtime.activate() is None
    # then
    session = assert_activated(runtime.answers[-1], license.key)
    assert runtime.session == (session["id"], session["timestamp"])
    assert runtime.validate() is True


def test_the_cpp_runtime_reads_a_refusal_as_its_reason(live_server):
    runtime = CppRuntime(live_server, license="AAAAA-BBBBB-CCCCC-DDDDD")
    assert runtime.activate() == "License not found"
    assert_refused(runtime.answers[-1], 403, "License not found")
    assert not Device.objects.exists()


def test_the_cpp_runtime_learns_that_a_revoked_license_is_not_valid(live_server):
    license = make_license()
    runtime = CppRuntime(live_server, license=license.key)
    runtime.activate()
    License.objects.filter(pk=license.pk).update(revoked_at=timezone.now())
    assert runtime.validate() is False
    assert_validated(runtime.answers[-1], False)
    assert runtime.activate() == "License found but invalid"


@pytest.mark.parametrize(
    "content_type",
    [
        b"Content-Type: application/x-www-form-urlencoded\r\n",
        b"",
        b"Content-Type: text/plain\r\n",
        b"Content-Type: application/json\r\n",
        b"Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n",
        b"Content-Type: application/octet-stream\r\n",
    ],
    ids=["libcurl's form type", "none", "text/plain", "json", "form with charset", "octet-stream"],
)
def test_an_activation_body_is_json_whatever_the_content_type_says(live_server, content_type):
    # given: the C++ runtime's request by key, its Content-Type line replaced
    license = make_license()
    request = cpp_activate_by_key(live_server, license.key, None)
    request = request.replace(b"Content-Type: application/x-www-form-urlencoded\r\n", content_type)
    # when
    answer = exchange(live_server, request)
    # then
    assert_activated(answer, license.key)


# -- the Rust runtime (current) ----------------------------------------------------------------------------


def rust_activate(live_server, *, token: str | None = None, key: str | None = None, session_id: str | None = None):
    # spell/license.rs -> device_api.rs post_api_v2_device_license_activate(config, authorization, x_session_id,
    # Some(request) or None): `.json(&request)` serialises None as `null`.
    lines = [b"POST /api/v2/device/license/activate HTTP/1.1", b"user-agent: OpenAPI-Generator/1.0.0/rust"]
    if token is not None:
        lines.append(b"authorization: Bearer %s" % token.encode())
    if session_id is not None:
        lines.append(b"x-session-id: %s" % session_id.encode())
    body = json.dumps({"licenseKey": key}, separators=(",", ":")).encode() if key is not None else b"null"
    lines += [
        b"content-type: application/json",
        b"accept: */*",
        b"host: %s" % host(live_server),
        b"content-length: %d" % len(body),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def rust_validate(live_server, session_id: str) -> bytes:
    # device_api.rs post_api_v2_device_license_validate: the header and no body (hyper sends no Content-Length).
    return (
        b"POST /api/v2/device/license/validate HTTP/1.1\r\n"
        b"user-agent: OpenAPI-Generator/1.0.0/rust\r\n"
        b"x-session-id: %s\r\n"
        b"accept: */*\r\n"
        b"host: %s\r\n"
        b"\r\n"
    ) % (session_id.encode(), host(live_server))


def serde_session(raw: str) -> dict:
    """serde_json::from_slice::<SessionId>: id Option<String>, timestamp Option<u64>."""
    value = json.loads(raw)
    assert isinstance(value, dict)
    assert value.get("id") is None or isinstance(value["id"], str)
    timestamp = value.get("timestamp")
    assert timestamp is None or (isinstance(timestamp, int) and not isinstance(timestamp, bool))
    assert timestamp is None or 0 <= timestamp <= UINT64_MAX
    return {"id": value.get("id"), "timestamp": timestamp}


@dataclass
class RustRuntime:
    """licenso_impl.rs with the session middleware of console_client.rs and Secrets::set_session_id."""

    live_server: object
    token: str | None = None
    license_key: str | None = None
    session: dict = field(default_factory=lambda: {"id": None, "timestamp": None})
    answers: list[Answer] = field(default_factory=list)

    def set_session_id(self, new: dict) -> None:
        # secret.rs: replace when nothing is stored or either has no time, else only when not older.
        untimed = self.session["id"] is None or new["timestamp"] is None or self.session["timestamp"] is None
        if untimed or new["timestamp"] >= self.session["timestamp"]:
            self.session = new

    def send(self, request: bytes) -> Answer:
        answer = exchange(self.live_server, request)
        self.answers.append(answer)
        if "x-session-id" in answer.headers:  # the middleware, on every answer
            self.set_session_id(serde_session(answer.headers["x-session-id"]))
        return answer

    def activate(self) -> str:
        if self.license_key is not None:
            answer = self.send(
                rust_activate(self.live_server, key=self.license_key, session_id=self.session["id"]),
            )
        else:
            answer = self.send(rust_activate(self.live_server, token=self.token))
        if answer.status == 200:
            body = answer.json()  # PostApiV2DeviceLicenseActivate200Response
            assert body.get("statusCode") is None or -(2**31) <= body["statusCode"] <= INT32_MAX
            data = body["data"]
            assert isinstance(data["licenseKey"], str)
            self.license_key = data["licenseKey"]
            self.set_session_id(serde_session(json.dumps(data["sessionId"])))
            return "activated"
        if answer.status == 204:
            assert self.license_key is not None and self.session["id"] is not None
            return "already active"
        body = answer.json()  # ErrorDescription: reason, statusCode (i32), statusText, each optional
        return body["reason"]

    def validate(self) -> bool:
        if self.session["id"] is None:
            return False
        answer = self.send(rust_validate(self.live_server, self.session["id"]))
        assert answer.status == 200
        is_valid = answer.json()["data"]["isValid"]
        assert isinstance(is_valid, bool)
        return is_valid


def test_the_rust_runtime_activates_with_its_users_license_then_by_key_and_validates(live_server):
    # given
    owner = AccountFactory()
    key = make_license(account=owner).key
    runtime = RustRuntime(live_server, token=token_issue(account=owner)[0])

    # when: the user-license path, JSON `null`
    assert runtime.activate() == "activated"
    # then
    session = assert_activated(runtime.answers[-1], key)
    assert (runtime.license_key, runtime.session) == (key, session)

    # when: again, by key with the bare session id
    assert runtime.activate() == "already active"
    # then
    assert_already_active(runtime.answers[-1], session)
    assert runtime.session == session

    # when: validating, with no body and no content type
    assert runtime.validate() is True
    assert_validated(runtime.answers[-1], True)
    assert runtime.session == session


def test_the_rust_runtime_keeps_each_new_session_because_none_is_older_than_the_last(live_server, settings):
    # given: a device that activated, and was deactivated by an operator until the deactivation completed
    settings.DEVICE_DEACTIVATION_SECONDS = 300
    license = make_license()
    runtime = RustRuntime(live_server, license_key=license.key)
    assert runtime.activate() == "activated"
    first = dict(runtime.session)
    device = Device.objects.get()
    services.device_deactivate(device=device, actor=OPERATOR)
    assert runtime.validate() is False
    Device.objects.filter(pk=device.pk).update(status_until=timezone.now() - timezone.timedelta(seconds=1))
    call_command("process_transitions", stdout=open("/dev/null", "w"))  # noqa: SIM115
    # when: it activates again, sending its ended session
    assert runtime.activate() == "activated"
    # then: the new session is not older, so the runtime keeps it, and it is valid
    second = assert_activated(runtime.answers[-1], license.key)
    assert second["id"] != first["id"]
    assert second["timestamp"] >= first["timestamp"]
    assert runtime.session == second
    assert runtime.validate() is True
    assert LicenseSession.objects.get(pk=first["id"]).ended_at is not None


def test_every_session_the_service_sends_is_as_new_as_its_creation(live_server):
    # Secrets::set_session_id drops a session older than the stored one: the timestamp the service sends for a
    # session must never change after it was first sent (it is the session's creation, not its last use).
    license = make_license()
    runtime = RustRuntime(live_server, license_key=license.key)
    runtime.activate()
    created = LicenseSession.objects.get()
    sent = [serde_session(answer.headers["x-session-id"]) for answer in runtime.answers]
    runtime.validate()
    runtime.activate()
    runtime.validate()
    sent += [serde_session(answer.headers["x-session-id"]) for answer in runtime.answers[1:]]
    assert {(s["id"], s["timestamp"]) for s in sent} == {(str(created.id), int(created.created_at.timestamp()))}


def test_the_rust_runtime_reads_a_refusal_as_its_reason(live_server):
    runtime = RustRuntime(live_server, token="not-a-token")
    assert runtime.activate() == "Invalid token"
    assert_refused(runtime.answers[-1], 403, "Invalid token")
    assert runtime.session == {"id": None, "timestamp": None}


# -- token_expires: the console client's Jwt reads it as i32, the core's own API as u32 --------------------------


def test_token_expires_fits_a_32_bit_integer(client, settings):
    # given
    owner = AccountFactory(login="owner@example.com")
    owner.set_password("pw")
    owner.save()
    for seconds in (24 * 60 * 60, 100 * 365 * 24 * 60 * 60):
        settings.LICENSING_TOKEN_SECONDS = seconds
        # when
        response = client.post(
            "/api/v2/auth/login",
            {"username": "owner@example.com", "password": "pw", "issueJWT": True},
            content_type="application/json",
        )
        # then
        expires = response.json()["data"]["jwt"]["token_expires"]
        assert isinstance(expires, int) and 0 <= expires <= INT32_MAX
    assert expires == INT32_MAX  # a century from now is past 2038: the longest a token can say
    make_license(account=owner)
    token = response.json()["data"]["jwt"]["token"]
    activated = client.post(
        "/api/v2/device/license/activate", "null", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert activated.status_code == 200
