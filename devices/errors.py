"""Errors of the core. Each has a stable code that every protocol maps to its own wire format."""


class DomainError(Exception):
    code: int = 1000
    default_message: str = "The request could not be completed."

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)


class DeviceNotFound(DomainError):
    code = 33600
    default_message = "Device not found."


class DeviceAlreadyActive(DomainError):
    code = 33603
    default_message = "Device already activated."


class DeviceDeactivating(DomainError):
    code = 33610
    default_message = "Device in the process of deactivation."


class DeviceInitializing(DomainError):
    code = 33622
    default_message = "Device in initialization."


class DeviceReserved(DomainError):
    code = 33599
    default_message = "Device reserved."


class DeviceBanned(DomainError):
    code = 33601
    default_message = "Device banned."


class DeviceNotReserved(DomainError):
    code = 1000
    default_message = "Device is not reserved."


class DeviceNotActive(DomainError):
    code = 1000
    default_message = "Device is not activated."


class DeviceConflict(DomainError):
    """A write would give a device the MAC or type/serial number of another one."""

    code = 1000
    default_message = "Another device already has this MAC address or serial number."


class AccountNotUsable(DomainError):
    code = 1000
    default_message = "The account is blocked or deleted."
