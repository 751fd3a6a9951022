"""The service plus two bare views, for `http_load.py --bound`: how close to /readyz a write path can get at all.

Both views go through the same Django stack as every other request (middleware,
the connection's health check) but skip everything a protocol adds: no DRF,
no validation, no model instances, a hand-built answer.

- `POST /probe/echo` reads a JSON body and makes one query that writes nothing:
  the cost of a POST with a JSON answer.
- `POST /probe/activate` runs billing activate's own service (one statement:
  the account found by login, the device activated, its event written, its
  storages and cameras counted), committed, and answers the device's id: the
  cost of the activation's database work alone, without DRF, the API key or
  validation.

Served with `gunicorn --pythonpath bench probe:application`; not part of the service.
"""

import json

from config.wsgi import application  # noqa: F401 - what gunicorn serves; it sets Django up, so it comes first

# isort: split
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from billing.selectors import COUNTS
from devices import services
from devices.choices import EventSource
from devices.errors import DomainError
from devices.macs import normalize_mac
from devices.selectors import DeviceRef

ACTOR = services.Actor(source=EventSource.BILLING, name="probe")


@csrf_exempt
def echo(request):
    body = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text", [body["login"]])
        (login,) = cursor.fetchone()
    return JsonResponse({"login": login}, status=201)


@csrf_exempt
def activate(request):
    body = json.loads(request.body)
    try:
        device = services.device_activate(
            device=DeviceRef(type=body["type"], mac=normalize_mac(body["mac"])),
            account=body["login"],
            name=body["name"],
            actor=ACTOR,
            also=COUNTS,
        )
    except DomainError:
        return JsonResponse({"message": "nothing activated"}, status=400)
    return JsonResponse({"id": device.pk}, status=201)


urlpatterns = [
    path("probe/echo", echo),
    path("probe/activate", activate),
    path("", include("config.urls")),
]
settings.ROOT_URLCONF = __name__  # the probes, then the service's own paths
