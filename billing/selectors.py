"""Reads of the billing API's own data."""

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from billing.models import Camera, Storage


def _count(model) -> Coalesce:
    per_device = model.objects.filter(device=OuterRef("pk")).order_by().values("device").annotate(n=Count("pk"))
    return Coalesce(Subquery(per_device.values("n")), 0)


# How many storages and cameras a device has: read with the device by the statement that activates it.
COUNTS = {"storages_count": _count(Storage), "cameras_count": _count(Camera)}


def storages_of(device_id: int, count: int) -> list[Storage]:
    """The device's storages, by id; read only when it has some (`count`, from COUNTS)."""
    return list(Storage.objects.filter(device_id=device_id)) if count else []
