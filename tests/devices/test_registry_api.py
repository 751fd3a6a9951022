"""The client device registry of seed 002 (SPEC section 4)."""

import json

import pytest
from constance.test import override_config

from devices.choices import DeviceStatus
from devices.models import ClientAppInfo, Device, DeviceEvent
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

SEED_BODY = {
    "mac_address": "A1B2C3D4E5F6",
    "device_os": "iOS",
    "device_version": "14.5",
    "device_type": "Mobile",
    "app_version": "2.0",
    "app_name": "MyApp",
}
FIELDS = list(SEED_BODY)


def post_json(client, body, **extra):
    payload = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post("/api/v2/device", payload, content_type="application/json", **extra)


def assert_envelope(body: dict, status: int, message: str) -> None:
    assert isinstance(body["timestamp"], int)
    assert isinstance(body["time"], float)
    assert body["ip"] == "127.0.0.1"
    assert (body["status"], body["message"]) == (status, message)


def test_the_seed_example_answers_the_seed_envelope(client):
    # when
    response = post_json(client, SEED_BODY)
    # then: the seed's keys and types, whole
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "timestamp", "time", "ip", "message", "data"}
    assert_envelope(body, 200, "Success")
    assert body["data"] == {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 0}
    device = Device.objects.get()
    assert (device.type, device.mac, device.version, device.status) == ("Mobile", "A1B2C3D4E5F6", "14.5", "available")
    assert device.is_online
    info = ClientAppInfo.objects.get()
    assert (info.device_os, info.app_name, info.app_version, info.ip) == ("iOS", "MyApp", "2.0", "127.0.0.1")


def test_form_encoded_body_is_accepted(client):
    response = client.post("/api/v2/device", SEED_BODY)  # multipart
    assert response.status_code == 200
    response = client.post(
        "/api/v2/device",
        "&".join(f"{k}={v}" for k, v in SEED_BODY.items()),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert Device.objects.count() == 1


@pytest.mark.parametrize("spelling", ["a1:b2:c3:d4:e5:f6", "A1-B2-C3-D4-E5-F6", "a1b2.c3d4.e5f6"])
def test_a_known_mac_in_any_spelling_updates_the_same_device(client, spelling):
    # given
    post_json(client, SEED_BODY)
    # when
    response = post_json(client, {**SEED_BODY, "mac_address": spelling, "app_version": "2.1", "device_version": "15"})
    # then
    assert response.json()["data"]["mac_address"] == "A1B2C3D4E5F6"
    device = Device.objects.get()
    assert device.version == "15"
    assert device.client_app.app_version == "2.1"
    event = DeviceEvent.objects.filter(action="client_updated").get()
    assert event.details == {"version": ["14.5", "15"], "device_version": ["14.5", "15"], "app_version": ["2.0", "2.1"]}


def test_a_repeated_identical_report_writes_no_event(client):
    post_json(client, SEED_BODY)
    post_json(client, SEED_BODY)
    assert list(DeviceEvent.objects.values_list("action", flat=True)) == ["registered"]


def test_the_registry_keeps_an_existing_devices_lifecycle(client):
    DeviceFactory(mac="A1B2C3D4E5F6", type="Mobile", active=True)
    response = post_json(client, SEED_BODY)
    assert response.status_code == 200
    assert Device.objects.get().status == DeviceStatus.ACTIVE


@pytest.mark.parametrize("field", FIELDS)
def test_a_missing_field_is_a_400_envelope_naming_it(client, field):
    body = {k: v for k, v in SEED_BODY.items() if k != field}
    response = post_json(client, body)
    assert response.status_code == 400
    payload = response.json()
    assert_envelope(payload, 400, f"The {field} field is required.")
    assert payload["data"] is None
    assert payload["errors"] == {field: [f"The {field} field is required."]}
    assert Device.objects.count() == 0


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_field_is_a_400_envelope_naming_it(client, field, empty):
    response = post_json(client, {**SEED_BODY, field: empty})
    assert response.status_code == 400
    assert_envelope(response.json(), 400, f"The {field} field must not be empty.")
    assert Device.objects.count() == 0


@pytest.mark.parametrize("mac", ["A1B2C3D4E5", "fake_mac_5", "a1:b2:c3:d4:e5:zz", "<script>", "' OR 1=1 --"])
def test_an_invalid_mac_is_a_400_envelope(client, mac):
    response = post_json(client, {**SEED_BODY, "mac_address": mac})
    assert response.status_code == 400
    body = response.json()
    assert_envelope(body, 400, "The mac_address field must be a valid MAC address.")
    assert body["errors"] == {"mac_address": ["The mac_address field must be a valid MAC address."]}


def test_several_errors_say_how_many_more(client):
    response = post_json(client, {"mac_address": "nope"})
    assert response.json()["message"] == "The mac_address field must be a valid MAC address. (and 5 more errors)"
    assert len(response.json()["errors"]) == 6


@pytest.mark.parametrize("raw", ['{"mac_address": ', "not json", "\xff\xfe", "[1, 2]", "null", '"text"', "42"])
def test_a_malformed_or_non_object_body_is_a_400_envelope(client, raw):
    response = post_json(client, raw.encode("latin-1"))
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["data"] is None
    assert Device.objects.count() == 0


@pytest.mark.parametrize("value", [["A1B2C3D4E5F6"], {"a": 1}, True])
def test_a_field_of_the_wrong_type_is_a_400_envelope(client, value):
    response = post_json(client, {**SEED_BODY, "device_os": value})
    assert response.status_code == 400
    assert response.json()["errors"] == {"device_os": ["The device_os field must be a string."]}


def test_null_bytes_and_markup_are_refused_or_stored_as_text(client):
    response = post_json(client, {**SEED_BODY, "app_name": "My\x00App"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"app_name": ["The app_name field must not contain null characters."]}
    response = post_json(client, {**SEED_BODY, "app_name": "<b>x</b>'; DROP TABLE devices_device; --"})
    assert response.status_code == 200
    assert ClientAppInfo.objects.get().app_name == "<b>x</b>'; DROP TABLE devices_device; --"


def test_unknown_fields_are_ignored(client):
    response = post_json(client, {**SEED_BODY, "extra": "x", "status": 0})
    assert response.status_code == 200


def test_other_methods_get_a_405_envelope(client):
    response = client.get("/api/v2/device")
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_an_unsupported_content_type_gets_a_415_envelope(client):
    response = client.post("/api/v2/device", "<xml/>", content_type="application/xml")
    assert response.status_code == 415
    assert response.json()["status"] == 415


@override_config(DEVICE_MANAGEMENT=True)
def test_a_banned_device_is_refused_while_device_management_is_on_and_its_report_recorded(client):
    # given
    DeviceFactory(mac="A1B2C3D4E5F6", type="Mobile", banned=True)
    # when
    response = post_json(client, {**SEED_BODY, "app_version": "9.9"})
    # then
    assert response.status_code == 400
    body = response.json()
    assert_envelope(body, 400, "device_banned")
    assert body["data"] == {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 1}
    assert ClientAppInfo.objects.get().app_version == "9.9"


@override_config(DEVICE_MANAGEMENT=False)
def test_a_banned_device_is_only_reported_while_device_management_is_off(client):
    DeviceFactory(mac="A1B2C3D4E5F6", type="Mobile", banned=True)
    response = post_json(client, SEED_BODY)
    assert response.status_code == 200
    assert response.json()["data"] == {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 1}


def test_configs_publish_device_management(client):
    response = client.get("/api/base/configs")
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body, 200, "Success")
    assert body["data"] == {"device_management": 1}
    with override_config(DEVICE_MANAGEMENT=False):
        assert client.get("/api/base/configs").json()["data"] == {"device_management": 0}


def test_the_client_ip_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(client, settings):
    spoofed = post_json(client, SEED_BODY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert spoofed.json()["ip"] == "127.0.0.1"
    settings.TRUSTED_PROXIES = ["127.0.0.0/8", "10.0.0.0/8"]
    proxied = post_json(client, SEED_BODY, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9, 10.1.2.3")
    assert proxied.json()["ip"] == "203.0.113.9"
    assert ClientAppInfo.objects.get().ip == "203.0.113.9"


def test_register_a_new_device_takes_a_fixed_number_of_queries(client, django_assert_num_queries):
    # The UPDATE of a known, unchanged device (matches nothing), then one statement that inserts the device,
    # its client app and its event. device_management is read only for a banned device.
    with django_assert_num_queries(2):
        assert post_json(client, SEED_BODY).status_code == 200


def test_register_a_known_device_takes_a_fixed_number_of_queries(client, django_assert_num_queries):
    post_json(client, SEED_BODY)
    # The UPDATE of an unchanged device (matches nothing: the app version is new), the INSERT of a new device
    # (skipped: the MAC is known), SAVEPOINT, SELECT ... FOR UPDATE by mac, SELECT its client app (read under
    # the lock), UPDATE device (last seen), UPDATE client app, INSERT event, RELEASE.
    with django_assert_num_queries(9):
        assert post_json(client, {**SEED_BODY, "app_version": "3.0"}).status_code == 200
    # An identical report changes only the last-seen time, in one statement: no event.
    with django_assert_num_queries(1):
        assert post_json(client, {**SEED_BODY, "app_version": "3.0"}).status_code == 200


@override_config(DEVICE_MANAGEMENT=True)
def test_register_a_banned_device_reads_device_management_once(client, django_assert_num_queries):
    DeviceFactory(mac="A1B2C3D4E5F6", type="Mobile", version="14.5", banned=True)
    post_json(client, SEED_BODY)
    # The one-statement UPDATE of the unchanged device (last seen), SELECT device_management.
    with django_assert_num_queries(2):
        assert post_json(client, SEED_BODY).status_code == 400


# -- devices another protocol or an operator manages (SPEC section 4) ------------------------------------------------

BILLING_AGENT_MAC = "A1B2C3D4E5F6"


def _billing_post(call: str, body: dict):
    from django.test import Client

    from devices.services import api_key_create

    secret = api_key_create(name=f"registry-test-{call}")[1]
    return Client().post(
        f"/api/v1/billing/devices/{call}",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )


def _media_agent(**fields) -> Device:
    """A billing media agent as an operator brings one in: import_devices' registration (its event included)."""
    from devices.choices import EventSource
    from devices.services import Actor, device_register

    return device_register(
        type="mediaagent",
        mac=BILLING_AGENT_MAC,
        serial_number="MA-1",
        version="1.1.1.1",
        actor=Actor(source=EventSource.COMMAND, name="import_devices"),
        **fields,
    )


def _description(device: Device) -> tuple:
    device.refresh_from_db()
    return (device.type, device.version, device.status, device.account_id, device.is_banned)


def test_a_report_with_an_available_media_agents_mac_keeps_its_type_and_billing_still_finds_it(client):
    # given: an operator's media agent that billing has not reserved yet
    agent = _media_agent()
    before = _description(agent)
    # when: an anonymous client reports that MAC as its phone
    response = post_json(client, {**SEED_BODY, "mac_address": "a1:b2:c3:d4:e5:f6"})
    # then: its app is recorded, and the device is still billing's media agent
    assert response.status_code == 200
    assert response.json()["data"] == {"mac_address": BILLING_AGENT_MAC, "status": 1, "ban_status": 0}
    assert _description(agent) == before
    assert ClientAppInfo.objects.get(device=agent).app_name == "MyApp"
    reserved = _billing_post("reserve", {"type": "mediaagent", "mac": BILLING_AGENT_MAC})
    assert (reserved.status_code, reserved.json()["type"], reserved.json()["status"]) == (200, "mediaagent", "reserve")


def test_a_report_with_an_active_media_agents_mac_changes_none_of_what_billing_manages(client, account):
    # given: a media agent billing activated for a customer
    agent = _media_agent()
    activated = _billing_post(
        "activate", {"login": account.login, "name": "Hall", "type": "mediaagent", "mac": BILLING_AGENT_MAC}
    )
    assert activated.status_code == 201
    before = _description(agent)
    # when
    response = post_json(client, {**SEED_BODY, "device_type": "Tablet", "device_version": "99"})
    # then
    assert response.status_code == 200
    assert _description(agent) == before == ("mediaagent", "1.1.1.1", DeviceStatus.ACTIVE, account.pk, False)
    deactivated = _billing_post("deactivate", {"type": "mediaagent", "mac": BILLING_AGENT_MAC})
    assert deactivated.status_code == 204, deactivated.content


def test_a_report_keeps_the_type_of_a_client_device_billing_has_taken_up(client):
    # given: a device the registry added, then reserved by billing under the type the client gave
    post_json(client, SEED_BODY)
    assert _billing_post("reserve", {"type": "Mobile", "mac": BILLING_AGENT_MAC}).status_code == 200
    # when
    response = post_json(client, {**SEED_BODY, "device_type": "Tablet", "device_version": "15"})
    # then
    assert response.status_code == 200
    device = Device.objects.get()
    assert (device.type, device.version, device.status) == ("Mobile", "14.5", DeviceStatus.RESERVED)
    assert device.client_app.device_version == "15"


def test_a_report_keeps_the_type_an_operator_gave_a_client_device(client):
    from devices.choices import EventSource
    from devices.services import Actor, device_update

    # given
    post_json(client, SEED_BODY)
    device = Device.objects.get()
    device_update(device=device, actor=Actor(source=EventSource.ADMIN, name="operator"), type="mediaagent")
    # when
    post_json(client, {**SEED_BODY, "device_version": "15"})
    # then
    assert _description(device)[:2] == ("mediaagent", "14.5")


def test_a_report_describes_a_device_only_the_registry_has_changed_even_banned(client):
    from devices.choices import EventSource
    from devices.services import Actor, device_ban

    # given: a client device an operator banned (a ban is no part of the device's description)
    post_json(client, SEED_BODY)
    device = Device.objects.get()
    device_ban(device=device, reason="stolen", actor=Actor(source=EventSource.ADMIN, name="operator"))
    # when
    post_json(client, {**SEED_BODY, "device_type": "Tablet", "device_version": "15"})
    # then
    assert _description(device) == ("Tablet", "15", DeviceStatus.AVAILABLE, None, True)
    event = device.events.filter(action="client_updated").get()
    assert event.details == {"type": ["Mobile", "Tablet"], "version": ["14.5", "15"], "device_version": ["14.5", "15"]}


def test_a_report_of_another_type_for_a_managed_device_with_the_same_app_only_marks_it_seen(
    client, django_assert_num_queries
):
    # given: an operator's media agent, already reported once by the app on it
    agent = _media_agent()
    post_json(client, SEED_BODY)
    events = DeviceEvent.objects.count()
    Device.objects.filter(pk=agent.pk).update(is_online=False)
    # when: the same report again: the one statement that marks the device seen, nothing else
    with django_assert_num_queries(1):
        assert post_json(client, SEED_BODY).status_code == 200
    # then
    assert _description(agent)[:2] == ("mediaagent", "1.1.1.1")
    assert Device.objects.get(pk=agent.pk).is_online
    assert DeviceEvent.objects.count() == events
