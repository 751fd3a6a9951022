from xml.etree import ElementTree

import pytest
from django.test import Client

from devices.choices import AccountRole
from mor_api.auth import SIGNED_PARAMS, expected_hash
from mor_api.models import MorPermissions
from tests.factories import AccountFactory

SECRET = "secret"
BASE = "/billing/api/"


def signed(call: str, **params) -> dict[str, str]:
    params = {k: str(v) for k, v in params.items()}
    params["hash"] = expected_hash(params, SIGNED_PARAMS[call], SECRET)
    return params


def parse(response) -> ElementTree.Element:
    """The answer's <page>, after checking what every MOR answer must be."""
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    page = ElementTree.fromstring(response.content)
    assert page.tag == "page"
    return page


def error_of(response) -> str | None:
    node = parse(response).find("error")
    return None if node is None else node.text


class MorClient:
    def __init__(self):
        self.client = Client()

    def post(self, call: str, params: dict, **extra):
        return self.client.post(BASE + call, params, **extra)

    def get(self, call: str, params: dict):
        return self.client.get(BASE + call, params)


@pytest.fixture
def mor() -> MorClient:
    return MorClient()


@pytest.fixture
def admin_account(db):
    return AccountFactory(login="admin", role=AccountRole.ADMIN)


@pytest.fixture
def user(db):
    return AccountFactory(login="user2@example.com")


def accountant(*, can_create: bool, can_callerid: bool = False):
    account = AccountFactory(role=AccountRole.ACCOUNTANT)
    MorPermissions.objects.create(account=account, can_create_devices=can_create, can_manage_callerid=can_callerid)
    return account
