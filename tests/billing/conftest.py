import json

import pytest
from django.test import Client

from devices.models import ApiKey
from devices.services import api_key_create

BASE = "/api/v1/billing/devices/"


@pytest.fixture
def api_key(db) -> tuple[ApiKey, str]:
    return api_key_create(name="billing-test")


class BillingClient:
    """Posts JSON to the billing API with an API key, as the billing system does."""

    def __init__(self, secret: str | None):
        self.client = Client()
        self.secret = secret

    def post(self, endpoint: str, body=None, *, raw: str | bytes | None = None, **extra):
        if self.secret is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.secret}")
        payload = raw if raw is not None else json.dumps(body or {})
        return self.client.post(BASE + endpoint, payload, content_type="application/json", **extra)


@pytest.fixture
def billing(api_key) -> BillingClient:
    return BillingClient(api_key[1])
