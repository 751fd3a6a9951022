"""The Idempotency-Key header on the licensing activation (issue 21)."""

import pytest

from devices.models import Device
from idempotency.models import IdempotencyRecord
from licensing import services
from licensing.models import LicenseSession
from tests.licensing.conftest import make_license, session_of

pytestmark = pytest.mark.django_db

KEY = "7d3f0c2a-5b1e-4c9d-8a6f-2e4b1d0c9f35"


def keyed(key: str = KEY, **extra) -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": key, **extra}


def assert_error(response, status: int, reason: str) -> None:
    assert response.status_code == status
    assert response.json() == {"reason": reason, "statusCode": status, "statusText": response.reason_phrase}


def test_a_retried_activation_by_key_gets_the_first_session_again(api):
    # given
    license = make_license(max_activations=5)
    first = api.activate(license.key, **keyed())
    # when
    retry = api.activate(license.key, **keyed())
    # then
    assert first.status_code == 200 and "Idempotent-Replayed" not in first
    assert (retry.status_code, retry.content) == (200, first.content)
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Content-Type"] == "application/json"
    assert session_of(retry) == session_of(first) == first.json()["data"]["sessionId"]
    assert LicenseSession.objects.count() == 1
    assert Device.objects.count() == 1


def test_without_the_key_a_second_activation_is_a_second_session(api):
    license = make_license(max_activations=5)
    api.activate(license.key)
    api.activate(license.key)
    assert LicenseSession.objects.count() == 2


def test_no_body_null_and_an_empty_object_are_the_same_request(api, token, owner):
    # given: one license in the account's pool
    make_license(account=owner)
    first = api.activate(token=token, **keyed())
    # when / then
    for body in (None, {}):
        retry = api.activate(body=body, token=token, **keyed())
        assert (retry.status_code, retry.content) == (200, first.content)
        assert retry["Idempotent-Replayed"] == "true"
    assert LicenseSession.objects.count() == 1


def test_the_same_key_with_another_license_key_is_a_400(api):
    licenses = make_license(), make_license()
    assert api.activate(licenses[0].key, **keyed()).status_code == 200
    response = api.activate(licenses[1].key, **keyed())
    assert_error(response, 400, "Idempotency-Key already used with another request")
    assert LicenseSession.objects.count() == 1


def test_the_same_key_with_another_session_header_is_another_request(api):
    license = make_license(max_activations=5)
    first = api.activate(license.key, **keyed())
    response = api.activate(license.key, session=first.json()["data"]["sessionId"]["id"], **keyed())
    assert_error(response, 400, "Idempotency-Key already used with another request")


@pytest.mark.parametrize("key", ["", "k" * 256, "clé"])
def test_a_malformed_key_is_a_400(api, key):
    license = make_license()
    assert_error(api.activate(license.key, **keyed(key)), 400, "Invalid Header: Idempotency-Key")
    assert not LicenseSession.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_a_refusal_is_replayed(api):
    first = api.activate("AAAAA-BBBBB-CCCCC-DDDDD", **keyed())
    retry = api.activate("AAAAA-BBBBB-CCCCC-DDDDD", **keyed())
    assert_error(first, 403, "License not found")
    assert (retry.status_code, retry.content) == (403, first.content)
    assert retry["Idempotent-Replayed"] == "true"


def test_a_key_belongs_to_its_client_ip_without_a_token(api):
    license = make_license(max_activations=5)
    first = api.activate(license.key, **keyed(REMOTE_ADDR="192.0.2.1"))
    other = api.activate(license.key, **keyed(REMOTE_ADDR="192.0.2.2"))
    assert other.status_code == 200 and "Idempotent-Replayed" not in other
    assert other.json()["data"]["sessionId"] != first.json()["data"]["sessionId"]
    assert set(IdempotencyRecord.objects.values_list("identity", flat=True)) == {"ip:192.0.2.1", "ip:192.0.2.2"}


def test_a_key_belongs_to_the_tokens_account_from_any_ip(api, token, owner):
    make_license(account=owner)
    first = api.activate(token=token, **keyed(REMOTE_ADDR="192.0.2.1"))
    retry = api.activate(token=token, **keyed(REMOTE_ADDR="192.0.2.2"))
    assert (retry.status_code, retry.content) == (200, first.content)
    assert IdempotencyRecord.objects.get().identity == f"account:{owner.pk}"


def test_a_bad_token_with_a_license_key_is_ignored_as_without_the_header(api):
    license = make_license()
    response = api.activate(license.key, token="not-a-token", **keyed())
    assert response.status_code == 200
    assert IdempotencyRecord.objects.get().identity == "ip:127.0.0.1"


def test_a_bad_token_without_a_license_key_is_refused_as_without_the_header(api):
    assert_error(api.activate(token="not-a-token", **keyed()), 403, "Invalid token")


def test_a_server_error_is_not_kept_and_a_retry_activates(api, monkeypatch):
    # given
    license = make_license()
    activate = services.license_activate_by_key

    def fail(**kwargs):
        activate(**kwargs)
        raise RuntimeError("after the session was made")

    monkeypatch.setattr(services, "license_activate_by_key", fail)
    assert_error(api.activate(license.key, **keyed()), 500, "Could not validate device activation")
    assert not LicenseSession.objects.exists() and not IdempotencyRecord.objects.exists()
    # when
    monkeypatch.setattr(services, "license_activate_by_key", activate)
    retry = api.activate(license.key, **keyed())
    # then
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
    assert LicenseSession.objects.count() == 1
