"""Writes in one conditional statement, for the hot protocol paths (PostgreSQL).

The common case of a reserve or an activation is a device already in the
state the operation expects. Then the change is one `UPDATE ... WHERE <the
state is right>` with its audit event inserted by the same statement (a
data-modifying CTE): one round trip instead of a transaction of five, atomic
on its own, and safe under concurrency because PostgreSQL re-checks the WHERE
on the newest version of a row another transaction has just changed (READ
COMMITTED), so of two concurrent requests exactly one matches. Likewise a
client app reporting what it reported before only marks its device seen.

When no row matches, the caller takes its locking path, which finds out why
(no such device, another state, a transient state to complete first) and
answers as it always has. On other databases (the embedded SQLite of `make
run`) the locking path is the only one.

`insert_select` and `instance_from_row` also serve the one-statement paths of
licensing and MOR, which insert rows in data-modifying CTEs and read them back.
"""

import functools
import json
import uuid
from datetime import datetime

from django.db import connection
from django.db.models import Model

from devices.choices import TRANSIENT_STATUSES
from devices.models import Account, ClientAppInfo, Device, DeviceEvent
from devices.selectors import DeviceRef, device_identity

_FIELDS = Device._meta.concrete_fields
_ACCOUNT_FIELDS = Account._meta.concrete_fields
_EVENT_COLUMNS = ("device_id", "action", "from_status", "to_status", "source", "actor", "request_id", "details")


def available() -> bool:
    return connection.vendor == "postgresql"


def _identity(device: "Device | DeviceRef | uuid.UUID | int") -> tuple[tuple[str, ...], list] | None:
    """The fields naming this device, as the locking path's lookup does, and their values; None when it names none."""
    identity = device_identity(device)
    if not identity:
        return None
    return tuple(identity), list(identity.values())


def instance_from_row(model: type[Model], row) -> Model:
    """An instance of `model` from a row of all its concrete columns, read as the ORM reads them."""
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(model._meta.concrete_fields, row, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in model._meta.concrete_fields], values)


def insert_select(instance, *, computed: dict[str, str]) -> tuple[str, list]:
    """`INSERT INTO <table> (<columns>) SELECT <values>` of an unsaved instance, for a data-modifying CTE.

    Each value is a parameter, prepared as save() would write it (defaults and
    auto_now included), except the fields in `computed` (attribute name: an SQL
    expression over the statement's other CTEs). An automatic primary key is
    left to the database. The caller adds FROM and RETURNING.
    """
    return insert_select_sql(type(instance), computed), insert_select_params(instance, computed)


def insert_select_sql(model, computed: dict[str, str]) -> str:
    """The statement of insert_select(), which depends only on the model and `computed`."""
    return _insert_select(model, tuple(computed.items()))[0]


def insert_select_params(instance, computed: dict[str, str]) -> list:
    """The parameters of insert_select(), in order."""
    bound = _insert_select(type(instance), tuple(computed.items()))[1]
    return [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in bound]


@functools.lru_cache(maxsize=64)
def _insert_select(model, computed: tuple[tuple[str, str], ...]):
    """The INSERT of insert_select() and the fields its parameters are, in order; built once per shape."""
    quote, expressions = connection.ops.quote_name, dict(computed)
    columns, values, bound = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.attname not in expressions and not field.has_default():
            continue  # an automatic key: the database numbers the row
        columns.append(quote(field.column))
        if field.attname in expressions:
            values.append(expressions[field.attname])
        else:
            values.append("%s")
            bound.append(field)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) SELECT {', '.join(values)}"
    return sql, bound


def _returning_device(sql: str, params: list) -> Device | None:
    """Run a statement that returns at most one device row (all of _FIELDS, in order)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else instance_from_row(Device, row)


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
    changed = _transition(device, expected_status=expected_status, values=values, event=event, now=now)
    return None if changed is None else changed[0]


def transition_to_owner(
    device: "Device | DeviceRef | uuid.UUID | int",
    *,
    login: str,
    expected_status: str,
    values: dict[str, object],
    event: DeviceEvent,
    now: datetime,
    also_select: tuple[str, ...] = (),
) -> tuple[Device, tuple] | None:
    """`transition`, also giving the device to the active account with this login (any letter case).

    The account is looked up in the same statement, set on the returned
    device, and its login added to the event's details as `account`.
    `also_select` are SQL expressions over the changed row (`changed`), read
    by the same statement: their values come back with the device. None when
    the account or the device doesn't match: the caller then finds out
    which, on its locking path.
    """
    return _transition(
        device, expected_status=expected_status, values=values, event=event, now=now, login=login, also=also_select
    )


def _transition(device, *, expected_status, values, event, now, login: str | None = None, also: tuple[str, ...] = ()):
    if not available():
        return None
    identity = _identity(device)
    if identity is None:
        return None
    identity_names, identity_values = identity
    assignments = {**values, "updated_at": now}
    sql = _transition_sql(identity_names, tuple(assignments), with_owner=login is not None, also=also)
    params = [
        *([] if login is None else [login.strip().lower()]),
        *assignments.values(),
        *identity_values,
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
    changed = instance_from_row(Device, row[: len(_FIELDS)])
    if login is None:
        return changed, ()
    account_end = len(_FIELDS) + len(_ACCOUNT_FIELDS)
    changed.account = instance_from_row(Account, row[len(_FIELDS) : account_end])
    return changed, tuple(row[account_end:])


@functools.lru_cache(maxsize=64)
def _transition_sql(identity: tuple[str, ...], assigned: tuple[str, ...], *, with_owner: bool, also: tuple[str, ...]):
    """The statement of a transition; it depends only on the names involved, so each shape is built once."""
    quote = connection.ops.quote_name
    meta = Device._meta
    devices, accounts = quote(meta.db_table), quote(Account._meta.db_table)
    where = " AND ".join(
        f"{devices}.{quote(meta.pk.column if name == 'pk' else meta.get_field(name).column)} = %s" for name in identity
    )
    set_sql = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in assigned)
    returning = ", ".join(f"{devices}.{quote(field.column)}" for field in _FIELDS)
    owner_sql, details_sql, owner_from, selected = "", "%s::jsonb", "", "changed.*"
    if with_owner:
        # The same lookup as accounts_by_login(): LOWER(login), served by its unique index.
        owner_sql = f"""
            owner AS MATERIALIZED (
                SELECT * FROM {accounts}
                WHERE LOWER(login) = %s AND status = 'active' AND deleted_at IS NULL
            ),"""  # noqa: S608
        set_sql += f", {quote(meta.get_field('account').column)} = owner.id"
        details_sql = "%s::jsonb || jsonb_build_object('account', owner.login)"
        owner_from = ", owner"
        selected += "".join(f", owner.{quote(field.column)}" for field in _ACCOUNT_FIELDS)
    selected += "".join(f", {expression}" for expression in also)
    # Identifiers come from the models; every value is a parameter.
    return f"""
        WITH {owner_sql} changed AS (
            UPDATE {devices} SET {set_sql} {"FROM owner" if with_owner else ""}
            WHERE {where} AND {devices}.status = %s AND NOT {devices}.is_banned
            RETURNING {returning}
        ), logged AS (
            INSERT INTO {quote(DeviceEvent._meta.db_table)} ({", ".join(_EVENT_COLUMNS)}, created_at)
            SELECT changed.id, %s, %s, %s, %s, %s, %s, {details_sql}, %s
            FROM changed {owner_from}
        )
        SELECT {selected} FROM changed {owner_from}
    """  # noqa: S608


def client_seen(
    *, mac: str, device_type: str, device_version: str, reported: dict[str, str], ip: str | None, now: datetime
) -> Device | None:
    """Mark the device with this MAC online and seen if nothing it reports has changed.

    Nothing changed: the same type and version, the same client app fields
    (`reported`) and ip, and no transient state overdue. Returns the device,
    or None (the caller takes its locking path, which records the changes).
    The row version (xmin) read by the statement must be the one it updates,
    so a registration another transaction committed meanwhile (its app info
    is not re-read on the newest row) sends this one to the locking path too.
    """
    if not available():
        return None
    quote = connection.ops.quote_name
    devices, apps = quote(Device._meta.db_table), quote(ClientAppInfo._meta.db_table)
    app_sql = " AND ".join(f"app.{quote(name)} = %s" for name in reported)
    columns = ", ".join(f"device.{quote(field.column)}" for field in _FIELDS)
    sql = f"""
        WITH current AS MATERIALIZED (SELECT id, xmin FROM {devices} WHERE mac = %s)
        UPDATE {devices} AS device SET is_online = true, last_seen_at = %s, updated_at = %s
        FROM current
        WHERE device.id = current.id AND device.xmin = current.xmin
            AND device.type = %s AND device.version = %s
            AND NOT (device.status = ANY(%s) AND device.status_until <= %s)
            AND EXISTS (
                SELECT 1 FROM {apps} AS app
                WHERE app.device_id = device.id AND {app_sql} AND app.ip IS NOT DISTINCT FROM %s::inet
            )
        RETURNING {columns}
    """  # noqa: S608
    params = [mac, now, now, device_type, device_version, list(TRANSIENT_STATUSES), now, *reported.values(), ip]
    return _returning_device(sql, params)
