"""API keys for server-to-server clients: `Authorization: Bearer <prefix>.<secret>`."""

import hmac
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import BasePermission

from devices.models import ApiKey
from devices.selectors import one_or_none

# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_cache_key(secret_hash: str) -> str:
    # v2: keys cached before scopes and expiry existed are not read back.
    return f"apikey:v2:{secret_hash}"


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active, unexpired key whose hash matches `raw`, or None.

    An expired key is refused as an unknown one is, from its first expired
    request: expiry is checked on every request, a cached key's too. A
    verified key is kept in the cache for API_KEY_CACHE_SECONDS, so a busy
    client costs no query per request; revoking a key or changing its scopes
    or expiry removes it from the cache (immediately everywhere with a shared
    cache, within that time with per-process memory). Its use is recorded
    when it is read from the database.
    """
    prefix, dot, _secret = raw.partition(".")
    if not dot or len(prefix) != ApiKey.PREFIX_LENGTH:
        return None
    digest = ApiKey.hash_secret(raw)
    now = timezone.now()
    cached = cache.get(api_key_cache_key(digest)) if settings.API_KEY_CACHE_SECONDS else None
    if cached is not None:
        return None if cached.is_expired(now) else cached
    key = one_or_none(ApiKey.objects.active().filter(prefix=prefix))
    if key is None or not hmac.compare_digest(key.secret_hash, digest) or key.is_expired(now):
        return None
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    if settings.API_KEY_CACHE_SECONDS:
        cache.set(api_key_cache_key(digest), key, settings.API_KEY_CACHE_SECONDS)
    return key


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise AuthenticationFailed()
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed() from exc
        key = api_key_authenticate(raw)
        if key is None:
            raise AuthenticationFailed()
        return (None, key)

    def authenticate_header(self, request):
        return "Bearer"


class ApiKeyScopeDenied(PermissionDenied):
    """A valid key without the scope the API needs: each API's error table answers it as its 403."""

    default_code = "scope"


class HasApiKeyScope(BasePermission):
    """An API key (none: the API's 401) that carries the view's `api_key_scope` (else ApiKeyScopeDenied)."""

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        if not key.has_scope(view.api_key_scope):
            raise ApiKeyScopeDenied(f"This API key has no {view.api_key_scope} scope.")
        return True
