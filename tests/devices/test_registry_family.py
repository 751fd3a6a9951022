"""The rest of the registry's family (SPEC section 4, UPSTREAM.md): device_check and device_activity."""

import json
from urllib.parse import urlencode

import pytest
from constance.test import override_config

from devices.models import ClientActivity, Device, DeviceEvent
from tests.conftest import run_in_threads
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

ENVELOPE_KEYS = {"status", "timestamp", "time", "ip", "message", "data"}
DATA = {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 0}


def post_json(client, path: str, body):
    payload = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(f"/api/v2/{path}", payload, content_type="application/json", HTTP_ACCEPT="application/json")


def post_form(client, path: str, body: dict):
    """An app posting form fields, as the seed's "request's body" parameters are often sent."""
    return client.post(f"/api/v2/{path}", urlencode(body), content_type="application/x-www-form-urlencoded")


def assert_answer(response, status: int, message: str, data) -> dict:
    assert (response.status_code, response["Content-Type"]) == (status, "application/json")
    body = response.json()
    assert set(body) - {"errors"} == ENVELOPE_KEYS
    assert (body["status"], body["message"], body["data"], body["ip"]) == (status, message, data, "127.0.0.1")
    assert isinstance(body["timestamp"], int)
    assert isinstance(body["time"], float)
    return body


@pytest.fixture
def phone(db) -> Device:
    return DeviceFactory(mac="A1B2C3D4E5F6", type="Mobile")


# -- device_check -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("send", [post_json, post_form])
def test_device_check_of_a_known_device_answers_its_data(client, phone, send):
    response = send(client, "device_check", {"mac_address": "a1:b2:c3:d4:e5:f6"})
    body = assert_answer(response, 200, "Success", DATA)
    assert "errors" not in body
    assert not DeviceEvent.objects.exists()


def test_device_check_of_an_unknown_mac_is_400_device_not_found(client, phone):
    response = post_json(client, "device_check", {"mac_address": "FFFFFFFFFFFF"})
    assert_answer(response, 400, "device_not_found", None)


@override_config(DEVICE_MANAGEMENT=True)
def test_device_check_of_a_banned_device_is_400_device_banned_with_its_data(client):
    DeviceFactory(mac="A1B2C3D4E5F6", banned=True)
    response = post_json(client, "device_check", {"mac_address": "A1B2C3D4E5F6"})
    assert_answer(response, 400, "device_banned", {**DATA, "ban_status": 1})


@override_config(DEVICE_MANAGEMENT=False)
def test_device_check_only_reports_a_ban_while_device_management_is_off(client):
    DeviceFactory(mac="A1B2C3D4E5F6", banned=True)
    response = post_json(client, "device_check", {"mac_address": "A1B2C3D4E5F6"})
    assert_answer(response, 200, "Success", {**DATA, "ban_status": 1})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "The mac_address field is required."),
        ({"mac_address": ""}, "The mac_address field must not be empty."),
        ({"mac_address": "A1B2C3D4E5F6\x00"}, "The mac_address field must not contain null characters."),
        ({"mac_address": "not a mac"}, "The mac_address field must be a valid MAC address."),
        ({"mac_address": 42}, "The mac_address field must be a valid MAC address."),
    ],
)
def test_device_check_with_a_missing_or_bad_mac_is_400_naming_the_field(client, body, message):
    response = post_json(client, "device_check", body)
    body = assert_answer(response, 400, message, None)
    assert body["errors"] == {"mac_address": [message]}


def test_device_check_reads_one_row(client, phone, django_assert_num_queries):
    # SELECT the device by MAC; device_management is read only for a banned device.
    with django_assert_num_queries(1):
        assert post_json(client, "device_check", {"mac_address": "A1B2C3D4E5F6"}).status_code == 200


# -- device_activity ----------------------------------------------------------------------------------------------


def test_device_activity_records_the_screen_and_answers_the_devices_data(client, phone):
    response = post_json(client, "device_activity", {"mac_address": "A1B2C3D4E5F6", "current_screen": "home"})
    assert_answer(response, 200, "Success", DATA)
    activity = ClientActivity.objects.get()
    assert (activity.device, activity.current_screen, activity.content_id, activity.content_type) == (
        phone,
        "home",
        None,
        None,
    )
    assert not DeviceEvent.objects.exists()  # telemetry, not a change to the device


@pytest.mark.parametrize("send", [post_json, post_form])
def test_device_activity_on_content_info_keeps_the_content(client, phone, send):
    # given
    send(client, "device_activity", {"mac_address": "A1B2C3D4E5F6", "current_screen": "home"})
    # when: the latest report replaces the one before
    body = {"mac_address": "A1-B2-C3-D4-E5-F6", "current_screen": "content_info", "content_id": 5207, "content_type": 1}
    response = send(client, "device_activity", body)
    # then
    assert_answer(response, 200, "Success", DATA)
    activity = ClientActivity.objects.get()
    assert (activity.current_screen, activity.content_id, activity.content_type) == ("content_info", 5207, 1)


@override_config(DEVICE_MANAGEMENT=True)
def test_device_activity_of_a_banned_device_is_recorded_and_answered_device_banned(client):
    DeviceFactory(mac="A1B2C3D4E5F6", banned=True)
    response = post_json(client, "device_activity", {"mac_address": "A1B2C3D4E5F6", "current_screen": "home"})
    assert_answer(response, 400, "device_banned", {**DATA, "ban_status": 1})
    assert ClientActivity.objects.get().current_screen == "home"


def test_device_activity_of_an_unknown_mac_is_400_device_not_found_and_records_nothing(client, phone):
    response = post_json(client, "device_activity", {"mac_address": "FFFFFFFFFFFF", "current_screen": "home"})
    assert_answer(response, 400, "device_not_found", None)
    assert not ClientActivity.objects.exists()
    assert Device.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"mac_address": "A1B2C3D4E5F6"}, {"current_screen": ["The current_screen field is required."]}),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "content_info"},
            {
                "content_id": ["The content_id field is required when current_screen is content_info."],
                "content_type": ["The content_type field is required when current_screen is content_info."],
            },
        ),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "content_info", "content_id": 1},
            {"content_type": ["The content_type field is required when current_screen is content_info."]},
        ),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "Home Screen"},
            {
                "current_screen": [
                    "The current_screen field must be a lower-case identifier such as home or content_info."
                ]
            },
        ),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "home;drop"},
            {
                "current_screen": [
                    "The current_screen field must be a lower-case identifier such as home or content_info."
                ]
            },
        ),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "home", "content_id": "abc"},
            {"content_id": ["The content_id field must be a whole number."]},
        ),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "home", "content_id": True},
            {"content_id": ["The content_id field must be a whole number."]},
        ),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "home", "content_id": 1.5},
            {"content_id": ["The content_id field must be a whole number."]},
        ),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "home", "content_type": -1},
            {"content_type": ["The content_type field must be a whole number."]},
        ),
        (
            {"mac_address": "A1B2C3D4E5F6", "current_screen": "home", "content_id": 10**30},
            {"content_id": ["The content_id field must be a whole number."]},
        ),
        (
            {"mac_address": "nope", "current_screen": "home"},
            {"mac_address": ["The mac_address field must be a valid MAC address."]},
        ),
    ],
)
def test_device_activity_with_a_missing_or_bad_field_is_400_naming_it(client, phone, body, errors):
    response = post_json(client, "device_activity", body)
    first = next(iter(errors.values()))[0]
    answer = response.json()
    assert_answer(response, 400, answer["message"], None)
    assert answer["message"].startswith(first)
    assert answer["errors"] == errors
    assert not ClientActivity.objects.exists()


def test_device_activity_takes_two_statements(client, phone, django_assert_num_queries):
    body = {"mac_address": "A1B2C3D4E5F6", "current_screen": "content_info", "content_id": 7, "content_type": 2}
    # SELECT the device by MAC, then INSERT ... ON CONFLICT (device) DO UPDATE.
    with django_assert_num_queries(2):
        assert post_json(client, "device_activity", body).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_activity_reports_of_one_device_leave_one_row(client):
    # given
    DeviceFactory(mac="A1B2C3D4E5F6")

    def report(i: int):
        body = {"mac_address": "A1B2C3D4E5F6", "current_screen": "content_info", "content_id": i, "content_type": 1}
        return post_json(client.__class__(), "device_activity", body).status_code

    # when
    statuses = run_in_threads(8, report)
    # then: every report answered, the row holds one of them whole
    assert statuses == [200] * 8
    activity = ClientActivity.objects.get()
    assert 0 <= activity.content_id < 8
    assert activity.content_type == 1


def test_the_family_is_documented_with_its_errors(client):
    schema = json.loads(client.get("/api/schema/?format=json").content)
    for path in ["/api/v2/device", "/api/v2/device_check", "/api/v2/device_activity"]:
        responses = schema["paths"][path]["post"]["responses"]
        assert {"200", "400"} <= set(responses)
        assert "403" not in responses
        messages = {e["value"]["message"] for e in responses["400"]["content"]["application/json"]["examples"].values()}
        assert "device_banned" in messages
