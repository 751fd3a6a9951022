"""The one-statement activation by key (licensing.conditional) against the locking path it shortcuts."""

import pytest
from django.utils import timezone
from django_guid import clear_guid, set_guid

from devices.choices import DeviceStatus, EventSource
from devices.errors import AccountNotUsable
from devices.models import Device, DeviceEvent
from devices.services import Actor
from licensing import services
from licensing.models import License, LicenseSession
from tests.factories import AccountFactory
from tests.licensing.conftest import make_license

pytestmark = pytest.mark.django_db

ACTOR = Actor(source=EventSource.LICENSING, name="license key")
DEVICE_FIELDS = ("type", "name", "status", "account_id", "mac", "serial_number", "version", "is_online", "is_banned")
EVENT_FIELDS = ("action", "from_status", "to_status", "source", "actor", "request_id", "details")


def _written(session: LicenseSession) -> dict:
    """What an activation wrote, without the ids and times that differ from one activation to the next."""
    device = Device.objects.filter(pk=session.device_id).values(*DEVICE_FIELDS).get()
    event = DeviceEvent.objects.filter(device_id=session.device_id).values(*EVENT_FIELDS).get()
    stored = LicenseSession.objects.get(pk=session.pk)
    return {
        "device": {**device, "name": device["name"].replace(session.license.key, "<key>")},
        "event": {
            **event,
            "details": {k: v.replace(session.license.key, "<key>") for k, v in event["details"].items()},
        },
        "session": (stored.ended_at, stored.last_validated_at),
        "activations": License.objects.get(pk=session.license_id).activations_count,
    }


@pytest.fixture(autouse=True)
def request_id():
    set_guid("1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f")
    yield
    clear_guid()


@pytest.mark.parametrize("with_account", [False, True], ids=["no account", "an account's key"])
def test_an_activation_in_one_statement_writes_what_the_locking_path_writes(with_account, django_assert_num_queries):
    account = AccountFactory() if with_account else None
    fast_license, locked_license = make_license(account=account), make_license(account=account)
    with django_assert_num_queries(1):
        fast = services.license_activate_by_key(key=fast_license.key.lower(), session_id=None, actor=ACTOR)
    locked = services._license_activate_by_key_locked(key=locked_license.key, session_id=None, actor=ACTOR)
    assert fast.created and locked.created
    assert _written(fast.session) == _written(locked.session)
    written = _written(fast.session)
    assert written["device"]["status"] == DeviceStatus.ACTIVE
    assert written["device"]["account_id"] == (account.pk if account else None)
    assert written["device"]["name"] == "<key>"
    assert written["event"]["details"] == {"license": "<key>"}
    assert written["activations"] == 1
    # The session returned is the one stored, with its license (the key as stored) and device.
    stored = LicenseSession.objects.get(pk=fast.session.pk)
    assert (stored.license_id, stored.device_id, stored.created_at) == (
        fast_license.pk,
        fast.session.device.pk,
        fast.session.created_at,
    )
    assert fast.session.license.key == fast_license.key
    assert Device.objects.get(pk=fast.session.device.pk).activated_at == fast.session.device.activated_at


@pytest.mark.parametrize(
    "license_kwargs",
    [
        {"revoked_at": timezone.now()},
        {"expires_at": timezone.now() - timezone.timedelta(seconds=1)},
        {"activations_count": 1},
    ],
    ids=["revoked", "expired", "used up"],
)
def test_a_key_the_statement_does_not_match_changes_nothing(license_kwargs):
    license = make_license(**license_kwargs)
    with pytest.raises(
        services.LicenseInvalid if "activations_count" not in license_kwargs else services.LicenseExhausted
    ):
        services.license_activate_by_key(key=license.key, session_id=None, actor=ACTOR)
    assert not Device.objects.exists()
    assert not LicenseSession.objects.exists()
    assert License.objects.get(pk=license.pk).activations_count == license.activations_count


@pytest.mark.parametrize("account_kwargs", [{"status": "blocked"}, {"deleted_at": timezone.now()}])
def test_a_key_of_an_account_that_cannot_own_devices_is_refused_by_the_locking_path(account_kwargs):
    license = make_license(account=AccountFactory(**account_kwargs))
    with pytest.raises(AccountNotUsable):
        services.license_activate_by_key(key=license.key, session_id=None, actor=ACTOR)
    assert not Device.objects.exists()
    assert License.objects.get(pk=license.pk).activations_count == 0


def test_the_newest_of_a_key_and_its_upper_case_twin_is_activated():
    older = License.objects.create(key="sn-0001")
    newer = License.objects.create(key="SN-0001")
    activation = services.license_activate_by_key(key="sn-0001", session_id=None, actor=ACTOR)
    assert activation.session.license.pk == newer.pk
    assert License.objects.get(pk=older.pk).activations_count == 0
