"""Settings that can't work, refused when the settings load (manage.py, gunicorn's workers) with what to set instead."""

import ipaddress

from django.core.exceptions import ImproperlyConfigured

# HS256 wants a key of at least the hash's size (RFC 7518, section 3.2): 32 characters of a random string.
LICENSING_JWT_SECRET_MIN_LENGTH = 32


def trusted_proxies(values: list[str]) -> list[str]:
    """TRUSTED_PROXIES without empty entries, when each entry is an ip address or network short of every address.

    `*` would fail every request that looks for its client's ip (the public
    protocols) while the probes stay green, and a network of every address
    would let any client choose its ip and pass as HTTPS.
    """
    proxies = [value.strip() for value in values if value.strip()]
    for proxy in proxies:
        try:
            network = ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            network = None
        if network is None or network.prefixlen == 0:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {proxy!r} is not a proxy's address. List the ip addresses or networks of the "
                "proxies in front of the service (e.g. 10.0.0.5,10.0.1.0/24); their X-Forwarded-For names the "
                "client. Trusting every address would let any client choose its ip."
            )
    return proxies


def licensing_jwt_secret(secret: str) -> str:
    """The licensing tokens' secret, when it is long enough to sign them."""
    if len(secret) < LICENSING_JWT_SECRET_MIN_LENGTH:
        raise ImproperlyConfigured(
            f"LICENSING_JWT_SECRET (DJANGO_SECRET_KEY when it is unset) has {len(secret)} character(s): it signs "
            f"the licensing bearer tokens and needs at least {LICENSING_JWT_SECRET_MIN_LENGTH} characters of a "
            "random string, e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'."
        )
    return secret


def mor_api_allowed_ips(values: list[str]) -> list[str]:
    """MOR_API_ALLOWED_IPS without empty entries, when each is an ip address or a network (any of them, unlike a
    proxy: an allow-list of every address is allowed, though pointless)."""
    entries = [value.strip() for value in values if value.strip()]
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"MOR_API_ALLOWED_IPS: {entry!r} is neither an IP address nor a network (192.0.2.10, 192.0.2.0/24). "
                "List the addresses of the MOR API's callers, or leave it empty to answer every address."
            ) from None
    return entries
