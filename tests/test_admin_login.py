"""The admin's login locks out after a few wrong passwords (django-axes); nothing else is locked with it."""

import json

import pytest
from axes.models import AccessAttempt, AccessLog
from django.test import Client
from django.utils import timezone

from devices.services import api_key_create
from tests.conftest import REGISTRY_BODY
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "operator-password-42"
LIMIT = 5  # AXES_FAILURE_LIMIT


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True)


def log_in(ip: str, username: str = "operator", password: str = PASSWORD) -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(LOGIN, {"username": username, "password": password})
    return client, response


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked_out(response) -> None:
    assert response.status_code == 429
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Retry-After"] == "900"
    html = response.content.decode()
    assert '<p class="errornote" id="locked-out">Too many failed logins' in html
    assert "until 15 minutes after the last failed attempt" in html
    assert "Device activation back-office" in html  # the admin's own page


def test_the_right_password_is_refused_after_five_wrong_ones(operator):
    # given: four wrong passwords are the login page again
    for _ in range(LIMIT - 1):
        client, response = log_in("203.0.113.7", password="guess")
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()
    # when: the fifth wrong one, then the right one
    _, fifth = log_in("203.0.113.7", password="guess")
    client, right = log_in("203.0.113.7")
    # then
    assert_locked_out(fifth)
    assert_locked_out(right)
    assert not logged_in(client)
    assert AccessAttempt.objects.get().failures_since_start == LIMIT + 1


def test_the_lockout_holds_for_the_username_from_another_ip_and_for_the_ip_with_another_username(
    operator, django_user_model
):
    # given
    django_user_model.objects.create_user("colleague", password=PASSWORD, is_staff=True)
    for _ in range(LIMIT):
        log_in("203.0.113.7", password="guess")
    # when
    same_user_elsewhere, elsewhere = log_in("198.51.100.1")
    other_user_same_ip, same_ip = log_in("203.0.113.7", username="colleague")
    other_user_elsewhere, fine = log_in("198.51.100.1", username="colleague")
    # then
    assert_locked_out(elsewhere)
    assert_locked_out(same_ip)
    assert not logged_in(same_user_elsewhere) and not logged_in(other_user_same_ip)
    assert fine.status_code == 302 and logged_in(other_user_elsewhere)


def test_a_login_works_again_once_the_cool_off_has_passed(operator):
    # given
    for _ in range(LIMIT):
        log_in("203.0.113.7", password="guess")
    # when: 15 minutes after the last failure
    AccessAttempt.objects.update(attempt_time=timezone.now() - timezone.timedelta(minutes=15, seconds=1))
    client, response = log_in("203.0.113.7")
    # then
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert logged_in(client)
    assert AccessLog.objects.get().username == "operator"


def test_failures_are_counted_by_the_client_ip_a_trusted_proxy_names(operator, settings):
    # given: every request comes through the same trusted proxy, for two clients
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    for _ in range(LIMIT):
        Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7").post(
            LOGIN, {"username": "someone", "password": "guess"}
        )
    # when
    other = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    response = other.post(LOGIN, {"username": "operator", "password": PASSWORD})
    # then: the other client behind the proxy is not locked out with the guesser
    assert response.status_code == 302 and logged_in(other)
    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"


def test_a_locked_out_ip_still_uses_every_api(operator):
    # given: the admin's login is locked for this ip
    for _ in range(LIMIT):
        log_in("203.0.113.7", password="guess")
    api = Client(REMOTE_ADDR="203.0.113.7")
    key = api_key_create(name="billing")[1]
    account = AccountFactory(login="owner@example.com")
    account.set_password("correct horse battery staple")
    account.save()
    # when
    DeviceFactory(type="mediaagent", mac="0A0B0C0D0E0F")
    billing = api.post(
        "/api/v1/billing/devices/check",
        {"type": "mediaagent", "mac": "0A0B0C0D0E0F"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    registry = api.post("/api/v2/device", json.dumps(REGISTRY_BODY), content_type="application/json")
    licensing = api.post(
        "/api/v2/auth/login",
        {"username": "owner@example.com", "password": "correct horse battery staple", "issueJWT": True},
        content_type="application/json",
    )
    # then
    assert billing.status_code == 204
    assert registry.status_code == 200
    assert licensing.status_code == 200 and licensing.json()["data"]["jwt"]["token"]


def test_a_wrong_password_on_the_apis_never_locks_the_admin(operator):
    api = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(LIMIT + 1):
        api.post("/api/v2/auth/login", {"username": "operator", "password": "guess"}, content_type="application/json")
    client, response = log_in("203.0.113.7")
    assert response.status_code == 302 and logged_in(client)
    assert not AccessAttempt.objects.exists()
