"""Set-based versions of the lifecycle services, for commands and admin actions.

Same rules as devices.services, but a batch of devices is locked, checked,
updated and audited with a fixed number of queries, whatever its size.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from devices.choices import DeviceStatus, EventAction
from devices.errors import DeviceBanned, DeviceNotReserved, DomainError
from devices.models import Device, DeviceEvent
from devices.services import _TRANSITION_FIELDS, Actor, _finish_transition, _is_overdue, _require_status, build_event
from devices.signals import device_ownership_ended


@dataclass
class BulkOutcome:
    changed: list[Device] = field(default_factory=list)
    unchanged: list[Device] = field(default_factory=list)
    failed: dict[int, DomainError] = field(default_factory=dict)


def settle_many(devices: list[Device], *, actor: Actor, now) -> None:
    """Complete the overdue transient states among locked devices: one UPDATE, one INSERT."""
    overdue = [d for d in devices if _is_overdue(d, now)]
    if not overdue:
        return
    events, ended = [], []
    for device in overdue:
        from_status = device.status
        action = _finish_transition(device)
        device.updated_at = now
        if action == EventAction.DEACTIVATION_FINISHED:
            ended.append(device.pk)
        events.append(build_event(device=device, action=action, actor=actor, from_status=from_status, now=now))
    Device.objects.bulk_update(overdue, _TRANSITION_FIELDS)
    if ended:
        device_ownership_ended.send(sender=Device, device_ids=ended)
    DeviceEvent.objects.bulk_create(events)


def lock_many(pks, *, actor: Actor, now) -> list[Device]:
    """Lock devices in primary-key order (no deadlock between two batches) and settle them."""
    devices = list(Device.objects.filter(pk__in=list(pks)).order_by("pk").select_for_update(of=("self",)))
    settle_many(devices, actor=actor, now=now)
    return devices


def _apply(outcome: BulkOutcome, *, actor: Actor, now, action: EventAction, values: dict, details=None) -> None:
    if not outcome.changed:
        return
    from_statuses = {d.pk: d.status for d in outcome.changed}
    Device.objects.filter(pk__in=[d.pk for d in outcome.changed]).update(**values, updated_at=now)
    for device in outcome.changed:
        for key, value in values.items():
            setattr(device, key, value)
    DeviceEvent.objects.bulk_create(
        build_event(device=d, action=action, actor=actor, from_status=from_statuses[d.pk], details=details, now=now)
        for d in outcome.changed
    )


@transaction.atomic
def devices_reserve_many(*, pks, actor: Actor) -> BulkOutcome:
    """Reserve available devices; already reserved ones are unchanged, others fail with their state's error."""
    now = timezone.now()
    outcome = BulkOutcome()
    for device in lock_many(pks, actor=actor, now=now):
        if device.status == DeviceStatus.RESERVED:
            outcome.unchanged.append(device)
            continue
        try:
            if device.is_banned:
                raise DeviceBanned()
            _require_status(device, DeviceStatus.AVAILABLE, otherwise=DeviceNotReserved)
        except DomainError as error:
            outcome.failed[device.pk] = error
        else:
            outcome.changed.append(device)
    _apply(outcome, actor=actor, now=now, action=EventAction.RESERVED, values={"status": DeviceStatus.RESERVED})
    return outcome


@transaction.atomic
def devices_unreserve_many(*, pks, actor: Actor) -> BulkOutcome:
    """Make reserved devices available; available ones are unchanged, others fail."""
    now = timezone.now()
    outcome = BulkOutcome()
    for device in lock_many(pks, actor=actor, now=now):
        if device.status == DeviceStatus.AVAILABLE:
            outcome.unchanged.append(device)
            continue
        try:
            _require_status(device, DeviceStatus.RESERVED, otherwise=DeviceNotReserved)
        except DomainError as error:
            outcome.failed[device.pk] = error
        else:
            outcome.changed.append(device)
    _apply(outcome, actor=actor, now=now, action=EventAction.UNRESERVED, values={"status": DeviceStatus.AVAILABLE})
    return outcome


@transaction.atomic
def devices_ban_many(*, pks, reason: str, actor: Actor) -> BulkOutcome:
    """Ban devices; already banned ones keep their ban (and its reason) unchanged."""
    now = timezone.now()
    outcome = BulkOutcome()
    for device in lock_many(pks, actor=actor, now=now):
        (outcome.unchanged if device.is_banned else outcome.changed).append(device)
    reason = reason[:255]
    values = {"is_banned": True, "ban_reason": reason, "banned_at": now, "banned_by": actor.name[:150]}
    _apply(outcome, actor=actor, now=now, action=EventAction.BANNED, values=values, details={"reason": reason})
    return outcome


@transaction.atomic
def devices_unban_many(*, pks, actor: Actor) -> BulkOutcome:
    """Lift bans; devices that are not banned are unchanged."""
    now = timezone.now()
    outcome = BulkOutcome()
    for device in lock_many(pks, actor=actor, now=now):
        (outcome.changed if device.is_banned else outcome.unchanged).append(device)
    values = {"is_banned": False, "ban_reason": "", "banned_at": None, "banned_by": ""}
    _apply(outcome, actor=actor, now=now, action=EventAction.UNBANNED, values=values)
    return outcome


Transition = tuple[int, str, str, str]  # device id, uuid, from status, to status


def transitions_process(*, actor: Actor, batch_size: int = 1000, dry_run: bool = False) -> list[Transition]:
    """Complete every overdue initialization and deactivation, one transaction per batch.

    Rows locked by a request are skipped: that request completes them itself.
    Returns the transitions made; with dry_run, the ones that would be.
    """
    now = timezone.now()
    overdue = Device.objects.overdue(now).order_by("pk")
    if dry_run:
        return [
            (d.pk, str(d.uuid), d.status, _next_status(d))
            for d in overdue.only("pk", "uuid", "status", "leave_reserved").iterator()
        ]
    done: list[Transition] = []
    while True:
        with transaction.atomic():
            batch = list(overdue.select_for_update(skip_locked=True, of=("self",))[:batch_size])
            if not batch:
                return done
            before = [(d.pk, str(d.uuid), d.status) for d in batch]
            settle_many(batch, actor=actor, now=now)
            done.extend((pk, uid, status, d.status) for (pk, uid, status), d in zip(before, batch, strict=True))


def _next_status(device: Device) -> str:
    if device.status == DeviceStatus.DEACTIVATING and device.leave_reserved:
        return DeviceStatus.RESERVED
    return DeviceStatus.AVAILABLE
