"""Two requests for the same device can never both succeed (real threads, PostgreSQL)."""

import json

import pytest
from django.test import Client

from devices import services
from devices.choices import DeviceStatus
from devices.errors import DomainError
from devices.models import ClientAppInfo, Device, DeviceEvent
from tests.conftest import run_in_threads
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 20


def test_twenty_threads_reserving_one_device_exactly_one_wins(actor):
    # given
    device = DeviceFactory()
    # when
    results = run_in_threads(THREADS, lambda i: services.device_reserve(device=device, actor=actor))
    # then
    winners = [r for r in results if isinstance(r, Device)]
    losers = [r for r in results if isinstance(r, DomainError)]
    assert len(winners) == 1
    assert len(losers) == THREADS - 1
    assert {e.code for e in losers} == {"device_reserved"}
    device.refresh_from_db()
    assert device.status == DeviceStatus.RESERVED
    assert DeviceEvent.objects.filter(device=device, action="reserved").count() == 1


def test_twenty_threads_activating_one_device_for_different_accounts_exactly_one_wins(actor):
    device = DeviceFactory()
    accounts = [AccountFactory() for _ in range(THREADS)]
    results = run_in_threads(
        THREADS, lambda i: services.device_activate(device=device, account=accounts[i], actor=actor)
    )
    winners = [r for r in results if isinstance(r, Device)]
    assert len(winners) == 1
    assert {r.code for r in results if isinstance(r, DomainError)} == {"device_already_active"}
    device.refresh_from_db()
    assert device.account_id == winners[0].account_id


def test_twenty_threads_registering_one_new_mac_make_one_device():
    # given: each thread spells the MAC its own way
    spellings = ["a1:b2:c3:d4:e5:f6", "A1-B2-C3-D4-E5-F6", "a1b2.c3d4.e5f6", "A1B2C3D4E5F6"]

    def register(i):
        body = {
            "mac_address": spellings[i % len(spellings)],
            "device_os": "iOS",
            "device_version": "14.5",
            "device_type": "Mobile",
            "app_version": "2.0",
            "app_name": f"App{i}",
        }
        return Client().post("/api/v2/device", json.dumps(body), content_type="application/json")

    # when
    responses = run_in_threads(THREADS, register)
    # then
    assert [getattr(r, "status_code", r) for r in responses] == [200] * THREADS
    assert Device.objects.filter(mac="A1B2C3D4E5F6").count() == 1
    assert ClientAppInfo.objects.count() == 1
    assert DeviceEvent.objects.filter(action="registered").count() == 1
