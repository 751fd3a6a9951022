"""Bulk work: lifecycle transitions over sets of devices, and the engine of the CSV commands.

The same transitions as one device gets (devices.services.transition_apply),
with a fixed number of queries per set whatever its size; a device already
where the transition leads is reported unchanged instead of refused.

bulk_run() streams rows in batches: a thread reads and checks the rows ahead
while the database works on the batch before; each batch is loaded into a
temporary table (devices.sql, COPY on PostgreSQL) and applied in its own
transaction with set-based statements, and its rows are handed back as soon
as it ends. Memory stays that of a few batches, whatever the file's size.
"""

import collections
import json
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, OperationalError, connections, transaction
from django.utils import timezone
from django_guid import get_guid

from devices import services, sql
from devices.choices import DeviceStatus, EventAction
from devices.errors import DomainError
from devices.macs import InvalidMac, normalize_mac
from devices.models import Device, DeviceType
from devices.services import Actor, Transition


@dataclass
class BulkOutcome:
    changed: list[Device | sql.Lean] = field(default_factory=list)
    unchanged: list[Device | sql.Lean] = field(default_factory=list)
    failed: dict[int, DomainError] = field(default_factory=dict)


def _apply_many(transition: Transition, pks, *, actor: Actor, **params) -> BulkOutcome:
    named = services.Named(pks=tuple(dict.fromkeys(pks)))
    if not named.pks:
        return BulkOutcome()
    applied = services.transition_apply(transition, named, actor=actor, lean=True, **params)
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


# -- the engine of the CSV commands -----------------------------------------------------------------------------------

FAILED = "failed"
UNCHANGED = "unchanged"
CONFLICT = "conflicts with a concurrent change; nothing in this batch was written, run again"


@dataclass(slots=True)
class Row:
    """One input row: its line, its cells by column, and once its batch ends, its outcome."""

    line: int
    values: dict[str, str]
    outcome: str = ""
    message: str = ""
    parsed: Any = None  # what the operation made of it (Operation.parse)

    def fail(self, message: str) -> None:
        self.outcome, self.message = FAILED, message


class Operation:
    """What bulk_run() does with rows.

    parse() each row (in the reading thread); prepare() each batch, in order, on the run's connection and
    outside any transaction (load it, find what it names, record its names); then apply() it in its own
    transaction, on the run's connection or a worker's.
    """

    def parse(self, row: Row) -> None:
        """Check a row and keep what the batch needs in `row.parsed`, or fail it."""

    def prepare(self, batch: list[Row]) -> Any:
        raise NotImplementedError

    def apply(self, batch: list[Row], prepared: Any, *, actor: Actor, dry_run: bool) -> int:
        """Set every row's outcome; returns the devices it inserted (written: 0 in a dry run)."""
        raise NotImplementedError


class _DryRunRollback(Exception):
    pass


@contextmanager
def _batch_transaction(batch: list[Row], *, dry_run: bool):
    """The batch's transaction: rolled back in a dry run; a unique index broken by a concurrent change (or a
    device changed while the batch read it) writes nothing of the batch and fails its rows, to run again."""
    try:
        with transaction.atomic():
            yield
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    except (IntegrityError, OperationalError) as error:
        if isinstance(error, OperationalError) and not _is_conflict(error):
            raise
        for row in batch:
            if row.outcome != FAILED:
                row.fail(CONFLICT)


def _is_conflict(error: OperationalError) -> bool:
    """A deadlock or serialization failure: another transaction changed the same devices at the same time."""
    return getattr(error.__cause__, "sqlstate", None) in ("40P01", "40001")


_END = object()

# Batches applied at once on PostgreSQL, each by a thread with a connection of its own: the database's work on a
# batch is most of a run's time, and a second connection keeps a second core busy.
BULK_WORKERS = 2


def bulk_run(
    operation: Operation,
    rows: Iterable[Row],
    *,
    actor: Actor,
    batch_size: int,
    dry_run: bool,
    done: Callable[[list[Row]], None],
) -> None:
    """Apply `operation` to `rows`, `batch_size` at a time, each batch in its own transaction.

    A thread reads and parses up to two batches ahead. Each batch is prepared in order on this connection;
    on PostgreSQL outside a transaction, up to BULK_WORKERS batches are then applied at once,
    each by a thread with its own connection (inside a transaction, or on SQLite, they are applied here, one
    after another). `done(batch)` is called as each batch ends, in order, with every row's outcome set; an
    error reading the rows (a bad CSV, bad UTF-8) is raised after the batches before it are done. A dry run
    rolls each batch back; it reports what a real run would (duplicates across batches included: they are
    recorded outside the batches' transactions).
    """
    ahead: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            batch: list[Row] = []
            for row in rows:
                operation.parse(row)
                batch.append(row)
                if len(batch) >= batch_size:
                    if not put(batch):
                        return
                    batch = []
            if batch and not put(batch):
                return
            put(_END)
        except BaseException as error:  # handed to the main thread, which raises it
            put(error)

    workers = BULK_WORKERS if sql.bulk_workers_possible() else 0
    reader = threading.Thread(target=read, name="bulk-reader", daemon=True)
    reader.start()
    pool = _Workers(workers) if workers else None
    pending: collections.deque = collections.deque()

    def finish(batch: list[Row], result) -> None:
        inserted = result.result() if isinstance(result, Future) else result
        done(batch)
        if not dry_run:
            session.inserted += inserted
            sql.bulk_keep_statistics(session)

    try:
        with sql.bulk_session() as session:
            while (item := ahead.get()) is not _END:
                if isinstance(item, BaseException):
                    while pending:
                        finish(*pending.popleft())
                    raise item
                prepared = operation.prepare(item)
                if pool is None:
                    finish(item, operation.apply(item, prepared, actor=actor, dry_run=dry_run))
                    continue
                pending.append((item, pool.submit(operation.apply, item, prepared, actor=actor, dry_run=dry_run)))
                while len(pending) >= workers or (pending and pending[0][1].done()):
                    finish(*pending.popleft())
            while pending:
                finish(*pending.popleft())
    finally:
        stop.set()
        if pool is not None:
            pool.close()
        reader.join()


class _Workers:
    """Threads that apply batches, each with its own database connection, set up for bulk work and closed at the end."""

    def __init__(self, count: int):
        self.jobs: queue.Queue = queue.Queue()
        self.threads = [threading.Thread(target=self._work, name=f"bulk-worker-{i}", daemon=True) for i in range(count)]
        for thread in self.threads:
            thread.start()

    def submit(self, function: Callable, *args, **kwargs) -> Future:
        future: Future = Future()
        self.jobs.put((future, function, args, kwargs))
        return future

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()

    def _work(self) -> None:
        try:
            sql.bulk_worker_session()
            while (job := self.jobs.get()) is not None:
                future, function, args, kwargs = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(function(*args, **kwargs))
                except BaseException as error:  # handed to the main thread, which raises it
                    future.set_exception(error)
        finally:
            connections.close_all()


class DeviceRows(Operation):
    """Rows that name existing devices (a uuid, or a type with a mac and/or serial_number), given to `transition`.

    `transition(pks=..., actor=...)` is a set transition (devices_reserve_many, ...); `label` the outcome of a
    changed row. A device named by an earlier line fails as a duplicate.
    """

    def __init__(self, transition: Callable[..., BulkOutcome], label: str):
        self.transition, self.label = transition, label

    def parse(self, row: Row) -> None:
        raw_uuid = row.values.get("uuid", "")
        if raw_uuid:
            try:
                row.parsed = (row.line, uuid.UUID(raw_uuid), None, None, None)
            except ValueError:
                row.fail(f"invalid uuid {raw_uuid!r}")
            return
        type_ = row.values.get("type", "")
        serial = row.values.get("serial_number", "") or None
        mac = parse_mac(row)
        if row.outcome == FAILED:
            return
        if not type_ or not (mac or serial):
            row.fail("a row needs a uuid, or a type with a mac and/or serial_number")
            return
        row.parsed = (row.line, None, type_, mac, serial)

    def prepare(self, batch: list[Row]) -> dict[int, Row]:
        """Each device the batch names, with its row; rows naming none, or one an earlier line named, fail."""
        rows = {row.line: row for row in batch if row.outcome != FAILED}
        named: dict[int, Row] = {}
        if rows:
            loaded = sql.bulk_load([row.parsed for row in rows.values()])
            # Outside the batch's transaction: a dry run remembers the devices named too.
            found = sql.bulk_named(loaded)
            first = sql.first_lines(found, lambda row: row[4], earlier=5)
            for line, _by_uuid, by_mac, by_serial, device, _earlier in found:
                row = rows[line]
                if device is None:
                    two = by_mac is not None and by_serial is not None and by_mac != by_serial
                    row.fail("mac and serial_number name two different devices" if two else "device not found")
                elif first[line] != line:
                    row.fail(f"duplicate: line {first[line]} names the same device")
                else:
                    named[device] = row
        return named

    def apply(self, batch: list[Row], prepared: dict[int, Row], *, actor: Actor, dry_run: bool) -> int:
        named = dict(prepared)
        with _batch_transaction(batch, dry_run=dry_run):
            outcome = self.transition(pks=list(named), actor=actor)
            for device in outcome.changed:
                named.pop(device.pk).outcome = self.label
            for pk, error in outcome.failed.items():
                named.pop(pk).fail(error.message)
            for row in named.values():
                row.outcome = UNCHANGED
        return 0


class Import(Operation):
    """Rows that register devices or update known ones (same MAC, or same type and serial number).

    Empty cells leave a known device's values as they are; a MAC or serial number is filled in when missing,
    never overwritten; a status is set only where the lifecycle allows (IMPORT_SETTABLE). Known devices are read
    without a lock and written only if unchanged since (the row version); each change has its event.

    A row's type must be declared (DeviceType; the names are read once, when the operation is made). A known
    device's type is changed only with `change_type`; otherwise a row that gives another type fails.
    """

    def __init__(self, *, change_type: bool = False):
        self.change_type = change_type
        self.declared = DeviceType.objects.names()
        self._unknown = {}  # type -> its message, made once per run

    def unknown_type(self, name: str) -> str:
        if name not in self._unknown:
            self._unknown[name] = unknown_type_message(name, self.declared)
        return self._unknown[name]

    def prepare(self, batch: list[Row]) -> dict[int, tuple]:
        """The rows to apply, each with the first lines that gave its MAC and its type and serial number; the
        rows' names recorded (on the run's connection, outside the batch's transaction)."""
        rows = {row.line: row.parsed for row in batch if row.outcome != FAILED}
        if not rows:
            return {}
        loaded = sql.bulk_load([(line, None, e.type, e.mac, e.serial_number) for line, e in rows.items()])
        claimed = sql.bulk_claim_registrations(loaded)
        by_mac = sql.first_lines(claimed, lambda found: rows[found[0]].mac, earlier=1)
        by_serial = sql.first_lines(claimed, lambda found: _serial_key(rows[found[0]]), earlier=2)
        return {line: (by_mac.get(line), by_serial.get(line)) for line in rows}

    def apply(self, batch: list[Row], prepared: dict[int, tuple], *, actor: Actor, dry_run: bool) -> int:
        """Read the devices the rows name (on the connection that applies the batch: no lock, each update guarded
        by the row version read), then write the batch."""
        created = 0
        if prepared:
            rows = {row.line: row for row in batch if row.outcome != FAILED}
            with _batch_transaction(batch, dry_run=dry_run):
                loaded = sql.bulk_load(
                    [
                        (line, None, rows[line].parsed.type, rows[line].parsed.mac, rows[line].parsed.serial_number)
                        for line in prepared
                    ],
                    table=sql.BULK_BATCH,
                )
                found = [(row[0], *prepared[row[0]], *row[1:]) for row in sql.bulk_registrations(loaded)]
                created = self._apply(rows, found, actor=actor)
        return 0 if dry_run or any(row.message == CONFLICT for row in batch) else created

    def _apply(self, rows: dict[int, Row], registrations: list[tuple], *, actor: Actor) -> int:
        now = timezone.now()
        request_id = (get_guid() or "")[:64]
        actor_name = actor.name[:254]
        width = len(sql.IMPORT_READ) + 1
        new: list[tuple[Row, Imported]] = []
        updates, events = [], []
        for found in registrations:
            line, mac_first, serial_first = found[:3]
            by_mac = found[3 : 3 + width] if found[3] is not None else None
            by_serial = found[3 + width : 3 + 2 * width] if found[3 + width] is not None else None
            clash = found[3 + 2 * width]
            row = rows[line]
            entry: Imported = row.parsed
            first = mac_first if entry.mac and mac_first != line else None
            first = first or (serial_first if entry.serial_number and serial_first != line else None)
            if first is not None:
                row.fail(f"duplicate: line {first} names the same device")
                continue
            device = by_mac or by_serial
            if device is None:
                new.append((row, entry))
                continue
            if (by_mac is not None and by_serial is not None and by_mac[0] != by_serial[0]) or (
                (entry.mac and device[3] and entry.mac != device[3])
                or (entry.serial_number and device[4] and entry.serial_number != device[4])
            ):
                row.fail("mac and serial_number belong to two different devices")
                continue
            changes = _import_changes(entry, device, now, change_type=self.change_type)
            if entry.outcome == FAILED:
                row.fail(entry.message)
                continue
            if not changes:
                row.outcome = UNCHANGED
                continue
            if "type" in changes and clash is not None:
                row.fail("another device of that type has this serial_number")
                continue
            written = {
                name: changes[name][1] if name in changes else device[_READ[name]] for name in sql.IMPORT_WRITES[:-1]
            }
            updates.append((device[0], device[-1], *written.values(), now))
            from_status = changes["status"][0] if "status" in changes else device[_READ["status"]]
            details = {k: [str(o) if o else o, str(n) if n else n] for k, (o, n) in changes.items()}
            event = (device[0], EventAction.UPDATED, from_status, written["status"], actor.source, actor_name)
            events.append((*event, request_id, json.dumps(details, cls=DjangoJSONEncoder), now))
            row.outcome = "updated"
        ids = sql.bulk_next_ids(len(new))
        devices = _device_rows(ids, [entry for _row, entry in new], now)
        status_at = _DEVICE_AT["status"]
        for device, (row, _entry) in zip(devices, new, strict=True):
            event = (device[0], EventAction.REGISTERED, "", device[status_at], actor.source, actor_name, request_id)
            events.append((*event, "{}", now))
            row.outcome = "created"
        sql.bulk_insert_devices(devices)
        sql.bulk_update_devices(updates)
        sql.bulk_insert_events(events)
        return len(new)

    def parse(self, row: Row) -> None:
        values = row.values
        if any("\x00" in value for value in values.values()):
            row.fail("a cell contains a NUL character")
            return
        mac = parse_mac(row)
        if row.outcome == FAILED:
            return
        serial = values.get("serial_number") or None
        if not values.get("type"):
            row.fail("type is required")
            return
        if values["type"] not in self.declared:
            row.fail(self.unknown_type(values["type"]))
            return
        if not mac and not serial:
            row.fail("a mac or a serial_number is required")
            return
        for name, limit in IMPORT_LIMITS.items():
            if len(values.get(name) or "") > limit:
                row.fail(f"{name} is longer than {limit} characters")
                return
        raw_status = (values.get("status") or "").lower()
        if raw_status and raw_status not in IMPORT_STATUS_NAMES:
            row.fail(f"status {values['status']!r} is not one of {', '.join(sorted(IMPORT_STATUS_NAMES))}")
            return
        row.parsed = Imported(
            type=values["type"],
            mac=mac,
            serial_number=serial,
            name=values.get("name") or "",
            version=values.get("version") or "",
            status=IMPORT_STATUS_NAMES.get(raw_status),
        )


def unknown_type_message(name: str, declared: frozenset[str]) -> str:
    """What a type that is not declared is told: the declared names (and the declared spelling, if any)."""
    names = sorted(declared, key=str.lower)
    shown = ", ".join(names[:UNKNOWN_TYPE_NAMES]) + (", …" if len(names) > UNKNOWN_TYPE_NAMES else "")
    same = [known for known in names if known.lower() == name.lower()]
    hint = f'; did you mean "{same[0]}"?' if same else ""
    return f'unknown device type "{name}" (declared: {shown or "none"}){hint}'


def _serial_key(entry: "Imported") -> tuple | None:
    return (entry.type, entry.serial_number) if entry.serial_number else None


def parse_mac(row: Row) -> str | None:
    """The row's canonical MAC or None; fails the row on a bad one."""
    raw = row.values.get("mac", "")
    if not raw:
        return None
    try:
        return normalize_mac(raw)
    except InvalidMac as error:
        row.fail(f"invalid mac {raw!r}: {error}")
        return None


# -- importing devices -----------------------------------------------------------------------------------------------

# Only these states may be set or changed by an import; the others belong to an owner or a reservation.
IMPORT_SETTABLE = (DeviceStatus.AVAILABLE, DeviceStatus.INITIALIZING)
IMPORT_FIELDS = ("type", "mac", "serial_number", "name", "version")
# An unknown type's message names at most this many of the declared types.
UNKNOWN_TYPE_NAMES = 30
IMPORT_LIMITS = {"type": 32, "serial_number": 128, "name": 255, "version": 64}
# The import accepts the core's names and the billing API's.
IMPORT_STATUS_NAMES = {
    "available": DeviceStatus.AVAILABLE,
    "free": DeviceStatus.AVAILABLE,
    "initializing": DeviceStatus.INITIALIZING,
    "initialization": DeviceStatus.INITIALIZING,
}


@dataclass(slots=True)
class Imported:
    """One device to register or update: its type and canonical MAC and/or serial number, and what else is known."""

    type: str
    mac: str | None
    serial_number: str | None
    name: str = ""
    version: str = ""
    status: str | None = None  # one of IMPORT_SETTABLE, or None to leave it
    outcome: str = ""  # failed, when the device's state can't take the status
    message: str = ""

    def fail(self, message: str) -> None:
        self.outcome, self.message = FAILED, message


_DEVICE_DEFAULTS = {
    "is_online": False,
    "last_seen_at": None,
    "leave_reserved": False,
    "account_id": None,
    "activated_at": None,
    "is_banned": False,
    "ban_reason": "",
    "banned_at": None,
    "banned_by": "",
}
_DEVICE_AT = {column: index for index, column in enumerate(sql.DEVICE_COLUMNS)}
_READ = {name: index for index, name in enumerate(sql.IMPORT_READ)}


def _device_rows(ids: list[int], entries: list[Imported], now) -> list[list]:
    """The new devices' rows (every column, sql.DEVICE_COLUMNS), with the status each entry asks for."""
    status, until = services.initial_status(now)
    statuses = {
        None: (status, until),
        DeviceStatus.AVAILABLE: (DeviceStatus.AVAILABLE, None),
        DeviceStatus.INITIALIZING: (DeviceStatus.INITIALIZING, until or now),
    }
    template = [_DEVICE_DEFAULTS.get(column) for column in sql.DEVICE_COLUMNS]
    template[_DEVICE_AT["created_at"]] = template[_DEVICE_AT["updated_at"]] = now
    at = [_DEVICE_AT[c] for c in ("id", "uuid", "type", "mac", "serial_number", "name", "version")]
    status_at, until_at = _DEVICE_AT["status"], _DEVICE_AT["status_until"]
    # Version 4 UUIDs from one read of the system's random source, as hex (what the uuid column reads).
    random = os.urandom(16 * len(ids)).hex()
    rows = []
    for index, (pk, entry) in enumerate(zip(ids, entries, strict=True)):
        raw = random[32 * index : 32 * index + 32]
        uuid_hex = f"{raw[:12]}4{raw[13:16]}{'89ab'[int(raw[16], 16) & 3]}{raw[17:]}"
        row = template.copy()
        for position, value in zip(
            at, (pk, uuid_hex, entry.type, entry.mac, entry.serial_number, entry.name, entry.version), strict=True
        ):
            row[position] = value
        row[status_at], row[until_at] = statuses[entry.status]
        rows.append(row)
    return rows


def _import_changes(entry: Imported, device: tuple, now, *, change_type: bool) -> dict[str, tuple]:
    """What an entry changes of a known device (a row of sql.IMPORT_READ): field -> (old, new). Another type
    fails the entry unless `change_type`."""
    changes = {}
    for name in IMPORT_FIELDS:
        value = getattr(entry, name)
        if value and device[_READ[name]] != value:
            changes[name] = (device[_READ[name]], value)
    if "type" in changes and not change_type:
        old, new = changes["type"]
        entry.fail(f'the device\'s type is "{old}", not "{new}": a type changes only when asked (--change-type)')
        return {}
    status = device[_READ["status"]]
    if entry.status and entry.status != status:
        if status not in IMPORT_SETTABLE:
            entry.fail(f"the device is {status}: an import can't change that")
            return {}
        changes["status"] = (status, entry.status)
        until = services.initial_status(now)[1] or now if entry.status == DeviceStatus.INITIALIZING else None
        changes["status_until"] = (device[_READ["status_until"]], until)
    return changes
