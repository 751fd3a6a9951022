"""Declared device types: the list operators manage, and what an import does with a row's type."""

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from devices.models import Device, DeviceEvent, DeviceType
from tests.devices.test_admin import inline_management_data
from tests.devices.test_commands import read_report, run, write
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

HEADER = "type,mac,serial_number,name,version\n"
PROTOCOL_TYPES = {"mediaagent", "Mobile", "flecs", "SIP", "PJSIP", "IAX2", "FAX", "Virtual", "H323", "ZAP", "Skype"}


def test_the_migration_declares_the_protocols_types():
    assert set(DeviceType.objects.values_list("name", flat=True)) >= PROTOCOL_TYPES


def test_the_migration_also_declares_the_types_devices_carry_already():
    # given: a database before the migration, with a registry client's own type in use
    migration = importlib.import_module("devices.migrations.0008_device_types")
    DeviceType.objects.all().delete()
    DeviceFactory(type="Android")
    # when
    migration.declare(apps, None)
    # then
    declared = dict(DeviceType.objects.values_list("name", "description"))
    assert set(declared) == PROTOCOL_TYPES | {"Android"}
    assert declared["Android"] == migration.IN_USE


def test_an_import_row_of_an_undeclared_type_fails_naming_the_declared_ones(tmp_path):
    # given
    path = write(tmp_path, HEADER + "mediaegent,02:00:00:00:00:01,,,\nmediaagent,02:00:00:00:00:02,,,\n")
    report = tmp_path / "report.csv"
    # when
    code, out, err = run("import_devices", path, "--report", str(report))
    # then: the typo fails, the other row is imported
    assert (code, out.strip()) == (1, "2 rows: 1 created, 1 failed.")
    message = read_report(report)[0]["message"]
    assert message.startswith('unknown device type "mediaegent" (declared: ')
    assert "mediaagent" in message and "SIP" in message
    assert f"line 2: {message}" in err
    assert list(Device.objects.values_list("type", flat=True)) == ["mediaagent"]


def test_an_undeclared_type_in_another_letter_case_suggests_the_declared_one(tmp_path):
    path = write(tmp_path, HEADER + "sip,02:00:00:00:00:01,,,\n")
    code, _out, err = run("import_devices", path)
    assert code == 1
    assert err.splitlines()[0].endswith('; did you mean "SIP"?')


def test_the_declared_types_are_read_once_per_run_not_per_row(tmp_path, django_assert_max_num_queries):
    # given: 50 rows of an undeclared type, none reaching the database
    path = write(tmp_path, HEADER + "".join(f"toaster,02:00:00:00:00:{i:02X},,,\n" for i in range(50)))
    # when / then: the declared names once, the bulk session's own statements (SESSION_QUERIES), nothing per row
    with django_assert_max_num_queries(12):
        assert run("import_devices", path)[1].strip() == "50 rows: 50 failed. Nothing to change."


def test_a_row_never_changes_a_devices_type_unless_asked(tmp_path):
    # given: a SIP device, and a row naming its MAC as a media agent
    device = DeviceFactory(type="SIP", mac="020000000001", serial_number=None, name="old")
    path = write(tmp_path, HEADER + "mediaagent,02:00:00:00:00:01,,new,\n")
    # when
    code, out, err = run("import_devices", path)
    # then: refused, and nothing of the device changed
    assert (code, out.strip()) == (1, "1 row: 1 failed. Nothing to change.")
    assert 'line 2: the device\'s type is "SIP", not "mediaagent": a type changes only when asked (--change-type)' in (
        err
    )
    device.refresh_from_db()
    assert (device.type, device.name) == ("SIP", "old")
    # when: the operator asks for it
    code, out, _ = run("import_devices", path, "--change-type")
    # then
    assert (code, out.strip()) == (0, "1 row: 1 updated.")
    device.refresh_from_db()
    assert (device.type, device.name) == ("mediaagent", "new")
    event = DeviceEvent.objects.get(device=device, action="updated")
    assert event.details["type"] == ["SIP", "mediaagent"]


def test_a_row_of_the_devices_own_type_updates_it_without_the_flag(tmp_path):
    device = DeviceFactory(type="SIP", mac="020000000001", serial_number=None, name="old")
    path = write(tmp_path, HEADER + "SIP,02:00:00:00:00:01,,new,\n")
    assert run("import_devices", path)[1].strip() == "1 row: 1 updated."
    device.refresh_from_db()
    assert device.name == "new"


# -- the admin's list of types ------------------------------------------------------------------------


def test_a_type_in_use_is_not_deleted_and_the_admin_says_why(admin_client):
    # given
    DeviceFactory(type="SIP")
    used = DeviceType.objects.get(name="SIP")
    # when: its delete page, then the list's delete action
    response = admin_client.get(reverse("admin:devices_devicetype_delete", args=[used.pk]), follow=True)
    # then
    assert "Not deleted: devices have the type SIP." in response.content.decode()
    response = admin_client.post(
        reverse("admin:devices_devicetype_changelist"),
        {"action": "delete_selected", "_selected_action": [used.pk], "post": "yes"},
        follow=True,
    )
    assert "Not deleted: devices have the type SIP." in response.content.decode()
    assert DeviceType.objects.filter(name="SIP").exists()
    assert Device.objects.filter(type="SIP").exists()


def test_an_unused_type_is_deleted_through_djangos_confirmation(admin_client):
    unused = DeviceType.objects.create(name="toaster")
    changelist = reverse("admin:devices_devicetype_changelist")
    data = {"action": "delete_selected", "_selected_action": [unused.pk]}
    confirmation = admin_client.post(changelist, data)
    assert "Are you sure" in confirmation.content.decode()
    admin_client.post(changelist, {**data, "post": "yes"})
    assert not DeviceType.objects.filter(name="toaster").exists()


def test_the_type_list_shows_types_in_use_that_are_not_declared(admin_client):
    DeviceFactory(type="Android")
    response = admin_client.get(reverse("admin:devices_devicetype_changelist"))
    assert "In use but not declared" in response.content.decode()
    assert "Android" in response.content.decode()


def test_an_operator_adds_a_type_and_an_import_then_takes_it(admin_client, tmp_path):
    admin_client.post(reverse("admin:devices_devicetype_add"), {"name": "toaster", "description": "kitchen"})
    path = write(tmp_path, HEADER + "toaster,02:00:00:00:00:01,,,\n")
    assert run("import_devices", path)[1].strip() == "1 row: 1 created."


def test_a_type_in_use_can_not_be_renamed(admin_client):
    DeviceFactory(type="SIP")
    used = DeviceType.objects.get(name="SIP")
    admin_client.post(reverse("admin:devices_devicetype_change", args=[used.pk]), {"name": "SIP2", "description": "x"})
    used.refresh_from_db()
    assert (used.name, used.description) == ("SIP", "x")


def test_the_device_form_takes_declared_types_only_but_keeps_an_undeclared_one_a_device_has(admin_client):
    # given: a device a registry client brought in with its own type
    device = DeviceFactory(type="Android", name="old")
    url = reverse("admin:devices_device_change", args=[device.pk])
    data = {"type": "Android", "mac": device.mac, "serial_number": device.serial_number, "name": "new", "version": ""}
    # when: edited with its type; then with a typo
    admin_client.post(url, {**data, **inline_management_data(admin_client.get(url))})
    refused = admin_client.post(url, {**data, "type": "mediaegent", **inline_management_data(admin_client.get(url))})
    added = admin_client.post(reverse("admin:devices_device_add"), {**data, "type": "toaster", "mac": "020000000001"})
    # then
    device.refresh_from_db()
    assert (device.type, device.name) == ("Android", "new")
    errors = [page.context["adminform"].form.errors["type"][0] for page in (refused, added)]
    assert errors[0].startswith('Unknown device type "mediaegent" (declared: ')
    assert errors[1].startswith('Unknown device type "toaster"')
    assert Device.objects.count() == 1
