"""The service plus two bare views, for `http_load.py --bound`: how close to /readyz a write path can get at all.

Both views go through the same Django stack as every other request (middleware,
the connection's health check) but skip everything a protocol adds: no DRF,
no validation, no model instances, a hand-built answer.

- `POST /probe/echo` reads a JSON body and makes one query that writes nothing:
  the cost of a POST with a JSON answer.
- `POST /probe/activate` runs billing activate's own statement (devices.sql
  compiles it from the ACTIVATE transition: the account found by login, the
  device activated, its event written, its storages and cameras counted),
  committed, and answers the device's id: the cost of the activation's
  database work alone.

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

from billing.selectors import COUNTS
from devices import services, sql
from devices.choices import EventSource
from devices.macs import normalize_mac
from devices.models import Account, Device

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
    now = timezone.now()
    transition = services.ACTIVATE
    params = {
        "accounts": Account.objects.usable().with_login(body["login"]).order_by(),
        "name": body["name"],
        "skip_reserve_check": False,
        "now": now,
        "actor": ACTOR,
    }
    changed = sql.transition(
        Device.objects.filter(type=body["type"], mac=normalize_mac(body["mac"])),
        rule=transition.applies_to(**params),
        values={**transition.writes(**params), "updated_at": now},
        event=services.build_event(action=transition.action, actor=ACTOR, now=now),
        details=transition.details(**params),
        owner=transition.owner,
        also=COUNTS,
    )
    if not changed:
        return JsonResponse({"message": "nothing activated"}, status=400)
    return JsonResponse({"id": changed[0].device.pk}, status=201)


urlpatterns = [
    path("probe/echo", echo),
    path("probe/activate", activate),
    path("", include("config.urls")),
]
settings.ROOT_URLCONF = __name__  # the probes, then the service's own paths
