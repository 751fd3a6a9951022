"""Licenses, device licenses and activation sessions of the edge-device licensing API."""

import secrets
import uuid

from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from devices.models import Account, Device

KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32: no 0, 1 or 8 to mistake for O, I or B


def generate_license_key() -> str:
    """Four groups of five base32 characters: 100 random bits."""
    return "-".join("".join(secrets.choice(KEY_ALPHABET) for _ in range(5)) for _ in range(4))


class LicenseKind(models.TextChoices):
    KEY = "key", "License key"
    DEVICE = "device", "Device license"


def usable(now, prefix: str = "") -> models.Q:
    """A license that activates devices: neither revoked nor expired (`prefix` reaches it through a relation)."""
    return models.Q(**{f"{prefix}revoked_at__isnull": True}) & (
        models.Q(**{f"{prefix}expires_at__isnull": True}) | models.Q(**{f"{prefix}expires_at__gt": now})
    )


def _owner_usable() -> models.Q:
    """No owner, or one that may receive devices."""
    usable_owner = Account.objects.usable().filter(pk=models.OuterRef("account"))
    return models.Q(account__isnull=True) | models.Exists(usable_owner)


class LicenseQuerySet(models.QuerySet):
    def usable(self, now=None):
        return self.filter(usable(now or timezone.now()))

    def activatable(self, now=None):
        """Usable, with a free activation, and with no owner or one that may receive devices."""
        return self.usable(now).filter(activations_count__lt=models.F("max_activations")).filter(_owner_usable())

    def by_key(self, key):
        """The licenses a key (a string, or an expression) names: as sent, or upper-case; the newest first."""
        value = key if hasattr(key, "resolve_expression") else models.Value(key)
        return self.filter(models.Q(key=value) | models.Q(key=Upper(value))).order_by("-pk")

    def with_state(self, now=None):
        """Each license with why it would refuse an activation, for the answer that says so."""
        now = now or timezone.now()
        return self.annotate(
            is_usable=models.ExpressionWrapper(usable(now), output_field=models.BooleanField()),
            is_exhausted=models.ExpressionWrapper(
                models.Q(activations_count__gte=models.F("max_activations")), output_field=models.BooleanField()
            ),
            owner_usable=models.ExpressionWrapper(_owner_usable(), output_field=models.BooleanField()),
        )


class License(models.Model):
    key = models.CharField(
        max_length=128, unique=True, help_text="The license key, or a device license's serial number."
    )
    kind = models.CharField(max_length=8, choices=LicenseKind.choices, default=LicenseKind.KEY)
    max_activations = models.PositiveIntegerField(default=1)
    activations_count = models.PositiveIntegerField(
        default=0, editable=False, help_text="Sessions not ended: kept with the license row locked."
    )
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="licenses",
        help_text="The account whose pool this key is in (activation with the account's token).",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=100, blank=True, help_text="The batch it was generated in, e.g. an order.")
    created_at = models.DateTimeField(default=timezone.now)

    objects = LicenseQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # A pool activation takes the account's next key with a free activation.
            models.Index(fields=["account", "id"], name="license_pool_idx"),
            models.Index(fields=["reference"], name="license_reference_idx"),
        ]

    def __str__(self) -> str:
        return self.key


class DeviceLicenseStatus(models.IntegerChoices):
    """A device license's `status`: an integer, as in the FLECS console's OpenAPI document (int16, example 0)."""

    REGISTERED = 0, "registered"  # no device activates with it now
    ACTIVATED = 1, "activated"  # a device activated with it and its session has not ended
    REVOKED = 2, "revoked"  # revoked or expired: it activates nothing


class DeviceLicenseQuerySet(models.QuerySet):
    def with_status(self, now=None):
        """Each device license's `status` (DeviceLicenseStatus), from its license row."""
        now = now or timezone.now()
        return self.annotate(
            status=models.Case(
                models.When(~usable(now, prefix="license__"), then=models.Value(DeviceLicenseStatus.REVOKED)),
                models.When(license__activations_count__gt=0, then=models.Value(DeviceLicenseStatus.ACTIVATED)),
                default=models.Value(DeviceLicenseStatus.REGISTERED),
                output_field=models.IntegerField(),
            )
        )


class DeviceLicense(models.Model):
    """A license a vendor registered for one device's serial number."""

    license = models.OneToOneField(License, on_delete=models.CASCADE, related_name="device_license")
    vendor = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="registered_device_licenses")
    manufacturer_name = models.CharField(max_length=255)
    manufacturer_id = models.CharField(max_length=100)
    model = models.CharField(max_length=255)
    serial_number = models.CharField(max_length=128, unique=True)
    manufacture_date = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = DeviceLicenseQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.manufacturer_name} {self.model} {self.serial_number}"


class LicenseSession(models.Model):
    """One activation: a session id the device keeps, and the core device it made."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="sessions")
    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="license_session")
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_validated_at = models.DateTimeField(null=True, blank=True, help_text="The device's last validation.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["license", "ended_at"], name="session_license_idx")]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def timestamp(self) -> int:
        return int(self.created_at.timestamp())
