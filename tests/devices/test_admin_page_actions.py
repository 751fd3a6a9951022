"""The lifecycle buttons of a device's admin page: the services' own rules, a confirmation where it matters."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from devices.choices import DeviceStatus
from devices.models import Device, DeviceEvent
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db


def page(device: Device) -> str:
    return reverse("admin:devices_device_change", args=[device.pk])


def action_url(device: Device, action: str) -> str:
    return reverse("admin:devices_device_page_action", args=[device.pk, action])


def buttons(client, device: Device) -> set[str]:
    return {action.name for action in client.get(page(device)).context["page_actions"]}


def messages_after(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize(
    ("traits", "offered"),
    [
        ({}, {"reserve", "activate", "ban"}),
        ({"reserved": True}, {"unreserve", "activate", "ban"}),
        ({"active": True}, {"deactivate", "ban"}),
        ({"banned": True}, {"unban"}),  # every protocol refuses a banned device
        ({"banned": True, "reserved": True}, {"unreserve", "unban"}),
        ({"deactivating": True}, {"ban"}),
    ],
    ids=["available", "reserved", "active", "banned", "banned and reserved", "deactivating"],
)
def test_a_device_page_offers_the_actions_its_state_allows(admin_client, traits, offered):
    device = DeviceFactory(**traits)
    assert buttons(admin_client, device) == offered
    html = admin_client.get(page(device)).content.decode()
    for name in offered:
        assert f'id="page-action-{name}"' in html


def test_reserve_runs_from_its_button_and_is_audited_as_the_operators(admin_client, admin_user):
    device = DeviceFactory()
    response = admin_client.post(action_url(device, "reserve"), follow=True)
    assert response.redirect_chain == [(page(device), 302)]
    assert messages_after(response) == ["Reserved."]
    device.refresh_from_db()
    assert device.status == DeviceStatus.RESERVED
    event = device.events.get()
    assert (event.action, event.source, event.actor) == ("reserved", "admin", admin_user.username)


def test_a_button_without_confirmation_takes_only_post(admin_client):
    device = DeviceFactory()
    assert admin_client.get(action_url(device, "reserve")).status_code == 405
    assert Device.objects.get().status == DeviceStatus.AVAILABLE


def test_ban_asks_for_a_reason_first(admin_client):
    # given
    device = DeviceFactory()
    # when: the button, then the confirmation without a reason, then with one
    asked = admin_client.get(action_url(device, "ban"))
    blank = admin_client.post(action_url(device, "ban"), {"reason": "   "})
    banned = admin_client.post(action_url(device, "ban"), {"reason": "chargeback"}, follow=True)
    # then
    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    assert blank.status_code == 200 and "This field is required." in blank.content.decode()
    assert messages_after(banned) == ["Banned."]
    device.refresh_from_db()
    assert (device.is_banned, device.ban_reason) == (True, "chargeback")
    assert DeviceEvent.objects.get().action == "banned"


def test_deactivate_asks_for_a_yes(admin_client, settings):
    settings.DEVICE_DEACTIVATION_SECONDS = 300
    device = DeviceFactory(active=True)
    asked = admin_client.get(action_url(device, "deactivate"))
    assert asked.status_code == 200 and 'id="confirm-page-action"' in asked.content.decode()
    assert Device.objects.get().status == DeviceStatus.ACTIVE
    done = admin_client.post(action_url(device, "deactivate"), follow=True)
    assert messages_after(done) == ["Deactivation started."]
    assert Device.objects.get().status == DeviceStatus.DEACTIVATING


def test_activate_for_an_account_follows_billings_rules(admin_client):
    # given
    owner = AccountFactory(login="owner@example.com")
    available, reserved = DeviceFactory(), DeviceFactory(reserved=True)
    # when
    done = admin_client.post(action_url(available, "activate"), {"account": "OWNER@example.com"}, follow=True)
    unknown = admin_client.post(action_url(reserved, "activate"), {"account": "nobody@example.com"}, follow=True)
    refused = admin_client.post(action_url(reserved, "activate"), {"account": "owner@example.com"}, follow=True)
    skipped = admin_client.post(
        action_url(reserved, "activate"), {"account": "owner@example.com", "skip_reserve_check": "on"}, follow=True
    )
    # then
    assert messages_after(done) == ["Activated for owner@example.com."]
    assert messages_after(unknown)[0].startswith("Activate for an account: ")
    assert messages_after(refused)[0].startswith("Activate for an account: ")
    assert messages_after(skipped) == ["Activated for owner@example.com."]
    assert set(Device.objects.values_list("status", "account")) == {(DeviceStatus.ACTIVE, owner.pk)}
    assert DeviceEvent.objects.filter(action="activated").count() == 2


def test_a_refusal_is_the_services_message_and_changes_nothing(admin_client):
    device = DeviceFactory(active=True)
    response = admin_client.post(action_url(device, "reserve"), follow=True)
    assert len(messages_after(response)) == 1 and messages_after(response)[0].startswith("Reserve: ")
    assert Device.objects.get().status == DeviceStatus.ACTIVE and not DeviceEvent.objects.exists()


def test_an_unknown_action_or_device_is_a_404(admin_client):
    device = DeviceFactory()
    assert admin_client.post(action_url(device, "delete")).status_code == 404
    assert admin_client.post(reverse("admin:devices_device_page_action", args=[987654, "reserve"])).status_code == 404


def test_view_only_staff_see_no_button_and_can_press_none():
    # given
    device = DeviceFactory()
    viewer = User.objects.create_user("viewer", password="unused-password", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_device"))
    client = Client()
    client.force_login(viewer)
    # when / then
    assert buttons(client, device) == set()
    for action in ("reserve", "activate", "deactivate", "ban", "unban", "unreserve"):
        assert client.post(action_url(device, action), {"reason": "x", "account": "a@b.c"}).status_code == 403
    assert Device.objects.get().status == DeviceStatus.AVAILABLE and not DeviceEvent.objects.exists()


def test_a_deactivation_whose_time_has_come_ends_when_the_page_opens(admin_client):
    # given: a deactivation that ended a minute ago, not yet completed by anything
    device = DeviceFactory(deactivating=True)
    Device.objects.filter(pk=device.pk).update(status_until=timezone.now() - timedelta(minutes=1))
    # when
    offered = buttons(admin_client, device)
    # then: the page shows the device as any transition would find it, and offers what applies to that
    assert offered == {"reserve", "activate", "ban"}
    device.refresh_from_db()
    assert (device.status, device.account) == (DeviceStatus.AVAILABLE, None)
    assert [e.action for e in device.events.all()] == ["deactivation_finished"]
    assert messages_after(admin_client.post(action_url(device, "reserve"), follow=True)) == ["Reserved."]
