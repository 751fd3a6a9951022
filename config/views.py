"""Probes, and the 404/500 answers of paths no view handled, each in its protocol's format."""

import time

from django.http import JsonResponse
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from devices import sql
from devices.client_ip import client_ip
from licensing.errors import error_body
from mor_api.xml import xml_error


@never_cache
@require_GET
def healthz(request):
    """The process is up. Touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """The database answers: one round trip."""
    try:
        sql.ping()
    except Exception as exc:  # any database failure means "not ready", never a 500 page
        return JsonResponse({"status": "unavailable", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


# The prefixes each protocol answers under. Anything else under /api/v2/ is the registry's (its apiBase).
MOR_PREFIX = "/billing/api/"
LICENSING_PREFIXES = ("/api/v2/device/license", "/api/v2/auth")
REGISTRY_PREFIXES = ("/api/v2/", "/api/base/")
MANAGE_PREFIX = "/api/manage/"
# The management API's stable codes for the statuses answered outside its views (manage_api.errors has its
# views'); nginx's refusals use the same (deploy/nginx/maps.conf).
MANAGE_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "too_large",
    431: "too_large",
    500: "server_error",
    501: "not_implemented",
    502: "unavailable",
    503: "unavailable",
    504: "unavailable",
    505: "not_implemented",
}
API_PREFIXES = ("/api/", MOR_PREFIX)


def protocol_error(request, status: int, message: str):
    """An error for `request.path` in the format of the protocol that owns the path."""
    path = request.path
    if path.startswith(MOR_PREFIX):
        return xml_error(message)  # the MOR API answers everything with HTTP 200
    if path.startswith(LICENSING_PREFIXES):
        return JsonResponse(error_body(status, message), status=status)
    if path.startswith(MANAGE_PREFIX):
        return JsonResponse({"code": MANAGE_CODES.get(status, "error"), "message": message}, status=status)
    if path.startswith(REGISTRY_PREFIXES):
        body = {
            "status": status,
            "timestamp": int(time.time()),
            "time": 0.0,
            "ip": client_ip(request),
            "message": message,
            "data": None,
        }
        return JsonResponse(body, status=status)
    return JsonResponse({"message": message}, status=status)


# The API's callers are servers and devices, not browsers with a session: no API path is subject to CSRF,
# whether a view routes it or not.
@csrf_exempt
def mor_unknown_call(request):
    """The MOR API answers every path under it with HTTP 200 and XML."""
    return xml_error("Unknown API call")


@csrf_exempt
def not_found(request, exception=None):
    return protocol_error(request, 404, "Not found.")


def csrf_failure(request, reason=""):
    """Only the admin's forms use CSRF; should an API path ever fail it, it still answers in its protocol's format."""
    if request.path.startswith(API_PREFIXES):
        return protocol_error(request, 403, "Forbidden.")
    return django_csrf_failure(request, reason)


def server_error(request):
    return protocol_error(request, 500, "Server error.")
