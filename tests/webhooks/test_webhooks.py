"""Webhooks: subscribing through the management API, deliveries from the audit trail, signed delivery and retries."""

import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from standardwebhooks import Webhook as Verifier

from devices import services
from devices.choices import ApiKeyScope, EventSource
from devices.models import DeviceEvent
from tests.factories import AccountFactory
from tests.manage_api.conftest import ManageClient
from tests.webhooks.receiver import Receiver
from webhooks.models import EVENT_TYPES, DeliveryStatus, Webhook, WebhookDelivery
from webhooks.services import deliveries_redeliver, delivery_make_next, new_secret, url_check, webhook_update

pytestmark = pytest.mark.django_db

ACTOR = services.Actor(source=EventSource.ADMIN, name="op")


class WebhookClient(ManageClient):
    def send(self, method: str, path: str, body=None):
        return getattr(self.client, method)(
            "/api/manage/" + path,
            json.dumps(body) if body is not None else None,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {self.secret}",
        )


@pytest.fixture
def api(db) -> WebhookClient:
    return WebhookClient(services.api_key_create(name="crm", scopes=[ApiKeyScope.MANAGE])[1])


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def subscribe(url: str, *events: str) -> Webhook:
    return Webhook.objects.create(url=url, events=list(events), secret=new_secret())


def deliver_all(seconds: float = 20) -> int:
    """Deliver until nothing is pending (waiting out retries); returns the attempts made."""
    attempts, deadline = 0, time.monotonic() + seconds
    while WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists():
        assert time.monotonic() < deadline, "deliveries still pending"
        if delivery_make_next() is None:
            time.sleep(0.01)
        else:
            attempts += 1
    return attempts


# -- subscribing ----------------------------------------------------------------------------------------------------


def test_subscribing_answers_201_with_the_secret_once(api):
    # when
    response = api.send("post", "webhooks/", {"url": "https://crm.example.com/h", "events": ["device.banned"]})
    # then: the secret is in this answer, Standard Webhooks' format, and never again
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) == {"id", "url", "events", "is_active", "description", "created_at", "updated_at", "secret"}
    assert created["secret"].startswith("whsec_")
    assert Verifier(created["secret"])  # a secret the package reads
    webhook = Webhook.objects.get()
    assert (webhook.secret, webhook.created_by, webhook.events) == (created["secret"], "crm", ["device.banned"])
    listed = api.get("webhooks/").json()["results"]
    assert [row["id"] for row in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"webhooks/{created['id']}/").json()


def test_a_webhook_may_be_subscribed_paused(api):
    body = {"url": "https://crm.example.com/h", "events": ["device.banned"], "is_active": False, "description": "later"}
    response = api.send("post", "webhooks/", body)
    assert response.status_code == 201, response.content
    assert (response.json()["is_active"], response.json()["description"]) == (False, "later")
    assert Webhook.objects.get().is_active is False


def test_a_webhook_is_changed_and_removed(api):
    webhook = subscribe("https://crm.example.com/h", "device.banned")
    # when
    patched = api.send("patch", f"webhooks/{webhook.pk}/", {"is_active": False, "events": ["device.unbanned"]})
    put = api.send("put", f"webhooks/{webhook.pk}/", {"url": "https://crm.example.com/2", "events": ["device.banned"]})
    # then
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert put.status_code == 200 and put.json()["url"] == "https://crm.example.com/2"
    webhook.refresh_from_db()
    assert (webhook.url, webhook.events, webhook.secret.startswith("whsec_")) == (
        put.json()["url"],
        ["device.banned"],
        True,
    )
    # when: removed
    assert api.send("delete", f"webhooks/{webhook.pk}/").status_code == 204
    # then
    assert not Webhook.objects.exists()
    assert api.get(f"webhooks/{webhook.pk}/").json() == {"code": "not_found", "message": "Not found."}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "https://a.example.com/h", "events": []}, "events", "This list may not be empty."),
        ({"url": "https://a.example.com/h", "events": ["device.activate"]}, "events", "Item 0:"),
        ({"url": "https://a.example.com/h", "events": "device.banned"}, "events", "Expected a list"),
        ({"url": "ftp://a.example.com/h", "events": ["device.banned"]}, "url", "http"),
        ({"url": "https://u:p@a.example.com/h", "events": ["device.banned"]}, "url", "user name or password"),
        ({"events": ["device.banned"]}, "url", "required"),
    ],
)
def test_a_bad_subscription_is_400_invalid_with_its_field(api, body, field, message):
    response = api.send("post", "webhooks/", body)
    assert response.status_code == 400
    answer = response.json()
    assert (answer["code"], answer["message"]) == ("invalid", f"Invalid field: {field}.")
    assert message in " ".join(answer["errors"][field])
    assert not Webhook.objects.exists()


def test_a_body_that_is_not_json_is_refused_in_the_apis_format(api):
    response = api.client.post(
        "/api/manage/webhooks/", b"{nope", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.secret}"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["message"] == "The body is not valid JSON."


def test_a_form_encoded_body_is_415_in_the_apis_format(api):
    response = api.client.post(
        "/api/manage/webhooks/",
        "url=https%3A%2F%2Fa.example.com&events=device.banned",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {api.secret}",
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("host", ["8.8.8.8", "[2001:4860:4860::8888]", "[64:ff9b::808:808]", "[2002:808:808::1]"])
def test_a_public_address_is_taken_also_when_it_carries_a_public_ipv4_one(settings, host):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    url_check(f"https://{host}/hooks")  # raises when refused


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3"),
        ("169.254.169.254", "169.254.169.254"),
        ("[::1]", "::1"),
        ("localhost", "localhost"),
        # IPv6 addresses that carry a private IPv4 one: NAT64, 6to4, IPv4-compatible
        ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1"),
        ("[64:ff9b:1::a9fe:a9fe]", "64:ff9b:1::a9fe:a9fe"),
        ("[2002:7f00:1::]", "2002:7f00:1::"),
        ("[::a00:1]", "::a00:1"),
        ("[::ffff:0:7f00:1]", "::ffff:0:7f00:1"),
    ],
)
def test_a_private_address_is_refused_unless_allowed_and_not_named(api, settings, host, name):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = api.send("post", "webhooks/", {"url": f"http://{host}/h", "events": ["device.banned"]})
    assert response.status_code == 400
    # the host as given, never what it resolves to (that would map the service's network)
    assert response.json()["errors"]["url"] == [f"The host {name} is not a public address."]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url", ["http://example.com:99999/", "http://[::1/", "https://"])
def test_a_url_that_is_not_one_is_400_whatever_the_setting(api, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = api.send("post", "webhooks/", {"url": url, "events": ["device.banned"]})
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert list(response.json()["errors"]) == ["url"]


def test_webhooks_are_capped(api, settings):
    settings.WEBHOOK_MAX_COUNT = 2
    body = {"url": "https://crm.example.com/h", "events": ["device.banned"]}
    assert [api.send("post", "webhooks/", body).status_code for _ in range(2)] == [201, 201]
    response = api.send("post", "webhooks/", body)
    assert (response.status_code, response.json()) == (
        409,
        {
            "code": "webhook_limit_reached",
            "message": "There are as many webhooks as allowed (WEBHOOK_MAX_COUNT): delete one first.",
        },
    )
    assert Webhook.objects.count() == 2


def test_a_page_of_webhooks_is_one_query(api, django_assert_num_queries):
    for n in range(3):
        subscribe(f"https://crm{n}.example.com/h", "device.banned")
    api.get("webhooks/")  # the key is read and cached
    with django_assert_num_queries(1):
        assert len(api.get("webhooks/").json()["results"]) == 3


def test_a_billing_only_key_cant_subscribe(db):
    secret = services.api_key_create(name="billing")[1]
    response = WebhookClient(secret).send("post", "webhooks/", {"url": "https://a.example.com", "events": EVENT_TYPES})
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert not Webhook.objects.exists()


def test_a_read_only_resource_answers_405_with_what_it_allows(api):
    response = api.send("post", "devices/", {})
    assert response.status_code == 405
    assert response.json() == {"code": "method_not_allowed", "message": "Allowed here: GET."}


# -- deliveries from the audit trail --------------------------------------------------------------------------------


def test_each_event_becomes_a_delivery_to_each_webhook_subscribed_to_its_type():
    # given: one webhook for bans and registrations, one for activations, one paused
    bans = subscribe("https://a.example.com/h", "device.banned", "device.registered")
    subscribe("https://b.example.com/h", "device.activated")
    paused = subscribe("https://c.example.com/h", *EVENT_TYPES)
    Webhook.objects.filter(pk=paused.pk).update(is_active=False)
    # when
    device = services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    services.device_reserve(device=device, actor=ACTOR)
    services.device_ban(device=device, reason="stolen", actor=ACTOR)
    # then
    rows = WebhookDelivery.objects.order_by("id").values_list("webhook_id", "event__action", "device_id", "status")
    assert list(rows) == [(bans.pk, "registered", device.pk, "pending"), (bans.pk, "banned", device.pk, "pending")]


def test_a_change_rolled_back_leaves_no_delivery():
    subscribe("https://a.example.com/h", *EVENT_TYPES)
    device = services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    WebhookDelivery.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.device_reserve(device=device, actor=ACTOR)
        assert WebhookDelivery.objects.count() == 1  # written with the event
        raise RuntimeError
    assert not WebhookDelivery.objects.exists()


def test_a_bulk_import_fans_out_too(tmp_path):
    from django.core.management import call_command

    subscribe("https://a.example.com/h", "device.registered")
    path = tmp_path / "devices.csv"
    path.write_text("type,mac\nmediaagent,A1B2C3D4E5F6\nmediaagent,A1B2C3D4E5F7\n")
    call_command("import_devices", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert WebhookDelivery.objects.count() == 2
    assert set(WebhookDelivery.objects.values_list("event__action", flat=True)) == {"registered"}


# -- delivering -----------------------------------------------------------------------------------------------------


def test_an_activation_is_delivered_signed_per_standard_webhooks(receiver):
    # given: a subscribed receiver, and a device activated through the billing API
    webhook = subscribe(receiver.url, "device.activated")
    AccountFactory(login="user@mail.com")
    device = services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    billing_key = services.api_key_create(name="billing-prod")[1]
    answer = Client().post(
        "/api/v1/billing/devices/activate",
        {"login": "user@mail.com", "name": "Cam", "type": "mediaagent", "mac": "A1:B2:C3:D4:E5:F6"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {billing_key}",
    )
    assert answer.status_code == 201, answer.content
    # when
    assert deliver_all() == 1
    # then: one request, which the package verifies with the secret, of the documented shape
    (request,) = receiver.received
    body = Verifier(webhook.secret).verify(request.body, request.headers)
    delivery = WebhookDelivery.objects.get()
    assert request.headers["webhook-id"] == f"msg_{delivery.pk}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "device.activated"
    event = DeviceEvent.objects.get(action="activated")
    assert body["data"]["event"]["id"] == event.pk
    assert body["data"]["event"]["actor"] == "billing-prod"
    assert body["data"]["device"]["uuid"] == str(device.uuid)
    assert body["data"]["device"]["owner"]["login"] == "user@mail.com"
    # and: a tampered body fails verification
    with pytest.raises(Exception, match="No matching signature"):
        Verifier(webhook.secret).verify(request.body.replace(b"Cam", b"Cat"), request.headers)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 204)


def test_the_receiver_down_then_up_gets_every_event_once_in_order_per_device(settings):
    # given: a receiver that is down, a fast retry schedule, two devices' events interleaved
    settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS = 0.05, 0.2
    receiver = Receiver().reserve_port()
    subscribe(receiver.url, *EVENT_TYPES)
    first = services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    second = services.device_register(type="mediaagent", mac="A1B2C3D4E5F7", actor=ACTOR)
    for device in (first, second, first, second):
        services.device_reserve(device=device, actor=ACTOR)
        services.device_unreserve(device=device, actor=ACTOR)
    services.device_ban(device=first, reason="stolen", actor=ACTOR)
    expected = list(WebhookDelivery.objects.order_by("id").values_list("pk", "device_id", "event_id"))
    assert len(expected) == 11
    # when: attempts fail for a while, then it is up
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        delivery_make_next() or time.sleep(0.01)
    assert WebhookDelivery.objects.filter(attempts__gte=2, status="pending").exists()
    receiver.start()
    try:
        deliver_all()
    finally:
        receiver.stop()
    # then: each delivered exactly once, each device's in event order
    ids = receiver.ids()
    assert sorted(ids) == sorted(f"msg_{pk}" for pk, _, _ in expected)
    for device in (first, second):
        events = [
            r.json["data"]["event"]["id"] for r in receiver.received if r.json["data"]["device"]["id"] == device.pk
        ]
        assert events == sorted(events) and len(events) == len([e for e in expected if e[1] == device.pk])
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_later_event_waits_for_an_earlier_one_of_the_same_device(settings, receiver):
    # given: a device's first delivery failed and waits for its retry
    settings.WEBHOOK_RETRY_BASE_SECONDS = 3600
    subscribe(receiver.url, *EVENT_TYPES)
    device = services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    other = services.device_register(type="mediaagent", mac="A1B2C3D4E5F7", actor=ACTOR)
    services.device_reserve(device=device, actor=ACTOR)
    receiver.status = 503
    assert delivery_make_next().status == "pending"
    receiver.status = 204
    services.device_unreserve(device=device, actor=ACTOR)  # an event after the failure: held back all the same
    # when
    while delivery_make_next() is not None:
        pass
    # then: the other device's event went; the device's second waits behind its first, due with it
    delivered = WebhookDelivery.objects.filter(status="delivered").values_list("device_id", flat=True)
    assert list(delivered) == [other.pk]
    first, second, third = WebhookDelivery.objects.filter(device_id=device.pk).order_by("event_id")
    assert [d.status for d in (first, second, third)] == ["pending"] * 3
    assert [d.attempts for d in (first, second, third)] == [1, 0, 0]
    assert second.next_attempt_at == first.next_attempt_at > timezone.now() + timedelta(minutes=59)


def test_a_delivery_failing_for_a_day_is_failed_and_redelivered_on_request(receiver):
    # given: a delivery first tried more than a day ago, failing ever since
    receiver.status = 500
    subscribe(receiver.url, "device.registered")
    services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    WebhookDelivery.objects.update(first_attempt_at=timezone.now() - timedelta(days=1, seconds=1), attempts=16)
    # when
    delivery = delivery_make_next()
    # then
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.last_error) == (
        "failed",
        17,
        500,
        "HTTP 500",
    )
    assert delivery_make_next() is None  # failed: not retried any more
    # when: redelivered (the admin's action), the receiver fixed
    receiver.status = 200
    assert deliveries_redeliver(deliveries=WebhookDelivery.objects.all()) == 1
    assert deliver_all() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert len(receiver.received) == 2


def test_the_day_of_retries_runs_from_the_first_attempt_not_the_event(receiver):
    # given: an event two days old, never tried yet (a backlog, a paused webhook)
    receiver.status = 500
    subscribe(receiver.url, "device.registered")
    services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(days=2))
    # when
    delivery = delivery_make_next()
    # then: its first failure is retried
    assert (delivery.status, delivery.attempts) == ("pending", 1)


def test_a_redirect_is_not_followed(receiver):
    # given: a receiver that redirects to another
    elsewhere = Receiver().start()
    try:
        receiver.status, receiver.headers = 307, {"location": elsewhere.url}
        subscribe(receiver.url, "device.registered")
        services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
        # when
        delivery = delivery_make_next()
    finally:
        elsewhere.stop()
    # then
    assert (delivery.status, delivery.response_status, delivery.last_error) == ("pending", 307, "HTTP 307")
    assert elsewhere.received == []


def test_a_receiver_that_never_finishes_answering_is_given_up_on_in_time(settings, receiver):
    # given: a receiver that holds the request
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.hold = True
    subscribe(receiver.url, "device.registered")
    services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    # when
    started = time.monotonic()
    delivery = delivery_make_next()
    # then: the attempt ended at its deadline and is retried
    assert time.monotonic() - started < 3
    assert (delivery.status, delivery.last_error) == ("pending", "No answer within 0.5 s")


def test_the_url_is_checked_again_before_each_delivery(settings, receiver):
    # given: a webhook on this machine, subscribed while that was allowed, no more
    subscribe(receiver.url, "device.registered")
    services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    # when
    delivery = delivery_make_next()
    # then: nothing was sent
    assert (delivery.status, delivery.last_error) == ("pending", "The host 127.0.0.1 is not a public address.")
    assert receiver.received == []


@pytest.mark.parametrize("url", ["https://i\u2764.ws/", "http://example.com:99999/"])
def test_a_url_the_sender_cant_use_is_a_failed_attempt_not_a_crash(receiver, url):
    webhook = subscribe(receiver.url, "device.registered")
    Webhook.objects.filter(pk=webhook.pk).update(url=url)  # as an older version may have let it in
    services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    delivery = delivery_make_next()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, None)
    assert delivery.last_error


def test_a_paused_webhook_keeps_its_deliveries_waiting_and_gets_none_meanwhile(receiver):
    # given: a pending delivery, then the webhook paused, then another event
    webhook = subscribe(receiver.url, "device.registered")
    services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    webhook_update(webhook=webhook, is_active=False)
    services.device_register(type="mediaagent", mac="A1B2C3D4E5F7", actor=ACTOR)
    # then: the first waits, paused; none for the second
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["paused"]
    assert delivery_make_next() is None
    # when: resumed
    webhook_update(webhook=webhook, is_active=True)
    # then: the waiting one goes
    assert deliver_all() == 1
    assert len(receiver.received) == 1


def test_a_delivery_is_one_query_to_claim_and_one_to_record_it(django_assert_num_queries, receiver):
    subscribe(receiver.url, "device.registered")
    services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    # the claim (with its event, device, owner and webhook) and the record, in a savepoint (the test's transaction)
    with django_assert_num_queries(4):
        assert delivery_make_next().status == "delivered"
    with django_assert_num_queries(3):
        assert delivery_make_next() is None


def test_purging_deletes_only_deliveries_done_with_long_enough_ago(receiver):
    from io import StringIO

    from django.core.management import call_command

    # given: deliveries in each state, last tried 40 or 10 days ago
    webhook = subscribe(receiver.url, "device.registered")
    for n in range(6):
        services.device_register(type="mediaagent", mac=f"A1B2C3D4E5F{n}", actor=ACTOR)
    rows = list(WebhookDelivery.objects.order_by("id"))
    states = [("delivered", 40), ("failed", 40), ("pending", 40), ("paused", 40), ("delivered", 10), ("failed", 10)]
    for delivery, (state, days) in zip(rows, states, strict=True):
        delivery.status, delivery.last_attempt_at = state, timezone.now() - timedelta(days=days)
        delivery.save()
    # when
    out = StringIO()
    call_command("purge_webhook_deliveries", "--batch-size", "1", stdout=out)
    # then: the two done with 40 days ago are gone
    assert out.getvalue().strip() == "Deleted 2 webhook delivery(ies) done with more than 30 day(s) ago."
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) == [
        "delivered",
        "failed",
        "paused",
        "pending",
    ]
    assert Webhook.objects.filter(pk=webhook.pk).exists()
