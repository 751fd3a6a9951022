"""Webhooks in the admin: operators see deliveries, pause webhooks and deliver a failed delivery again."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from devices import services
from devices.choices import EventSource
from webhooks.models import Webhook, WebhookDelivery
from webhooks.services import new_secret

pytestmark = pytest.mark.django_db

ACTOR = services.Actor(source=EventSource.ADMIN, name="op")


@pytest.fixture
def failed() -> WebhookDelivery:
    Webhook.objects.create(url="https://crm.example.com/h", events=["device.registered"], secret=new_secret())
    device = services.device_register(type="mediaagent", mac="A1B2C3D4E5F6", actor=ACTOR)
    WebhookDelivery.objects.update(status="failed", attempts=17, last_error="HTTP 500")
    return WebhookDelivery.objects.get(device_id=device.pk)


def test_a_failed_delivery_is_listed_and_delivered_again_on_request(client, failed):
    client.force_login(User.objects.create_superuser("root", password="unused-password"))
    url = reverse("admin:webhooks_webhookdelivery_changelist")
    # when: the failed ones are listed
    page = client.get(url, {"status__exact": "failed"})
    # then
    assert page.status_code == 200
    assert "HTTP 500" not in page.content.decode() and f">{failed.pk}<" in page.content.decode()
    assert "device.registered" in page.content.decode()
    # when: redelivered
    answer = client.post(url, {"action": "redeliver_selected", "_selected_action": [failed.pk]}, follow=True)
    # then
    assert "1 delivery(ies) will be delivered again." in answer.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error, failed.first_attempt_at) == ("pending", 0, "", None)


def test_a_view_only_operator_cant_redeliver(client, failed):
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("viewer", password="unused-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_webhookdelivery"))
    client.force_login(user)
    url = reverse("admin:webhooks_webhookdelivery_changelist")
    assert client.get(url).status_code == 200
    client.post(url, {"action": "redeliver_selected", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_webhooks_are_neither_added_nor_deleted_in_the_admin_but_paused(client, failed):
    client.force_login(User.objects.create_superuser("root", password="unused-password"))
    webhook = failed.webhook
    assert client.get(reverse("admin:webhooks_webhook_add")).status_code == 403
    assert client.get(reverse("admin:webhooks_webhook_delete", args=[webhook.pk])).status_code == 403
    assert client.get(reverse("admin:webhooks_webhook_changelist")).status_code == 200
    # when: paused from its page
    WebhookDelivery.objects.update(status="pending")
    page = reverse("admin:webhooks_webhook_change", args=[webhook.pk])
    answer = client.post(page, {"is_active": "", "description": "paused by ops"})
    # then: it and its pending deliveries are paused
    assert answer.status_code == 302, answer.content
    webhook.refresh_from_db()
    assert (webhook.is_active, webhook.description) == (False, "paused by ops")
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["paused"]
