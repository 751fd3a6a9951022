"""The client's ip, believing X-Forwarded-For only from configured proxies."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest


@lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or when that is a trusted proxy, the right-most untrusted X-Forwarded-For hop.

    Worked out once per request (the throttle, the view and the answer all ask).
    """
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    if not hasattr(request, "_client_ip"):
        request._client_ip = _client_ip(request)
    return request._client_ip


def is_trusted_proxy(address: str) -> bool:
    """Whether this peer address is one of TRUSTED_PROXIES."""
    parsed = _parse(address)
    return parsed is not None and any(parsed in net for net in _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


def _client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    remote_ip = _parse(remote)
    if not trusted or remote_ip is None or not any(remote_ip in net for net in trusted):
        return remote
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        hop_ip = _parse(hop)
        if hop_ip is None:
            # A hop we can't read: everything left of it is the client's own claim.
            break
        if not any(hop_ip in net for net in trusted):
            return str(hop_ip)
    return remote
