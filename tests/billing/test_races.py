"""Concurrent billing requests for one device over HTTP: exactly one wins (real threads, PostgreSQL)."""

import threading
import time
from collections import Counter

import pytest

from devices import services
from devices.choices import DeviceStatus
from devices.models import DeviceEvent
from tests.billing.conftest import BillingClient
from tests.conftest import run_in_threads
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 20


def outcomes(responses) -> Counter:
    return Counter(
        (r.status_code, r.json().get("code") if r.status_code == 400 else None)
        if hasattr(r, "status_code")
        else repr(r)
        for r in responses
    )


def test_twenty_concurrent_activations_give_one_201_and_nineteen_33603(api_key):
    # given
    device = DeviceFactory(mac="A1B2C3D4E5F6")
    logins = [AccountFactory().login for _ in range(THREADS)]
    # when
    responses = run_in_threads(
        THREADS,
        lambda i: BillingClient(api_key[1]).post(
            "activate", {"login": logins[i], "name": f"n{i}", "type": "mediaagent", "mac": "a1:b2:c3:d4:e5:f6"}
        ),
    )
    # then
    assert outcomes(responses) == {(201, None): 1, (400, 33603): THREADS - 1}
    device.refresh_from_db()
    assert device.status == DeviceStatus.ACTIVE
    winner = next(r for r in responses if r.status_code == 201).json()
    assert device.account.login == winner["user"]["login"]
    assert DeviceEvent.objects.filter(device=device, action="activated").count() == 1


def test_twenty_concurrent_reservations_give_one_200_and_nineteen_33599(api_key):
    device = DeviceFactory(mac="A1B2C3D4E5F6")
    responses = run_in_threads(
        THREADS, lambda i: BillingClient(api_key[1]).post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"})
    )
    assert outcomes(responses) == {(200, None): 1, (400, 33599): THREADS - 1}
    device.refresh_from_db()
    assert device.status == DeviceStatus.RESERVED
    assert DeviceEvent.objects.filter(device=device, action="reserved").count() == 1


def test_twenty_concurrent_retries_of_one_activation_with_one_idempotency_key_give_twenty_identical_201s(api_key):
    # given
    device = DeviceFactory(mac="A1B2C3D4E5F6")
    login = AccountFactory().login
    body = {"login": login, "name": "n", "type": "mediaagent", "mac": "a1:b2:c3:d4:e5:f6"}
    key = {"HTTP_IDEMPOTENCY_KEY": "5c0ffee0-1d2e-4f3a-8b9c-0d1e2f3a4b5c"}
    # when: the first runs; the others wait on the key's unique index until it commits, then replay its answer
    responses = run_in_threads(THREADS, lambda i: BillingClient(api_key[1]).post("activate", body, **key))
    # then
    assert outcomes(responses) == {(201, None): THREADS}
    assert len({r.content for r in responses}) == 1
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == THREADS - 1
    device.refresh_from_db()
    assert (device.status, device.account.login) == (DeviceStatus.ACTIVE, login)
    assert DeviceEvent.objects.filter(device=device).count() == 1
    assert DeviceEvent.objects.get(device=device).action == "activated"


def test_a_retry_waiting_for_a_first_request_that_fails_runs_itself(api_key, monkeypatch):
    # given: a first reservation that holds its key until told to fail with a server error
    device = DeviceFactory(mac="A1B2C3D4E5F6")
    reserve, release, calls = services.device_reserve, threading.Event(), []

    def reserve_slowly_then_fail_once(**kwargs):
        calls.append(release.is_set())
        if len(calls) == 1:
            release.wait(10)
            raise RuntimeError("the first fails")
        return reserve(**kwargs)

    monkeypatch.setattr(services, "device_reserve", reserve_slowly_then_fail_once)
    key = {"HTTP_IDEMPOTENCY_KEY": "retry-after-a-failure"}

    def work(i):
        if i == 1:
            time.sleep(0.5)  # the first has claimed the key; this retry waits on it
            threading.Timer(0.5, release.set).start()
        return BillingClient(api_key[1]).post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}, **key)

    # when
    first, retry = run_in_threads(2, work)
    # then: the first's 500 was rolled back with its record; the retry ran, and its answer is the one kept
    assert first.status_code == 500
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
    assert calls == [False, True]  # the retry's reservation ran only once the first had failed
    device.refresh_from_db()
    assert device.status == DeviceStatus.RESERVED
    again = BillingClient(api_key[1]).post("reserve", {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}, **key)
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (200, retry.content, "true")
