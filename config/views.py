"""Probes, and the 404/500 answers of paths no view handled, each in its protocol's format."""

import time

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not ready", never a 500 page
        return JsonResponse({"status": "unavailable", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


def protocol_error(request, status: int, message: str):
    """An error for `request.path` in the format of the protocol that owns the path."""
    path = request.path
    if path.startswith("/billing/api/"):
        return xml_error(message)  # the MOR API answers everything with HTTP 200
    if path.startswith(("/api/v2/device/license", "/api/v2/auth")):
        return JsonResponse(error_body(status, message), status=status)
    if path.startswith(("/api/v2/device", "/api/base")):
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


def mor_unknown_call(request):
    """The MOR API answers every path under it with HTTP 200 and XML."""
    return xml_error("Unknown API call")


def not_found(request, exception=None):
    return protocol_error(request, 404, "Not found.")


def server_error(request):
    return protocol_error(request, 500, "Server error.")
