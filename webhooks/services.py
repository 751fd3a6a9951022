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
import secrets
import socket
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from rest_framework.fields import DateTimeField
from rest_framework.utils.encoders import JSONEncoder
from standardwebhooks import Webhook as Signer

from devices.errors import DomainError
from webhooks.models import DeliveryStatus, Webhook, WebhookDelivery, event_type

SECRET_BYTES = 24
USER_AGENT = "device-activation-webhooks/1"
ERROR_LENGTH = WebhookDelivery._meta.get_field("last_error").max_length


class WebhookUrlRefused(DomainError):
    code = "webhook_url_refused"
    default_message = "Enter an http:// or https:// URL of a public host."


class WebhookLimitReached(DomainError):
    code = "webhook_limit_reached"
    default_message = "There are as many webhooks as allowed (WEBHOOK_MAX_COUNT): delete one first."


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def url_check(url: str) -> None:
    """Refuse what isn't an http(s) URL of a public host (unless WEBHOOK_ALLOW_PRIVATE_URLS).

    A webhook makes this service send requests where its creator says: without
    the check, a management key could reach the service's own network (its
    database, its metadata endpoint). Checked when a webhook is saved and
    again before each delivery (a name may come to resolve elsewhere). The
    refusal names no address: it would map the service's network.
    """
    try:
        httpx.URL(url)  # what the sender will parse
        parts = urlsplit(url)
        port = parts.port
    except (httpx.InvalidURL, ValueError) as exc:
        raise WebhookUrlRefused() from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused()
    if parts.username or parts.password:
        raise WebhookUrlRefused("A webhook URL can't carry a user name or password: the signature authenticates us.")
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port or 443)}
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlRefused(f"The host {parts.hostname} does not resolve.") from exc
    if not all(_public(ipaddress.ip_address(address.split("%")[0])) for address in addresses):
        raise WebhookUrlRefused(f"The host {parts.hostname} is not a public address.")


# IPv6 addresses that carry an IPv4 address in their last 32 bits, which a translator (NAT64, RFC 6052; SIIT's
# IPv4-translated addresses, RFC 2765) or the host itself (IPv4-compatible) may reach; and NAT64's local-use
# prefix (RFC 8215), never global. The ipaddress module of Python 3.11 calls them all global, whatever the IPv4
# address.
_CARRYING_IPV4 = tuple(ipaddress.ip_network(prefix) for prefix in ("64:ff9b::/96", "::ffff:0:0:0/96", "::/96"))
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global, and so is any IPv4 address it carries (mapped, 6to4, NAT64, IPv4-compatible)."""
    if not address.is_global or address in _LOCAL_NAT64:
        return False
    if address.version == 4:
        return True
    carried = address.ipv4_mapped or address.sixtofour
    if carried is None and any(address in prefix for prefix in _CARRYING_IPV4):
        carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return carried is None or carried.is_global


# -- subscriptions --------------------------------------------------------------------------------------------------


def webhook_create(
    *, url: str, events: list[str], description: str = "", is_active: bool = True, created_by: str = ""
) -> Webhook:
    """A new webhook with a new signing secret. Raises WebhookUrlRefused, WebhookLimitReached."""
    url_check(url)
    if Webhook.objects.count() >= settings.WEBHOOK_MAX_COUNT:
        # Each event is written once per webhook it goes to, in the transaction of the change: the cap bounds
        # what a management key can add to every device change.
        raise WebhookLimitReached()
    return Webhook.objects.create(
        url=url,
        events=events,
        description=description,
        is_active=is_active,
        created_by=created_by,
        secret=new_secret(),
    )


def webhook_update(*, webhook: Webhook, **changes) -> Webhook:
    """Change a webhook's url, events, description or is_active. Raises WebhookUrlRefused.

    Pausing it (is_active false) pauses its pending deliveries and it gets no
    new ones; resuming it makes the paused ones due at once.
    """
    if "url" in changes:
        url_check(changes["url"])
    with transaction.atomic():
        # As stored (the admin's form has set the instance's fields already), locked against another change.
        was_active = Webhook.objects.select_for_update().values_list("is_active", flat=True).get(pk=webhook.pk)
        for name, value in changes.items():
            setattr(webhook, name, value)
        webhook.save()
        deliveries = WebhookDelivery.objects.filter(webhook=webhook)
        if was_active and not webhook.is_active:
            deliveries.filter(status=DeliveryStatus.PENDING).update(status=DeliveryStatus.PAUSED)
        elif webhook.is_active and not was_active:
            deliveries.filter(status=DeliveryStatus.PAUSED).update(
                status=DeliveryStatus.PENDING, next_attempt_at=timezone.now()
            )
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Unsubscribe: the webhook and its deliveries go."""
    with transaction.atomic():
        # Waits for the transactions whose events are being fanned out to it (the trigger's FOR KEY SHARE).
        Webhook.objects.select_for_update().filter(pk=webhook.pk).exists()
        WebhookDelivery.objects.filter(webhook=webhook).delete()
        Webhook.objects.filter(pk=webhook.pk).delete()


# -- deliveries -----------------------------------------------------------------------------------------------------


def payload(delivery: WebhookDelivery) -> dict:
    """`{"type", "timestamp", "data": {"device", "event"}}`: the event, and the device as it is now."""
    from manage_api.api.serializers import DeviceEventSerializer, DeviceSerializer

    event = delivery.event
    return {
        "type": event_type(event.action),
        "timestamp": DateTimeField().to_representation(event.created_at),  # as the event's own created_at
        "data": {"device": DeviceSerializer(event.device).data, "event": DeviceEventSerializer(event).data},
    }


def signed_request(delivery: WebhookDelivery, *, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt: `webhook-id` is the delivery's, the timestamp the attempt's."""
    body = json.dumps(payload(delivery), cls=JSONEncoder, separators=(",", ":"))
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


def due_deliveries(now: datetime) -> QuerySet:
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


def delivery_make_next() -> WebhookDelivery | None:
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
        status, error = _post(delivery)
        now = timezone.now()
        delivery.attempts += 1
        delivery.first_attempt_at = delivery.first_attempt_at or now
        delivery.last_attempt_at = now
        delivery.response_status = status
        delivery.last_error = error[:ERROR_LENGTH]
        if not error:
            delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
        elif now - delivery.first_attempt_at >= timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS):
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
                "first_attempt_at",
                "last_attempt_at",
                "response_status",
                "last_error",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
    return delivery


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(HTTP status, error): no error for a 2xx answer; anything else is an error, and retried.

    The request runs in a thread of its own with its own connection, given
    WEBHOOK_TIMEOUT_SECONDS in all: httpx's timeouts bound each read, and a
    receiver answering a byte at a time would otherwise hold the worker (and
    the delivery's lock) as long as it likes. The answer's body is not read.
    """
    try:
        url_check(delivery.webhook.url)
        body, headers = signed_request(delivery, now=timezone.now())
    except WebhookUrlRefused as exc:
        return None, exc.message
    except Exception as exc:  # a delivery that can't be built is recorded as failed, not retried for ever at once
        return None, f"Not sent: {type(exc).__name__}: {exc}"
    outcome: list[tuple[int | None, str]] = []
    sender = threading.Thread(target=lambda: outcome.append(_send(delivery.webhook.url, body, headers)), daemon=True)
    sender.start()
    sender.join(settings.WEBHOOK_TIMEOUT_SECONDS)
    if not outcome:
        return None, f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s"
    return outcome[0]


def _send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            status = response.status_code
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except Exception as exc:  # whatever the URL or the network does, the worker records it and goes on
        return None, f"{type(exc).__name__}: {exc}"
    if 200 <= status < 300:
        return status, ""
    return status, f"HTTP {status}"


def deliveries_redeliver(*, deliveries: QuerySet) -> int:
    """Deliver again from now, with a day of retries anew (those of active webhooks); returns how many."""
    return deliveries.filter(webhook__is_active=True).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        first_attempt_at=None,
        last_attempt_at=None,
        response_status=None,
        delivered_at=None,
        last_error="",
    )


def deliveries_purge(*, older_than: timedelta, batch_size: int = 10_000) -> int:
    """Delete the deliveries delivered or failed, last tried more than `older_than` ago, in batches; how many."""
    done = WebhookDelivery.objects.filter(
        status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED],
        last_attempt_at__lt=timezone.now() - older_than,
    )
    deleted = 0
    while pks := list(done.order_by("last_attempt_at").values_list("pk", flat=True)[:batch_size]):
        deleted += done.filter(pk__in=pks).delete()[0]
    return deleted
