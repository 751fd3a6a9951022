"""An activation by key is one statement; what it doesn't apply to is refused with the reason, writing nothing."""

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
    """What an activation wrote, the key shown as <key>."""
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
def test_an_activation_is_one_statement_writing_the_device_its_event_and_the_session(
    with_account, django_assert_num_queries
):
    account = AccountFactory() if with_account else None
    license = make_license(account=account)
    with django_assert_num_queries(1):
        activation = services.license_activate_by_key(key=license.key.lower(), session_id=None, actor=ACTOR)
    assert activation.created
    assert _written(activation.session) == {
        "device": {
            "type": "flecs",
            "name": "<key>",
            "status": DeviceStatus.ACTIVE,
            "account_id": account.pk if account else None,
            "mac": None,
            "serial_number": None,
            "version": "",
            "is_online": False,
            "is_banned": False,
        },
        "event": {
            "action": "license_activated",
            "from_status": "",
            "to_status": "active",
            "source": "licensing",
            "actor": "license key",
            "request_id": "1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f",
            "details": {"license": "<key>"},
        },
        "session": (None, None),
        "activations": 1,
    }
    # The session returned is the one stored, with its license (the key as stored) and device.
    stored = LicenseSession.objects.get(pk=activation.session.pk)
    assert (stored.license_id, stored.device_id, stored.created_at) == (
        license.pk,
        activation.session.device.pk,
        activation.session.created_at,
    )
    assert activation.session.license.key == license.key
    assert Device.objects.get(pk=activation.session.device.pk).activated_at == activation.session.device.activated_at


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
def test_a_key_of_an_account_that_cannot_own_devices_is_refused(account_kwargs):
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
