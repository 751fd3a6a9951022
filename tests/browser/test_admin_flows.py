"""The operators' key flows in a real browser."""

import json
import re
from pathlib import Path

import pytest

from devices import services
from devices.choices import DeviceStatus, EventSource
from devices.models import ApiKey, Device
from licensing.models import License
from tests.browser.conftest import screenshot
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_action(page, action: str, **fields) -> str:
    """Choose an action in the change list's action bar, fill its fields, run it; the message it shows."""
    page.select_option("select[name=action]", action)
    for name, value in fields.items():
        page.fill(f"input[name={name}]", value)
    page.click("button[name=index]")
    return page.inner_text("ul.messagelist")


def search_devices(page, term: str) -> None:
    page.goto("/admin/devices/device/")
    page.fill("#searchbar", term)
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()


def test_find_a_device_by_mac_ban_it_with_a_reason_see_the_event_then_unban(operator, tmp_path):
    # given
    device = DeviceFactory(mac="A1B2C3D4E5F6", serial_number="SN-BROWSER", active=True)
    DeviceFactory(mac="A1B2C3D4E5F7")
    # when: the operator types the MAC with colons
    search_devices(operator, "a1:b2:c3:d4:e5:f6")
    rows = operator.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "A1:B2:C3:D4:E5:F6" in rows.first.inner_text()
    # and bans it with a reason
    operator.check("#result_list tbody tr input.action-select")
    message = run_action(operator, "ban", reason="reported stolen")
    assert "1 device(s) banned" in message
    # then the device's page shows the ban and its event
    operator.goto(f"/admin/devices/device/{device.pk}/change/")
    page_text = operator.inner_text("#content")
    assert "reported stolen" in page_text
    assert "Banned" in operator.inner_text("table.device-events")
    screenshot(operator, "device-page.png", tmp_path)
    # when: unbanned from the list
    search_devices(operator, "A1-B2-C3-D4-E5-F6")
    operator.check("#result_list tbody tr input.action-select")
    assert "1 device(s) unbanned" in run_action(operator, "unban")
    device.refresh_from_db()
    assert not device.is_banned


def test_find_devices_by_part_of_a_serial_number_or_a_name_or_the_start_of_a_mac(operator):
    # given
    DeviceFactory(mac="44051A000001", serial_number="SN-XYZ-1234", name="Front door camera")
    DeviceFactory(mac="44051A000002", serial_number="SN-ABC-5678", name="Back yard")
    DeviceFactory(mac="A1B2C3D4E5F6", serial_number="SN-QQQ-0000", name="Garage")
    cases = {"xyz-12": ["SN-XYZ-1234"], "YARD": ["SN-ABC-5678"], "44:05": ["SN-ABC-5678", "SN-XYZ-1234"]}
    for term, serial_numbers in cases.items():
        # when: the operator types a part, in any letter case
        search_devices(operator, term)
        # then
        assert operator.locator("#result_list tbody td.field-serial_number").all_inner_texts() == serial_numbers


def test_reserve_and_unreserve_from_the_list(operator):
    device = DeviceFactory(mac="0A0B0C0D0E0F")
    search_devices(operator, "0a0b.0c0d.0e0f")
    operator.check("#result_list tbody tr input.action-select")
    assert "1 device(s) reserved" in run_action(operator, "reserve")
    device.refresh_from_db()
    assert device.status == DeviceStatus.RESERVED
    assert "Reserved" in operator.inner_text("#result_list")
    operator.check("#result_list tbody tr input.action-select")
    assert "1 device(s) unreserved" in run_action(operator, "unreserve")
    device.refresh_from_db()
    assert device.status == DeviceStatus.AVAILABLE


def test_generate_ten_license_keys_and_revoke_one(operator):
    operator.goto("/admin/licensing/license/")
    operator.click("text=Generate keys")
    operator.fill("#id_count", "10")
    operator.fill("#id_reference", "browser-order")
    # an expiry picked with the admin's calendar: today has begun, so the page refuses it beside the field
    operator.click(".field-expires_on .datetimeshortcuts a:has-text('Today')")
    operator.click("input[type=submit][value=Generate]")
    assert "the keys would be expired when made" in operator.inner_text(".field-expires_on.errors")
    operator.fill("#id_expires_on", "2031-05-01")
    operator.click("input[type=submit][value=Generate]")
    keys = operator.input_value("#generated-keys").split()
    assert len(keys) == 10
    assert License.objects.filter(reference="browser-order").count() == 10
    with operator.expect_download() as download:
        operator.click("#download-keys")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "key,max_activations,account,expires_at,reference"
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(keys)
    operator.goto("/admin/licensing/license/")
    operator.check("#result_list tbody tr:first-child input.action-select")
    assert "1 license key(s) revoked" in run_action(operator, "revoke")
    assert License.objects.filter(revoked_at__isnull=False).count() == 1


def test_an_api_keys_secret_is_shown_exactly_once(operator):
    operator.goto("/admin/devices/apikey/add/")
    operator.fill("#id_name", "billing-prod")
    operator.click("input[name=_save]")
    secret = operator.inner_text("code.api-key-secret")
    key = ApiKey.objects.get(name="billing-prod")
    assert secret.startswith(key.prefix + ".")
    assert key.secret_hash == ApiKey.hash_secret(secret)
    # never again: not on the list, not on the key's page, not after a reload
    operator.reload()
    assert secret not in operator.content()
    operator.goto(f"/admin/devices/apikey/{key.pk}/change/")
    assert secret not in operator.content()
    assert key.prefix in operator.content()


def test_toggling_device_management_changes_the_public_configuration(operator):
    def public_configuration():
        operator.goto("/api/base/configs")
        return json.loads(operator.inner_text("body"))["data"]

    assert public_configuration() == {"device_management": 1}
    operator.goto("/admin/constance/config/")
    operator.uncheck("#id_DEVICE_MANAGEMENT")
    operator.click("input[name=_save]")
    assert public_configuration() == {"device_management": 0}
    operator.goto("/admin/constance/config/")
    operator.check("#id_DEVICE_MANAGEMENT")
    operator.click("input[name=_save]")
    assert public_configuration() == {"device_management": 1}


def test_the_dashboard_answers_how_the_fleet_is(operator, tmp_path):
    # given: a fleet with some history
    actor = services.Actor(source=EventSource.ADMIN, name="operator")
    for i in range(12):
        device = DeviceFactory(type=["mediaagent", "SIP", "Mobile"][i % 3])
        if i % 2:
            services.device_activate(device=device, account=AccountFactory(), actor=actor)
    services.device_ban(device=Device.objects.first(), reason="chargeback", actor=actor)
    License.objects.create(key="AAAAA-BBBBB-CCCCC-DDDDD", activations_count=1)
    License.objects.create(key="EEEEE-FFFFF-GGGGG-HHHHH")
    # when
    operator.goto("/admin/")
    # then
    dashboard = operator.inner_text("#dashboard")
    assert re.search(r"Devices\s+12", dashboard, re.IGNORECASE)
    assert operator.inner_text("#banned-count") == "1"
    assert operator.locator("#activations-chart rect").count() == 30
    assert operator.locator("#latest-events a").count() == 7  # six activations and a ban
    operator.click("#latest-events a >> nth=0")
    assert "/admin/devices/device/" in operator.url
    operator.goto("/admin/")
    screenshot(operator, "dashboard.png", tmp_path)
