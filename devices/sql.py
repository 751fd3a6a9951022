"""The service's raw SQL, in one place: each transition and each creation of a device is one statement.

The statements are assembled from querysets: their WHERE, their SET expressions
and their SELECTs are compiled by Django, so each rule they apply is the
queryset method that states it (`Device.objects.reservable()`,
`Account.objects.usable()`, `License.objects.usable()`, ...), here and
everywhere else.

On PostgreSQL a statement is one round trip: data-modifying CTEs lock the
rows, change them and insert the audit events, and PostgreSQL re-checks a
WHERE on the newest version of a row that a concurrent transaction has just
changed (READ COMMITTED), so of two concurrent requests for one device exactly
one matches. SQLite (`make run`) has no data-modifying CTEs: there the same
steps run one after another in a transaction, which SQLite serialises.
"""

import json
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Model, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.sql.subqueries import UpdateQuery

from devices.models import Account, Device, DeviceEvent


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _columns(model: type[Model], alias: str) -> str:
    return ", ".join(f"{alias}.{_quote(field.column)}" for field in model._meta.concrete_fields)


def _returning(model: type[Model]) -> str:
    """`RETURNING` every column of a model's table, in field order (as from_row() reads them)."""
    return f"RETURNING {_columns(model, _quote(model._meta.db_table))}"


def _width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _select(queryset: QuerySet) -> tuple[str, list]:
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def _update(queryset: QuerySet, values: dict[str, Any]) -> tuple[str, list]:
    """`UPDATE <table> SET <values> WHERE <the queryset's filters>`, as QuerySet.update() would run it."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def from_row(model: type[Model], row) -> Model:
    """An instance of `model` from a row of all its concrete columns, read as the ORM reads them."""
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(model._meta.concrete_fields, row, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in model._meta.concrete_fields], values)


def update_one(queryset: QuerySet, values: dict[str, Any]) -> Model | None:
    """`queryset.update(**values)` of at most one row, giving the row as written (None when none matched)."""
    model = queryset.model
    update_sql, params = _update(queryset, values)
    rows = _fetch(f"{update_sql} {_returning(model)}", params)
    return from_row(model, rows[0]) if rows else None


def select_after_update(read: QuerySet, touch: QuerySet, values: dict[str, Any]) -> list[dict]:
    """The rows of `read` (a .values() queryset), and `touch.update(**values)`, in one statement.

    The read sees the rows as they were before the update (on PostgreSQL a
    data-modifying CTE runs beside the SELECT, on SQLite the SELECT runs
    first).
    """
    read_sql, read_params = _select(read)
    update_sql, update_params = _update(touch, values)
    if not _postgresql():
        rows = list(read)
        with connection.cursor() as cursor:
            cursor.execute(update_sql, update_params)
        return rows
    with connection.cursor() as cursor:
        cursor.execute(f"WITH touched AS ({update_sql}) {read_sql}", [*update_params, *read_params])
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# -- what a statement writes that comes from the rows it works on ------------------------------------------------------


@dataclass(frozen=True)
class Old:
    """An event detail: a field of the device before the change (e.g. the reason of the ban being lifted)."""

    field: str


@dataclass(frozen=True)
class OwnerLogin:
    """An event detail: the login of the account that owns the device after the change (before, if none then)."""


@dataclass(frozen=True)
class Ref:
    """A value a creation takes from a row the same statement found or wrote: `Ref("gate", "key")`."""

    step: str
    attname: str


def _details_sql(details: dict, *, old: str, owner: str) -> tuple[str, list]:
    """A jsonb expression of event details whose values may be Old(...), OwnerLogin() or Ref(...)."""
    static = {key: value for key, value in details.items() if not isinstance(value, Old | OwnerLogin | Ref)}
    parts, params = [], []
    for key, value in details.items():
        if isinstance(value, Old):
            parts.append(f"%s::text, {old}.{_quote(Device._meta.get_field(value.field).column)}")
        elif isinstance(value, OwnerLogin):
            parts.append(f"%s::text, {owner}.{_quote('login')}")
        elif isinstance(value, Ref):
            parts.append(f"%s::text, {value.step}.{_quote(value.attname)}")
        else:
            continue
        params.append(key)
    sql = "%s::jsonb"
    params.insert(0, json.dumps(static))
    if parts:
        sql += f" || jsonb_build_object({', '.join(parts)})"
    return sql, params


def _details_value(details: dict, *, old: dict, owner: Account | None, refs: dict[str, Model]) -> dict:
    """The same details as _details_sql(), computed from the rows in Python."""
    value = {}
    for key, item in details.items():
        if isinstance(item, Old):
            value[key] = old[item.field]
        elif isinstance(item, OwnerLogin):
            value[key] = owner.login if owner is not None else None
        elif isinstance(item, Ref):
            value[key] = getattr(refs[item.step], item.attname)
        else:
            value[key] = item
    return value


_EVENT_COLUMNS = ("device_id", "action", "from_status", "to_status", "source", "actor", "request_id", "details")


# -- transitions -----------------------------------------------------------------------------------------------------


@dataclass
class Changed:
    device: Device  # as written, with its owner set when the transition reads it, and `also` as attributes
    from_status: str


def transition(
    devices: QuerySet,
    *,
    rule: QuerySet,
    values: dict[str, Any],
    event: DeviceEvent,
    details: dict | None = None,
    owner: bool = False,
    also: dict | None = None,
) -> list[Changed]:
    """Change the devices of `devices` that are also in `rule` to `values`, and write an event for each; one statement.

    The devices are locked in primary-key order first (so two sets never
    deadlock), and the rule is checked on the locked rows. `event` is the
    unsaved template of each event (action, source, actor, request id,
    time); its from and to statuses are each device's, its details
    `details` (values may be Old(...) and OwnerLogin()). `owner`: read the
    devices' accounts too. `also`: expressions over the device (e.g. a
    Subquery with OuterRef("pk")) read with it, set on it as annotations are.
    Returns what changed, by id; devices that did not match are unchanged.
    """
    details = details or {}
    old_fields = sorted({value.field for value in details.values() if isinstance(value, Old)})
    owner = owner or any(isinstance(value, OwnerLogin) for value in details.values())
    locking = devices.order_by("pk").values("id", "status", *old_fields)
    if not _postgresql():
        return _transition_stepwise(locking, rule, values, event, details, old_fields, owner, also or {})

    lock_sql, lock_params = _select(locking)
    update_sql, update_params = _update(rule.filter(pk__in=RawSQL("SELECT id FROM locked", ())), values)
    accounts = _quote(Account._meta.db_table)
    details_sql, details_params = _details_sql(details, old="locked", owner="owner")
    owner_join = f"LEFT JOIN {accounts} AS owner ON owner.id = changed.account_id" if owner else ""
    selected = f"{_columns(Device, 'changed')}, locked.status"
    if owner:
        selected += f", {_columns(Account, 'owner')}"
    also_join, also_params = "", []
    if also:
        also_sql, also_params = _select(
            Device.objects.order_by()
            .filter(pk__in=RawSQL("SELECT id FROM changed", ()))
            .annotate(**also)
            .values("id", *also)
        )
        selected += "".join(f", also.{_quote(name)}" for name in also)
        also_join = f"JOIN ({also_sql}) AS also ON also.id = changed.id"
    # Identifiers come from the models; every value is a parameter.
    sql = f"""
        WITH locked AS MATERIALIZED ({lock_sql} FOR UPDATE),
        changed AS ({update_sql} {_returning(Device)}),
        logged AS (
            INSERT INTO {_quote(DeviceEvent._meta.db_table)} ({", ".join(_EVENT_COLUMNS)}, created_at)
            SELECT changed.id, %s, locked.status, changed.status, %s, %s, %s, {details_sql}, %s
            FROM changed JOIN locked ON locked.id = changed.id {owner_join}
        )
        SELECT {selected} FROM changed JOIN locked ON locked.id = changed.id {owner_join} {also_join}
        ORDER BY changed.id
    """  # noqa: S608
    event_params = [event.action, event.source, event.actor, event.request_id, *details_params, event.created_at]
    rows = _fetch(sql, [*lock_params, *update_params, *event_params, *also_params])
    width = _width(Device)
    changed = []
    for row in rows:
        device = from_row(Device, row[:width])
        if owner:
            account_row = row[width + 1 : width + 1 + _width(Account)]
            device.account = None if account_row[0] is None else from_row(Account, account_row)
        if also:
            for name, value in zip(also, row[len(row) - len(also) :], strict=True):
                setattr(device, name, value)
        changed.append(Changed(device=device, from_status=row[width]))
    return changed


def _transition_stepwise(locking, rule, values, event, details, old_fields, owner, also) -> list[Changed]:
    with transaction.atomic():
        old = {row["id"]: row for row in locking}
        if not old:
            return []
        update_sql, update_params = _update(rule.filter(pk__in=list(old)), values)
        rows = _fetch(f"{update_sql} {_returning(Device)}", update_params)
        devices = sorted((from_row(Device, row) for row in rows), key=lambda device: device.pk)
        accounts = Account.objects.in_bulk({d.account_id for d in devices if d.account_id}) if owner else {}
        extras = (
            {row["id"]: row for row in Device.objects.filter(pk__in=[d.pk for d in devices]).annotate(**also).values()}
            if also
            else {}
        )
        changed, events = [], []
        for device in devices:
            if owner:
                device.account = accounts.get(device.account_id)
            before = old[device.pk]
            events.append(
                DeviceEvent(
                    device=device,
                    action=event.action,
                    from_status=before["status"],
                    to_status=device.status,
                    source=event.source,
                    actor=event.actor,
                    request_id=event.request_id,
                    details=_details_value(details, old=before, owner=device.account if owner else None, refs={}),
                    created_at=event.created_at,
                )
            )
            for name in also:
                setattr(device, name, extras[device.pk][name])
            changed.append(Changed(device=device, from_status=before["status"]))
        DeviceEvent.objects.bulk_create(events)
        return changed


# -- creations -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """The one row a creation needs: the first of `pick`, when it is also in `qualifies`; optionally updated.

    No such row: nothing is created. Its fields (and `pick`'s annotations)
    are what Ref("gate", name) reads. With `update`, the row is changed by
    the same statement and `qualifies` is checked on its newest version (so
    concurrent creations can't both take its last activation, say).
    """

    pick: QuerySet
    qualifies: QuerySet | None = None
    update: dict[str, Any] | None = None
    skip_locked: bool = False  # take the first row no other transaction has locked (a pool)


@dataclass
class Created:
    device: Device
    gate: dict[str, Any]
    rows: list[Model]


def create(
    device: Device,
    event: DeviceEvent,
    *,
    gate: Gate | None = None,
    rows: tuple[Model, ...] = (),
    skip_conflict: bool = False,
) -> Created | None:
    """Insert a device, its event and the protocol's rows that belong to it; one statement.

    Fields of `device`, `event` (its details included) and `rows` may be
    Ref("gate", name) or Ref("device", name) (each row's device is the new
    one). None, with nothing written, when the gate finds no row, or, with
    `skip_conflict`, when the device's MAC or type and serial number are
    another's. A unique index the protocol's rows break raises IntegrityError
    (nothing is written).
    """
    if not _postgresql():
        return _create_stepwise(device, event, gate, rows, skip_conflict)
    steps, params, names = [], [], []
    sources = ""
    if gate is not None:
        gate_sql, gate_params, names = _gate_sql(gate)
        steps.append(f"gate AS MATERIALIZED ({gate_sql})")
        params += gate_params
        sources = " FROM gate"
    device_sql, device_params = _insert_select(device)
    conflict = " ON CONFLICT DO NOTHING" if skip_conflict else ""
    steps.append(f"device AS ({device_sql}{sources}{conflict} {_returning(Device)})")
    params += device_params
    with_device = " FROM device" + (", gate" if gate is not None else "")
    event_sql, event_params = _insert_select(event)
    steps.append(f"event AS ({event_sql}{with_device})")
    params += event_params
    selected = [_columns(Device, "device")]
    for index, row in enumerate(rows):
        row_sql, row_params = _insert_select(row)
        model = type(row)
        steps.append(f"row{index} AS ({row_sql}{with_device} {_returning(model)})")
        params += row_params
        selected.append(_columns(model, f"row{index}"))
    if gate is not None:
        selected.append(", ".join(f"gate.{_quote(name)}" for name in names))
    tables = ", ".join(["device", *(f"row{index}" for index in range(len(rows))), *(["gate"] if gate else [])])
    sql = f"WITH {', '.join(steps)} SELECT {', '.join(selected)} FROM {tables}"  # noqa: S608
    # A unique index a protocol row breaks fails the statement: in a transaction, a savepoint keeps it usable.
    savepoint = connection.in_atomic_block and any(_may_break_unique(row) for row in rows)
    with transaction.atomic() if savepoint else nullcontext():
        found = _fetch(sql, params)
    if not found:
        return None
    row = found[0]
    created_device = from_row(Device, row[: _width(Device)])
    start, saved = _width(Device), []
    for model_row in rows:
        model = type(model_row)
        saved.append(from_row(model, row[start : start + _width(model)]))
        start += _width(model)
    return Created(device=created_device, gate=dict(zip(names, row[start:], strict=True)), rows=saved)


def _qualifying(gate: Gate) -> QuerySet:
    return gate.qualifies if gate.qualifies is not None else gate.pick.model.objects.all()


def _may_break_unique(row: Model) -> bool:
    """Whether a row has a unique value of its own (not its key, nor a reference to the new device)."""
    return any(
        field.unique and not field.primary_key and not isinstance(getattr(row, field.attname), Ref)
        for field in type(row)._meta.concrete_fields
    )


def _gate_sql(gate: Gate) -> tuple[str, list, list[str]]:
    model = gate.pick.model
    if gate.update is None:
        names = [*(field.attname for field in model._meta.concrete_fields), *gate.pick.query.annotations]
        picked = gate.pick if gate.qualifies is None else gate.pick.filter(pk__in=gate.qualifies.values("pk"))
        sql, params = _select(picked.values(*names)[:1])
        return sql, params, names
    pick_sql, pick_params = _select(gate.pick.values("pk")[:1])
    lock = " FOR UPDATE SKIP LOCKED" if gate.skip_locked else ""
    chosen = _qualifying(gate).filter(pk=RawSQL(f"({pick_sql}{lock})", pick_params))  # noqa: S611 - compiled
    sql, params = _update(chosen, gate.update)
    names = [field.attname for field in model._meta.concrete_fields]
    return f"{sql} {_returning(model)}", params, names


def _insert_select(instance: Model) -> tuple[str, list]:
    """`INSERT INTO <table> (<columns>) SELECT <values>` of an unsaved instance; its Ref values are column refs.

    Each other value is a parameter, prepared as save() would write it
    (defaults and auto_now included). An automatic primary key is left to
    the database.
    """
    model = type(instance)
    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        raw = getattr(instance, field.attname)
        if field.primary_key and raw is None:
            continue  # an automatic key: the database numbers the row
        columns.append(_quote(field.column))
        if isinstance(raw, Ref):
            values.append(f"{raw.step}.{_quote(raw.attname)}")
        elif isinstance(raw, dict) and any(isinstance(v, Ref) for v in raw.values()):
            sql, details_params = _details_sql(raw, old="", owner="")
            values.append(sql)
            params += details_params
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(instance, True), connection))
    sql = f"INSERT INTO {_quote(model._meta.db_table)} ({', '.join(columns)}) SELECT {', '.join(values)}"
    return sql, params


def _create_stepwise(device, event, gate, rows, skip_conflict) -> Created | None:
    with transaction.atomic():
        gate_row = _gate_stepwise(gate) if gate is not None else None
        if gate is not None and gate_row is None:
            return None
        refs: dict[str, Any] = {"gate": gate_row}
        _resolve(device, refs)
        try:
            with transaction.atomic():
                device.save(force_insert=True)
        except IntegrityError:
            if skip_conflict:
                return None
            raise
        refs["device"] = device
        _resolve(event, refs)
        event.save(force_insert=True)
        for row in rows:
            _resolve(row, refs)
            row.save(force_insert=True)
        return Created(device=device, gate=_values(gate_row), rows=list(rows))


def _gate_stepwise(gate: Gate):
    model = gate.pick.model
    if gate.update is None:
        picked = gate.pick if gate.qualifies is None else gate.pick.filter(pk__in=gate.qualifies.values("pk"))
        found = picked.values(*(f.attname for f in model._meta.concrete_fields), *gate.pick.query.annotations)[:1]
        row = next(iter(found), None)
        return None if row is None else _Row(row)
    chosen = _qualifying(gate).filter(pk__in=list(gate.pick.values_list("pk", flat=True)[:1]))
    sql, params = _update(chosen, gate.update)
    found = _fetch(f"{sql} {_returning(model)}", params)
    return None if not found else from_row(model, found[0])


class _Row:
    """A gate row read as a dict, with attribute access like a model instance."""

    def __init__(self, values: dict):
        self.__dict__.update(values)


def _values(row) -> dict[str, Any]:
    if row is None:
        return {}
    if isinstance(row, Model):
        return {field.attname: getattr(row, field.attname) for field in type(row)._meta.concrete_fields}
    return dict(vars(row))


def _resolve(instance: Model, refs: dict[str, Any]) -> None:
    for field in type(instance)._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if isinstance(value, Ref):
            setattr(instance, field.attname, getattr(refs[value.step], value.attname))
        elif isinstance(value, dict) and any(isinstance(v, Ref) for v in value.values()):
            setattr(instance, field.attname, _details_value(value, old={}, owner=None, refs=refs))
