"""Import from the admin (devices/admin_import.py): the dry run's outcome per row, then the same run applied."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from devices.admin_import import SHOWN, import_storage
from devices.models import Device, DeviceEvent
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

IMPORT = reverse("admin:devices_device_import")
CHANGELIST = reverse("admin:devices_device_changelist")
HEADER = "type,mac,serial_number,name,version\n"


def upload(client, text: str, operation: str = "import", name: str = "devices.csv", **fields):
    data = {"operation": operation, "file": io.BytesIO(text.encode("utf-8")), **fields}
    data["file"].name = name
    return client.post(IMPORT, data)


def apply_url(response) -> str:
    return re.search(r'action="([^"]+/apply/)"', response.content.decode())[1]


def report(client, response, kind: str) -> list[dict]:
    url = re.search(rf'href="([^"]+/{kind}\.csv)"', response.content.decode())[1]
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(b"".join(answer.streaming_content).decode())))


def test_the_device_list_offers_the_import_to_staff_who_may_change_devices(admin_client):
    assert 'id="import-csv"' in admin_client.get(CHANGELIST).content.decode()


def test_a_restricted_staff_user_neither_sees_nor_uses_the_import(client):
    # given: staff who may only view devices
    user = User.objects.create_user("viewer", password="unused-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_device"))
    client.force_login(user)
    # then: no button, and every step refused
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert 'id="import-csv"' not in page.content.decode()
    assert client.get(IMPORT).status_code == 403
    assert upload(client, HEADER + "mediaagent,02:00:00:00:00:01,,,\n").status_code == 403
    assert client.post(reverse("admin:devices_device_import_apply", args=["x"])).status_code == 403
    assert not Device.objects.exists()


def test_staff_who_may_change_but_not_add_devices_may_reserve_but_not_register(client):
    user = User.objects.create_user("changer", password="unused-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_device", "change_device"]))
    client.force_login(user)
    device = DeviceFactory()
    response = upload(client, HEADER + "mediaagent,02:00:00:00:00:01,,,\n")
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    response = upload(client, f"uuid\n{device.uuid}\n", operation="reserve")
    client.post(apply_url(response))
    device.refresh_from_db()
    assert device.status == "reserved"


def test_a_dry_run_writes_nothing_then_apply_runs_the_same_file(admin_client):
    # given: a spreadsheet's file (byte-order mark), a good row, an unknown type, a bad MAC
    text = "\ufeff" + HEADER + "mediaagent,02:00:00:00:00:01,SN-1,One,1\nmediaegent,02:00:00:00:00:02,,,\nSIP,zz,,,\n"
    # when: the dry run
    response = upload(admin_client, text)
    # then: each row's outcome, nothing written
    page = response.content.decode()
    assert "Dry run, nothing written: 3 rows: 1 created, 2 failed." in page
    assert "unknown device type &quot;mediaegent&quot; (declared: " in page
    assert "invalid mac &#x27;zz&#x27;" in page
    assert not Device.objects.exists()
    dry = report(admin_client, response, "dry-run")
    assert [(row["line"], row["outcome"]) for row in dry] == [("2", "created"), ("3", "failed"), ("4", "failed")]
    # when: applied
    applied = admin_client.post(apply_url(response))
    # then
    assert "3 rows: 1 created, 2 failed." in applied.content.decode()
    device = Device.objects.get()
    assert (device.type, device.mac, device.name) == ("mediaagent", "020000000001", "One")
    assert DeviceEvent.objects.get(device=device).actor == "admin"
    rows = report(admin_client, applied, "applied")
    assert (rows[0]["line"], rows[0]["outcome"], rows[0]["mac"]) == ("2", "created", "02:00:00:00:00:01")
    # a second apply of the same upload runs nothing
    again = admin_client.post(apply_url(response), follow=True)
    assert "applied already" in again.content.decode()
    assert Device.objects.count() == 1


def test_a_type_change_is_refused_then_allowed_when_asked(admin_client):
    # given
    device = DeviceFactory(type="SIP", mac="020000000001", serial_number=None)
    text = HEADER + "mediaagent,02:00:00:00:00:01,,,\n"
    # when: without the choice
    response = upload(admin_client, text)
    admin_client.post(apply_url(response))
    # then
    assert "a type changes only when asked" in response.content.decode()
    device.refresh_from_db()
    assert device.type == "SIP"
    # when: with it
    response = upload(admin_client, text, change_type="on")
    assert "1 row: 1 updated." in response.content.decode()
    admin_client.post(apply_url(response))
    device.refresh_from_db()
    assert device.type == "mediaagent"


def test_ban_needs_a_reason_and_bans_with_it(admin_client):
    device = DeviceFactory()
    rows = f"uuid\n{device.uuid}\n"
    refused = upload(admin_client, rows, operation="ban")
    assert "errornote" in refused.content.decode()
    response = upload(admin_client, rows, operation="ban", reason="chargeback")
    assert "1 row: 1 banned." in response.content.decode()
    admin_client.post(apply_url(response))
    device.refresh_from_db()
    assert (device.is_banned, device.ban_reason, device.banned_by) == (True, "chargeback", "admin")


def test_apply_refuses_a_stored_file_changed_since_the_dry_run(admin_client):
    response = upload(admin_client, HEADER + "mediaagent,02:00:00:00:00:01,,,\n")
    record = admin_client.session["device_imports"][-1]
    storage = import_storage()
    storage.delete(record["file"])
    storage.save(record["file"], io.BytesIO(b"type,mac\nmediaagent,02:00:00:00:00:09\n"))
    answer = admin_client.post(apply_url(response), follow=True)
    assert "The uploaded file is gone or changed" in answer.content.decode()
    assert not Device.objects.exists()


def test_an_import_of_another_session_can_not_be_applied_or_downloaded(admin_client, client, django_user_model):
    response = upload(admin_client, HEADER + "mediaagent,02:00:00:00:00:01,,,\n")
    other = django_user_model.objects.create_superuser("other", "other@example.com", "unused-password")
    client.force_login(other)
    assert client.post(apply_url(response)).status_code == 404
    token = admin_client.session["device_imports"][-1]["token"]
    assert client.get(reverse("admin:devices_device_import_report", args=[token, "dry-run"])).status_code == 404
    assert not Device.objects.exists()


def test_a_file_without_the_columns_is_refused_with_the_commands_message(admin_client):
    response = upload(admin_client, "name\nx\n")
    page = response.content.decode()
    assert "The header row must name the columns type,mac or type,serial_number" in page
    assert 'id="apply"' not in page


def test_the_page_shows_the_first_rows_and_totals_and_the_report_has_them_all(admin_client):
    # given: more rows than the page shows, the last one failing
    count = SHOWN + 50
    lines = "".join(f"mediaagent,02:00:00:{i >> 8:02X}:{i & 255:02X}:00,,,\n" for i in range(count))
    response = upload(admin_client, HEADER + lines + "mediaagent,bad,,,\n")
    page = response.content.decode()
    # then
    assert f"Dry run, nothing written: {count + 1} rows: {count} created, 1 failed." in page
    assert page.count('<tr class="outcome-created">') == SHOWN
    assert 'id="import-failures"' in page  # the failure past the first rows, in a table of its own
    assert len(report(admin_client, response, "dry-run")) == count + 1


def test_a_report_cell_a_spreadsheet_would_run_is_neutralised(admin_client):
    response = upload(admin_client, HEADER + "mediaagent,02:00:00:00:00:01,,=HYPERLINK(1),\n")
    assert report(admin_client, response, "dry-run")[0]["name"] == "'=HYPERLINK(1)"


def test_a_dry_runs_queries_do_not_grow_with_its_rows(admin_client):
    def queries(rows: int, start: int) -> int:
        lines = "".join(f"mediaagent,02:00:00:{i >> 8:02X}:{i & 255:02X}:00,,,\n" for i in range(start, start + rows))
        with CaptureQueriesContext(connection) as captured:
            assert f"{rows} rows: {rows} created." in upload(admin_client, HEADER + lines).content.decode()
        return len(captured)

    # One batch either way: the session and user, the declared types, the bulk session, the batch's statements.
    assert queries(10, 0) == queries(500, 10)


def test_a_file_that_is_not_utf8_is_refused_with_nothing_to_apply(admin_client):
    # given: a row with a byte that is not UTF-8
    data = {"operation": "import", "file": io.BytesIO(HEADER.encode() + b"mediaagent,0200000000\xff1,,,\n")}
    data["file"].name = "latin.csv"
    # when
    page = admin_client.post(IMPORT, data).content.decode()
    # then: the error said, and nothing to apply
    assert "Not UTF-8 text." in page
    assert 'id="apply"' not in page
    assert not Device.objects.exists()
