"""Errors of the core. Each has a stable symbolic code; each protocol maps it to its own wire format."""


class DomainError(Exception):
    code: str = "request_failed"
    default_message: str = "The request could not be completed."

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)


class DeviceNotFound(DomainError):
    code = "device_not_found"
    default_message = "Device not found."


class DeviceAlreadyActive(DomainError):
    code = "device_already_active"
    default_message = "Device already activated."


class DeviceDeactivating(DomainError):
    code = "device_deactivating"
    default_message = "Device in the process of deactivation."


class DeviceInitializing(DomainError):
    code = "device_initializing"
    default_message = "Device in initialization."


class DeviceReserved(DomainError):
    code = "device_reserved"
    default_message = "Device reserved."


class DeviceBanned(DomainError):
    code = "device_banned"
    default_message = "Device banned."


class DeviceNotReserved(DomainError):
    code = "device_not_reserved"
    default_message = "Device is not reserved."


class DeviceNotActive(DomainError):
    code = "device_not_active"
    default_message = "Device is not activated."


class DeviceConflict(DomainError):
    """A write would give a device the MAC or type/serial number of another one."""

    code = "device_conflict"
    default_message = "Another device already has this MAC address or serial number."


class AccountNotUsable(DomainError):
    code = "account_not_usable"
    default_message = "The account is blocked or deleted."


class BanReasonMissing(DomainError):
    code = "ban_reason_missing"
    default_message = "Give a ban reason: a ban says why, in the device's audit trail."
