"""Cross-cutting: probes, request ids, the OpenAPI schema, JSON errors."""

import json
import uuid

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client

from devices.models import DeviceEvent
from tests.billing.test_api import ACTIVATED_KEYS
from tests.conftest import REGISTRY_BODY

pytestmark = pytest.mark.django_db

GENERIC = {"413", "415", "429", "503"}  # documented on every JSON operation by config.schema


def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_makes_one_database_round_trip(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})


def test_readyz_says_unavailable_when_the_database_fails(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "OperationalError"}


def test_every_response_carries_a_generated_request_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/api/base/configs")["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_a_trusted_proxys_request_id_is_kept_and_lands_in_the_events(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    sent = str(uuid.uuid4())
    response = client.post(
        "/api/v2/device", json.dumps(REGISTRY_BODY), content_type="application/json", HTTP_X_REQUEST_ID=sent
    )
    assert response["X-Request-ID"] == sent
    assert DeviceEvent.objects.get().request_id == sent


@pytest.mark.parametrize("trusted", [[], ["10.0.0.0/8"]], ids=["no proxies", "another proxy"])
def test_a_request_id_from_a_client_that_is_no_trusted_proxy_is_replaced_in_the_answer_and_the_events(
    client, settings, trusted
):
    settings.TRUSTED_PROXIES = trusted
    sent = str(uuid.uuid4())
    response = client.post(
        "/api/v2/device", json.dumps(REGISTRY_BODY), content_type="application/json", HTTP_X_REQUEST_ID=sent
    )
    generated = response["X-Request-ID"]
    assert generated != sent and len(generated) == 32
    assert DeviceEvent.objects.get().request_id == generated


@pytest.mark.parametrize(
    "sent",
    [
        "{0c2f1bd3-9ec5-4c67-a3a4-3b0a7b0a1e29}",
        "urn:uuid:0c2f1bd3-9ec5-4c67-a3a4-3b0a7b0a1e29",
        "0c2f1bd3-9ec5-4c67-a3a4-3b0a7b0a1e29\n",
        "0c2f1bd39ec54c67a3a43b0a7b0a1e29 ",
    ],
)
def test_a_trusted_proxys_request_id_is_kept_only_as_a_plain_uuid(client, settings, sent):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = client.get("/api/base/configs", HTTP_X_REQUEST_ID=sent)
    assert response["X-Request-ID"] != sent and len(response["X-Request-ID"]) == 32


def test_a_malformed_request_id_is_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>" * 50)
    assert len(response["X-Request-ID"]) == 32


def test_the_openapi_schema_builds_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        ["/api/v2/device:", "/api/base/configs:"]
        + [f"/api/v1/billing/devices/{name}:" for name in ["check", "reserve", "unreserve", "activate", "deactivate"]]
        + [
            "/api/v2/auth/login:",
            "/api/v2/device/license:",
            "/api/v2/device/license/activate:",
            "/api/v2/device/license/validate:",
        ]
    ):
        assert path in text


def test_the_docs_page_and_schema_are_served(client):
    assert client.get("/api/docs/").status_code == 200
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    operation = json.loads(schema.content)["paths"]["/api/v2/device"]["post"]
    assert set(operation["responses"]) == {"200", "400", *GENERIC}
    example = operation["responses"]["200"]["content"]["application/json"]["examples"]["Success"]["value"]
    assert example["data"] == {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 0}


def test_unknown_paths_get_json_not_html(client, settings):
    settings.DEBUG = False
    response = client.get("/no/such/path")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found."}


def test_billing_operations_document_their_errors_and_the_bearer_key(client):
    schema = json.loads(client.get("/api/schema/?format=json").content)
    activate = schema["paths"]["/api/v1/billing/devices/activate"]["post"]
    assert set(activate["responses"]) == {"201", "400", "401", "403", "422", *GENERIC}
    assert activate["security"] == [{"ApiKey": []}]
    assert schema["components"]["securitySchemes"]["ApiKey"] == {"type": "http", "scheme": "bearer"}
    example = activate["responses"]["201"]["content"]["application/json"]["examples"]["ActivatedDevice"]["value"]
    assert set(example) == ACTIVATED_KEYS


def test_licensing_operations_document_every_status_and_the_session_header(client):
    schema = json.loads(client.get("/api/schema/?format=json").content)
    activate = schema["paths"]["/api/v2/device/license/activate"]["post"]
    # No 415: the licensing API reads every body as JSON whatever its content type.
    assert set(activate["responses"]) == {"200", "204", "400", "403", "500", *GENERIC - {"415"}}
    assert "X-Session-Id" in activate["responses"]["200"]["headers"]
    reasons = {
        e["value"]["reason"] for e in activate["responses"]["403"]["content"]["application/json"]["examples"].values()
    }
    assert {"Missing Header: Authorization", "License not found", "No remaining activations"} <= reasons


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_api_paths_answer_in_their_protocols_format_even_in_debug(client, settings, debug):
    settings.DEBUG = debug
    assert client.post("/api/v2/device/license/nope").json()["reason"] == "Not found."
    assert client.post("/api/v1/billing/devices/nope").json() == {"message": "Not found."}
    envelope = client.post("/api/base/nope").json()
    assert (envelope["status"], envelope["message"], envelope["data"]) == (404, "Not found.", None)
    assert client.get("/api/docs").status_code == 301  # a person's typo is still redirected


def test_the_mor_calls_are_documented_with_xml_answers(client):
    schema = json.loads(client.get("/api/schema/?format=json").content)
    for call in ["device_create", "devices_get", "device_details_get", "device_update", "device_delete"]:
        operation = schema["paths"][f"/billing/api/{call}"]["post"]
        assert set(operation["requestBody"]["content"]) == {"application/x-www-form-urlencoded", "application/json"}
        answers = operation["responses"]["200"]["content"]["text/xml"]["examples"]
        assert all(
            example["value"].startswith('<?xml version="1.0" encoding="UTF-8"?><page>') for example in answers.values()
        )


# -- every path, every method: the protocol's own format, never CSRF's HTML page ---------------------------------------

METHODS = ["get", "post", "put", "patch", "delete", "options"]
UNROUTED = {
    "mor": ["/billing/api/device_creat", "/billing/api/device_create/", "/billing/api/user_register", "/billing/api/"],
    "billing": [
        "/api/v1/billing/devices/activte",
        "/api/v1/billing/devices/activate/",
        "/api/v1/billing/devices/delete",
        "/api/v1/billing/",
    ],
    "licensing": ["/api/v2/device/license/activate/", "/api/v2/device/license/deactivate", "/api/v2/auth/logout"],
    "registry": ["/api/v2/device/", "/api/v2/devices", "/api/base/config", "/api/v2/", "/api/base/configs/"],
    "manage": ["/api/manage/", "/api/manage/device", "/api/manage/devices/nope/events/", "/api/manage/hooks/"],
}


def assert_in_protocol_format(kind: str, response, status: int) -> None:
    if kind == "mor":
        assert (response.status_code, response["Content-Type"]) == (200, "text/xml; charset=utf-8")
        assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?><page><error>')
        return
    assert (response.status_code, response["Content-Type"]) == (status, "application/json")
    body = response.json()
    if kind == "billing":
        assert set(body) == {"message"}
    elif kind == "manage":
        assert set(body) == {"code", "message"}
    elif kind == "licensing":
        assert set(body) == {"reason", "statusCode", "statusText"}
        assert body["statusCode"] == status
    else:
        assert set(body) == {"status", "timestamp", "time", "ip", "message", "data"}
        assert (body["status"], body["data"]) == (status, None)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("kind", "path"), [(kind, path) for kind, paths in UNROUTED.items() for path in paths])
def test_an_unrouted_api_path_answers_any_method_in_its_protocols_format_without_csrf(kind, path, method):
    # A real client: no session, no CSRF cookie or token, and Django's CSRF checks on.
    client = Client(enforce_csrf_checks=True)
    body = {} if method == "get" else {"data": b'{"a": 1}', "content_type": "application/json"}
    response = getattr(client, method)(path, **body)
    assert_in_protocol_format(kind, response, 404)


ROUTED = {
    "mor": ["/billing/api/device_create"],
    "billing": ["/api/v1/billing/devices/reserve"],
    "licensing": ["/api/v2/device/license/activate", "/api/v2/auth/login"],
    "registry": ["/api/v2/device", "/api/base/configs"],
    "manage": ["/api/manage/devices/", "/api/manage/events"],
}


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
@pytest.mark.parametrize(("kind", "path"), [(kind, path) for kind, paths in ROUTED.items() for path in paths])
def test_a_routed_api_path_refuses_other_methods_in_its_protocols_format(kind, path, method):
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(path, data=b"{}", content_type="application/json")
    # The billing and management APIs ask for their key before anything else.
    assert_in_protocol_format(kind, response, 401 if kind in ("billing", "manage") else 405)
    # What the call takes, which OPTIONS is not (RFC 9110: a 405 lists the methods the resource takes).
    allowed = response["Allow"].split(", ")
    assert response["Allow"] and "OPTIONS" not in allowed and method.upper() not in allowed


def test_the_admin_still_enforces_csrf_with_its_own_page(django_user_model):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "a", "password": "b"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("query", ["format=xml", "format=json", "format=api", "format=", "format=%00"])
@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api/v1/billing/devices/reserve", "billing"),
        ("/api/v2/device/license/activate", "licensing"),
        ("/api/v2/device", "registry"),
        ("/billing/api/device_create", "mor"),
    ],
)
def test_a_format_query_parameter_is_ignored_by_every_protocol(client, path, kind, query):
    # Each protocol answers its own way (here: a refusal, as the body is empty), never a 500.
    response = client.post(f"{path}?{query}", b"{}", content_type="application/json")
    if kind == "registry":  # the envelope of a field error, with its errors
        assert response.status_code == 400
        assert response.json()["message"].startswith("The mac_address field is required.")
        assert set(response.json()["errors"]) == set(REGISTRY_BODY)
        return
    assert_in_protocol_format(kind, response, {"billing": 401, "licensing": 403}.get(kind, 200))


def test_the_schema_still_answers_json_with_format_json(client):
    response = client.get("/api/schema/?format=json")
    assert response["Content-Type"] == "application/vnd.oai.openapi+json"
    assert json.loads(response.content)["openapi"].startswith("3.")


# -- a Host outside ALLOWED_HOSTS ---------------------------------------------------------------------------------

BAD_HOST = "evil.example"


@pytest.mark.parametrize(
    ("method", "path", "status", "shape"),
    [
        ("post", "/api/v2/device", 400, {"status", "timestamp", "time", "ip", "message", "data"}),
        ("get", "/api/base/configs", 400, {"status", "timestamp", "time", "ip", "message", "data"}),
        ("post", "/api/v1/billing/devices/check", 400, {"message"}),
        ("post", "/api/v2/device/license/activate", 400, {"reason", "statusCode", "statusText"}),
        ("post", "/api/v2/auth/login", 400, {"reason", "statusCode", "statusText"}),
        ("get", "/api/docs/", 400, {"message"}),
        ("get", "/admin/login/", 400, {"message"}),
        ("get", "/nowhere", 400, {"message"}),
    ],
)
def test_a_host_outside_allowed_hosts_is_answered_in_the_paths_protocol_format(client, method, path, status, shape):
    response = getattr(client, method)(path, HTTP_HOST=BAD_HOST)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == shape
    assert "Invalid Host header." in body.values()
    assert BAD_HOST not in response.content.decode()
    assert len(response["X-Request-ID"]) == 32


def test_a_host_outside_allowed_hosts_is_an_xml_error_on_the_mor_api(client):
    response = client.post("/billing/api/device_create", {"u": "admin"}, HTTP_HOST=BAD_HOST)
    assert (response.status_code, response["Content-Type"]) == (200, "text/xml; charset=utf-8")
    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><page><error>Invalid Host header.</error></page>'
    )


@pytest.mark.parametrize("host", ["10.0.0.5", "10.0.0.5:8000", "[fd00::5]:8000", BAD_HOST])
def test_the_probes_answer_whatever_host_a_load_balancer_sends(client, host, django_assert_num_queries):
    with django_assert_num_queries(0):
        health = client.get("/healthz", HTTP_HOST=host)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    with django_assert_num_queries(1):
        ready = client.get("/readyz", HTTP_HOST=host)
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok"})
    assert health["Cache-Control"] == ready["Cache-Control"] and "no-cache" in health["Cache-Control"]


def test_the_probes_still_take_only_get(client):
    response = client.post("/healthz", HTTP_HOST="10.0.0.5")
    assert response.status_code == 405


def test_gunicorn_marks_requests_from_its_unix_socket_with_the_key_the_app_reads():
    import runpy
    from pathlib import Path

    from config.middleware import FROM_NGINX

    conf = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
    assert conf["FROM_NGINX"] == FROM_NGINX


def test_nginx_answers_the_management_apis_statuses_with_its_codes():
    import re
    from pathlib import Path

    from manage_api.errors import STATUS_CODES

    maps = (Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "maps.conf").read_text()
    table = maps[maps.index("map $api_error_status $api_error_code {") :]
    table = table[: table.index("}")]
    nginx = {int(status): code for status, code in re.findall(r"^\s+(\d{3})\s+(\w+);", table, re.MULTILINE)}
    assert nginx and all(STATUS_CODES[status] == code for status, code in nginx.items())


@pytest.mark.parametrize("path", ["/api/manage", "/api/manage/", "/api/manage/nowhere"])
def test_the_management_apis_unrouted_paths_answer_with_its_codes(client, path):
    response = client.post(path)
    assert response.status_code in (404, 405)
    assert set(response.json()) == {"code", "message"}
