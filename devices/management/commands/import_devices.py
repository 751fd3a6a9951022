from devices.bulk import Imported, devices_import_many
from devices.choices import DeviceStatus
from devices.management.rows import FAILED, Row, RowsCommand, parse_mac

# The import accepts the core's names and the billing API's.
STATUS_NAMES = {
    "available": DeviceStatus.AVAILABLE,
    "free": DeviceStatus.AVAILABLE,
    "initializing": DeviceStatus.INITIALIZING,
    "initialization": DeviceStatus.INITIALIZING,
}
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
        entries = {row.line: entry for row in rows if (entry := self._parse(row)) is not None}
        devices_import_many(list(entries.values()), actor=self.actor())
        for row in rows:
            entry = entries.get(row.line)
            if entry is not None:
                row.outcome, row.message = entry.outcome, entry.message

    def _parse(self, row: Row) -> Imported | None:
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
        return Imported(
            type=values["type"],
            mac=values["mac"],
            serial_number=values["serial_number"],
            name=values.get("name") or "",
            version=values.get("version") or "",
            status=values["status"],
        )
