"""Reads shared by several callers."""

import uuid
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Model, Q, QuerySet

from devices.models import Device


def one_or_none(rows: QuerySet) -> Model | None:
    """The row of a lookup by a unique key, or None.

    Not first(): that orders by the model's ordering (a sort, and a costlier
    statement to build) to pick one of rows that can only be one.
    """
    try:
        return rows.get()
    except rows.model.DoesNotExist:
        return None


@dataclass(frozen=True)
class DeviceRef:
    """A device named by its uuid, or by its type and its canonical MAC and/or serial number.

    Every part given must match: a MAC and a serial number (or a uuid and a type) name one device together.
    """

    type: str | None = None
    mac: str | None = None
    serial_number: str | None = None
    uuid: UUID | None = None

    def fields(self) -> dict[str, object]:
        """The fields a device must have to be the one named; empty when this names none."""
        if not self.uuid and not self.mac and not self.serial_number:
            return {}
        given = {"uuid": self.uuid, "type": self.type, "mac": self.mac, "serial_number": self.serial_number}
        return {name: value for name, value in given.items() if value}

    def lookup(self) -> Q:
        return Q(**self.fields()) if self.fields() else Q(pk__in=[])


def device_identity(device: "Device | int | uuid.UUID | DeviceRef") -> dict[str, object]:
    """The fields naming a device given by instance, id, uuid or reference; empty when it names none."""
    if isinstance(device, DeviceRef):
        return device.fields()
    if isinstance(device, uuid.UUID):
        return {"uuid": device}
    return {"pk": device.pk if isinstance(device, Device) else device}


def device_by_mac(mac: str) -> Device | None:
    """The device with this canonical MAC, whatever protocol manages it."""
    return one_or_none(Device.objects.filter(mac=mac))
