"""A SIP device creation in two statements, for the common case (PostgreSQL).

The common case of `device_create` is an admin or a reseller creating a
device for one of its users, in the user's primary group or one of its
groups, with a free pin. One statement reads everything the checks need (the
caller, the user, the group, whether the pin is taken); a second writes the
device, its audit event and its SIP line (data-modifying CTEs), instead of a
query per check and a transaction of six statements.

Anything else (an accountant, an unknown user or group, a taken pin, a clash
of the unique pin or SIP login with a concurrent creation) writes nothing
here, and the caller takes the step-by-step path, which answers as it always
has.
"""

from contextlib import nullcontext
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction

from devices import conditional
from devices.choices import AccountRole, AccountStatus
from devices.models import Account, Device, DeviceEvent
from mor_api.models import DeviceGroup, MorDevice


@dataclass(frozen=True)
class CreateContext:
    caller: Account
    user: Account | None
    group: DeviceGroup | None
    pin_taken: bool


def available() -> bool:
    """Whether these statements apply: PostgreSQL only."""
    return conditional.available()


def create_context(*, login: str, user_id: int, group_id: int | None, pin: str | None) -> CreateContext | None:
    """What the checks of a creation by an admin or a reseller need, in one statement.

    The caller is the active account with this login (any letter case); the
    user the account `user_id` names among the caller's (admins: any not
    deleted; resellers: their own); the group the user's primary one
    (`group_id` None) or the one with this id. None when there is no such
    caller.
    """
    quote = connection.ops.quote_name
    accounts, groups = quote(Account._meta.db_table), quote(DeviceGroup._meta.db_table)
    models = (("caller", Account), ("member", Account), ("grp", DeviceGroup))
    columns = ", ".join(
        f"{alias}.{quote(field.column)}" for alias, model in models for field in model._meta.concrete_fields
    )
    group_match = "grp.is_primary" if group_id is None else "grp.id = %s"
    # Identifiers come from the models; every value is a parameter.
    sql = f"""
        SELECT {columns},
            EXISTS (SELECT 1 FROM {quote(MorDevice._meta.db_table)} WHERE pin = %s)
        FROM {accounts} AS caller
        LEFT JOIN {accounts} AS member ON member.id = %s AND member.deleted_at IS NULL
            AND (caller.role <> %s OR member.owner_id = caller.id)
        LEFT JOIN {groups} AS grp ON grp.account_id = member.id AND {group_match}
        WHERE LOWER(caller.login) = %s AND caller.status = %s AND caller.deleted_at IS NULL
    """  # noqa: S608
    params = [pin, user_id, AccountRole.RESELLER, *([] if group_id is None else [group_id])]
    params += [login.strip().lower(), AccountStatus.ACTIVE]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for _alias, model in models:
        width = len(model._meta.concrete_fields)
        values = row[start : start + width]
        instances.append(None if values[0] is None else conditional.instance_from_row(model, values))
        start += width
    caller, user, group = instances
    return CreateContext(caller=caller, user=user, group=group, pin_taken=row[-1])


def insert_device(*, device: Device, event: DeviceEvent, mor: MorDevice) -> MorDevice | None:
    """Write the device, its event and its SIP line in one statement; None when a unique pin or login clashes.

    The three are unsaved; they come back saved and linked. Nothing is
    written when it returns None.
    """
    insert_device_sql, device_params = conditional.insert_select(device, computed={})
    insert_event, event_params = conditional.insert_select(event, computed={"device_id": "device.id"})
    insert_mor, mor_params = conditional.insert_select(mor, computed={"device_id": "device.id"})
    sql = f"""
        WITH device AS ({insert_device_sql} RETURNING id),
        event AS ({insert_event} FROM device),
        mor AS ({insert_mor} FROM device RETURNING id)
        SELECT device.id, mor.id FROM device, mor
    """  # noqa: S608
    try:
        # In a transaction a failed statement would abort it: a savepoint keeps it usable. In autocommit the
        # statement is its own transaction.
        savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(sql, [*device_params, *event_params, *mor_params])
            device_id, mor_id = cursor.fetchone()
    except IntegrityError:
        return None
    device.pk, mor.pk = device_id, mor_id
    event.device, mor.device = device, device
    for saved in (device, event, mor):
        saved._state.adding, saved._state.db = False, connection.alias
    return mor
