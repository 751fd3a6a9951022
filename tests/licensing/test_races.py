"""Concurrent activations never exceed a key's activations or share a pool key (real threads, PostgreSQL)."""

from collections import Counter

import pytest

from licensing.models import DeviceLicense, License, LicenseSession
from licensing.tokens import token_issue
from tests.conftest import run_in_threads
from tests.factories import AccountFactory
from tests.licensing.conftest import LicensingClient, make_license

pytestmark = pytest.mark.django_db(transaction=True)

K = 5


def statuses(responses) -> Counter:
    return Counter(getattr(r, "status_code", repr(r)) for r in responses)


def test_a_key_with_k_activations_under_3k_concurrent_activations_gives_exactly_k(db):
    # given
    license = make_license(max_activations=K)
    # when
    responses = run_in_threads(3 * K, lambda i: LicensingClient().activate(license.key))
    # then
    assert statuses(responses) == {200: K, 403: 2 * K}
    refused = {r.json()["reason"] for r in responses if r.status_code == 403}
    assert refused == {"License found but maximum activations reached"}
    license.refresh_from_db()
    assert license.activations_count == K
    assert LicenseSession.objects.filter(license=license).count() == K


def test_a_pool_of_k_keys_under_3k_concurrent_token_activations_hands_out_k_distinct_keys(db):
    # given
    owner = AccountFactory()
    keys = {make_license(account=owner).key for _ in range(K)}
    token = token_issue(account=owner)[0]
    # when
    responses = run_in_threads(3 * K, lambda i: LicensingClient().activate(raw="null", token=token))
    # then
    assert statuses(responses) == {200: K, 403: 2 * K}
    handed_out = [r.json()["data"]["licenseKey"] for r in responses if r.status_code == 200]
    assert sorted(handed_out) == sorted(keys)
    assert {r.json()["reason"] for r in responses if r.status_code == 403} == {"No remaining activations"}
    assert set(License.objects.values_list("activations_count", flat=True)) == {1}


def test_concurrent_registrations_of_one_serial_number_register_it_once(db):
    token = token_issue(account=AccountFactory(is_vendor=True))[0]
    body = {
        "manufacturer": {"name": "Example Manufacturer", "id": 791},
        "model": "IPC-xyz",
        "serial_number": "SN-RACE",
        "manufacture_date": "2024-05-01",
    }
    responses = run_in_threads(10, lambda i: LicensingClient().post("device/license", body, token=token))
    assert statuses(responses) == {201: 1, 422: 9}
    assert DeviceLicense.objects.count() == 1


def test_ten_concurrent_pool_activations_of_one_key_with_ten_activations_all_succeed(db):
    # given: the pool holds one key with ten activations
    owner = AccountFactory()
    license = make_license(account=owner, max_activations=10)
    token = token_issue(account=owner)[0]
    # when: ten devices activate from the pool at once (a key another request holds is waited for, not skipped)
    responses = run_in_threads(10, lambda i: LicensingClient().activate(raw="null", token=token))
    # then
    assert statuses(responses) == {200: 10}
    assert {r.json()["data"]["licenseKey"] for r in responses} == {license.key}
    license.refresh_from_db()
    assert license.activations_count == 10
    assert LicenseSession.objects.filter(license=license).count() == 10


def test_concurrent_pool_activations_fill_every_key_and_never_pass_a_keys_activations(db):
    # given: three keys with three activations each; twelve devices ask at once
    owner = AccountFactory()
    keys = [make_license(account=owner, max_activations=3) for _ in range(3)]
    token = token_issue(account=owner)[0]
    # when
    responses = run_in_threads(12, lambda i: LicensingClient().activate(raw="null", token=token))
    # then: nine activations, each key used exactly three times, and three refusals
    assert statuses(responses) == {200: 9, 403: 3}
    assert {r.json()["reason"] for r in responses if r.status_code == 403} == {"No remaining activations"}
    used = Counter(r.json()["data"]["licenseKey"] for r in responses if r.status_code == 200)
    assert used == {key.key: 3 for key in keys}
    assert set(License.objects.values_list("activations_count", flat=True)) == {3}


def test_concurrent_retries_of_one_activation_with_one_idempotency_key_give_one_session(db):
    # given: a key with room for every request, so that only the Idempotency-Key keeps them to one
    license = make_license(max_activations=3 * K)
    key = {"HTTP_IDEMPOTENCY_KEY": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}
    # when
    responses = run_in_threads(3 * K, lambda i: LicensingClient().activate(license.key, **key))
    # then
    assert statuses(responses) == {200: 3 * K}
    assert len({(r.content, r["X-Session-Id"]) for r in responses}) == 1
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == 3 * K - 1
    assert LicenseSession.objects.filter(license=license).count() == 1
