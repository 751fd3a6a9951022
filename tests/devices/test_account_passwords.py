"""Django's password validators wherever an account's password is set outside the admin."""

import pytest
from django.core.exceptions import ValidationError

from devices.models import Account
from devices.services import account_create
from tests.devices.test_commands import run

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("a", "This password is too short. It must contain at least 8 characters."),
        ("password", "This password is too common."),
        ("8675309123", "This password is entirely numeric."),
        ("client@example.com", "The password is too similar to the login."),
    ],
    ids=["one letter", "common", "numeric", "the login"],
)
def test_create_account_refuses_a_weak_password_with_exit_2(password, problem):
    code, out, err = run("create_account", "client@example.com", "--password", password)
    assert code == 2
    assert problem in err
    assert err.startswith("password: ")
    assert out == ""
    assert Account.objects.count() == 0


def test_create_account_dry_run_checks_the_password_too():
    code, out, err = run("create_account", "client@example.com", "--password", "a", "--dry-run")
    assert (code, out) == (2, "")
    assert "This password is too short." in err


def test_account_create_refuses_a_weak_password_and_takes_a_good_one():
    with pytest.raises(ValidationError) as refused:
        account_create(login="client@example.com", password="12345678")
    assert refused.value.message_dict == {
        "password": ["This password is too common.", "This password is entirely numeric."]
    }
    assert Account.objects.count() == 0
    account = account_create(login="client@example.com", password="correct horse battery staple")
    assert account.check_password("correct horse battery staple")
    assert account_create(login="no-login@example.com").password == ""  # no password: no licensing login
