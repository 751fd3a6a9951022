import json

import pytest
from django.test import Client

from licensing.models import License, generate_license_key
from licensing.tokens import token_issue
from tests.factories import AccountFactory

PASSWORD = "correct horse battery staple"


class LicensingClient:
    """Speaks to the licensing API as the edge runtime does."""

    def __init__(self):
        self.client = Client()

    def post(self, path: str, body=..., *, token: str | None = None, session: str | None = None, raw=None, **extra):
        if token is not None:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        if session is not None:
            extra["HTTP_X_SESSION_ID"] = session
        if raw is not None:
            payload = raw
        elif body is ...:
            payload = ""
        else:
            payload = json.dumps(body)
        return self.client.post(f"/api/v2/{path}", payload, content_type="application/json", **extra)

    def activate(self, key: str | None = None, **kwargs):
        body = {"licenseKey": key} if key is not None else kwargs.pop("body", ...)
        return self.post("device/license/activate", body, **kwargs)

    def validate(self, session: str | None, **kwargs):
        return self.post("device/license/validate", session=session, **kwargs)


def session_of(response) -> dict:
    return json.loads(response["X-Session-Id"])


@pytest.fixture
def api() -> LicensingClient:
    return LicensingClient()


@pytest.fixture
def owner(db):
    account = AccountFactory(login="owner@example.com")
    account.set_password(PASSWORD)
    account.save()
    return account


@pytest.fixture
def token(owner) -> str:
    return token_issue(account=owner)[0]


def make_license(**kwargs) -> License:
    return License.objects.create(key=generate_license_key(), **kwargs)
