"""Every write to devices, accounts and API keys goes through here.

Each lifecycle transition is declared once (a `Transition`: which devices it
applies to, what it writes, why it refuses the others) and written by one
function, `transition_apply`, for one device or a set of them: the admin, the
commands and the four protocols share it. Its success is one conditional
statement that also writes the audit events (devices.sql); when a device
doesn't match, the device is locked and read to learn why, an overdue
transient state is completed, and the transition is tried once more on it.
"""

import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import (
    UserAttributeSimilarityValidator,
    get_default_password_validators,
    validate_password,
)
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
    When,
)
from django.utils import timezone
from django_guid import get_guid

from devices import sql
from devices.choices import DeviceStatus, EventAction, EventSource
from devices.errors import (
    AccountNotUsable,
    BanReasonMissing,
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
from devices.selectors import DeviceRef, device_identity, one_or_none
from devices.signals import device_ownership_ended


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: the protocol or tool, and the key, login, user or command name."""

    source: EventSource
    name: str = ""


def event_values(actor: Actor, now: datetime, details: dict | None = None) -> dict:
    """What every statement's audit event records of the call: who, its request id, when, and plain details."""
    return {
        "actor": actor.name[:254],
        "request_id": (get_guid() or "")[:64],
        "now": now,
        "details": sql.details_json(details or {}),
    }


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


def _no_refusal(device: Device, **params) -> DomainError:
    raise AssertionError("this transition applies to every device it is given")


@dataclass(frozen=True)
class Transition:
    """One lifecycle transition.

    `applies_to` and `writes` build querysets and expressions from their
    keyword arguments: the call's values as Slots (named in `slots`, with
    their field), and the others (`shape`) as they are, each one a shape
    of the statement. `refusal` and `details` take the call's values.
    """

    action: EventAction
    applies_to: Callable[..., QuerySet]  # the devices it changes
    writes: Callable[..., dict[str, Any]]  # model field -> value or expression (updated_at is added)
    refusal: Callable[..., DomainError] = _no_refusal  # why a device it doesn't apply to is refused
    done: Callable[[Device], bool] = lambda device: False  # already where it leads: bulk work leaves it unchanged
    details: Callable[..., dict] = lambda **params: {}  # plain values, sql.Old(...), sql.OwnerLogin()
    slots: dict[str, Any] = field(default_factory=dict)  # values of each call: name -> their field
    shape: tuple[str, ...] = ()  # the other parameters: each value makes its own statement
    owner: bool = False  # the caller reads the owner
    settles_first: bool = True  # an overdue device is completed before the transition is tried on it
    precondition: Callable[..., None] = lambda **params: None  # checked before a refusal looks at the device


def _usable_accounts(account_by: str) -> QuerySet:
    """The account to receive a device, by login (any case) or id, when it may: a queryset of at most one."""
    accounts = Account.objects.usable().order_by()
    if account_by == "login":
        return accounts.with_login(sql.Slot("account", CharField()))
    return accounts.filter(pk=sql.Slot("account", BigIntegerField()))


def _accounts_usable(*, account_by: str, account, **params) -> None:
    lookup = Account.objects.with_login(account) if account_by == "login" else Account.objects.filter(pk=account)
    if not lookup.usable().exists():
        raise AccountNotUsable()


def _activation_refusal(device: Device, **params) -> DomainError:
    return DeviceBanned() if device.is_banned else _state_error(device, otherwise=DeviceNotActive)


RESERVE = Transition(
    action=EventAction.RESERVED,
    applies_to=lambda **p: Device.objects.reservable(),
    writes=lambda **p: {"status": DeviceStatus.RESERVED},
    refusal=_ban_or_state_error,
    done=lambda device: device.status == DeviceStatus.RESERVED,
)
UNRESERVE = Transition(
    action=EventAction.UNRESERVED,
    applies_to=lambda **p: Device.objects.reserved(),
    writes=lambda **p: {"status": DeviceStatus.AVAILABLE},
    refusal=lambda device, **p: _state_error(device, otherwise=DeviceNotReserved),
    done=lambda device: device.status == DeviceStatus.AVAILABLE,
)
ACTIVATE = Transition(
    action=EventAction.ACTIVATED,
    applies_to=lambda account_by, skip_reserve_check, **p: Device.objects.activatable(
        skip_reserve_check=skip_reserve_check
    ).filter(Exists(_usable_accounts(account_by))),
    writes=lambda account_by, with_name, now, **p: {
        "status": DeviceStatus.ACTIVE,
        "account": Subquery(_usable_accounts(account_by).values("pk")[:1]),
        "activated_at": now,
        **({"name": sql.Slot("name", CharField())} if with_name else {}),
    },
    refusal=_activation_refusal,
    details=lambda **p: {"account": sql.OwnerLogin()},
    slots={"account": None, "name": CharField()},  # the account's field depends on account_by
    shape=("account_by", "skip_reserve_check", "with_name"),
    owner=True,
    precondition=_accounts_usable,
)
DEACTIVATE = Transition(
    action=EventAction.DEACTIVATION_STARTED,
    applies_to=lambda **p: Device.objects.active(),
    writes=lambda until, leave_reserved, **p: {
        "status": DeviceStatus.DEACTIVATING,
        "status_until": until,
        "leave_reserved": leave_reserved,
    },
    refusal=lambda device, **p: _state_error(device, otherwise=DeviceNotActive),
    done=lambda device: device.status == DeviceStatus.DEACTIVATING,
    details=lambda leave_reserved, **p: {"leave_reserved": leave_reserved, "account": sql.OwnerLogin()},
    slots={"until": DateTimeField(), "leave_reserved": BooleanField()},
)
BAN = Transition(
    action=EventAction.BANNED,
    applies_to=lambda **p: Device.objects.not_banned(),
    writes=lambda reason, banned_by, now, **p: {
        "is_banned": True,
        "ban_reason": reason,
        "banned_at": now,
        "banned_by": banned_by,
    },
    done=lambda device: device.is_banned,
    details=lambda reason, **p: {"reason": reason},
    slots={"reason": CharField(), "banned_by": CharField()},
)
UNBAN = Transition(
    action=EventAction.UNBANNED,
    applies_to=lambda **p: Device.objects.banned(),
    writes=lambda **p: {"is_banned": False, "ban_reason": "", "banned_at": None, "banned_by": ""},
    done=lambda device: not device.is_banned,
    details=lambda **p: {"previous_reason": sql.Old("ban_reason")},
)
FINISH_INITIALIZATION = Transition(
    action=EventAction.INITIALIZATION_FINISHED,
    applies_to=lambda now, **p: Device.objects.initialization_due(now),
    writes=lambda **p: {"status": Value(DeviceStatus.AVAILABLE), "status_until": None},
    settles_first=False,
)
FINISH_DEACTIVATION = Transition(
    action=EventAction.DEACTIVATION_FINISHED,
    applies_to=lambda now, **p: Device.objects.deactivation_due(now),
    writes=lambda **p: {
        "status": Case(
            When(leave_reserved=True, then=Value(DeviceStatus.RESERVED)), default=Value(DeviceStatus.AVAILABLE)
        ),
        "status_until": None,
        "leave_reserved": False,
        "account": None,
        "activated_at": None,
    },
    settles_first=False,
)


@dataclass(frozen=True)
class Named:
    """The devices a call names: by identity fields (one device; one statement per shape) or by ids (a set)."""

    identity: dict[str, Any] = field(default_factory=dict)
    pks: tuple[int, ...] | None = None

    @property
    def count(self) -> int:
        return 1 if self.pks is None else len(self.pks)

    @property
    def key(self) -> tuple | None:
        return None if self.pks is not None else tuple(sorted(self.identity))

    def values(self) -> dict[str, Any]:
        return {f"named:{name}": value for name, value in self.identity.items()}

    def rows(self) -> QuerySet:
        """The devices named, to read with the ORM."""
        return (
            Device.objects.filter(pk__in=self.pks) if self.pks is not None else Device.objects.filter(**self.identity)
        )

    def queryset(self) -> QuerySet:
        """The devices named, for a statement's builder: the identity's values are Slots (see values())."""
        if self.pks is not None:
            return Device.objects.filter(pk__in=self.pks)
        fields = {"pk": BigIntegerField(), "uuid": UUIDField()}
        return Device.objects.filter(
            **{name: sql.Slot(f"named:{name}", fields.get(name, CharField())) for name in self.identity}
        )


@dataclass
class Applied:
    """What a transition did to a set of devices."""

    changed: list[sql.Changed] = field(default_factory=list)
    refused: list["Device | sql.Lean"] = field(default_factory=list)  # read: the transition doesn't apply to them


def transition_apply(
    transition: Transition, named: Named, *, actor: Actor, also: dict | None = None, lean: bool = False, **params
) -> Applied:
    """Apply a transition to the devices `named`: the one writer of every lifecycle change.

    One statement changes the devices it applies to and writes their events.
    The others are locked and read, with whether the transition applies to
    them now (one may have changed meanwhile) and whether an overdue
    transient state is to be completed first (a fact, whatever the caller
    does next); for those the transition is tried once more. The rest are
    `refused`, as read: the caller raises `transition.refusal(device)` or,
    in bulk work, reports them unchanged when `transition.done(device)`.

    `lean` (bulk work, a set of ids): the devices come as sql.Lean (id,
    uuid, status, ban), and the statement also reads the devices it didn't
    change, without a lock (sql.transition_set): only those the transition
    applied to as read, or that are overdue, are locked and looked at again.
    """
    key, build, values = _statement_parts(transition, named, actor=actor, also=also, params=params, lean=lean)
    if lean and named.pks is not None:
        changed, others = sql.transition_set(key, build, values)
        applied = Applied(changed=changed, refused=[device for device, look in others if not look])
        again = [device.pk for device, look in others if look]
        if not again:
            return applied
        rest = Device.objects.filter(pk__in=again)
    else:
        applied = Applied(changed=sql.transition(key, build, values))
        if len(applied.changed) >= named.count:
            return applied
        rest = named.rows().exclude(pk__in=[c.device.pk for c in applied.changed])
    with transaction.atomic():
        with sql.bound(values):  # the rule's Slots are this call's values
            rest = list(
                rest.annotate(
                    is_overdue=ExpressionWrapper(overdue(timezone.now()), output_field=BooleanField()),
                    applies=Exists(build().rule.filter(pk=OuterRef("pk"))),
                )
                .order_by("pk")
                .select_for_update(of=("self",))
            )
        again = [device.pk for device in rest if device.is_overdue or device.applies]
        if again:
            if any(device.is_overdue for device in rest):
                settle(named=Named(pks=tuple(d.pk for d in rest if d.is_overdue)), actor=actor)
            retried = _statement(transition, Named(pks=tuple(again)), actor=actor, also=also, params=params)
            applied.changed += retried
            done = {c.device.pk for c in retried}
            reread = Device.objects.in_bulk([pk for pk in again if pk not in done])
            rest = [reread.get(d.pk, d) for d in rest if d.pk not in done]
        applied.refused += rest
    return applied


def _statement_parts(
    transition: Transition, named: Named, *, actor: Actor, also, params: dict, lean: bool = False
) -> tuple:
    """The shape, builder and values of a transition's statement over the devices named."""
    now = timezone.now()
    shape = {name: params[name] for name in transition.shape}
    ids = lean and named.pks is not None
    values = {
        **named.values(),
        **({"named:pks": named.pks} if ids else {}),
        **{name: params[name] for name in transition.slots},
        **event_values(actor, now, transition.details(**params)),
    }
    named_key = ("ids",) if ids else named.key
    key = (transition.action, named_key, tuple(sorted(shape.items())), tuple(also or ()), actor.source, lean)

    def build() -> sql.TransitionPlan:
        slots = {name: sql.Slot(name, f or CharField()) for name, f in transition.slots.items()}
        arguments = {**slots, **shape, "now": sql.now_slot()}
        rule = transition.applies_to(**arguments)
        if transition.settles_first:
            rule = rule.exclude(overdue(sql.now_slot()))
        return sql.TransitionPlan(
            devices=named.queryset(),
            rule=rule,
            writes={**transition.writes(**arguments), "updated_at": sql.now_slot()},
            action=transition.action,
            source=actor.source,
            details=transition.details(**params),
            owner=transition.owner,
            also=also or {},
            one=named.pks is None,
            ids=ids,
        )

    return key, build, values


def _statement(transition: Transition, named: Named, *, actor: Actor, also, params: dict) -> list[sql.Changed]:
    return sql.transition(*_statement_parts(transition, named, actor=actor, also=also, params=params))


def settle(*, named: Named, actor: Actor) -> list[sql.Changed]:
    """Complete the overdue initializations and deactivations among the devices named, with their events.

    A finished deactivation ends the ownership: protocol apps clear what
    belonged to it (devices.signals), in the same transaction.
    """
    with transaction.atomic():
        finished = _statement(FINISH_INITIALIZATION, named, actor=actor, also=None, params={})
        ended = _statement(FINISH_DEACTIVATION, named, actor=actor, also=None, params={})
        if ended:
            device_ownership_ended.send(sender=Device, device_ids=[c.device.pk for c in ended])
    return finished + ended


def device_settle(*, device: Device, actor: Actor) -> Device:
    """Complete the device's transient state when its time has come (as any transition does first); the device as
    it is now."""
    if Device.objects.overdue().filter(pk=device.pk).exists():
        settle(named=Named(pks=(device.pk,)), actor=actor)
        device.refresh_from_db()
    return device


def overdue_to_status():
    """Where an overdue device's transient state leads, as the FINISH_* transitions write it (an expression)."""
    return Case(
        When(status=DeviceStatus.INITIALIZING, then=FINISH_INITIALIZATION.writes()["status"]),
        default=FINISH_DEACTIVATION.writes()["status"],
    )


DeviceName = Device | int | uuid.UUID | DeviceRef


def _named(device: DeviceName) -> Named:
    identity = device_identity(device)
    if not identity:
        raise DeviceNotFound()
    return Named(identity=identity)


def _apply_one(transition: Transition, device: DeviceName, *, actor: Actor, also=None, **params) -> sql.Changed:
    """Apply a transition to one device; raise the refusal's error (DeviceNotFound when it names none)."""
    failure = None
    with transaction.atomic() if transition is DEACTIVATE and _at_once() else nullcontext():
        applied = transition_apply(transition, _named(device), actor=actor, also=also, **params)
        if applied.changed:
            changed = applied.changed[0]
            if transition is DEACTIVATE and _at_once():
                ended = settle(named=Named(pks=(changed.device.pk,)), actor=actor)
                changed = ended[0] if ended else changed
            return changed
        try:
            transition.precondition(**params)
            failure = transition.refusal(applied.refused[0], **params) if applied.refused else DeviceNotFound()
        except DomainError as error:
            failure = error
    raise failure


def _at_once() -> bool:
    return settings.DEVICE_DEACTIVATION_SECONDS <= 0


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
    account: "Account | str",
    actor: Actor,
    name: str | None = None,
    skip_reserve_check: bool = False,
    also: dict | None = None,
) -> Device:
    """Add an available device (or a reserved one, with skip_reserve_check) to a usable account.

    `account` is an account, or a login (any letter case). Raises
    AccountNotUsable when it names no usable account, then DeviceNotFound,
    DeviceBanned, DeviceReserved without skip_reserve_check, or the state's
    error. Returns the device with its owner, annotated with `also`.
    """
    by_login = isinstance(account, str)
    return _apply_one(
        ACTIVATE,
        device,
        actor=actor,
        also=also,
        account_by="login" if by_login else "pk",
        account=account.strip().lower() if by_login else account.pk,
        name=name,
        with_name=name is not None,
        skip_reserve_check=skip_reserve_check,
    ).device


def device_deactivate(*, device: DeviceName, actor: Actor, leave_reserved: bool = False) -> Device:
    """Start the deactivation of an active device; it ends after DEVICE_DEACTIVATION_SECONDS.

    When it ends the device leaves its account and becomes available
    (reserved with leave_reserved); with 0 seconds that happens now, in the
    same transaction. Raises DeviceNotActive for an available device, or
    the state's error.
    """
    until = timezone.now() + timedelta(seconds=settings.DEVICE_DEACTIVATION_SECONDS)
    return _apply_one(DEACTIVATE, device, actor=actor, until=until, leave_reserved=leave_reserved).device


def ban_reason_clean(reason: str) -> str:
    """A ban's reason as kept (trimmed, at most 255 characters). Raises BanReasonMissing for a blank one."""
    reason = (reason or "").strip()
    if not reason:
        raise BanReasonMissing()
    return reason[:255]


def device_ban(*, device: DeviceName, reason: str, actor: Actor) -> bool:
    """Ban a device; its status does not change. False when it was banned already. Raises BanReasonMissing."""
    return _apply_or_done(BAN, device, actor=actor, reason=ban_reason_clean(reason), banned_by=actor.name[:150])


def device_unban(*, device: DeviceName, actor: Actor) -> bool:
    """Lift a ban. False when the device was not banned."""
    return _apply_or_done(UNBAN, device, actor=actor)


def _apply_or_done(transition: Transition, device: DeviceName, *, actor: Actor, **params) -> bool:
    applied = transition_apply(transition, _named(device), actor=actor, **params)
    if not applied.changed and not applied.refused:
        raise DeviceNotFound()
    return bool(applied.changed)


def device_check_activatable(*, device: DeviceName, actor: Actor) -> None:
    """Raise the error that activating the device now would raise; change nothing else.

    An overdue transient state is completed first. Raises DeviceNotFound,
    DeviceBanned, or the state's error when the device is not available.
    """
    named = _named(device)
    now = timezone.now()
    found = one_or_none(
        Device.objects.filter(**named.identity).annotate(
            is_activatable=Exists(Device.objects.activatable().exclude(overdue(now)).filter(pk=OuterRef("pk"))),
            is_overdue=ExpressionWrapper(overdue(now), output_field=BooleanField()),
        )
    )
    if found is None:
        raise DeviceNotFound()
    if found.is_activatable:
        return
    if found.is_overdue:
        settle(named=Named(pks=(found.pk,)), actor=actor)
        if Device.objects.activatable().filter(pk=found.pk).exists():
            return
        found.refresh_from_db()
    raise _activation_refusal(found)


# -- creating devices ------------------------------------------------------------------------------------------------


def initial_status(now: datetime) -> tuple[str, datetime | None]:
    seconds = settings.DEVICE_INITIALIZATION_SECONDS
    if seconds <= 0:
        return DeviceStatus.AVAILABLE, None
    return DeviceStatus.INITIALIZING, now + timedelta(seconds=seconds)


def _new_device(status: str, **fields) -> Device:
    """A device for a creation plan: what changes from call to call is a Slot."""
    return Device(
        uuid=sql.Slot("uuid", UUIDField()),
        status=status,
        status_until=sql.Slot("until", DateTimeField()) if status == DeviceStatus.INITIALIZING else None,
        created_at=sql.now_slot(),
        updated_at=sql.now_slot(),
        **fields,
    )


def device_register(
    *,
    type: str,
    actor: Actor,
    mac: str | None = None,
    serial_number: str | None = None,
    name: str = "",
    version: str = "",
) -> Device:
    """Create a device, initializing for DEVICE_INITIALIZATION_SECONDS (available when 0); one statement.

    `mac` must already be canonical. Raises DeviceConflict when the MAC or the
    type and serial number belong to another device.
    """
    now = timezone.now()
    status, until = initial_status(now)
    given = {"type": type, "mac": mac or None, "serial_number": serial_number or None, "name": name, "version": version}
    slotted = {key: sql.Slot(key, CharField()) for key, value in given.items() if value is not None}

    def build() -> sql.CreationPlan:
        device = _new_device(status, **{key: None for key in given} | slotted)
        return sql.CreationPlan(device=device, action=EventAction.REGISTERED, source=actor.source, skip_conflict=True)

    values = {**given, "uuid": uuid.uuid4(), "until": until, **event_values(actor, now)}
    created = sql.create(("register", status, tuple(sorted(slotted)), actor.source), build, values)
    if created is None:
        raise DeviceConflict()
    return created.device


def device_create_active(
    *,
    key: tuple,
    type: str,
    actor: Actor,
    account: sql.Ref,
    name: "sql.Ref | sql.Slot",
    action: EventAction,
    details: dict,
    gate: Callable[[], sql.Gate],
    rows: Callable[[], tuple],
    values: dict,
    actor_name: "sql.Ref | None" = None,
) -> sql.Created | None:
    """Create a device that is active from its first moment (a licensed edge device, a SIP line): one statement.

    It has no MAC or serial number; it belongs to the account the gate's row
    names. `gate()` builds the row the creation needs (e.g. a license with a
    free activation, taken by the same statement): none found, nothing is
    written and None is returned. `rows()` builds the protocol's rows that
    belong to the device, whose `device` is sql.Ref("device", "id"). Both
    take the call's `values` as Slots; `key` names the statement's shape
    (each protocol's own). Writes one event, `action`, with `details`, by
    `actor` (or the name the gate's row gives, `actor_name`).
    """
    now = timezone.now()

    def build() -> sql.CreationPlan:
        device = _new_device(
            DeviceStatus.ACTIVE, type=type, name=name, account_id=account, activated_at=sql.now_slot(), mac=None
        )
        return sql.CreationPlan(
            device=device,
            action=action,
            source=actor.source,
            details=details,
            gate=gate(),
            rows=rows(),
            actor=actor_name or sql.Slot("actor"),
        )

    call = {**values, "uuid": uuid.uuid4(), **event_values(actor, now, details)}
    return sql.create(("active", *key, actor.source), build, call)


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
    an event. The type and version change only on a device the report
    describes (Device.objects.described_by(actor.source)): never on one
    another protocol or an operator manages, whose status, owner and ban no
    report changes either. Raises DeviceConflict when a new type would
    clash with another device's type and serial number.
    """
    now = timezone.now()
    reported = dict(device_os=device_os, device_version=device_version, app_name=app_name, app_version=app_version)
    values = {"mac": mac, "type": device_type, "ip": ip, "now": now, **reported}
    seen = _client_seen(values, with_ip=ip is not None, source=actor.source)
    if seen is not None:
        return seen, False
    status, until = initial_status(now)

    def build() -> sql.CreationPlan:
        text = {name: sql.Slot(name, CharField()) for name in ("mac", "type", *reported)}
        device = _new_device(
            status,
            mac=text["mac"],
            type=text["type"],
            version=text["device_version"],
            is_online=True,
            last_seen_at=sql.now_slot(),
        )
        app = ClientAppInfo(
            device_id=sql.Ref("device", "id"),
            ip=sql.Slot("ip", ClientAppInfo._meta.get_field("ip")) if ip is not None else None,
            updated_at=sql.now_slot(),
            **{name: text[name] for name in reported},
        )
        return sql.CreationPlan(
            device=device,
            action=EventAction.REGISTERED,
            source=actor.source,
            details=dict(reported),
            rows=(app,),
            skip_conflict=True,
        )

    call = {**values, "uuid": uuid.uuid4(), "until": until, **event_values(actor, now, reported)}
    created = sql.create(("client", status, ip is not None, actor.source), build, call)
    if created is not None:
        return created.device, True
    return _device_update_client(mac=mac, device_type=device_type, reported=reported, ip=ip, actor=actor, now=now)


def _described(source: str) -> Exists:
    """Whether the report describes the device (its type and version): Device.objects.described_by()."""
    return Exists(Device.objects.described_by(source).filter(pk=OuterRef("pk")))


def _client_seen(values: dict, *, with_ip: bool, source: str) -> Device | None:
    """Mark the device with this MAC seen if nothing it reports changes; one statement. None otherwise.

    Nothing changes: the same client app and ip, no overdue transient state,
    and the same type and version, or a device the report doesn't describe
    (another protocol's or an operator's). The row must still be the version the
    statement's snapshot saw (its updated_at): a change another transaction
    committed meanwhile (whose client app this statement can't see) sends
    the report to the locking path.
    """

    def build():
        text = {name: sql.Slot(name, CharField()) for name in ("mac", "type", *_CLIENT_APP_FIELDS)}
        ip = {"ip": sql.Slot("ip", ClientAppInfo._meta.get_field("ip"))} if with_ip else {"ip__isnull": True}
        same_app = ClientAppInfo.objects.filter(
            device=OuterRef("pk"), **ip, **{name: text[name] for name in _CLIENT_APP_FIELDS}
        )
        snapshot = Device.objects.filter(mac=text["mac"]).order_by().values("updated_at")
        devices = (
            Device.objects.filter(mac=text["mac"])
            .filter(Q(type=text["type"], version=text["device_version"]) | ~_described(source))
            .filter(updated_at=Subquery(snapshot))
            .exclude(overdue(sql.now_slot()))
            .filter(Exists(same_app))
        )
        return devices, {"is_online": True, "last_seen_at": sql.now_slot(), "updated_at": sql.now_slot()}

    return sql.update_one(("client_seen", with_ip, source), build, values)


@transaction.atomic
def _device_update_client(
    *, mac: str, device_type: str, reported: dict[str, str], ip: str | None, actor: Actor, now: datetime
) -> tuple[Device, bool]:
    devices = Device.objects.filter(mac=mac)
    device = one_or_none(
        devices.annotate(is_overdue=ExpressionWrapper(overdue(now), output_field=BooleanField())).select_for_update(
            of=("self",)
        )
    )
    if device is None:
        raise DeviceConflict()  # taken by a type and serial number: the insert was skipped, no MAC matches
    if device.is_overdue:
        settle(named=Named(pks=(device.pk,)), actor=actor)
        device = devices.get()
    # Read under the lock, by a statement of its own: a report or a transition committed while this one waited
    # has changed the client app, or who manages the device.
    read = devices.annotate(described=_described(actor.source)).select_related("client_app").get()
    info = getattr(read, "client_app", None)
    changes = {}
    if read.described:
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
        _record(device, EventAction.CLIENT_UPDATED, actor=actor, now=now, details=changes)
    return device, False


def _record(device: Device, action: EventAction, *, actor: Actor, now: datetime, details: dict) -> None:
    """The audit event of a change the ORM writes (not a lifecycle transition: those write their own)."""
    recorded = event_values(actor, now)
    DeviceEvent(
        device=device,
        action=action,
        from_status=device.status,
        to_status=device.status,
        source=actor.source,
        actor=recorded["actor"],
        request_id=recorded["request_id"],
        details=details,
        created_at=now,
    ).save(force_insert=True)


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
    locked = one_or_none(Device.objects.filter(**_named(device).identity).select_for_update(of=("self",)))
    if locked is None:
        raise DeviceNotFound()
    values = {k: (v or None) if k in ("mac", "serial_number") else v for k, v in values.items()}
    changes = {k: [getattr(locked, k), v] for k, v in values.items() if getattr(locked, k) != v}
    if changes:
        for key, value in values.items():
            setattr(locked, key, value)
        _save_or_conflict(locked, update_fields=[*changes, "updated_at"])
    changes |= recorded or {}
    if changes:
        _record(locked, EventAction.UPDATED, actor=actor, now=timezone.now(), details=changes)
    return locked


# -- accounts and API keys -------------------------------------------------------------------------------------------


def account_password_validate(*, password: str, account: Account) -> None:
    """Raise ValidationError({"password": [...]}) when Django's password validators refuse it for this account.

    AUTH_PASSWORD_VALIDATORS, and the similarity check on the account's own
    login and name (the configured one looks at a staff user's attributes).
    """
    validators = [*get_default_password_validators(), UserAttributeSimilarityValidator(("login", "name"))]
    try:
        validate_password(password, user=account, password_validators=validators)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


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
    """Create an account; a password (none: no licensing login) must pass account_password_validate."""
    account = Account(login=login, name=name, type=type, role=role, owner=owner, is_vendor=is_vendor)
    if password:
        account_password_validate(password=password, account=account)
    account.set_password(password)
    account.full_clean()
    account.save(force_insert=True)
    return account


def api_key_expiry_validate(*, expires_at: datetime | None) -> None:
    """A new expiry must be in the future: a key born expired would open nothing."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})


@transaction.atomic
def api_key_create(
    *, name: str, scopes: list[str] | None = None, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create an API key (billing alone unless `scopes` says otherwise). Returns it with the full secret,
    which is never stored. Raises ValidationError for an unknown scope or an expiry not in the future."""
    api_key_expiry_validate(expires_at=expires_at)
    prefix, full_key = ApiKey.generate()
    key = ApiKey(name=name, prefix=prefix, secret_hash=ApiKey.hash_secret(full_key), expires_at=expires_at)
    if scopes is not None:
        key.scopes = sorted(set(scopes))
    key.full_clean()
    key.save(force_insert=True)
    return key, full_key


def api_key_update(*, api_key: ApiKey, scopes: list[str], expires_at: datetime | None) -> ApiKey:
    """Change a key's scopes and expiry, and drop it from the authentication cache so the change applies to
    its next request. Raises ValidationError for an unknown scope (an expiry in the past ends the key now)."""
    from devices.authentication import api_key_cache_key

    api_key.scopes, api_key.expires_at = sorted(set(scopes)), expires_at
    api_key.full_clean()
    # A revoked key stays revoked: nothing of it changes, whatever a concurrent revocation left on `api_key`.
    changed = ApiKey.objects.active().filter(pk=api_key.pk).update(scopes=api_key.scopes, expires_at=expires_at)
    if changed:
        _forget_on_commit(api_key_cache_key(api_key.secret_hash))
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Revoke a key and drop it from the authentication cache. Returns False when it was revoked already."""
    from devices.authentication import api_key_cache_key

    revoked = ApiKey.objects.active().filter(pk=api_key.pk).update(revoked_at=timezone.now())
    _forget_on_commit(api_key_cache_key(api_key.secret_hash))
    return bool(revoked)


def _forget_on_commit(cache_key: str) -> None:
    """Drop a key from the authentication cache now and once the change is committed: a request between the two
    would read the old row and cache it again for API_KEY_CACHE_SECONDS."""
    cache.delete(cache_key)
    transaction.on_commit(lambda: cache.delete(cache_key))
