"""The trigram index behind the admin's search by part of a serial number or a name (devices.models.SerialAndName).

PostgreSQL only, and outside the model's state: SQLite (`make run`) has no
GIN, and would try to build the index each time it rebuilds the table; its
search scans. The expression is SerialAndName's SQL, so that the search's
WHERE is read as the index's. Built concurrently: devices are written while
a release migrates. pg_trgm is a trusted extension: the database's owner may
create it; going back leaves it, as another may use it.
"""

from django.db import migrations

FORWARD = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # A concurrent build that was interrupted leaves an invalid index behind: run again, it is built anew.
    "DROP INDEX CONCURRENTLY IF EXISTS device_search_trgm_idx",
    "CREATE INDEX CONCURRENTLY device_search_trgm_idx ON devices_device"
    " USING gin ((upper(COALESCE(serial_number, '') || '\n' || name)) gin_trgm_ops)",
    # The planner tells a rare part from one most devices have by the indexed text's statistics.
    "ANALYZE devices_device",
)
BACKWARD = ("DROP INDEX CONCURRENTLY IF EXISTS device_search_trgm_idx",)


def run(statements: tuple[str, ...]):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return apply


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("devices", "0008_device_types"),
    ]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
