"""Signed, expiring bearer tokens for accounts (JWT, HS256), bound to the account's password."""

import hashlib
import hmac

import jwt
from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from devices.models import Account
from devices.selectors import one_or_none

ISSUER = "device-activation"
ALGORITHM = "HS256"
# The FLECS clients read token_expires as a 32-bit integer (the console client's Jwt: i32; the core's own API: u32),
# so no token outlives 2038-01-19T03:14:07Z, however long LICENSING_TOKEN_SECONDS is.
MAX_TOKEN_EXPIRES = 2**31 - 1


def _signing_key() -> bytes:
    # A key of its own for tokens, derived from the configured secret: 32 bytes whatever its length.
    return hashlib.sha256(b"licensing-token:" + settings.LICENSING_JWT_SECRET.encode()).digest()


def _password_binding(account: Account) -> str:
    """Changes whenever the password is set (each hash has a salt of its own); tells nothing about it.

    Django binds its sessions to the password the same way (get_session_auth_hash).
    """
    return salted_hmac(
        "licensing-token-password", account.password, secret=settings.LICENSING_JWT_SECRET, algorithm="sha256"
    ).hexdigest()


def token_issue(*, account: Account) -> tuple[str, int]:
    """A token for the account and its expiry as unix seconds (at most MAX_TOKEN_EXPIRES)."""
    now = int(timezone.now().timestamp())
    expires = min(now + settings.LICENSING_TOKEN_SECONDS, MAX_TOKEN_EXPIRES)
    claims = {"sub": str(account.pk), "iss": ISSUER, "iat": now, "exp": expires, "pwd": _password_binding(account)}
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM), expires


def token_account(*, token: str) -> Account | None:
    """The account a valid, unexpired token was issued to, or None.

    None also when the account is blocked or deleted now, or its password has
    been set since the token was issued.
    """
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss", "pwd"]},
        )
        account_id = int(claims["sub"])
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None
    account = one_or_none(Account.objects.usable().filter(pk=account_id))
    if account is None or not isinstance(claims["pwd"], str):
        return None
    return account if hmac.compare_digest(claims["pwd"].encode(), _password_binding(account).encode()) else None
