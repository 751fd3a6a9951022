"""Transitions are one statement on success; what doesn't match is read to learn why, and changes nothing."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from django_guid import clear_guid, set_guid

from devices import services
from devices.choices import DeviceStatus
from devices.errors import AccountNotUsable, DeviceBanned, DeviceNotFound, DeviceReserved
from devices.models import Account, ClientAppInfo, Device, DeviceEvent
from devices.selectors import DeviceRef
from devices.sql import EVENT_COLUMNS
from tests.conftest import run_in_threads
from tests.factories import AccountFactory, DeviceFactory

EVENT_FIELDS = ("action", "from_status", "to_status", "source", "actor", "request_id", "details")
DEVICE_FIELDS = ("status", "account_id", "name", "is_banned", "status_until", "leave_reserved")
ACCOUNT_FIELDS = ("login", "name", "type", "status", "billing_properties", "created_at", "deleted_at")


def _event(device: Device) -> dict:
    return DeviceEvent.objects.filter(device=device).values(*EVENT_FIELDS).get()


def _state(device: Device) -> dict:
    return Device.objects.filter(pk=device.pk).values(*DEVICE_FIELDS).get()


@pytest.fixture
def request_id():
    set_guid("0f5c1c3e4b8a4f0e9d7e2a1b3c4d5e6f")
    yield "0f5c1c3e4b8a4f0e9d7e2a1b3c4d5e6f"
    clear_guid()


@pytest.mark.django_db
def test_a_reserve_is_one_statement_that_returns_the_row_and_writes_its_event(
    actor, request_id, django_assert_num_queries
):
    device = DeviceFactory()
    with django_assert_num_queries(1):
        returned = services.device_reserve(device=device, actor=actor)
    assert _state(device) == {**_state(device), "status": DeviceStatus.RESERVED}
    assert _event(device) == {
        "action": "reserved",
        "from_status": "available",
        "to_status": "reserved",
        "source": "admin",
        "actor": "tester",
        "request_id": request_id,
        "details": {},
    }
    # The returned device is the row as written.
    assert returned.pk == device.pk
    assert returned.status == DeviceStatus.RESERVED
    assert returned.updated_at == Device.objects.get(pk=device.pk).updated_at > device.updated_at


@pytest.mark.django_db
def test_an_activation_for_a_login_in_any_case_is_one_statement_recording_the_accounts_login(
    actor, request_id, django_assert_num_queries
):
    account = AccountFactory(login="Owner@Example.com")
    device = DeviceFactory(name="old")
    with django_assert_num_queries(1):
        returned = services.device_activate(
            device=DeviceRef(type=device.type, mac=device.mac),
            account="owner@EXAMPLE.com",
            actor=actor,
            name="Door",
        )
    assert _state(device) == {**_state(device), "status": DeviceStatus.ACTIVE, "account_id": account.pk, "name": "Door"}
    assert _event(device) == {
        "action": "activated",
        "from_status": "available",
        "to_status": "active",
        "source": "admin",
        "actor": "tester",
        "request_id": request_id,
        "details": {"account": "Owner@Example.com"},
    }
    # The device and its account are read back as the ORM reads them.
    assert returned.account == account
    assert Account.objects.filter(pk=account.pk, **{f: getattr(returned.account, f) for f in ACCOUNT_FIELDS}).exists()
    assert returned.activated_at == Device.objects.get(pk=device.pk).activated_at


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("account_kwargs", "device_kwargs", "error"),
    [
        ({"status": "blocked"}, {}, AccountNotUsable),
        ({"deleted_at": timezone.now()}, {}, AccountNotUsable),
        ({"login": "someone-else@example.com"}, {}, AccountNotUsable),
        ({}, {"reserved": True}, DeviceReserved),
        ({}, {"is_banned": True}, DeviceBanned),
    ],
    ids=["blocked account", "deleted account", "unknown login", "reserved device", "banned device"],
)
def test_an_activation_for_a_login_that_does_not_apply_changes_nothing(actor, account_kwargs, device_kwargs, error):
    AccountFactory(**{"login": "owner@example.com", **account_kwargs})
    device = DeviceFactory(**device_kwargs)
    before = _state(device)
    with pytest.raises(error):
        services.device_activate(device=device, account="owner@example.com", actor=actor)
    assert _state(device) == before
    assert not DeviceEvent.objects.exists()


@pytest.mark.django_db
def test_an_activation_without_a_name_keeps_the_device_name(actor):
    device = DeviceFactory(name="Kept")
    services.device_activate(device=device, account=AccountFactory(), actor=actor)
    assert Device.objects.get(pk=device.pk).name == "Kept"


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["instance", "id", "uuid", "mac", "serial", "mac and serial"])
def test_every_way_of_naming_an_available_device_reserves_it_in_one_query(given, actor, django_assert_num_queries):
    device = DeviceFactory(mac="A1B2C3D4E5F6", serial_number="SN-1")
    ref = {
        "instance": device,
        "id": device.pk,
        "uuid": device.uuid,
        "mac": DeviceRef(type=device.type, mac=device.mac),
        "serial": DeviceRef(type=device.type, serial_number="SN-1"),
        "mac and serial": DeviceRef(type=device.type, mac=device.mac, serial_number="SN-1"),
    }[given]
    with django_assert_num_queries(1):
        services.device_reserve(device=ref, actor=actor)
    assert _state(device)["status"] == DeviceStatus.RESERVED


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ref",
    [
        DeviceRef(type="mediaagent", mac="A1B2C3D4E5F6", serial_number="SN-OTHER"),  # names no single device
        DeviceRef(type="SIP", mac="A1B2C3D4E5F6"),  # another type
        DeviceRef(type="mediaagent"),  # neither a MAC nor a serial number
    ],
)
def test_a_reference_that_does_not_match_changes_nothing(ref, actor):
    device = DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", serial_number="SN-1")
    with pytest.raises(DeviceNotFound):
        services.device_reserve(device=ref, actor=actor)
    assert _state(device)["status"] == DeviceStatus.AVAILABLE
    assert not DeviceEvent.objects.exists()


@pytest.mark.django_db
def test_a_banned_available_device_is_refused_and_unchanged(actor):
    device = DeviceFactory(is_banned=True)
    with pytest.raises(DeviceBanned):
        services.device_reserve(device=device, actor=actor)
    with pytest.raises(DeviceBanned):
        services.device_activate(device=device, account=AccountFactory(), actor=actor)
    assert _state(device)["status"] == DeviceStatus.AVAILABLE
    assert not DeviceEvent.objects.exists()


@pytest.mark.django_db
def test_a_reserved_device_is_activated_with_skip_reserve_check_and_the_event_says_from_reserved(actor):
    device = DeviceFactory(reserved=True)
    with pytest.raises(DeviceReserved):
        services.device_activate(device=device, account=AccountFactory(), actor=actor)
    services.device_activate(device=device, account=AccountFactory(), actor=actor, skip_reserve_check=True)
    assert _event(device)["from_status"] == DeviceStatus.RESERVED


@pytest.mark.django_db
def test_an_overdue_deactivation_is_completed_before_the_reserve(actor):
    device = DeviceFactory(deactivating=True, status_until=timezone.now() - timezone.timedelta(seconds=1))
    services.device_reserve(device=device, actor=actor)
    actions = list(device.events.order_by("id").values_list("action", flat=True))
    assert actions == ["deactivation_finished", "reserved"]


@pytest.mark.django_db(transaction=True)
def test_reserves_and_activations_racing_for_one_device_have_one_winner(actor):
    device = DeviceFactory()
    accounts = [AccountFactory() for _ in range(10)]

    def work(i: int):
        if i % 3 == 0:
            return services.device_reserve(device=DeviceRef(type=device.type, mac=device.mac), actor=actor)
        if i % 3 == 1:
            return services.device_activate(device=device.pk, account=accounts[i % 10].login, actor=actor)
        return services.device_activate(device=device.uuid, account=accounts[i % 10], actor=actor)

    results = run_in_threads(21, work)
    winners = [r for r in results if isinstance(r, Device)]
    assert len(winners) == 1
    assert DeviceEvent.objects.filter(device=device).count() == 1
    assert _state(device)["status"] == winners[0].status


# -- a client app reporting what it reported before -------------------------------------------

REPORT = {
    "device_type": "Mobile",
    "device_os": "iOS",
    "device_version": "14.5",
    "app_name": "MyApp",
    "app_version": "2.0",
    "ip": "127.0.0.1",
}


def _register(actor, **changes):
    return services.device_register_client(mac="A1B2C3D4E5F6", actor=actor, **{**REPORT, **changes})


@pytest.mark.django_db
def test_an_unchanged_report_only_marks_the_device_seen_in_one_query(actor, django_assert_num_queries):
    device, _ = _register(actor)
    Device.objects.filter(pk=device.pk).update(is_online=False)
    events = DeviceEvent.objects.count()
    with django_assert_num_queries(1):
        seen, created = _register(actor)
    assert (seen.pk, created, seen.is_online) == (device.pk, False, True)
    stored = Device.objects.get(pk=device.pk)
    assert stored.is_online
    assert stored.last_seen_at == seen.last_seen_at > device.last_seen_at
    assert DeviceEvent.objects.count() == events


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"device_type": "Tablet"},
        {"device_version": "15.0"},
        {"device_os": "Android"},
        {"app_name": "Other"},
        {"app_version": "3.0"},
    ],
)
def test_a_changed_report_is_recorded_with_an_event(change, actor):
    device, _ = _register(actor)
    _register(actor, **change)
    event = DeviceEvent.objects.filter(device=device).order_by("id").last()
    assert event.action == "client_updated"
    (name, value), *_ = change.items()
    key = {"device_type": "type"}.get(name, name)
    assert event.details[key][1] == value


@pytest.mark.django_db
def test_a_new_ip_is_stored_without_an_event(actor):
    device, _ = _register(actor)
    _register(actor, ip="10.0.0.7")
    assert device.client_app.__class__.objects.get(device=device).ip == "10.0.0.7"


@pytest.mark.django_db
def test_an_unchanged_report_completes_an_overdue_initialization_first(actor):
    device, _ = _register(actor)
    Device.objects.filter(pk=device.pk).update(
        status=DeviceStatus.INITIALIZING, status_until=timezone.now() - timezone.timedelta(seconds=1)
    )
    _register(actor)
    assert _state(device)["status"] == DeviceStatus.AVAILABLE
    assert device.events.order_by("id").last().action == "initialization_finished"


@pytest.mark.django_db(transaction=True)
def test_a_report_racing_a_committed_change_is_not_lost(actor):
    """B reports the old app version while A's change is uncommitted: B must win, as it came last."""
    device, _ = _register(actor)
    a_changed, b_started = threading.Event(), threading.Event()

    def a():
        try:
            with transaction.atomic():
                _register(actor, app_version="3.0")  # the locking path: holds the row until commit
                a_changed.set()
                b_started.wait(10)
                time.sleep(0.5)  # B is now waiting for the row lock
        finally:
            connections.close_all()

    def b():
        try:
            a_changed.wait(10)
            b_started.set()
            _register(actor, app_version="2.0")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    versions = [e.details["app_version"] for e in device.events.filter(action="client_updated").order_by("id")]
    assert versions == [["2.0", "3.0"], ["3.0", "2.0"]]
    assert device.client_app.__class__.objects.get(device=device).app_version == "2.0"


@pytest.mark.django_db(transaction=True)
def test_a_report_waiting_for_the_lock_reads_the_client_app_another_report_committed(actor):
    """A holds the device with its report uncommitted; B's report waits for the lock, then must see A's client app.

    B reports another device version, so nothing it runs before the lock
    waits: it is blocked in the lock itself while A commits. Its event must
    record A's values as the ones it changed, and the client app end as B
    reported it.
    """
    # given
    _register(actor, app_version="1.0")
    a_holds, a_may_commit = threading.Event(), threading.Event()

    def report_a():
        try:
            with transaction.atomic():
                _register(actor, app_version="2.0")
                a_holds.set()
                a_may_commit.wait(30)
        finally:
            connections.close_all()

    def report_b():
        try:
            _register(actor, device_version="15.0", app_version="3.0")
        finally:
            connections.close_all()

    a = threading.Thread(target=report_a)
    a.start()
    assert a_holds.wait(30)
    b = threading.Thread(target=report_b)
    b.start()
    # when: B waits for A's row lock, then A commits
    assert _a_backend_waits_for_a_lock(), "report B never waited for the device's lock"
    a_may_commit.set()
    a.join(30)
    b.join(30)
    # then
    changes = [e.details for e in DeviceEvent.objects.filter(action="client_updated").order_by("id")]
    assert changes == [
        {"app_version": ["1.0", "2.0"]},
        {"version": ["14.5", "15.0"], "device_version": ["14.5", "15.0"], "app_version": ["2.0", "3.0"]},
    ]
    app = ClientAppInfo.objects.get()
    assert (app.device_version, app.app_version) == ("15.0", "3.0")


def _a_backend_waits_for_a_lock(timeout: float = 30) -> bool:
    """Whether, within `timeout` seconds, another session of this database is waiting for a lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.01)
    return False


def test_the_event_columns_the_statements_write_are_every_column_of_an_event_but_its_id():
    assert sorted(EVENT_COLUMNS) == sorted(f.column for f in DeviceEvent._meta.concrete_fields if not f.primary_key)
