"""`make run`'s embedded SQLite: every protocol's main path answers there too.

On SQLite devices.sql runs each statement's steps one after another; the
services and rules are the same. The suite's own database is PostgreSQL, so
this runs the development settings in a process of their own.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import hashlib, json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from devices.choices import AccountRole, EventSource
from devices.services import Actor, account_create, api_key_create, device_register
from licensing.services import licenses_generate

actor = Actor(source=EventSource.ADMIN, name="test")
_key, api_key = api_key_create(name="sqlite")
user = account_create(login="user@mail.com")
account_create(login="admin", role=AccountRole.ADMIN)
for i in (1, 2):
    device_register(type="mediaagent", mac=f"00AABBCC000{i}", serial_number=f"MA-{i}", actor=actor)
license_key = licenses_generate(count=1)[0].key
client = Client(HTTP_HOST="127.0.0.1")
bearer = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}

def billing(call, body):
    response = client.post(f"/api/v1/billing/devices/{call}", body, content_type="application/json", **bearer)
    return response.status_code, response.json()

def mor(pin):
    digest = hashlib.sha1(f"{user.pk}{pin}secret".encode()).hexdigest()
    body = {"u": "admin", "user_id": str(user.pk), "pin": pin, "hash": digest}
    return client.post("/billing/api/device_create", body).content.decode()

results = {}
status, body = billing("reserve", {"type": "mediaagent", "mac": "00:AA:BB:CC:00:01"})
results["reserve"] = [status, body["status"]]
status, body = billing(
    "activate", {"login": "USER@mail.com", "name": "Cam", "type": "mediaagent", "mac": "00AABBCC0002"}
)
results["activate"] = [status, body["user"]["login"], body["storages"], body["cameras_count"]]
status, body = billing(
    "activate",
    {"login": "user@mail.com", "name": "Cam", "type": "mediaagent", "mac": "00AABBCC0001", "skip_reserve_check": True},
)
results["activate reserved"] = [status, body["name"]]
status, body = billing(
    "activate", {"login": "nobody@mail.com", "name": "Cam", "type": "mediaagent", "mac": "00AABBCC0001"}
)
results["activate unknown login"] = [status, body["message"]]
response = client.post(
    "/api/v2/device/license/activate", {"licenseKey": license_key.lower()}, content_type="application/json"
)
session = response.json()["data"]["sessionId"]["id"]
results["license activate"] = [response.status_code, response.json()["data"]["licenseKey"] == license_key]
response = client.post("/api/v2/device/license/validate", HTTP_X_SESSION_ID=session)
results["license validate"] = [response.status_code, response.json()["data"]["isValid"]]
response = client.post(
    "/api/v2/device/license/activate", {"licenseKey": "AAAAA-BBBBB-CCCCC-DDDDD"}, content_type="application/json"
)
results["license unknown"] = [response.status_code, response.json()["reason"]]
results["mor create"] = ["<status>Device created</status>" in mor("4455")]
results["mor create again"] = ["<error>Pin is already used</error>" in mor("4455")]
response = client.post(
    "/api/v2/device",
    {"mac_address": "A1:B2:C3:D4:E5:F7", "device_os": "iOS", "device_version": "14.5", "device_type": "Mobile",
     "app_version": "2.0", "app_name": "MyApp"},
    content_type="application/json",
)
results["registry"] = [response.status_code, response.json()["data"]["status"]]
response = client.post(
    "/api/v2/device_activity",
    {"mac_address": "A1B2C3D4E5F7", "current_screen": "content_info", "content_id": 7, "content_type": 1},
    content_type="application/json",
)
results["registry activity"] = [response.status_code, response.json()["message"]]
response = client.post(
    "/api/v2/device_activity", {"mac_address": "A1B2C3D4E5F7", "current_screen": "home"},
    content_type="application/json",
)
results["registry activity again"] = [response.status_code, response.json()["message"]]
response = client.post(
    "/api/v1/billing/devices/deactivate", {"type": "mediaagent", "mac": "00AABBCC0002"},
    content_type="application/json", **bearer,
)
results["deactivate by mac"] = [response.status_code]

# The bulk commands, in batches of two rows (a MAC named again in a later batch is a duplicate).
import io, os, tempfile
from devices.models import DeviceEvent

def command(*args):
    out = io.StringIO()
    try:
        call_command(*args, "--batch-size", "2", stdout=out, stderr=io.StringIO())
    except SystemExit as exit:
        return [exit.code, out.getvalue().strip()]
    except Exception as error:
        return [getattr(error, "returncode", "?"), out.getvalue().strip()]
    return [0, out.getvalue().strip()]

from devices.models import DeviceType
DeviceType.objects.create(name="sqlitebulk")  # an import takes declared types only
results["declared types"] = sorted(DeviceType.objects.values_list("name", flat=True))
folder = tempfile.mkdtemp()
rows = os.path.join(folder, "devices.csv")
with open(rows, "w") as stream:
    stream.write(
        "type,mac,serial_number,name,version\n"
        "sqlitebulk,02:00:00:00:00:01,SB-1,One,1\nsqlitebulk,02:00:00:00:00:02,,Two,1\n"
        "sqlitebulk,,SB-3,Three,1\nsqlitebulk,020000000001,,Again,2\n"
    )
updates = os.path.join(folder, "updates.csv")
with open(updates, "w") as stream:
    stream.write("type,mac,serial_number,name,version\nsqlitebulk,02:00:00:00:00:02,SB-2,,3\n")
named = os.path.join(folder, "named.csv")
with open(named, "w") as stream:
    stream.write("type,mac,serial_number\nsqlitebulk,02:00:00:00:00:01,\nsqlitebulk,,SB-3\nsqlitebulk,,SB-9\n")
from webhooks.models import Webhook, WebhookDelivery
from webhooks.services import webhook_create
webhook_create(url="https://crm.example.com/h", events=["device.registered", "device.banned"])
results["bulk import"] = [command("import_devices", rows), command("import_devices", rows, "--dry-run")]
results["bulk import update"] = [command("import_devices", updates), command("import_devices", updates)]
results["bulk reserve"] = [command("reserve_devices", named), command("reserve_devices", named)]
results["bulk ban"] = [command("ban_devices", named, "--reason", "test") for _ in range(2)]
results["bulk events"] = sorted(
    DeviceEvent.objects.filter(device__type="sqlitebulk").values_list("action", flat=True)
)
# The webhook fan-out trigger, SQLite's own, wrote a delivery of each event of the types subscribed to.
results["webhook deliveries"] = sorted(
    WebhookDelivery.objects.filter(status="pending").values_list("event__action", flat=True)
)
print(json.dumps(results))
"""


def test_every_protocols_main_path_answers_on_the_embedded_sqlite(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MOR_API_SECRET_KEY": "secret",
        "DJANGO_LOG_LEVEL": "ERROR",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "reserve": [200, "reserve"],
        "activate": [201, "user@mail.com", [], 0],
        "activate reserved": [201, "Cam"],
        "activate unknown login": [422, "The selected login is invalid."],
        "license activate": [200, True],
        "license validate": [200, True],
        "license unknown": [403, "License not found"],
        "mor create": [True],
        "mor create again": [True],
        "registry": [200, 1],
        "registry activity": [200, "Success"],
        "registry activity again": [200, "Success"],
        "deactivate by mac": [204],
        # The migration declares the protocols' types on SQLite too.
        "declared types": sorted(
            [
                "FAX",
                "H323",
                "IAX2",
                "Mobile",
                "PJSIP",
                "SIP",
                "Skype",
                "Virtual",
                "ZAP",
                "flecs",
                "mediaagent",
                "sqlitebulk",
            ]
        ),
        "bulk import": [
            [1, "4 rows: 3 created, 1 failed."],
            [1, "Dry run, nothing written: 4 rows: 1 failed, 3 unchanged. Nothing to change."],
        ],
        "bulk import update": [[0, "1 row: 1 updated."], [0, "1 row: 1 unchanged. Nothing to change."]],
        "bulk reserve": [
            [1, "3 rows: 1 failed, 2 reserved."],
            [1, "3 rows: 1 failed, 2 unchanged. Nothing to change."],
        ],
        "bulk ban": [[1, "3 rows: 2 banned, 1 failed."], [1, "3 rows: 1 failed, 2 unchanged. Nothing to change."]],
        "bulk events": [
            "banned",
            "banned",
            "registered",
            "registered",
            "registered",
            "reserved",
            "reserved",
            "updated",
        ],
        "webhook deliveries": ["banned", "banned", "registered", "registered", "registered"],
    }
