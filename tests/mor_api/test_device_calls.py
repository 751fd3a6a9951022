"""devices_get, device_details_get, device_update and device_delete: list, inspect, change, remove."""

import pytest

from devices.choices import AccountRole, DeviceStatus
from devices.models import Device
from mor_api.models import DeviceGroup, MorDevice
from tests.factories import AccountFactory
from tests.mor_api.conftest import error_of, parse, signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def created(mor, admin_account, user) -> MorDevice:
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=1111, description="desk"))
    return MorDevice.objects.get()


def test_devices_get_lists_the_users_devices(mor, created, user):
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=2222, type="IAX2"))
    page = parse(mor.post("devices_get", signed("devices_get", u="admin", user_id=user.pk)))
    devices = page.find("devices").findall("device")
    assert [d.findtext("pin") for d in devices] == ["1111", "2222"]
    first = devices[0]
    assert [c.tag for c in first] == ["id", "type", "description", "pin", "caller_id", "devicegroup_id", "username"]
    assert (first.findtext("id"), first.findtext("description"), first.findtext("username")) == (
        str(created.device_id),
        "desk",
        created.username,
    )
    assert devices[1].findtext("type") == "IAX2"


def test_devices_get_of_a_user_without_devices_is_an_empty_list(mor, admin_account, user):
    page = parse(mor.post("devices_get", signed("devices_get", u="admin", user_id=user.pk)))
    assert list(page.find("devices")) == []


def test_device_details_get_gives_the_sip_login(mor, created):
    page = parse(mor.post("device_details_get", signed("device_details_get", u="admin", device_id=created.device_id)))
    device = page.find("device")
    assert (device.findtext("username"), device.findtext("password")) == (created.username, created.secret)


def test_device_update_changes_what_was_sent(mor, created, user):
    group = DeviceGroup.objects.create(account=user, name="Office")
    params = signed(
        "device_update",
        u="admin",
        device=created.device_id,
        description="lobby",
        pin=3333,
        devicegroup_id=group.pk,
        type="FAX",
    )
    page = parse(mor.post("device_update", params))
    assert (page.findtext("status"), page.findtext("id")) == ("Device updated", str(created.device_id))
    created.refresh_from_db()
    assert (created.description, created.pin, created.group, created.caller_id) == ("lobby", "3333", group, "")
    created.device.refresh_from_db()
    assert (created.device.type, created.device.name) == ("FAX", "lobby")
    assert created.device.events.filter(action="updated", source="mor").exists()


def test_device_update_checks_like_create(mor, created, user):
    mor.post("device_create", signed("device_create", u="admin", user_id=user.pk, pin=4444))
    cases = {
        "Pin is already used": {"pin": 4444},
        "Pin must be numeric": {"pin": "x"},
        "Device type invalid": {"type": "PSTN"},
        "Device group invalid": {"devicegroup_id": 999999},
    }
    for error, change in cases.items():
        response = mor.post("device_update", signed("device_update", u="admin", device=created.device_id, **change))
        assert error_of(response) == error
    created.refresh_from_db()
    assert created.pin == "1111"


def test_device_delete_removes_the_sip_line_and_ends_the_ownership(mor, created, settings):
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    page = parse(mor.post("device_delete", signed("device_delete", u="admin", device=created.device_id)))
    assert page.findtext("status") == "Device deleted"
    assert not MorDevice.objects.exists()
    device = Device.objects.get()
    assert (device.status, device.account) == (DeviceStatus.AVAILABLE, None)
    # the pin is free again
    assert error_of(mor.post("device_details_get", signed("device_details_get", u="admin", device_id=device.pk))) == (
        "Device was not found"
    )


@pytest.mark.parametrize("call", ["device_details_get", "device_update", "device_delete"])
def test_a_reseller_cannot_reach_another_resellers_devices(mor, created, call):
    reseller = AccountFactory(role=AccountRole.RESELLER)
    key = "device_id" if call == "device_details_get" else "device"
    for device_id in [created.device_id, 999999, "abc"]:
        assert error_of(mor.post(call, signed(call, u=reseller.login, **{key: device_id}))) == "Device was not found"
    assert MorDevice.objects.filter(pk=created.pk).exists()


@pytest.mark.parametrize(
    ("call", "params"),
    [
        ("devices_get", {"user_id": 1}),
        ("device_details_get", {"device_id": 1}),
        ("device_update", {"device": 1}),
        ("device_delete", {"device": 1}),
    ],
)
def test_every_call_checks_the_hash_and_the_caller(mor, user, call, params):
    unsigned = {**params, "u": "admin", "hash": "0" * 40}
    assert error_of(mor.post(call, unsigned)) == "Incorrect hash"
    assert error_of(mor.post(call, signed(call, u=user.login, **params))) == "Dont be so smart"


def test_an_operator_deactivating_a_sip_device_clears_its_sip_data(created, settings):
    from devices import services
    from devices.choices import EventSource

    settings.DEVICE_DEACTIVATION_SECONDS = 0
    services.device_deactivate(device=created.device, actor=services.Actor(source=EventSource.ADMIN, name="op"))
    assert not MorDevice.objects.exists()
