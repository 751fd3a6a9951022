"""Activation, validation and registration of licenses. Devices are made by the devices services."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from devices.choices import DeviceStatus, EventAction
from devices.models import Account, Device
from devices.selectors import accounts_by_login, one_or_none
from devices.services import Actor, build_event, device_register_activated
from licensing import conditional
from licensing.errors import (
    LicenseExhausted,
    LicenseInvalid,
    LicenseNotFound,
    NoRemainingActivations,
    SessionDeviceBanned,
    Unprocessable,
)
from licensing.models import DeviceLicense, License, LicenseKind, LicenseSession, generate_license_key

DEVICE_TYPE = "flecs"
# A validation is recorded at most this often per session: a heartbeat, not a write per request.
VALIDATION_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Activation:
    session: LicenseSession
    created: bool  # False: the session sent was already active (204)


def _active_session(session_id: uuid.UUID | None, **filters) -> LicenseSession | None:
    if session_id is None:
        return None
    return one_or_none(
        LicenseSession.objects.select_related("device", "license").filter(
            pk=session_id, ended_at__isnull=True, **filters
        )
    )


def _already_active(session: LicenseSession) -> Activation:
    if session.device.is_banned:
        raise SessionDeviceBanned()
    return Activation(session=session, created=False)


def _activate(license: License, actor: Actor) -> Activation:
    """Make the session and its device for a locked license with a free activation."""
    device = device_register_activated(
        type=DEVICE_TYPE,
        account=license.account,
        actor=actor,
        name=license.key,
        details={"license": license.key},
        action=EventAction.LICENSE_ACTIVATED,
    )
    session = LicenseSession.objects.create(license=license, device=device)
    License.objects.filter(pk=license.pk).update(activations_count=F("activations_count") + 1)
    return Activation(session=session, created=True)


def license_activate_by_key(*, key: str, session_id: uuid.UUID | None, actor: Actor) -> Activation:
    """Activate a device with a license key (or a registered device's serial number).

    Concurrent activations never exceed max_activations. A session of this
    license that is still active answers "already active". Raises
    LicenseNotFound, LicenseInvalid (revoked or expired), LicenseExhausted,
    SessionDeviceBanned. With no session sent, a key that can simply be
    activated is activated in one statement (licensing.conditional).
    """
    if session_id is None:
        now = timezone.now()
        session = conditional.activate_by_key(
            key=key,
            device=Device(type=DEVICE_TYPE, status=DeviceStatus.ACTIVE, activated_at=now),
            event=build_event(
                device=None, action=EventAction.LICENSE_ACTIVATED, actor=actor, to_status=DeviceStatus.ACTIVE, now=now
            ),
            session=LicenseSession(created_at=now),
            now=now,
        )
        if session is not None:
            return Activation(session=session, created=True)
    return _license_activate_by_key_locked(key=key, session_id=session_id, actor=actor)


@transaction.atomic
def _license_activate_by_key_locked(*, key: str, session_id: uuid.UUID | None, actor: Actor) -> Activation:
    """The locking path: the license row is locked while it is checked and its activation taken."""
    license = License.objects.select_for_update().filter(Q(key=key) | Q(key=key.upper())).first()
    if license is None:
        raise LicenseNotFound()
    if not license.is_usable():
        raise LicenseInvalid()
    existing = _active_session(session_id, license=license)
    if existing is not None:
        return _already_active(existing)
    if license.activations_count >= license.max_activations:
        raise LicenseExhausted()
    return _activate(license, actor)


@transaction.atomic
def license_activate_from_pool(*, account: Account, session_id: uuid.UUID | None, actor: Actor) -> Activation:
    """Activate a device with the next key of the account's pool that has a free activation.

    Takes that key with SKIP LOCKED: concurrent pool activations never get
    the same key. Raises NoRemainingActivations, SessionDeviceBanned.
    """
    existing = _active_session(session_id, license__account=account)
    if existing is not None and existing.license.is_usable():
        return _already_active(existing)
    license = (
        License.objects.usable()
        .filter(account=account, activations_count__lt=F("max_activations"))
        .order_by("pk")
        .select_for_update(skip_locked=True)
        .first()
    )
    if license is None:
        raise NoRemainingActivations()
    return _activate(license, actor)


def license_validate(*, session_id: uuid.UUID) -> tuple[LicenseSession | None, bool]:
    """Whether a session is valid now, and the session when it exists.

    Valid: the session has not ended, its license is neither revoked nor
    expired, and its device is active and not banned. Records the validation
    time (at most once a minute per session), on PostgreSQL in the statement
    that reads the session (licensing.conditional).
    """
    now = timezone.now()
    stale_before = now - VALIDATION_RESOLUTION
    if conditional.available():
        session = conditional.session_validated(session_id=session_id, now=now, stale_before=stale_before)
    else:
        session = one_or_none(LicenseSession.objects.select_related("license", "device").filter(pk=session_id))
        if session is not None and _stale(session, stale_before):
            LicenseSession.objects.filter(pk=session.pk).update(last_validated_at=now)
    if session is None:
        return None, False
    valid = (
        session.ended_at is None
        and session.license.is_usable(now)
        and session.device.status == DeviceStatus.ACTIVE
        and not session.device.is_banned
    )
    if _stale(session, stale_before):
        session.last_validated_at = now
    return session, valid


def _stale(session: LicenseSession, stale_before: datetime) -> bool:
    return session.last_validated_at is None or session.last_validated_at < stale_before


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
    account = one_or_none(accounts_by_login(username).filter(status="active", deleted_at__isnull=True))
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
            return DeviceLicense.objects.create(
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
