"""Signed, expiring bearer tokens for accounts (JWT, HS256)."""

import hashlib

import jwt
from django.conf import settings
from django.utils import timezone

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


def token_issue(*, account: Account) -> tuple[str, int]:
    """A token for the account and its expiry as unix seconds (at most MAX_TOKEN_EXPIRES)."""
    now = int(timezone.now().timestamp())
    expires = min(now + settings.LICENSING_TOKEN_SECONDS, MAX_TOKEN_EXPIRES)
    claims = {"sub": str(account.pk), "iss": ISSUER, "iat": now, "exp": expires}
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM), expires


def token_account(*, token: str) -> Account | None:
    """The active account a valid, unexpired token was issued to, or None."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
        account_id = int(claims["sub"])
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None
    return one_or_none(Account.objects.usable().filter(pk=account_id))
