"""Real threads against PostgreSQL: device_create with one pin, and device_update / device_delete racing each other
and a device_create; every outcome is one a client can read, and the rows end consistent."""

from collections import Counter

import pytest

from devices.choices import AccountRole, DeviceStatus, EventAction
from devices.models import Device
from mor_api.models import MorDevice
from mor_api.services import group_primary
from tests.conftest import run_in_threads
from tests.factories import AccountFactory, MorDeviceFactory
from tests.mor_api.conftest import MorClient, error_of, parse, signed

pytestmark = pytest.mark.django_db(transaction=True)


def test_ten_concurrent_creates_with_the_same_pin_create_one(db):
    AccountFactory(login="admin", role=AccountRole.ADMIN)
    user = AccountFactory()
    params = signed("device_create", u="admin", user_id=user.pk, pin=777)
    responses = run_in_threads(10, lambda i: MorClient().post("device_create", params))
    outcomes = Counter(error_of(r) if hasattr(r, "status_code") else repr(r) for r in responses)
    assert outcomes == {None: 1, "Pin is already used": 9}
    assert MorDevice.objects.filter(pin="777").count() == 1


def test_ten_concurrent_creates_with_the_same_pin_in_an_existing_group_create_one(db):
    # The group exists, so each request is the one statement at once; the unique pin settles the race.
    AccountFactory(login="admin", role=AccountRole.ADMIN)
    user = AccountFactory()
    group_primary(user)
    params = signed("device_create", u="admin", user_id=user.pk, pin=888)
    responses = run_in_threads(10, lambda i: MorClient().post("device_create", params))
    outcomes = Counter(error_of(r) if hasattr(r, "status_code") else repr(r) for r in responses)
    assert outcomes == {None: 1, "Pin is already used": 9}
    assert MorDevice.objects.filter(pin="888").count() == 1
    assert Device.objects.count() == 1


# -- device_update and device_delete ------------------------------------------------------------------------


def outcome(response) -> str:
    """What a client reads off an answer: the error, or the success text."""
    if not hasattr(response, "status_code"):
        return repr(response)  # an exception in the thread: counted, so the assertion shows it
    page = parse(response)
    return page.findtext("error") or page.findtext("status/success") or page.findtext("status")


@pytest.fixture
def lines(db, settings):
    """An admin and ten SIP lines of one user (the deactivation a delete starts ends at once)."""
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    AccountFactory(login="admin", role=AccountRole.ADMIN)
    user = AccountFactory()
    return [MorDeviceFactory(device__account=user) for _ in range(10)]


def test_ten_concurrent_deletes_of_one_device_delete_it_once(lines):
    line = lines[0]
    params = signed("device_delete", u="admin", device=line.device_id)
    responses = run_in_threads(10, lambda i: MorClient().post("device_delete", params))
    assert Counter(outcome(r) for r in responses) == {"Device was deleted": 1, "Device was not found": 9}
    assert not MorDevice.objects.filter(pk=line.pk).exists()
    device = Device.objects.get(pk=line.device_id)
    assert (device.status, device.account) == (DeviceStatus.AVAILABLE, None)
    assert device.events.filter(action=EventAction.DEACTIVATION_STARTED).count() == 1


def test_an_update_racing_a_delete_either_lands_first_or_finds_no_device(lines):
    # ten rounds, each on its own device: an update and a delete released together
    for line in lines:
        update = {**signed("device_update", u="admin", device=line.device_id), "comment": "late", "pin": ""}
        delete = signed("device_delete", u="admin", device=line.device_id)
        calls = [("device_update", update), ("device_delete", delete)]
        responses = run_in_threads(2, lambda i, calls=calls: MorClient().post(*calls[i]))
        assert outcome(responses[1]) == "Device was deleted"
        assert outcome(responses[0]) in {"Device successfully updated", "Device was not found"}
        # the update never brings the deleted line back
        assert not MorDevice.objects.filter(device_id=line.device_id).exists()
        assert Device.objects.get(pk=line.device_id).account is None


def test_concurrent_updates_of_one_device_all_land_one_after_another(lines):
    line = lines[0]

    def update(i: int):
        params = {**signed("device_update", u="admin", device=line.device_id), "call_limit": str(i + 1)}
        return MorClient().post("device_update", params)

    responses = run_in_threads(10, update)
    assert Counter(outcome(r) for r in responses) == {"Device successfully updated": 10}
    line.refresh_from_db()
    assert 1 <= line.call_limit <= 10


def test_an_update_and_a_create_racing_for_one_pin_give_it_to_one(lines):
    line = lines[0]
    user_id = line.device.account_id
    group_primary(line.device.account)  # so that the create is the one statement at once too
    for round_, pin in enumerate(["70001", "70002", "70003", "70004", "70005"]):
        update = {**signed("device_update", u="admin", device=lines[round_].device_id), "pin": pin}
        create = signed("device_create", u="admin", user_id=user_id, pin=pin)
        calls = [("device_update", update), ("device_create", create)]
        responses = run_in_threads(2, lambda i, calls=calls: MorClient().post(*calls[i]))
        outcomes = Counter(outcome(r) for r in responses)
        assert outcomes in (
            {"Device successfully updated": 1, "Pin is already used": 1},
            {"Device created": 1, "Pin is already used": 1},
        )
        assert MorDevice.objects.filter(pin=pin).count() == 1


def test_a_delete_and_a_create_racing_for_the_deleted_devices_pin_never_leave_two(lines):
    user_id = lines[0].device.account_id
    for line in lines[:5]:
        delete = signed("device_delete", u="admin", device=line.device_id)
        create = signed("device_create", u="admin", user_id=user_id, pin=line.pin)
        calls = [("device_delete", delete), ("device_create", create)]
        responses = run_in_threads(2, lambda i, calls=calls: MorClient().post(*calls[i]))
        assert outcome(responses[0]) == "Device was deleted"
        # the create lands after the delete freed the pin, or before and is refused
        assert outcome(responses[1]) in {"Device created", "Pin is already used"}
        expected = 1 if outcome(responses[1]) == "Device created" else 0
        assert MorDevice.objects.filter(pin=line.pin).count() == expected
