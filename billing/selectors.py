"""Reads of the billing API's own data."""

import json

from django.db import connection

from billing.models import Camera, Storage


def _storages_and_camera_count_of_changed() -> tuple[str, str]:
    quote = connection.ops.quote_name
    fields = ", ".join(f"'{name}', storage.{quote(name)}" for name in ("id", "path", "usage", "capacity"))
    storages = (
        f"(SELECT COALESCE(json_agg(json_build_object({fields}) ORDER BY storage.id), '[]')::text "  # noqa: S608
        f"FROM {quote(Storage._meta.db_table)} AS storage WHERE storage.device_id = changed.id)"
    )
    cameras = f"(SELECT COUNT(*) FROM {quote(Camera._meta.db_table)} WHERE device_id = changed.id)"  # noqa: S608
    return storages, cameras


# For the one statement that changes a device (alias `changed`, PostgreSQL), to read in the same round trip the
# device's storages (a JSON array, by id) and its number of cameras.
STORAGES_AND_CAMERA_COUNT_OF_CHANGED = _storages_and_camera_count_of_changed()


def storages_and_camera_count_from(values: tuple[str, int]) -> tuple[list[Storage], int]:
    """The storages and camera count from the values of the two expressions."""
    storages_json, cameras = values
    return [Storage(**storage) for storage in json.loads(storages_json)], cameras


def storages_and_camera_count(device_id: int) -> tuple[list[Storage], int]:
    """The device's storages (by id) and how many cameras it has, on any database (two queries)."""
    return list(Storage.objects.filter(device_id=device_id)), Camera.objects.filter(device_id=device_id).count()
