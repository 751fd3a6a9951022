"""Who may do what in the admin: every action declares the permission it needs, and view-only staff change nothing."""

import pytest
from axes.models import AccessAttempt
from constance import config
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.contrib.auth.models import Group, Permission, User
from django.contrib.sessions.models import Session
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from devices import services
from devices.choices import EventSource
from licensing.models import DeviceLicense, License, LicenseKind
from mor_api.models import DeviceGroup
from tests.factories import AccountFactory, DeviceFactory, MorDeviceFactory
from webhooks.models import Webhook
from webhooks.services import new_secret

pytestmark = pytest.mark.django_db

ACTOR = services.Actor(source=EventSource.ADMIN, name="op")


def _every_admin_action() -> list[tuple[type, str]]:
    """(model, action name) for every action any admin offers a superuser, delete_selected included."""
    request = RequestFactory().get("/admin/")
    request.user = User(username="everything", is_active=True, is_staff=True, is_superuser=True)
    found = []
    for app in admin.site.get_app_list(request):
        for entry in app["models"]:
            model_admin = admin.site.get_model_admin(entry["model"])
            found += [(entry["model"], name) for name in model_admin.get_actions(request)]
    return found


EVERY_ACTION = _every_admin_action()
ACTION_IDS = [f"{model._meta.label_lower}:{action}" for model, action in EVERY_ACTION]


def _staff(username: str, codenames) -> User:
    user = User.objects.create_user(username, password="unused-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=list(codenames)))
    return user


@pytest.fixture
def fleet():
    """A row of every kind an action could change: devices in each state, accounts, keys, licenses."""
    owner = AccountFactory(login="owner@example.com")
    Webhook.objects.create(url="https://crm.example.com/h", events=["device.banned"], secret=new_secret())
    AccountFactory(deleted_at=timezone.now())
    DeviceFactory()
    DeviceFactory(reserved=True)
    DeviceFactory(active=True)
    DeviceFactory(banned=True)
    services.device_ban(device=DeviceFactory(), reason="audited", actor=ACTOR)  # a device event, and its delivery
    services.api_key_create(name="billing")
    License.objects.create(key="KEY-FREE")
    License.objects.create(key="KEY-GONE", revoked_at=timezone.now())
    registered = License.objects.create(key="SN-DEVICE", kind=LicenseKind.DEVICE)
    DeviceLicense.objects.create(
        license=registered,
        vendor=AccountFactory(is_vendor=True),
        manufacturer_name="Maker",
        manufacturer_id="1",
        model="M",
        serial_number="SN-DEVICE",
        manufacture_date="2025-01-01",
    )
    DeviceGroup.objects.create(name="group", account=owner)
    Group.objects.create(name="operators")
    AccessAttempt.objects.create(
        username="someone",
        ip_address="203.0.113.7",
        user_agent="",
        http_accept="",
        path_info="/admin/login/",
        get_data="",
        post_data="",
        failures_since_start=5,
        attempt_time=timezone.now() - timezone.timedelta(days=1),
    )
    return owner


def offered_actions(changelist) -> list[str]:
    form = changelist.context["action_form"]  # None when no action is offered at all
    return [name for name, _label in form.fields["action"].choices] if form else []


def database_rows() -> dict[str, list[dict]]:
    """Every row of every table an admin could write (sessions aside: a request may touch its own)."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in apps.get_models()
        if model is not Session
    }


@pytest.mark.parametrize(("model", "action"), EVERY_ACTION, ids=ACTION_IDS)
def test_view_only_staff_can_run_no_action_and_nothing_changes(client, fleet, model, action):
    # given: staff who may view every model and change none
    every_view = Permission.objects.filter(codename__startswith="view_").values_list("codename", flat=True)
    client.force_login(_staff("viewer", every_view))
    url = reverse(admin_urlname(model._meta, "changelist"))
    selected = list(model._default_manager.values_list("pk", flat=True))
    assert selected, f"the fleet has no {model._meta.label} to act on"
    before = database_rows()
    # when: the action is posted as the changelist's form would post it
    data = {"action": action, "_selected_action": selected, "index": 0, "reason": "x", "account_login": fleet.login}
    response = client.post(url, data, follow=True)
    # then
    assert response.status_code == 200
    assert database_rows() == before
    assert action not in offered_actions(client.get(url))


@pytest.mark.parametrize(("model", "action"), EVERY_ACTION, ids=ACTION_IDS)
def test_every_action_declares_the_permission_it_needs_and_that_permission_offers_it(client, model, action):
    model_admin = admin.site.get_model_admin(model)
    request = RequestFactory().get("/admin/")
    request.user = User(is_active=True, is_staff=True, is_superuser=True)
    function = model_admin.get_actions(request)[action][0]
    needed = getattr(function, "allowed_permissions", ())
    assert needed, f"{model._meta.label}: action {action} declares no permissions="
    # Staff with view and exactly the declared permissions of this model are offered the action.
    codenames = ["view_" + model._meta.model_name] + [f"{name}_{model._meta.model_name}" for name in needed]
    client.force_login(_staff("operator", codenames))
    page = client.get(reverse(admin_urlname(model._meta, "changelist")))
    assert page.status_code == 200
    assert action in offered_actions(page)


def test_a_sip_secret_is_shown_only_to_staff_who_may_change_sip_lines(client):
    line = MorDeviceFactory(secret="sip-secret-123")
    page = reverse("admin:devices_device_change", args=[line.device_id])
    viewer = _staff("viewer", ["view_device", "view_mordevice"])
    client.force_login(viewer)
    viewed = client.get(page).content.decode()
    assert "Shown to staff who may change SIP lines." in viewed and "sip-secret-123" not in viewed
    editor = _staff("editor", ["view_device", "change_device", "view_mordevice", "change_mordevice"])
    client.force_login(editor)
    assert "sip-secret-123" in client.get(page).content.decode()


def test_the_runtime_configuration_is_shown_with_view_config_and_changed_with_change_config(
    client, content_types_forgotten
):
    page = reverse("admin:constance_config_changelist")
    client.force_login(_staff("nobody", []))
    assert client.get(page).status_code == 403
    client.force_login(_staff("viewer", ["view_config"]))
    viewed = client.get(page)
    assert viewed.status_code == 200 and viewed.context["form"].fields["DEVICE_MANAGEMENT"].disabled
    client.post(page, {"version": viewed.context["form"].initial["version"]})
    assert config.DEVICE_MANAGEMENT is True
    client.force_login(_staff("editor", ["view_config", "change_config"]))
    version = client.get(page).context["form"].initial["version"]
    client.post(page, {"version": version})  # the box unticked
    assert config.DEVICE_MANAGEMENT is False
