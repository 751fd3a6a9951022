"""Reads of the billing API's own data."""

from django.db import connection

from billing.models import Camera, Storage
from devices.conditional import instance_from_row

_STORAGE_FIELDS = Storage._meta.concrete_fields


def storages_and_camera_count(device_id: int) -> tuple[list[Storage], int]:
    """The device's storages (by id) and how many cameras it has, in one query.

    One row per storage, each carrying the count; a single row of NULLs
    besides the count when the device has no storage.
    """
    quote = connection.ops.quote_name
    storage_columns = ", ".join(f"storage.{quote(field.column)}" for field in _STORAGE_FIELDS)
    # Identifiers come from the models; the id is a parameter.
    sql = f"""
        SELECT (SELECT COUNT(*) FROM {quote(Camera._meta.db_table)} WHERE device_id = %s), {storage_columns}
        FROM (SELECT 1) AS one
        LEFT JOIN {quote(Storage._meta.db_table)} AS storage ON storage.device_id = %s
        ORDER BY storage.id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [device_id, device_id])
        rows = cursor.fetchall()
    storages = [instance_from_row(Storage, row[1:]) for row in rows if row[1] is not None]
    return storages, rows[0][0]
