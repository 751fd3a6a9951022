"""Every allowed and every refused lifecycle transition (SPEC 2.2), with its error code."""

import pytest
from django.utils import timezone

from devices import services
from devices.choices import DeviceStatus, EventAction, EventSource
from devices.errors import AccountNotUsable, DeviceConflict, DomainError
from devices.models import ApiKey, Device, DeviceEvent
from devices.signals import device_ownership_ended
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db

STATES = {
    "initializing": {"initializing": True},
    "available": {},
    "reserved": {"reserved": True},
    "active": {"active": True},
    "deactivating": {"deactivating": True},
}


def _run(operation: str, device: Device, actor):
    account = device.account or AccountFactory()
    return {
        "reserve": lambda: services.device_reserve(device=device, actor=actor),
        "unreserve": lambda: services.device_unreserve(device=device, actor=actor),
        "activate": lambda: services.device_activate(device=device, account=account, actor=actor),
        "activate_skip": lambda: services.device_activate(
            device=device, account=account, actor=actor, skip_reserve_check=True
        ),
        "deactivate": lambda: services.device_deactivate(device=device, actor=actor),
        "check": lambda: services.device_check_activatable(device=device, actor=actor),
    }[operation]()


# (operation, state) -> the new status, or the error code (DomainError.code).
TRANSITIONS = {
    ("reserve", "initializing"): "device_initializing",
    ("reserve", "available"): DeviceStatus.RESERVED,
    ("reserve", "reserved"): "device_reserved",
    ("reserve", "active"): "device_already_active",
    ("reserve", "deactivating"): "device_deactivating",
    ("unreserve", "initializing"): "device_initializing",
    ("unreserve", "available"): "device_not_reserved",
    ("unreserve", "reserved"): DeviceStatus.AVAILABLE,
    ("unreserve", "active"): "device_already_active",
    ("unreserve", "deactivating"): "device_deactivating",
    ("activate", "initializing"): "device_initializing",
    ("activate", "available"): DeviceStatus.ACTIVE,
    ("activate", "reserved"): "device_reserved",
    ("activate", "active"): "device_already_active",
    ("activate", "deactivating"): "device_deactivating",
    ("activate_skip", "initializing"): "device_initializing",
    ("activate_skip", "available"): DeviceStatus.ACTIVE,
    ("activate_skip", "reserved"): DeviceStatus.ACTIVE,
    ("activate_skip", "active"): "device_already_active",
    ("activate_skip", "deactivating"): "device_deactivating",
    ("deactivate", "initializing"): "device_initializing",
    ("deactivate", "available"): "device_not_active",
    ("deactivate", "reserved"): "device_reserved",
    ("deactivate", "active"): DeviceStatus.DEACTIVATING,
    ("deactivate", "deactivating"): "device_deactivating",
    ("check", "initializing"): "device_initializing",
    ("check", "available"): DeviceStatus.AVAILABLE,
    ("check", "reserved"): "device_reserved",
    ("check", "active"): "device_already_active",
    ("check", "deactivating"): "device_deactivating",
}


@pytest.mark.parametrize(("operation", "state"), sorted(TRANSITIONS))
def test_transition_table(operation, state, actor):
    # given
    device = DeviceFactory(**STATES[state])
    events_before = DeviceEvent.objects.count()
    expected = TRANSITIONS[(operation, state)]
    # when / then
    if expected not in DeviceStatus.values:
        with pytest.raises(DomainError) as raised:
            _run(operation, device, actor)
        assert raised.value.code == expected
        device.refresh_from_db()
        assert device.status == state  # a refused transition changes nothing
        assert DeviceEvent.objects.count() == events_before
    else:
        _run(operation, device, actor)
        device.refresh_from_db()
        assert device.status == expected
        written = DeviceEvent.objects.count() - events_before
        assert written == (0 if operation == "check" else 1)


@pytest.mark.parametrize("operation", ["reserve", "activate", "activate_skip", "check"])
@pytest.mark.parametrize("state", ["available", "reserved"])
def test_a_banned_device_cannot_be_reserved_or_activated(operation, state, actor):
    device = DeviceFactory(banned=True, **STATES[state])
    with pytest.raises(DomainError) as raised:
        _run(operation, device, actor)
    assert raised.value.code == "device_banned"
    device.refresh_from_db()
    assert device.status == state


@pytest.mark.parametrize(
    ("operation", "state", "after"),
    [
        ("unreserve", "reserved", DeviceStatus.AVAILABLE),
        ("deactivate", "active", DeviceStatus.DEACTIVATING),
    ],
)
def test_a_banned_device_keeps_its_other_transitions(operation, state, after, actor):
    device = DeviceFactory(banned=True, **STATES[state])
    _run(operation, device, actor)
    device.refresh_from_db()
    assert (device.status, device.is_banned) == (after, True)


def test_activation_links_the_account_and_records_who_and_when(actor):
    # given
    device = DeviceFactory(reserved=True)
    account = AccountFactory()
    # when
    services.device_activate(device=device, account=account, actor=actor, name="Front door", skip_reserve_check=True)
    # then
    device.refresh_from_db()
    assert device.account == account
    assert device.name == "Front door"
    assert device.activated_at is not None
    event = device.events.get()
    assert (event.action, event.from_status, event.to_status) == ("activated", "reserved", "active")
    assert (event.source, event.actor, event.details) == ("admin", "tester", {"account": account.login})


@pytest.mark.parametrize("account_kwargs", [{"status": "blocked"}, {"deleted_at": timezone.now()}])
def test_blocked_or_deleted_account_cannot_receive_a_device(account_kwargs, actor):
    device = DeviceFactory()
    with pytest.raises(AccountNotUsable):
        services.device_activate(device=device, account=AccountFactory(**account_kwargs), actor=actor)
    device.refresh_from_db()
    assert device.status == DeviceStatus.AVAILABLE


def test_deactivation_waits_then_frees_the_device_and_ends_the_ownership(actor, settings):
    # given
    settings.DEVICE_DEACTIVATION_SECONDS = 300
    device = DeviceFactory(active=True)
    ended = []

    def receiver(sender, device_ids, **kwargs):
        ended.extend(device_ids)

    device_ownership_ended.connect(receiver)
    try:
        # when
        services.device_deactivate(device=device, actor=actor)
        device.refresh_from_db()
        # then: still owned while deactivating
        assert device.status == DeviceStatus.DEACTIVATING
        assert device.account is not None
        assert ended == []
        # when the time has passed, the next touch completes it in the same transaction
        Device.objects.filter(pk=device.pk).update(status_until=timezone.now() - timezone.timedelta(seconds=1))
        services.device_reserve(device=device, actor=actor)
    finally:
        device_ownership_ended.disconnect(receiver)
    device.refresh_from_db()
    assert (device.status, device.account, device.activated_at) == (DeviceStatus.RESERVED, None, None)
    assert ended == [device.pk]
    actions = list(device.events.order_by("id").values_list("action", flat=True))
    assert actions == ["deactivation_started", "deactivation_finished", "reserved"]


def test_deactivation_with_leave_reserved_ends_reserved(actor, settings):
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    device = DeviceFactory(active=True)
    services.device_deactivate(device=device, actor=actor, leave_reserved=True)
    device.refresh_from_db()
    assert (device.status, device.account, device.leave_reserved) == (DeviceStatus.RESERVED, None, False)


def test_deactivation_with_zero_seconds_ends_at_once(actor, settings):
    settings.DEVICE_DEACTIVATION_SECONDS = 0
    device = DeviceFactory(active=True)
    services.device_deactivate(device=device, actor=actor)
    device.refresh_from_db()
    assert device.status == DeviceStatus.AVAILABLE
    assert device.account is None


def test_an_overdue_initialization_completes_when_the_device_is_touched(actor):
    device = DeviceFactory(initializing=True, status_until=timezone.now() - timezone.timedelta(seconds=1))
    services.device_reserve(device=device, actor=actor)
    device.refresh_from_db()
    assert device.status == DeviceStatus.RESERVED
    assert list(device.events.order_by("id").values_list("action", "from_status", "to_status")) == [
        ("initialization_finished", "initializing", "available"),
        ("reserved", "available", "reserved"),
    ]


def test_registration_initializes_for_the_configured_time(actor, settings):
    settings.DEVICE_INITIALIZATION_SECONDS = 60
    device = services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=actor)
    assert device.status == DeviceStatus.INITIALIZING
    assert device.status_until > timezone.now()
    settings.DEVICE_INITIALIZATION_SECONDS = 0
    other = services.device_register(type="mediaagent", mac="A1B2C3D4E5F7", actor=actor)
    assert other.status == DeviceStatus.AVAILABLE


def test_registration_refuses_a_taken_mac_or_type_and_serial(actor):
    DeviceFactory(mac="A1B2C3D4E5F6", serial_number="SN1", type="mediaagent")
    with pytest.raises(DeviceConflict):
        services.device_register(type="Mobile", mac="A1B2C3D4E5F6", actor=actor)
    with pytest.raises(DeviceConflict):
        services.device_register(type="mediaagent", serial_number="SN1", actor=actor)
    # the same serial number under another type is another device
    services.device_register(type="SIP", serial_number="SN1", actor=actor)
    assert Device.objects.count() == 2


def test_ban_and_unban_are_idempotent_and_audited(actor):
    device = DeviceFactory(active=True)
    assert services.device_ban(device=device, reason="stolen", actor=actor) is True
    assert services.device_ban(device=device, reason="again", actor=actor) is False
    device.refresh_from_db()
    assert (device.is_banned, device.ban_reason, device.banned_by, device.status) == (
        True,
        "stolen",
        "tester",
        DeviceStatus.ACTIVE,
    )
    assert services.device_unban(device=device, actor=actor) is True
    assert services.device_unban(device=device, actor=actor) is False
    device.refresh_from_db()
    assert (device.is_banned, device.ban_reason, device.banned_at) == (False, "", None)
    assert list(device.events.order_by("id").values_list("action", flat=True)) == ["banned", "unbanned"]


def test_update_changes_descriptive_fields_only_and_records_the_changes(actor):
    device = DeviceFactory(name="old")
    services.device_update(device=device, actor=actor, name="new", version="2.0")
    device.refresh_from_db()
    assert (device.name, device.version) == ("new", "2.0")
    assert device.events.get().details == {"name": ["old", "new"], "version": ["1.1.1.1", "2.0"]}
    with pytest.raises(TypeError):
        services.device_update(device=device, actor=actor, status="active")


def test_every_event_records_source_actor_and_statuses(actor):
    device = DeviceFactory()
    services.device_reserve(device=device, actor=services.Actor(source=EventSource.COMMAND, name="reserve_devices"))
    event = DeviceEvent.objects.get(device=device)
    assert (event.action, event.source, event.actor) == (EventAction.RESERVED, "command", "reserve_devices")
    assert (event.from_status, event.to_status) == ("available", "reserved")


def test_a_refused_operation_keeps_the_completion_of_an_overdue_state(actor):
    # given: a deactivation that ended a second ago, back to reserved
    device = DeviceFactory(deactivating=True, leave_reserved=True)
    Device.objects.filter(pk=device.pk).update(status_until=timezone.now() - timezone.timedelta(seconds=1))
    device.refresh_from_db()
    # when: reserving is refused (the device is reserved once the deactivation is complete)
    with pytest.raises(DomainError) as raised:
        services.device_reserve(device=device, actor=actor)
    # then: the refusal rolled back only its own change
    assert raised.value.code == "device_reserved"
    device.refresh_from_db()
    assert (device.status, device.account) == (DeviceStatus.RESERVED, None)
    assert list(device.events.values_list("action", flat=True)) == ["deactivation_finished"]


@pytest.mark.parametrize("change", ["update", "revoke"])
def test_a_key_changed_in_a_transaction_is_forgotten_again_once_it_commits(change, django_capture_on_commit_callbacks):
    # given: a key, and a request that caches the old row while the change is not committed yet
    from django.core.cache import cache

    from devices.authentication import api_key_cache_key

    key, _ = services.api_key_create(name="crm", scopes=["billing", "manage"])
    cached = api_key_cache_key(key.secret_hash)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        if change == "update":
            services.api_key_update(api_key=key, scopes=["billing"], expires_at=None)
        else:
            services.api_key_revoke(api_key=key)
        cache.set(cached, "the row as it was before the change")
    # then
    assert cache.get(cached) is None


def test_a_revoked_key_keeps_its_scopes_whatever_an_update_asks():
    key, _ = services.api_key_create(name="crm", scopes=["billing", "manage"])
    stale = ApiKey.objects.get(pk=key.pk)
    services.api_key_revoke(api_key=key)
    services.api_key_update(api_key=stale, scopes=["billing"], expires_at=None)
    assert ApiKey.objects.get(pk=key.pk).scopes == ["billing", "manage"]


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_a_ban_says_why_one_device_or_many(reason):
    from devices import bulk
    from devices.errors import BanReasonMissing

    device = DeviceFactory()
    actor = services.Actor(source=EventSource.COMMAND, name="ban_devices")
    with pytest.raises(BanReasonMissing):
        services.device_ban(device=device, reason=reason, actor=actor)
    with pytest.raises(BanReasonMissing):
        bulk.devices_ban_many(pks=[device.pk], reason=reason, actor=actor)
    assert not Device.objects.get().is_banned and not DeviceEvent.objects.exists()
