"""Signed requests (SHA1 of the parameters and the secret key) and who may act for whom."""

import hashlib
import hmac

from django.conf import settings

from devices.choices import AccountRole, AccountStatus
from devices.models import Account
from devices.selectors import accounts_by_login, one_or_none
from mor_api.errors import DONT_BE_SO_SMART, INCORRECT_HASH, USER_NOT_FOUND, MorError
from mor_api.models import MorPermissions

# The parameters each call signs, in the order of its wiki page; each counts only when sent and not empty.
SIGNED_PARAMS = {
    "device_create": ("user_id", "description", "pin", "type", "devicegroup_id", "caller_id"),
    "devices_get": ("user_id",),
    # device_u names the device by its SIP login instead (the page's newer parameter; a client sends one).
    "device_details_get": ("device_id", "device_u"),
    "device_update": ("device", "authentication", "username", "host", "port"),
    "device_delete": ("device",),
}


def expected_hash(params: dict[str, str], names: tuple[str, ...], secret: str) -> str:
    joined = "".join(params[name] for name in names if params.get(name))
    return hashlib.sha1((joined + secret).encode("utf-8")).hexdigest()  # noqa: S324 - the protocol's own hash


def check_hash(params: dict[str, str], call: str) -> None:
    """Raise 'Incorrect hash' unless `hash` signs the call's parameters. Compared in constant time."""
    secret = settings.MOR_API_SECRET_KEY
    sent = (params.get("hash") or "").lower().encode("utf-8")
    if not secret or not sent:
        raise MorError(INCORRECT_HASH)
    if not hmac.compare_digest(expected_hash(params, SIGNED_PARAMS[call], secret).encode(), sent):
        raise MorError(INCORRECT_HASH)


def caller_for(params: dict[str, str], *, denied: str = DONT_BE_SO_SMART) -> Account:
    """The account `u` names, when it may manage devices; `denied` (the call's own text) otherwise."""
    login = params.get("u") or ""
    caller = (
        one_or_none(
            accounts_by_login(login)
            .filter(status=AccountStatus.ACTIVE, deleted_at__isnull=True)
            .select_related("mor_permissions")
        )
        if login
        else None
    )
    if caller is None or caller.role == AccountRole.USER:
        raise MorError(denied)
    if caller.role == AccountRole.ACCOUNTANT and not permissions_of(caller).can_create_devices:
        raise MorError(denied)
    return caller


def permissions_of(account: Account) -> MorPermissions:
    try:
        return account.mor_permissions
    except MorPermissions.DoesNotExist:
        return MorPermissions(account=account)


def managed_accounts(caller: Account):
    """The accounts whose devices the caller manages: a reseller its own users, admins everyone."""
    accounts = Account.objects.filter(deleted_at__isnull=True)
    if caller.role == AccountRole.RESELLER:
        accounts = accounts.filter(owner=caller)
    return accounts


def managed_user(caller: Account, raw_user_id: str, *, not_found: str = USER_NOT_FOUND) -> Account:
    """The user `user_id` names among the caller's; `not_found` (the call's own text) otherwise."""
    if not is_id(raw_user_id):
        raise MorError(not_found)
    user = one_or_none(managed_accounts(caller).filter(pk=int(raw_user_id)))
    if user is None:
        raise MorError(not_found)
    return user


def is_id(raw: str) -> bool:
    """A positive whole number that fits a database id."""
    return raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18
