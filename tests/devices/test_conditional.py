"""The one-statement reserve and activation (devices.conditional) against the locking path they shortcut."""

import pytest
from django.utils import timezone
from django_guid import clear_guid, set_guid

from devices import services
from devices.choices import DeviceStatus
from devices.errors import DeviceBanned, DeviceNotFound, DeviceReserved
from devices.models import Device, DeviceEvent
from devices.selectors import DeviceRef
from tests.conftest import run_in_threads
from tests.factories import AccountFactory, DeviceFactory

EVENT_FIELDS = ("action", "from_status", "to_status", "source", "actor", "request_id", "details")
DEVICE_FIELDS = ("status", "account_id", "name", "is_banned", "status_until", "leave_reserved")


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
def test_a_reserve_in_one_statement_writes_what_the_locking_path_writes(actor, request_id):
    fast, locked = DeviceFactory(), DeviceFactory()
    returned = services.device_reserve(device=fast, actor=actor)
    services._device_reserve_locked(device=locked, actor=actor)
    assert _state(fast) == _state(locked) == {**_state(locked), "status": DeviceStatus.RESERVED}
    assert _event(fast) == _event(locked)
    assert _event(fast)["request_id"] == request_id
    # The returned device is the row as written.
    assert returned.pk == fast.pk
    assert returned.status == DeviceStatus.RESERVED
    assert returned.updated_at == Device.objects.get(pk=fast.pk).updated_at > fast.updated_at


@pytest.mark.django_db
def test_an_activation_in_one_statement_writes_what_the_locking_path_writes(actor, request_id):
    account = AccountFactory()
    fast, locked = DeviceFactory(name="old"), DeviceFactory(name="old")
    returned = services.device_activate(device=fast, account=account, actor=actor, name="Front door")
    services._device_activate_locked(
        device=locked, account=account, actor=actor, name="Front door", skip_reserve_check=False
    )
    assert _state(fast) == _state(locked)
    assert _state(fast)["status"] == DeviceStatus.ACTIVE
    assert _state(fast)["name"] == "Front door"
    assert _event(fast) == _event(locked)
    assert returned.account == account
    assert returned.activated_at is not None


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
def test_a_reserved_device_is_activated_by_the_locking_path_with_skip_reserve_check(actor):
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
        if i % 2:
            return services.device_reserve(device=DeviceRef(type=device.type, mac=device.mac), actor=actor)
        return services.device_activate(device=device.uuid, account=accounts[i], actor=actor)

    results = run_in_threads(20, work)
    winners = [r for r in results if isinstance(r, Device)]
    assert len(winners) == 1
    assert DeviceEvent.objects.filter(device=device).count() == 1
    assert _state(device)["status"] == winners[0].status
