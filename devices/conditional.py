"""Lifecycle changes in one conditional statement, for the hot protocol paths (PostgreSQL).

The common case of a reserve or an activation is a device already in the
state the operation expects. Then the change is one `UPDATE ... WHERE <the
state is right>` with its audit event inserted by the same statement (a
data-modifying CTE): one round trip instead of a transaction of five, atomic
on its own, and safe under concurrency because PostgreSQL re-checks the WHERE
on the newest version of a row another transaction has just changed (READ
COMMITTED), so of two concurrent requests exactly one matches.

When no row matches, the caller takes its locking path, which finds out why
(no such device, another state, a transient state to complete first) and
answers as it always has. On other databases (the embedded SQLite of `make
run`) the locking path is the only one.
"""

import json
import uuid
from datetime import datetime

from django.db import connection

from devices.models import Device, DeviceEvent
from devices.selectors import DeviceRef

_FIELDS = Device._meta.concrete_fields
_COLUMNS = ", ".join(connection.ops.quote_name(field.column) for field in _FIELDS)
_ATTNAMES = [field.attname for field in _FIELDS]
_EVENT_COLUMNS = ("device_id", "action", "from_status", "to_status", "source", "actor", "request_id", "details")


def available() -> bool:
    return connection.vendor == "postgresql"


def _where(device: "Device | DeviceRef | uuid.UUID | int") -> tuple[str, list] | None:
    """The WHERE naming this device, as the locking path's lookup would; None when it names none."""
    if isinstance(device, DeviceRef):
        if not device.mac and not device.serial_number:
            return None
        parts, params = ["type = %s"], [device.type]
        if device.mac:
            parts.append("mac = %s")
            params.append(device.mac)
        if device.serial_number:
            parts.append("serial_number = %s")
            params.append(device.serial_number)
        return " AND ".join(parts), params
    if isinstance(device, uuid.UUID):
        return "uuid = %s", [device]
    if isinstance(device, Device):
        return "id = %s", [device.pk]
    if isinstance(device, int):
        return "id = %s", [device]
    return None


def transition(
    device: "Device | DeviceRef | uuid.UUID | int",
    *,
    expected_status: str,
    values: dict[str, object],
    event: DeviceEvent,
    now: datetime,
) -> Device | None:
    """Set `values` (model attribute names) on the device if it is in `expected_status` and not banned.

    Writes `event` (unsaved; its device is filled in) in the same statement.
    Returns the changed device, or None when nothing matched or the database
    is not PostgreSQL: the caller then takes its locking path.
    """
    if not available():
        return None
    where = _where(device)
    if where is None:
        return None
    where_sql, where_params = where
    assignments = {**values, "updated_at": now}
    quote = connection.ops.quote_name
    set_sql = ", ".join(f"{quote(Device._meta.get_field(name).column)} = %s" for name in assignments)
    # Identifiers come from the models; every value is a parameter.
    sql = f"""
        WITH changed AS (
            UPDATE {quote(Device._meta.db_table)} SET {set_sql}
            WHERE {where_sql} AND status = %s AND NOT is_banned
            RETURNING {_COLUMNS}
        ), logged AS (
            INSERT INTO {quote(DeviceEvent._meta.db_table)} ({", ".join(_EVENT_COLUMNS)}, created_at)
            SELECT id, %s, %s, %s, %s, %s, %s, %s::jsonb, %s FROM changed
        )
        SELECT {_COLUMNS} FROM changed
    """  # noqa: S608
    params = [
        *assignments.values(),
        *where_params,
        expected_status,
        event.action,
        event.from_status,
        event.to_status,
        event.source,
        event.actor,
        event.request_id,
        json.dumps(event.details),
        event.created_at,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return Device.from_db(connection.alias, _ATTNAMES, row)
