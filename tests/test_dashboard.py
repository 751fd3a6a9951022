"""The admin's first page: how is the fleet?"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from devices import services
from devices.choices import EventSource
from licensing.models import License
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db

ACTOR = services.Actor(source=EventSource.ADMIN, name="op")


def test_the_dashboard_counts_the_fleet_and_links_the_latest_events(admin_client):
    # given
    DeviceFactory.create_batch(3, type="mediaagent")
    DeviceFactory.create_batch(2, type="SIP", reserved=True)
    banned = DeviceFactory(type="Mobile", banned=True)
    activated = DeviceFactory(type="mediaagent")
    services.device_activate(device=activated, account=AccountFactory(), actor=ACTOR)
    License.objects.create(key="K1", activations_count=1)
    License.objects.create(key="K2")
    License.objects.create(key="K3", revoked_at=timezone.now())
    # when
    response = admin_client.get("/admin/")
    # then
    assert response.status_code == 200
    fleet = response.context["fleet"]
    assert fleet["total"] == 7
    assert {status: n for status, _label, n in fleet["by_status"]} == {
        "initializing": 0,
        "available": 4,
        "reserved": 2,
        "active": 1,
        "deactivating": 0,
    }
    assert fleet["by_type"] == [("mediaagent", 4), ("SIP", 2), ("Mobile", 1)]
    assert fleet["banned"] == 1
    licenses = response.context["licenses"]
    assert (licenses["keys"], licenses["in_use"], licenses["free"], licenses["unusable"]) == (3, 1, 1, 1)
    chart = response.context["activations"]
    assert len(chart["bars"]) == 30
    assert chart["bars"][-1]["n"] == 1 and chart["total"] == 1
    html = response.content.decode()
    assert '<svg id="activations-chart"' in html
    assert f"/admin/devices/device/{activated.pk}/change/" in html  # the latest event links its device
    assert str(banned) in html or fleet["banned"] == 1


def test_the_chart_scales_to_the_busiest_day(admin_client):
    devices = DeviceFactory.create_batch(4)
    for device in devices:
        services.device_activate(device=device, account=AccountFactory(), actor=ACTOR)
    bars = admin_client.get("/admin/").context["activations"]["bars"]
    assert bars[-1]["height"] == 120 and bars[-1]["y"] == 6  # the plot's top
    assert all(bar["height"] == 0 for bar in bars[:-1])


def test_the_chart_has_axes_labelled_with_counts_and_dates(admin_client):
    # given: three activations today
    for device in DeviceFactory.create_batch(3):
        services.device_activate(device=device, account=AccountFactory(), actor=ACTOR)
    # when
    response = admin_client.get("/admin/")
    # then: the y axis at 0, 2 and 3; a date every week, the last one today
    chart = response.context["activations"]
    assert [(tick["n"], tick["y"]) for tick in chart["y_ticks"]] == [(0, 126), (2, 46.0), (3, 6)]
    today = timezone.localdate()
    assert [label["day"] for label in chart["x_labels"]] == [today - timedelta(days=d) for d in (28, 21, 14, 7, 0)]
    html = response.content.decode()
    svg = html[
        html.index('<svg id="activations-chart"') : html.index("</svg>", html.index('<svg id="activations-chart"'))
    ]
    assert f'<text class="x" x="{chart["x_labels"][-1]["x"]}" y="137">{today:%b} {today.day}</text>' in svg
    assert '<text class="y" x="26" y="46.0">2</text>' in svg


def test_each_panel_links_to_the_list_behind_it(admin_client):
    html = admin_client.get("/admin/").content.decode()
    for url in [
        '<h2><a href="/admin/devices/device/">Devices</a></h2>',
        '<h2><a href="/admin/licensing/license/">License keys</a></h2>',
        '<h2><a href="/admin/devices/deviceevent/?action__exact=activated">Activations per day</a>',
        '<h2><a href="/admin/devices/deviceevent/">Latest events</a></h2>',
    ]:
        assert url in html
    for linked in ["/admin/licensing/license/?revoked_at__isempty=0", "/admin/devices/device/?is_banned__exact=1"]:
        assert admin_client.get(linked).status_code == 200


def test_the_dashboard_takes_a_fixed_number_of_queries(admin_client, django_assert_num_queries):
    DeviceFactory.create_batch(20)
    # session, user, devices by status and type, banned count, license totals, activations per day,
    # latest events with their devices, the admin's own "recent actions" box.
    with django_assert_num_queries(8):
        assert admin_client.get("/admin/").status_code == 200


def _staff(client, *codenames):
    user = User.objects.create_user("staff", password="unused-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)


PANELS = ("fleet", "licenses", "activations", "latest_events")


def test_staff_without_permissions_see_no_fleet_data(client, django_assert_num_queries):
    # given
    activated = DeviceFactory(type="mediaagent", serial_number="SN-SECRET-FLEET")
    services.device_activate(device=activated, account=AccountFactory(), actor=ACTOR)
    License.objects.create(key="K1")
    _staff(client)
    # when: session, user, the user's and their groups' permissions, the admin's "recent actions" box;
    # no panel's query
    with django_assert_num_queries(5):
        response = client.get("/admin/")
    # then
    assert response.status_code == 200
    assert [name for name in PANELS if name in response.context] == []
    html = response.content.decode()
    assert 'id="dashboard"' not in html
    assert "activations-chart" not in html and "SN-SECRET-FLEET" not in html and "License keys" not in html
    assert "have permission to view or edit anything." in html  # the admin's own empty index


@pytest.mark.parametrize(
    ("codenames", "shown"),
    [
        (["view_license"], ["licenses"]),
        (["view_device"], ["fleet"]),
        (["view_deviceevent"], ["activations", "latest_events"]),
        (["change_device", "view_deviceevent"], ["fleet", "activations", "latest_events"]),
    ],
    ids=["licenses only", "devices only", "events only", "change implies view"],
)
def test_each_panel_shows_only_to_those_who_may_view_its_model(client, codenames, shown):
    # given
    services.device_activate(device=DeviceFactory(serial_number="SN-SEEN"), account=AccountFactory(), actor=ACTOR)
    License.objects.create(key="K1")
    _staff(client, *codenames)
    # when
    response = client.get("/admin/")
    # then
    assert response.status_code == 200
    assert [name for name in PANELS if name in response.context] == shown
    html = response.content.decode()
    assert ('id="panel-devices"' in html) is ("fleet" in shown)
    assert ('id="panel-license-keys"' in html) is ("licenses" in shown)
    assert ('id="activations-chart"' in html) is ("activations" in shown)
    assert ('id="latest-events"' in html) is ("latest_events" in shown)
