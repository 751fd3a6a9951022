"""Activation, validation and registration of licenses. Devices are made by the devices services."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from devices import sql
from devices.choices import EventAction
from devices.errors import AccountNotUsable
from devices.models import Account, Device
from devices.selectors import one_or_none
from devices.services import Actor, device_create_active
from licensing.errors import (
    LicenseExhausted,
    LicenseInvalid,
    LicenseNotFound,
    NoRemainingActivations,
    SessionDeviceBanned,
    Unprocessable,
)
from licensing.models import (
    DeviceLicense,
    License,
    LicenseKind,
    LicenseSession,
    generate_license_key,
    usable,
)

DEVICE_TYPE = "flecs"
# A validation is recorded at most this often per session: a heartbeat, not a write per request.
VALIDATION_RESOLUTION = timedelta(minutes=1)
# A pool activation looks again when the key it waited for was used up meanwhile, at most this many times.
POOL_ATTEMPTS = 5


@dataclass(frozen=True)
class Activation:
    session: LicenseSession
    created: bool  # False: the session sent was already active (204)


def session_valid(now) -> Q:
    """A session that is valid now: not ended, its license usable, its device active and not banned.

    What validation answers, and what an activation that sends the session takes for "already active".
    """
    device_active = Exists(Device.objects.active().not_banned().filter(pk=OuterRef("device_id")))
    return Q(ended_at__isnull=True) & usable(now, prefix="license__") & device_active


def _already_active(session_id: uuid.UUID, licenses) -> Activation | None:
    """The session sent, when it is a valid session of one of `licenses`: the device is active already.

    Its device banned: SessionDeviceBanned. A session that is not valid (its device being deactivated, say)
    is ignored, as validation would call it: the activation is a new one.
    """
    session = one_or_none(
        LicenseSession.objects.select_related("device", "license")
        .filter(pk=session_id, ended_at__isnull=True, license__in=licenses)
        .annotate(valid=ExpressionWrapper(session_valid(timezone.now()), output_field=BooleanField()))
    )
    if session is None:
        return None
    if session.device.is_banned:
        raise SessionDeviceBanned()
    return Activation(session=session, created=False) if session.valid else None


def _activate(shape: str, pick: Callable[[], QuerySet], values: dict, *, actor: Actor, skip_locked=False):
    """Take an activation of the license `pick()` finds, and make the device and its session: one statement.

    The license's count goes up only while it is activatable (checked on its
    newest row, so concurrent activations never exceed max_activations).
    None, with nothing written, when it isn't.
    """
    now = timezone.now()
    license = sql.Ref("gate", "key")
    created = device_create_active(
        key=("license", shape),
        type=DEVICE_TYPE,
        actor=actor,
        account=sql.Ref("gate", "account_id"),
        name=license,
        action=EventAction.LICENSE_ACTIVATED,
        details={"license": license},
        gate=lambda: sql.Gate(
            pick=pick(),
            qualifies=License.objects.activatable(sql.now_slot()),
            update={"activations_count": F("activations_count") + 1},
            skip_locked=skip_locked,
        ),
        rows=lambda: (
            LicenseSession(
                id=sql.Slot("session", UUIDField()),
                license_id=sql.Ref("gate", "id"),
                device_id=sql.Ref("device", "id"),
                created_at=sql.now_slot(),
            ),
        ),
        values={**values, "session": uuid.uuid4(), "now": now},
    )
    if created is None:
        return None
    session = created.rows[0]
    session.device, session.license = created.device, License(**created.gate)
    return Activation(session=session, created=True)


def license_activate_by_key(*, key: str, session_id: uuid.UUID | None, actor: Actor) -> Activation:
    """Activate a device with a license key (or a registered device's serial number).

    A session of this license that is still active answers "already
    active". Otherwise one statement takes an activation of the key, when it
    is usable and has one free, and makes the device and its session:
    concurrent activations never exceed max_activations. Raises
    LicenseNotFound, LicenseInvalid (revoked or expired), LicenseExhausted,
    AccountNotUsable (its owner may not receive devices), SessionDeviceBanned.
    """
    if session_id is not None:
        named = License.objects.by_key(key).values("pk")[:1]
        active = _already_active(session_id, License.objects.usable().filter(pk__in=named))
        if active is not None:
            return active
    for _attempt in range(2):  # the license may have changed between the statement and the read
        activation = _activate("key", lambda: License.objects.by_key(sql.Slot("key")), {"key": key}, actor=actor)
        if activation is not None:
            return activation
        license = License.objects.by_key(key).with_state().first()
        if license is None:
            raise LicenseNotFound()
        if not license.is_usable:
            raise LicenseInvalid()
        if license.is_exhausted:
            raise LicenseExhausted()
        if not license.owner_usable:
            raise AccountNotUsable()
    raise LicenseExhausted()


def license_activate_from_pool(*, account: Account, session_id: uuid.UUID | None, actor: Actor) -> Activation:
    """Activate a device with the next key of the account's pool that has a free activation.

    First the next such key no other request holds (SKIP LOCKED: concurrent
    activations spread over the pool's keys); when every key with room is
    held, the first of them, waiting for it (a key with ten activations
    serves ten concurrent requests). Its activation is taken only while it
    is activatable on its newest row, so no key passes max_activations.
    Raises NoRemainingActivations, SessionDeviceBanned.
    """
    if session_id is not None:
        active = _already_active(session_id, License.objects.usable().filter(account=account))
        if active is not None:
            return active

    def pool():
        now = sql.now_slot()
        return License.objects.activatable(now).filter(account=sql.Slot("account", BigIntegerField())).order_by("pk")

    values = {"account": account.pk}
    for _attempt in range(POOL_ATTEMPTS):
        activation = _activate("pool", pool, values, actor=actor, skip_locked=True) or _activate(
            "pool-wait", pool, values, actor=actor
        )
        if activation is not None:
            return activation
        # The key waited for was used up meanwhile: another may still have room.
        if not License.objects.activatable().filter(account=account).exists():
            break
    raise NoRemainingActivations()


def license_validate(*, session_id: uuid.UUID) -> tuple[LicenseSession | None, bool]:
    """Whether a session is valid now, and the session when it exists.

    Valid: the session has not ended, its license is neither revoked nor
    expired, and its device is active and not banned. Records the validation
    time, at most once a minute per session, in the statement that reads it.
    """
    now = timezone.now()

    def build():
        session, moment = sql.Slot("session", UUIDField()), sql.now_slot()
        read = (
            LicenseSession.objects.filter(pk=session)
            .annotate(valid=ExpressionWrapper(session_valid(moment), output_field=BooleanField()))
            .values("id", "created_at", "valid")
        )
        stale = LicenseSession.objects.filter(pk=session).filter(
            Q(last_validated_at__isnull=True) | Q(last_validated_at__lt=sql.Slot("stale_before", DateTimeField()))
        )
        return read, stale, {"last_validated_at": moment}

    values = {"session": session_id, "now": now, "stale_before": now - VALIDATION_RESOLUTION}
    rows = sql.select_after_update(("validate",), build, values)
    if not rows:
        return None, False
    return LicenseSession(id=rows[0]["id"], created_at=rows[0]["created_at"]), rows[0]["valid"]


def sessions_end_for_devices(*, device_ids: list[int]) -> None:
    """End the sessions of devices whose ownership ended, and free their activations."""
    sessions = LicenseSession.objects.filter(device_id__in=device_ids, ended_at__isnull=True)
    license_ids = list(sessions.values_list("license_id", flat=True).distinct())
    if not license_ids:
        return
    sessions.update(ended_at=timezone.now())
    active = (
        LicenseSession.objects.filter(license=OuterRef("pk"), ended_at__isnull=True)
        .order_by()
        .values("license")
        .annotate(n=Count("pk"))
        .values("n")
    )
    License.objects.filter(pk__in=license_ids).update(activations_count=Coalesce(Subquery(active), Value(0)))


# A hash checked when the login is unknown, so both failures take the same time.
_UNUSABLE_HASH = make_password("the login is unknown")


def account_authenticate(*, username: str, password: str) -> Account | None:
    """The active account with this login (any case) and password, or None."""
    account = one_or_none(Account.objects.usable().with_login(username))
    if account is None or not account.password:
        check_password(password, _UNUSABLE_HASH)
        return None
    return account if account.check_password(password) else None


@transaction.atomic
def device_license_register(
    *,
    vendor: Account,
    manufacturer_name: str,
    manufacturer_id: str,
    model: str,
    serial_number: str,
    manufacture_date: date,
) -> DeviceLicense:
    """Register a license for one device's serial number; the device activates with it as licenseKey.

    Raises Unprocessable when the serial number is registered already (or
    taken by a license key).
    """
    try:
        with transaction.atomic():
            license = License.objects.create(key=serial_number, kind=LicenseKind.DEVICE, max_activations=1)
            registered = DeviceLicense.objects.create(
                license=license,
                vendor=vendor,
                manufacturer_name=manufacturer_name,
                manufacturer_id=manufacturer_id,
                model=model,
                serial_number=serial_number,
                manufacture_date=manufacture_date,
            )
    except IntegrityError as exc:
        raise Unprocessable("Serial number already registered") from exc
    return DeviceLicense.objects.with_status().get(pk=registered.pk)


def licenses_terms_check(
    *, reference: str, account: Account | None, max_activations: int, expires_at: datetime | None
) -> None:
    """The terms of new keys, before any is made (generate_licenses and the admin's Generate keys).

    An expiry must be ahead: a key made expired is no use. Under a reference the keys are one batch that a
    repeated run completes, so its keys share their account, activations and expiry. Raises ValidationError
    saying what differs.
    """
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError("The expiry has come already: the keys would be expired when made.", code="expired")
    if not reference:
        return
    terms = {"account": account, "max_activations": max_activations, "expires_at": expires_at}
    shown = {
        "account": lambda value: value.login if value else "none",
        "max_activations": str,
        "expires_at": lambda value: value.isoformat() if value else "never",
    }
    existing = License.objects.filter(reference=reference).select_related("account")
    differing = {
        f"{name.replace('_', '-')} {shown[name](getattr(license, name))}"
        for license in existing.exclude(**terms).distinct()[:100]
        for name, value in terms.items()
        if getattr(license, name) != value
    }
    if differing:
        raise ValidationError(
            f"Keys under reference {reference} have {', '.join(sorted(differing))}, not these terms: complete the "
            "batch with its own terms, or choose another reference.",
            code="reference_terms",
        )


def licenses_generate(
    *,
    count: int,
    account: Account | None = None,
    max_activations: int = 1,
    expires_at: datetime | None = None,
    reference: str = "",
) -> list[License]:
    """Create `count` new license keys in one INSERT (call it per batch)."""
    now = timezone.now()
    licenses = [
        License(
            key=generate_license_key(),
            account=account,
            max_activations=max_activations,
            expires_at=expires_at,
            reference=reference,
            created_at=now,
        )
        for _ in range(count)
    ]
    return License.objects.bulk_create(licenses)


@transaction.atomic
def licenses_revoke(*, license_ids: list[int]) -> int:
    return License.objects.filter(pk__in=license_ids, revoked_at__isnull=True).update(revoked_at=timezone.now())
