"""The service plus two bare views, for `http_load.py --bound`: how close to /readyz a write path can get at all.

Both views go through the same Django stack as every other request (middleware,
the connection's health check) but skip everything a protocol adds: no DRF,
no validation, no model instances, a hand-built answer.

- `POST /probe/echo` reads a JSON body and makes one query that writes nothing:
  the cost of a POST with a JSON answer.
- `POST /probe/activate` runs billing activate's own statement
  (devices.conditional builds it: the account found by login, the device
  activated, its event written, its storages and cameras read), committed, and
  answers the device's id: the cost of the activation's database work alone.

Served with `gunicorn --pythonpath bench probe:application`; not part of the service.
"""

import json

from config.wsgi import application  # noqa: F401 - what gunicorn serves; it sets Django up, so it comes first

# isort: split
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from billing.selectors import STORAGES_AND_CAMERA_COUNT_OF_CHANGED
from devices.conditional import _transition_sql
from devices.macs import normalize_mac

ACTIVATION_SQL = _transition_sql(
    ("type", "mac"),
    ("status", "activated_at", "name", "updated_at"),
    with_owner=True,
    also=STORAGES_AND_CAMERA_COUNT_OF_CHANGED,
)


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
    now = timezone.now()
    # The parameters in the order devices.conditional._transition passes them.
    params = [
        body["login"].strip().lower(),
        "active",
        now,
        body["name"],
        now,
        body["type"],
        normalize_mac(body["mac"]),
        "available",
        "activated",
        "available",
        "active",
        "billing",
        "probe",
        "",
        "{}",
        now,
    ]
    with connection.cursor() as cursor:
        cursor.execute(ACTIVATION_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return JsonResponse({"message": "nothing activated"}, status=400)
    return JsonResponse({"id": row[0]}, status=201)


urlpatterns = [
    path("probe/echo", echo),
    path("probe/activate", activate),
    path("", include("config.urls")),
]
settings.ROOT_URLCONF = __name__  # the probes, then the service's own paths
