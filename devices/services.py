"""Every write to devices, accounts and API keys goes through here.

Each lifecycle transition is declared once (a `Transition`: which devices it
applies to, what it writes, why it refuses the others) and written by one
function, `transition_apply`, for one device or a set of them: the admin, the
commands and the four protocols share it. Its success is one conditional
statement that also writes the audit events (devices.sql); when a device
doesn't match, the device is locked and read to learn why, an overdue
transient state is completed, and the transition is tried once more on it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, OuterRef, QuerySet, Subquery, Value, When
from django.utils import timezone
from django_guid import get_guid

from devices import sql
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
from devices.models import Account, ApiKey, ClientActivity, ClientAppInfo, Device, DeviceEvent, overdue
from devices.selectors import device_identity, one_or_none
from devices.signals import device_ownership_ended


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: the protocol or tool, and the key, login, user or command name."""

    source: EventSource
    name: "str | sql.Ref" = ""  # a Ref: the name a creation's statement finds (e.g. the caller's login)


def build_event(*, action: EventAction, actor: Actor, now: datetime, **values) -> DeviceEvent:
    """An unsaved audit event by `actor` now, with this request's id."""
    return DeviceEvent(
        action=action,
        source=actor.source,
        actor=actor.name if isinstance(actor.name, sql.Ref) else actor.name[:254],
        request_id=(get_guid() or "")[:64],
        created_at=now,
        **values,
    )


# The error each state gives to an operation that does not accept it.
_STATE_ERRORS: dict[str, type[DomainError]] = {
    DeviceStatus.INITIALIZING: DeviceInitializing,
    DeviceStatus.RESERVED: DeviceReserved,
    DeviceStatus.ACTIVE: DeviceAlreadyActive,
    DeviceStatus.DEACTIVATING: DeviceDeactivating,
}


def _state_error(device: Device, *, otherwise: type[DomainError]) -> DomainError:
    return _STATE_ERRORS.get(device.status, otherwise)()


def _ban_or_state_error(device: Device, **params) -> DomainError:
    return DeviceBanned() if device.is_banned else _state_error(device, otherwise=DeviceNotReserved)


# -- the transitions -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """One lifecycle transition. Its callables take the call's parameters (`now`, `actor` and its own)."""

    action: EventAction
    applies_to: Callable[..., QuerySet]  # the devices it changes
    writes: Callable[..., dict[str, Any]]  # model field -> value or expression (updated_at is added)
    refusal: Callable[..., DomainError]  # why a device it doesn't apply to is refused
    done: Callable[[Device], bool] = lambda device: False  # already where it leads: bulk work leaves it unchanged
    details: Callable[..., dict] = lambda **params: {}
    owner: bool = False  # it reads the owner (for the event's details and the caller)
    precondition: Callable[..., None] = lambda **params: None  # checked before looking at the device


def _accounts_usable(accounts: QuerySet, **params) -> None:
    if not accounts.exists():
        raise AccountNotUsable()


def _activation_refusal(device: Device, *, skip_reserve_check: bool, **params) -> DomainError:
    if device.is_banned:
        return DeviceBanned()
    if skip_reserve_check and device.status == DeviceStatus.RESERVED:
        return DeviceNotActive()  # unreachable but for a race: the rule applies to it
    return _state_error(device, otherwise=DeviceNotActive)


RESERVE = Transition(
    action=EventAction.RESERVED,
    applies_to=lambda **params: Device.objects.reservable(),
    writes=lambda **params: {"status": DeviceStatus.RESERVED},
    refusal=_ban_or_state_error,
    done=lambda device: device.status == DeviceStatus.RESERVED,
)
UNRESERVE = Transition(
    action=EventAction.UNRESERVED,
    applies_to=lambda **params: Device.objects.reserved(),
    writes=lambda **params: {"status": DeviceStatus.AVAILABLE},
    refusal=lambda device, **params: _state_error(device, otherwise=DeviceNotReserved),
    done=lambda device: device.status == DeviceStatus.AVAILABLE,
)
# `accounts`: the account to receive the device, as a queryset of usable accounts (at most one).
ACTIVATE = Transition(
    action=EventAction.ACTIVATED,
    applies_to=lambda accounts, skip_reserve_check, **params: Device.objects.activatable(
        skip_reserve_check=skip_reserve_check
    ).filter(Exists(accounts)),
    writes=lambda accounts, name, now, **params: {
        "status": DeviceStatus.ACTIVE,
        "account": Subquery(accounts.values("pk")[:1]),
        "activated_at": now,
        **({} if name is None else {"name": name}),
    },
    refusal=_activation_refusal,
    details=lambda **params: {"account": sql.OwnerLogin()},
    owner=True,
    precondition=_accounts_usable,
)
DEACTIVATE = Transition(
    action=EventAction.DEACTIVATION_STARTED,
    applies_to=lambda **params: Device.objects.active(),
    writes=lambda leave_reserved, now, **params: {
        "status": DeviceStatus.DEACTIVATING,
        "status_until": now + timedelta(seconds=settings.DEVICE_DEACTIVATION_SECONDS),
        "leave_reserved": leave_reserved,
    },
    refusal=lambda device, **params: _state_error(device, otherwise=DeviceNotActive),
    details=lambda leave_reserved, **params: {"leave_reserved": leave_reserved, "account": sql.OwnerLogin()},
    owner=True,
)
BAN = Transition(
    action=EventAction.BANNED,
    applies_to=lambda **params: Device.objects.filter(is_banned=False),
    writes=lambda reason, actor, now, **params: {
        "is_banned": True,
        "ban_reason": reason[:255],
        "banned_at": now,
        "banned_by": actor.name[:150],
    },
    refusal=lambda device, **params: DomainError(),  # a ban applies to every device not banned
    done=lambda device: device.is_banned,
    details=lambda reason, **params: {"reason": reason[:255]},
)
UNBAN = Transition(
    action=EventAction.UNBANNED,
    applies_to=lambda **params: Device.objects.filter(is_banned=True),
    writes=lambda **params: {"is_banned": False, "ban_reason": "", "banned_at": None, "banned_by": ""},
    refusal=lambda device, **params: DomainError(),
    done=lambda device: not device.is_banned,
    details=lambda **params: {"previous_reason": sql.Old("ban_reason")},
)
FINISH_INITIALIZATION = Transition(
    action=EventAction.INITIALIZATION_FINISHED,
    applies_to=lambda now, **params: Device.objects.initialization_due(now),
    writes=lambda **params: {"status": DeviceStatus.AVAILABLE, "status_until": None},
    refusal=lambda device, **params: DomainError(),
)
FINISH_DEACTIVATION = Transition(
    action=EventAction.DEACTIVATION_FINISHED,
    applies_to=lambda now, **params: Device.objects.deactivation_due(now),
    writes=lambda **params: {
        "status": Case(
            When(leave_reserved=True, then=Value(DeviceStatus.RESERVED)), default=Value(DeviceStatus.AVAILABLE)
        ),
        "status_until": None,
        "leave_reserved": False,
        "account": None,
        "activated_at": None,
    },
    refusal=lambda device, **params: DomainError(),
)


@dataclass
class Applied:
    """What a transition did to a set of devices."""

    changed: list[sql.Changed] = field(default_factory=list)
    refused: list[Device] = field(default_factory=list)  # locked and read: the transition doesn't apply to them


def transition_apply(
    transition: Transition, devices: QuerySet, *, actor: Actor, named: int, also: dict | None = None, **params
) -> Applied:
    """Apply a transition to the devices of `devices`: the one writer of every lifecycle change.

    One statement changes the devices it applies to and writes their events.
    The others are locked and read; an overdue transient state among them is
    completed (that is a fact whatever the caller does next) and the
    transition is tried once more on those. The rest are `refused`, as read:
    the caller raises `transition.refusal(device)` or, in bulk work, reports
    them unchanged when `transition.done(device)`. `named`: how many devices
    `devices` names at most (when all of them changed, nothing is read).
    """
    now = timezone.now()
    params = {**params, "now": now, "actor": actor}
    applied = Applied(changed=_statement(transition, devices, actor=actor, now=now, also=also, params=params))
    if len(applied.changed) >= named:
        return applied
    unchanged = devices.exclude(pk__in=[c.device.pk for c in applied.changed]) if applied.changed else devices
    with transaction.atomic():
        rest = list(unchanged.order_by("pk").select_for_update(of=("self",)))
        if any(_is_overdue(device, now) for device in rest):
            settle(devices=Device.objects.filter(pk__in=[d.pk for d in rest]), actor=actor)
            retried = Device.objects.filter(pk__in=[d.pk for d in rest])
            applied.changed += _statement(
                transition, retried, actor=actor, now=timezone.now(), also=also, params=params
            )
            again = {c.device.pk for c in applied.changed}
            rest = list(Device.objects.filter(pk__in=[d.pk for d in rest if d.pk not in again]).order_by("pk"))
    applied.refused = rest
    return applied


def _statement(transition: Transition, devices: QuerySet, *, actor: Actor, now, also, params) -> list[sql.Changed]:
    return sql.transition(
        devices,
        rule=transition.applies_to(**params),
        values={**transition.writes(**params), "updated_at": now},
        event=build_event(action=transition.action, actor=actor, now=now),
        details=transition.details(**params),
        owner=transition.owner,
        also=also,
    )


def _is_overdue(device: Device, now: datetime) -> bool:
    return device.status in TRANSIENT_STATUSES and device.status_until is not None and device.status_until <= now


def settle(*, devices: QuerySet, actor: Actor) -> list[sql.Changed]:
    """Complete the overdue initializations and deactivations among `devices`, with their events.

    A finished deactivation ends the ownership: protocol apps clear what
    belonged to it (devices.signals), in the same transaction.
    """
    now = timezone.now()
    params = {"now": now, "actor": actor}
    with transaction.atomic():
        finished = _statement(FINISH_INITIALIZATION, devices, actor=actor, now=now, also=None, params=params)
        ended = _statement(FINISH_DEACTIVATION, devices, actor=actor, now=now, also=None, params=params)
        if ended:
            device_ownership_ended.send(sender=Device, device_ids=[c.device.pk for c in ended])
    return finished + ended


DeviceName = "Device | int | uuid.UUID | DeviceRef"


def _named(device: DeviceName) -> QuerySet:
    identity = device_identity(device)
    if not identity:
        raise DeviceNotFound()
    return Device.objects.filter(**identity)


def _apply_one(transition: Transition, device: DeviceName, *, actor: Actor, also=None, **params) -> sql.Changed:
    """Apply a transition to one device; raise the refusal's error (DeviceNotFound when it names none)."""
    applied = transition_apply(transition, _named(device), actor=actor, named=1, also=also, **params)
    if applied.changed:
        return applied.changed[0]
    transition.precondition(**params)
    if not applied.refused:
        raise DeviceNotFound()
    raise transition.refusal(applied.refused[0], **params)


# -- one device ------------------------------------------------------------------------------------------------------


def device_reserve(*, device: DeviceName, actor: Actor) -> Device:
    """Reserve an available device. Raises DeviceNotFound, DeviceBanned, or the state's error."""
    return _apply_one(RESERVE, device, actor=actor).device


def device_unreserve(*, device: DeviceName, actor: Actor) -> Device:
    """Make a reserved device available again (a banned one too).

    Raises DeviceNotReserved for an available device, or the state's error.
    """
    return _apply_one(UNRESERVE, device, actor=actor).device


def device_activate(
    *,
    device: DeviceName,
    account: "Account | QuerySet[Account]",
    actor: Actor,
    name: str | None = None,
    skip_reserve_check: bool = False,
    also: dict | None = None,
) -> Device:
    """Add an available device (or a reserved one, with skip_reserve_check) to a usable account.

    `account` is an account or a queryset naming one (e.g. by login). Raises
    AccountNotUsable when it names no usable account, then DeviceNotFound,
    DeviceBanned, DeviceReserved without skip_reserve_check, or the state's
    error. Returns the device with its owner, annotated with `also`.
    """
    accounts = account if isinstance(account, QuerySet) else Account.objects.filter(pk=account.pk)
    return _apply_one(
        ACTIVATE,
        device,
        actor=actor,
        also=also,
        accounts=accounts.usable().order_by(),
        name=name,
        skip_reserve_check=skip_reserve_check,
    ).device


def device_deactivate(*, device: DeviceName, actor: Actor, leave_reserved: bool = False) -> Device:
    """Start the deactivation of an active device; it ends after DEVICE_DEACTIVATION_SECONDS.

    When it ends the device leaves its account and becomes available
    (reserved with leave_reserved); with 0 seconds that happens now, in the
    same transaction. Raises DeviceNotActive for an available device, or
    the state's error.
    """
    if settings.DEVICE_DEACTIVATION_SECONDS > 0:
        return _apply_one(DEACTIVATE, device, actor=actor, leave_reserved=leave_reserved).device
    with transaction.atomic():
        deactivated = _apply_one(DEACTIVATE, device, actor=actor, leave_reserved=leave_reserved).device
        ended = settle(devices=Device.objects.filter(pk=deactivated.pk), actor=actor)
    return ended[0].device if ended else deactivated


def device_ban(*, device: DeviceName, reason: str, actor: Actor) -> bool:
    """Ban a device; its status does not change. False when it was banned already."""
    return _apply_or_done(BAN, device, actor=actor, reason=reason)


def device_unban(*, device: DeviceName, actor: Actor) -> bool:
    """Lift a ban. False when the device was not banned."""
    return _apply_or_done(UNBAN, device, actor=actor)


def _apply_or_done(transition: Transition, device: DeviceName, *, actor: Actor, **params) -> bool:
    applied = transition_apply(transition, _named(device), actor=actor, named=1, **params)
    if not applied.changed and not applied.refused:
        raise DeviceNotFound()
    return bool(applied.changed)


def device_check_activatable(*, device: DeviceName, actor: Actor) -> None:
    """Raise the error that activating the device now would raise; change nothing else.

    An overdue transient state is completed first. Raises DeviceNotFound,
    DeviceBanned, or the state's error when the device is not available.
    """
    devices = _named(device)
    if (devices & Device.objects.activatable()).exists():
        return
    found = list(devices)
    if not found:
        raise DeviceNotFound()
    if _is_overdue(found[0], timezone.now()):
        settle(devices=devices, actor=actor)
        if (devices & Device.objects.activatable()).exists():
            return
        found = list(devices)
    raise _activation_refusal(found[0], skip_reserve_check=False)


# -- creating devices ------------------------------------------------------------------------------------------------


def initial_status(now: datetime) -> tuple[str, datetime | None]:
    seconds = settings.DEVICE_INITIALIZATION_SECONDS
    if seconds <= 0:
        return DeviceStatus.AVAILABLE, None
    return DeviceStatus.INITIALIZING, now + timedelta(seconds=seconds)


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
    status, until = initial_status(now)
    device = Device(
        type=type,
        mac=mac or None,
        serial_number=serial_number or None,
        name=name,
        version=version,
        status=status,
        status_until=until,
    )
    created = _create(device, EventAction.REGISTERED, actor=actor, now=now, skip_conflict=True)
    if created is None:
        raise DeviceConflict()
    return created.device


def device_create_active(
    *,
    type: str,
    actor: Actor,
    account: "Account | sql.Ref | None",
    name: "str | sql.Ref" = "",
    action: EventAction = EventAction.ACTIVATED,
    details: dict | None = None,
    gate: sql.Gate | None = None,
    rows: tuple = (),
) -> sql.Created | None:
    """Create a device that is active from its first moment (a licensed edge device, a SIP line): one statement.

    It has no MAC or serial number; `account` may be None (a license without
    an owner). `gate` is the row the creation needs (e.g. a license with a
    free activation, taken by the same statement): none found, nothing is
    written and None is returned. `rows` are the protocol's rows that belong
    to the device; their `device` and values from the gate are sql.Ref(...).
    Writes one event, `action`, with `details`. Raises AccountNotUsable for
    an account given as an instance that may not own devices.
    """
    if isinstance(account, Account):
        gate = gate or sql.Gate(pick=Account.objects.usable().filter(pk=account.pk))
    now = timezone.now()
    device = Device(
        type=type,
        name=name,
        status=DeviceStatus.ACTIVE,
        account_id=account.pk if isinstance(account, Account) else account,
        activated_at=now,
    )
    created = _create(device, action, actor=actor, now=now, details=details, gate=gate, rows=rows)
    if created is None and isinstance(account, Account) and gate.pick.model is Account:
        raise AccountNotUsable()
    return created


def _create(device: Device, action: EventAction, *, actor: Actor, now: datetime, details=None, **options):
    event = build_event(
        action=action,
        actor=actor,
        now=now,
        device_id=sql.Ref("device", "id"),
        to_status=device.status,
        details=details or {},
    )
    return sql.create(device, event, **options)


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
    """Create or update the device with this canonical MAC from what a client app reports. Returns (device, created).

    A known device reporting what it reported before is one statement that
    marks it seen; a new MAC one statement that creates the device, its
    client app and its event (concurrent first registrations of one MAC make
    one device: the others update it). Anything else locks the device,
    re-reads its client app under the lock, and records what changed, with
    an event. Raises DeviceConflict when a new type would clash with another
    device's type and serial number.
    """
    now = timezone.now()
    reported = dict(device_os=device_os, device_version=device_version, app_name=app_name, app_version=app_version)
    seen = _client_seen(mac=mac, device_type=device_type, reported=reported, ip=ip, now=now)
    if seen is not None:
        return seen, False
    status, until = initial_status(now)
    device = Device(
        mac=mac,
        type=device_type,
        version=device_version,
        status=status,
        status_until=until,
        is_online=True,
        last_seen_at=now,
    )
    app = ClientAppInfo(device_id=sql.Ref("device", "id"), ip=ip, **reported)
    created = _create(
        device, EventAction.REGISTERED, actor=actor, now=now, details=reported, rows=(app,), skip_conflict=True
    )
    if created is not None:
        return created.device, True
    return _device_update_client(mac=mac, device_type=device_type, reported=reported, ip=ip, actor=actor, now=now)


def _client_seen(*, mac: str, device_type: str, reported: dict, ip: str | None, now: datetime) -> Device | None:
    """Mark the device with this MAC seen if nothing it reports changed; one statement. None otherwise.

    Nothing changed: the same type and version, the same client app and ip,
    and no overdue transient state. The row must still be the version the
    statement's snapshot saw (its updated_at): a change another transaction
    committed meanwhile (whose client app this statement can't see) sends
    the report to the locking path.
    """
    same_app = ClientAppInfo.objects.filter(device=OuterRef("pk"), ip=ip, **reported)
    devices = (
        Device.objects.filter(mac=mac, type=device_type, version=reported["device_version"])
        .filter(updated_at=Subquery(Device.objects.filter(mac=mac).order_by().values("updated_at")))
        .exclude(overdue(now))
        .filter(Exists(same_app))
    )
    return sql.update_one(devices, {"is_online": True, "last_seen_at": now, "updated_at": now})


@transaction.atomic
def _device_update_client(
    *, mac: str, device_type: str, reported: dict[str, str], ip: str | None, actor: Actor, now: datetime
) -> tuple[Device, bool]:
    devices = Device.objects.filter(mac=mac)
    device = one_or_none(devices.select_for_update(of=("self",)))
    if device is None:
        raise DeviceConflict()  # taken by a type and serial number: the insert was skipped, no MAC matches
    if _is_overdue(device, now):
        settle(devices=devices, actor=actor)
        device = devices.get()
    # Read under the lock: a report committed while this one waited has changed it.
    info = one_or_none(ClientAppInfo.objects.filter(device=device))
    changes = {}
    if device.type != device_type:
        changes["type"] = [device.type, device_type]
    if device.version != reported["device_version"]:
        changes["version"] = [device.version, reported["device_version"]]
    device.type, device.version = device_type, reported["device_version"]
    device.is_online, device.last_seen_at = True, now
    fields = ["type", "version", "is_online", "last_seen_at", "updated_at"]
    if "type" in changes and device.serial_number:
        _save_or_conflict(device, update_fields=fields)  # the new type may clash with another's serial
    else:
        device.save(update_fields=fields)
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
        build_event(
            action=EventAction.CLIENT_UPDATED,
            actor=actor,
            now=now,
            device=device,
            from_status=device.status,
            to_status=device.status,
            details=changes,
        ).save(force_insert=True)
    return device, False


def _save_or_conflict(device: Device, **save_kwargs) -> None:
    """Save in a savepoint; a unique MAC or type and serial number taken by another device is DeviceConflict."""
    try:
        with transaction.atomic():
            device.save(**save_kwargs)
    except IntegrityError as exc:
        raise DeviceConflict() from exc


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


DEVICE_EDITABLE_FIELDS = ("type", "mac", "serial_number", "name", "version", "is_online")


@transaction.atomic
def device_update(*, device: DeviceName, actor: Actor, recorded: dict | None = None, **values) -> Device:
    """Change a device's descriptive fields (DEVICE_EDITABLE_FIELDS), never its lifecycle.

    `recorded`: changes a protocol made to its own data of the device
    ({field: [old, new]}), written into the same audit event. Locks the
    device. `mac` must already be canonical. Raises DeviceConflict when the
    MAC or the type and serial number belong to another device.
    """
    unknown = set(values) - set(DEVICE_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"device_update() does not change {sorted(unknown)}")
    locked = one_or_none(_named(device).select_for_update(of=("self",)))
    if locked is None:
        raise DeviceNotFound()
    values = {k: (v or None) if k in ("mac", "serial_number") else v for k, v in values.items()}
    changes = {k: [getattr(locked, k), v] for k, v in values.items() if getattr(locked, k) != v}
    if changes:
        for key, value in values.items():
            setattr(locked, key, value)
        _save_or_conflict(locked, update_fields=[*changes, "updated_at"])
    changes |= recorded or {}
    if not changes:
        return locked
    build_event(
        action=EventAction.UPDATED,
        actor=actor,
        now=timezone.now(),
        device=locked,
        from_status=locked.status,
        to_status=locked.status,
        details=changes,
    ).save(force_insert=True)
    return locked


# -- accounts and API keys -------------------------------------------------------------------------------------------


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
