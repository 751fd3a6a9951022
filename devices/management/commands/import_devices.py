from django.db.models import Q
from django.utils import timezone

from devices.choices import DeviceStatus, EventAction
from devices.management.rows import FAILED, UNCHANGED, Row, RowsCommand, parse_mac
from devices.models import Device, DeviceEvent
from devices.services import _initial_status, build_event

# The import accepts the core's names and the billing API's.
STATUS_NAMES = {
    "available": DeviceStatus.AVAILABLE,
    "free": DeviceStatus.AVAILABLE,
    "initializing": DeviceStatus.INITIALIZING,
    "initialization": DeviceStatus.INITIALIZING,
}
# Only these states may be set or changed by an import; the others belong to an owner or a reservation.
SETTABLE = {DeviceStatus.AVAILABLE, DeviceStatus.INITIALIZING}
LIMITS = {"type": 32, "serial_number": 128, "name": 255, "version": 64}


class Command(RowsCommand):
    help = (
        "Register or update devices from a CSV file with the header type,mac,serial_number,name,version[,status]. "
        "A row needs a type and a mac and/or serial_number; an existing device (same mac, or same type and "
        "serial_number) is updated, and empty cells leave its values as they are. status (available or "
        "initializing) sets the state of a new device, or of an existing one that is in one of those states. "
        "Exit 0 when every row succeeded, 1 when some failed, 2 on usage errors."
    )
    required_columns = (("type", "mac"), ("type", "serial_number"))
    columns = ("type", "mac", "serial_number", "name", "version", "status")

    def handle(self, *args, **options):
        self._seen: dict[tuple, int] = {}  # mac or (type, serial) -> the line that named it first
        return super().handle(*args, **options)

    def process_batch(self, rows: list[Row], options: dict) -> None:
        now = timezone.now()
        parsed = {row.line: values for row in rows if (values := self._parse(row)) is not None}
        macs = [v["mac"] for v in parsed.values() if v["mac"]]
        serials = [v["serial_number"] for v in parsed.values() if v["serial_number"]]
        existing = list(
            Device.objects.filter(Q(mac__in=macs) | Q(serial_number__in=serials))
            .order_by("pk")
            .select_for_update(of=("self",))
        )
        by_mac = {d.mac: d for d in existing if d.mac}
        by_serial = {(d.type, d.serial_number): d for d in existing if d.serial_number}

        new: list[tuple[Row, Device]] = []
        updated: list[tuple[Row, Device, dict]] = []
        for row in rows:
            values = parsed.get(row.line)
            if values is None:
                continue
            by_m = by_mac.get(values["mac"]) if values["mac"] else None
            by_s = by_serial.get((values["type"], values["serial_number"])) if values["serial_number"] else None
            if by_m is not None and by_s is not None and by_m.pk != by_s.pk:
                row.fail("mac and serial_number belong to two different devices")
                continue
            device = by_m or by_s
            if device is None:
                device = self._new_device(values, now)
                new.append((row, device))
                row.outcome = "created"
                continue
            if (values["mac"] and device.mac and values["mac"] != device.mac) or (
                values["serial_number"] and device.serial_number and values["serial_number"] != device.serial_number
            ):
                # A MAC or serial number is filled in when missing, never overwritten by a conflicting one.
                row.fail("mac and serial_number belong to two different devices")
                continue
            changes = self._changes(row, device, values, now)
            if row.outcome == FAILED:
                continue
            if not changes:
                row.outcome = UNCHANGED
                continue
            # The new type and serial number may already belong to another device.
            new_type = changes.get("type", (None, device.type))[1]
            new_serial = changes.get("serial_number", (None, device.serial_number))[1]
            clash = by_serial.get((new_type, new_serial)) if new_serial else None
            if clash is not None and clash.pk != device.pk:
                row.fail("another device of that type has this serial_number")
                continue
            for field, (_old, new_value) in changes.items():
                setattr(device, field, new_value)
            device.updated_at = now
            updated.append((row, device, changes))
            row.outcome = "updated"

        actor = self.actor()
        Device.objects.bulk_create([device for _row, device in new])
        if updated:
            fields = sorted({f for _row, _device, changes in updated for f in changes} | {"updated_at"})
            Device.objects.bulk_update([device for _row, device, _changes in updated], fields)
        events = [build_event(device=d, action=EventAction.REGISTERED, actor=actor, now=now) for _r, d in new]
        events += [
            build_event(
                device=d,
                action=EventAction.UPDATED,
                actor=actor,
                from_status=c["status"][0] if "status" in c else "",
                details={k: [str(o) if o else o, str(n) if n else n] for k, (o, n) in c.items()},
                now=now,
            )
            for _r, d, c in updated
        ]
        DeviceEvent.objects.bulk_create(events)

    def _parse(self, row: Row) -> dict | None:
        values = dict(row.values)
        if any("\x00" in value for value in values.values()):
            row.fail("a cell contains a NUL character")
            return None
        values["mac"] = parse_mac(row)
        if row.outcome == FAILED:
            return None
        values["serial_number"] = values.get("serial_number") or None
        if not values.get("type"):
            row.fail("type is required")
            return None
        if not values["mac"] and not values["serial_number"]:
            row.fail("a mac or a serial_number is required")
            return None
        for field, limit in LIMITS.items():
            if len(values.get(field) or "") > limit:
                row.fail(f"{field} is longer than {limit} characters")
                return None
        raw_status = (values.get("status") or "").lower()
        if raw_status and raw_status not in STATUS_NAMES:
            row.fail(f"status {values['status']!r} is not one of {', '.join(sorted(STATUS_NAMES))}")
            return None
        values["status"] = STATUS_NAMES.get(raw_status)
        for key in (("mac", values["mac"]), ("serial", values["type"], values["serial_number"])):
            if key[-1] is None:
                continue
            first = self._seen.setdefault(key, row.line)
            if first != row.line:
                row.fail(f"duplicate: line {first} names the same device")
                return None
        return values

    @staticmethod
    def _new_device(values: dict, now) -> Device:
        status, until = _initial_status(now)
        if values["status"] == DeviceStatus.AVAILABLE:
            status, until = DeviceStatus.AVAILABLE, None
        elif values["status"] == DeviceStatus.INITIALIZING and until is None:
            status, until = DeviceStatus.INITIALIZING, now
        return Device(
            type=values["type"],
            mac=values["mac"],
            serial_number=values["serial_number"],
            name=values.get("name") or "",
            version=values.get("version") or "",
            status=status,
            status_until=until,
            created_at=now,
            updated_at=now,
        )

    @staticmethod
    def _changes(row: Row, device: Device, values: dict, now) -> dict[str, tuple]:
        changes = {}
        for field in ("type", "mac", "serial_number", "name", "version"):
            value = values.get(field)
            if value and getattr(device, field) != value:
                changes[field] = (getattr(device, field), value)
        target = values["status"]
        if target and target != device.status:
            if device.status not in SETTABLE:
                row.fail(f"the device is {device.status}: an import can't change that")
                return {}
            changes["status"] = (device.status, target)
            until = None
            if target == DeviceStatus.INITIALIZING:
                until = _initial_status(now)[1] or now
            changes["status_until"] = (device.status_until, until)
        return changes
