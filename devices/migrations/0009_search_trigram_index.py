"""The trigram index behind the admin's search by part of a serial number or a name (devices.models.SEARCHED_TEXT).

PostgreSQL only: SQLite (`make run`) has no GIN, and its search scans. The
pg_trgm extension is a trusted one: the database's owner may create it.
"""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

INDEX = "device_search_trgm_idx"


def run(forward: bool):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        device = apps.get_model("devices", "Device")
        index = next(index for index in device._meta.indexes if index.name == INDEX)
        if forward:
            schema_editor.add_index(device, index)
            # The planner tells a rare part from a common one by the statistics of the indexed text: without
            # them, a part every device has would be read through the index, not by the newest-first walk.
            schema_editor.execute(f"ANALYZE {device._meta.db_table}")
        else:
            schema_editor.remove_index(device, index)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0008_device_types"),
    ]

    operations = [
        TrigramExtension(),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="device",
                    index=django.contrib.postgres.indexes.GinIndex(
                        django.contrib.postgres.indexes.OpClass(
                            django.db.models.functions.text.Upper(
                                django.db.models.functions.text.Concat("serial_number", models.Value("\n"), "name")
                            ),
                            name="gin_trgm_ops",
                        ),
                        name=INDEX,
                    ),
                ),
            ],
        ),
        # After the state's change, so that the model read here carries the index: one definition of it.
        migrations.RunPython(run(forward=True), run(forward=False), elidable=False),
    ]
