"""Account passwords (Argon2, rehashed on login) and the licensing tokens bound to them."""

import pytest
from django.contrib.auth.hashers import make_password

from config.settings import base
from devices.services import account_create
from tests.factories import AccountFactory
from tests.licensing.conftest import PASSWORD, make_license

pytestmark = pytest.mark.django_db


@pytest.fixture
def project_hashers(settings):
    """The hashers every environment uses (the test settings swap in a fast one)."""
    settings.PASSWORD_HASHERS = base.PASSWORD_HASHERS


def log_in(api, login: str, password: str):
    return api.post("auth/login", {"username": login, "password": password, "issueJWT": True})


def test_account_passwords_are_hashed_with_argon2id(project_hashers):
    account = account_create(login="new@example.com", password=PASSWORD)
    assert account.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert account.check_password(PASSWORD)
    assert not account.check_password("wrong")


def test_a_password_hashed_before_argon2_logs_in_and_is_rehashed(api, project_hashers):
    # given: an account whose password PBKDF2 hashed, as every account's was
    account = AccountFactory(login="old@example.com", password=make_password(PASSWORD, hasher="pbkdf2_sha256"))
    # when
    response = log_in(api, "old@example.com", PASSWORD)
    # then: it logs in, its hash is now Argon2's, and the token it got works
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.password.startswith("argon2$argon2id$")
    make_license(account=account)
    assert api.activate(raw="null", token=response.json()["data"]["jwt"]["token"]).status_code == 200
    assert log_in(api, "old@example.com", PASSWORD).status_code == 200
