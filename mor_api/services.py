"""SIP devices of the MOR API. The core device is made and ended by the devices services."""

import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from devices import services as core
from devices.choices import AccountRole, DeviceStatus, EventAction
from devices.models import Account, Device
from devices.selectors import one_or_none
from mor_api import conditional as one_statement
from mor_api.auth import is_id, managed_accounts, permissions_of
from mor_api.errors import (
    CALLERID_FORBIDDEN,
    DEVICE_NOT_FOUND,
    GROUP_INVALID,
    NOT_CREATED,
    NOT_UPDATED,
    PIN_NOT_NUMERIC,
    PIN_USED,
    TYPE_INVALID,
    MorError,
)
from mor_api.models import DeviceGroup, MorDevice

DEVICE_TYPES = ("SIP", "IAX2", "FAX", "Virtual", "H323", "ZAP", "Skype")
PIN = re.compile(r"^[0-9]+$")
LIMITS = {"description": 255, "caller_id": 64, "pin": 20}


@dataclass(frozen=True)
class DeviceInput:
    """What a create or update asks for; None means "not sent" (an update keeps the value)."""

    description: str | None = None
    pin: str | None = None  # "" sent empty: no pin
    type: str | None = None
    devicegroup_id: str | None = None
    caller_id: str | None = None


def group_primary(account: Account) -> DeviceGroup:
    """The account's primary device group, made on first use (safe when two requests race)."""
    group = one_or_none(DeviceGroup.objects.filter(account=account, is_primary=True))
    if group is not None:
        return group
    try:
        with transaction.atomic():
            return DeviceGroup.objects.create(account=account, name="Primary", is_primary=True)
    except IntegrityError:
        return DeviceGroup.objects.get(account=account, is_primary=True)


def _device_type(raw: str | None) -> str:
    if not raw:
        return settings.MOR_DEFAULT_DEVICE_TYPE or "SIP"
    if raw not in DEVICE_TYPES:
        raise MorError(TYPE_INVALID)
    return raw


def _group(user: Account, raw: str | None) -> DeviceGroup:
    if not raw:
        return group_primary(user)
    group = one_or_none(DeviceGroup.objects.filter(pk=int(raw), account=user)) if is_id(raw) else None
    if group is None:
        raise MorError(GROUP_INVALID)
    return group


def _check_pin(pin: str, *, exclude_pk: int | None = None) -> None:
    if not PIN.match(pin):
        raise MorError(PIN_NOT_NUMERIC)
    taken = MorDevice.objects.filter(pin=pin)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise MorError(PIN_USED)


def _random_pin() -> str:
    for _ in range(20):
        candidate = _random_pin_candidate()
        if not MorDevice.objects.filter(pin=candidate).exists():
            return candidate
    raise MorError(NOT_CREATED, ["No free pin of the configured length is left"])


def _check_caller_id(caller: Account, caller_id: str | None) -> None:
    if caller_id and caller.role == AccountRole.ACCOUNTANT and not permissions_of(caller).can_manage_callerid:
        raise MorError(CALLERID_FORBIDDEN)


def _problems(values: DeviceInput) -> list[str]:
    problems = []
    for field, limit in LIMITS.items():
        value = getattr(values, field)
        if value and len(value) > limit:
            problems.append(f"{field.capitalize().replace('_', ' ')} is longer than {limit} characters")
        if value and "\x00" in value:
            problems.append(f"{field.capitalize().replace('_', ' ')} contains a NUL character")
    return problems


def mor_device_create(*, caller: Account, user: Account, values: DeviceInput, actor: core.Actor) -> MorDevice:
    """Create a SIP device for a user, checking in the protocol's order: type, group, pin, caller id.

    A pin not sent is a random unique one; sent empty, none. Two requests with
    one pin can't both succeed (the pin is unique; the loser gets 'Pin is
    already used').
    """
    device_type = _device_type(values.type)
    group = _group(user, values.devicegroup_id)
    if values.pin is None:
        pin = _random_pin()
    elif values.pin == "":
        pin = None
    else:
        _check_pin(values.pin)
        pin = values.pin
    _check_caller_id(caller, values.caller_id)
    problems = _problems(values)
    if problems:
        raise MorError(NOT_CREATED, problems)
    try:
        with transaction.atomic():
            device = core.device_register_activated(
                type=device_type,
                account=user,
                actor=actor,
                name=values.description or "",
                details={"pin": pin, "group": group.pk},
                action=EventAction.ACTIVATED,
            )
            return MorDevice.objects.create(
                device=device,
                group=group,
                description=values.description or "",
                pin=pin,
                caller_id=values.caller_id or "",
                username=_free_username(),
                secret=secrets.token_urlsafe(12),
            )
    except IntegrityError as exc:
        if pin is not None and MorDevice.objects.filter(pin=pin).exists():
            raise MorError(PIN_USED) from exc
        raise MorError(NOT_CREATED, ["The device could not be saved; try again"]) from exc
    except core.DomainError as exc:
        raise MorError(NOT_CREATED, [exc.message]) from exc


def mor_device_create_for_login(
    *, login: str, raw_user_id: str, values: DeviceInput, actor_source: str
) -> MorDevice | None:
    """`device_create` for the caller with this login, when it is the common case (mor_api.conditional).

    The common case: an admin or a reseller, one of its users who may own
    devices, a valid type and group, a free pin or none sent, and nothing
    else to refuse. Then one statement checks and writes. None, with nothing
    written, in any other case (or not on PostgreSQL): the caller then runs
    the checks one by one (caller_for, managed_user, mor_device_create), which
    give the protocol's answer.
    """
    if not one_statement.available() or not is_id(raw_user_id) or _problems(values):
        return None
    if values.type and values.type not in DEVICE_TYPES:
        return None
    raw_group = values.devicegroup_id
    if raw_group and not is_id(raw_group):
        return None
    if values.pin and not PIN.match(values.pin):
        return None
    pin = _random_pin_candidate() if values.pin is None else values.pin or None
    now = timezone.now()
    device = Device(
        type=_device_type(values.type), name=values.description or "", status=DeviceStatus.ACTIVE, activated_at=now
    )
    event = core.build_event(
        device=None,
        action=EventAction.ACTIVATED,
        actor=core.Actor(source=actor_source),  # the statement names the caller
        to_status=DeviceStatus.ACTIVE,
        now=now,
    )
    mor = MorDevice(
        description=values.description or "",
        pin=pin,
        caller_id=values.caller_id or "",
        username=_username_candidate(),
        secret=secrets.token_urlsafe(12),
    )
    return one_statement.create_device(
        login=login,
        user_id=int(raw_user_id),
        group_id=int(raw_group) if raw_group else None,
        device=device,
        event=event,
        mor=mor,
    )


def _random_pin_candidate() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(settings.MOR_PIN_LENGTH))


def _username_candidate() -> str:
    # Ten random digits, as softswitches number their SIP logins; the unique index settles a clash.
    return "".join(secrets.choice("0123456789") for _ in range(10))


def _free_username() -> str:
    while True:
        candidate = _username_candidate()
        if not MorDevice.objects.filter(username=candidate).exists():
            return candidate


def mor_device_for(caller: Account, raw_id: str) -> MorDevice:
    """A SIP device of one of the caller's users; 'Device was not found' otherwise."""
    found = (
        MorDevice.objects.select_related("device", "group")
        .filter(device_id=int(raw_id), device__account__in=managed_accounts(caller))
        .first()
        if is_id(raw_id)
        else None
    )
    if found is None:
        raise MorError(DEVICE_NOT_FOUND)
    return found


def mor_devices_of(user: Account) -> list[MorDevice]:
    return list(MorDevice.objects.filter(device__account=user).select_related("device", "group").order_by("device_id"))


@transaction.atomic
def mor_device_update(*, caller: Account, mor: MorDevice, values: DeviceInput, actor: core.Actor) -> MorDevice:
    """Change what was sent of a SIP device, with the checks of a create."""
    user = mor.device.account
    device_type = _device_type(values.type) if values.type is not None else None
    group = _group(user, values.devicegroup_id) if values.devicegroup_id else None
    if values.pin:
        _check_pin(values.pin, exclude_pk=mor.pk)
    _check_caller_id(caller, values.caller_id)
    problems = _problems(values)
    if problems:
        raise MorError(NOT_UPDATED, problems)
    mor = MorDevice.objects.select_for_update().select_related("device").get(pk=mor.pk)
    if values.description is not None:
        mor.description = values.description
    if values.pin is not None:
        mor.pin = values.pin or None
    if values.caller_id is not None:
        mor.caller_id = values.caller_id
    if group is not None:
        mor.group = group
    try:
        with transaction.atomic():
            mor.save()
    except IntegrityError as exc:
        raise MorError(PIN_USED) from exc
    changes = {}
    if device_type is not None:
        changes["type"] = device_type
    if values.description is not None:
        changes["name"] = values.description
    if changes:
        core.device_update(device=mor.device, actor=actor, **changes)
    return mor


@transaction.atomic
def mor_device_delete(*, mor: MorDevice, actor: core.Actor) -> None:
    """Remove the SIP line and end the device's ownership through the core lifecycle."""
    device = mor.device
    mor.delete()
    core.device_deactivate(device=device, actor=actor)
