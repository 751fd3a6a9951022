"""Webhooks: subscribing, and delivering each pending delivery, signed per Standard Webhooks, at least once.

Deliveries are made by `deliver_webhooks` workers, any number on any hosts.
A worker takes one due delivery under a row lock (SKIP LOCKED: another
worker takes another), POSTs it while holding the lock, and records the
outcome in the same transaction. A worker that dies mid-delivery releases the
lock with its connection: the delivery is still pending, and is made again.
A delivery waits while an earlier event of the same device waits for the
same webhook, so a receiver gets one device's events in their order.
"""

import base64
import ipaddress
import json
import logging
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from standardwebhooks import Webhook as Signer

from webhooks.models import DeliveryStatus, WebhookDelivery, event_type

logger = logging.getLogger(__name__)

SECRET_BYTES = 24
USER_AGENT = "device-activation-webhooks/1"
ERROR_LENGTH = WebhookDelivery._meta.get_field("last_error").max_length


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


class UrlRefused(ValueError):
    """A webhook URL the service won't POST to."""


def url_check(url: str) -> None:
    """Refuse what isn't an http(s) URL of a public host (unless WEBHOOK_ALLOW_PRIVATE_URLS).

    A webhook makes this service send requests where its creator says: without
    the check, a management key could reach the service's own network (its
    database, its metadata endpoint). Checked when a webhook is saved and
    again before each delivery (a name may come to resolve elsewhere).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused("Enter an http:// or https:// URL.")
    if parts.username or parts.password:
        raise UrlRefused("A webhook URL can't carry a user name or password: the signature authenticates us.")
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"The host {parts.hostname} does not resolve.") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            raise UrlRefused(f"The host {parts.hostname} is not a public address ({ip}).")


def payload(delivery: WebhookDelivery) -> dict:
    """`{"type", "timestamp", "data": {"device", "event"}}`: the event, and the device as it is now."""
    from manage_api.api.serializers import DeviceEventSerializer, DeviceSerializer

    event = delivery.event
    return {
        "type": event_type(event.action),
        "timestamp": event.created_at,
        "data": {"device": DeviceSerializer(event.device).data, "event": DeviceEventSerializer(event).data},
    }


def signed_request(delivery: WebhookDelivery, *, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt: `webhook-id` is the delivery's, the timestamp the attempt's."""
    body = json.dumps(payload(delivery), cls=DjangoJSONEncoder, separators=(",", ":"))
    signature = Signer(delivery.webhook.secret).sign(delivery.message_id, now.astimezone(UTC), body)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: the base after the first failure, doubling, at most WEBHOOK_RETRY_MAX_SECONDS."""
    seconds = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(attempts - 1, 32)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX_SECONDS))


def due_deliveries(now: datetime):
    """Pending deliveries whose time has come, of active webhooks, with no earlier one of the device waiting."""
    earlier = WebhookDelivery.objects.filter(
        webhook=OuterRef("webhook"),
        device_id=OuterRef("device_id"),
        status=DeliveryStatus.PENDING,
        event_id__lt=OuterRef("event_id"),
    )
    return (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now, webhook__is_active=True)
        .exclude(Exists(earlier))
        .order_by("next_attempt_at", "id")
    )


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    delivered: bool
    status: int | None
    error: str


def deliver_next(client: httpx.Client) -> Attempt | None:
    """Make the next due delivery, if any, and record its outcome; None when nothing is due."""
    with transaction.atomic():
        claimed = (
            due_deliveries(timezone.now())
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook", "event__device__account")[:1]
        )
        delivery = next(iter(claimed), None)
        if delivery is None:
            return None
        status, error = _post(client, delivery)
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.response_status = status
        delivery.last_error = error[:ERROR_LENGTH]
        delivered = not error
        if delivered:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
        elif now - delivery.retries_since >= timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS):
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
            # The device's later deliveries wait for this one: they become due with it, not before, so the search
            # for what is due never wades through deliveries held back behind a failing one.
            WebhookDelivery.objects.filter(
                webhook_id=delivery.webhook_id,
                device_id=delivery.device_id,
                status=DeliveryStatus.PENDING,
                event_id__gt=delivery.event_id,
                next_attempt_at__lt=delivery.next_attempt_at,
            ).update(next_attempt_at=delivery.next_attempt_at)
        delivery.save(
            update_fields=[
                "attempts",
                "last_attempt_at",
                "response_status",
                "last_error",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
    return Attempt(delivery.pk, delivered, status, error)


def _post(client: httpx.Client, delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(HTTP status, error): no error for a 2xx answer; anything else is retried."""
    try:
        url_check(delivery.webhook.url)
        body, headers = signed_request(delivery, now=timezone.now())
        response = client.post(delivery.webhook.url, content=body, headers=headers)
    except UrlRefused as exc:
        return None, str(exc)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if response.is_success:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def http_client() -> httpx.Client:
    """One per worker: connections kept alive between deliveries; redirects are not followed (a 3xx fails)."""
    return httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)


def redeliver(deliveries) -> int:
    """Deliver again from now, with a day of retries anew; returns how many."""
    now = timezone.now()
    return deliveries.update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        requeued_at=now,
        delivered_at=None,
        last_error="",
    )
