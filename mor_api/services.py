"""SIP devices of the MOR API. The core device is made and ended by the devices services."""

import ipaddress
import re
import secrets
from dataclasses import dataclass, fields

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, CharField, Subquery

from devices import services as core
from devices import sql
from devices.choices import DeviceStatus, EventAction, EventSource
from devices.errors import AccountNotUsable
from devices.models import Account, Device
from devices.selectors import one_or_none
from mor_api.auth import caller_for, callerid_managers, callers, is_id, managed_accounts, managed_by, managed_user
from mor_api.errors import (
    CALLERID_FORBIDDEN,
    DEVICE_NOT_FOUND,
    DONT_BE_SO_SMART,
    GROUP_INVALID,
    NOT_CREATED,
    NOT_UPDATED,
    PIN_NOT_NUMERIC,
    PIN_USED,
    TYPE_INVALID,
    MorError,
)
from mor_api.models import Authentication, DeviceGroup, MorDevice

# The current list of Kolmisoft's device_create page (PJSIP came after the seed's revision).
DEVICE_TYPES = ("SIP", "PJSIP", "IAX2", "FAX", "Virtual", "H323", "ZAP", "Skype")
# Patterns are matched with fullmatch(): `$` would take a value ending in a newline ("424242\n").
PIN = re.compile(r"[0-9]+")
LIMITS = {"description": 255, "caller_id": 64, "pin": 20}
# Values the softswitch writes one to a line (caller id, SIP secret): a line break or a tab in one would start
# another setting, or a SIP header. Free text (description, comment) may hold them.
SINGLE_LINE = ("caller_id", "callerid_number", "callerid_name", "password")
CONTROL = re.compile("[\x01-\x1f\x7f-\x9f\u2028\u2029]")  # NUL has a problem of its own


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
    if not PIN.fullmatch(pin):
        raise MorError(PIN_NOT_NUMERIC)
    taken = MorDevice.objects.filter(pin=pin)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise MorError(PIN_USED)


def _check_callerid_permission(caller: Account) -> None:
    if not callerid_managers(Account.objects.filter(pk=caller.pk)).exists():
        raise MorError(CALLERID_FORBIDDEN)


def _problems(values: "DeviceInput | DeviceChanges", limits: dict[str, int]) -> list[str]:
    """What is wrong with the text fields `limits` names: too long, or holding a character none may."""
    problems = []
    for field, limit in limits.items():
        value = getattr(values, field) or ""
        if len(value) > limit:
            problems.append(f"{field.capitalize().replace('_', ' ')} is longer than {limit} characters")
        problems += _character_problems(field, value)
    return problems


def _character_problems(field: str, value: str) -> list[str]:
    label = field.capitalize().replace("_", " ")
    problems = [f"{label} contains a NUL character"] if "\x00" in value else []
    if field in SINGLE_LINE and CONTROL.search(value):
        problems.append(f"{label} contains a control character")
    return problems


def mor_device_create(*, login: str, raw_user_id: str, values: DeviceInput) -> MorDevice:
    """Create a SIP device for user `raw_user_id` of the caller with this login: one statement.

    When the statement doesn't apply, the request is checked step by step in
    the protocol's order (caller, user, type, group, pin, caller id, the
    rest), which raises the protocol's error; what the statement needed (the
    user's primary group, a free pin or SIP login) is then there, and it is
    tried again. A pin not sent is a random unique one; sent empty, none. Two
    requests with one pin can't both succeed (the pin is unique; the loser
    gets 'Pin is already used').
    """
    for _attempt in range(3):
        line = _create(login=login, raw_user_id=raw_user_id, values=values) if _may_apply(values) else None
        if line is not None:
            return line
        _check_create(login=login, raw_user_id=raw_user_id, values=values)
    raise MorError(NOT_CREATED, ["The device could not be saved; try again"])


def _may_apply(values: DeviceInput) -> bool:
    """Whether the values alone let the statement apply: the checks of _check_create that need no row."""
    try:
        _device_type(values.type)
    except MorError:
        return False
    group_id_ok = not values.devicegroup_id or is_id(values.devicegroup_id)
    return group_id_ok and not _problems(values, LIMITS) and (not values.pin or bool(PIN.fullmatch(values.pin)))


def _create(*, login: str, raw_user_id: str, values: DeviceInput) -> MorDevice | None:
    if not is_id(raw_user_id):
        return None
    by_group = bool(values.devicegroup_id)
    with_caller_id = bool(values.caller_id)

    def gate() -> sql.Gate:
        caller = callers().with_login(sql.Slot("login"))
        if with_caller_id:
            caller = callerid_managers(caller)
        user = managed_by(caller).usable().filter(pk=sql.Slot("user_id", BigIntegerField()))
        groups = DeviceGroup.objects.order_by().filter(account__in=user)
        if by_group:
            groups = groups.filter(pk=sql.Slot("group_id", BigIntegerField()))
        else:
            groups = groups.filter(is_primary=True)
        return sql.Gate(pick=groups.annotate(caller_login=Subquery(caller.values("login")[:1])))

    def rows() -> tuple:
        text = {name: sql.Slot(name, CharField()) for name in ("description", "pin", "caller_id", "username", "secret")}
        return (
            MorDevice(
                device_id=sql.Ref("device", "id"),
                group_id=sql.Ref("gate", "id"),
                created_at=sql.now_slot(),
                **text,
            ),
        )

    pin = _random_digits(settings.MOR_PIN_LENGTH) if values.pin is None else values.pin or None
    call = {
        "login": login.strip().lower(),
        "user_id": int(raw_user_id),
        "group_id": int(values.devicegroup_id) if by_group else None,
        "type": _device_type(values.type),
        "description": values.description or "",
        "pin": pin,
        "caller_id": values.caller_id or "",
        # Ten random digits, as softswitches number their SIP logins; the unique index settles a clash.
        "username": _random_digits(10),
        "secret": secrets.token_urlsafe(12),
    }
    try:
        created = core.device_create_active(
            key=("mor", by_group, with_caller_id),
            type=sql.Slot("type", CharField()),
            actor=core.Actor(source=EventSource.MOR),
            actor_name=sql.Ref("gate", "caller_login"),
            account=sql.Ref("gate", "account_id"),
            name=sql.Slot("description", CharField()),
            action=EventAction.ACTIVATED,
            details={"pin": pin, "group": sql.Ref("gate", "id")},
            gate=gate,
            rows=rows,
            values=call,
        )
    except IntegrityError:
        return None  # a pin or SIP login taken: the checks say which, or a new candidate is drawn
    if created is None:
        return None
    line = created.rows[0]
    line.device = created.device
    return line


def _check_create(*, login: str, raw_user_id: str, values: DeviceInput) -> None:
    """Raise the protocol's error for a creation the statement didn't make, in the protocol's order."""
    caller = caller_for(login)
    if not raw_user_id:
        raise MorError(DONT_BE_SO_SMART)
    user = managed_user(caller, raw_user_id)
    _device_type(values.type)
    _group(user, values.devicegroup_id)  # made when it is the user's primary group and missing
    if values.pin:
        _check_pin(values.pin)
    if values.caller_id:
        _check_callerid_permission(caller)
    problems = _problems(values, LIMITS)
    if problems:
        raise MorError(NOT_CREATED, problems)
    if not Account.objects.usable().filter(pk=user.pk).exists():
        raise MorError(NOT_CREATED, [AccountNotUsable.default_message])


def _random_digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def mor_device_for(caller: Account, *, raw_id: str = "", username: str = "") -> MorDevice:
    """A SIP line of one of the caller's users, by device id (or else SIP login); 'Device was not found' otherwise."""
    lines = MorDevice.objects.select_related("device").filter(device__account__in=managed_accounts(caller))
    if raw_id:
        found = one_or_none(lines.filter(device_id=int(raw_id))) if is_id(raw_id) else None
    else:
        found = one_or_none(lines.filter(username=username)) if username else None
    if found is None:
        raise MorError(DEVICE_NOT_FOUND)
    return found


def mor_devices_of(user: Account, *, show_hidden: bool = True) -> tuple[list[MorDevice], int | None]:
    """The user's SIP lines in id order, and which is its primary device: its first line, hidden or not.

    Without show_hidden, hidden lines and banned devices (MOR's "blocked") are left out.
    """
    lines = list(MorDevice.objects.filter(device__account=user).select_related("device").order_by("device_id"))
    primary = lines[0].device_id if lines else None
    if not show_hidden:
        lines = [line for line in lines if not line.hidden and not line.device.is_banned]
    return lines, primary


def _locked_line(caller: Account, raw_id: str) -> MorDevice:
    """Lock the device, then its SIP line: the order in which the core's deactivation takes them (it deletes the
    line when the ownership ends), so that a MOR call and an operator's deactivation never deadlock.

    'Device was not found' when it isn't one of the caller's users' lines (any more).
    """
    devices = Device.objects.select_for_update(of=("self",)).filter(account__in=managed_accounts(caller))
    device = one_or_none(devices.filter(pk=int(raw_id))) if is_id(raw_id) else None
    line = one_or_none(MorDevice.objects.select_for_update().filter(device=device)) if device else None
    if line is None:
        raise MorError(DEVICE_NOT_FOUND)
    line.device = device
    return line


@dataclass(frozen=True)
class DeviceChanges:
    """What a device_update asks for, as sent; None means "not sent" (the value is kept).

    These are the fields of device_update's page that the product keeps; any other is accepted and not kept.
    """

    authentication: str | None = None
    username: str | None = None
    password: str | None = None
    host: str | None = None
    port: str | None = None
    description: str | None = None
    pin: str | None = None  # "" sent empty: no pin
    callerid_number: str | None = None
    callerid_name: str | None = None
    allow_empty_callerid: str | None = None
    extension: str | None = None  # "": no extension
    hidden: str | None = None
    comment: str | None = None
    call_limit: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> "DeviceChanges":
        return cls(**{field.name: params[field.name] for field in fields(cls) if field.name in params})


# What device_update may change of a SIP line, as the audit event records it (the secret without its value).
RECORDED_FIELDS = (
    "description",
    "pin",
    "caller_id",
    "callerid_name",
    "authentication",
    "host",
    "port",
    "username",
    "secret",
    "extension",
    "hidden",
    "comment",
    "call_limit",
)
SIP_LOGIN = re.compile(r"[A-Za-z0-9_.+-]{1,32}")
EXTENSION = re.compile(r"[a-z0-9#*]*")  # the page's "a-z0-9#*"
TEXT_LIMITS = {
    "description": 255,
    "callerid_number": 64,
    "callerid_name": 64,
    "password": 64,
    "comment": 2000,
    "extension": 40,
}
MAX_CALL_LIMIT = 2**31 - 1


def _set_authentication(line: MorDevice, changes: DeviceChanges, problems: list[str]) -> None:
    """authentication 0: username and password (dynamic); 1: the device's IP address (host, port)."""
    if changes.authentication:
        if changes.authentication not in ("0", "1"):
            problems.append("Authentication must be 0 (username and password) or 1 (IP address)")
            return
        line.authentication = int(changes.authentication)
    if changes.host:
        try:
            line.host = str(ipaddress.ip_address(changes.host))
        except ValueError:
            problems.append("Host must be an IP address")
    if changes.port:
        if changes.port.isascii() and changes.port.isdigit() and 1 <= int(changes.port) <= 65535:
            line.port = int(changes.port)
        else:
            problems.append("Port must be a number from 1 to 65535")
    if line.authentication == Authentication.IP:
        if not line.host and not changes.host:
            problems.append("IP authentication needs a host")
        line.port = line.port or 5060  # SIP's own port, as the softswitch fills it in
    elif changes.host or changes.port:
        problems.append("Host and port apply to IP authentication (authentication=1) only")
    else:
        line.host, line.port = None, None


def _set_fields(line: MorDevice, changes: DeviceChanges, problems: list[str]) -> None:
    if changes.username:
        if SIP_LOGIN.fullmatch(changes.username):
            line.username = changes.username
        else:
            problems.append("Username must be 1 to 32 letters, digits, '.', '_', '-' or '+'")
    if changes.password:
        line.secret = changes.password
    if changes.description is not None:
        line.description = changes.description
    # An empty caller id is kept unless the caller says it means it (the page's allow_empty_callerid=1).
    allow_empty = changes.allow_empty_callerid == "1"
    if changes.callerid_number or (allow_empty and changes.callerid_number is not None):
        line.caller_id = changes.callerid_number
    if changes.callerid_name or (allow_empty and changes.callerid_name is not None):
        line.callerid_name = changes.callerid_name
    if changes.extension is not None:  # its length is TEXT_LIMITS'
        if EXTENSION.fullmatch(changes.extension):
            line.extension = changes.extension or None
        else:
            problems.append("Extension may have only a-z, 0-9, # and *")
    if changes.hidden:
        if changes.hidden in ("0", "1"):
            line.hidden = changes.hidden == "1"
        else:
            problems.append("Hidden must be 0 or 1")
    if changes.comment is not None:
        line.comment = changes.comment
    if changes.call_limit:
        raw = changes.call_limit
        if raw.isascii() and raw.isdigit() and int(raw) <= MAX_CALL_LIMIT:
            line.call_limit = int(raw)
        else:
            problems.append("Call limit must be a whole number (0: unlimited)")


def _taken(line: MorDevice, changes: DeviceChanges) -> list[str]:
    """The SIP login and extension sent that another line has. A refused extension isn't looked up: the line's own,
    none, is every other line's without one (a refused login leaves the line's own, which no other line has)."""
    others = MorDevice.objects.exclude(pk=line.pk)
    taken = []
    if changes.username and others.filter(username=line.username).exists():
        taken.append("Username is already used")
    if changes.extension and line.extension == changes.extension and others.filter(extension=line.extension).exists():
        taken.append("Extension is already used")
    return taken


@transaction.atomic
def mor_device_update(*, caller: Account, raw_id: str, changes: DeviceChanges, actor: core.Actor) -> MorDevice:
    """Change what was sent of a SIP line of one of the caller's users.

    Locks the device and its line (MorError 'Device was not found' when it
    is gone). Then, in this order: 'Pin must be numeric', 'Pin is already
    used', 'You are not authorized to manage callerid', and 'Device was not
    updated' with a <message> per reason. Nothing is written unless every
    check passes; a pin, SIP login or extension another line takes meanwhile
    is refused by its unique index.
    """
    line = _locked_line(caller, raw_id)
    before = {name: getattr(line, name) for name in RECORDED_FIELDS}
    if changes.pin:
        _check_pin(changes.pin, exclude_pk=line.pk)
    empty_allowed = changes.allow_empty_callerid == "1"
    if any(v or (empty_allowed and v is not None) for v in (changes.callerid_number, changes.callerid_name)):
        _check_callerid_permission(caller)
    problems = _problems(changes, TEXT_LIMITS)
    if changes.pin and len(changes.pin) > LIMITS["pin"]:
        problems.append(f"Pin is longer than {LIMITS['pin']} characters")
    _set_authentication(line, changes, problems)
    _set_fields(line, changes, problems)
    if changes.pin is not None:
        line.pin = changes.pin or None
    problems += _taken(line, changes)
    if problems:
        raise MorError(NOT_UPDATED, problems)
    try:
        with transaction.atomic():
            line.save()
    except IntegrityError as exc:  # another line took a unique value since the checks
        if line.pin is not None and MorDevice.objects.filter(pin=line.pin).exclude(pk=line.pk).exists():
            raise MorError(PIN_USED) from exc
        raise MorError(NOT_UPDATED, _taken(line, changes) or ["The device could not be saved; try again"]) from exc
    recorded = {
        name: ["…", "…"] if name == "secret" else [before[name], getattr(line, name)]
        for name in RECORDED_FIELDS
        if before[name] != getattr(line, name)
    }
    # The core device's name follows the description; the event records the SIP line's changes with it.
    renamed = {"name": line.description} if changes.description is not None else {}
    core.device_update(device=line.device, actor=actor, recorded=recorded, **renamed)
    return line


@transaction.atomic
def mor_device_delete(*, caller: Account, raw_id: str, actor: core.Actor) -> int:
    """Remove the SIP line (its pin and login are free again) and end the device's ownership.

    Locks the device and its line ('Device was not found' when gone: of two
    deletes, one wins). The ownership ends through the core lifecycle unless
    an operator has already begun ending it. Returns the device's id.
    """
    line = _locked_line(caller, raw_id)
    device = line.device
    MorDevice.objects.filter(pk=line.pk).delete()
    if device.status == DeviceStatus.ACTIVE:
        core.device_deactivate(device=device, actor=actor)
    return device.pk
