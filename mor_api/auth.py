"""Signed requests (SHA1 of the parameters and the secret key) and who may act for whom."""

import hashlib
import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from rest_framework.permissions import BasePermission

from devices.choices import AccountRole
from devices.client_ip import client_ip
from devices.models import Account
from devices.selectors import one_or_none
from mor_api.errors import DONT_BE_SO_SMART, INCORRECT_HASH, NOT_ALLOWED, USER_NOT_FOUND, MorError

# The parameters each call signs, in the order of its wiki page; each counts only when sent and not empty.
SIGNED_PARAMS = {
    "device_create": ("user_id", "description", "pin", "type", "devicegroup_id", "caller_id"),
    "devices_get": ("user_id",),
    # device_u names the device by its SIP login instead (the page's newer parameter; a client sends one).
    "device_details_get": ("device_id", "device_u"),
    "device_update": ("device", "authentication", "username", "host", "port"),
    "device_delete": ("device",),
}


@lru_cache(maxsize=8)
def allowed_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """MOR_API_ALLOWED_IPS as networks (an address is a network of one). ValueError for an entry that is neither."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


class CallerIpAllowed(BasePermission):
    """The caller's address (as client_ip() finds it: TRUSTED_PROXIES) is in MOR_API_ALLOWED_IPS, when that is set.

    Checked before anything else, the hash included: an address outside the list learns nothing, and costs no
    throttle count. The signature can't be kept from being replayed (the scheme has no nonce nor time); the list
    keeps a captured one from being replayed from anywhere else.
    """

    message = NOT_ALLOWED

    def has_permission(self, request, view) -> bool:
        entries = tuple(settings.MOR_API_ALLOWED_IPS)
        if not entries:
            return True
        try:
            address = ipaddress.ip_address(client_ip(request))
        except ValueError:
            return False
        return any(address in network for network in allowed_networks(entries))


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


def callers() -> QuerySet[Account]:
    """The accounts that may call the API: active admins and resellers, and accountants allowed to create devices."""
    return (
        Account.objects.usable()
        .order_by()
        .filter(
            Q(role__in=[AccountRole.ADMIN, AccountRole.RESELLER])
            | Q(role=AccountRole.ACCOUNTANT, mor_permissions__can_create_devices=True)
        )
    )


def callerid_managers(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """Those of `accounts` that may set a caller id: all but accountants without that permission."""
    return accounts.filter(~Q(role=AccountRole.ACCOUNTANT) | Q(mor_permissions__can_manage_callerid=True))


def managed_by(caller: QuerySet[Account]) -> QuerySet[Account]:
    """The accounts whose devices the caller (a queryset of one) manages: a reseller its own, the others all."""
    manages = caller.filter(~Q(role=AccountRole.RESELLER) | Q(pk=OuterRef("owner")))
    return Account.objects.not_deleted().order_by().filter(Exists(manages))


def caller_for(login: str, *, denied: str = DONT_BE_SO_SMART) -> Account:
    """The account `u` names, when it may call the API; `denied` (the call's own text) otherwise."""
    caller = one_or_none(callers().with_login(login)) if login else None
    if caller is None:
        raise MorError(denied)
    return caller


def managed_accounts(caller: Account) -> QuerySet[Account]:
    return managed_by(Account.objects.filter(pk=caller.pk))


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
