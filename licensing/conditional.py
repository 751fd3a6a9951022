"""A license activation in one statement, for the common case (PostgreSQL).

The common case of an activation by key is a key that exists, is usable,
has a free activation and belongs to no account or to one that may own
devices. Then one statement takes the activation (`UPDATE ... SET
activations_count = activations_count + 1 WHERE activations_count <
max_activations`) and, in data-modifying CTEs, writes the device, its audit
event and the session: one round trip instead of a transaction of six.
Concurrent activations of one key never exceed max_activations: PostgreSQL
re-checks the WHERE on the newest version of a row another transaction has
just updated (READ COMMITTED).

When the UPDATE matches nothing, nothing is written and the caller takes its
locking path, which finds out why and answers as it always has.
"""

from datetime import datetime

from django.db import connection

from devices import conditional
from devices.models import Account, Device, DeviceEvent
from licensing.models import License, LicenseSession

# Whether these statements apply: on PostgreSQL only, as those of devices.conditional.
available = conditional.available


def activate_by_key(*, key: str, device: Device, event: DeviceEvent, session: LicenseSession, now: datetime):
    """Activate the license with this key (as sent, or upper-case) if the common case holds.

    `device`, `event` and `session` are unsaved; the statement fills in their
    license, account, name and ids (the device is named after the key as
    stored, and the event's details name it). Returns the saved session with
    its license and device, or None when nothing matched or the database is
    not PostgreSQL.
    """
    if not available():
        return None
    quote = connection.ops.quote_name
    licenses, accounts = quote(License._meta.db_table), quote(Account._meta.db_table)
    insert_device, device_params = conditional.insert_select(
        device, computed={"account_id": "license.account_id", "name": "license.key"}
    )
    insert_event, event_params = conditional.insert_select(
        event, computed={"device_id": "device.id", "details": "jsonb_build_object('license', license.key)"}
    )
    insert_session, session_params = conditional.insert_select(
        session, computed={"license_id": "license.id", "device_id": "device.id"}
    )
    license_columns = ", ".join(f"license.{quote(field.column)}" for field in License._meta.concrete_fields)
    # Identifiers come from the models; every value is a parameter. The key is found as the locking path
    # finds it: as sent or upper-case, the newest license when both exist.
    sql = f"""
        WITH license AS (
            UPDATE {licenses} AS license SET activations_count = license.activations_count + 1
            WHERE license.id = (SELECT id FROM {licenses} WHERE key IN (%s, %s) ORDER BY id DESC LIMIT 1)
                AND license.revoked_at IS NULL AND (license.expires_at IS NULL OR license.expires_at > %s)
                AND license.activations_count < license.max_activations
                AND (license.account_id IS NULL OR EXISTS (
                    SELECT 1 FROM {accounts} AS account
                    WHERE account.id = license.account_id AND account.status = 'active'
                        AND account.deleted_at IS NULL
                ))
            RETURNING license.*
        ), device AS (
            {insert_device} FROM license RETURNING id
        ), event AS (
            {insert_event} FROM device, license
        ), session AS (
            {insert_session} FROM device, license
        )
        SELECT device.id, {license_columns} FROM device, license
    """  # noqa: S608
    params = [key, key.upper(), now, *device_params, *event_params, *session_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    license = conditional.instance_from_row(License, row[1:])
    device.pk, device.account_id, device.name = row[0], license.account_id, license.key
    event.device = device
    session.license, session.device = license, device
    for saved in (device, event, session):
        saved._state.adding, saved._state.db = False, connection.alias
    return session


def session_validated(*, session_id, now: datetime, stale_before: datetime) -> LicenseSession | None:
    """The session with its license and device, its validation recorded if the last is older than `stale_before`.

    One statement (PostgreSQL only): the read, and the heartbeat UPDATE as a
    data-modifying CTE, which runs whether or not the read uses it. The
    session is returned as it was before this validation; None when there is
    no such session.
    """
    quote = connection.ops.quote_name
    models = (LicenseSession, License, Device)
    tables = dict(zip(("session", "license", "device"), (quote(model._meta.db_table) for model in models), strict=True))
    columns = ", ".join(
        f"{alias}.{quote(field.column)}"
        for alias, model in zip(tables, models, strict=True)
        for field in model._meta.concrete_fields
    )
    # Identifiers come from the models; every value is a parameter.
    sql = f"""
        WITH heartbeat AS (
            UPDATE {tables["session"]} SET last_validated_at = %s
            WHERE id = %s AND (last_validated_at IS NULL OR last_validated_at < %s)
        )
        SELECT {columns}
        FROM {tables["session"]} AS session
        JOIN {tables["license"]} AS license ON license.id = session.license_id
        JOIN {tables["device"]} AS device ON device.id = session.device_id
        WHERE session.id = %s
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, session_id, stale_before, session_id])
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for model in models:
        width = len(model._meta.concrete_fields)
        instances.append(conditional.instance_from_row(model, row[start : start + width]))
        start += width
    session, session.license, session.device = instances
    return session
