"""The service's raw SQL, in one place: each transition and each creation of a device is one statement.

The statements are assembled from querysets: their WHERE, their SET expressions
and their SELECTs are compiled by Django, so each rule they apply is the
queryset method that states it (`Device.objects.reservable()`,
`Account.objects.usable()`, `License.objects.activatable()`, ...), here and
everywhere else.

A statement is built once per shape: its builder makes the querysets with a
`Slot` wherever a value changes from call to call, Django compiles them, and
the SQL is kept; each call binds its values into it. Building and compiling
querysets costs more than the database work of the statement itself.

On PostgreSQL a statement is one round trip: data-modifying CTEs lock the
rows, change them and insert the audit events, and PostgreSQL re-checks a
WHERE on the newest version of a row that a concurrent transaction has just
changed (READ COMMITTED), so of two concurrent requests for one device exactly
one matches. SQLite (`make run`) has no data-modifying CTEs: there the same
querysets run one after another in a transaction, which SQLite serialises.
"""

import contextvars
import functools
import json
import uuid
from collections.abc import Callable, Hashable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BooleanField,
    DateTimeField,
    Exists,
    Expression,
    ExpressionWrapper,
    Field,
    Model,
    OuterRef,
    Q,
    QuerySet,
    TextField,
)
from django.db.models.expressions import RawSQL
from django.db.models.sql.subqueries import UpdateQuery
from psycopg import sql as psycopg_sql

from devices.models import Account, Device, DeviceEvent, overdue

# -- values bound at each call ------------------------------------------------------------------------------------

_binding: contextvars.ContextVar[dict | None] = contextvars.ContextVar("binding", default=None)


class Slot(Expression):
    """A value that changes from call to call: compiled as a parameter, bound when the statement runs.

    `output_field` says how the value is written (as Django writes it for
    that field). A builder never sees the value, so it can't transform it:
    whatever the value needs (a lower-case login, a deadline) is computed by
    the caller.
    """

    def __init__(self, name: str, output_field=None):
        super().__init__(output_field=output_field or TextField())
        self.name = name

    def as_sql(self, compiler, connection):
        bound = _binding.get()
        if bound is not None:  # executed as it is built (SQLite)
            return "%s", [self.output_field.get_db_prep_value(bound[self.name], connection)]
        return "%s", [self]


@contextmanager
def bound(values: dict):
    """Within it, Slots compile to these values: querysets built with Slots run as they are."""
    token = _binding.set(values)
    try:
        yield
    finally:
        _binding.reset(token)


def _bind(params: list, values: dict) -> list:
    return [p.output_field.get_db_prep_value(values[p.name], connection) if isinstance(p, Slot) else p for p in params]


_statements: dict[Hashable, tuple] = {}


def _prepared(key: Hashable, render: Callable[[], tuple]) -> tuple:
    """The SQL, parameters (Slots where values go) and facts `render()` gives for this shape, built once.

    A key with None in it (a statement over a list of ids, say) is rendered every time. So is everything on
    SQLite, where the Slots are bound as the querysets compile.
    """
    found = _statements.get(key)
    if found is not None and _binding.get() is None:
        return found
    if _binding.get() is not None or _uncached(key):
        return render()
    found = _statements[key] = render()
    return found


def _uncached(key) -> bool:
    return key is None or (isinstance(key, tuple) and any(_uncached(part) for part in key))


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


# -- compiling querysets --------------------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _columns(model: type[Model], alias: str) -> str:
    return ", ".join(f"{alias}.{_quote(f.column)}" for f in model._meta.concrete_fields)


def _returning(model: type[Model], *, qualified: bool = True) -> str:
    """`RETURNING` every column of a model's table, in field order (as from_row() reads them)."""
    if qualified:
        return f"RETURNING {_columns(model, _quote(model._meta.db_table))}"
    return f"RETURNING {', '.join(_quote(f.column) for f in model._meta.concrete_fields)}"


def _width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


def _select(queryset: QuerySet) -> tuple[str, list]:
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def _update(queryset: QuerySet, values: dict[str, Any]) -> tuple[str, list]:
    """`UPDATE <table> SET <values> WHERE <the queryset's filters>`, as QuerySet.update() would run it.

    Only filters on the table itself: Django turns a filter through a join
    into `pk IN (SELECT ...)`, which PostgreSQL would not re-check on a row a
    concurrent transaction changes.
    """
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    query.get_initial_alias()
    if query.count_active_tables() != 1:
        raise ValueError("a conditional UPDATE filters on its own table only; use Exists() for other tables")
    sql, params = query.get_compiler(connection=connection).as_sql()
    return sql, list(params)


def _where(queryset: QuerySet) -> tuple[str, list]:
    """The WHERE of a queryset over its own table only, as an SQL condition on that table's columns."""
    query = queryset.query.chain()
    query.get_initial_alias()
    if query.count_active_tables() != 1:
        raise ValueError("a rule filters on its own table only; use Exists() for other tables")
    sql, params = query.get_compiler(connection=connection).compile(query.where)
    return sql or "TRUE", list(params)


def _literal(value) -> str:
    """A constant written into a statement, quoted by psycopg (`%` doubled: the statement still has parameters).

    It keeps a statement's parameters few: psycopg converts a statement of
    more than 50 parameters (or 4 KiB) anew on every call instead of once.
    """
    return psycopg_sql.Literal(value).as_string(connection.connection).replace("%", "%%")


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def from_row(model: type[Model], row) -> Model:
    """An instance of `model` from a row of all its concrete columns, converted as the ORM converts them."""
    names, converters = _converters(model, connection.vendor)
    values = list(row)
    for index, column, converts in converters:
        for convert in converts:
            values[index] = convert(values[index], column, connection)
    return model.from_db(connection.alias, names, values)


@functools.cache
def _converters(model: type[Model], vendor: str) -> tuple[list[str], list[tuple]]:
    """The attribute names of a model's columns, and the backend's and fields' converters of those that have any."""
    names, converters = [], []
    for index, f in enumerate(model._meta.concrete_fields):
        names.append(f.attname)
        column = f.get_col(model._meta.db_table)
        converts = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if converts:
            converters.append((index, column, converts))
    return names, converters


def update_one(key: Hashable, build: Callable[[], tuple[QuerySet, dict]], values: dict) -> Model | None:
    """`queryset.update(**writes)` of at most one row, giving the row as written (None when none matched).

    `build()` gives the queryset and the writes, with Slots for `values`.
    """
    with bound(values) if not _postgresql() else nullcontext():
        sql, params, model = _prepared(("update_one", key), lambda: _render_update_one(*build()))
        rows = _fetch(sql, _bind(params, values))
    return from_row(model, rows[0]) if rows else None


def _render_update_one(queryset: QuerySet, writes: dict) -> tuple:
    sql, params = _update(queryset, writes)
    return f"{sql} {_returning(queryset.model)}", params, queryset.model


def select_after_update(key: Hashable, build: Callable[[], tuple[QuerySet, QuerySet, dict]], values: dict) -> list:
    """The rows of a `.values()` queryset, and an update of another, in one statement.

    `build()` gives (read, touch, writes). The read sees the rows as they
    were before the update (on PostgreSQL a data-modifying CTE runs beside
    the SELECT; on SQLite the SELECT runs first).
    """
    if not _postgresql():
        with bound(values):
            read, touch, writes = build()
            rows = list(read)
            touch.update(**writes)
            return rows
    sql, params, names = _prepared(("select_after_update", key), lambda: _render_select_after_update(*build()))
    return [dict(zip(names, row, strict=True)) for row in _fetch(sql, _bind(params, values))]


def _render_select_after_update(read: QuerySet, touch: QuerySet, writes: dict) -> tuple:
    read_sql, read_params = _select(read)
    update_sql, update_params = _update(touch, writes)
    names = [*read.query.values_select, *read.query.annotation_select]
    return f"WITH touched AS ({update_sql}) {read_sql}", [*update_params, *read_params], names


# -- what an audit event records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Old:
    """An event detail: a field of the device before the change (e.g. the reason of the ban being lifted)."""

    field: str


@dataclass(frozen=True)
class OwnerLogin:
    """An event detail: the login of the account that owns the device after the change."""


@dataclass(frozen=True)
class Ref:
    """A value a creation takes from a row the same statement found or wrote: `Ref("gate", "key")`."""

    step: str
    attname: str


def details_json(details: dict) -> str:
    """The details an event records that are plain values, as the JSON the statement starts from."""
    plain = {k: v for k, v in details.items() if not isinstance(v, Old | OwnerLogin | Ref)}
    return json.dumps(plain, cls=DjangoJSONEncoder)


def _details_sql(details: dict, *, old: str = "", owner: str = "") -> tuple[str, list]:
    """The jsonb of an event's details: the plain ones (Slot "details", details_json()), and Old, OwnerLogin, Ref."""
    parts = []
    for key, value in details.items():
        if isinstance(value, Old) and old:
            parts.append(f"{_literal(key)}::text, {old}.{_quote(Device._meta.get_field(value.field).column)}")
        elif isinstance(value, OwnerLogin) and owner:
            parts.append(f"{_literal(key)}::text, {owner}.{_quote('login')}")
        elif isinstance(value, Ref):
            parts.append(f"{_literal(key)}::text, {value.step}.{_quote(value.attname)}")
        elif isinstance(value, Old | OwnerLogin):
            raise ValueError(f"{key}: this statement has no row before the change, nor an owner to read")
    sql = "%s::jsonb" + (f" || jsonb_build_object({', '.join(parts)})" if parts else "")
    return sql, [Slot("details")]


def _details_value(details: dict, values: dict, *, old: dict, owner: Account | None, refs: dict) -> dict:
    """The same details as _details_sql(), from the rows in Python."""
    value = json.loads(values["details"])
    for key, item in details.items():
        if isinstance(item, Old):
            value[key] = old[item.field]
        elif isinstance(item, OwnerLogin):
            value[key] = owner.login if owner is not None else None
        elif isinstance(item, Ref):
            value[key] = getattr(refs[item.step], item.attname)
    return value


def _event_row(action: str, source: str, values: dict, **row) -> DeviceEvent:
    return DeviceEvent(
        action=action,
        source=source,
        actor=values["actor"],
        request_id=values["request_id"],
        created_at=values["now"],
        **row,
    )


# The columns of an audit event, in the order each statement writes their values.
EVENT_COLUMNS = (
    "device_id",
    "action",
    "from_status",
    "to_status",
    "source",
    "actor",
    "request_id",
    "details",
    "created_at",
)


# -- transitions ----------------------------------------------------------------------------------------------------


@dataclass
class TransitionPlan:
    """What a transition statement does, built with Slots (see transition())."""

    devices: QuerySet  # the devices named; locked in id order
    rule: QuerySet  # those the transition applies to
    writes: dict[str, Any]  # model field -> value or expression
    action: str
    source: str
    details: dict = field(default_factory=dict)  # plain values come from the "details" value; Old, OwnerLogin
    owner: bool = False  # read the devices' owners (for the caller)
    also: dict = field(default_factory=dict)  # expressions over the device, read with it (as annotations)
    one: bool = False  # `devices` names one device by a unique key
    ids: bool = False  # the devices are the ids of the call's "named:pks" value (an array parameter on PostgreSQL)


@dataclass
class Changed:
    device: "Device | Lean"  # as written, with its owner set when read, and `also` as attributes
    from_status: str


@dataclass(frozen=True, slots=True)
class Lean:
    """What a set transition (transition_set) gives of a device."""

    pk: int
    uuid: Any
    status: str
    is_banned: bool


def transition(key: Hashable, build: Callable[[], TransitionPlan], values: dict) -> list[Changed]:
    """Change the devices a plan names and its rule applies to, with an audit event each; one statement.

    The devices are locked in id order first (so two sets never deadlock),
    and the rule is checked on the locked rows. Each event has the action
    and source of the plan, each device's from and to status, and the
    call's `values` "actor", "request_id", "now" and "details" (the plain
    details, details_json()). Returns what changed, by id.
    """
    if not _postgresql():
        with bound(values):
            return _transition_stepwise(build(), values)
    sql, params, plan = _prepared(("transition", key), lambda: _render_transition(build()))
    width, also = _width(Device), len(plan.also)
    changed = []
    for row in _fetch(sql, _bind(params, values)):
        device = from_row(Device, row[:width])
        for name, value in zip(plan.also, row[width : width + also], strict=True):
            setattr(device, name, value)
        if plan.owner:
            owner_row = row[width + also + 1 :]
            device.account = None if owner_row[0] is None else from_row(Account, owner_row)
        changed.append(Changed(device=device, from_status=row[width + also]))
    return changed


def transition_set(
    key: Hashable, build: Callable[[], TransitionPlan], values: dict
) -> tuple[list[Changed], list[tuple[Lean, bool]]]:
    """transition() of a set of ids (the "named:pks" value) for bulk work, in one statement on PostgreSQL.

    Returns the devices changed, and the others as read (without a lock), each with whether to lock and look
    at it again: the rule applied to it as read (a concurrent transaction changed it since), or it is overdue.
    Gives only the id, uuid, status and ban of each.
    """
    if not _postgresql():
        with bound(values):
            plan = build()
            changed = [
                Changed(Lean(c.device.pk, c.device.uuid, c.device.status, c.device.is_banned), c.from_status)
                for c in _transition_stepwise(plan, values)
            ]
            done = {c.device.pk for c in changed}
            look = ExpressionWrapper(
                Q(Exists(plan.rule.filter(pk=OuterRef("pk")))) | overdue(values["now"]), output_field=BooleanField()
            )
            rest = Device.objects.filter(pk__in=[pk for pk in values["named:pks"] if pk not in done]).order_by("pk")
            # Read here, within bound(): the rule's Slots take their values as the query compiles.
            rest = list(rest.values_list("pk", "uuid", "status", "is_banned", look))
        return changed, [(Lean(*row[:4]), row[4]) for row in rest]
    sql, params, plan = _prepared(("transition", key), lambda: _render_transition(build()))
    changed, rest = [], []
    for pk, uuid_, status, is_banned, was, look in _fetch(sql, _bind(params, values)):
        if was is None:
            rest.append((Lean(pk, uuid_, status, is_banned), look))
        else:
            changed.append(Changed(device=Lean(pk, uuid_, status, is_banned), from_status=was))
    return changed, rest


def _render_transition(plan: TransitionPlan) -> tuple:
    old_fields = sorted({v.field for v in plan.details.values() if isinstance(v, Old)})
    plan.owner = owner = plan.owner or any(isinstance(v, OwnerLogin) for v in plan.details.values())
    table = _quote(Device._meta.db_table)
    rule_sql, rule_params = _where(plan.rule)
    set_sql, update_params = _update(Device.objects.all(), plan.writes)
    # Each step finds its rows by their own keys (a MAC, a uuid, ids), whatever the planner knows of the table
    # (a fresh database has no statistics).
    if plan.one:
        # The row as read is changed only if no transaction changed it since (its xmin), so the status and the
        # fields the event records are those it had; if one did, nothing matches and the caller locks and looks.
        seen = RawSQL(f"{table}.xmin", (), output_field=TextField())  # noqa: S611 - our names only
        lock_sql, lock_params = _select(
            plan.devices.order_by().annotate(seen=seen).values("id", "status", *old_fields, "seen")
        )
        update_sql = f"{set_sql} FROM locked WHERE {table}.id = locked.id AND {table}.xmin = locked.seen AND {rule_sql}"
        update_params += rule_params
    elif plan.ids:
        # A set of ids, read without a lock and changed under the same guard as one device (its xmin): a row a
        # concurrent transaction changed meanwhile doesn't match, and transition_apply locks and looks at it.
        # Locking the whole set first cost more than the change itself. The ids are one array parameter, so
        # the statement's text is the same for every set (built once, prepared once).
        names = ("id", "uuid", "status", "is_banned", *old_fields)
        columns = ", ".join(f"{table}.{_quote(Device._meta.get_field(name).column)}" for name in names)
        due_sql, due_params = _where(Device.objects.filter(overdue(now_slot())))
        # The rule is checked as the rows are read: a row still at the version read (its xmin) is as read. The
        # UPDATE then finds its rows by id only, whatever the planner believes of the rule's columns.
        lock_sql = (
            f"SELECT {columns}, {table}.xmin AS seen, ({rule_sql}) AS applies, ({due_sql}) AS due"  # noqa: S608
            f" FROM {table} WHERE {table}.id = ANY(%s::bigint[]) ORDER BY {table}.id"
        )
        lock_params = [*rule_params, *due_params, Slot("named:pks", _Ids())]
        update_sql = f"{set_sql} FROM locked WHERE {table}.id = locked.id AND {table}.xmin = locked.seen"
        update_sql += " AND locked.applies"
    else:
        # Several devices are locked in id order (two sets never deadlock), and the rule is checked on the
        # locked rows, their newest versions.
        applies = RawSQL(rule_sql, rule_params, output_field=BooleanField())  # noqa: S611 - compiled from the rule
        devices = plan.devices.order_by("pk").annotate(applies=applies)
        lock_sql, lock_params = _select(devices.values("id", "status", *old_fields, "applies"))
        lock_sql += f" FOR UPDATE OF {table}"
        update_sql = f"{set_sql} FROM locked WHERE {table}.id = locked.id AND locked.applies"
    accounts = _quote(Account._meta.db_table)
    details_sql, details_params = _details_sql(plan.details, old="locked", owner="owner")
    owner_join = f"LEFT JOIN {accounts} AS owner ON owner.id = changed.account_id" if owner else ""
    selected = "changed.*, locked.status"
    if owner:
        selected += f", {_columns(Account, 'owner')}"
    # What the caller reads with the devices (billing's counts), computed by the UPDATE's RETURNING.
    returning, also_params = _returning(Device), []
    if plan.ids:
        returning = f"RETURNING {table}.id, {table}.status, {table}.is_banned, {table}.account_id"
    elif plan.also:
        query = Device.objects.annotate(**plan.also).query
        compiler = query.get_compiler(connection=connection)
        for name in plan.also:
            also_sql, params = compiler.compile(query.annotations[name])
            returning += f", {also_sql} AS {_quote(name)}"
            also_params += params
    # Identifiers come from the models; values are parameters, or constants quoted by _literal().
    sql = f"""
        WITH locked AS MATERIALIZED ({lock_sql}),
        changed AS ({update_sql} {returning}),
        logged AS (
            INSERT INTO {_quote(DeviceEvent._meta.db_table)} ({", ".join(EVENT_COLUMNS)})
            SELECT changed.id, {_literal(plan.action)}, locked.status, changed.status, {_literal(plan.source)},
                %s, %s, {details_sql}, %s
            FROM changed JOIN locked ON locked.id = changed.id {owner_join}
        )
        SELECT {selected} FROM changed JOIN locked ON locked.id = changed.id {owner_join}
        ORDER BY changed.id
    """  # noqa: S608
    if plan.ids:  # every device of the set: changed (with its status before), or as read
        head = sql[: sql.rindex("SELECT")]
        sql = f"""{head}
            SELECT locked.id, locked.uuid, COALESCE(changed.status, locked.status),
                COALESCE(changed.is_banned, locked.is_banned), CASE WHEN changed.id IS NOT NULL THEN locked.status END,
                locked.applies OR locked.due
            FROM locked LEFT JOIN changed ON changed.id = locked.id
        """  # noqa: S608
    event_params = [Slot("actor"), Slot("request_id"), *details_params, now_slot()]
    params = [*lock_params, *update_params, *also_params, *event_params]
    return sql, params, plan


def now_slot() -> Slot:
    """The moment of the call (the "now" value), which every statement's events and timestamps record."""
    return Slot("now", DateTimeField())


class _Ids(Field):
    """A list of ids bound as one array parameter."""

    def get_db_prep_value(self, value, connection, prepared=False):
        return list(value)


def _transition_stepwise(plan: TransitionPlan, values: dict) -> list[Changed]:
    old_fields = sorted({v.field for v in plan.details.values() if isinstance(v, Old)})
    owner = plan.owner or any(isinstance(v, OwnerLogin) for v in plan.details.values())
    with transaction.atomic():
        old = {row["id"]: row for row in plan.devices.order_by("pk").values("id", "status", *old_fields)}
        if not old:
            return []
        update_sql, update_params = _update(plan.rule.filter(pk__in=list(old)), plan.writes)
        rows = _fetch(f"{update_sql} {_returning(Device)}", update_params)
        devices = sorted((from_row(Device, row) for row in rows), key=lambda device: device.pk)
        accounts = Account.objects.in_bulk({d.account_id for d in devices if d.account_id}) if owner else {}
        extras = Device.objects.filter(pk__in=[d.pk for d in devices]).annotate(**plan.also).in_bulk()
        changed, events = [], []
        for device in devices:
            if owner:
                device.account = accounts.get(device.account_id)
            for name in plan.also:
                setattr(device, name, getattr(extras[device.pk], name))
            before = old[device.pk]
            details = _details_value(plan.details, values, old=before, owner=device.account if owner else None, refs={})
            events.append(
                _event_row(
                    plan.action,
                    plan.source,
                    values,
                    device=device,
                    from_status=before["status"],
                    to_status=device.status,
                    details=details,
                )
            )
            changed.append(Changed(device=device, from_status=before["status"]))
        DeviceEvent.objects.bulk_create(events)
        return changed


# -- creations ------------------------------------------------------------------------------------------------------


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
class CreationPlan:
    """A device, its event and the protocol's rows that belong to it, built with Slots and Refs (see create())."""

    device: Device
    action: str
    source: str
    details: dict = field(default_factory=dict)
    gate: Gate | None = None
    rows: tuple[Model, ...] = ()
    skip_conflict: bool = False  # a MAC or type and serial number another device has: create nothing
    actor: "Slot | Ref" = field(default_factory=lambda: Slot("actor"))  # or the gate's, e.g. the caller's login


@dataclass
class Created:
    device: Device
    gate: dict[str, Any]
    rows: list[Model]


def create(key: Hashable, build: Callable[[], CreationPlan], values: dict) -> Created | None:
    """Insert a device, its event and the protocol's rows that belong to it; one statement.

    Fields of the plan's device and rows may be Slots, Ref("gate", name) or
    Ref("device", name) (each row's device is the new one); the event
    records the call's "actor", "request_id", "now" and "details". None,
    with nothing written, when the gate finds no row, or, with
    skip_conflict, when the device's MAC or type and serial number are
    another's. A unique index a protocol row breaks raises IntegrityError
    (nothing is written).
    """
    if not _postgresql():
        with bound(values):
            return _create_stepwise(build(), values)
    sql, params, plan, names = _prepared(("create", key), lambda: _render_create(build()))
    # A row's unique index fails the statement: in a transaction, a savepoint keeps the transaction usable.
    savepoint = connection.in_atomic_block and any(_may_break_unique(row) for row in plan.rows)
    with transaction.atomic() if savepoint else nullcontext():
        found = _fetch(sql, _bind(params, values))
    if not found:
        return None
    row = found[0]
    device = from_row(Device, row[: _width(Device)])
    start, saved = _width(Device), []
    for model_row in plan.rows:
        model = type(model_row)
        saved.append(from_row(model, row[start : start + _width(model)]))
        start += _width(model)
    return Created(device=device, gate=dict(zip(names, row[start:], strict=True)), rows=saved)


def _may_break_unique(row: Model) -> bool:
    """Whether a row has a unique value of its own: not its key, nor the reference to the new device."""

    def own(name: str) -> bool:
        f = type(row)._meta.get_field(name)
        return not f.primary_key and not isinstance(getattr(row, f.attname), Ref)

    unique = [f.name for f in type(row)._meta.concrete_fields if f.unique]
    constrained = [name for c in type(row)._meta.constraints for name in getattr(c, "fields", ())]
    return any(own(name) for name in unique + constrained)


def _render_create(plan: CreationPlan) -> tuple:
    steps, params, names, sources = [], [], [], ""
    if plan.gate is not None:
        gate_sql, gate_params, names = _gate_sql(plan.gate)
        steps.append(f"gate AS MATERIALIZED ({gate_sql})")
        params += gate_params
        sources = " FROM gate"
    device_sql, device_params = _insert_select(plan.device)
    conflict = " ON CONFLICT DO NOTHING" if plan.skip_conflict else ""
    steps.append(f"device AS ({device_sql}{sources}{conflict} {_returning(Device, qualified=False)})")
    params += device_params
    with_device = " FROM device" + (", gate" if plan.gate is not None else "")
    event_sql, event_params = _insert_select(_creation_event(plan))
    steps.append(f"event AS ({event_sql}{with_device})")
    params += event_params
    # Each step's columns are in field order (its RETURNING, the gate's SELECT): `step.*` reads them so.
    selected = ["device.*"]
    for index, row in enumerate(plan.rows):
        row_sql, row_params = _insert_select(row)
        steps.append(f"row{index} AS ({row_sql}{with_device} {_returning(type(row), qualified=False)})")
        params += row_params
        selected.append(f"row{index}.*")
    if plan.gate is not None:
        selected.append("gate.*")
    tables = ", ".join(["device", *(f"row{index}" for index in range(len(plan.rows))), *(["gate"] * bool(plan.gate))])
    sql = f"WITH {', '.join(steps)} SELECT {', '.join(selected)} FROM {tables}"  # noqa: S608
    return sql, params, plan, names


def _creation_event(plan: CreationPlan) -> DeviceEvent:
    return DeviceEvent(
        device_id=Ref("device", "id"),
        action=plan.action,
        from_status="",
        to_status=plan.device.status,
        source=plan.source,
        actor=plan.actor,
        request_id=Slot("request_id"),
        details=_Details(plan.details),
        created_at=now_slot(),
    )


class _Details(dict):
    """An event's details in a creation plan: written by _details_sql()."""


def _gate_sql(gate: Gate) -> tuple[str, list, list[str]]:
    model = gate.pick.model
    if gate.update is None:
        names = [*(f.attname for f in model._meta.concrete_fields), *gate.pick.query.annotations]
        sql, params = _select(gate.pick.values(*names)[:1])
        return sql, params, names
    pick_sql, pick_params = _select(gate.pick.values("pk")[:1])
    lock = " FOR UPDATE SKIP LOCKED" if gate.skip_locked else ""
    chosen = gate.qualifies.filter(pk=RawSQL(f"({pick_sql}{lock})", pick_params))  # noqa: S611 - compiled
    sql, params = _update(chosen, gate.update)
    names = [f.attname for f in model._meta.concrete_fields]
    return f"{sql} {_returning(model)}", params, names


def _insert_select(instance: Model) -> tuple[str, list]:
    """`INSERT INTO <table> (<columns>) SELECT <values>` of an unsaved instance.

    A Ref is a column of an earlier step, a Slot a value of the call; any
    other value is the same for every call, and a plain one (a string, a
    number, a flag, NULL) is written into the kept statement: a field whose
    value changes from call to call (a callable default, auto_now) must be a
    Slot. An automatic primary key is left to the database.
    """
    model = type(instance)
    columns, values, params = [], [], []
    for f in model._meta.concrete_fields:
        raw = getattr(instance, f.attname)
        if f.primary_key and raw is None:
            continue  # an automatic key: the database numbers the row
        per_call = (f.has_default() and callable(f.default)) or getattr(f, "auto_now", False)
        per_call = per_call or getattr(f, "auto_now_add", False)
        if per_call and not isinstance(raw, Ref | Slot | _Details):
            raise ValueError(f"{model.__name__}.{f.name} changes from call to call: give it a Slot")
        columns.append(_quote(f.column))
        if isinstance(raw, Ref):
            values.append(f"{raw.step}.{_quote(raw.attname)}")
        elif isinstance(raw, _Details):
            sql, details_params = _details_sql(raw)
            values.append(sql)
            params += details_params
        elif isinstance(raw, Slot):
            values.append("%s")
            params.append(Slot(raw.name, f))
        else:
            value = f.get_db_prep_save(f.pre_save(instance, True), connection)
            if value is None or isinstance(value, bool | int | str):
                values.append(_literal(value))
            else:
                values.append("%s")
                params.append(value)
    sql = f"INSERT INTO {_quote(model._meta.db_table)} ({', '.join(columns)}) SELECT {', '.join(values)}"
    return sql, params


def _create_stepwise(plan: CreationPlan, values: dict) -> Created | None:
    with transaction.atomic():
        gate_row = _gate_stepwise(plan.gate) if plan.gate is not None else None
        if plan.gate is not None and gate_row is None:
            return None
        refs: dict[str, Any] = {"gate": SimpleNamespace(**(gate_row or {}))}
        _resolve(plan.device, refs, values)
        if plan.skip_conflict:
            conflicts = Device.objects.filter(mac=plan.device.mac) if plan.device.mac else Device.objects.none()
            if plan.device.serial_number:
                conflicts |= Device.objects.filter(type=plan.device.type, serial_number=plan.device.serial_number)
            if conflicts.exists():
                return None
        plan.device.save(force_insert=True)
        refs["device"] = plan.device
        actor = getattr(refs[plan.actor.step], plan.actor.attname) if isinstance(plan.actor, Ref) else None
        event = _event_row(
            plan.action,
            plan.source,
            values | ({"actor": actor} if actor is not None else {}),
            device=plan.device,
            to_status=plan.device.status,
            details=_details_value(plan.details, values, old={}, owner=None, refs=refs),
        )
        event.save(force_insert=True)
        for row in plan.rows:
            _resolve(row, refs, values)
            row.save(force_insert=True)
        return Created(device=plan.device, gate=dict(gate_row or {}), rows=list(plan.rows))


def _gate_stepwise(gate: Gate) -> dict | None:
    model = gate.pick.model
    if gate.update is None:
        names = [*(f.attname for f in model._meta.concrete_fields), *gate.pick.query.annotations]
        return next(iter(gate.pick.values(*names)[:1]), None)
    picked = list(gate.pick.values_list("pk", flat=True)[:1])
    if not picked:
        return None  # nothing to take (an UPDATE over `pk IN ()` is no statement Django can write)
    chosen = gate.qualifies.filter(pk__in=picked)
    sql, params = _update(chosen, gate.update)
    found = _fetch(f"{sql} {_returning(model)}", params)
    if not found:
        return None
    row = from_row(model, found[0])
    return {f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields}


def _resolve(instance: Model, refs: dict[str, Any], values: dict) -> None:
    for f in type(instance)._meta.concrete_fields:
        value = getattr(instance, f.attname)
        if isinstance(value, Ref):
            setattr(instance, f.attname, getattr(refs[value.step], value.attname))
        elif isinstance(value, Slot):
            setattr(instance, f.attname, values[value.name])


# -- rows of any model by their unique values -------------------------------------------------------------------------


def insert_unless_taken(instance: Model, *, unique: tuple[str, ...]) -> int | None:
    """INSERT `instance`'s row unless a row with its `unique` values exists: the new row's pk, or None.

    One statement, `INSERT ... ON CONFLICT (<unique>) DO NOTHING RETURNING pk`.
    When the row in the way is another transaction's uncommitted insert,
    PostgreSQL waits on the unique index for that transaction to end: committed,
    nothing is inserted; rolled back, this row is. (SQLite serialises writers.)
    For a caller that must wait for a concurrent first request, as an
    Idempotency-Key's retry does; the model is the caller's, not the core's.
    """
    model = type(instance)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]

    def render() -> tuple:
        table, pk = _quote(model._meta.db_table), _quote(model._meta.pk.column)
        columns = ", ".join(_quote(f.column) for f in fields)
        conflict = ", ".join(_quote(model._meta.get_field(name).column) for name in unique)
        values = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT ({conflict}) DO NOTHING RETURNING {pk}"  # noqa: S608 - names from the model
        return (sql,)

    (sql,) = _prepared(("insert_unless_taken", model, unique), render)
    rows = _fetch(sql, [f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields])
    return rows[0][0] if rows else None


def update_fields_by_pk(instance: Model, fields: tuple[str, ...]) -> None:
    """`UPDATE <table> SET <fields> WHERE pk = ...` with `instance`'s values, as save(update_fields=) would
    write them, without save()'s work around the statement (signals, a select when nothing matched)."""
    model = type(instance)
    chosen = [model._meta.get_field(name) for name in fields]

    def render() -> tuple:
        table, pk = _quote(model._meta.db_table), _quote(model._meta.pk.column)
        assignments = ", ".join(f"{_quote(f.column)} = %s" for f in chosen)
        return (f"UPDATE {table} SET {assignments} WHERE {pk} = %s",)  # noqa: S608 - names from the model

    (sql,) = _prepared(("update_fields_by_pk", model, fields), render)
    params = [f.get_db_prep_save(getattr(instance, f.attname), connection) for f in chosen] + [instance.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# -- reads the admin and the probes make ------------------------------------------------------------------------------


def device_types_in_use() -> list[str]:
    """The device types in use, read by skipping through the type index rather than scanning the table."""
    table = _quote(Device._meta.db_table)
    sql = f"""
        WITH RECURSIVE types(type) AS (
            SELECT MIN(type) FROM {table}
            UNION ALL
            SELECT (SELECT MIN(d.type) FROM {table} d WHERE d.type > types.type)
            FROM types WHERE types.type IS NOT NULL
        )
        SELECT type FROM types WHERE type IS NOT NULL
    """  # noqa: S608 - the table name is the model's; no input reaches this SQL
    return [row[0] for row in _fetch(sql, [])]


def ping() -> None:
    """One round trip to the database; raises when it doesn't answer."""
    _fetch("SELECT 1", [])


# -- bulk work (devices.bulk) -----------------------------------------------------------------------------------------
#
# A bulk command's batch is loaded into a temporary table (COPY on PostgreSQL) and applied with set-based statements
# whose lookups go row by row through the unique indexes (correlated subqueries, LATERAL ... LIMIT 1): their plans
# don't depend on the table's statistics, which a fresh database doesn't have. The temporary tables live as long as
# the connection (ON COMMIT PRESERVE ROWS); bulk_session() empties them.

BULK_ROWS = "bulk_rows"  # the batch: line, and the names a row gives (uuid, type, mac, serial_number)
BULK_SEEN = "bulk_seen"  # every device a run has named so far, with the first line that named it
BULK_BATCH = "bulk_batch"  # the rows of a batch as the connection that applies it reads them (import)
BULK_ROW_COLUMNS = ("line", "uuid", "type", "mac", "serial_number")


BULK_TEMP_BUFFERS = "512MB"  # the most a session's temporary tables may hold in memory (PostgreSQL)


@dataclass
class BulkSession:
    inserted: int = 0  # devices inserted since the statistics were last refreshed
    analyzed_at: float = 0  # the planner's estimate of the device table's rows then


@contextmanager
def bulk_session():
    """The temporary tables of a bulk run, empty; on PostgreSQL, a session set for loading.

    On PostgreSQL the connection prepares no statement (a prepared statement's generic plan is made once, from
    the statistics of a table the run is filling) and commits without waiting for the WAL flush
    (`synchronous_commit off`): a crash may lose the last batches the command reported as done, never part of
    one, and a run again does them (docs/decisions.md).
    """
    postgresql = _postgresql()
    session = BulkSession()
    with connection.cursor() as cursor:
        if postgresql:
            # bulk_seen of a million rows is some 100 MB; in the default 8 MB of buffers each claim and lookup
            # would go to disk. The setting takes only before the session's first temporary table.
            cursor.execute(
                "SELECT set_config('temp_buffers', %s, false) WHERE pg_my_temp_schema() = 0", [BULK_TEMP_BUFFERS]
            )
        _temporary_tables(cursor)
        if postgresql:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Device._meta.db_table])
            session.analyzed_at = max(cursor.fetchone()[0], 0)
            cursor.execute("SET synchronous_commit TO off")
    threshold = None
    if postgresql:
        raw = connection.connection
        threshold, raw.prepare_threshold = raw.prepare_threshold, None
    try:
        yield session
    finally:
        if postgresql and connection.connection is not None and not connection.needs_rollback:
            connection.connection.prepare_threshold = threshold
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
                _empty(cursor, BULK_ROWS, BULK_SEEN, BULK_BATCH)


def _temporary_tables(cursor) -> None:
    """bulk_rows and bulk_seen (the run's connection), bulk_batch (where a batch is applied), created and empty."""
    uuid_type = "uuid" if _postgresql() else "char(32)"
    for table in (BULK_ROWS, BULK_BATCH):
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {table} (line bigint PRIMARY KEY, uuid {uuid_type}, type text,"
            " mac text, serial_number text)"
        )
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {BULK_SEEN} (name text PRIMARY KEY, line bigint NOT NULL)")
    _empty(cursor, BULK_ROWS, BULK_SEEN, BULK_BATCH)


def bulk_workers_possible() -> bool:
    """Whether batches may be applied by other connections: PostgreSQL, and no transaction open here (its rows
    would be invisible to them)."""
    return _postgresql() and not connection.in_atomic_block


def bulk_worker_session() -> None:
    """Set up a worker thread's connection (devices.bulk) as bulk_session() sets up the run's: no prepared
    statements, commits without waiting for the WAL flush. The worker closes it at the end."""
    connection.ensure_connection()
    connection.connection.prepare_threshold = None
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
        _temporary_tables(cursor)


def _empty(cursor, *tables: str) -> None:
    if _postgresql():
        cursor.execute(f"TRUNCATE {', '.join(tables)}")
        return
    for table in tables:
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608


def bulk_keep_statistics(session: BulkSession) -> bool:
    """Refresh the planner's statistics of devices and events when the run has grown the table enough.

    Enough: 10,000 devices, or half the table as last estimated, whichever is more (so a run into an empty
    table analyses a logarithmic number of times). PostgreSQL's autovacuum would do it, when it runs (it may
    lag behind a bulk load, or be off); SQLite plans without them. True when it analysed.
    """
    if not _postgresql() or session.inserted < max(10_000, session.analyzed_at / 2):
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {_quote(Device._meta.db_table)}, {_quote(DeviceEvent._meta.db_table)}")
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Device._meta.db_table])
        session.analyzed_at = max(cursor.fetchone()[0], 0)
    session.inserted = 0
    return True


def _copy(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows: COPY ... FROM STDIN on PostgreSQL, logged as Django logs a query; executemany on SQLite."""
    names = ", ".join(_quote(column) for column in columns)
    if not _postgresql():
        marks = ", ".join(["%s"] * len(columns))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {_quote(table)} ({names}) VALUES ({marks})",  # noqa: S608
                [tuple(_sqlite_value(value) for value in row) for row in rows],
            )
        return
    statement = f"COPY {_quote(table)} ({names}) FROM STDIN"
    connection.validate_no_broken_transaction()
    with connection.cursor() as cursor:
        logged = cursor.debug_sql(statement) if hasattr(cursor, "debug_sql") else nullcontext()
        with logged, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def _sqlite_value(value):
    if isinstance(value, dict | list):
        return json.dumps(value, cls=DjangoJSONEncoder)
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, uuid.UUID):
        return value.hex
    return value


@dataclass(frozen=True)
class Loaded:
    """A batch's rows as the statements read them: a FROM item aliased `r`, and its parameters."""

    source: str
    params: list


def bulk_load(rows: list[tuple], *, table: str = BULK_ROWS) -> Loaded:
    """The batch's rows (line, uuid, type, mac, serial_number), for the statements that follow: COPY into `table`.

    The table keeps the run's earlier batches (emptying it costs more than the index on line): the statements
    read this batch's range of lines.
    """
    _copy(table, BULK_ROW_COLUMNS, rows)
    lines = [row[0] for row in rows]
    return Loaded(f"(SELECT * FROM {table} WHERE line BETWEEN %s AND %s) AS r", [min(lines), max(lines)])  # noqa: S608


# The names a row claims: the device it names (reserve, ban), or the MAC and the type and serial number it
# registers (import). The length of the type keeps "a" + "bc" apart from "ab" + "c".
def _device_name(device: str) -> str:
    return f"'device:' || {device}"


_MAC_NAME = "'mac:' || r.mac"
_SERIAL_NAME = "'serial:' || length(r.type) || ':' || r.type || r.serial_number"


def _named_sql(loaded: Loaded) -> str:
    """Each loaded row with the device its uuid, its mac (of its type) and its type and serial_number name.

    `device` is the one the row names: by uuid; by mac, or by type and serial_number; by both when it gives
    both, and then both must find the same device.
    """
    table = _quote(Device._meta.db_table)
    # The fence keeps the lookups a subquery of their own: inlined, each would run once per use in the CASE.
    fence = "OFFSET 0" if _postgresql() else "LIMIT -1 OFFSET 0"
    return f"""
        SELECT line, by_uuid, by_mac, by_serial,
            CASE WHEN uuid IS NOT NULL THEN by_uuid
                 WHEN mac IS NULL THEN by_serial
                 WHEN serial_number IS NULL OR by_serial = by_mac THEN by_mac END AS device
        FROM (
            SELECT r.line, r.uuid, r.mac, r.serial_number,
                (SELECT d.id FROM {table} d WHERE d.uuid = r.uuid) AS by_uuid,
                (SELECT d.id FROM {table} d WHERE d.mac = r.mac AND d.type = r.type) AS by_mac,
                (SELECT d.id FROM {table} d WHERE d.type = r.type AND d.serial_number = r.serial_number) AS by_serial
            FROM {loaded.source}
            {fence}
        ) AS r
    """  # noqa: S608 - our names only


def bulk_named(loaded: Loaded) -> list[tuple]:
    """(line, by_uuid, by_mac, by_serial, device, earlier) of each loaded row, by line.

    Records the device each row names in bulk_seen, unless an earlier line named it. `earlier` is the line
    that first named the device in an earlier batch, or in this one (SQLite); None when none did, so the first
    of this batch's lines naming it is the first (first_lines()). One statement on PostgreSQL, two on SQLite.
    """
    claim = (
        f"INSERT INTO {BULK_SEEN} (name, line) SELECT {_device_name('n.device')}, n.line"  # noqa: S608
        " FROM {named} AS n WHERE n.device IS NOT NULL ORDER BY n.line ON CONFLICT DO NOTHING"
    )
    # Looked up through bulk_seen's index, row by row: never joined (the planner knows nothing of a temporary
    # table, and would scan it).
    earlier = f"(SELECT s.line FROM {BULK_SEEN} s WHERE s.name = {_device_name('n.device')})"  # noqa: S608
    if not _postgresql():
        with connection.cursor() as cursor:
            cursor.execute(claim.format(named=f"({_named_sql(loaded)})"), loaded.params)
        return _fetch(
            f"SELECT n.line, n.by_uuid, n.by_mac, n.by_serial, n.device, {earlier}"  # noqa: S608
            f" FROM ({_named_sql(loaded)}) AS n ORDER BY n.line",
            loaded.params,
        )
    # The statement's SELECT sees bulk_seen as it was before the statement: the earlier batches' names.
    return _fetch(
        f"""
        WITH named AS MATERIALIZED ({_named_sql(loaded)}),
        claimed AS ({claim.format(named="named")})
        SELECT n.line, n.by_uuid, n.by_mac, n.by_serial, n.device, {earlier}
        FROM named n
        ORDER BY n.line
        """,  # noqa: S608 - our names only
        loaded.params,
    )


def first_lines(found: list[tuple], name: Callable[[tuple], Hashable | None], earlier: int) -> dict[int, int]:
    """The first line naming what each row names (by `name(row)`), for rows read with an `earlier` column."""
    in_batch: dict[Hashable, int] = {}
    first = {}
    for row in found:
        key = name(row)
        if key is None:
            continue
        line = row[0]
        first[line] = row[earlier] if row[earlier] is not None else in_batch.setdefault(key, line)
    return first


def bulk_claim_registrations(loaded: Loaded) -> list[tuple]:
    """(line, earlier line with its MAC, earlier line with its type and serial number) of each loaded row.

    Records the MAC and the type and serial number of each row in bulk_seen, unless an earlier line gave them.
    An earlier line is one of an earlier batch, or of this one (SQLite); None when there is none, so the first
    of this batch's lines is the first (first_lines()). One statement on PostgreSQL, two on SQLite.
    """
    names = (
        f"SELECT {_MAC_NAME} AS name, r.line FROM r WHERE r.mac IS NOT NULL"  # noqa: S608
        f" UNION ALL SELECT {_SERIAL_NAME}, r.line FROM r WHERE r.serial_number IS NOT NULL"
    )
    claim = f"INSERT INTO {BULK_SEEN} (name, line) SELECT name, line FROM ({names}) AS names"  # noqa: S608
    claim += " WHERE true ORDER BY line ON CONFLICT DO NOTHING"
    # A name is looked up through bulk_seen's index, row by row: never joined (the planner knows nothing of a
    # temporary table, and would scan it).
    earlier = f"(SELECT f.line FROM {BULK_SEEN} f WHERE f.name = {{}})"  # noqa: S608
    select = f"SELECT r.line, {earlier.format(_MAC_NAME)}, {earlier.format(_SERIAL_NAME)} FROM r ORDER BY r.line"  # noqa: S608
    if not _postgresql():
        with connection.cursor() as cursor:
            cursor.execute(f"WITH r AS (SELECT * FROM {loaded.source}) {claim}", loaded.params)  # noqa: S608
        return _fetch(f"WITH r AS (SELECT * FROM {loaded.source}) {select}", loaded.params)  # noqa: S608
    # The statement's SELECT sees bulk_seen as it was before the statement: the earlier batches' names.
    return _fetch(
        f"WITH r AS MATERIALIZED (SELECT * FROM {loaded.source}), claimed AS ({claim}) {select}",  # noqa: S608
        loaded.params,
    )


# What an import reads of a known device, and writes.
IMPORT_READ = ("id", "uuid", "type", "mac", "serial_number", "name", "version", "status", "status_until")
IMPORT_WRITES = ("type", "mac", "serial_number", "name", "version", "status", "status_until", "updated_at")


def bulk_registrations(loaded: Loaded) -> list[tuple]:
    """What each loaded row of an import names, by line.

    For each row: the device with its MAC and the one with its type and serial number (IMPORT_READ and, on
    PostgreSQL, the row version, xmin, as text), and the id of another device that has the MAC device's serial
    number in the row's type (a change of type would take it).
    """
    table = _quote(Device._meta.db_table)
    read = ", ".join(f"d.{_quote(name)}" for name in IMPORT_READ)
    if _postgresql():
        read += ", d.xmin::text AS seen"
        by_mac = f"SELECT {read} FROM {table} d WHERE d.mac = r.mac LIMIT 1"  # noqa: S608
        by_serial = f"SELECT {read} FROM {table} d WHERE d.type = r.type AND d.serial_number = r.serial_number LIMIT 1"  # noqa: S608
        joins = f"LEFT JOIN LATERAL ({by_mac}) m ON true LEFT JOIN LATERAL ({by_serial}) s ON true"
    else:
        devices = f"(SELECT {read}, NULL AS seen FROM {table} d)"  # noqa: S608
        joins = (
            f"LEFT JOIN {devices} m ON m.mac = r.mac"
            f" LEFT JOIN {devices} s ON s.type = r.type AND s.serial_number = r.serial_number"
        )
    columns = (*IMPORT_READ, "seen")
    # Identifiers are the model's; no input reaches this SQL.
    return _fetch(
        f"""
        SELECT r.line,
            {", ".join(f"m.{c}" for c in columns)},
            {", ".join(f"s.{c}" for c in columns)},
            (SELECT c.id FROM {table} c WHERE c.type = r.type AND c.serial_number = m.serial_number
                AND r.type <> m.type)
        FROM {loaded.source} {joins}
        ORDER BY r.line
        """,  # noqa: S608
        loaded.params,
    )


def bulk_next_ids(count: int) -> list[int]:
    """Ids for `count` new devices."""
    if not count:
        return []
    table = Device._meta.db_table
    if _postgresql():
        rows = _fetch(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [_quote(table), count]
        )
        return [row[0] for row in rows]
    # SQLite writes one transaction at a time.
    start = _fetch(f"SELECT COALESCE(MAX(id), 0) FROM {_quote(table)}", [])[0][0]  # noqa: S608
    return list(range(start + 1, start + 1 + count))


DEVICE_COLUMNS = tuple(f.column for f in Device._meta.concrete_fields)


def bulk_insert_devices(rows: list[list]) -> None:
    """New devices, each a row of every column (DEVICE_COLUMNS; the uuid may be hex), ids from bulk_next_ids()."""
    if rows:
        _copy(Device._meta.db_table, DEVICE_COLUMNS, rows)


def bulk_update_devices(rows: list[tuple]) -> None:
    """Write IMPORT_WRITES of devices as read: each row is (id, row version as read, *IMPORT_WRITES).

    Raises IntegrityError when a device changed since it was read (PostgreSQL; SQLite writes one
    transaction at a time): the batch is reported as a concurrent change, to run again.
    """
    if not rows:
        return
    table = _quote(Device._meta.db_table)
    sets = ", ".join(f"{_quote(name)} = u.{_quote(name)}" for name in IMPORT_WRITES)
    if not _postgresql():
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET {', '.join(f'{_quote(n)} = %s' for n in IMPORT_WRITES)} WHERE id = %s",  # noqa: S608
                [tuple(_sqlite_value(v) for v in (*row[2:], row[0])) for row in rows],
            )
        return
    types = {f.column: f.db_type(connection) for f in Device._meta.concrete_fields}
    arrays = ", ".join(["%s::bigint[]", "%s::text[]", *(f"%s::{types[name]}[]" for name in IMPORT_WRITES)])
    columns = ", ".join(_quote(name) for name in ("id", "seen", *IMPORT_WRITES))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS u({columns})"  # noqa: S608
            f" WHERE {table}.id = u.id AND {table}.xmin::text = u.seen",
            [list(column) for column in zip(*rows, strict=True)],
        )
        if cursor.rowcount != len(rows):
            raise IntegrityError("a device changed while the import read it")


def bulk_insert_events(rows: list[tuple]) -> None:
    """Audit events, each a tuple of EVENT_COLUMNS (details as JSON text)."""
    if rows:
        _copy(DeviceEvent._meta.db_table, EVENT_COLUMNS, rows)
