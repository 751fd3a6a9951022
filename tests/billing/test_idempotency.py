"""The Idempotency-Key header on the billing API's state changes (issue 21)."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from devices import services
from devices.choices import DeviceStatus
from devices.models import Device, DeviceEvent
from devices.services import api_key_create
from idempotency.models import IdempotencyRecord
from tests.billing.conftest import BillingClient
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db

REF = {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}
KEY = "0b6a1c9e-3f47-4d2a-9a51-6c0e7d1f2a83"


def keyed(key: str = KEY) -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": key}


@pytest.fixture
def media_agent(db) -> Device:
    return DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", serial_number="sn")


@pytest.fixture
def customer(db):
    return AccountFactory(login="user@mail.com", name="user")


def activate_body(customer, **extra) -> dict:
    return {"login": customer.login, "name": "n", **REF, **extra}


def test_a_retried_activation_gets_the_first_answer_again_and_activates_once(billing, customer, media_agent):
    # given
    first = billing.post("activate", activate_body(customer), **keyed())
    # when
    retry = billing.post("activate", activate_body(customer), **keyed())
    # then
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Content-Type"] == first["Content-Type"] == "application/json"
    assert retry.content == first.content
    assert retry.json()["user"]["login"] == customer.login
    assert DeviceEvent.objects.filter(device=media_agent, action="activated").count() == 1


def test_without_the_key_a_second_activation_is_refused_as_before(billing, customer, media_agent):
    assert billing.post("activate", activate_body(customer)).status_code == 201
    again = billing.post("activate", activate_body(customer))
    assert again.json() == {"message": "Device already activated.", "code": 33603}
    assert "Idempotent-Replayed" not in again


def test_the_body_is_compared_as_parsed_not_as_bytes(billing, customer, media_agent):
    body = activate_body(customer)
    first = billing.post("activate", body, **keyed())
    reordered = billing.post(
        "activate",
        raw=f'{{ "mac": "A1B2C3D4E5F6",\n "type": "mediaagent", "name": "n", "login": "{customer.login}" }}',
        **keyed(),
    )
    assert reordered["Idempotent-Replayed"] == "true"
    assert reordered.content == first.content


def test_the_same_key_with_another_body_is_a_422_and_changes_nothing(billing, customer, media_agent):
    # given
    assert billing.post("reserve", REF, **keyed()).status_code == 200
    other = DeviceFactory(type="mediaagent", mac="0A0B0C0D0E0F")
    # when
    response = billing.post("reserve", {"type": "mediaagent", "mac": "0A0B0C0D0E0F"}, **keyed())
    # then
    message = "The Idempotency-Key has already been used with another request."
    assert response.status_code == 422
    assert response.json() == {"message": message, "errors": {"Idempotency-Key": [message]}}
    other.refresh_from_db()
    assert other.status == DeviceStatus.AVAILABLE


def test_the_same_key_on_another_endpoint_is_another_request(billing, media_agent):
    assert billing.post("reserve", REF, **keyed()).status_code == 200
    response = billing.post("unreserve", REF, **keyed())
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "Idempotency-Key": ["The Idempotency-Key has already been used with another request."]
    }


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there", "nul\x00"])
def test_a_key_that_is_not_1_to_255_printable_ascii_characters_is_a_422(billing, media_agent, key):
    response = billing.post("reserve", REF, **keyed(key))
    message = "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
    assert response.status_code == 422
    assert response.json() == {"message": message, "errors": {"Idempotency-Key": [message]}}
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.AVAILABLE
    assert not IdempotencyRecord.objects.exists()


def test_a_key_of_255_printable_characters_is_accepted(billing, media_agent):
    assert billing.post("reserve", REF, **keyed(" ~" + "k" * 253)).status_code == 200


def test_a_domain_refusal_is_stored_and_replayed_even_when_the_state_has_changed(billing, media_agent):
    # given: a refused reservation (reserved already) with a key
    assert billing.post("reserve", REF).status_code == 200
    refused = billing.post("reserve", REF, **keyed())
    assert refused.json() == {"message": "Device reserved.", "code": 33599}
    # when: the device is free again and the refused request is retried
    assert billing.post("unreserve", REF).status_code == 204
    retry = billing.post("reserve", REF, **keyed())
    # then: the retry sees the same refusal, and nothing was reserved
    assert (retry.status_code, retry.content) == (400, refused.content)
    assert retry["Idempotent-Replayed"] == "true"
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.AVAILABLE


def test_a_validation_error_is_stored_too(billing, media_agent):
    first = billing.post("reserve", {"type": "mediaagent"}, **keyed())
    retry = billing.post("reserve", {"type": "mediaagent"}, **keyed())
    assert (first.status_code, retry.status_code) == (422, 422)
    assert retry.content == first.content and retry["Idempotent-Replayed"] == "true"


def test_a_server_error_is_rolled_back_and_not_stored_so_a_retry_runs_again(billing, media_agent, monkeypatch):
    # given: a reservation that fails after the device was reserved
    reserve = services.device_reserve

    def reserve_then_fail(**kwargs):
        reserve(**kwargs)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services, "device_reserve", reserve_then_fail)
    failed = billing.post("reserve", REF, **keyed())
    assert failed.status_code == 500
    media_agent.refresh_from_db()
    assert media_agent.status == DeviceStatus.AVAILABLE
    assert not IdempotencyRecord.objects.exists()
    # when
    monkeypatch.setattr(services, "device_reserve", reserve)
    retry = billing.post("reserve", REF, **keyed())
    # then
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry
    assert DeviceEvent.objects.filter(device=media_agent, action="reserved").count() == 1


def test_a_replayed_204_has_no_body_and_no_content_type(billing, media_agent):
    assert billing.post("reserve", REF).status_code == 200
    first = billing.post("unreserve", {"uuid": str(media_agent.uuid)}, **keyed())
    retry = billing.post("unreserve", {"uuid": str(media_agent.uuid)}, **keyed())
    assert (first.status_code, retry.status_code) == (204, 204)
    assert retry.content == b""
    assert "Content-Type" not in first and "Content-Type" not in retry
    assert DeviceEvent.objects.filter(device=media_agent, action="unreserved").count() == 1


def test_deactivate_with_a_key_starts_one_deactivation(billing, customer, media_agent):
    assert billing.post("activate", activate_body(customer)).status_code == 201
    responses = [billing.post("deactivate", {"uuid": str(media_agent.uuid)}, **keyed()) for _ in range(2)]
    assert [r.status_code for r in responses] == [204, 204]
    assert responses[1]["Idempotent-Replayed"] == "true"
    assert DeviceEvent.objects.filter(device=media_agent, action="deactivation_started").count() == 1


def test_a_key_belongs_to_its_api_key(billing, media_agent):
    # given: another billing system's key used the same Idempotency-Key
    other = BillingClient(api_key_create(name="other")[1])
    assert other.post("reserve", REF, **keyed()).status_code == 200
    # when
    mine = billing.post("reserve", REF, **keyed())
    # then: mine runs on its own (and is refused: the other reserved the device)
    assert mine.json() == {"message": "Device reserved.", "code": 33599}
    assert "Idempotent-Replayed" not in mine


def test_an_unauthenticated_request_with_a_key_is_refused_and_not_stored(media_agent):
    response = BillingClient("wrong").post("reserve", REF, **keyed())
    assert response.status_code == 401
    assert not IdempotencyRecord.objects.exists()


def test_check_ignores_the_header(billing, media_agent):
    responses = [billing.post("check", REF, **keyed()) for _ in range(2)]
    assert [r.status_code for r in responses] == [204, 204]
    assert "Idempotent-Replayed" not in responses[1]
    assert not IdempotencyRecord.objects.exists()


def test_a_record_older_than_24_hours_is_ignored(billing, media_agent):
    # given: a reservation with the key 25 hours ago, undone since
    assert billing.post("reserve", REF, **keyed()).status_code == 200
    assert billing.post("unreserve", REF).status_code == 204
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    # when
    retry = billing.post("reserve", REF, **keyed())
    # then: it ran again, and its answer is the one kept now
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
    assert DeviceEvent.objects.filter(device=media_agent, action="reserved").count() == 2
    record = IdempotencyRecord.objects.get()
    assert timezone.now() - record.created_at < timedelta(minutes=1)
    assert billing.post("reserve", REF, **keyed())["Idempotent-Replayed"] == "true"


def test_purge_idempotency_keys_deletes_only_the_expired_records(billing, media_agent, capsys):
    # given
    assert billing.post("reserve", REF, **keyed("old")).status_code == 200
    assert billing.post("unreserve", REF, **keyed("recent")).status_code == 204
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    # when
    call_command("purge_idempotency_keys")
    # then
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
    assert capsys.readouterr().out == "Deleted 1 idempotency record(s) older than 24 hours.\n"


def test_purge_idempotency_keys_has_help(capsys):
    with pytest.raises(SystemExit):
        call_command("purge_idempotency_keys", "--help")
    assert "older than 24 hours" in capsys.readouterr().out


# -- queries ------------------------------------------------------------------------------------


def _warm(billing):
    billing.post("check", {"type": "none", "mac": "000000000000"})


def test_an_activation_with_a_key_takes_two_more_statements_in_a_transaction(
    billing, customer, media_agent, django_assert_num_queries
):
    _warm(billing)
    # The request's transaction (a SAVEPOINT and its RELEASE here, in the test's transaction; BEGIN and COMMIT,
    # which are not counted, in production) around: INSERT the record (ON CONFLICT DO NOTHING RETURNING id),
    # the activation's one statement, UPDATE the record with the answer.
    with django_assert_num_queries(5):
        assert billing.post("activate", activate_body(customer), **keyed()).status_code == 201
    # A replay: SAVEPOINT, the INSERT that does nothing, the SELECT that finds the answer, RELEASE.
    with django_assert_num_queries(4):
        assert billing.post("activate", activate_body(customer), **keyed())["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("path", "replayed"),
    [
        ("/api/v1/billing/devices/reserve", {"200", "400", "422"}),
        ("/api/v1/billing/devices/unreserve", {"204", "400", "422"}),
        ("/api/v1/billing/devices/activate", {"201", "400", "422"}),
        ("/api/v1/billing/devices/deactivate", {"204", "400", "422"}),
        ("/api/v2/device/license/activate", {"200", "204", "400", "403"}),
    ],
)
def test_the_docs_show_the_key_with_an_example_and_the_replay_header_on_the_answers_kept(client, path, replayed):
    operation = json.loads(client.get("/api/schema/?format=json").content)["paths"][path]["post"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert (parameter["in"], parameter.get("required", False)) == ("header", False)
    assert [e["value"] for e in parameter["examples"].values()] == ["4e1b3c7a-9f0d-4a59-b2a6-8f3e5d1c2b70"]
    responses = operation["responses"]
    assert {code for code in responses if "Idempotent-Replayed" in responses[code].get("headers", {})} == replayed


def test_another_method_with_a_key_is_a_405_and_keeps_nothing(billing, media_agent):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {billing.secret}"}
    response = billing.client.get("/api/v1/billing/devices/reserve", HTTP_IDEMPOTENCY_KEY=KEY, **auth)
    assert response.status_code == 405
    assert not IdempotencyRecord.objects.exists()
