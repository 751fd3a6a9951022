"""A SIP device creation in one statement, for the common case (PostgreSQL).

The common case of `device_create` is an admin or a reseller creating a
device for one of its users who may own devices, in the user's primary
group or one of its groups, with a free pin or none. Then one statement
finds the caller, the user and the group, and writes the device, its audit
event and its SIP line (data-modifying CTEs), instead of a query per check
and a transaction of six statements.

Anything else (an accountant, an unknown or blocked user, an unknown group,
a pin or SIP login another line has) matches nothing or breaks a unique
index: nothing is written, and the caller takes the step-by-step path,
which answers as it always has.
"""

import functools
from contextlib import nullcontext

from django.db import IntegrityError, connection, transaction

from devices import conditional
from devices.choices import AccountRole, AccountStatus
from devices.models import Account, Device, DeviceEvent
from mor_api.models import DeviceGroup, MorDevice

# Whether these statements apply: on PostgreSQL only, as those of devices.conditional.
available = conditional.available


def create_device(
    *, login: str, user_id: int, group_id: int | None, device: Device, event: DeviceEvent, mor: MorDevice
) -> MorDevice | None:
    """Create a SIP line for user `user_id` if the caller with this login may, in one statement.

    The caller is the active admin or reseller with this login (any letter
    case); the user the active account `user_id` names among the caller's
    (admins: any; resellers: their own); the group the user's primary one
    (`group_id` None) or its group with this id. `device`, `event` and `mor`
    are unsaved: the statement sets the device's account, the line's group,
    the event's actor (the caller's login) and its details (`pin` and
    `group`). Returns the saved line, or None with nothing written.
    """
    sql = _create_sql(group_id is not None)
    device_params = conditional.insert_select_params(device, _DEVICE_COMPUTED)
    event_params = conditional.insert_select_params(event, _EVENT_COMPUTED)
    mor_params = conditional.insert_select_params(mor, _MOR_COMPUTED)
    context_params = [mor.pin, user_id, AccountRole.RESELLER, AccountStatus.ACTIVE]
    context_params += [] if group_id is None else [group_id]
    context_params += [login.strip().lower(), AccountStatus.ACTIVE, [AccountRole.ADMIN, AccountRole.RESELLER]]
    try:
        # In a transaction a failed statement would abort it: a savepoint keeps it usable. In autocommit the
        # statement is its own transaction.
        savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(sql, [*context_params, *device_params, *event_params, *mor_params])
            row = cursor.fetchone()
    except IntegrityError:
        return None
    if row is None:
        return None
    device.pk, mor.pk, caller_login, device.account_id, mor.group_id = row
    event.actor, event.details = caller_login, {"pin": mor.pin, "group": mor.group_id}
    event.device, mor.device = device, device
    for saved in (device, event, mor):
        saved._state.adding, saved._state.db = False, connection.alias
    return mor


_DEVICE_COMPUTED = {"account_id": "context.member_id"}
_EVENT_COMPUTED = {
    "device_id": "device.id",
    "actor": "context.caller_login",
    "details": "jsonb_build_object('pin', context.pin, 'group', context.group_id)",
}
_MOR_COMPUTED = {"device_id": "device.id", "group_id": "context.group_id"}


@functools.lru_cache(maxsize=2)
def _create_sql(by_group_id: bool) -> str:
    quote = connection.ops.quote_name
    accounts, groups = quote(Account._meta.db_table), quote(DeviceGroup._meta.db_table)
    insert_device = conditional.insert_select_sql(Device, _DEVICE_COMPUTED)
    insert_event = conditional.insert_select_sql(DeviceEvent, _EVENT_COMPUTED)
    insert_mor = conditional.insert_select_sql(MorDevice, _MOR_COMPUTED)
    group_match = "grp.id = %s" if by_group_id else "grp.is_primary"
    # Identifiers come from the models; every value is a parameter.
    return f"""
        WITH context AS MATERIALIZED (
            SELECT caller.login AS caller_login, member.id AS member_id, grp.id AS group_id, %s::text AS pin
            FROM {accounts} AS caller
            JOIN {accounts} AS member ON member.id = %s AND member.deleted_at IS NULL
                AND (caller.role <> %s OR member.owner_id = caller.id) AND member.status = %s
            JOIN {groups} AS grp ON grp.account_id = member.id AND {group_match}
            WHERE LOWER(caller.login) = %s AND caller.status = %s AND caller.deleted_at IS NULL
                AND caller.role = ANY(%s)
        ), device AS (
            {insert_device} FROM context RETURNING id
        ), event AS (
            {insert_event} FROM device, context
        ), line AS (
            {insert_mor} FROM device, context RETURNING id
        )
        SELECT device.id, line.id, context.caller_login, context.member_id, context.group_id
        FROM device, line, context
    """  # noqa: S608
