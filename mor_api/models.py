"""What the VoIP softswitch (MOR) API keeps about SIP devices, groups and accountants."""

from django.db import models

from devices.models import Account, Device


class DeviceGroup(models.Model):
    """A user's group of devices. Every user has one primary group, made when first needed."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="device_groups")
    name = models.CharField(max_length=100)
    is_primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "-is_primary", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=models.Q(is_primary=True), name="devicegroup_one_primary_per_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account})"


class Authentication(models.IntegerChoices):
    """How a SIP line proves who it is (device_update's `authentication`)."""

    DYNAMIC = 0, "Dynamic (username and password)"
    IP = 1, "IP address"


class MorDevice(models.Model):
    """A SIP line of a user: its pin, caller id and the login it registers with."""

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="mor")
    group = models.ForeignKey(DeviceGroup, on_delete=models.PROTECT, related_name="devices")
    description = models.CharField(max_length=255, blank=True)
    # NULL, not "": a device without a pin (sent empty) doesn't clash with another.
    pin = models.CharField(max_length=20, null=True, blank=True, unique=True)
    caller_id = models.CharField(max_length=64, blank=True, help_text="The caller id number.")
    callerid_name = models.CharField(max_length=64, blank=True)
    username = models.CharField(max_length=32, unique=True, help_text="The SIP login the device registers with.")
    # The SIP secret must be given back to the device, so it is stored as it is, like a softswitch does.
    secret = models.CharField(max_length=64)
    authentication = models.PositiveSmallIntegerField(choices=Authentication.choices, default=Authentication.DYNAMIC)
    host = models.GenericIPAddressField(null=True, blank=True, help_text="The address of an IP-authenticated line.")
    port = models.PositiveIntegerField(null=True, blank=True, help_text="The SIP port of an IP-authenticated line.")
    # NULL, not "": lines without an extension don't clash; a dialled extension reaches one line only.
    extension = models.CharField(max_length=40, null=True, blank=True, unique=True)
    hidden = models.BooleanField(default=False, help_text="Left out of devices_get with show_hidden_devices=0.")
    comment = models.TextField(blank=True)
    call_limit = models.PositiveIntegerField(default=0, help_text="Simultaneous calls; 0 is unlimited.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "MOR device data"
        verbose_name_plural = "MOR device data"

    def __str__(self) -> str:
        return self.username


class MorPermissions(models.Model):
    """What an accountant may do through the MOR API (admins and resellers need none)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="mor_permissions")
    can_create_devices = models.BooleanField(default=False, help_text="Manage users' devices as an admin does.")
    can_manage_callerid = models.BooleanField(default=False, help_text="Set a device's caller id.")

    class Meta:
        verbose_name = "MOR permissions"
        verbose_name_plural = "MOR permissions"

    def __str__(self) -> str:
        return f"MOR permissions of {self.account}"
