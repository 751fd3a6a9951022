"""Lifecycle transitions over sets of devices, for commands and admin actions.

The same transitions as one device gets (devices.services.transition_apply),
with a fixed number of queries per set whatever its size; a device already
where the transition leads is reported unchanged instead of refused.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from devices import services
from devices.choices import DeviceStatus, EventAction
from devices.errors import DomainError
from devices.models import Device, DeviceEvent
from devices.services import Actor, Transition


@dataclass
class BulkOutcome:
    changed: list[Device] = field(default_factory=list)
    unchanged: list[Device] = field(default_factory=list)
    failed: dict[int, DomainError] = field(default_factory=dict)


def _apply_many(transition: Transition, pks, *, actor: Actor, **params) -> BulkOutcome:
    named = services.Named(pks=tuple(dict.fromkeys(pks)))
    applied = services.transition_apply(transition, named, actor=actor, **params)
    outcome = BulkOutcome(changed=[changed.device for changed in applied.changed])
    for device in applied.refused:
        if transition.done(device):
            outcome.unchanged.append(device)
        else:
            outcome.failed[device.pk] = transition.refusal(device, **params)
    return outcome


def devices_reserve_many(*, pks, actor: Actor) -> BulkOutcome:
    """Reserve available devices; already reserved ones are unchanged, others fail with their state's error."""
    return _apply_many(services.RESERVE, pks, actor=actor)


def devices_unreserve_many(*, pks, actor: Actor) -> BulkOutcome:
    """Make reserved devices available; available ones are unchanged, others fail."""
    return _apply_many(services.UNRESERVE, pks, actor=actor)


def devices_ban_many(*, pks, reason: str, actor: Actor) -> BulkOutcome:
    """Ban devices; already banned ones keep their ban (and its reason) unchanged. Raises BanReasonMissing."""
    reason = services.ban_reason_clean(reason)
    return _apply_many(services.BAN, pks, actor=actor, reason=reason, banned_by=actor.name[:150])


def devices_deactivate_many(*, pks, actor: Actor, leave_reserved: bool = False) -> BulkOutcome:
    """Start the deactivation of active devices; those deactivating already are unchanged, others fail.

    With DEVICE_DEACTIVATION_SECONDS 0 the deactivations end in the same transaction.
    """
    until = timezone.now() + timedelta(seconds=settings.DEVICE_DEACTIVATION_SECONDS)
    with transaction.atomic():
        outcome = _apply_many(services.DEACTIVATE, pks, actor=actor, until=until, leave_reserved=leave_reserved)
        if outcome.changed and settings.DEVICE_DEACTIVATION_SECONDS <= 0:
            ended = services.settle(named=services.Named(pks=tuple(d.pk for d in outcome.changed)), actor=actor)
            outcome.changed = [c.device for c in ended]
    return outcome


def devices_unban_many(*, pks, actor: Actor) -> BulkOutcome:
    """Lift bans; devices that are not banned are unchanged."""
    return _apply_many(services.UNBAN, pks, actor=actor)


Settled = tuple[int, str, str, str]  # device id, uuid, from status, to status


def transitions_process(*, actor: Actor, batch_size: int = 1000, dry_run: bool = False) -> list[Settled]:
    """Complete every overdue initialization and deactivation, one transaction per batch.

    Rows locked by a request are skipped: that request completes them itself.
    Returns the transitions made; with dry_run, the ones that would be (read,
    nothing locked or written).
    """
    overdue = Device.objects.overdue(timezone.now()).order_by("pk")
    if dry_run:
        due = overdue.annotate(to_status=services.overdue_to_status())
        return [(d.pk, str(d.uuid), d.status, d.to_status) for d in due.only("pk", "uuid", "status").iterator()]
    done: list[Settled] = []
    while True:
        with transaction.atomic():
            batch = overdue.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)
            pks = tuple(batch[:batch_size])
            if not pks:
                return done
            settled = services.settle(named=services.Named(pks=pks), actor=actor)
            done.extend((c.device.pk, str(c.device.uuid), c.from_status, c.device.status) for c in settled)


# -- importing devices -----------------------------------------------------------------------------------------------

# Only these states may be set or changed by an import; the others belong to an owner or a reservation.
IMPORT_SETTABLE = (DeviceStatus.AVAILABLE, DeviceStatus.INITIALIZING)
IMPORT_FIELDS = ("type", "mac", "serial_number", "name", "version")


@dataclass
class Imported:
    """One device to register or update: its type and canonical MAC and/or serial number, and what else is known."""

    type: str
    mac: str | None
    serial_number: str | None
    name: str = ""
    version: str = ""
    status: str | None = None  # one of IMPORT_SETTABLE, or None to leave it
    outcome: str = ""  # created, updated, unchanged, or failed
    message: str = ""

    def fail(self, message: str) -> None:
        self.outcome, self.message = "failed", message


@transaction.atomic(savepoint=False)
def devices_import_many(entries: list[Imported], *, actor: Actor) -> None:
    """Register new devices and update known ones (same MAC, or same type and serial number), setting each outcome.

    Empty values leave a known device's as they are; a MAC or serial number
    is filled in when missing, never overwritten. Locks the known devices;
    a fixed number of queries per call, whatever its size.
    """
    now = timezone.now()
    macs = [e.mac for e in entries if e.mac]
    serials = [e.serial_number for e in entries if e.serial_number]
    existing = list(
        Device.objects.filter(Q(mac__in=macs) | Q(serial_number__in=serials))
        .order_by("pk")
        .select_for_update(of=("self",))
    )
    by_mac = {d.mac: d for d in existing if d.mac}
    by_serial = {(d.type, d.serial_number): d for d in existing if d.serial_number}
    new: list[Device] = []
    updated: list[tuple[Device, dict]] = []
    for entry in entries:
        by_m = by_mac.get(entry.mac) if entry.mac else None
        by_s = by_serial.get((entry.type, entry.serial_number)) if entry.serial_number else None
        device = by_m or by_s
        if (by_m is not None and by_s is not None and by_m.pk != by_s.pk) or (
            device is not None
            and (
                (entry.mac and device.mac and entry.mac != device.mac)
                or (entry.serial_number and device.serial_number and entry.serial_number != device.serial_number)
            )
        ):
            entry.fail("mac and serial_number belong to two different devices")
            continue
        if device is None:
            new.append(_new_device(entry, now))
            entry.outcome = "created"
            continue
        changes = _import_changes(entry, device, now)
        if entry.outcome == "failed":
            continue
        if not changes:
            entry.outcome = "unchanged"
            continue
        new_type = changes.get("type", (None, device.type))[1]
        new_serial = changes.get("serial_number", (None, device.serial_number))[1]
        clash = by_serial.get((new_type, new_serial)) if new_serial else None
        if clash is not None and clash.pk != device.pk:
            entry.fail("another device of that type has this serial_number")
            continue
        for name, (_old, value) in changes.items():
            setattr(device, name, value)
        device.updated_at = now
        updated.append((device, changes))
        entry.outcome = "updated"
    Device.objects.bulk_create(new)
    if updated:
        fields = sorted({name for _device, changes in updated for name in changes} | {"updated_at"})
        Device.objects.bulk_update([device for device, _changes in updated], fields)
    events = [
        services.audit_event(d, EventAction.REGISTERED, actor=actor, now=now, details={}, from_status="") for d in new
    ]
    events += [
        services.audit_event(
            d,
            EventAction.UPDATED,
            actor=actor,
            now=now,
            from_status=c["status"][0] if "status" in c else d.status,
            details={k: [str(o) if o else o, str(n) if n else n] for k, (o, n) in c.items()},
        )
        for d, c in updated
    ]
    DeviceEvent.objects.bulk_create(events)


def _new_device(entry: Imported, now) -> Device:
    status, until = services.initial_status(now)
    if entry.status == DeviceStatus.AVAILABLE:
        status, until = DeviceStatus.AVAILABLE, None
    elif entry.status == DeviceStatus.INITIALIZING and until is None:
        status, until = DeviceStatus.INITIALIZING, now
    return Device(
        type=entry.type,
        mac=entry.mac,
        serial_number=entry.serial_number,
        name=entry.name,
        version=entry.version,
        status=status,
        status_until=until,
        created_at=now,
        updated_at=now,
    )


def _import_changes(entry: Imported, device: Device, now) -> dict[str, tuple]:
    changes = {}
    for name in IMPORT_FIELDS:
        value = getattr(entry, name)
        if value and getattr(device, name) != value:
            changes[name] = (getattr(device, name), value)
    if entry.status and entry.status != device.status:
        if device.status not in IMPORT_SETTABLE:
            entry.fail(f"the device is {device.status}: an import can't change that")
            return {}
        changes["status"] = (device.status, entry.status)
        until = services.initial_status(now)[1] or now if entry.status == DeviceStatus.INITIALIZING else None
        changes["status_until"] = (device.status_until, until)
    return changes
