"""Request rates: the public protocols per client ip, the billing API per API key.

Counted in the default cache: Redis when REDIS_URL is set (shared by every
app server), local memory otherwise. Rates come from THROTTLE_RATES, read at
each request so they can be changed in settings (None: no limit).
"""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from devices.client_ip import client_ip


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self):
        return settings.THROTTLE_RATES.get(self.scope)


class ClientIpThrottle(_SettingsRateThrottle):
    """For the registry, licensing and MOR APIs, which anyone can call."""

    scope = "public"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class ApiKeyThrottle(_SettingsRateThrottle):
    """For the billing API: each server-to-server client by its key."""

    scope = "billing"

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
