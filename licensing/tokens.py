"""Signed, expiring bearer tokens for accounts (JWT, HS256)."""

import hashlib
from datetime import timedelta

import jwt
from django.conf import settings
from django.utils import timezone

from devices.models import Account
from devices.selectors import one_or_none

ISSUER = "device-activation"
ALGORITHM = "HS256"


def _signing_key() -> bytes:
    # A key of its own for tokens, derived from the configured secret: 32 bytes whatever its length.
    return hashlib.sha256(b"licensing-token:" + settings.LICENSING_JWT_SECRET.encode()).digest()


def token_issue(*, account: Account) -> tuple[str, int]:
    """A token for the account and its expiry as unix seconds."""
    now = timezone.now()
    expires = now + timedelta(seconds=settings.LICENSING_TOKEN_SECONDS)
    claims = {"sub": str(account.pk), "iss": ISSUER, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM), int(expires.timestamp())


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
    return one_or_none(Account.objects.filter(pk=account_id, status="active", deleted_at__isnull=True))
