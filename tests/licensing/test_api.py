"""The edge-device licensing API (seed 003, SPEC section 5) through HTTP, as the edge runtime uses it."""

import re
import time

import pytest
from django.utils import timezone

from devices import services
from devices.choices import DeviceStatus, EventSource
from devices.models import Device
from licensing.models import DeviceLicense, DeviceLicenseStatus, License, LicenseSession
from licensing.tokens import token_issue
from tests.factories import AccountFactory
from tests.licensing.conftest import PASSWORD, make_license, session_of

pytestmark = pytest.mark.django_db

UUID = re.compile(r"^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
OPERATOR = services.Actor(source=EventSource.ADMIN, name="operator")


def assert_error(response, status: int, reason: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"reason": reason, "statusCode": status, "statusText": response.reason_phrase}


# -- the reference client's flow ----------------------------------------------------------------


def test_activate_by_key_then_again_with_the_session_then_validate(api):
    # given
    license = make_license()
    # when: the first activation
    first = api.activate(license.key)
    # then: 200, the body and the session header agree
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"data", "statusCode", "statusText"}
    assert (body["statusCode"], body["statusText"]) == (200, "OK")
    assert set(body["data"]) == {"sessionId", "licenseKey"}
    assert body["data"]["licenseKey"] == license.key
    session = body["data"]["sessionId"]
    assert set(session) == {"id", "timestamp"} and UUID.match(session["id"])
    assert abs(session["timestamp"] - time.time()) < 60
    assert session_of(first) == session
    assert first["X-Session-Id"] == f'{{"id":"{session["id"]}","timestamp":{session["timestamp"]}}}'
    device = Device.objects.get()
    assert (device.type, device.status, device.account) == ("flecs", DeviceStatus.ACTIVE, None)
    assert device.events.get().action == "license_activated"

    # when: activating again with that session
    again = api.activate(license.key, session=session["id"])
    # then: already active
    assert (again.status_code, again.content) == (204, b"")
    assert session_of(again) == session
    assert Device.objects.count() == 1

    # when: validating
    valid = api.validate(session["id"])
    assert valid.status_code == 200
    assert valid.json() == {"data": {"isValid": True}, "statusCode": 200, "statusText": "OK"}
    assert session_of(valid) == session
    assert LicenseSession.objects.get().last_validated_at is not None


def _activated(api, **license_kwargs) -> tuple[License, str]:
    license = make_license(**license_kwargs)
    return license, api.activate(license.key).json()["data"]["sessionId"]["id"]


def test_revoking_the_key_turns_validation_false(api):
    license, session = _activated(api)
    License.objects.filter(pk=license.pk).update(revoked_at=timezone.now())
    assert api.validate(session).json()["data"] == {"isValid": False}


def test_an_expired_key_turns_validation_false(api):
    license, session = _activated(api)
    License.objects.filter(pk=license.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert api.validate(session).json()["data"] == {"isValid": False}


def test_banning_the_device_turns_validation_false_and_unbanning_back(api):
    _license, session = _activated(api)
    device = Device.objects.get()
    services.device_ban(device=device, reason="stolen", actor=OPERATOR)
    assert api.validate(session).json()["data"] == {"isValid": False}
    services.device_unban(device=device, actor=OPERATOR)
    assert api.validate(session).json()["data"] == {"isValid": True}


def test_deactivating_the_device_turns_validation_false_and_frees_the_activation(api, settings):
    # given
    settings.DEVICE_DEACTIVATION_SECONDS = 300
    license, session = _activated(api)
    device = Device.objects.get()
    # when: the deactivation starts
    services.device_deactivate(device=device, actor=OPERATOR)
    # then
    assert api.validate(session).json()["data"] == {"isValid": False}
    assert_error(api.activate(license.key), 403, "License found but maximum activations reached")
    # when: it ends
    Device.objects.filter(pk=device.pk).update(status_until=timezone.now() - timezone.timedelta(seconds=1))
    call_process_transitions()
    # then: the session is over and the key can activate another device
    assert LicenseSession.objects.get(pk=session).ended_at is not None
    assert api.validate(session).json()["data"] == {"isValid": False}
    assert api.activate(license.key).status_code == 200


def call_process_transitions():
    from django.core.management import call_command

    call_command("process_transitions", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_an_unknown_session_is_not_valid_and_no_error(api):
    response = api.validate("3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80")
    assert response.json() == {"data": {"isValid": False}, "statusCode": 200, "statusText": "OK"}
    assert "X-Session-Id" not in response


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "Missing Header: X-Session-Id"),
        ("", "Missing Header: X-Session-Id"),
        ("not-a-uuid", "Invalid Header: X-Session-Id"),
        ("3F0F7A4E-6C1E-4B8E-9D4A-2F1D5C6B7A80", "Invalid Header: X-Session-Id"),
        ('{"id":"3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80"}', "Invalid Header: X-Session-Id"),
        ("3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80\x00", "Invalid Header: X-Session-Id"),
    ],
)
def test_a_missing_or_malformed_session_header_is_400(api, header, reason):
    assert_error(api.validate(header), 400, reason)


# -- activation errors ------------------------------------------------------------------------


def test_no_key_and_no_token_is_missing_authorization(api):
    for body in [..., {}, None, {"licenseKey": ""}, {"licenseKey": None}]:
        assert_error(api.activate(body=body), 403, "Missing Header: Authorization")


def test_an_unknown_key_is_not_found(api):
    assert_error(api.activate("AAAAA-BBBBB-CCCCC-DDDDD"), 403, "License not found")


@pytest.mark.parametrize(
    "kwargs",
    [{"revoked_at": timezone.now()}, {"expires_at": timezone.now() - timezone.timedelta(days=1)}],
    ids=["revoked", "expired"],
)
def test_a_revoked_or_expired_key_is_invalid(api, kwargs):
    license = make_license(**kwargs)
    assert_error(api.activate(license.key), 403, "License found but invalid")


def test_a_key_activates_max_activations_devices_then_refuses(api):
    license = make_license(max_activations=2)
    assert [api.activate(license.key).status_code for _ in range(2)] == [200, 200]
    assert_error(api.activate(license.key), 403, "License found but maximum activations reached")
    license.refresh_from_db()
    assert license.activations_count == 2


def test_a_key_is_accepted_in_lower_case(api):
    license = make_license()
    assert api.activate(license.key.lower()).status_code == 200


def test_a_session_of_another_license_is_a_new_activation(api):
    _first, session = _activated(api)
    other = make_license()
    response = api.activate(other.key, session=session)
    assert response.status_code == 200
    assert response.json()["data"]["sessionId"]["id"] != session


def test_a_banned_device_resending_its_session_is_refused(api):
    license, session = _activated(api)
    services.device_ban(device=Device.objects.get(), reason="x", actor=OPERATOR)
    assert_error(api.activate(license.key, session=session), 403, "Device banned")


@pytest.mark.parametrize("raw", ['{"licenseKey": ', "[1]", '"key"', '{"licenseKey": 42}', '{"licenseKey": ["a"]}'])
def test_a_malformed_body_is_400_in_the_licensing_format(api, raw):
    response = api.post("device/license/activate", raw=raw)
    assert response.status_code == 400
    assert set(response.json()) == {"reason", "statusCode", "statusText"}
    assert not Device.objects.exists()


def test_an_unexpected_failure_is_a_500_in_the_licensing_format(api, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("licensing.services.license_activate_by_key", broken)
    assert_error(api.activate("AAAAA-BBBBB-CCCCC-DDDDD"), 500, "Could not validate device activation")


def test_unknown_paths_and_methods_answer_in_the_licensing_format(api, settings):
    settings.DEBUG = False
    assert_error(api.client.get("/api/v2/device/license/activate"), 405, 'Method "GET" not allowed.')
    assert_error(api.post("device/license/nothing-here", {}), 404, "Not found.")
    assert_error(api.post("auth/nothing-here", {}), 404, "Not found.")


# -- the user-license path: the account's pool ------------------------------------------------


def test_the_pool_is_used_key_by_key_then_no_remaining_activations(api, owner, token):
    # given
    keys = [make_license(account=owner).key for _ in range(3)]
    make_license()  # a key of nobody's pool
    # when: the reference client sends the literal null
    answers = [api.activate(body=None, raw="null", token=token) for _ in range(3)]
    # then
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["data"]["licenseKey"] for a in answers] == keys
    assert_error(api.activate(raw="null", token=token), 403, "No remaining activations")
    assert set(Device.objects.values_list("account", flat=True)) == {owner.pk}


def test_a_pool_session_resent_is_already_active(api, owner, token):
    make_license(account=owner)
    session = api.activate(raw="null", token=token).json()["data"]["sessionId"]["id"]
    response = api.activate(raw="null", token=token, session=session)
    assert response.status_code == 204
    assert session_of(response)["id"] == session


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Basic abc", "Bearer eyJhbGciOiJub25lIn0.e30."])
def test_a_bad_token_is_refused(api, header):
    response = api.post("device/license/activate", raw="null", HTTP_AUTHORIZATION=header)
    assert_error(response, 403, "Invalid token")


def test_an_expired_token_or_a_blocked_account_is_refused(api, owner, settings):
    make_license(account=owner)
    settings.LICENSING_TOKEN_SECONDS = -10
    expired = token_issue(account=owner)[0]
    assert_error(api.activate(raw="null", token=expired), 403, "Invalid token")
    settings.LICENSING_TOKEN_SECONDS = 3600
    fresh = token_issue(account=owner)[0]
    owner.status = "blocked"
    owner.save()
    assert_error(api.activate(raw="null", token=fresh), 403, "Invalid token")


# -- login ------------------------------------------------------------------------------------


def test_login_answers_the_flecs_body_with_a_working_token(api, owner):
    response = api.post("auth/login", {"username": "OWNER@example.com", "password": PASSWORD, "issueJWT": True})
    assert response.status_code == 200
    body = response.json()
    assert (body["statusCode"], body["statusText"]) == (200, "OK")
    data = body["data"]
    assert set(data) == {"jwt", "user", "feature_flags"}
    assert set(data["jwt"]) == {"token", "token_expires"}
    assert data["jwt"]["token_expires"] > time.time()
    assert data["user"] == {
        "ID": owner.pk,
        "display_name": owner.name,
        "user_email": "owner@example.com",
        "user_login": "owner@example.com",
    }
    assert data["feature_flags"] == {"isVendor": False, "isWhitelabeled": False}
    make_license(account=owner)
    assert api.activate(raw="null", token=data["jwt"]["token"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"username": "owner@example.com", "password": "wrong"},
        {"username": "nobody@example.com", "password": PASSWORD},
    ],
)
def test_wrong_credentials_are_403_and_say_nothing_about_which(api, owner, body):
    assert_error(api.post("auth/login", body), 403, "Sorry, the username or password you entered is incorrect.")


def test_a_blocked_account_cannot_log_in(api, owner):
    owner.status = "blocked"
    owner.save()
    response = api.post("auth/login", {"username": owner.login, "password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"password": "x"}, "Missing field: username"),
        ({"username": "x"}, "Missing field: password"),
        ({"username": ["x"], "password": "x"}, "Invalid field: username"),
    ],
)
def test_login_with_a_missing_field_is_400(api, body, reason):
    assert_error(api.post("auth/login", body), 400, reason)


def test_login_without_issue_jwt_gives_no_token(api, owner):
    response = api.post("auth/login", {"username": owner.login, "password": PASSWORD})
    assert response.json()["data"]["jwt"] is None


# -- device licenses ----------------------------------------------------------------------------

# The console's OpenAPI document's own example (FLECS-Technologies/flecs-console-api, api/openapi.yaml).
REGISTRATION = {
    "manufacturer": {"name": "Example Manufacturer", "id": 791},
    "model": "IPC-xyz",
    "serial_number": "SN123456789",
    "manufacture_date": "2025-01-01",
}


@pytest.fixture
def vendor_token(db) -> str:
    return token_issue(account=AccountFactory(is_vendor=True))[0]


def test_the_documents_example_registers_and_answers_as_the_documents_example(api, vendor_token):
    # when
    response = api.post("device/license", REGISTRATION, token=vendor_token)
    # then: the document's 201 example, but for the time
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    body = response.json()
    created_at = body["data"].pop("created_at")
    assert body == {"data": {**REGISTRATION, "status": 0}, "statusCode": 201, "statusText": "Created"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created_at)
    registered = DeviceLicense.objects.get()
    assert (registered.license.key, registered.manufacturer_id) == ("SN123456789", "791")


def test_a_registered_serial_number_activates_as_a_license_key_and_its_status_follows(api, vendor_token):
    def status() -> int:
        return DeviceLicense.objects.with_status().values_list("status", flat=True).get()

    api.post("device/license", REGISTRATION, token=vendor_token)
    assert status() == DeviceLicenseStatus.REGISTERED == 0
    # when the device activates with it
    activated = api.activate("SN123456789")
    # then
    assert activated.status_code == 200
    assert activated.json()["data"]["licenseKey"] == "SN123456789"
    assert status() == DeviceLicenseStatus.ACTIVATED == 1
    # and when an operator revokes it
    License.objects.filter(device_license__isnull=False).update(revoked_at=timezone.now())
    assert status() == DeviceLicenseStatus.REVOKED == 2


def test_a_manufacturer_id_sent_as_a_string_of_digits_is_that_integer(api, vendor_token):
    body = {**REGISTRATION, "manufacturer": {"name": "Example Manufacturer", "id": "791"}}
    response = api.post("device/license", body, token=vendor_token)
    assert response.status_code == 201
    assert response.json()["data"]["manufacturer"] == {"name": "Example Manufacturer", "id": 791}


@pytest.mark.parametrize("manufacturer_id", ["acme", "", " 791", "791 ", "7.9", "-1", "٧٩١", 0, -1, 2**63, 791.0, True])
def test_a_manufacturer_id_that_is_no_integer_is_400(api, vendor_token, manufacturer_id):
    body = {**REGISTRATION, "manufacturer": {"name": "Example Manufacturer", "id": manufacturer_id}}
    response = api.post("device/license", body, token=vendor_token)
    assert_error(response, 400, "Invalid payload: invalid field 'manufacturer.id'")
    assert not DeviceLicense.objects.exists()


def test_registering_a_serial_number_twice_is_422(api, vendor_token):
    api.post("device/license", REGISTRATION, token=vendor_token)
    assert_error(api.post("device/license", REGISTRATION, token=vendor_token), 422, "Serial number already registered")
    assert DeviceLicense.objects.count() == 1


@pytest.mark.parametrize("serial", [" SN", "SN 1", "<script>", "x" * 129, "SN\x00", "SN1\n", "SN1\r\n"])
def test_an_invalid_serial_number_is_422_or_400(api, vendor_token, serial):
    response = api.post("device/license", {**REGISTRATION, "serial_number": serial}, token=vendor_token)
    assert response.status_code in (400, 422)
    assert set(response.json()) == {"reason", "statusCode", "statusText"}
    assert not DeviceLicense.objects.exists()


def test_a_serial_number_with_a_trailing_newline_is_the_documents_422(api, vendor_token):
    response = api.post("device/license", {**REGISTRATION, "serial_number": "SN1\n"}, token=vendor_token)
    assert_error(response, 422, "Invalid serial number format")


@pytest.mark.parametrize("missing", ["manufacturer", "model", "serial_number", "manufacture_date"])
def test_a_missing_registration_field_is_400_in_the_documents_words(api, vendor_token, missing):
    body = {k: v for k, v in REGISTRATION.items() if k != missing}
    reason = f"Invalid payload: missing required field '{missing}'"
    assert_error(api.post("device/license", body, token=vendor_token), 400, reason)


def test_a_missing_manufacturer_name_is_named_by_its_path(api, vendor_token):
    body = {**REGISTRATION, "manufacturer": {"id": 791}}
    reason = "Invalid payload: missing required field 'manufacturer.name'"
    assert_error(api.post("device/license", body, token=vendor_token), 400, reason)


def test_registration_needs_a_vendor_token(api, token):
    assert_error(api.post("device/license", REGISTRATION), 401, "Invalid or missing bearer token")
    assert_error(api.post("device/license", REGISTRATION, token="garbage"), 401, "Invalid or missing bearer token")
    assert_error(
        api.post("device/license", REGISTRATION, HTTP_AUTHORIZATION="Basic abc"), 401, "Invalid or missing bearer token"
    )
    assert_error(
        api.post("device/license", REGISTRATION, token=token), 403, "Only vendor accounts may register device licenses"
    )


def test_registration_takes_a_fixed_number_of_queries(api, vendor_token, django_assert_num_queries):
    # SELECT the token's account; SAVEPOINT (the service) and SAVEPOINT (the duplicate check), INSERT license,
    # INSERT device license, RELEASE, RELEASE; SELECT the registration with its status.
    with django_assert_num_queries(8):
        assert api.post("device/license", REGISTRATION, token=vendor_token).status_code == 201


# -- query counts ----------------------------------------------------------------------------


def test_activate_by_key_takes_a_fixed_number_of_queries(api, django_assert_num_queries):
    license = make_license()
    # One UPDATE of the license's count that inserts the device, its event and the session (devices.sql).
    with django_assert_num_queries(1):
        assert api.activate(license.key).status_code == 200


def test_activate_with_a_session_not_of_this_license_reads_it_then_activates(api, django_assert_num_queries):
    license = make_license(max_activations=2)
    session = session_of(api.activate(license.key))
    # SELECT the session sent (not one of this license's), then the one statement of an activation.
    with django_assert_num_queries(2):
        response = api.activate(license.key, session="0b0e1d2c-3a4b-4c5d-8e6f-7a8b9c0d1e2f")
    assert response.status_code == 200
    assert session_of(response)["id"] != session["id"]


def test_validate_reads_and_records_the_heartbeat_in_one_query_once_a_minute(api, django_assert_num_queries):
    _license, session = _activated(api)
    # Whether the session is valid, read by the statement that records the validation (devices.sql).
    with django_assert_num_queries(1):
        assert api.validate(session).json()["data"] == {"isValid": True}
    first = LicenseSession.objects.get(pk=session).last_validated_at
    assert first is not None
    # Within a minute the same statement reads and leaves the heartbeat alone.
    with django_assert_num_queries(1):
        assert api.validate(session).json()["data"] == {"isValid": True}
    assert LicenseSession.objects.get(pk=session).last_validated_at == first
    # A minute later it is recorded again.
    LicenseSession.objects.filter(pk=session).update(last_validated_at=first - timezone.timedelta(minutes=2))
    with django_assert_num_queries(1):
        api.validate(session)
    assert LicenseSession.objects.get(pk=session).last_validated_at > first


@pytest.mark.parametrize("path", ["key", "pool"])
def test_the_session_of_a_device_an_operator_deactivated_is_not_already_active_as_validate_says(
    api, owner, token, settings, path
):
    # given: a key with two activations; its first device is being deactivated by an operator
    settings.DEVICE_DEACTIVATION_SECONDS = 300
    license = make_license(max_activations=2, account=owner if path == "pool" else None)
    activate = (
        (lambda **kw: api.activate(license.key, **kw))
        if path == "key"
        else (lambda **kw: api.activate(raw="null", token=token, **kw))
    )
    first = activate().json()["data"]["sessionId"]["id"]
    services.device_deactivate(device=Device.objects.get(), actor=OPERATOR)
    assert api.validate(first).json()["data"] == {"isValid": False}
    # when: the device activates again with its session
    again = activate(session=first)
    # then: not "already active" (204): a new activation, which validate finds valid
    assert again.status_code == 200, again.content
    second = again.json()["data"]["sessionId"]["id"]
    assert second != first
    assert session_of(again)["id"] == second
    assert api.validate(second).json()["data"] == {"isValid": True}
    assert api.validate(first).json()["data"] == {"isValid": False}
    # and a key with no activation left says so, as it does without a session
    assert_error(
        activate(session=first),
        403,
        ("License found but maximum activations reached" if path == "key" else "No remaining activations"),
    )
