from django.db import models


class DeviceStatus(models.TextChoices):
    INITIALIZING = "initializing", "Initializing"
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    ACTIVE = "active", "Active"
    DEACTIVATING = "deactivating", "Deactivating"


# States that end by themselves once their deadline has passed.
TRANSIENT_STATUSES = (DeviceStatus.INITIALIZING, DeviceStatus.DEACTIVATING)


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    BLOCKED = "blocked", "Blocked"


class AccountRole(models.TextChoices):
    USER = "user", "User"
    RESELLER = "reseller", "Reseller"
    ACCOUNTANT = "accountant", "Accountant"
    ADMIN = "admin", "Admin"


class ApiKeyScope(models.TextChoices):
    """What an API key opens: each API names the one scope it needs."""

    BILLING = "billing", "VMS billing API"
    MANAGE = "manage", "Management API"


class EventSource(models.TextChoices):
    BILLING = "billing", "Billing API"
    REGISTRY = "registry", "Client registry"
    LICENSING = "licensing", "Licensing API"
    MOR = "mor", "MOR API"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"


class EventAction(models.TextChoices):
    REGISTERED = "registered", "Registered"
    INITIALIZATION_FINISHED = "initialization_finished", "Initialization finished"
    RESERVED = "reserved", "Reserved"
    UNRESERVED = "unreserved", "Unreserved"
    ACTIVATED = "activated", "Activated"
    DEACTIVATION_STARTED = "deactivation_started", "Deactivation started"
    DEACTIVATION_FINISHED = "deactivation_finished", "Deactivation finished"
    BANNED = "banned", "Banned"
    UNBANNED = "unbanned", "Unbanned"
    LICENSE_ACTIVATED = "license_activated", "License activated"
    UPDATED = "updated", "Updated"
    CLIENT_UPDATED = "client_updated", "Updated by a client"
