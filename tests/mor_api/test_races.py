"""Ten concurrent device_create calls with one pin: one created, nine 'Pin is already used'."""

from collections import Counter

import pytest

from devices.choices import AccountRole
from devices.models import Device
from mor_api.models import MorDevice
from mor_api.services import group_primary
from tests.conftest import run_in_threads
from tests.factories import AccountFactory
from tests.mor_api.conftest import MorClient, error_of, signed

pytestmark = pytest.mark.django_db(transaction=True)


def test_ten_concurrent_creates_with_the_same_pin_create_one(db):
    AccountFactory(login="admin", role=AccountRole.ADMIN)
    user = AccountFactory()
    params = signed("device_create", u="admin", user_id=user.pk, pin=777)
    responses = run_in_threads(10, lambda i: MorClient().post("device_create", params))
    outcomes = Counter(error_of(r) if hasattr(r, "status_code") else repr(r) for r in responses)
    assert outcomes == {None: 1, "Pin is already used": 9}
    assert MorDevice.objects.filter(pin="777").count() == 1


def test_ten_concurrent_creates_with_the_same_pin_in_an_existing_group_create_one(db):
    # The group exists, so each request takes the one-statement path; the unique pin settles the race.
    AccountFactory(login="admin", role=AccountRole.ADMIN)
    user = AccountFactory()
    group_primary(user)
    params = signed("device_create", u="admin", user_id=user.pk, pin=888)
    responses = run_in_threads(10, lambda i: MorClient().post("device_create", params))
    outcomes = Counter(error_of(r) if hasattr(r, "status_code") else repr(r) for r in responses)
    assert outcomes == {None: 1, "Pin is already used": 9}
    assert MorDevice.objects.filter(pin="888").count() == 1
    assert Device.objects.count() == 1
