"""Webhooks: an integrator's subscriptions, and a delivery of each audit event to each webhook subscribed to it.

A delivery is written by the database in the transaction that writes its
event (the migration's fan-out trigger), whichever path wrote the event: a
change and its deliveries commit together or not at all.
"""

from django.db import models

from devices.choices import EventAction

# The type of an event is its action's: "device.activated", "device.banned", ...
EVENT_TYPE_PREFIX = "device."
EVENT_TYPES = tuple(f"{EVENT_TYPE_PREFIX}{action}" for action in EventAction.values)


def event_type(action: str) -> str:
    return f"{EVENT_TYPE_PREFIX}{action}"


class Webhook(models.Model):
    url = models.URLField(max_length=2000, help_text="Where each delivery is POSTed.")
    # The event types it receives (EVENT_TYPES); the fan-out trigger reads this list.
    events = models.JSONField(default=list)
    # The Standard Webhooks signing secret, "whsec_" and base64: kept as it is, as signing needs it.
    secret = models.CharField(max_length=100, editable=False)
    is_active = models.BooleanField(default=True, help_text="An inactive webhook receives nothing until reactivated.")
    description = models.CharField(max_length=255, blank=True)
    created_by = models.CharField(max_length=254, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAUSED = "paused", "Paused"  # its webhook is paused: pending again when it is resumed
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey("devices.DeviceEvent", on_delete=models.CASCADE, related_name="+", db_index=False)
    # The event's device: one device's deliveries to one webhook go in event order.
    device_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Its day of retries runs from here (reset by "redeliver").
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-id"]
        indexes = [
            # What is due, in the order it is delivered.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status="pending"),
                name="delivery_due_idx",
            ),
            # Whether an earlier event of the same device still waits for the same webhook.
            models.Index(
                fields=["webhook", "device_id", "event"],
                condition=models.Q(status="pending"),
                name="delivery_device_order_idx",
            ),
            # What purge_webhook_deliveries deletes: the deliveries done with, oldest first.
            models.Index(
                fields=["last_attempt_at"],
                condition=models.Q(status__in=["delivered", "failed"]),
                name="delivery_done_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"msg_{self.pk}"

    @property
    def message_id(self) -> str:
        """The Standard Webhooks `webhook-id`: the same on every attempt, so a receiver can drop a repeat."""
        return f"msg_{self.pk}"
