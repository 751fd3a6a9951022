"""The operators' admin (SPEC section 7) through the test client."""

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from constance import config
from django.contrib.auth.models import Permission, User
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from devices import services
from devices.choices import DeviceStatus
from devices.models import Account, ApiKey, Device, DeviceEvent
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:devices_device_changelist")


def run_action(admin_client, action, devices, **extra):
    data = {"action": action, "_selected_action": [d.pk for d in devices], **extra}
    return admin_client.post(CHANGELIST, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_device_list_shows_macs_with_colons_and_owners(admin_client):
    device = DeviceFactory(mac="A1B2C3D4E5F6", active=True)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "A1:B2:C3:D4:E5:F6" in html
    assert device.account.login in html


@pytest.mark.parametrize("typed", ["a1:b2:c3:d4:e5:f6", "A1-B2-C3-D4-E5-F6", "a1b2.c3d4.e5f6", "A1B2C3D4E5F6"])
def test_search_finds_a_device_by_any_spelling_of_its_mac(admin_client, typed):
    DeviceFactory(mac="A1B2C3D4E5F6")
    DeviceFactory(mac="A1B2C3D4E5F7")
    response = admin_client.get(CHANGELIST, {"q": typed})
    assert [d.mac for d in response.context["cl"].result_list] == ["A1B2C3D4E5F6"]


def test_search_finds_by_serial_uuid_owner_login_and_name(admin_client):
    wanted = DeviceFactory(serial_number="SN-XYZ", name="Front door camera", active=True)
    DeviceFactory()
    for term in ["SN-XYZ", str(wanted.uuid), wanted.account.login.upper(), "door cam"]:
        response = admin_client.get(CHANGELIST, {"q": term})
        assert [d.pk for d in response.context["cl"].result_list] == [wanted.pk], term


def found(admin_client, term: str) -> list[int]:
    response = admin_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    return sorted(d.pk for d in response.context["cl"].result_list)


@pytest.mark.parametrize("typed", ["44:05", "44-05-1", "4405.1a", "44051A", " 44:05:1a "])
def test_search_finds_devices_by_the_start_of_their_mac_in_any_spelling(admin_client, typed):
    first, second = DeviceFactory(mac="44051A000001"), DeviceFactory(mac="44051A000002")
    DeviceFactory(mac="4406FF000001")
    DeviceFactory(mac="A1B2C3D4E5F6", name="4405 is no MAC here")  # a name part matches too
    assert set(found(admin_client, typed)) >= {first.pk, second.pk}
    assert not ({d.pk for d in Device.objects.filter(mac="4406FF000001")} & set(found(admin_client, typed)))


@pytest.mark.parametrize("typed", ["xyz-12", "SN-XYZ-12", "sn-xyz-1234", "XyZ"])
def test_search_finds_a_device_by_part_of_its_serial_number_in_any_letter_case(admin_client, typed):
    wanted = DeviceFactory(serial_number="SN-XYZ-1234")
    DeviceFactory(serial_number="SN-ABC-1234")
    assert found(admin_client, typed) == [wanted.pk]


@pytest.mark.parametrize("part", ["front DOOR", "Door", "camera"])
def test_search_finds_a_device_by_part_of_its_name_in_any_letter_case(admin_client, part):
    wanted = DeviceFactory(name="Front door camera")
    DeviceFactory(name="Back yard")
    assert found(admin_client, part) == [wanted.pk]


@pytest.mark.parametrize("part", ["acme", "ACME.example", "billing@acme"])
def test_search_finds_devices_by_part_of_their_owners_login(admin_client, part):
    owner = AccountFactory(login="billing@acme.example.com")
    owned = [DeviceFactory(account=owner, active=True) for _ in range(2)]
    DeviceFactory(account=AccountFactory(login="other@example.com"), active=True)
    assert found(admin_client, part) == sorted(d.pk for d in owned)


def test_search_finds_no_part_that_spans_a_serial_number_and_a_name(admin_client):
    wanted = DeviceFactory(serial_number="SN-Q77", name="Door")
    nameless = DeviceFactory(serial_number=None, name="Gate Q77")
    assert found(admin_client, "q77") == sorted([wanted.pk, nameless.pk])
    for spanning in ["Q77 Door", "Q77Door", "7 do"]:
        assert found(admin_client, spanning) == [], spanning


def test_view_only_staff_find_a_device_by_part_of_its_serial_number(client):
    viewer = User.objects.create_user("viewer", password="unused-password", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_device"))
    client.force_login(viewer)
    wanted = DeviceFactory(serial_number="SN-XYZ-1234")
    DeviceFactory(serial_number="SN-ABC-1234")
    assert found(client, "xyz-1") == [wanted.pk]


def test_parts_of_serial_numbers_and_names_are_searched_from_three_characters(admin_client):
    wanted = DeviceFactory(serial_number="SN-QZ7", name="Gate", mac="A1B2C3D4E5F6")
    assert found(admin_client, "Z7") == []
    assert found(admin_client, "qz7") == [wanted.pk]
    assert found(admin_client, "a1") == [wanted.pk]  # the start of its MAC, whatever the length
    punctuated = DeviceFactory(serial_number="SN---1", name="Gate...")
    assert found(admin_client, "---") == found(admin_client, "...") == []
    assert found(admin_client, "--1") == [punctuated.pk]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
@pytest.mark.parametrize("part", ["XYZ-12", "door cam"])
def test_search_by_part_of_a_serial_number_or_name_is_read_through_the_trigram_index(admin_client, part):
    DeviceFactory(serial_number="SN-XYZ-1234", name="Front door camera")
    sql, params = admin_client.get(CHANGELIST, {"q": part}).context["cl"].queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A few rows: the planner would rather scan them, or walk the primary key newest first. The plan is the
        # generic one a statement prepared on the server comes to (prepare_threshold), where values are unknown.
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("PREPARE searched AS " + sql % tuple(f"${n}" for n in range(1, len(params) + 1)))
        marks = ", ".join(["%s"] * len(params))
        cursor.execute(connection.ops.compose_sql(f"EXPLAIN EXECUTE searched({marks})", params))
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE searched")
    assert "device_search_trgm_idx" in plan


def test_a_part_with_a_line_break_is_searched_in_the_serial_number_and_the_name_apart(admin_client):
    spanning = DeviceFactory(serial_number="EDGE-1", name="line one")
    wanted = DeviceFactory(serial_number="EDGE-2", name="two\nlines")
    assert found(admin_client, "1\nline") == []
    assert found(admin_client, "o\nli") == [wanted.pk]
    assert found(admin_client, "edge-") == sorted([spanning.pk, wanted.pk])


def test_search_finds_a_device_by_the_start_of_its_uuid(admin_client):
    wanted = DeviceFactory(uuid=uuid.UUID("0c2f1bd3-9ec5-4c67-a3a4-3b0a7b0a1e29"))
    DeviceFactory(uuid=uuid.UUID("0c2f1bd4-0000-4000-8000-000000000000"))
    for start in ["0c2f1bd3", "0C2F1BD3-9EC5", "0c2f1bd3-9ec5-4c67-a3"]:
        assert found(admin_client, start) == [wanted.pk], start
    assert len(found(admin_client, "0c2f1bd")) == 2


@pytest.mark.parametrize("term", ["%", "_", "\\", "'; DROP TABLE devices_device; --", "é" * 300, "::", "ff:"])
def test_search_takes_any_text(admin_client, term):
    DeviceFactory(name="plain", serial_number="plain", mac="A1B2C3D4E5F6")
    assert found(admin_client, term) == []


def test_a_search_with_a_nul_character_is_refused_by_the_list_not_the_database(admin_client):
    response = admin_client.get(CHANGELIST, {"q": "SN\x00"})
    assert response.status_code == 200


def test_filters_by_status_type_ban_and_online(admin_client):
    reserved = DeviceFactory(reserved=True, type="SIP")
    banned = DeviceFactory(banned=True, is_online=True)
    DeviceFactory()
    cases = {
        "status__exact=reserved": [reserved.pk],
        "type=SIP": [reserved.pk],
        "is_banned__exact=1": [banned.pk],
        "is_online__exact=1": [banned.pk],
    }
    for query, expected in cases.items():
        response = admin_client.get(f"{CHANGELIST}?{query}")
        assert [d.pk for d in response.context["cl"].result_list] == expected, query
    # The type filter lists the types in use.
    response = admin_client.get(CHANGELIST)
    html = response.content.decode()
    assert "?type=SIP" in html and "?type=mediaagent" in html


def test_the_list_takes_a_fixed_number_of_queries_whatever_its_length(admin_client, django_assert_max_num_queries):
    DeviceFactory.create_batch(60, active=True)
    # session, user, the page's rows with owners (one join), a count for the paginator, the type filter,
    # the action form: no query per row.
    with django_assert_max_num_queries(8):
        assert admin_client.get(CHANGELIST).status_code == 200


def test_reserve_and_unreserve_actions_go_through_the_lifecycle(admin_client):
    # given
    free, active = DeviceFactory(), DeviceFactory(active=True)
    # when
    response = run_action(admin_client, "reserve", [free, active])
    # then
    assert "1 device(s) reserved, 0 unchanged, 1 failed" in messages_of(response)[0]
    assert "Device already activated." in messages_of(response)[0]
    free.refresh_from_db()
    assert free.status == DeviceStatus.RESERVED
    event = free.events.get()
    assert (event.action, event.source, event.actor) == ("reserved", "admin", "admin")
    # when
    response = run_action(admin_client, "unreserve", [free])
    free.refresh_from_db()
    assert free.status == DeviceStatus.AVAILABLE
    assert messages_of(response) == ["1 device(s) unreserved, 0 unchanged."]


def test_ban_needs_a_reason_and_records_it(admin_client):
    device = DeviceFactory()
    response = run_action(admin_client, "ban", [device], reason="")
    assert messages_of(response) == [
        "Give a ban reason: a ban says why, in the device's audit trail. Nothing was banned."
    ]
    device.refresh_from_db()
    assert not device.is_banned

    response = run_action(admin_client, "ban", [device], reason="reported stolen")
    assert messages_of(response) == ["1 device(s) banned, 0 unchanged."]
    device.refresh_from_db()
    assert (device.is_banned, device.ban_reason, device.banned_by) == (True, "reported stolen", "admin")
    assert device.status == DeviceStatus.AVAILABLE  # a ban does not touch the lifecycle

    response = run_action(admin_client, "unban", [device])
    device.refresh_from_db()
    assert not device.is_banned
    assert list(device.events.order_by("id").values_list("action", flat=True)) == ["banned", "unbanned"]


def test_deactivate_action(admin_client, settings):
    settings.DEVICE_DEACTIVATION_SECONDS = 300
    active, free = DeviceFactory(active=True), DeviceFactory()
    response = run_action(admin_client, "deactivate", [active, free])
    assert "1 device(s) deactivated, 0 unchanged, 1 failed" in messages_of(response)[0]
    active.refresh_from_db()
    assert active.status == DeviceStatus.DEACTIVATING


def test_the_device_page_shows_its_events(admin_client):
    device = DeviceFactory()
    run_action(admin_client, "ban", [device], reason="chargeback")
    response = admin_client.get(reverse("admin:devices_device_change", args=[device.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Banned" in html and "chargeback" in html
    events_link = reverse("admin:devices_deviceevent_changelist") + f"?device__id__exact={device.pk}"
    assert admin_client.get(events_link).status_code == 200


def test_adding_a_device_in_the_admin_registers_it_with_a_canonical_mac(admin_client):
    response = admin_client.post(
        reverse("admin:devices_device_add"),
        {"type": "mediaagent", "mac": "a1-b2-c3-d4-e5-f6", "serial_number": "", "name": "x", "version": "1"},
        follow=True,
    )
    assert response.status_code == 200
    device = Device.objects.get()
    assert device.mac == "A1B2C3D4E5F6"
    assert device.serial_number is None
    assert device.events.get().action == "registered"


def test_the_admin_form_refuses_a_bad_or_taken_mac(admin_client):
    DeviceFactory(mac="A1B2C3D4E5F6")
    url = reverse("admin:devices_device_add")
    for mac in ["nope", "a1:b2:c3:d4:e5:f6"]:
        response = admin_client.post(url, {"type": "x", "mac": mac, "serial_number": "", "name": "", "version": ""})
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    assert Device.objects.count() == 1


def inline_management_data(page) -> dict:
    """The management forms of every inline on an admin page, as the browser would post them."""
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        form = inline.formset.management_form
        data.update({f"{form.prefix}-{name}": form[name].value() for name in form.fields})
    return data


def test_editing_a_device_goes_through_the_service_and_is_audited(admin_client):
    device = DeviceFactory(name="old")
    url = reverse("admin:devices_device_change", args=[device.pk])
    data = {
        "type": device.type,
        "mac": device.mac,
        "serial_number": device.serial_number,
        "name": "new",
        "version": device.version,
        **inline_management_data(admin_client.get(url)),
    }
    response = admin_client.post(url, data, follow=True)
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.name == "new"
    assert device.events.get().details == {"name": ["old", "new"]}


def test_an_api_key_secret_is_shown_once_and_only_its_hash_is_kept(admin_client):
    # when
    response = admin_client.post(reverse("admin:devices_apikey_add"), {"name": "billing", "scopes": ["billing"]})
    # then: the answer to the POST shows it, and is never cached
    assert response.status_code == 200
    secret = re.search(r'<code class="api-key-secret">([^<]+)</code>', response.content.decode()).group(1)
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    assert secret.startswith(key.prefix + ".")
    assert key.secret_hash == ApiKey.hash_secret(secret)
    assert secret not in key.secret_hash
    # and nothing else holds it: no cookie (the messages cookie is signed, not encrypted), no session, no page
    assert "messages" not in response.cookies
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert all(secret not in str(session.get_decoded()) for session in Session.objects.all())
    for url in [reverse("admin:devices_apikey_changelist"), reverse("admin:devices_apikey_change", args=[key.pk])]:
        page = admin_client.get(url)
        assert page.status_code == 200
        assert secret not in page.content.decode()


def test_the_same_name_posted_again_makes_no_second_key(admin_client):
    admin_client.post(reverse("admin:devices_apikey_add"), {"name": "billing", "scopes": ["billing"]})
    again = admin_client.post(reverse("admin:devices_apikey_add"), {"name": "billing", "scopes": ["billing"]})  # reload
    assert again.status_code == 200
    assert "api-key-secret" not in again.content.decode()
    prefix = ApiKey.objects.get().prefix
    assert again.context["adminform"].form.errors == {
        "name": [f"An active API key named billing exists already ({prefix}…): revoke it first."]
    }
    assert ApiKey.objects.count() == 1


def test_a_new_api_keys_form_offers_billing_alone_and_no_expiry(admin_client):
    form = admin_client.get(reverse("admin:devices_apikey_add")).context["adminform"].form
    assert list(form.fields) == ["name", "scopes", "expires_at"]
    assert form["scopes"].value() == ["billing"]
    assert form["expires_at"].value() is None


def test_an_api_key_is_created_in_the_admin_with_its_scopes_and_expiry(admin_client):
    # when
    response = admin_client.post(
        reverse("admin:devices_apikey_add"),
        {"name": "crm", "scopes": ["billing", "manage"], "expires_at_0": "2099-01-31", "expires_at_1": "12:00:00"},
    )
    # then
    assert response.status_code == 200
    key = ApiKey.objects.get()
    assert key.scopes == ["billing", "manage"]
    assert key.expires_at == datetime(2099, 1, 31, 12, tzinfo=UTC)
    changelist = admin_client.get(reverse("admin:devices_apikey_changelist")).content.decode()
    assert "billing, manage" in changelist


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"scopes": []}, {"scopes": ["This field is required."]}),
        ({"scopes": ["root"]}, {"scopes": ["Select a valid choice. root is not one of the available choices."]}),
        (
            {"scopes": ["manage"], "expires_at_0": "2000-01-01", "expires_at_1": "00:00:00"},
            {"expires_at": ["The expiry must be in the future."]},
        ),
    ],
)
def test_an_api_key_needs_a_known_scope_and_a_future_expiry(admin_client, data, errors):
    response = admin_client.post(reverse("admin:devices_apikey_add"), {"name": "crm", **data})
    assert response.context["adminform"].form.errors == errors
    assert ApiKey.objects.count() == 0


def test_changing_a_keys_scopes_and_expiry_in_the_admin_applies_to_its_next_request(admin_client, client):
    # given: a billing key, used once (so it is in the cache)
    key, secret = services.api_key_create(name="crm")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    body = json.dumps({"type": "none", "mac": "000000000000"})
    check = "/api/v1/billing/devices/check"
    assert client.post(check, body, content_type="application/json", **bearer).status_code == 400
    # when: billing is taken away from it and it is given a manage scope and an expiry
    page = admin_client.post(
        reverse("admin:devices_apikey_change", args=[key.pk]),
        {"scopes": ["manage"], "expires_at_0": "2099-01-31", "expires_at_1": "12:00:00"},
    )
    # then
    assert page.status_code == 302
    key.refresh_from_db()
    assert (key.scopes, key.expires_at, key.name) == (["manage"], datetime(2099, 1, 31, 12, tzinfo=UTC), "crm")
    assert client.post(check, body, content_type="application/json", **bearer).status_code == 403


def test_a_revoked_keys_page_changes_nothing(admin_client):
    key = services.api_key_create(name="old")[0]
    services.api_key_revoke(api_key=key)
    form = admin_client.get(reverse("admin:devices_apikey_change", args=[key.pk])).context["adminform"].form
    assert list(form.fields) == []


def test_an_account_password_set_in_the_admin_is_hashed(admin_client):
    url = reverse("admin:devices_account_add")
    response = admin_client.post(
        url,
        {
            "login": "new@example.com",
            "name": "New",
            "type": "user",
            "status": "active",
            "role": "user",
            "billing_properties": "[]",
            "new_password": "s3cret-pass",
            "can_update_password": "on",
            **inline_management_data(admin_client.get(url)),
        },
        follow=True,
    )
    assert response.status_code == 200
    account = Account.objects.get(login="new@example.com")
    assert account.password != "s3cret-pass"
    assert account.check_password("s3cret-pass")


def _account_form_data(admin_client, url, **values) -> dict:
    data = {"type": "user", "status": "active", "role": "user", "billing_properties": "[]", **values}
    return {**data, **inline_management_data(admin_client.get(url))}


@pytest.mark.parametrize(
    ("password", "errors"),
    [
        ("a", ["This password is too short. It must contain at least 8 characters.", "This password is too common."]),
        ("12345678", ["This password is too common.", "This password is entirely numeric."]),
    ],
    ids=["one letter", "common and numeric"],
)
def test_an_account_password_set_in_the_admin_must_pass_djangos_validators(admin_client, password, errors):
    # given
    account = AccountFactory(login="kept@example.com")
    account.set_password("the-first-good-password")
    account.save()
    add, change = reverse("admin:devices_account_add"), reverse("admin:devices_account_change", args=[account.pk])
    # when
    added = admin_client.post(
        add, _account_form_data(admin_client, add, login="new@example.com", new_password=password)
    )
    changed = admin_client.post(
        change, _account_form_data(admin_client, change, login="kept@example.com", new_password=password)
    )
    # then: the form again, with Django's own messages, and nothing saved
    for response in (added, changed):
        assert response.status_code == 200
        assert response.context["adminform"].form.errors == {"new_password": errors}
    assert not Account.objects.filter(login="new@example.com").exists()
    account.refresh_from_db()
    assert account.check_password("the-first-good-password")
    assert "at least 8 characters" in admin_client.get(add).content.decode()  # the rules, under the field


def test_account_logins_are_unique_whatever_their_case(admin_client):
    AccountFactory(login="Someone@Example.com")
    url = reverse("admin:devices_account_add")
    data = {
        "login": "someone@example.com",
        "type": "user",
        "status": "active",
        "role": "user",
        "billing_properties": "[]",
        **inline_management_data(admin_client.get(url)),
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.non_field_errors() == [
        "An account with this login (in any letter case) exists already."
    ]
    assert Account.objects.count() == 1


def test_events_are_read_only(admin_client):
    DeviceFactory()
    assert admin_client.get(reverse("admin:devices_deviceevent_add")).status_code == 403
    event = DeviceEvent.objects.create(device=Device.objects.get(), action="updated", source="admin")
    page = admin_client.get(reverse("admin:devices_deviceevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert b'type="submit" value="Save"' not in page.content


def test_runtime_configuration_is_editable_in_the_admin(admin_client, client, content_types_forgotten):
    assert config.DEVICE_MANAGEMENT is True
    response = admin_client.post(
        reverse("admin:constance_config_changelist"),
        {"version": _constance_form_version(admin_client)},
        follow=True,
    )
    assert response.status_code == 200
    assert config.DEVICE_MANAGEMENT is False
    assert client.get("/api/base/configs").json()["data"] == {"device_management": 0}


def _constance_form_version(admin_client) -> str:
    page = admin_client.get(reverse("admin:constance_config_changelist"))
    return page.context["form"].initial["version"]


def test_accounts_are_soft_deleted_never_deleted_for_good(admin_client):
    # given
    account = AccountFactory()
    changelist = reverse("admin:devices_account_changelist")
    delete_page = reverse("admin:devices_account_delete", args=[account.pk])
    # when
    asked = admin_client.get(delete_page)
    posted = admin_client.post(delete_page, {"post": "yes"})
    bulk = admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [account.pk], "post": "yes", "index": 0}
    )
    # then
    assert (asked.status_code, posted.status_code, bulk.status_code) == (403, 403, 302)
    offered = admin_client.get(changelist).context["action_form"].fields["action"].choices
    assert [name for name, _label in offered] == ["", "soft_delete", "restore"]
    assert Account.objects.get(pk=account.pk).deleted_at is None
    # the soft delete is still there
    admin_client.post(changelist, {"action": "soft_delete", "_selected_action": [account.pk], "index": 0})
    assert Account.objects.get(pk=account.pk).deleted_at is not None


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/devices/device/add/"], ids=["anonymous", "staff"])
def test_a_body_over_the_limit_is_refused_in_the_admin_before_anything_reads_it(admin_client, monkeypatch, path):
    # given: a multipart upload just over 1 MiB, whose file part Django's own limit would not count
    def parse(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr("django.http.multipartparser.MultiPartParser.parse", parse)
    upload = SimpleUploadedFile("big.bin", b"x" * (1024 * 1024 + 1))
    client = admin_client if path != "/admin/login/" else Client()
    # when
    response = client.post(path, {"username": "admin", "password": "x", "file": upload})
    # then: the same answer nginx gives for a body over its client_max_body_size
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "The request body is larger than 1048576 bytes."}


# -- the audit trail: finding events ------------------------------------------------------------------------------

EVENTS = reverse("admin:devices_deviceevent_changelist")


def events_listed(response) -> list[DeviceEvent]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def two_devices_events(admin_client):
    first = DeviceFactory(mac="A1B2C3D4E5F6")
    second = DeviceFactory(mac="0A0B0C0D0E0F")
    run_action(admin_client, "reserve", [first, second])
    run_action(admin_client, "ban", [first], reason="chargeback")
    return first, second


@pytest.mark.parametrize("typed", ["a1:b2:c3:d4:e5:f6", "A1-B2-C3-D4-E5-F6", " a1b2.c3d4.e5f6 "])
def test_events_are_found_by_their_devices_mac_in_any_spelling(admin_client, two_devices_events, typed):
    first, _ = two_devices_events
    found = events_listed(admin_client.get(EVENTS, {"q": typed}))
    assert [e.action for e in found] == ["banned", "reserved"]
    assert {e.device_id for e in found} == {first.pk}


def test_events_are_found_by_their_devices_uuid(admin_client, two_devices_events):
    _, second = two_devices_events
    found = events_listed(admin_client.get(EVENTS, {"q": str(second.uuid)}))
    assert [(e.device_id, e.action) for e in found] == [(second.pk, "reserved")]


@pytest.mark.parametrize("spelling", [str, lambda u: u.hex, lambda u: str(u).upper()], ids=["dashed", "hex", "upper"])
def test_events_are_found_by_their_request_id(admin_client, two_devices_events, spelling):
    # given: one request's event among others (request ids are kept as sent: dashed from a proxy, hex generated)
    first, _ = two_devices_events
    request_id = uuid.uuid4()
    DeviceEvent.objects.filter(device=first, action="banned").update(request_id=str(request_id))
    # when
    found = events_listed(admin_client.get(EVENTS, {"q": spelling(request_id)}))
    # then
    assert [(e.device_id, e.action) for e in found] == [(first.pk, "banned")]


def test_events_are_still_found_by_an_exact_actor(admin_client, two_devices_events, admin_user):
    assert len(events_listed(admin_client.get(EVENTS, {"q": admin_user.username}))) == 3
    assert events_listed(admin_client.get(EVENTS, {"q": "nobody-at-all"})) == []


def test_events_are_filtered_by_action_source_and_a_date_range(admin_client, two_devices_events):
    # given: one of the events a week old
    first, _ = two_devices_events
    old = DeviceEvent.objects.get(device=first, action="reserved")
    DeviceEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=7))
    today = timezone.localdate()
    # when / then
    assert len(events_listed(admin_client.get(EVENTS, {"action__exact": "reserved", "source__exact": "admin"}))) == 2
    recent = {"created_at__range__gte": (today - timedelta(days=1)).isoformat()}
    assert [e.action for e in events_listed(admin_client.get(EVENTS, recent))] == ["banned", "reserved"]
    week_ago = (today - timedelta(days=7)).isoformat()
    older = {"created_at__range__gte": week_ago, "created_at__range__lte": week_ago}
    assert [e.pk for e in events_listed(admin_client.get(EVENTS, older))] == [old.pk]


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45", "\x00", "9" * 40])
def test_a_date_range_that_is_no_date_filters_nothing_and_breaks_nothing(admin_client, two_devices_events, bad):
    response = admin_client.get(EVENTS, {"created_at__range__gte": bad})
    assert len(events_listed(response)) == 3


def test_a_devices_history_button_opens_its_audit_trail(admin_client, two_devices_events):
    first, _ = two_devices_events
    response = admin_client.get(reverse("admin:devices_device_history", args=[first.pk]))
    assert response.status_code == 302
    trail = events_listed(admin_client.get(response["Location"]))
    assert [e.action for e in trail] == ["banned", "reserved"]


def test_the_history_of_a_device_that_does_not_exist_is_the_admins_own_answer(admin_client):
    response = admin_client.get(reverse("admin:devices_device_history", args=[987654]))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_history_is_djangos_own_page_for_staff_who_may_not_read_the_events():
    from django.contrib.auth.models import Permission, User

    device = DeviceFactory()
    viewer = User.objects.create_user("viewer", password="unused-password", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_device"))
    client = Client()
    client.force_login(viewer)
    response = client.get(reverse("admin:devices_device_history", args=[device.pk]))
    assert response.status_code == 200 and "Change history" in response.content.decode()
