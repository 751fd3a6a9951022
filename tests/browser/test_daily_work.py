"""An operator's daily work in a real browser: the device page's buttons, the audit trail, exports."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from devices.choices import DeviceStatus
from devices.models import Device, DeviceEvent
from licensing.models import License, LicenseSession
from tests.browser.conftest import screenshot
from tests.factories import AccountFactory, DeviceFactory
from tests.licensing.conftest import make_license

pytestmark = pytest.mark.django_db(transaction=True)


def test_ban_and_activate_from_a_devices_page_with_a_confirmation(operator, tmp_path):
    # given
    AccountFactory(login="owner@example.com")
    device = DeviceFactory(mac="A1B2C3D4E5F6", reserved=True)
    operator.goto(f"/admin/devices/device/{device.pk}/change/")
    # when: activated for an account, past the reserve check
    operator.click("#page-action-activate")
    operator.fill("#id_account", "owner@example.com")
    operator.check("#id_skip_reserve_check")
    operator.click("#confirm-page-action")
    # then
    assert "Activated for owner@example.com." in operator.inner_text("ul.messagelist")
    assert Device.objects.get().status == DeviceStatus.ACTIVE
    # when: banned, which asks for a reason first
    operator.click("#page-action-ban")
    operator.click("#confirm-page-action")  # no reason: the browser asks for one, nothing is sent
    assert operator.url.endswith(f"/admin/devices/device/{device.pk}/do/ban/")
    assert operator.eval_on_selector("#id_reason", "input => input.validity.valueMissing")
    assert not Device.objects.get().is_banned
    operator.fill("#id_reason", "reported stolen")
    screenshot(operator, "device-ban-confirmation.png", tmp_path)
    operator.click("#confirm-page-action")
    # then
    assert "Banned." in operator.inner_text("ul.messagelist")
    assert operator.locator("#page-action-unban").is_visible()
    device.refresh_from_db()
    assert (device.is_banned, device.ban_reason) == (True, "reported stolen")
    # when: History
    operator.click("a.historylink")
    operator.wait_for_url(f"**/admin/devices/deviceevent/?device__id__exact={device.pk}")
    # then: the audit trail, newest first
    actions = operator.locator("#result_list tbody td.field-action").all_inner_texts()
    assert actions == ["Banned", "Activated"]


def test_find_a_devices_events_in_a_date_range(operator):
    # given: a week-old reservation and today's ban of one device, and another device's events
    device = DeviceFactory(mac="0A0B0C0D0E0F")
    for action, days_ago in (("reserved", 7), ("banned", 0)):
        DeviceEvent.objects.create(
            device=device, action=action, source="admin", created_at=timezone.now() - timedelta(days=days_ago)
        )
    DeviceEvent.objects.create(device=DeviceFactory(), action="reserved", source="admin")
    # when: the MAC typed with dashes, then the last two days
    operator.goto("/admin/devices/deviceevent/")
    operator.fill("#searchbar", "0a-0b-0c-0d-0e-0f")
    operator.press("#searchbar", "Enter")
    operator.wait_for_load_state()
    found = operator.locator("#result_list tbody tr").count()
    since = (timezone.localdate() - timedelta(days=2)).isoformat()
    operator.fill("input[name=created_at__range__gte]", since)
    operator.click("#created_at-range-filter input[type=submit], .admindatefilter input[type=submit]")
    operator.wait_for_load_state()
    # then
    assert found == 2
    assert operator.locator("#result_list tbody td.field-action").all_inner_texts() == ["Banned"]


def test_export_the_filtered_device_list(operator):
    # given
    DeviceFactory(mac="A1B2C3D4E5F6", name="=cmd()", reserved=True)
    DeviceFactory(mac="A1B2C3D4E5F7")
    operator.goto("/admin/devices/device/?status__exact=reserved")
    # when
    with operator.expect_download() as download:
        operator.click("#export-csv")
    # then: the reserved device alone, its formula-like name as text
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [(row["mac"], row["name"], row["status"]) for row in rows] == [("A1:B2:C3:D4:E5:F6", "'=cmd()", "reserved")]
    assert download.value.suggested_filename.startswith("devices-")


def test_an_accounts_page_leads_to_its_devices_and_keys_and_a_keys_activation_to_its_device(operator):
    # given: an owner's device activated with its license key, and another owner's
    owner = AccountFactory(login="owner@example.com")
    device = DeviceFactory(mac="A1B2C3D4E5F6", account=owner, active=True)
    key = make_license(account=owner, reference="cross-links")
    LicenseSession.objects.create(license=key, device=device)
    others = AccountFactory()
    DeviceFactory(mac="A1B2C3D4E5F7", account=others, active=True)
    make_license(account=others)
    # when: the account's devices, from its page
    operator.goto(f"/admin/devices/account/{owner.pk}/change/")
    operator.click(".field-owned a:text-is('devices')")
    operator.wait_for_url(f"**/admin/devices/device/?account__id__exact={owner.pk}")
    # then: its device alone
    assert operator.locator("#result_list tbody .field-device_display").all_inner_texts() == ["A1:B2:C3:D4:E5:F6"]
    # when: its license keys, then the key's page
    operator.go_back()
    operator.click(".field-owned a:text-is('license keys')")
    operator.wait_for_url(f"**/admin/licensing/license/?account__id__exact={owner.pk}")
    assert operator.locator("#result_list tbody tr").count() == 1
    operator.click("#result_list tbody th a")
    # then: the key's activation names the device by its MAC and leads to it
    operator.click("#sessions-group a:text-is('A1:B2:C3:D4:E5:F6')")
    operator.wait_for_url(f"**/admin/devices/device/{device.pk}/change/")


LISTS = [
    "/admin/devices/device/",
    "/admin/devices/deviceevent/",
    "/admin/devices/account/",
    "/admin/devices/apikey/",
    "/admin/licensing/license/",
    "/admin/licensing/licensesession/",
    "/admin/licensing/devicelicense/",
    "/admin/mor_api/devicegroup/",
]


def test_every_list_fits_a_1400_pixel_window(operator, tmp_path):
    # given: the longest values a list shows, in every column
    owner = AccountFactory(login="a-very-long-customer-login-name@some-enterprise-domain.example.com")
    device = DeviceFactory(
        mac="A1B2C3D4E5F6", serial_number="SERIAL-NUMBER-OF-SOME-LENGTH-1234567890", name="x" * 80, account=owner
    )
    DeviceEvent.objects.create(device=device, action="banned", source="admin", actor="operator-with-a-long-name")
    kept = make_license(account=owner, reference="order-2026-11-30-enterprise-customer-batch", max_activations=5)
    revoked = make_license(account=owner, reference="order-2026-11-30-enterprise-customer-batch")
    License.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    for url in LISTS:
        # when
        operator.goto(url)
        # then: no horizontal scrolling, the page's nor the table's
        widths = operator.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " (document.querySelector('.results') || document.body).scrollWidth,"
            " (document.querySelector('.results') || document.body).clientWidth]"
        )
        assert widths[0] <= widths[1] and widths[2] <= widths[3], (url, widths)
    # and the license keys: each on one line, the revoked one marked
    operator.goto("/admin/licensing/license/")
    screenshot(operator, "license-keys.png", tmp_path)
    for license in (kept, revoked):
        key = operator.locator(f"#result_list .field-key_display .key:has-text('{license.key}')")
        assert key.evaluate("span => span.getClientRects().length") == 1  # one line box: not wrapped
    assert operator.locator("#result_list .revoked .badge-revoked").all_inner_texts() == ["REVOKED"]
