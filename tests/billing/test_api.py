"""The VMS billing API of seeds 000 and 001 (SPEC section 3) through HTTP."""

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from billing.models import Camera, Storage
from devices.authentication import api_key_cache_key
from devices.choices import ApiKeyScope, DeviceStatus
from devices.models import ApiKey, Device, DeviceEvent
from devices.services import api_key_create
from tests.billing.conftest import BillingClient
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db

TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
RESERVED_KEYS = {
    "id",
    "type",
    "uuid",
    "serial_number",
    "status",
    "mac",
    "name",
    "version",
    "created_at",
    "last_updated_at",
    "is_online",
}
ACTIVATED_KEYS = {
    "id",
    "serial_number",
    "mac",
    "name",
    "version",
    "created_at",
    "last_updated_at",
    "is_online",
    "user",
    "storages",
    "cameras_count",
}
USER_KEYS = {
    "id",
    "login",
    "name",
    "type",
    "status",
    "created_at",
    "updated_at",
    "deleted_at",
    "can_update_password",
    "billing_properties",
}


@pytest.fixture
def media_agent(db) -> Device:
    return DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", serial_number="sn", version="1.1.1.1", is_online=True)


@pytest.fixture
def customer(db):
    return AccountFactory(login="user@mail.com", name="user", type="special")


# -- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer nope", "Bearer a.b", "Basic dXNlcjpwYXNz", "Bearer x y"]
)
def test_a_missing_or_wrong_key_is_401_unauthenticated(media_agent, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = BillingClient(None).post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}, **extra)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}
    assert response["WWW-Authenticate"] == "Bearer"
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.AVAILABLE


def test_a_revoked_key_is_401_and_a_wrong_secret_with_a_real_prefix_too(api_key, media_agent):
    key, secret = api_key
    forged = key.prefix + ".forged-secret"
    assert BillingClient(forged).post("check", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}).status_code == 401
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert BillingClient(secret).post("check", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}).status_code == 401


def test_revoking_a_key_locks_it_out_at_once_though_it_was_cached(api_key, billing, media_agent):
    from devices.services import api_key_revoke

    body = {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    assert billing.post("check", body).status_code == 204
    assert billing.post("check", body).status_code == 204  # from the cache
    api_key_revoke(api_key=api_key[0])
    assert billing.post("check", body).status_code == 401


def test_a_key_without_the_billing_scope_is_403_in_laravels_words(media_agent):
    secret = api_key_create(name="crm", scopes=[ApiKeyScope.MANAGE])[1]
    response = BillingClient(secret).post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    assert response.status_code == 403
    assert response.json() == {"message": "This action is unauthorized."}
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.AVAILABLE


def test_a_key_with_both_scopes_uses_billing(media_agent):
    secret = api_key_create(name="both", scopes=[ApiKeyScope.BILLING, ApiKeyScope.MANAGE])[1]
    assert BillingClient(secret).post("check", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}).status_code == 204


def test_an_expired_key_is_401_as_an_unknown_one_though_it_was_cached(api_key, billing, media_agent):
    # given: a key that works for two more seconds, and is in the cache with its expiry
    body = {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    expires_at = timezone.now() + timedelta(seconds=2)
    ApiKey.objects.filter(pk=api_key[0].pk).update(expires_at=expires_at)
    assert billing.post("check", body).status_code == 204
    assert cache.get(api_key_cache_key(api_key[0].secret_hash)).expires_at == expires_at
    # when: they have passed
    time.sleep(max(0.0, (expires_at - timezone.now()).total_seconds()) + 0.05)
    response = billing.post("check", body)
    # then
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}


def test_a_used_key_records_when(api_key, billing, media_agent):
    billing.post("check", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at is not None


# -- the seeds' examples ---------------------------------------------------------------------


@pytest.mark.parametrize("mac", ["A1B2C3D4E5F6", "a1:b2:c3:d4:e5:f6", "A1-B2-C3-D4-E5-F6", "a1b2.c3d4.e5f6"])
def test_reserve_answers_the_seeds_reserved_device(billing, media_agent, mac):
    # when
    response = billing.post("reserve", {"type": "mediaagent", "mac": mac, "serial_number": "sn"})
    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == RESERVED_KEYS
    assert body == {
        "id": media_agent.pk,
        "type": "mediaagent",
        "uuid": str(media_agent.uuid),
        "serial_number": "sn",
        "status": "reserve",
        "mac": "A1B2C3D4E5F6",
        "name": None,
        "version": "1.1.1.1",
        "created_at": None,
        "last_updated_at": None,
        "is_online": True,
    }
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.RESERVED
    event = media_agent.events.get()
    assert (event.source, event.actor, event.action) == ("billing", "billing-test", "reserved")


def test_activate_answers_the_seeds_activated_device(billing, media_agent, customer):
    # given
    Storage.objects.create(device=media_agent, path="/storage1", usage=73.723, capacity=137)
    Camera.objects.create(device=media_agent, name="Gate")
    body = {
        "login": "user@mail.com",
        "name": "test",
        "type": "mediaagent",
        "mac": "a1:b2:c3:d4:e5:f6",
        "serial_number": "sn",
        "skip_reserve_check": False,
    }
    # when
    response = billing.post("activate", body)
    # then
    assert response.status_code == 201
    data = response.json()
    assert set(data) == ACTIVATED_KEYS
    assert set(data["user"]) == USER_KEYS
    storage = Storage.objects.get()
    assert data["storages"] == [{"id": storage.pk, "path": "/storage1", "usage": 73.723, "capacity": 137}]
    assert data["cameras_count"] == 1
    assert (data["id"], data["serial_number"], data["mac"], data["name"], data["version"]) == (
        media_agent.pk,
        "sn",
        "A1B2C3D4E5F6",
        "test",
        "1.1.1.1",
    )
    assert data["last_updated_at"] is None
    assert data["is_online"] is True
    import re

    assert re.match(TIME, data["created_at"])
    user = data["user"]
    assert (user["id"], user["login"], user["name"], user["type"], user["status"]) == (
        customer.pk,
        "user@mail.com",
        "user",
        "special",
        "active",
    )
    assert re.match(TIME, user["created_at"]) and re.match(TIME, user["updated_at"])
    assert (user["deleted_at"], user["can_update_password"], user["billing_properties"]) == (None, True, [])
    media_agent.refresh_from_db()
    assert (media_agent.status, media_agent.account, media_agent.name) == (DeviceStatus.ACTIVE, customer, "test")


def test_check_is_204_for_a_free_device_and_changes_nothing(billing, media_agent):
    response = billing.post("check", {"type": "mediaagent", "serial_number": "sn"})
    assert response.status_code == 204
    assert response.content == b""
    assert not DeviceEvent.objects.exists()


def test_unreserve_and_deactivate_are_204(billing, media_agent, customer, settings):
    settings.DEVICE_DEACTIVATION_SECONDS = 300
    billing.post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    assert billing.post("unreserve", {"uuid": str(media_agent.uuid)}).status_code == 204
    billing.post("activate", {"login": "user@mail.com", "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    response = billing.post("deactivate", {"uuid": str(media_agent.uuid)})
    assert (response.status_code, response.content) == (204, b"")
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.DEACTIVATING


def test_deactivation_with_leave_reserved_ends_reserved_and_clears_storages_and_cameras(
    billing, media_agent, customer, settings
):
    # given
    settings.DEVICE_DEACTIVATION_SECONDS = 300
    billing.post("activate", {"login": "user@mail.com", "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    Storage.objects.create(device=media_agent, path="/s", usage=1, capacity=2)
    Camera.objects.create(device=media_agent, name="c")
    # when
    assert billing.post("deactivate", {"uuid": str(media_agent.uuid), "leave_reserved": True}).status_code == 204
    # then: deactivation until the time has passed
    response = billing.post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    assert response.json() == {"message": "Device in the process of deactivation.", "code": 33610}
    assert Storage.objects.count() == 1
    Device.objects.filter(pk=media_agent.pk).update(status_until=timezone.now() - timezone.timedelta(seconds=1))
    response = billing.post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    assert response.json() == {"message": "Device reserved.", "code": 33599}
    media_agent.refresh_from_db()
    assert (media_agent.status, media_agent.account) == (DeviceStatus.RESERVED, None)
    assert Storage.objects.count() == Camera.objects.count() == 0


# -- every state error through HTTP --------------------------------------------------------


def _ref(device):
    return {"type": device.type, "mac": device.mac}


@pytest.mark.parametrize(
    ("endpoint", "state", "code"),
    [
        ("reserve", {"active": True}, 33603),
        ("reserve", {"deactivating": True}, 33610),
        ("reserve", {"initializing": True}, 33622),
        ("reserve", {"reserved": True}, 33599),
        ("reserve", {"banned": True}, 33601),
        ("check", {"active": True}, 33603),
        ("check", {"deactivating": True}, 33610),
        ("check", {"initializing": True}, 33622),
        ("check", {"reserved": True}, 33599),
        ("check", {"banned": True}, 33601),
        ("activate", {"active": True}, 33603),
        ("activate", {"deactivating": True}, 33610),
        ("activate", {"initializing": True}, 33622),
        ("activate", {"reserved": True}, 33599),
        ("activate", {"banned": True}, 33601),
    ],
)
def test_state_errors_by_device_ref(billing, customer, endpoint, state, code):
    device = DeviceFactory(**state)
    body = {**_ref(device), "login": customer.login, "name": "n"} if endpoint == "activate" else _ref(device)
    response = billing.post(endpoint, body)
    assert response.status_code == 400
    assert set(response.json()) == {"message", "code"}
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("endpoint", "state", "code"),
    [
        ("unreserve", {}, 1000),
        ("unreserve", {"active": True}, 33603),
        ("unreserve", {"deactivating": True}, 33610),
        ("unreserve", {"initializing": True}, 33622),
        ("deactivate", {}, 1000),
        ("deactivate", {"reserved": True}, 33599),
        ("deactivate", {"deactivating": True}, 33610),
        ("deactivate", {"initializing": True}, 33622),
    ],
)
def test_state_errors_by_uuid(billing, endpoint, state, code):
    device = DeviceFactory(**state)
    response = billing.post(endpoint, {"uuid": str(device.uuid)})
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_activate_a_reserved_device_with_skip_reserve_check(billing, customer):
    device = DeviceFactory(reserved=True)
    body = {**_ref(device), "login": customer.login, "name": "n", "skip_reserve_check": True}
    assert billing.post("activate", body).status_code == 201


@pytest.mark.parametrize(
    "ref",
    [
        {"type": "mediaagent", "mac": "FFFFFFFFFFFF"},  # unknown
        {"type": "SIP", "mac": "A1B2C3D4E5F6"},  # the wrong type
        {"type": "mediaagent", "serial_number": "unknown"},
        {"type": "mediaagent", "mac": "A1B2C3D4E5F6", "serial_number": "OTHER"},  # two different devices
    ],
)
@pytest.mark.parametrize("endpoint", ["check", "reserve", "activate"])
def test_device_not_found_is_33600(billing, customer, media_agent, ref, endpoint):
    DeviceFactory(type="mediaagent", serial_number="OTHER")
    body = {**ref, "login": customer.login, "name": "n"} if endpoint == "activate" else ref
    response = billing.post(endpoint, body)
    assert response.status_code == 400
    assert response.json() == {"message": "Device not found.", "code": 33600}


# -- validation: 422 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "account_kwargs",
    [None, {"status": "blocked"}, {"deleted_at": timezone.now()}],
    ids=["unknown", "blocked", "deleted"],
)
def test_an_unknown_blocked_or_deleted_login_is_422(billing, media_agent, account_kwargs):
    if account_kwargs is not None:
        AccountFactory(login="user@mail.com", **account_kwargs)
    response = billing.post(
        "activate", {"login": "user@mail.com", "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    )
    assert response.status_code == 422
    assert response.json() == {
        "message": "The selected login is invalid.",
        "errors": {"login": ["The selected login is invalid."]},
    }
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.AVAILABLE


def test_the_login_is_found_whatever_its_case(billing, media_agent, customer):
    body = {"login": " USER@MAIL.COM", "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    response = billing.post("activate", body)
    assert response.status_code == 201
    assert response.json()["user"]["login"] == "user@mail.com"
    # The event names the account by its login as stored.
    assert DeviceEvent.objects.get(device=media_agent).details == {"account": "user@mail.com"}


def test_an_empty_activate_lists_every_error_in_laravels_words(billing):
    response = billing.post("activate", {})
    assert response.status_code == 422
    assert response.json() == {
        "message": "The login field is required. (and 4 more errors)",
        "errors": {
            "login": ["The login field is required."],
            "name": ["The name field is required."],
            "type": ["The type field is required."],
            "mac": ["The mac field is required when serial number is not present."],
            "serial_number": ["The serial number field is required when mac is not present."],
        },
    }


@pytest.mark.parametrize("endpoint", ["check", "reserve"])
def test_neither_mac_nor_serial_is_422(billing, endpoint):
    response = billing.post(endpoint, {"type": "mediaagent", "mac": "", "serial_number": None})
    assert response.status_code == 422
    assert (
        response.json()["message"] == "The mac field is required when serial number is not present. (and 1 more error)"
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"type": "mediaagent", "mac": "fake_mac_5"}, "mac", "The mac field format is invalid."),
        ({"type": 5, "mac": "A1B2C3D4E5F6"}, None, None),  # a number is taken as its text, as Laravel does
        ({"type": ["x"], "mac": "A1B2C3D4E5F6"}, "type", "The type field must be a string."),
        ({"type": "x" * 33, "mac": "A1B2C3D4E5F6"}, "type", "The type field must not be greater than 32 characters."),
        ({"type": "media\x00agent", "mac": "A1B2C3D4E5F6"}, "type", "The type field must not contain null characters."),
    ],
)
def test_bad_fields_are_422_with_laravels_texts(billing, body, field, message):
    response = billing.post("reserve", body)
    if field is None:
        assert response.status_code == 400  # valid, but no such device
        return
    assert response.status_code == 422
    assert response.json() == {"message": message, "errors": {field: [message]}}


@pytest.mark.parametrize("value", ["yes", 2, None, [], "maybe"])
def test_skip_reserve_check_must_be_a_boolean(billing, customer, media_agent, value):
    body = {
        "login": customer.login,
        "name": "n",
        "type": "mediaagent",
        "mac": "A1B2C3D4E5F6",
        "skip_reserve_check": value,
    }
    response = billing.post("activate", body)
    assert response.status_code == 422
    assert response.json()["errors"] == {"skip_reserve_check": ["The skip reserve check field must be true or false."]}


@pytest.mark.parametrize("value", [True, False, 1, 0, "1", "0", "true", "false"])
def test_skip_reserve_check_accepts_laravels_booleans(billing, customer, media_agent, value):
    body = {
        "login": customer.login,
        "name": "n",
        "type": "mediaagent",
        "mac": "A1B2C3D4E5F6",
        "skip_reserve_check": value,
    }
    assert billing.post("activate", body).status_code == 201


@pytest.mark.parametrize(
    ("uuid", "message"),
    [
        ("7a593d26-8cfd-47e9-8647-1fb18a36fedb", "The selected uuid is invalid."),
        ("not-a-uuid", "The uuid field must be a valid UUID."),
    ],
)
@pytest.mark.parametrize("endpoint", ["unreserve", "deactivate"])
def test_a_bad_or_unknown_uuid_is_422(billing, endpoint, uuid, message):
    response = billing.post(endpoint, {"uuid": uuid})
    assert response.status_code == 422
    assert response.json() == {"message": message, "errors": {"uuid": [message]}}


# -- unreserve and deactivate by type with MAC and/or serial number (UPSTREAM.md, AIPIX) ----------------------------


def _aipix_post(billing, endpoint: str, body: bytes):
    """The request an AIPIX integrator's PHP client sends (the seeds' `file_get_contents` example)."""
    return billing.client.post(
        "/api/v1/billing/devices/" + endpoint,
        body,
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        HTTP_AUTHORIZATION=f"Bearer {billing.secret}",
    )


@pytest.mark.parametrize(
    "ref",
    [
        b'{"type":"mediaagent","mac":"a1:b2:c3:d4:e5:f6"}',
        b'{"type":"mediaagent","serial_number":"sn"}',
        b'{"type":"mediaagent","mac":"A1B2C3D4E5F6","serial_number":"sn"}',
    ],
)
def test_unreserve_by_type_and_mac_or_serial_number_is_204(billing, media_agent, ref):
    # given
    assert billing.post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}).status_code == 200
    # when
    response = _aipix_post(billing, "unreserve", ref)
    # then
    assert (response.status_code, response.content) == (204, b"")
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.AVAILABLE
    assert DeviceEvent.objects.filter(device=media_agent, action="unreserved").count() == 1


@pytest.mark.parametrize("leave_reserved", [True, False])
def test_deactivate_by_type_and_mac_after_activating_by_mac(billing, media_agent, customer, settings, leave_reserved):
    # given: the integrator activated by MAC and never saw the uuid
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    activated = billing.post(
        "activate", {"login": customer.login, "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    )
    assert "uuid" not in activated.json()
    # when
    body = b'{"type":"mediaagent","mac":"A1-B2-C3-D4-E5-F6","leave_reserved":%s}' % str(leave_reserved).lower().encode()
    response = _aipix_post(billing, "deactivate", body)
    # then
    assert (response.status_code, response.content) == (204, b"")
    media_agent.refresh_from_db()
    expected = DeviceStatus.RESERVED if leave_reserved else DeviceStatus.AVAILABLE
    assert (media_agent.status, media_agent.account) == (expected, None)


@pytest.mark.parametrize(
    "ref",
    [
        {"type": "mediaagent", "mac": "FFFFFFFFFFFF"},  # unknown
        {"type": "SIP", "mac": "A1B2C3D4E5F6"},  # the wrong type
        {"type": "mediaagent", "mac": "A1B2C3D4E5F6", "serial_number": "OTHER"},  # two different devices
    ],
)
@pytest.mark.parametrize("endpoint", ["unreserve", "deactivate"])
def test_unreserve_and_deactivate_of_a_ref_naming_no_device_are_33600(billing, media_agent, endpoint, ref):
    DeviceFactory(type="mediaagent", serial_number="OTHER", active=True)
    media_agent_status = media_agent.status
    response = billing.post(endpoint, ref)
    assert (response.status_code, response.json()) == (400, {"message": "Device not found.", "code": 33600})
    media_agent.refresh_from_db()
    assert media_agent.status == media_agent_status
    assert not DeviceEvent.objects.exists()


@pytest.mark.parametrize(
    ("endpoint", "state", "code"),
    [
        ("unreserve", {}, 1000),
        ("unreserve", {"active": True}, 33603),
        ("deactivate", {}, 1000),
        ("deactivate", {"reserved": True}, 33599),
        ("deactivate", {"deactivating": True}, 33610),
    ],
)
def test_state_errors_of_unreserve_and_deactivate_by_ref(billing, endpoint, state, code):
    device = DeviceFactory(**state)
    response = billing.post(endpoint, _ref(device))
    assert (response.status_code, response.json()["code"]) == (400, code)


@pytest.mark.parametrize("endpoint", ["unreserve", "deactivate"])
def test_a_uuid_and_a_ref_of_two_devices_name_none(billing, media_agent, endpoint):
    other = DeviceFactory(type="mediaagent", reserved=True)
    body = {"uuid": str(other.uuid), "type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    response = billing.post(endpoint, body)
    message = "The selected uuid is invalid."
    assert (response.status_code, response.json()) == (422, {"message": message, "errors": {"uuid": [message]}})


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {},
            {
                "uuid": ["The uuid field is required when type is not present."],
                "type": ["The type field is required when uuid is not present."],
            },
        ),
        (
            {"uuid": ""},
            {
                "uuid": ["The uuid field is required when type is not present."],
                "type": ["The type field is required when uuid is not present."],
            },
        ),
        (
            {"type": "mediaagent"},
            {
                "mac": ["The mac field is required when serial number is not present."],
                "serial_number": ["The serial number field is required when mac is not present."],
            },
        ),
        (
            {"type": "mediaagent", "mac": "nope"},
            {"mac": ["The mac field format is invalid."]},
        ),
        (
            {"type": ["mediaagent"], "mac": "A1B2C3D4E5F6"},
            {"type": ["The type field must be a string."]},
        ),
    ],
)
@pytest.mark.parametrize("endpoint", ["unreserve", "deactivate"])
def test_unreserve_and_deactivate_without_a_device_name_are_422(billing, endpoint, body, errors):
    response = billing.post(endpoint, body)
    assert response.status_code == 422
    first = next(iter(errors.values()))[0]
    more = sum(len(messages) for messages in errors.values()) - 1
    message = first + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")
    assert response.json() == {"message": message, "errors": errors}


@pytest.mark.parametrize("raw", ['{"type": ', "not json", "[1]", "null", "42"])
def test_a_malformed_or_non_object_body_is_422(billing, raw):
    response = billing.post("reserve", raw=raw)
    assert response.status_code == 422
    assert set(response.json()) == {"message", "errors"}


def test_other_methods_are_405_json(billing):
    response = billing.client.get("/api/v1/billing/devices/reserve", HTTP_AUTHORIZATION=f"Bearer {billing.secret}")
    assert response.status_code == 405
    assert response.json() == {"message": 'Method "GET" not allowed.'}


# -- query counts ------------------------------------------------------------------------------


def _warm(billing):
    """The first request of a key reads it (and records its use); later ones find it in the cache."""
    billing.post("check", {"type": "none", "mac": "000000000000"})


@pytest.mark.parametrize("storages", [0, 50])
def test_activate_takes_a_fixed_number_of_queries(billing, customer, media_agent, storages, django_assert_num_queries):
    Storage.objects.bulk_create(
        Storage(device=media_agent, path=f"/s{i}", usage=1, capacity=2) for i in range(storages)
    )
    Camera.objects.bulk_create(Camera(device=media_agent, name=f"c{i}") for i in range(storages))
    _warm(billing)
    body = {"login": customer.login, "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    # One statement that finds the account by login, activates the available device, writes the event and
    # counts the storages and cameras (devices.sql); then the storages are read when there are some.
    with django_assert_num_queries(1 if storages == 0 else 2):
        response = billing.post("activate", body)
    assert response.status_code == 201
    assert [s["path"] for s in response.json()["storages"]] == [f"/s{i}" for i in range(storages)]
    assert response.json()["cameras_count"] == storages


def test_a_refused_activation_reads_the_device_to_learn_why(billing, customer, media_agent, django_assert_num_queries):
    _warm(billing)
    media_agent.status = DeviceStatus.RESERVED
    media_agent.save()
    body = {"login": customer.login, "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    # The statement matches nothing; SAVEPOINT, SELECT ... FOR UPDATE to learn why, RELEASE, and whether the
    # login names a usable account (it does: the device's state is the reason).
    with django_assert_num_queries(5):
        response = billing.post("activate", body)
    assert response.json() == {"message": "Device reserved.", "code": 33599}
    assert DeviceEvent.objects.filter(device=media_agent).count() == 0


def test_a_reserved_device_activated_with_skip_reserve_check_gets_its_storages(billing, customer, media_agent):
    media_agent.status = DeviceStatus.RESERVED
    media_agent.save()
    Storage.objects.create(device=media_agent, path="/s", usage=1.5, capacity=2)
    Camera.objects.create(device=media_agent, name="c")
    body = {"login": customer.login, "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    response = billing.post("activate", {**body, "skip_reserve_check": True})
    assert response.status_code == 201
    storage = Storage.objects.get()
    assert response.json()["storages"] == [{"id": storage.pk, "path": "/s", "usage": 1.5, "capacity": 2}]
    assert response.json()["cameras_count"] == 1


def test_an_unknown_login_and_a_bad_mac_are_both_reported(billing, media_agent):
    body = {"login": "nobody@mail.com", "name": "n", "type": "mediaagent", "mac": "not a mac"}
    response = billing.post("activate", body)
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "login": ["The selected login is invalid."],
        "mac": ["The mac field format is invalid."],
    }


@pytest.mark.parametrize(
    ("endpoint", "queries"),
    [
        # One statement that locks and reserves the available device and writes its event (devices.sql).
        ("reserve", 1),
        # SELECT whether the device named is activatable.
        ("check", 1),
    ],
)
def test_reserve_and_check_take_a_fixed_number_of_queries(
    billing, media_agent, endpoint, queries, django_assert_num_queries
):
    _warm(billing)
    with django_assert_num_queries(queries):
        billing.post(endpoint, {"type": "mediaagent", "mac": "A1B2C3D4E5F6"})


def test_a_refused_reserve_reads_the_device_to_learn_why(billing, media_agent, django_assert_num_queries):
    _warm(billing)
    assert billing.post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}).status_code == 200
    # The statement matches nothing (reserved already); SAVEPOINT, SELECT ... FOR UPDATE to learn why, RELEASE.
    with django_assert_num_queries(4):
        response = billing.post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    assert response.json() == {"message": "Device reserved.", "code": 33599}


@pytest.mark.parametrize("storages", [0, 50])
def test_unreserve_and_deactivate_take_a_fixed_number_of_queries(
    billing, storages, django_assert_num_queries, settings
):
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    reserved, active = DeviceFactory(reserved=True), DeviceFactory(active=True)
    Storage.objects.bulk_create(Storage(device=active, path=f"/s{i}", usage=1, capacity=2) for i in range(storages))
    _warm(billing)
    # One statement that locks and unreserves the device and writes its event.
    with django_assert_num_queries(1):
        assert billing.post("unreserve", {"uuid": str(reserved.uuid)}).status_code == 204
    # SAVEPOINT, the statement that starts the deactivation, then at once (0 s) SAVEPOINT, the statements that
    # finish initializations (none) and deactivations, and each protocol clears what belonged to the ownership:
    # DELETE storages, DELETE cameras, SELECT license sessions to end (none), DELETE SIP line; RELEASE, RELEASE.
    with django_assert_num_queries(11):
        assert billing.post("deactivate", {"uuid": str(active.uuid)}).status_code == 204
    assert Storage.objects.count() == 0


def test_a_login_with_a_nul_byte_beside_other_errors_is_a_422(billing):
    body = {"login": "a\x00b", "name": "n" * 300, "type": "mediaagent", "mac": "nope"}
    response = billing.post("activate", body)
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"login", "name", "mac"}
