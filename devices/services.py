"""Every write to devices, accounts and API keys goes through here.

Each service owns its transaction and locks the rows it changes, so the admin,
the commands and the four protocols share the same boundaries and rules.
"""

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_guid import get_guid

from devices import conditional
from devices.choices import TRANSIENT_STATUSES, DeviceStatus, EventAction, EventSource
from devices.errors import (
    AccountNotUsable,
    DeviceAlreadyActive,
    DeviceBanned,
    DeviceConflict,
    DeviceDeactivating,
    DeviceInitializing,
    DeviceNotActive,
    DeviceNotFound,
    DeviceNotReserved,
    DeviceReserved,
    DomainError,
)
from devices.models import Account, ApiKey, ClientActivity, ClientAppInfo, Device, DeviceEvent
from devices.selectors import DeviceRef, device_identity, one_or_none
from devices.signals import device_ownership_ended


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: the protocol or tool, and the key, login, user or command name."""

    source: EventSource
    name: str = ""


# The error each state gives to an operation that does not accept it.
_STATE_ERRORS: dict[str, type[DomainError]] = {
    DeviceStatus.INITIALIZING: DeviceInitializing,
    DeviceStatus.RESERVED: DeviceReserved,
    DeviceStatus.ACTIVE: DeviceAlreadyActive,
    DeviceStatus.DEACTIVATING: DeviceDeactivating,
}


def _require_status(device: Device, *allowed: str, otherwise: type[DomainError]) -> None:
    if device.status not in allowed:
        raise _STATE_ERRORS.get(device.status, otherwise)()


def build_event(
    *,
    device: Device | None,
    action: EventAction,
    actor: Actor,
    from_status: str = "",
    to_status: str = "",
    details: dict | None = None,
    now: datetime | None = None,
) -> DeviceEvent:
    """An unsaved audit event, for callers that write events in bulk (`device` may be None with `to_status`)."""
    return DeviceEvent(
        device=device,
        action=action,
        from_status=from_status,
        to_status=to_status or device.status,
        source=actor.source,
        actor=actor.name[:254],
        request_id=(get_guid() or "")[:64],
        details=details or {},
        created_at=now or timezone.now(),
    )


def _record(**kwargs) -> DeviceEvent:
    event = build_event(**kwargs)
    event.save(force_insert=True)
    return event


def _save_or_conflict(device: Device, **save_kwargs) -> None:
    """Save in a savepoint; a unique MAC or type and serial number taken by another device is DeviceConflict."""
    try:
        with transaction.atomic():
            device.save(**save_kwargs)
    except IntegrityError as exc:
        raise DeviceConflict() from exc


def _deadline(seconds: int, now: datetime) -> datetime:
    return now + timedelta(seconds=seconds)


def _initial_status(now: datetime) -> tuple[str, datetime | None]:
    seconds = settings.DEVICE_INITIALIZATION_SECONDS
    if seconds <= 0:
        return DeviceStatus.AVAILABLE, None
    return DeviceStatus.INITIALIZING, _deadline(seconds, now)


def _finish_transition(device: Device) -> str:
    """Move an overdue transient device to its next state in memory; return the action."""
    if device.status == DeviceStatus.INITIALIZING:
        device.status = DeviceStatus.AVAILABLE
        device.status_until = None
        return EventAction.INITIALIZATION_FINISHED
    device.status = DeviceStatus.RESERVED if device.leave_reserved else DeviceStatus.AVAILABLE
    device.status_until = None
    device.leave_reserved = False
    device.account = None
    device.activated_at = None
    return EventAction.DEACTIVATION_FINISHED


_TRANSITION_FIELDS = ["status", "status_until", "leave_reserved", "account", "activated_at", "updated_at"]


def _settle(device: Device, *, actor: Actor, now: datetime) -> bool:
    """Complete an overdue transient state of a locked device, in the caller's transaction."""
    if not _is_overdue(device, now):
        return False
    from_status = device.status
    action = _finish_transition(device)
    device.save(update_fields=_TRANSITION_FIELDS)
    if action == EventAction.DEACTIVATION_FINISHED:
        device_ownership_ended.send(sender=Device, device_ids=[device.pk])
    _record(device=device, action=action, actor=actor, from_status=from_status, now=now)
    return True


def _is_overdue(device: Device, now: datetime) -> bool:
    return device.status in TRANSIENT_STATUSES and device.status_until is not None and device.status_until <= now


def _lock(device: "Device | int | uuid.UUID | DeviceRef", *, with_account: bool) -> Device:
    """SELECT ... FOR UPDATE the device given by instance, id, uuid or reference. Raises DeviceNotFound."""
    rows = Device.objects.select_for_update(of=("self",))
    if with_account:
        rows = rows.select_related("account")
    identity = device_identity(device)
    locked = one_or_none(rows.filter(**identity)) if identity else None
    if locked is None:
        raise DeviceNotFound()
    return locked


def locked_service(*, with_account: bool = False):
    """Run a lifecycle service on the locked device row, in one transaction.

    The device may be given as an instance, an id, a uuid or a DeviceRef (one
    query finds and locks it; DeviceNotFound when none). An overdue transient state is completed first; that
    completion is a fact whatever the request, so when the service then
    refuses, only the service's own change is rolled back (a savepoint, taken
    only in that rare case).
    """

    def decorate(body):
        @functools.wraps(body)
        def service(*, device, actor: Actor, **kwargs):
            failure = None
            with transaction.atomic():
                locked = _lock(device, with_account=with_account)
                if not _settle(locked, actor=actor, now=timezone.now()):
                    return body(device=locked, actor=actor, **kwargs)
                try:
                    with transaction.atomic():
                        return body(device=locked, actor=actor, **kwargs)
                except DomainError as error:
                    failure = error
            raise failure

        return service

    return decorate


@locked_service()
def device_check_activatable(*, device: Device, actor: Actor) -> Device:
    """Raise the error that activating the device now would raise; change nothing else.

    Locks the device (an overdue transient state is completed). Raises
    DeviceBanned, or the state's error when the device is not available.
    """
    if device.is_banned:
        raise DeviceBanned()
    _require_status(device, DeviceStatus.AVAILABLE, otherwise=DeviceNotReserved)
    return device


@transaction.atomic
def device_register(
    *,
    type: str,
    actor: Actor,
    mac: str | None = None,
    serial_number: str | None = None,
    name: str = "",
    version: str = "",
) -> Device:
    """Create a device, initializing for DEVICE_INITIALIZATION_SECONDS (available when 0).

    `mac` must already be canonical. Raises DeviceConflict when the MAC or the
    type and serial number belong to another device.
    """
    now = timezone.now()
    status, until = _initial_status(now)
    device = Device(
        type=type,
        mac=mac or None,
        serial_number=serial_number or None,
        name=name,
        version=version,
        status=status,
        status_until=until,
    )
    _save_or_conflict(device, force_insert=True)
    _record(device=device, action=EventAction.REGISTERED, actor=actor, now=now)
    return device


# No savepoint of its own: its callers (a license activation, a SIP line) run it inside their transaction and
# give up on any error, so the two extra round trips would buy nothing.
@transaction.atomic(savepoint=False)
def device_register_activated(
    *,
    type: str,
    account: Account | None,
    actor: Actor,
    name: str = "",
    details: dict | None = None,
    action: EventAction = EventAction.ACTIVATED,
) -> Device:
    """Create a device that is active from its first moment (a licensed edge device, a SIP line).

    It has no MAC or serial number of its own; `account` may be None (a
    license without an owner). Writes one event, `action`.
    """
    if account is not None and not account.can_own_devices:
        raise AccountNotUsable()
    now = timezone.now()
    device = Device(type=type, name=name, status=DeviceStatus.ACTIVE, account=account, activated_at=now)
    device.save(force_insert=True)
    _record(device=device, action=action, actor=actor, from_status="", details=details, now=now)
    return device


_CLIENT_APP_FIELDS = ("device_os", "device_version", "app_name", "app_version")


def device_register_client(
    *,
    mac: str,
    device_type: str,
    device_os: str,
    device_version: str,
    app_name: str,
    app_version: str,
    ip: str | None,
    actor: Actor,
) -> tuple[Device, bool]:
    """Create or update the device with this canonical MAC from what a client app reports.

    Locks the device row. Concurrent first registrations of one MAC make one
    device: the loser of the insert waits for the winner and updates its row.
    Returns (device, created). Writes an event only when something changed;
    a known device reporting what it reported before is one statement
    (devices.conditional). Raises DeviceConflict when a new type would clash
    with another device's type and serial number.
    """
    now = timezone.now()
    reported = dict(device_os=device_os, device_version=device_version, app_name=app_name, app_version=app_version)
    seen = conditional.client_seen(
        mac=mac, device_type=device_type, device_version=device_version, reported=reported, ip=ip, now=now
    )
    if seen is not None:
        return seen, False
    return _device_register_client_locked(
        mac=mac, device_type=device_type, reported=reported, ip=ip, actor=actor, now=now
    )


@transaction.atomic
def _device_register_client_locked(
    *, mac: str, device_type: str, reported: dict[str, str], ip: str | None, actor: Actor, now: datetime
) -> tuple[Device, bool]:
    device_version = reported["device_version"]
    device = _lock_by_mac(mac)
    if device is None:
        status, until = _initial_status(now)
        device = Device(
            mac=mac,
            type=device_type,
            version=device_version,
            status=status,
            status_until=until,
            is_online=True,
            last_seen_at=now,
        )
        try:
            with transaction.atomic():
                device.save(force_insert=True)
        except IntegrityError as exc:
            # A concurrent registration of this MAC won the insert: update its device.
            device = _lock_by_mac(mac)
            if device is None:
                raise DeviceConflict() from exc
        else:
            ClientAppInfo.objects.create(device=device, ip=ip, **reported)
            _record(device=device, action=EventAction.REGISTERED, actor=actor, now=now, details=reported)
            return device, True

    _settle(device, actor=actor, now=now)
    changes = {}
    if device.type != device_type:
        changes["type"] = [device.type, device_type]
    if device.version != device_version:
        changes["version"] = [device.version, device_version]
    device.type, device.version = device_type, device_version
    device.is_online, device.last_seen_at = True, now
    fields = ["type", "version", "is_online", "last_seen_at", "updated_at"]
    if "type" in changes and device.serial_number:
        _save_or_conflict(device, update_fields=fields)  # the new type may clash with another's serial
    else:
        device.save(update_fields=fields)

    info = getattr(device, "client_app", None)
    if info is None:
        ClientAppInfo.objects.create(device=device, ip=ip, **reported)
        changes["client_app"] = reported
    else:
        app_changes = {k: [getattr(info, k), v] for k, v in reported.items() if getattr(info, k) != v}
        if app_changes or info.ip != ip:
            for key, value in reported.items():
                setattr(info, key, value)
            info.ip = ip
            info.save()
        changes.update(app_changes)
    if changes:
        _record(device=device, action=EventAction.CLIENT_UPDATED, actor=actor, now=now, details=changes)
    return device, False


def _lock_by_mac(mac: str) -> Device | None:
    return one_or_none(Device.objects.select_for_update(of=("self",)).select_related("client_app").filter(mac=mac))


def device_activity_record(
    *, device: Device, current_screen: str, content_id: int | None = None, content_type: int | None = None
) -> ClientActivity:
    """Record what a device's client app says it is doing, replacing what it said before.

    One upsert. It changes nothing about the device itself, so it writes no
    audit event: apps report every few minutes, and the trail is for changes.
    """
    activity = ClientActivity(
        device=device,
        current_screen=current_screen,
        content_id=content_id,
        content_type=content_type,
        reported_at=timezone.now(),
    )
    ClientActivity.objects.bulk_create(
        [activity],
        update_conflicts=True,
        unique_fields=["device"],
        update_fields=["current_screen", "content_id", "content_type", "reported_at"],
    )
    return activity


def device_reserve(*, device: "Device | int | uuid.UUID | DeviceRef", actor: Actor) -> Device:
    """Reserve an available device.

    Locks the device. Raises DeviceNotFound, DeviceBanned when banned, or the
    state's error (33622, 33599, 33603, 33610) when it is not available. An
    available device is reserved in one statement (devices.conditional).
    """
    now = timezone.now()
    event = build_event(
        device=None,
        action=EventAction.RESERVED,
        actor=actor,
        from_status=DeviceStatus.AVAILABLE,
        to_status=DeviceStatus.RESERVED,
        now=now,
    )
    values = {"status": DeviceStatus.RESERVED}
    reserved = conditional.transition(
        device, expected_status=DeviceStatus.AVAILABLE, values=values, event=event, now=now
    )
    return reserved or _device_reserve_locked(device=device, actor=actor)


@locked_service()
def _device_reserve_locked(*, device: Device, actor: Actor) -> Device:
    if device.is_banned:
        raise DeviceBanned()
    _require_status(device, DeviceStatus.AVAILABLE, otherwise=DeviceNotReserved)
    device.status = DeviceStatus.RESERVED
    device.save(update_fields=["status", "updated_at"])
    _record(device=device, action=EventAction.RESERVED, actor=actor, from_status=DeviceStatus.AVAILABLE)
    return device


@locked_service()
def device_unreserve(*, device: Device, actor: Actor) -> Device:
    """Make a reserved device available again.

    Locks the device. Raises DeviceNotReserved for an available device, or the
    state's error otherwise. A banned device may be unreserved.
    """
    _require_status(device, DeviceStatus.RESERVED, otherwise=DeviceNotReserved)
    device.status = DeviceStatus.AVAILABLE
    device.save(update_fields=["status", "updated_at"])
    _record(device=device, action=EventAction.UNRESERVED, actor=actor, from_status=DeviceStatus.RESERVED)
    return device


def _activation(*, actor: Actor, login: str | None, name: str | None, now: datetime) -> tuple[DeviceEvent, dict]:
    """The event and the values of activating an available device (the caller sets its account).

    `login` None: the statement writing the event adds the account's login itself.
    """
    event = build_event(
        device=None,
        action=EventAction.ACTIVATED,
        actor=actor,
        from_status=DeviceStatus.AVAILABLE,
        to_status=DeviceStatus.ACTIVE,
        details={} if login is None else {"account": login},
        now=now,
    )
    values = {"status": DeviceStatus.ACTIVE, "activated_at": now}
    if name is not None:
        values["name"] = name
    return event, values


def device_activate(
    *,
    device: "Device | int | uuid.UUID | DeviceRef",
    account: Account,
    actor: Actor,
    name: str | None = None,
    skip_reserve_check: bool = False,
) -> Device:
    """Add an available device (or a reserved one, with skip_reserve_check) to an account.

    Locks the device. Raises AccountNotUsable for a blocked or deleted account,
    DeviceNotFound, DeviceBanned, DeviceReserved when reserved without
    skip_reserve_check, or the state's error. An available device is activated
    in one statement (devices.conditional).
    """
    if account.can_own_devices:
        now = timezone.now()
        event, values = _activation(actor=actor, login=account.login, name=name, now=now)
        activated = conditional.transition(
            device,
            expected_status=DeviceStatus.AVAILABLE,
            values={**values, "account_id": account.pk},
            event=event,
            now=now,
        )
        if activated is not None:
            activated.account = account
            return activated
    return _device_activate_locked(
        device=device, account=account, actor=actor, name=name, skip_reserve_check=skip_reserve_check
    )


def device_activate_for_login(
    *,
    device: "Device | int | uuid.UUID | DeviceRef",
    login: str,
    actor: Actor,
    name: str | None = None,
    also_select: tuple[str, ...] = (),
) -> tuple[Device, tuple] | None:
    """Add an available device to the active account with this login, in one statement (devices.conditional).

    The common case of an activation, with the account looked up by the same
    statement; `also_select` are SQL expressions over the changed row read
    with it. Returns the device (its account set) and their values. None
    when it doesn't apply (no such active account, a device that is not
    available or is banned, or not PostgreSQL); nothing has changed then, and
    the caller resolves the login and calls device_activate, which answers
    why.
    """
    now = timezone.now()
    event, values = _activation(actor=actor, login=None, name=name, now=now)
    return conditional.transition_to_owner(
        device,
        login=login,
        expected_status=DeviceStatus.AVAILABLE,
        values=values,
        event=event,
        now=now,
        also_select=also_select,
    )


@locked_service()
def _device_activate_locked(
    *, device: Device, account: Account, actor: Actor, name: str | None, skip_reserve_check: bool
) -> Device:
    if not account.can_own_devices:
        raise AccountNotUsable()
    if device.is_banned:
        raise DeviceBanned()
    allowed = (DeviceStatus.AVAILABLE, DeviceStatus.RESERVED) if skip_reserve_check else (DeviceStatus.AVAILABLE,)
    _require_status(device, *allowed, otherwise=DeviceNotActive)
    from_status = device.status
    now = timezone.now()
    device.status = DeviceStatus.ACTIVE
    device.account = account
    device.activated_at = now
    if name is not None:
        device.name = name
    device.save(update_fields=["status", "account", "activated_at", "name", "updated_at"])
    _record(
        device=device,
        action=EventAction.ACTIVATED,
        actor=actor,
        from_status=from_status,
        details={"account": account.login},
        now=now,
    )
    return device


@locked_service(with_account=True)
def device_deactivate(*, device: Device, actor: Actor, leave_reserved: bool = False) -> Device:
    """Start the deactivation of an active device; it ends after DEVICE_DEACTIVATION_SECONDS.

    When the deactivation ends the device leaves its account and becomes
    available (reserved with leave_reserved); with 0 seconds that happens now.
    Locks the device. Raises DeviceNotActive for an available device, or the
    state's error.
    """
    _require_status(device, DeviceStatus.ACTIVE, otherwise=DeviceNotActive)
    now = timezone.now()
    device.status = DeviceStatus.DEACTIVATING
    device.status_until = _deadline(settings.DEVICE_DEACTIVATION_SECONDS, now)
    device.leave_reserved = leave_reserved
    device.save(update_fields=["status", "status_until", "leave_reserved", "updated_at"])
    _record(
        device=device,
        action=EventAction.DEACTIVATION_STARTED,
        actor=actor,
        from_status=DeviceStatus.ACTIVE,
        details={"leave_reserved": leave_reserved, "account": device.account.login if device.account else None},
        now=now,
    )
    _settle(device, actor=actor, now=now)
    return device


@locked_service()
def device_ban(*, device: Device, reason: str, actor: Actor) -> bool:
    """Ban a device; its status does not change. Returns False when it was already banned.

    Locks the device.
    """
    if device.is_banned:
        return False
    now = timezone.now()
    device.is_banned = True
    device.ban_reason = reason[:255]
    device.banned_at = now
    device.banned_by = actor.name[:150]
    device.save(update_fields=["is_banned", "ban_reason", "banned_at", "banned_by", "updated_at"])
    _record(device=device, action=EventAction.BANNED, actor=actor, details={"reason": device.ban_reason}, now=now)
    return True


@locked_service()
def device_unban(*, device: Device, actor: Actor) -> bool:
    """Lift a ban. Returns False when the device was not banned. Locks the device."""
    if not device.is_banned:
        return False
    previous_reason = device.ban_reason
    device.is_banned = False
    device.ban_reason = ""
    device.banned_at = None
    device.banned_by = ""
    device.save(update_fields=["is_banned", "ban_reason", "banned_at", "banned_by", "updated_at"])
    _record(device=device, action=EventAction.UNBANNED, actor=actor, details={"previous_reason": previous_reason})
    return True


DEVICE_EDITABLE_FIELDS = ("type", "mac", "serial_number", "name", "version", "is_online")


@locked_service()
def device_update(*, device: Device, actor: Actor, **values) -> Device:
    """Change a device's descriptive fields (DEVICE_EDITABLE_FIELDS), never its lifecycle.

    Locks the device. `mac` must already be canonical. Raises DeviceConflict
    when the MAC or the type and serial number belong to another device.
    """
    unknown = set(values) - set(DEVICE_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"device_update() does not change {sorted(unknown)}")
    locked = device
    values = {k: (v or None) if k in ("mac", "serial_number") else v for k, v in values.items()}
    changes = {k: [getattr(locked, k), v] for k, v in values.items() if getattr(locked, k) != v}
    if not changes:
        return locked
    for key, value in values.items():
        setattr(locked, key, value)
    _save_or_conflict(locked, update_fields=[*changes, "updated_at"])
    _record(device=locked, action=EventAction.UPDATED, actor=actor, details=changes)
    return locked


@transaction.atomic
def account_create(
    *,
    login: str,
    name: str = "",
    password: str | None = None,
    type: str = "user",
    role: str = "user",
    owner: Account | None = None,
    is_vendor: bool = False,
) -> Account:
    account = Account(login=login, name=name, type=type, role=role, owner=owner, is_vendor=is_vendor)
    account.set_password(password)
    account.full_clean()
    account.save(force_insert=True)
    return account


@transaction.atomic
def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """Create an API key. Returns it with the full secret, which is never stored."""
    prefix, full_key = ApiKey.generate()
    key = ApiKey(name=name, prefix=prefix, secret_hash=ApiKey.hash_secret(full_key))
    key.full_clean()
    key.save(force_insert=True)
    return key, full_key


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Revoke a key and drop it from the authentication cache. Returns False when it was revoked already."""
    from devices.authentication import api_key_cache_key

    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    cache.delete(api_key_cache_key(api_key.secret_hash))
    return bool(revoked)
