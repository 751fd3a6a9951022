import pytest
from django.test import Client

from devices.choices import ApiKeyScope
from devices.services import api_key_create

BASE = "/api/manage/"


class ManageClient:
    """GETs the management API with an API key, as an integrator's job does."""

    def __init__(self, secret: str | None):
        self.client = Client()
        self.secret = secret

    def get(self, path: str, params=None, **extra):
        if self.secret is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.secret}")
        url = path if path.startswith("http") or path.startswith("/") else BASE + path
        return self.client.get(url, params or {}, **extra)


@pytest.fixture
def manage(db) -> ManageClient:
    return ManageClient(api_key_create(name="crm", scopes=[ApiKeyScope.MANAGE])[1])
