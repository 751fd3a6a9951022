"""Reads of the billing API's own data."""

import json

from django.db import connection

from billing.models import Camera, Storage

_STORAGE_COLUMNS = ("id", "path", "usage", "capacity")


def _storages_and_camera_count_sql(device_id_sql: str) -> tuple[str, str]:
    """Two PostgreSQL expressions over a device id: its storages (a JSON array, by id) and its cameras' number."""
    quote = connection.ops.quote_name
    fields = ", ".join(f"'{name}', storage.{quote(name)}" for name in _STORAGE_COLUMNS)
    storages = (
        f"(SELECT COALESCE(json_agg(json_build_object({fields}) ORDER BY storage.id), '[]')::text "  # noqa: S608
        f"FROM {quote(Storage._meta.db_table)} AS storage WHERE storage.device_id = {device_id_sql})"
    )
    cameras = f"(SELECT COUNT(*) FROM {quote(Camera._meta.db_table)} WHERE device_id = {device_id_sql})"  # noqa: S608
    return storages, cameras


# For the one statement that changes a device (alias `changed`, PostgreSQL) to read them in the same round trip.
STORAGES_AND_CAMERA_COUNT_OF_CHANGED = _storages_and_camera_count_sql("changed.id")


def storages_and_camera_count_from(values: tuple[str, int]) -> tuple[list[Storage], int]:
    """The storages and camera count from the values of the two expressions."""
    storages_json, cameras = values
    return [Storage(**storage) for storage in json.loads(storages_json)], cameras


def storages_and_camera_count(device_id: int) -> tuple[list[Storage], int]:
    """The device's storages (by id) and how many cameras it has, on any database (two queries)."""
    return list(Storage.objects.filter(device_id=device_id)), Camera.objects.filter(device_id=device_id).count()
