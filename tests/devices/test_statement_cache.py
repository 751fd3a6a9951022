"""The kept statements of the protocols' main paths stay within what psycopg converts once per connection.

psycopg turns a query's `%s` into `$n` anew on every call for a query over
4 KiB or with more than 50 parameters (its MAX_CACHED_STATEMENT_LENGTH and
_PARAMS): a quarter of a millisecond of Python per request, as MOR's
device_create paid before its constants were written into the statement.
"""

import pytest
from psycopg import _queries

from devices import sql
from devices.choices import AccountRole
from licensing.services import licenses_generate
from tests.billing.conftest import BillingClient
from tests.conftest import REGISTRY_BODY
from tests.factories import AccountFactory, DeviceFactory
from tests.licensing.conftest import LicensingClient, session_of
from tests.mor_api.conftest import MorClient, parse, signed

pytestmark = pytest.mark.django_db


def test_every_protocols_statements_are_converted_once_per_connection(client, billing):
    # given: no statement kept yet
    sql._statements.clear()
    AccountFactory(login="customer@example.com")
    admin, user = AccountFactory(login="admin", role=AccountRole.ADMIN), AccountFactory()
    reserved, activated = DeviceFactory(type="mediaagent"), DeviceFactory(type="mediaagent")
    # when: each protocol's main path runs, twice (a kept statement is bound on the second call)
    for attempt in range(2):
        reserved.refresh_from_db()
        assert billing.post("reserve", {"type": "mediaagent", "mac": reserved.mac}).status_code == 200
        assert billing.post("unreserve", {"type": "mediaagent", "mac": reserved.mac}).status_code == 204
        body = {"login": "customer@example.com", "name": "cam", "type": "mediaagent", "mac": activated.mac}
        assert billing.post("activate", body).status_code == 201
        assert billing.post("deactivate", {"type": "mediaagent", "mac": activated.mac}).status_code == 204
        activated.refresh_from_db()
        activated.status, activated.account = "available", None
        activated.save()
        registry = {**REGISTRY_BODY, "mac_address": f"A1B2C3D4E5F{attempt}"}
        assert client.post("/api/v2/device", registry, content_type="application/json").status_code == 200
        answer = LicensingClient().activate(licenses_generate(count=1)[0].key)
        assert answer.status_code == 200
        assert LicensingClient().validate(session_of(answer)["id"]).status_code == 200
        call = signed("device_create", u=admin.login, user_id=user.pk, pin=f"4242{attempt}")
        assert parse(MorClient().post("device_create", call)).findtext("status") == "Device created"
    # then
    assert len(sql._statements) >= 8
    for key, (statement, params, *_) in sql._statements.items():
        assert len(statement.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH, key
        assert len(params) <= _queries.MAX_CACHED_STATEMENT_PARAMS, key


@pytest.fixture
def billing(db) -> BillingClient:
    from devices.services import api_key_create

    return BillingClient(api_key_create(name="statements")[1])
