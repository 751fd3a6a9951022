"""Rates per client ip on each public protocol and per API key on billing, 429 in each protocol's format."""

import json
import uuid
from xml.etree import ElementTree

import pytest
import redis
from django.core.cache import cache
from django.test import Client

from devices import throttling
from devices.services import api_key_create
from tests.conftest import REGISTRY_BODY, run_in_threads
from tests.factories import AccountFactory, DeviceFactory
from tests.licensing.conftest import PASSWORD, make_license
from tests.mor_api.conftest import signed

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/15"
SESSION = "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80"
TOO_MANY = {"reason": "Too many requests", "statusCode": 429, "statusText": "Too Many Requests"}


@pytest.fixture
def shared_cache(settings):
    """The cache REDIS_URL sets up, on the machine's Redis: every thread and process counts in the same place.

    Its keys have a prefix of their own, removed afterwards, so parallel test runs never meet.
    """
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield prefix
    connection = redis.Redis.from_url(REDIS_URL)
    for key in connection.scan_iter(f"{prefix}:*"):
        connection.delete(key)


# The middle of a minute, of an hour and of a day: a test's requests all fall in one window of each (a real
# clock lets a test that crosses a minute start counting again, and fail).
MID_WINDOW = 20_833 * 86_400 + 12 * 3_600 + 30 * 60 + 30


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The throttles' clock, stopped in the middle of a window; a test moves it by setting `clock["now"]`."""
    stopped = {"now": MID_WINDOW}
    monkeypatch.setattr(throttling, "timer", lambda: stopped["now"])
    return stopped


@pytest.fixture(params=["local memory", "redis"])
def any_cache(request):
    """Counted in each process's memory, or in Redis."""
    if request.param == "redis":
        request.getfixturevalue("shared_cache")
    cache.clear()
    yield request.param
    cache.clear()


@pytest.fixture
def throttled(any_cache, settings):
    """Two requests a minute on every protocol."""
    settings.THROTTLE_RATES = {"registry": "2/min", "licensing": "2/min", "mor": "2/min", "billing": "2/min"}
    return any_cache


def third(call):
    call()
    call()
    return call()


def register(client):
    return client.post("/api/v2/device", REGISTRY_BODY, content_type="application/json")


def validate(client):
    return client.post("/api/v2/device/license/validate", HTTP_X_SESSION_ID=SESSION)


def mor_call(client):
    return client.post("/billing/api/device_create", signed("device_create", u="x", user_id=1))


def mor_error(response) -> str | None:
    return ElementTree.fromstring(response.content).findtext("error")


def test_the_registry_answers_429_in_its_envelope(client, throttled):
    response = third(lambda: register(client))
    assert response.status_code == 429
    body = response.json()
    assert (body["status"], body["message"], body["data"]) == (429, "Too many requests.", None)
    assert int(response["Retry-After"]) > 0


def test_the_next_window_counts_afresh(client, throttled, clock):
    assert third(lambda: register(client)).status_code == 429
    clock["now"] += 60
    assert register(client).status_code == 200


def test_the_limit_is_per_client_ip(client, throttled, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    post = lambda ip: client.post(  # noqa: E731
        "/api/v2/device", REGISTRY_BODY, content_type="application/json", HTTP_X_FORWARDED_FOR=ip
    )
    assert third(lambda: post("203.0.113.1")).status_code == 429
    assert post("203.0.113.2").status_code == 200


def test_licensing_answers_429_with_its_reason(client, throttled):
    response = third(lambda: validate(client))
    assert response.status_code == 429
    assert response.json() == TOO_MANY
    assert int(response["Retry-After"]) > 0


def test_mor_answers_too_many_requests_in_xml(client, throttled):
    response = third(lambda: mor_call(client))
    assert response.status_code == 200
    assert mor_error(response) == "Too many requests"
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


def test_each_public_protocol_has_a_budget_of_its_own(client, any_cache, settings):
    # given: one request a minute per protocol, used up on the registry
    settings.THROTTLE_RATES = {"registry": "1/min", "licensing": "1/min", "mor": "1/min"}
    assert register(client).status_code == 200
    assert register(client).status_code == 429
    # when / then: licensing and MOR still answer that ip, once each
    assert validate(client).json() == {"data": {"isValid": False}, "statusCode": 200, "statusText": "OK"}
    assert mor_error(mor_call(client)) != "Too many requests"
    assert validate(client).json() == TOO_MANY
    assert mor_error(mor_call(client)) == "Too many requests"


def test_the_counts_live_in_redis_when_it_is_configured(client, shared_cache, settings):
    settings.THROTTLE_RATES = {"registry": "2/min"}
    register(client)
    keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).keys(f"{shared_cache}:*throttle*127.0.0.1*")]
    assert keys, "the throttle's count is in Redis, shared by every app server"


@pytest.mark.django_db(transaction=True)
def test_sixty_four_parallel_clients_never_pass_more_than_the_limit(shared_cache, settings):
    # given: twenty requests a day (one window for the whole test), counted in Redis
    settings.THROTTLE_RATES = {"licensing": "20/day"}

    # when: 64 clients of one ip ask four times each, all at once
    def four_requests(i):
        client = Client()
        return [validate(client) for _ in range(4)]

    answers = [answer for each in run_in_threads(64, four_requests) for answer in each]

    # then: exactly twenty got through (none lost, none more); the others got licensing's 429
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 20 + [429] * (256 - 20)
    assert all(answer.json() == TOO_MANY for answer in answers if answer.status_code == 429)


# -- failures: wrong licensing passwords, unknown license keys -----------------------------------------------------

WRONG_CREDENTIALS = {
    "reason": "Sorry, the username or password you entered is incorrect.",
    "statusCode": 403,
    "statusText": "Forbidden",
}


def log_in(client, username: str, password: str, ip: str = "203.0.113.1"):
    body = json.dumps({"username": username, "password": password, "issueJWT": True})
    return client.post("/api/v2/auth/login", body, content_type="application/json", HTTP_X_FORWARDED_FOR=ip)


def activate(client, key: str, ip: str = "203.0.113.1"):
    body = json.dumps({"licenseKey": key})
    return client.post(
        "/api/v2/device/license/activate", body, content_type="application/json", HTTP_X_FORWARDED_FOR=ip
    )


@pytest.fixture
def owner(db):
    account = AccountFactory(login="owner@example.com")
    account.set_password(PASSWORD)
    account.save()
    return account


@pytest.fixture
def behind_a_proxy(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]


def assert_too_many(response):
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json() == TOO_MANY
    assert int(response["Retry-After"]) > 0


def test_wrong_passwords_for_one_login_are_limited_and_then_even_the_right_one_waits(
    client, any_cache, settings, behind_a_proxy, owner
):
    # given: three failures an hour per login, from three ips, in any letter case
    settings.THROTTLE_RATES = {"login_failures": "3/hour"}
    for i, login in enumerate(["owner@example.com", "OWNER@example.com", " Owner@Example.com"]):
        assert log_in(client, login, "wrong", ip=f"203.0.113.{i}").json() == WRONG_CREDENTIALS
    # when: the right password, from yet another ip
    response = log_in(client, "owner@example.com", PASSWORD, ip="198.51.100.7")
    # then: licensing's 429, and the password was not even checked; other logins are not concerned
    assert_too_many(response)
    other = AccountFactory(login="other@example.com")
    other.set_password(PASSWORD)
    other.save()
    assert log_in(client, "other@example.com", PASSWORD).status_code == 200


def test_wrong_passwords_from_one_ip_are_limited_across_logins(client, any_cache, settings, behind_a_proxy, owner):
    settings.THROTTLE_RATES = {"login_failures_ip": "3/min"}
    for i in range(3):
        assert log_in(client, f"nobody{i}@example.com", "guess").json() == WRONG_CREDENTIALS
    assert_too_many(log_in(client, "owner@example.com", PASSWORD))
    assert log_in(client, "owner@example.com", PASSWORD, ip="203.0.113.2").status_code == 200


def test_logging_in_uses_none_of_the_failure_budget(client, any_cache, settings, behind_a_proxy, owner):
    settings.THROTTLE_RATES = {"login_failures": "1/hour", "login_failures_ip": "1/hour"}
    assert [log_in(client, "owner@example.com", PASSWORD).status_code for _ in range(3)] == [200, 200, 200]
    assert log_in(client, "owner@example.com", "wrong").json() == WRONG_CREDENTIALS
    assert_too_many(log_in(client, "owner@example.com", "wrong"))


def test_failed_logins_are_limited_apart_from_the_requests(client, any_cache, settings, behind_a_proxy, owner):
    # Thirty licensing requests a minute, but only two wrong passwords.
    settings.THROTTLE_RATES = {"licensing": "30/min", "login_failures_ip": "2/min"}
    assert [log_in(client, "owner@example.com", "wrong").status_code for _ in range(3)] == [403, 403, 429]
    assert validate(client).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_never_get_past_the_limit(shared_cache, settings):
    # given: an account, three failures an hour per login, counted in Redis
    account = AccountFactory(login="target@example.com")
    account.set_password(PASSWORD)
    account.save()
    settings.THROTTLE_RATES = {"login_failures": "3/hour"}

    # when: 32 guessers at once
    answers = run_in_threads(32, lambda i: log_in(Client(), "target@example.com", f"guess {i}"))

    # then: three were checked and refused, the others were not checked at all
    assert sorted(answer.status_code for answer in answers) == [403] * 3 + [429] * 29


def test_unknown_license_keys_are_limited_per_ip_in_the_flecs_format(client, any_cache, settings, behind_a_proxy):
    # given: ten failed lookups a minute per ip, used up by guessed serial numbers
    settings.THROTTLE_RATES = {"license_lookup_failures": "10/min"}
    for i in range(10):
        response = activate(client, f"SN-GUESS-{i:04d}")
        assert response.json() == {"reason": "License not found", "statusCode": 403, "statusText": "Forbidden"}
    # when: the eleventh, even a real key
    real = make_license()
    response = activate(client, real.key)
    # then: licensing's 429, and nothing was activated; another ip is not concerned
    assert_too_many(response)
    real.refresh_from_db()
    assert real.activations_count == 0
    assert activate(client, real.key, ip="203.0.113.2").status_code == 200


def test_keys_that_exist_use_none_of_the_lookup_budget(client, any_cache, settings, behind_a_proxy):
    settings.THROTTLE_RATES = {"license_lookup_failures": "1/min"}
    used_up = make_license(max_activations=0)
    answers = [activate(client, make_license().key).status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert activate(client, used_up.key).json()["reason"] == "License found but maximum activations reached"
    assert activate(client, "AAAAA-BBBBB-CCCCC-DDDDD").json()["reason"] == "License not found"
    assert_too_many(activate(client, "AAAAA-BBBBB-CCCCC-EEEEE"))
