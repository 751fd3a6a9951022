"""Request rates and failure limits, counted atomically in the default cache.

Each public protocol (registry, licensing, MOR) has its own budget per client
ip, the billing API one per API key; failures that cost the service or help a
guesser (wrong licensing passwords, unknown license keys) have limits of their
own (`failures_limited`).

A limit is a fixed window: one counter per key and window, created with its
expiry by `add` and counted by `incr` (Redis INCR, a lock in local memory), so
concurrent requests never get past a limit. The default cache is Redis when
REDIS_URL is set (shared by every app server), local memory otherwise (each
process its own). Rates come from THROTTLE_RATES, read at each request (a
scope that is missing or None has no limit).
"""

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from devices.client_ip import client_ip

PERIODS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60}
# A window's counter outlives its window by this much, so it can't expire between a request's look at the
# clock and its INCR (Redis would then start a counter with no expiry).
EXPIRY_MARGIN = 60


def parse_rate(rate: str) -> tuple[int, int]:
    """`600/min` -> (600, 60): DRF's notation, a number and a period of which the first letter counts."""
    number, period = rate.split("/")
    return int(number), PERIODS[period[0]]


def timer() -> float:
    return time.time()


@dataclass(frozen=True)
class Count:
    key: str
    hits: int  # this window's, this request included
    limit: int
    wait: float  # seconds until the window ends

    @property
    def exceeded(self) -> bool:
        return self.hits > self.limit


def count(scope: str, ident: str) -> Count | None:
    """Count one request of `ident` in `scope`'s current window; None when the scope has no limit."""
    rate = settings.THROTTLE_RATES.get(scope)
    if not rate:
        return None
    limit, duration = parse_rate(rate)
    now = timer()
    window = int(now // duration)
    ends = (window + 1) * duration
    key = f"throttle:{scope}:{ident}:{window}"
    try:
        hits = cache.incr(key)
    except ValueError:  # the window's first request, or several at once: one creates the counter, the rest count
        hits = 1 if cache.add(key, 1, timeout=int(ends - now) + EXPIRY_MARGIN) else cache.incr(key)
    return Count(key=key, hits=hits, limit=limit, wait=ends - now)


def uncount(counted: Count) -> None:
    """Take back a request that `count` counted."""
    with suppress(ValueError):  # expired meanwhile: nothing to take back
        cache.decr(counted.key)


class _WindowThrottle(BaseThrottle):
    """A DRF throttle over `count`: the view gets DRF's Throttled, which each protocol answers in its format."""

    counted: Count | None = None

    def scope(self, view) -> str:
        raise NotImplementedError

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        ident = self.ident(request)
        if ident is None:
            return True
        self.counted = count(self.scope(view), ident)
        return self.counted is None or not self.counted.exceeded

    def wait(self) -> float | None:
        return self.counted.wait if self.counted else None


class ClientIpThrottle(_WindowThrottle):
    """For the registry, licensing and MOR APIs, which anyone can call: per client ip, a budget per protocol.

    The protocol is the view's `throttle_scope` (`registry`, `licensing`, `mor`), as in DRF's ScopedRateThrottle.
    """

    def scope(self, view) -> str:
        return view.throttle_scope

    def ident(self, request) -> str:
        return client_ip(request)


class ApiKeyThrottle(_WindowThrottle):
    """For the APIs of API keys: each server-to-server client by its key, a budget per API (its key scope)."""

    def scope(self, view) -> str:
        return view.api_key_scope

    def ident(self, request) -> str | None:
        return None if request.auth is None else str(request.auth.pk)


def login_ident(login: str) -> str:
    """A login as its failure counters name it: any letter case, hashed (the key holds no customer's login)."""
    return hashlib.sha256(login.strip().lower().encode()).hexdigest()


@contextmanager
def failures_limited(*limits: tuple[str, str], failure: type[Exception]) -> Iterator[None]:
    """Run an attempt that may fail under failure limits: `(scope, ident)` pairs, each with its THROTTLE_RATES.

    The attempt is counted against every limit before it runs, so concurrent
    attempts can't get past one, and taken back afterwards unless it raised
    `failure`: only failures use the budget. When a limit is used up, the
    attempt does not run and Throttled (with the time to wait) is raised.
    """
    counted = [c for c in (count(scope, ident) for scope, ident in limits) if c is not None]
    exceeded = [c for c in counted if c.exceeded]
    if exceeded:
        for c in counted:
            uncount(c)
        raise Throttled(wait=max(c.wait for c in exceeded))
    try:
        yield
    except failure:
        raise
    except BaseException:
        for c in counted:
            uncount(c)
        raise
    for c in counted:
        uncount(c)
