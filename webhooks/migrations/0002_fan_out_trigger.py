"""The fan-out: every audit event inserted becomes a pending delivery to each active webhook subscribed to its type.

A trigger, so that whatever writes events (a transition's statement, a
creation, the bulk engine's COPY, the ORM) writes their deliveries in the same
transaction, and none of those paths knows of webhooks. On PostgreSQL it runs
once per statement over the statement's new rows, and with no active webhook
it reads one row-less index and stops; on SQLite (`make run`) once per row. A paused webhook (inactive) gets
no deliveries.
"""

from django.db import migrations

POSTGRESQL_FORWARD = """
CREATE FUNCTION webhooks_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks_webhook WHERE is_active) THEN
        INSERT INTO webhooks_webhookdelivery
            (webhook_id, event_id, device_id, status, attempts, next_attempt_at, created_at, last_error)
        SELECT webhook.id, event.id, event.device_id, 'pending', 0, event.created_at, event.created_at, ''
        FROM inserted_events AS event
        JOIN webhooks_webhook AS webhook ON webhook.is_active AND webhook.events ? ('device.' || event.action)
        ORDER BY event.id, webhook.id
        -- A webhook being deleted waits for this transaction (webhooks.services.webhook_delete locks it first),
        -- and one deleted meanwhile is skipped: a delivery never names a webhook that is gone.
        FOR KEY SHARE OF webhook;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER webhooks_fan_out AFTER INSERT ON devices_deviceevent
    REFERENCING NEW TABLE AS inserted_events
    FOR EACH STATEMENT EXECUTE FUNCTION webhooks_fan_out();
CREATE INDEX webhooks_active_idx ON webhooks_webhook (id) WHERE is_active;
"""
POSTGRESQL_BACKWARD = """
DROP TRIGGER webhooks_fan_out ON devices_deviceevent;
DROP FUNCTION webhooks_fan_out();
DROP INDEX webhooks_active_idx;
"""

SQLITE_FORWARD = """
CREATE TRIGGER webhooks_fan_out AFTER INSERT ON devices_deviceevent
BEGIN
    INSERT INTO webhooks_webhookdelivery
        (webhook_id, event_id, device_id, status, attempts, next_attempt_at, created_at, last_error)
    SELECT webhook.id, NEW.id, NEW.device_id, 'pending', 0, NEW.created_at, NEW.created_at, ''
    FROM webhooks_webhook AS webhook
    WHERE webhook.is_active
        AND EXISTS (SELECT 1 FROM json_each(webhook.events) WHERE json_each.value = 'device.' || NEW.action)
    ORDER BY webhook.id;
END;
"""
SQLITE_BACKWARD = "DROP TRIGGER webhooks_fan_out;"


def run(forward: bool):
    def apply(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        statements = {
            "postgresql": POSTGRESQL_FORWARD if forward else POSTGRESQL_BACKWARD,
            "sqlite": SQLITE_FORWARD if forward else SQLITE_BACKWARD,
        }[vendor]
        schema_editor.execute(statements, params=None)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_deliveries"),
    ]

    operations = [migrations.RunPython(run(forward=True), run(forward=False), elidable=False)]
