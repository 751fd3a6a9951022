"""MOR_API_ALLOWED_IPS: the addresses the MOR API answers; anyone else is refused before anything is checked."""

import pytest

from mor_api.models import MorDevice
from tests.mor_api.conftest import error_of, parse, signed

pytestmark = pytest.mark.django_db

CALLS = [
    "device_create",
    "devices_get",
    "device_list",
    "device_details_get",
    "device_update",
    "device_delete",
    "device_destroy",
]
NOT_ALLOWED = "IP address not allowed"


@pytest.mark.parametrize("call", CALLS)
def test_a_caller_outside_the_allow_list_is_refused_before_anything_else(mor, admin_account, user, settings, call):
    settings.MOR_API_ALLOWED_IPS = ["192.0.2.0/24", "2001:db8::1"]
    settings.MOR_API_ALLOW_GET = False
    params = signed(call if call in ("device_create", "devices_get") else "device_create", u="admin", user_id=user.pk)
    assert error_of(mor.post(call, params)) == NOT_ALLOWED
    assert error_of(mor.get(call, params)) == NOT_ALLOWED  # before "GET Requests are disabled"
    assert error_of(mor.post(call, {})) == NOT_ALLOWED  # before "Incorrect hash"
    assert not MorDevice.objects.exists()


@pytest.mark.parametrize("address", ["192.0.2.10", "2001:db8::1"])
def test_a_caller_in_the_allow_list_is_served(mor, admin_account, user, settings, address):
    settings.MOR_API_ALLOWED_IPS = ["192.0.2.0/24", "2001:db8::1"]
    params = signed("device_create", u="admin", user_id=user.pk, description="desk")
    page = parse(mor.post("device_create", params, REMOTE_ADDR=address))
    assert page.findtext("status") == "Device created"
    assert MorDevice.objects.get().description == "desk"


def test_the_caller_is_the_client_a_trusted_proxy_names(mor, admin_account, user, settings):
    settings.MOR_API_ALLOWED_IPS = ["192.0.2.10"]
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    params = signed("devices_get", u="admin", user_id=user.pk)
    named = mor.post("devices_get", params, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.10")
    assert error_of(named) is None
    other = mor.post("devices_get", params, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert error_of(other) == NOT_ALLOWED
    claimed = mor.post("devices_get", params, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="192.0.2.10")
    assert error_of(claimed) == NOT_ALLOWED


def test_an_empty_allow_list_serves_every_address(mor, admin_account, user, settings):
    settings.MOR_API_ALLOWED_IPS = []
    params = signed("devices_get", u="admin", user_id=user.pk)
    assert error_of(mor.post("devices_get", params, REMOTE_ADDR="198.51.100.7")) is None
