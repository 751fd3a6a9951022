"""Rates per client ip on the public protocols and per API key on billing, 429 in each protocol's format."""

import json
from xml.etree import ElementTree

import pytest
import redis
from django.core.cache import cache

from devices.services import api_key_create
from tests.conftest import REGISTRY_BODY
from tests.factories import DeviceFactory
from tests.mor_api.conftest import signed

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/15"


def use_redis(settings) -> None:
    """The cache REDIS_URL sets up, on the machine's Redis (a database of its own, emptied)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture(params=["local memory", "redis"])
def throttled(request, settings):
    """Two requests a minute, counted in local memory or in Redis."""
    if request.param == "redis":
        use_redis(settings)
    settings.THROTTLE_RATES = {"public": "2/min", "billing": "2/min"}
    cache.clear()
    yield request.param
    cache.clear()


def third(call):
    call()
    call()
    return call()


def test_the_registry_answers_429_in_its_envelope(client, throttled):
    response = third(lambda: client.post("/api/v2/device", REGISTRY_BODY, content_type="application/json"))
    assert response.status_code == 429
    body = response.json()
    assert (body["status"], body["message"], body["data"]) == (429, "Too many requests.", None)
    assert int(response["Retry-After"]) > 0


def test_the_limit_is_per_client_ip(client, throttled, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    post = lambda ip: client.post(  # noqa: E731
        "/api/v2/device", REGISTRY_BODY, content_type="application/json", HTTP_X_FORWARDED_FOR=ip
    )
    assert third(lambda: post("203.0.113.1")).status_code == 429
    assert post("203.0.113.2").status_code == 200


def test_licensing_answers_429_with_its_reason(client, throttled):
    response = third(
        lambda: client.post("/api/v2/device/license/validate", HTTP_X_SESSION_ID="3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80")
    )
    assert response.status_code == 429
    assert response.json() == {"reason": "Too many requests", "statusCode": 429, "statusText": "Too Many Requests"}


def test_mor_answers_too_many_requests_in_xml(client, throttled):
    response = third(lambda: client.post("/billing/api/device_create", signed("device_create", u="x", user_id=1)))
    assert response.status_code == 200
    assert ElementTree.fromstring(response.content).findtext("error") == "Too many requests"
    assert int(response["Retry-After"]) > 0


def test_billing_is_limited_per_api_key(client, throttled):
    DeviceFactory(mac="A1B2C3D4E5F6")
    first_key, second_key = api_key_create(name="one")[1], api_key_create(name="two")[1]

    def check(key):
        return client.post(
            "/api/v1/billing/devices/check",
            json.dumps({"type": "mediaagent", "mac": "A1B2C3D4E5F6"}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    response = third(lambda: check(first_key))
    assert response.status_code == 429
    assert response.json() == {"message": "Too Many Attempts."}
    assert check(second_key).status_code == 204


def test_the_counts_live_in_redis_when_it_is_configured(client, settings):
    use_redis(settings)
    settings.THROTTLE_RATES = {"public": "2/min", "billing": "2/min"}
    client.post("/api/v2/device", REGISTRY_BODY, content_type="application/json")
    keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).keys("*throttle_public_127.0.0.1*")]
    assert keys, "the throttle's history is in Redis, shared by every app server"
