"""Account passwords (Argon2, rehashed on login) and the licensing tokens bound to them."""

import time

import jwt
import pytest
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from config.settings import base
from devices.choices import AccountStatus
from devices.models import Account
from devices.services import account_create
from licensing import tokens
from licensing.tokens import token_issue
from tests.factories import AccountFactory
from tests.licensing.conftest import PASSWORD, make_license
from tests.licensing.test_api import assert_error

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


# -- tokens ----------------------------------------------------------------------------------------------------------


def token_of(response) -> str:
    assert response.status_code == 200
    return response.json()["data"]["jwt"]["token"]


def test_changing_the_password_ends_every_token(api, owner):
    # given: two tokens of the account, and a license in its pool
    tokens = [token_of(log_in(api, owner.login, PASSWORD)), token_issue(account=owner)[0]]
    make_license(account=owner, max_activations=5)
    assert api.activate(raw="null", token=tokens[0]).status_code == 200
    # when: the password is set again (to the same one: a new hash all the same)
    owner.set_password(PASSWORD)
    owner.save()
    # then: neither token works anywhere; a new login's does
    for token in tokens:
        assert_error(api.activate(raw="null", token=token), 403, "Invalid token")
        assert_error(api.post("device/license", {}, token=token), 401, "Invalid or missing bearer token")
    assert api.activate(raw="null", token=token_of(log_in(api, owner.login, PASSWORD))).status_code == 200


@pytest.mark.parametrize(
    "change", [{"status": AccountStatus.BLOCKED}, {"deleted_at": timezone.now()}], ids=["blocked", "deleted"]
)
def test_a_token_is_refused_while_its_account_is_blocked_or_deleted(api, owner, change):
    token = token_of(log_in(api, owner.login, PASSWORD))
    make_license(account=owner)
    Account.objects.filter(pk=owner.pk).update(**change)
    assert_error(api.activate(raw="null", token=token), 403, "Invalid token")


def test_a_token_bound_to_no_password_is_refused(api, owner):
    # A token signed with the right key but without the password's binding (as they were issued before).
    now = int(time.time())
    claims = {"sub": str(owner.pk), "iss": tokens.ISSUER, "iat": now, "exp": now + 60}
    unbound = jwt.encode(claims, tokens._signing_key(), algorithm=tokens.ALGORITHM)
    make_license(account=owner)
    assert_error(api.activate(raw="null", token=unbound), 403, "Invalid token")
    claims["pwd"] = "0" * 64
    forged = jwt.encode(claims, tokens._signing_key(), algorithm=tokens.ALGORITHM)
    assert_error(api.activate(raw="null", token=forged), 403, "Invalid token")
