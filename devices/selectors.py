"""Reads shared by several callers."""

from django.db.models import Q

from devices.errors import DeviceNotFound
from devices.models import Device


def device_get_by_ref(*, type: str, mac: str | None = None, serial_number: str | None = None) -> Device:
    """The device of this type with this canonical MAC and/or serial number.

    When both are given they must name the same device. Raises DeviceNotFound.
    """
    if not mac and not serial_number:
        raise DeviceNotFound()
    lookup = Q(type=type)
    if mac:
        lookup &= Q(mac=mac)
    if serial_number:
        lookup &= Q(serial_number=serial_number)
    device = Device.objects.filter(lookup).first()
    if device is None:
        raise DeviceNotFound()
    return device
