import threading
from collections.abc import Callable

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.test import Client

from devices.choices import EventSource
from devices.services import Actor
from tests.factories import AccountFactory, DeviceFactory

# A registry request that registers a device: for tests about something other than the registry's fields.
REGISTRY_BODY = {
    "mac_address": "A1B2C3D4E5F6",
    "device_os": "iOS",
    "device_version": "1",
    "device_type": "Mobile",
    "app_version": "1",
    "app_name": "x",
}


@pytest.fixture
def content_types_forgotten():
    """For a test that makes a content type (constance's Config, when the admin first logs a change of it):
    ContentType's cache would keep its id past the test's rollback, a dangling key for the next test."""
    yield
    ContentType.objects.clear_cache()


@pytest.fixture
def actor() -> Actor:
    return Actor(source=EventSource.ADMIN, name="tester")


@pytest.fixture
def account(db):
    return AccountFactory()


@pytest.fixture
def device(db):
    return DeviceFactory()


@pytest.fixture
def client() -> Client:
    return Client()


def run_in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in `count` real threads released together; return each result or raised exception."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # the caller counts winners and losers
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
