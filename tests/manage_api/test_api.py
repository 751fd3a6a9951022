"""The management API (SPEC section 9) through HTTP, against the database: filters, pages, errors, keys."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices import services
from devices.choices import ApiKeyScope, DeviceStatus, EventAction, EventSource
from devices.models import ApiKey, ClientAppInfo, Device, DeviceEvent
from licensing.models import License, LicenseSession
from tests.factories import AccountFactory, DeviceFactory, MorDeviceFactory
from tests.manage_api.conftest import ManageClient

pytestmark = pytest.mark.django_db

ACTOR = services.Actor(source=EventSource.ADMIN, name="op")
DEVICE_KEYS = {
    "uuid",
    "id",
    "type",
    "mac",
    "serial_number",
    "name",
    "version",
    "status",
    "status_until",
    "is_online",
    "last_seen_at",
    "owner",
    "activated_at",
    "is_banned",
    "ban",
    "created_at",
    "updated_at",
}


def uuids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["uuid"] for row in response.json()["results"]]


# -- keys ---------------------------------------------------------------------------------------------------------


def test_a_billing_only_key_is_refused_with_403_permission_denied():
    secret = services.api_key_create(name="billing")[1]
    response = ManageClient(secret).get("devices/")
    assert response.status_code == 403
    assert response.json() == {"code": "permission_denied", "message": "This API key has no manage scope."}


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer a.b", "Basic dXNlcjpwYXNz"])
def test_no_key_or_a_wrong_one_is_401_not_authenticated(db, header):
    extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = ManageClient(None).get("devices/", **extra)
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "A valid API key is required: Authorization: Bearer <key>.",
    }
    assert response["WWW-Authenticate"] == "Bearer"


def test_an_expired_key_is_refused_everywhere_with_401(db):
    # given: a key with both scopes whose expiry has passed
    key, secret = services.api_key_create(name="both", scopes=[ApiKeyScope.BILLING, ApiKeyScope.MANAGE])
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # when
    manage = ManageClient(secret).get("devices/")
    billing = ManageClient(secret).client.post(
        "/api/v1/billing/devices/check",
        {"type": "mediaagent", "mac": "A1B2C3D4E5F6"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    # then
    assert (manage.status_code, manage.json()["code"]) == (401, "not_authenticated")
    assert (billing.status_code, billing.json()) == (401, {"message": "Unauthenticated."})


def test_a_manage_only_key_is_refused_by_billing_with_403(manage):
    response = manage.client.post(
        "/api/v1/billing/devices/check",
        {"type": "mediaagent", "mac": "A1B2C3D4E5F6"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {manage.secret}",
    )
    assert (response.status_code, response.json()) == (403, {"message": "This action is unauthorized."})


# -- devices: each filter -----------------------------------------------------------------------------------------


def test_devices_are_listed_newest_first_with_every_key(manage):
    older, newer = DeviceFactory(), DeviceFactory(active=True)
    response = manage.get("devices/")
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert (body["next"], body["previous"]) == (None, None)
    assert uuids(response) == [str(newer.uuid), str(older.uuid)]
    row = body["results"][0]
    assert set(row) == DEVICE_KEYS
    assert row["owner"] == {"id": newer.account.pk, "login": newer.account.login}
    assert (row["status"], row["ban"], row["mac"]) == ("active", None, newer.mac)


@pytest.mark.parametrize("status", [DeviceStatus.AVAILABLE, DeviceStatus.RESERVED, DeviceStatus.ACTIVE])
def test_devices_filtered_by_status(manage, status):
    DeviceFactory(), DeviceFactory(reserved=True), DeviceFactory(active=True)
    expected = [str(d.uuid) for d in Device.objects.filter(status=status).order_by("-id")]
    assert uuids(manage.get("devices/", {"status": status})) == expected
    assert len(expected) == 1


def test_devices_filtered_by_type(manage):
    sip = DeviceFactory(type="SIP")
    DeviceFactory(type="mediaagent")
    assert uuids(manage.get("devices/", {"type": "SIP"})) == [str(sip.uuid)]


@pytest.mark.parametrize("spelling", ["a1:b2:c3:d4:e5:f6", "A1-B2-C3-D4-E5-F6", "a1b2.c3d4.e5f6", "A1B2C3D4E5F6"])
def test_a_device_is_found_by_its_mac_in_any_spelling(manage, spelling):
    device = DeviceFactory(mac="A1B2C3D4E5F6")
    DeviceFactory()
    assert uuids(manage.get("devices/", {"mac": spelling})) == [str(device.uuid)]


def test_devices_filtered_by_serial_number(manage):
    device = DeviceFactory(serial_number="SN-42")
    DeviceFactory()
    assert uuids(manage.get("devices/", {"serial_number": "SN-42"})) == [str(device.uuid)]


@pytest.mark.parametrize(("value", "banned"), [("true", True), ("false", False)])
def test_devices_filtered_by_ban(manage, value, banned):
    devices = {True: DeviceFactory(banned=True), False: DeviceFactory()}
    response = manage.get("devices/", {"is_banned": value})
    assert uuids(response) == [str(devices[banned].uuid)]
    if banned:
        assert response.json()["results"][0]["ban"] == {
            "reason": "stolen",
            "banned_at": response.json()["results"][0]["ban"]["banned_at"],
        }  # not who banned it: an operator's username is no integrator's business


def test_devices_filtered_by_their_owners_login_in_any_letter_case(manage):
    owned = DeviceFactory(active=True, account=AccountFactory(login="Owner@Example.com"))
    DeviceFactory(active=True)
    assert uuids(manage.get("devices/", {"account": "owner@EXAMPLE.com"})) == [str(owned.uuid)]
    assert uuids(manage.get("devices/", {"account": "nobody@example.com"})) == []


def test_devices_filtered_by_updated_since(manage):
    old, recent = DeviceFactory(), DeviceFactory()
    Device.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert uuids(manage.get("devices/", {"updated_since": since})) == [str(recent.uuid)]


def test_filters_combine(manage):
    match = DeviceFactory(type="SIP", banned=True)
    DeviceFactory(type="SIP"), DeviceFactory(banned=True)
    assert uuids(manage.get("devices/", {"type": "SIP", "is_banned": "true"})) == [str(match.uuid)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "enabled"}, "status"),
        ({"mac": "not-a-mac"}, "mac"),
        ({"is_banned": "maybe"}, "is_banned"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"mac": "\x00"}, "mac"),
    ],
)
def test_an_invalid_filter_value_is_400_invalid_filter(manage, params, field):
    response = manage.get("devices/", params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "errors"}
    assert (body["code"], list(body["errors"])) == ("invalid_filter", [field])


# -- one device ---------------------------------------------------------------------------------------------------


def test_one_device_has_its_protocols_data(manage):
    # given: a SIP line's device, with a client app and a license session
    line = MorDeviceFactory(caller_id="37060000000")
    device = line.device
    ClientAppInfo.objects.create(
        device=device, app_name="VMS", app_version="3", device_os="Android", device_version="14", ip="203.0.113.7"
    )
    license = License.objects.create(key="KEY-1")
    LicenseSession.objects.create(license=license, device=device)
    # when
    response = manage.get(f"devices/{device.uuid}/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DEVICE_KEYS | {"client_app", "license_session", "sip_line"}
    assert body["owner"]["login"] == device.account.login
    assert body["client_app"]["app_name"] == "VMS"
    assert body["license_session"]["license"] == "KEY-1"
    assert body["sip_line"]["username"] == line.username
    assert body["sip_line"]["caller_id"] == "37060000000"
    assert "secret" not in body["sip_line"]


def test_a_device_without_protocol_data_has_nulls(manage):
    device = DeviceFactory()
    body = manage.get(f"devices/{device.uuid}").json()
    assert (body["client_app"], body["license_session"], body["sip_line"], body["owner"]) == (None, None, None, None)


@pytest.mark.parametrize("ref", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_an_unknown_device_is_404_not_found(manage, ref):
    response = manage.get(f"devices/{ref}/")
    assert (response.status_code, response.json()) == (404, {"code": "not_found", "message": "Not found."})


# -- events -------------------------------------------------------------------------------------------------------


def _events():
    first, second = DeviceFactory(), DeviceFactory()
    services.device_ban(device=first, reason="r", actor=ACTOR)
    services.device_unban(device=first, actor=ACTOR)
    services.device_ban(device=second, reason="r", actor=services.Actor(source=EventSource.COMMAND, name="c"))
    return first, second


def test_a_devices_events_newest_first(manage):
    first, _second = _events()
    response = manage.get(f"devices/{first.uuid}/events/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["action"] for row in rows] == [EventAction.UNBANNED, EventAction.BANNED]
    assert {row["device"] for row in rows} == {str(first.uuid)}
    assert set(rows[0]) == {
        "id",
        "device",
        "action",
        "from_status",
        "to_status",
        "source",
        "actor",
        "request_id",
        "details",
        "created_at",
    }


def test_an_unknown_devices_events_are_404(manage):
    response = manage.get("devices/00000000-0000-0000-0000-000000000000/events/")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "banned"}, 2),
        ({"action": "unbanned"}, 1),
        ({"source": "command"}, 1),
        ({"source": "admin"}, 2),
    ],
)
def test_events_filtered_by_action_and_source(manage, params, expected):
    _events()
    rows = manage.get("events/", params).json()["results"]
    assert len(rows) == expected
    assert all(row[name] == value for row in rows for name, value in params.items())


def test_events_filtered_by_device(manage):
    _first, second = _events()
    rows = manage.get("events/", {"device": str(second.uuid)}).json()["results"]
    assert [row["device"] for row in rows] == [str(second.uuid)]


def test_events_filtered_by_time_range(manage):
    first, _second = _events()
    old = DeviceEvent.objects.filter(device=first, action=EventAction.BANNED).get()
    DeviceEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=4)).isoformat()
    until = (timezone.now() - timedelta(days=2)).isoformat()
    rows = manage.get("events/", {"since": since, "until": until}).json()["results"]
    assert [row["id"] for row in rows] == [old.pk]
    assert len(manage.get("events/", {"since": until}).json()["results"]) == 2


@pytest.mark.parametrize("params", [{"device": "nope"}, {"action": "exploded"}, {"since": "monday"}])
def test_an_invalid_event_filter_is_400(manage, params):
    response = manage.get("events/", params)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_filter")


# -- accounts and licenses ----------------------------------------------------------------------------------------


def test_accounts_never_show_a_password_nor_its_hash(manage):
    reseller = AccountFactory(login="reseller@example.com", role="reseller")
    account = AccountFactory(login="Client@Example.com", owner=reseller)
    account.set_password("correct horse battery staple")
    account.save()
    response = manage.get("accounts/", {"login": "client@example.com"})
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["login"] == "Client@Example.com"
    assert row["owner"] == "reseller@example.com"
    assert "password" not in row
    assert account.password not in response.content.decode()


@pytest.mark.parametrize(
    ("params", "logins"), [({"role": "reseller"}, ["r@x.com"]), ({"status": "blocked"}, ["b@x.com"])]
)
def test_accounts_filtered_by_role_and_status(manage, params, logins):
    AccountFactory(login="r@x.com", role="reseller"), AccountFactory(login="b@x.com", status="blocked")
    rows = manage.get("accounts/", params).json()["results"]
    assert [row["login"] for row in rows] == logins


def test_deleted_accounts_filtered(manage):
    AccountFactory(login="gone@x.com", deleted_at=timezone.now()), AccountFactory(login="here@x.com")
    assert [r["login"] for r in manage.get("accounts/", {"is_deleted": "true"}).json()["results"]] == ["gone@x.com"]
    assert [r["login"] for r in manage.get("accounts/", {"is_deleted": "false"}).json()["results"]] == ["here@x.com"]


def test_licenses_filtered_by_account_kind_and_reference(manage):
    owner = AccountFactory(login="pool@x.com")
    pooled = License.objects.create(key="K-1", account=owner, reference="order-1")
    License.objects.create(key="K-2", reference="order-2")
    assert [r["key"] for r in manage.get("licenses/", {"account": "POOL@x.com"}).json()["results"]] == ["K-1"]
    assert [r["key"] for r in manage.get("licenses/", {"reference": "order-2"}).json()["results"]] == ["K-2"]
    assert len(manage.get("licenses/", {"kind": "device"}).json()["results"]) == 0
    row = manage.get("licenses/", {"account": "pool@x.com"}).json()["results"][0]
    assert row == {
        "id": pooled.pk,
        "key": "K-1",
        "kind": "key",
        "max_activations": 1,
        "activations_count": 0,
        "account": "pool@x.com",
        "expires_at": None,
        "revoked_at": None,
        "reference": "order-1",
        "created_at": row["created_at"],
    }


# -- paging -------------------------------------------------------------------------------------------------------


def test_pages_follow_next_and_previous_over_every_device_once(manage):
    devices = DeviceFactory.create_batch(7)
    expected = [str(d.uuid) for d in sorted(devices, key=lambda d: -d.pk)]
    seen, url, pages = [], "devices/?limit=3", []
    while url:
        body = manage.get(url).json()
        pages.append(body)
        seen += [row["uuid"] for row in body["results"]]
        url = body["next"]
    assert seen == expected
    assert [len(p["results"]) for p in pages] == [3, 3, 1]
    back = manage.get(pages[2]["previous"]).json()
    assert [row["uuid"] for row in back["results"]] == expected[3:6]


def test_event_pages_hold_every_event_once_though_they_share_a_time(manage):
    device = DeviceFactory()
    same = timezone.now()
    DeviceEvent.objects.bulk_create(
        DeviceEvent(device=device, action=EventAction.UPDATED, source=EventSource.ADMIN, created_at=same)
        for _ in range(5)
    )
    seen, url = [], f"devices/{device.uuid}/events/?limit=2"
    while url:
        body = manage.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(DeviceEvent.objects.values_list("pk", flat=True))


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "cD1hYmM=",  # p=abc: not an id
        "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ==",  # p=99999999999999999999999: past bigint
        "\x00",  # no base64 at all: read as nothing, the first page
        " ",
        "cD0y\x00",  # p=2 with a character base64 doesn't have
        "enp6",  # zzz: base64 of nothing a cursor holds
        "cD0yJng9MQ==",  # p=2&x=1: a token no cursor has
    ],
)
def test_a_bad_cursor_is_400_invalid_cursor(manage, cursor):
    DeviceFactory()
    response = manage.get("devices/", {"cursor": cursor})
    assert response.status_code == 400
    message = "The cursor is not one this API gave: start again from the first page."
    assert response.json() == {"code": "invalid_cursor", "message": message, "errors": {"cursor": [message]}}


def test_a_bad_event_cursor_is_400(manage):
    response = manage.get("events/", {"cursor": "cD1ub3QtYS10aW1l"})  # p=not-a-time
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


# -- query counts -------------------------------------------------------------------------------------------------


def _warm(manage):
    """The key's first request reads it (and records its use); later ones find it in the cache."""
    manage.get("licenses/")


@pytest.mark.parametrize("count", [1, 40])
def test_a_device_page_is_one_query_however_many_rows(manage, count, django_assert_num_queries):
    DeviceFactory.create_batch(count, active=True)
    _warm(manage)
    # One SELECT of the page's devices joined to their owners (LIMIT page + 1): no COUNT, no query per row.
    with django_assert_num_queries(1):
        response = manage.get("devices/", {"status": "active", "limit": 20})
    assert len(response.json()["results"]) == min(count, 20)


def test_a_later_page_is_one_query_too(manage, django_assert_num_queries):
    DeviceFactory.create_batch(5)
    _warm(manage)
    next_page = manage.get("devices/", {"limit": 2}).json()["next"]
    # The cursor is an id: WHERE id < position ORDER BY id DESC LIMIT 3, one indexed range scan.
    with django_assert_num_queries(1):
        assert len(manage.get(next_page).json()["results"]) == 2


def test_one_device_is_one_query(manage, django_assert_num_queries):
    device = MorDeviceFactory().device
    _warm(manage)
    # The device joined to its owner, client app, license session (and its license) and SIP line (and its group).
    with django_assert_num_queries(1):
        assert manage.get(f"devices/{device.uuid}/").status_code == 200


def test_a_devices_events_are_two_queries(manage, django_assert_num_queries):
    device = DeviceFactory()
    for _ in range(3):
        services.device_ban(device=device, reason="r", actor=ACTOR)
        services.device_unban(device=device, actor=ACTOR)
    _warm(manage)
    # The device's id by its uuid; then the page of its events (event_device_id_idx) joined to the device.
    with django_assert_num_queries(2):
        assert len(manage.get(f"devices/{device.uuid}/events/").json()["results"]) == 6


@pytest.mark.parametrize("path", ["events/", "accounts/", "licenses/"])
def test_every_other_list_is_one_query(manage, path, django_assert_num_queries):
    owner = AccountFactory()
    for _ in range(3):
        AccountFactory(owner=owner)
        License.objects.create(key=f"K-{_}-{owner.pk}", account=owner)
        services.device_ban(device=DeviceFactory(), reason="r", actor=ACTOR)
    _warm(manage)
    # One SELECT of the page joined to what each row names (device uuid, owner login, pool login).
    with django_assert_num_queries(1):
        assert len(manage.get(path).json()["results"]) >= 3


# -- the API's own answers ----------------------------------------------------------------------------------------


def test_the_management_api_only_reads(manage):
    response = manage.client.post("/api/manage/devices/", {}, HTTP_AUTHORIZATION=f"Bearer {manage.secret}")
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


def test_an_unrouted_management_path_is_404_in_its_format(manage):
    response = manage.get("/api/manage/nothing/")
    assert (response.status_code, response.json()) == (404, {"code": "not_found", "message": "Not found."})


# -- constant time at any size: each page is read through an index that gives its order ----------------------------


def _page_plan(manage, path: str, params: dict) -> tuple[str, str]:
    """The SQL of the page query of a request, and PostgreSQL's plan for it when the index can be used at all."""
    _warm(manage)
    with CaptureQueriesContext(connection) as queries:
        assert manage.get(path, params).status_code == 200
    sql = queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        # A test table is tiny, so the planner would rightly scan it, or read a few rows through a bitmap and sort
        # them: forbid both to see which index serves the page in its order, as at a million rows.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
        cursor.execute("SET LOCAL enable_bitmapscan = on")
    return sql, plan


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, "devices_device_pkey"),
        ({"status": "active"}, "device_status_id_idx"),
        ({"type": "SIP"}, "device_type_id_idx"),
        ({"is_banned": "true"}, "device_banned_id_idx"),
    ],
)
def test_a_later_device_page_is_a_range_of_an_index_with_no_offset_count_or_sort(manage, params, index):
    DeviceFactory.create_batch(3, active=True, type="SIP", banned=True)
    cursor = manage.get("devices/", {**params, "limit": 1}).json()["next"]
    sql, plan = _page_plan(manage, cursor, {})
    assert '"devices_device"."id" <' in sql
    assert "OFFSET" not in sql.upper() and "COUNT(" not in sql.upper()
    assert index in plan
    assert "Sort" not in plan


@pytest.mark.parametrize("path", ["events/", "devices/{uuid}/events/"])
def test_an_event_page_is_a_range_of_an_index_in_id_order(manage, path):
    device = DeviceFactory()
    services.device_ban(device=device, reason="r", actor=ACTOR)
    _sql, plan = _page_plan(manage, path.format(uuid=device.uuid), {})
    # The primary key, or for one device event_device_id_idx (which one the planner takes for a device depends
    # on the statistics other tests left): either gives the order, no sort.
    assert "Index Scan" in plan and ("devices_deviceevent_pkey" in plan or "event_device_id_idx" in plan)
    assert "Sort" not in plan


def test_events_written_at_one_time_are_each_paged_once(manage):
    # given: a bulk batch's events, all at one time, more than DRF's offset cap (1,000) plus a page
    device = DeviceFactory()
    moment = timezone.now()
    DeviceEvent.objects.bulk_create(
        DeviceEvent(device=device, action="updated", source="command", created_at=moment) for _ in range(1700)
    )
    # when: every page, following next
    seen, url, pages = [], "events/?limit=500", 0
    while url and pages < 10:
        page = manage.get(url).json()
        seen += [event["id"] for event in page["results"]]
        url, pages = page["next"], pages + 1
    # then
    assert pages == 4 and len(seen) == 1700 == len(set(seen))


def test_an_operators_username_is_never_shown_to_an_integrator(manage):
    # given: a ban by an operator in the admin, and one by a command
    device = DeviceFactory()
    services.device_ban(device=device, reason="stolen", actor=services.Actor(source=EventSource.ADMIN, name="alice"))
    services.device_unban(device=device, actor=services.Actor(source=EventSource.COMMAND, name="ban_devices"))
    # when
    events = manage.get(f"devices/{device.uuid}/events/").json()["results"]
    listed = manage.get("devices/").content.decode()
    # then
    assert [(e["source"], e["actor"]) for e in events] == [("command", "ban_devices"), ("admin", "")]
    assert "alice" not in listed and "alice" not in manage.get("events/").content.decode()
