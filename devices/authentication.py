"""API keys for server-to-server clients: `Authorization: Bearer <prefix>.<secret>`."""

import hmac
from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from devices.models import ApiKey

# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key whose hash matches `raw`, or None. One indexed query by prefix."""
    prefix, dot, _secret = raw.partition(".")
    if not dot or len(prefix) != ApiKey.PREFIX_LENGTH:
        return None
    key = ApiKey.objects.active().filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.secret_hash, ApiKey.hash_secret(raw)):
        return None
    now = timezone.now()
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
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


class HasApiKey(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, ApiKey)
