import hashlib
import secrets
import uuid

from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.db.models.lookups import IContains
from django.utils import timezone

from devices.choices import (
    TRANSIENT_STATUSES,
    AccountRole,
    AccountStatus,
    ApiKeyScope,
    DeviceStatus,
    EventAction,
    EventSource,
)
from devices.macs import format_mac


class AccountQuerySet(models.QuerySet):
    def not_deleted(self):
        return self.filter(deleted_at__isnull=True)

    def usable(self):
        """The accounts that may receive devices: active and not deleted."""
        return self.not_deleted().filter(status=AccountStatus.ACTIVE)

    def with_login(self, login):
        """The account with this login (a string, or an expression) in any letter case.

        Served by the unique index on LOWER(login).
        """
        value = login if hasattr(login, "resolve_expression") else models.Value(login.strip())
        return self.annotate(login_ci=Lower("login")).filter(login_ci=Lower(value))


class Account(models.Model):
    """A customer that owns devices and licenses. Operators are auth users, not accounts."""

    login = models.CharField(max_length=254, help_text="Unique, case-insensitive; usually an e-mail.")
    name = models.CharField(max_length=255, blank=True)
    type = models.CharField(max_length=32, default="user", blank=True)
    status = models.CharField(max_length=16, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    password = models.CharField(max_length=128, blank=True, help_text="Hashed; empty means no login.")
    role = models.CharField(max_length=16, choices=AccountRole.choices, default=AccountRole.USER)
    owner = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="managed_accounts",
        help_text="The reseller or admin account that manages this one.",
    )
    billing_properties = models.JSONField(default=list, blank=True)
    can_update_password = models.BooleanField(default=True)
    is_vendor = models.BooleanField(default=False, help_text="May register device licenses.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Soft delete: receives no devices.")

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["login"]
        constraints = [
            models.UniqueConstraint(
                Lower("login"),
                name="account_login_ci_unique",
                violation_error_message="An account with this login (in any letter case) exists already.",
            ),
        ]

    def __str__(self) -> str:
        return self.login

    def set_password(self, raw_password: str | None) -> None:
        self.password = make_password(raw_password) if raw_password else ""

    def check_password(self, raw_password: str) -> bool:
        """Whether it is the password; a right one hashed another way than today's is rehashed, as Django does."""
        if not self.password:
            return False
        hashed = self.password

        def rehash(raw: str) -> None:
            self.set_password(raw)
            # Only if the password is still the one checked: a change meanwhile wins.
            Account.objects.filter(pk=self.pk, password=hashed).update(password=self.password)

        return check_password(raw_password, hashed, rehash)


def default_api_key_scopes() -> list[str]:
    # Billing alone: the keys made before scopes existed, and the callers that name none, keep what they had.
    return [ApiKeyScope.BILLING.value]


def validate_api_key_scopes(value) -> None:
    if not isinstance(value, list) or not value or not set(value) <= set(ApiKeyScope.values):
        raise ValidationError(f"A non-empty list of scopes among {', '.join(ApiKeyScope.values)}.")


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A server-to-server credential. Only a hash of the secret is kept."""

    PREFIX_LENGTH = 8

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # A list, not a database array: the embedded SQLite database holds it too.
    scopes = models.JSONField(
        default=default_api_key_scopes,
        validators=[validate_api_key_scopes],
        help_text="The APIs the key opens.",
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from this moment; empty: never.")

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(revoked_at__isnull=True),
                name="apikey_active_name_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash_secret(full_key: str) -> str:
        # Keys are 256-bit random strings: a fast hash is enough, no stretching needed.
        return hashlib.sha256(full_key.encode()).hexdigest()

    @classmethod
    def generate(cls) -> tuple[str, str]:
        """Return (prefix, full key). The full key is `<prefix>.<secret>`."""
        prefix = secrets.token_hex(cls.PREFIX_LENGTH // 2)
        return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def is_expired(self, now) -> bool:
        """The one expiry rule, checked on every request, a cached key's too (devices.authentication)."""
        return self.expires_at is not None and self.expires_at <= now

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def overdue(now) -> models.Q:
    """A transient state whose time has come: it ends by itself, completed by whatever touches the device next."""
    return models.Q(status__in=TRANSIENT_STATUSES, status_until__lte=now)


class DeviceQuerySet(models.QuerySet):
    """The lifecycle's rules: which devices each transition applies to."""

    def overdue(self, now=None):
        return self.filter(overdue(now or timezone.now()))

    def banned(self):
        return self.filter(is_banned=True)

    def not_banned(self):
        return self.filter(is_banned=False)

    def reservable(self):
        return self.not_banned().filter(status=DeviceStatus.AVAILABLE)

    def activatable(self, *, skip_reserve_check: bool = False):
        """Available and not banned; reserved too with skip_reserve_check."""
        statuses = [DeviceStatus.AVAILABLE, DeviceStatus.RESERVED] if skip_reserve_check else [DeviceStatus.AVAILABLE]
        return self.not_banned().filter(status__in=statuses)

    def reserved(self):
        return self.filter(status=DeviceStatus.RESERVED)

    def active(self):
        return self.filter(status=DeviceStatus.ACTIVE)

    def initialization_due(self, now):
        return self.filter(overdue(now), status=DeviceStatus.INITIALIZING)

    def deactivation_due(self, now):
        return self.filter(overdue(now), status=DeviceStatus.DEACTIVATING)

    def described_by(self, source):
        """The devices whose type and version a client's report through `source` describes (SPEC section 4).

        Those `source` registered that nobody else has taken up: no owner,
        not reserved, and no event from another source but a ban (which is
        no part of the description) or the completion of a transient state.
        Anyone else's device is only marked seen, whatever its app reports.
        """
        events = DeviceEvent.objects.filter(device=models.OuterRef("pk")).order_by()
        registered = events.filter(action=EventAction.REGISTERED, source=source)
        taken_up = events.exclude(source=source).exclude(action__in=_NOT_TAKING_UP)
        return self.filter(
            models.Exists(registered),
            ~models.Exists(taken_up),
            account__isnull=True,
            status__in=[DeviceStatus.AVAILABLE, DeviceStatus.INITIALIZING],
        )


# What others may do to a device without taking up its description (DeviceQuerySet.described_by).
_NOT_TAKING_UP = (
    EventAction.BANNED,
    EventAction.UNBANNED,
    EventAction.INITIALIZATION_FINISHED,
    EventAction.DEACTIVATION_FINISHED,
)


class DeviceTypeQuerySet(models.QuerySet):
    def names(self) -> frozenset[str]:
        """Every declared type's name (one query): what an import checks its rows against."""
        return frozenset(self.values_list("name", flat=True))


class DeviceType(models.Model):
    """A device type operators have declared: an import (command or admin) accepts only these.

    Device.type stays a plain string that the protocols write as their clients send it (SPEC 2.1); this list is
    what operators type in, so that a typo fails instead of becoming a new type.
    """

    name = models.CharField(max_length=32, unique=True, help_text="As devices carry it, in its letter case.")
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DeviceTypeQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SerialAndName(models.Func):
    """A device's serial number and its name joined by a line break: what the admin's search finds parts of.

    One trigram index on the two serves both (each index is written on every device change: one costs bulk work
    7 to 12%, two cost it a fifth). Migration 0009 builds it on this very SQL, which has no parameter: a prepared
    statement's generic plan must still read it as the index's expression.
    """

    output_field = models.TextField()

    def __init__(self):
        super().__init__(models.F("serial_number"), models.F("name"))

    def as_sql(self, compiler, connection, **extra_context):
        serial_number, name = (compiler.compile(expression) for expression in self.get_source_expressions())
        return f"(COALESCE({serial_number[0]}, '') || '\n' || {name[0]})", [*serial_number[1], *name[1]]


# A shorter part has no trigram for the index to find, and would be in much of the fleet anyway.
SEARCHED_PART_MIN = 3


def text_contained(term: str) -> Q | None:
    """Devices whose serial number or name contains `term`, in any letter case; None for a term with no trigram
    (under three characters, or no letter nor digit): only a walk of the whole table could find it."""
    if len(term) < SEARCHED_PART_MIN or not any(character.isalnum() for character in term):
        return None
    contained = Q(IContains(SerialAndName(), term))
    if "\n" in term:  # the one way a part could span the two
        contained &= Q(serial_number__icontains=term) | Q(name__icontains=term)
    return contained


class Device(models.Model):
    """Every device, whatever protocol brought it in."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=32, help_text="mediaagent, SIP, Mobile, flecs, ...")
    # NULL, not "", when absent: uniqueness holds only among devices that have one (device_mac_unique).
    mac = models.CharField(max_length=12, null=True, blank=True, help_text="12 upper-case hex digits.")  # noqa: DJ001
    serial_number = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    name = models.CharField(max_length=255, blank=True)
    version = models.CharField(max_length=64, blank=True)
    is_online = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.AVAILABLE)
    status_until = models.DateTimeField(
        null=True, blank=True, help_text="When a transient state (initializing, deactivating) ends."
    )
    leave_reserved = models.BooleanField(
        default=False, help_text="Back to reserved, not available, when the deactivation ends."
    )
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="devices")
    activated_at = models.DateTimeField(null=True, blank=True, help_text="When it was added to its owner.")

    is_banned = models.BooleanField(default=False)
    ban_reason = models.CharField(max_length=255, blank=True)
    banned_at = models.DateTimeField(null=True, blank=True)
    banned_by = models.CharField(max_length=150, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        # Every index is paid for on each lifecycle write, so none is kept that another covers: the MAC's
        # uniqueness is a constraint, and status is served by status, -id.
        constraints = [
            models.UniqueConstraint(fields=["mac"], name="device_mac_unique"),
            models.UniqueConstraint(fields=["type", "serial_number"], name="device_type_serial_unique"),
        ]
        indexes = [
            # The admin's filters sort the newest first within a status / type / ban.
            models.Index(fields=["status", "-id"], name="device_status_id_idx"),
            models.Index(fields=["type", "-id"], name="device_type_id_idx"),
            models.Index(fields=["is_banned", "-id"], name="device_banned_id_idx"),
            # process_transitions scans only the overdue transient rows.
            models.Index(
                fields=["status_until"],
                condition=models.Q(status__in=["initializing", "deactivating"]),
                name="device_transient_due_idx",
            ),
            models.Index(fields=["serial_number"], name="device_serial_idx"),
            # The admin's search by the start of a MAC: LIKE 'prefix%' in any collation (the operator class is
            # PostgreSQL's; SQLite builds a plain index).
            models.Index(fields=["mac"], opclasses=["varchar_pattern_ops"], name="device_mac_prefix_idx"),
            # By part of a serial number or a name (text_contained): a trigram index, PostgreSQL's, that migration
            # 0009 builds and this list leaves out (SQLite would build it on each rebuild of the table).
        ]

    def __str__(self) -> str:
        return self.display_mac or self.serial_number or str(self.uuid)

    @property
    def display_mac(self) -> str:
        return format_mac(self.mac)


class ClientAppInfo(models.Model):
    """What the client device registry learns about the app running on a device."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="client_app")
    device_os = models.CharField(max_length=64)
    device_version = models.CharField(max_length=64)
    app_name = models.CharField(max_length=128)
    app_version = models.CharField(max_length=64)
    ip = models.GenericIPAddressField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "client app"

    def __str__(self) -> str:
        return f"{self.app_name} {self.app_version} on {self.device_os} {self.device_version}"


class ClientActivity(models.Model):
    """What a client app last said it was doing (the registry's device_activity): telemetry, not audited."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="client_activity")
    current_screen = models.CharField(max_length=64)
    content_id = models.BigIntegerField(null=True, blank=True)
    content_type = models.IntegerField(null=True, blank=True)
    reported_at = models.DateTimeField()

    class Meta:
        verbose_name = "client activity"
        verbose_name_plural = "client activity"

    def __str__(self) -> str:
        return self.current_screen


class DeviceEvent(models.Model):
    """The audit trail: one row for every change to a device, written in the same transaction."""

    # db_index=False: event_device_id_idx (device, -id) serves every lookup by device.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events", db_index=False)
    action = models.CharField(max_length=32, choices=EventAction.choices)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=16, choices=EventSource.choices)
    actor = models.CharField(max_length=254, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # One device's events, newest first by id: the order a management API page keeps (ids are unique,
            # times are not: a bulk batch writes its events at one time).
            models.Index(fields=["device", "-id"], name="event_device_id_idx"),
            models.Index(fields=["-created_at"], name="event_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor or self.source}"
