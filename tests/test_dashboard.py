"""The admin's first page: how is the fleet?"""

import pytest
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
    assert bars[-1]["height"] == 120 and bars[-1]["y"] == 0
    assert all(bar["height"] == 0 for bar in bars[:-1])


def test_the_dashboard_takes_a_fixed_number_of_queries(admin_client, django_assert_num_queries):
    DeviceFactory.create_batch(20)
    # session, user, devices by status and type, banned count, license totals, activations per day,
    # latest events with their devices, the admin's own "recent actions" box.
    with django_assert_num_queries(8):
        assert admin_client.get("/admin/").status_code == 200
