"""A hostile-input corpus per protocol: each gets its protocol's own error, never a 500 or HTML, and writes nothing."""

import json
from xml.etree import ElementTree

import pytest

from devices.models import ClientActivity, ClientAppInfo, Device, DeviceEvent
from devices.services import api_key_create
from licensing.models import DeviceLicense, LicenseSession
from licensing.tokens import token_issue
from mor_api.models import MorDevice
from tests.conftest import REGISTRY_BODY
from tests.factories import AccountFactory, DeviceFactory

pytestmark = pytest.mark.django_db

FIVE_MB = 5 * 1024 * 1024
SQL = "'; DROP TABLE devices_device; --"
MARKUP = "<script>alert(1)</script>]]>&amp;"

# (name, body bytes, content type): the same hostile bodies for every JSON protocol.
BODIES = [
    ("malformed JSON", b'{"mac_address": ', "application/json"),
    ("JSON array", b"[1, 2, 3]", "application/json"),
    ("JSON string", b'"text"', "application/json"),
    ("invalid UTF-8", b'{"a": "\xff\xfe\xfa"}', "application/json"),
    ("NUL bytes", json.dumps({"a": "\x00\x00"}).encode(), "application/json"),
    ("5 MB body", b'{"a": "' + b"x" * FIVE_MB + b'"}', "application/json"),
    ("wrong content type", b"<xml/>", "application/xml"),
    ("text/plain", b"hello", "text/plain"),
    ("bogus charset", b"{}", "application/json; charset=nope"),
    ("deep nesting", b"[" * 5000 + b"]" * 5000, "application/json"),
]


def written() -> tuple[int, ...]:
    models = (Device, DeviceEvent, ClientAppInfo, LicenseSession, DeviceLicense, MorDevice)
    return tuple(model.objects.count() for model in models)


def post(client, path, body: bytes, content_type: str, **headers):
    return client.generic("POST", path, body, content_type=content_type, **headers)


def assert_json_error(response, shape: set[str]) -> dict:
    assert response.status_code < 500, response.content[:300]
    assert response.status_code >= 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert shape <= set(body), body
    return body


@pytest.fixture
def api_key(db) -> str:
    return api_key_create(name="hostile")[1]


# -- the client device registry -------------------------------------------------------------------


REGISTRY_CALLS = ["/api/v2/device", "/api/v2/device_check", "/api/v2/device_activity"]


@pytest.mark.parametrize("path", REGISTRY_CALLS)
@pytest.mark.parametrize(("name", "body", "content_type"), BODIES, ids=[b[0] for b in BODIES])
def test_registry_answers_hostile_bodies_with_its_envelope(client, name, body, content_type, path):
    DeviceFactory(mac=REGISTRY_BODY["mac_address"])
    before = written()
    response = post(client, path, body, content_type)
    envelope = assert_json_error(response, {"status", "timestamp", "time", "ip", "message", "data"})
    assert envelope["status"] == response.status_code
    assert envelope["data"] is None
    assert written() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"mac_address": SQL},
        {"mac_address": MARKUP},
        {"mac_address": ["A1B2C3D4E5F6"]},
        {"mac_address": {"$gt": ""}},
        {"device_os": "x" * 10_000},
        {"app_name": "a\x00b"},
    ],
)
def test_registry_answers_hostile_fields_with_a_400_envelope(client, fields):
    body = {**REGISTRY_BODY, **fields}
    before = written()
    response = post(client, "/api/v2/device", json.dumps(body).encode(), "application/json")
    assert assert_json_error(response, {"status", "message", "errors"})["status"] == 400
    assert written() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"current_screen": SQL},
        {"current_screen": MARKUP},
        {"current_screen": ["home"]},
        {"current_screen": "x" * 10_000},
        {"current_screen": "home", "content_id": SQL},
        {"current_screen": "home", "content_id": {"$gt": 0}},
        {"current_screen": "home", "content_type": "1\x00"},
        {"current_screen": "home", "content_id": "9" * 400},
        {"current_screen": "content_info", "content_id": None},
    ],
)
def test_device_activity_answers_hostile_fields_with_a_400_envelope(client, fields):
    DeviceFactory(mac=REGISTRY_BODY["mac_address"])
    body = {"mac_address": REGISTRY_BODY["mac_address"], **fields}
    response = post(client, "/api/v2/device_activity", json.dumps(body).encode(), "application/json")
    assert assert_json_error(response, {"status", "message", "errors"})["status"] == 400
    assert not ClientActivity.objects.exists()


def test_registry_ignores_a_forged_client_ip(client):
    response = post(
        client,
        "/api/v2/device",
        json.dumps(REGISTRY_BODY).encode(),
        "application/json",
        HTTP_X_FORWARDED_FOR="<script>, 1.2.3.4, not-an-ip",
    )
    assert response.json()["ip"] == "127.0.0.1"


# -- the billing API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["activate", "unreserve", "deactivate"])
@pytest.mark.parametrize(("name", "body", "content_type"), BODIES, ids=[b[0] for b in BODIES])
def test_billing_answers_hostile_bodies_in_its_format(client, api_key, name, body, content_type, call):
    DeviceFactory()
    before = written()
    response = post(
        client, f"/api/v1/billing/devices/{call}", body, content_type, HTTP_AUTHORIZATION=f"Bearer {api_key}"
    )
    assert "message" in assert_json_error(response, {"message"})
    assert written() == before


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer " + "x" * 10_000, "Bearer a.b.c", "bearer\x00x", "Basic " + "=" * 40, "Bearer é.é", "Bearer  "],
)
def test_billing_answers_malformed_authorization_with_401(client, authorization):
    response = post(
        client,
        "/api/v1/billing/devices/check",
        b'{"type": "x", "mac": "A1B2C3D4E5F6"}',
        "application/json",
        HTTP_AUTHORIZATION=authorization,
    )
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}


@pytest.mark.parametrize(
    "fields",
    [
        {"login": SQL},
        {"login": MARKUP},
        {"login": None},
        {"login": {"x": 1}},
        {"name": "n" * 300},
        {"type": "\x00"},
        {"mac": SQL},
        {"skip_reserve_check": "DROP"},
        {"serial_number": ["a"]},
    ],
)
def test_billing_answers_hostile_fields_with_422(client, api_key, fields):
    AccountFactory(login="user@mail.com")
    DeviceFactory(mac="A1B2C3D4E5F6")
    body = {"login": "user@mail.com", "name": "n", "type": "mediaagent", "mac": "A1B2C3D4E5F6", **fields}
    before = written()
    response = post(
        client,
        "/api/v1/billing/devices/activate",
        json.dumps(body).encode(),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 422
    assert set(response.json()) == {"message", "errors"}
    assert written() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"uuid": SQL},
        {"uuid": ["7a593d26-8cfd-47e9-8647-1fb18a36fedb"]},
        {"uuid": "7a593d26-8cfd-47e9-8647-1fb18a36fedb\x00"},
        {"type": MARKUP, "mac": None, "serial_number": None},
        {"type": {"$ne": ""}, "mac": "A1B2C3D4E5F6"},
        {"type": "mediaagent", "mac": SQL},
        {"type": "mediaagent", "serial_number": "x" * 10_000},
        {"type": "mediaagent", "mac": "A1B2C3D4E5F6", "serial_number": ["sn"]},
    ],
)
@pytest.mark.parametrize("call", ["unreserve", "deactivate"])
def test_unreserve_and_deactivate_answer_hostile_names_with_422(client, api_key, fields, call):
    DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", active=True)
    before = written()
    body = {"type": "mediaagent", "mac": "A1B2C3D4E5F6", **fields} if "uuid" not in fields else fields
    response = post(
        client,
        f"/api/v1/billing/devices/{call}",
        json.dumps(body).encode(),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 422, response.content
    assert set(response.json()) == {"message", "errors"}
    assert written() == before


# -- licensing ---------------------------------------------------------------------------------------

LICENSING_PATHS = [
    "/api/v2/device/license/activate",
    "/api/v2/device/license/validate",
    "/api/v2/auth/login",
    "/api/v2/device/license",
]


@pytest.mark.parametrize("path", LICENSING_PATHS)
@pytest.mark.parametrize(("name", "body", "content_type"), BODIES, ids=[b[0] for b in BODIES])
def test_licensing_answers_hostile_bodies_with_its_reason(client, path, name, body, content_type):
    before = written()
    headers = {"HTTP_X_SESSION_ID": "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80"} if path.endswith("validate") else {}
    response = post(client, path, body, content_type, **headers)
    if path.endswith("validate") and response.status_code == 200:
        assert response.json()["data"] == {"isValid": False}  # validate reads no body
    else:
        error = assert_json_error(response, {"reason", "statusCode", "statusText"})
        assert error["statusCode"] == response.status_code
    assert written() == before


@pytest.mark.parametrize(
    "header",
    [
        "x" * 5000,
        "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a8",
        "' OR 1=1 --",
        "<session/>",
        "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80 ",
    ],
)
@pytest.mark.parametrize("path", ["/api/v2/device/license/activate", "/api/v2/device/license/validate"])
def test_licensing_answers_malformed_session_headers_with_400(client, path, header):
    response = post(client, path, b"{}", "application/json", HTTP_X_SESSION_ID=header)
    assert response.status_code == 400
    assert response.json()["reason"] == "Invalid Header: X-Session-Id"


FORM = "application/x-www-form-urlencoded"  # libcurl's default type, as the FLECS C++ runtime sends its JSON
SESSION = "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80"
NOT_JSON = "Invalid request body: not valid JSON"
NOT_AN_OBJECT = "Invalid request body: expected a JSON object"

# (name, body, content type, the activation's reason): licensing reads every body as JSON, whatever its type.
LICENSING_BODIES = [
    ("form body, not JSON", b"licenseKey=ABCDE-FGHIJ-KLMNO-PQRST", FORM, NOT_JSON),
    ("form type, JSON array", b'["ABCDE-FGHIJ-KLMNO-PQRST"]', FORM, NOT_AN_OBJECT),
    ("form type, JSON string", b'"ABCDE-FGHIJ-KLMNO-PQRST"', FORM, NOT_AN_OBJECT),
    ("form type, JSON number", b"42", FORM, NOT_AN_OBJECT),
    ("form type, JSON true", b"true", FORM, NOT_AN_OBJECT),
    ("form type, NaN", b'{"licenseKey": NaN}', FORM, NOT_JSON),
    ("form type, invalid UTF-8", b'{"licenseKey": "\xff\xfe"}', FORM, NOT_JSON),
    ("form type, deep nesting", b"[" * 5000 + b"]" * 5000, FORM, NOT_JSON),
    ("form type, key an object", b'{"licenseKey": {"$gt": ""}}', FORM, "Invalid field: licenseKey"),
    ("form type, key a number", b'{"licenseKey": 12345}', FORM, "Invalid field: licenseKey"),
    ("form type, truncated", b'{"licenseKey":"ABCDE', FORM, NOT_JSON),
    ("form type with a charset, not JSON", b"a=b&c=d", f"{FORM}; charset=utf-8", NOT_JSON),
    ("no type, not JSON", b"licenseKey=ABCDE", "", NOT_JSON),
    ("no type, JSON array", b"[]", "", NOT_AN_OBJECT),
    (
        "multipart, not JSON",
        b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--",
        "multipart/form-data; boundary=x",
        NOT_JSON,
    ),
    ("text/plain, JSON string", b'"key"', "text/plain", NOT_AN_OBJECT),
]


@pytest.mark.parametrize(
    ("name", "body", "content_type", "reason"), LICENSING_BODIES, ids=[b[0] for b in LICENSING_BODIES]
)
def test_licensing_activation_answers_bodies_that_are_no_json_object_with_a_400_whatever_their_type(
    client, name, body, content_type, reason
):
    before = written()
    response = post(client, "/api/v2/device/license/activate", body, content_type)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"reason": reason, "statusCode": 400, "statusText": "Bad Request"}
    assert written() == before


@pytest.mark.parametrize("path", LICENSING_PATHS)
@pytest.mark.parametrize(
    ("name", "body", "content_type", "reason"), LICENSING_BODIES, ids=[b[0] for b in LICENSING_BODIES]
)
def test_licensing_answers_hostile_form_typed_bodies_on_every_path_in_its_format(
    client, path, name, body, content_type, reason
):
    before = written()
    response = post(client, path, body, content_type, HTTP_X_SESSION_ID=SESSION)
    if path.endswith("validate"):
        assert response.json() == {"data": {"isValid": False}, "statusCode": 200, "statusText": "OK"}  # no body read
    else:
        error = assert_json_error(response, {"reason", "statusCode", "statusText"})
        assert error["statusCode"] == response.status_code
    assert written() == before


@pytest.mark.parametrize(
    "header",
    [
        f"{SESSION}\n",  # a session file read without trimming
        f"{SESSION}\r\n",
        f"\n{SESSION}",
        f"{SESSION}\t",
        SESSION.upper(),
        SESSION.replace("-", ""),  # uuid.UUID would take these three; the console's pattern does not
        f"{{{SESSION}}}",
        f"urn:uuid:{SESSION}",
        f'{{"id":"{SESSION}","timestamp":1704378025}}',  # the response header's value sent back
        f"{SESSION}, {SESSION}",  # two headers joined by a proxy
        f"{SESSION}\x00",
    ],
)
@pytest.mark.parametrize("path", ["/api/v2/device/license/activate", "/api/v2/device/license/validate"])
def test_licensing_answers_a_session_id_that_is_not_the_bare_id_with_400(client, path, header):
    before = written()
    response = post(client, path, b'{"licenseKey":"ABCDE-FGHIJ-KLMNO-PQRST"}', FORM, HTTP_X_SESSION_ID=header)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"reason": "Invalid Header: X-Session-Id", "statusCode": 400, "statusText": "Bad Request"}
    assert written() == before


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer  ",
        "Bearer \n",
        "Bearer x\x00",
        "Bearer " + "x" * 10_000,
        "Basic YTpi",
        "Token abc",
        "Bearer é",
    ],
)
@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/api/v2/device/license/activate", b"", 403, "Invalid token"),
        ("/api/v2/device/license/activate", b"null", 403, "Invalid token"),
        (
            "/api/v2/device/license",
            json.dumps(
                {
                    "manufacturer": {"name": "Example Manufacturer", "id": 791},
                    "model": "IPC-xyz",
                    "serial_number": "SN123456789",
                    "manufacture_date": "2025-01-01",
                }
            ).encode(),
            401,
            "Invalid or missing bearer token",
        ),
    ],
    ids=["activate, no body", "activate, null", "register"],
)
def test_licensing_answers_malformed_bearer_tokens_in_its_format(client, authorization, path, body, status, reason):
    before = written()
    response = post(client, path, body, FORM, HTTP_AUTHORIZATION=authorization)
    assert response.status_code == status
    assert response.json() == {"reason": reason, "statusCode": status, "statusText": response.reason_phrase}
    assert written() == before


INVALID_ID = "Invalid payload: invalid field 'manufacturer.id'"


@pytest.mark.parametrize(
    ("manufacturer", "reason"),
    [
        (b'{"name": "Example Manufacturer", "id": "acme"}', INVALID_ID),
        (b'{"name": "Example Manufacturer", "id": 1000000000000000000000000000000}', INVALID_ID),
        (b'{"name": "Example Manufacturer", "id": 1e400}', INVALID_ID),  # a float: infinity
        (b'{"name": "Example Manufacturer", "id": 791.0}', INVALID_ID),
        (b'{"name": "Example Manufacturer", "id": [791]}', INVALID_ID),
        (b'{"name": "Example Manufacturer", "id": "791; DROP TABLE x"}', INVALID_ID),
        (b'{"name": "Example Manufacturer", "id": null}', "Invalid payload: missing required field 'manufacturer.id'"),
        (b"[791]", "Invalid payload: invalid field 'manufacturer'"),
        (b'"Example Manufacturer"', "Invalid payload: invalid field 'manufacturer'"),
    ],
)
def test_device_license_registration_answers_hostile_manufacturers_with_400(client, manufacturer, reason):
    token = token_issue(account=AccountFactory(is_vendor=True))[0]
    body = (
        b'{"manufacturer": %s, "model": "IPC-xyz", "serial_number": "SN1", "manufacture_date": "2025-01-01"}'
        % manufacturer
    )
    before = written()
    response = post(client, "/api/v2/device/license", body, FORM, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400
    assert response.json() == {"reason": reason, "statusCode": 400, "statusText": "Bad Request"}
    assert written() == before


@pytest.mark.parametrize("key", [SQL, MARKUP, "k" * 129, "a\x00b", "é" * 20])
def test_licensing_answers_hostile_keys_in_its_format(client, key):
    before = written()
    response = post(
        client, "/api/v2/device/license/activate", json.dumps({"licenseKey": key}).encode(), "application/json"
    )
    assert_json_error(response, {"reason", "statusCode", "statusText"})
    assert written() == before


# -- MOR ----------------------------------------------------------------------------------------------

MOR_BODIES = [
    *BODIES,
    ("form with NUL", b"u=adm%00in&hash=%00&user_id=1", "application/x-www-form-urlencoded"),
    ("form with markup", b"u=%3Cpage%3E&description=%3C%2Fpage%3E&hash=x", "application/x-www-form-urlencoded"),
    ("form with invalid UTF-8", b"u=%ff%fe&hash=%fa", "application/x-www-form-urlencoded"),
    ("broken multipart", b"--x\r\nnot a part", "multipart/form-data; boundary=x"),
]


MOR_CALLS = [
    "device_create",
    "devices_get",
    "device_list",
    "device_details_get",
    "device_update",
    "device_delete",
    "device_destroy",
]


def assert_xml_error(response) -> ElementTree.Element:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    page = ElementTree.fromstring(response.content)
    assert page.tag == "page" and page.findtext("error"), response.content[:300]
    return page


@pytest.mark.parametrize("call", MOR_CALLS)
@pytest.mark.parametrize(("name", "body", "content_type"), MOR_BODIES, ids=[b[0] for b in MOR_BODIES])
def test_mor_answers_hostile_bodies_with_well_formed_xml(client, call, name, body, content_type):
    before = written()
    assert_xml_error(post(client, f"/billing/api/{call}", body, content_type))
    assert written() == before


@pytest.fixture
def mor_line(db):
    from tests.factories import MorDeviceFactory

    AccountFactory(login="admin", role="admin")
    return MorDeviceFactory(device__account=AccountFactory(), pin="1234", extension="100")


def _signed(call: str, **params) -> dict[str, str]:
    from tests.mor_api.conftest import signed

    return signed(call, u="admin", **params)


# Values past the hash (each request is signed), that no call may take: each gets an <error>, and nothing changes.
MOR_HOSTILE = [
    ("devices_get", {"user_id": SQL}),
    ("devices_get", {"user_id": "9" * 40}),
    ("devices_get", {"user_id": "-1"}),
    ("devices_get", {"user_id": "\x00"}),
    ("devices_get", {"user_id": "{device}", "show_hidden_devices": MARKUP}),
    ("device_details_get", {"device_id": SQL}),
    ("device_details_get", {"device_id": "1e3"}),
    ("device_details_get", {"device_u": SQL}),
    ("device_details_get", {"device_u": "a\x00b"}),
    ("device_details_get", {"device_u": "u" * 10_000}),
    ("device_update", {"device": SQL}),
    ("device_update", {"device": "{device}", "host": SQL}),
    ("device_update", {"device": "{device}", "authentication": "1", "host": "10.0.0.1", "port": "9" * 30}),
    ("device_update", {"device": "{device}", "authentication": "1\x00"}),
    ("device_update", {"device": "{device}", "username": MARKUP}),
    ("device_update", {"device": "{device}", "username": "u" * 33}),
    ("device_update", {"device": "{device}", "extra": {"extension": "../../etc"}}),
    ("device_update", {"device": "{device}", "extra": {"pin": "1' OR '1'='1"}}),
    ("device_update", {"device": "{device}", "extra": {"hidden": "\x00"}}),
    ("device_update", {"device": "{device}", "extra": {"call_limit": "9" * 30}}),
    ("device_update", {"device": "{device}", "extra": {"comment": "a\x00b"}}),
    ("device_update", {"device": "{device}", "extra": {"description": "d" * 10_000}}),
    ("device_update", {"device": "{device}", "extra": {"callerid_number": "n" * 65}}),
    ("device_update", {"device": "{device}", "extra": {"password": "p" * 65}}),
    ("device_delete", {"device": SQL}),
    ("device_delete", {"device": MARKUP}),
    ("device_delete", {"device": "\x00"}),
    ("device_delete", {"device": "9" * 40}),
]


@pytest.mark.parametrize(("call", "params"), MOR_HOSTILE, ids=[f"{c}-{i}" for i, (c, _) in enumerate(MOR_HOSTILE)])
def test_mor_calls_answer_hostile_signed_values_with_an_error_and_change_nothing(client, mor_line, call, params):
    from mor_api.models import MorDevice

    params = {k: v.replace("{device}", str(mor_line.device_id)) for k, v in params.items() if k != "extra"} | {
        "extra": params.get("extra", {})
    }
    extra = params.pop("extra")
    before = (written(), list(MorDevice.objects.values()))
    response = client.post(f"/billing/api/{call}", {**_signed(call, **params), **extra})
    assert_xml_error(response)
    assert (written(), list(MorDevice.objects.values())) == before


@pytest.mark.parametrize("call", MOR_CALLS)
@pytest.mark.parametrize("value", [["1", "2"], {"$gt": ""}], ids=["array", "object"])
def test_mor_calls_refuse_json_arrays_and_objects_as_values(client, mor_line, call, value):
    body = json.dumps({"u": "admin", "user_id": value, "device": value, "device_id": value, "hash": "x"})
    before = written()
    page = assert_xml_error(post(client, f"/billing/api/{call}", body.encode(), "application/json"))
    assert page.findtext("error").endswith("must be a single value")
    assert written() == before


# -- line breaks and other whitespace around a value, in every field ---------------------------------------------
# A pattern anchored with `$` takes "424242\n" (`$` matches before a final newline). Every field either trims the
# whitespace around a value (the JSON protocols' text fields, as Laravel does) or refuses the value; a field whose
# value is kept as sent is free text. None stores an identifier with a line break in it.

AROUND = {
    "trailing newline": "{}\n",
    "trailing CRLF": "{}\r\n",
    "leading newline": "\n{}",
    "trailing tab": "{}\t",
    "trailing line separator": "{}\u2028",
}


def around(value: str, how: str) -> str:
    return AROUND[how].format(value)


@pytest.mark.parametrize("how", AROUND)
@pytest.mark.parametrize("field", list(REGISTRY_BODY))
def test_registry_trims_the_whitespace_around_every_field(client, field, how):
    body = {**REGISTRY_BODY, field: around(REGISTRY_BODY[field], how)}
    response = post(client, "/api/v2/device", json.dumps(body).encode(), "application/json")
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 0}
    device = Device.objects.select_related("client_app").get()
    app = device.client_app
    assert (device.mac, device.type, device.version) == ("A1B2C3D4E5F6", "Mobile", "1")
    assert (app.device_os, app.device_version, app.app_name, app.app_version) == ("iOS", "1", "x", "1")


@pytest.mark.parametrize("how", AROUND)
@pytest.mark.parametrize(
    ("fields", "screen"),
    [
        ({"current_screen": "content_info", "content_id": "5207", "content_type": "1"}, "current_screen"),
        ({"current_screen": "content_info", "content_id": "5207", "content_type": "1"}, "content_id"),
        ({"current_screen": "content_info", "content_id": "5207", "content_type": "1"}, "content_type"),
        ({"current_screen": "home"}, "mac_address"),
    ],
    ids=["current_screen", "content_id", "content_type", "mac_address"],
)
def test_device_activity_trims_the_whitespace_around_every_field(client, fields, screen, how):
    DeviceFactory(mac=REGISTRY_BODY["mac_address"])
    body = {"mac_address": REGISTRY_BODY["mac_address"], **fields}
    body[screen] = around(body[screen], how)
    response = post(client, "/api/v2/device_activity", json.dumps(body).encode(), "application/json")
    assert response.status_code == 200, response.content
    activity = ClientActivity.objects.get()
    expected = (
        fields["current_screen"],
        int(fields.get("content_id", 0)) or None,
        int(fields.get("content_type", 0)) or None,
    )
    assert (activity.current_screen, activity.content_id, activity.content_type) == expected


@pytest.mark.parametrize("how", AROUND)
def test_device_check_trims_the_whitespace_around_the_mac(client, how):
    DeviceFactory(mac=REGISTRY_BODY["mac_address"])
    body = {"mac_address": around("a1:b2:c3:d4:e5:f6", how)}
    response = post(client, "/api/v2/device_check", json.dumps(body).encode(), "application/json")
    assert (response.status_code, response.json()["data"]["mac_address"]) == (200, "A1B2C3D4E5F6")


BILLING_ACTIVATION = {
    "login": "user@mail.com",
    "name": "n",
    "type": "mediaagent",
    "mac": "A1B2C3D4E5F6",
    "serial_number": "SN1",
}


@pytest.mark.parametrize("how", AROUND)
@pytest.mark.parametrize("field", list(BILLING_ACTIVATION))
def test_billing_trims_the_whitespace_around_every_text_field(client, api_key, field, how):
    AccountFactory(login="user@mail.com")
    DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", serial_number="SN1")
    body = {**BILLING_ACTIVATION, field: around(BILLING_ACTIVATION[field], how)}
    response = post(
        client,
        "/api/v1/billing/devices/activate",
        json.dumps(body).encode(),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 201, response.content
    device = Device.objects.select_related("account").get()
    assert (device.type, device.mac, device.serial_number, device.name) == ("mediaagent", "A1B2C3D4E5F6", "SN1", "n")
    assert device.account.login == "user@mail.com"


@pytest.mark.parametrize("how", AROUND)
@pytest.mark.parametrize(
    ("call", "field", "value"),
    [
        ("activate", "skip_reserve_check", "1"),
        ("unreserve", "uuid", "7a593d26-8cfd-47e9-8647-1fb18a36fedb"),
        ("deactivate", "uuid", "7a593d26-8cfd-47e9-8647-1fb18a36fedb"),
        ("deactivate", "leave_reserved", "1"),
    ],
)
def test_billing_refuses_a_flag_or_uuid_with_whitespace_around_it_with_422(client, api_key, call, field, value, how):
    AccountFactory(login="user@mail.com")
    DeviceFactory(type="mediaagent", mac="A1B2C3D4E5F6", active=True)
    body = {**BILLING_ACTIVATION, field: around(value, how)} if call == "activate" else {field: around(value, how)}
    if field == "leave_reserved":
        body |= {"type": "mediaagent", "mac": "A1B2C3D4E5F6"}
    before = written()
    response = post(
        client,
        f"/api/v1/billing/devices/{call}",
        json.dumps(body).encode(),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key}",
    )
    assert response.status_code == 422, response.content
    assert list(response.json()["errors"]) == [field]
    assert written() == before


@pytest.mark.parametrize("how", AROUND)
def test_licensing_login_trims_the_username_and_takes_the_password_as_sent(client, how):
    from devices.services import account_create

    account_create(login="user@mail.com", password="correct horse battery")
    login = {"username": around("user@mail.com", how), "password": "correct horse battery"}
    assert post(client, "/api/v2/auth/login", json.dumps(login).encode(), FORM).status_code == 200
    wrong = {"username": "user@mail.com", "password": around("correct horse battery", how)}
    response = post(client, "/api/v2/auth/login", json.dumps(wrong).encode(), FORM)
    assert response.status_code == 403
    bad_flag = {**login, "issueJWT": around("true", how)}
    response = post(client, "/api/v2/auth/login", json.dumps(bad_flag).encode(), FORM)
    assert response.json() == {"reason": "Invalid field: issueJWT", "statusCode": 400, "statusText": "Bad Request"}


@pytest.mark.parametrize("how", AROUND)
def test_licensing_activation_trims_the_whitespace_around_a_key(client, how):
    from licensing.models import License

    License.objects.create(key="ABCDE-FGHIJ-KLMNO-PQRST")
    body = json.dumps({"licenseKey": around("ABCDE-FGHIJ-KLMNO-PQRST", how)}).encode()
    response = post(client, "/api/v2/device/license/activate", body, FORM)
    assert response.status_code == 200, response.content
    assert response.json()["data"]["licenseKey"] == "ABCDE-FGHIJ-KLMNO-PQRST"
    assert Device.objects.get().name == "ABCDE-FGHIJ-KLMNO-PQRST"


REGISTRATION = {
    "manufacturer": {"name": "Example Manufacturer", "id": 791},
    "model": "IPC-xyz",
    "serial_number": "SN123456789",
    "manufacture_date": "2025-01-01",
}


@pytest.mark.parametrize("how", AROUND)
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("manufacturer", "name"), 201),  # text: trimmed
        (("model",), 201),
        (("manufacturer", "id"), "Invalid payload: invalid field 'manufacturer.id'"),
        (("serial_number",), "Invalid serial number format"),
    ],
    ids=["manufacturer.name", "model", "manufacturer.id", "serial_number"],
)
def test_device_license_registration_trims_text_and_refuses_a_serial_or_id_with_whitespace(client, path, expected, how):
    token = token_issue(account=AccountFactory(is_vendor=True))[0]
    body = json.loads(json.dumps(REGISTRATION))
    parent = body["manufacturer"] if len(path) == 2 else body
    parent[path[-1]] = around(str(parent[path[-1]]), how)
    before = written()
    response = post(
        client, "/api/v2/device/license", json.dumps(body).encode(), FORM, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    if expected == 201:
        assert response.status_code == 201, response.content
        registered = DeviceLicense.objects.get()
        assert (registered.manufacturer_name, registered.model, registered.serial_number) == (
            "Example Manufacturer",
            "IPC-xyz",
            "SN123456789",
        )
    else:
        assert response.status_code in (400, 422)
        assert response.json()["reason"] == expected
        assert written() == before


@pytest.mark.parametrize("how", AROUND)
def test_device_license_registration_reads_a_date_with_whitespace_around_it_as_that_date(client, how):
    import datetime

    token = token_issue(account=AccountFactory(is_vendor=True))[0]
    body = {**REGISTRATION, "manufacture_date": around("2025-01-01", how)}
    response = post(
        client, "/api/v2/device/license", json.dumps(body).encode(), FORM, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    if response.status_code == 201:
        assert DeviceLicense.objects.get().manufacture_date == datetime.date(2025, 1, 1)
    else:
        assert response.json()["reason"] == "Invalid payload: invalid field 'manufacture_date'"


# MOR signs what is sent: nothing is trimmed. A value with a line break is refused, except free text (a
# description, a comment), kept as sent, and `u`, a login, matched as billing and licensing match one.
# (call, field, value, the <error>, and the <message> when the error has one)
MOR_AROUND = [
    ("device_create", "user_id", "{user}", "User was not found", None),
    ("device_create", "pin", "424242", "Pin must be numeric", None),
    ("device_create", "type", "SIP", "Device type invalid", None),
    ("device_create", "devicegroup_id", "{group}", "Device group invalid", None),
    ("device_create", "caller_id", "37060000000", "Device was not created", "Caller id contains a control character"),
    ("devices_get", "user_id", "{user}", "User not found", None),
    ("devices_get", "show_hidden_devices", "1", "show_hidden_devices must be 0 or 1", None),
    ("device_details_get", "device_id", "{device}", "Device was not found", None),
    ("device_details_get", "device_u", "{username}", "Device was not found", None),
    ("device_update", "device", "{device}", "Device was not found", None),
    ("device_update", "pin", "5555", "Pin must be numeric", None),
    (
        "device_update",
        "username",
        "line-1",
        "Device was not updated",
        "Username must be 1 to 32 letters, digits, '.', '_', '-' or '+'",
    ),
    ("device_update", "extension", "101", "Device was not updated", "Extension may have only a-z, 0-9, # and *"),
    (
        "device_update",
        "authentication",
        "0",
        "Device was not updated",
        "Authentication must be 0 (username and password) or 1 (IP address)",
    ),
    ("device_update", "hidden", "1", "Device was not updated", "Hidden must be 0 or 1"),
    ("device_update", "call_limit", "3", "Device was not updated", "Call limit must be a whole number (0: unlimited)"),
    (
        "device_update",
        "callerid_number",
        "37060000000",
        "Device was not updated",
        "Callerid number contains a control character",
    ),
    ("device_update", "callerid_name", "Hall", "Device was not updated", "Callerid name contains a control character"),
    ("device_update", "password", "s3cr3t-pa55", "Device was not updated", "Password contains a control character"),
    ("device_delete", "device", "{device}", "Device was not found", None),
]


@pytest.mark.parametrize("how", AROUND)
@pytest.mark.parametrize(
    ("call", "field", "value", "error", "message"), MOR_AROUND, ids=[f"{c}-{f}" for c, f, *_ in MOR_AROUND]
)
def test_mor_refuses_identifiers_with_whitespace_around_them_and_changes_nothing(
    client, mor_line, call, field, value, error, message, how
):
    user = mor_line.device.account
    names = {"user": user.pk, "device": mor_line.device_id, "group": mor_line.group_id, "username": mor_line.username}
    params = {"user_id": str(user.pk)} if call in ("device_create", "devices_get") else {}
    if call in ("device_update", "device_delete"):
        params["device"] = str(mor_line.device_id)
    if call == "device_details_get" and field == "device_u":
        params = {}
    params[field] = around(value.format(**names), how)
    before = (written(), list(MorDevice.objects.values()))
    page = assert_xml_error(client.post(f"/billing/api/{call}", _signed(call, **params)))
    assert page.findtext("error") == error
    assert [m.text for m in page.findall("message")] == ([message] if message else [])
    assert (written(), list(MorDevice.objects.values())) == before


@pytest.mark.parametrize("how", AROUND)
@pytest.mark.parametrize("field", ["description", "comment"])
def test_mor_keeps_free_text_as_sent(client, mor_line, field, how):
    from tests.mor_api.conftest import parse

    value = around("Front desk", how)
    call, params = ("device_update", {"device": str(mor_line.device_id), field: value})
    if field == "description":
        assert parse(client.post("/billing/api/device_update", _signed(call, **params))).findtext("error") is None
    else:
        assert parse(client.post("/billing/api/device_update", _signed(call, **params))).findtext("error") is None
    mor_line.refresh_from_db()
    assert getattr(mor_line, field) == value


@pytest.mark.parametrize("how", AROUND)
def test_mor_matches_the_caller_s_login_as_the_other_protocols_match_one(client, mor_line, how):
    user = mor_line.device.account
    params = _signed("devices_get", user_id=str(user.pk)) | {"u": around("admin", how)}
    page = ElementTree.fromstring(client.post("/billing/api/devices_get", params).content)
    assert page.find("devices/device/device_id").text == str(mor_line.device_id)


# -- lone surrogates ---------------------------------------------------------------------------------------------
# JSON may escape half of a UTF-16 pair ("\ud800"): Python parses it into a string that can't be encoded, so it
# can't be hashed, stored or answered. Every protocol refuses it as the invalid JSON it is (RFC 8259 section 8.2).

SURROGATE_FIELDS = ("mac_address", "device_os", "login", "type", "mac", "licenseKey", "username", "u", "description")


@pytest.mark.parametrize(
    "escape",
    ["\\ud800", "\\udfff", "x\\ud83d", "\\ude00x", "\\ud800\\ud800"],
    ids=["high", "low", "high at the end", "low at the start", "two highs"],
)
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v2/device", {}),
        ("/api/v1/billing/devices/activate", {"api_key": True}),
        ("/api/v2/auth/login", {}),
        ("/api/v2/device/license/activate", {}),
        ("/billing/api/device_create", {}),
        ("/billing/api/device_update", {}),
    ],
)
def test_a_lone_surrogate_in_a_json_string_is_a_clean_error_in_every_protocol(
    client, api_key, caplog, path, headers, escape
):
    AccountFactory(login="admin", role="admin")
    body = "{" + ", ".join(f'"{name}": "{escape}"' for name in SURROGATE_FIELDS) + "}"
    extra = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"} if headers else {}
    before = written()
    response = post(client, path, body.encode(), "application/json", **extra)
    if path.startswith("/billing/api/"):
        assert assert_xml_error(response).findtext("error") == "Request body is not valid JSON"
    else:
        assert_json_error(response, {"message"} if "/v1/" in path or path == "/api/v2/device" else {"reason"})
        assert response.status_code in (400, 422)
    assert written() == before
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_surrogate_pair_escape_is_the_character_it_encodes(client):
    body = json.dumps({**REGISTRY_BODY, "app_name": "\U0001f600"}, ensure_ascii=True)
    assert "\\ud83d\\ude00" in body
    response = post(client, "/api/v2/device", body.encode(), "application/json")
    assert response.status_code == 200
    assert ClientAppInfo.objects.get().app_name == "\U0001f600"


# -- a body that is no JSON: said to be what it was sent as ------------------------------------------------------

NO_BOUNDARY = (b"garbage", "multipart/form-data")
EMPTY_BOUNDARY = (b"--\r\n", "multipart/form-data; boundary=")
BROKEN_JSON = (b'{"type":', "application/json")


@pytest.mark.parametrize(
    ("body", "content_type", "what"),
    [
        (*NO_BOUNDARY, "a valid multipart form"),
        (*EMPTY_BOUNDARY, "a valid multipart form"),
        (*BROKEN_JSON, "valid JSON"),
    ],
)
def test_every_protocol_names_the_kind_of_body_it_could_not_read(client, api_key, body, content_type, what):
    billing = post(client, "/api/v1/billing/devices/check", body, content_type, HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert billing.json()["message"] == f"The request body is not {what}."
    registry = post(client, "/api/v2/device_check", body, content_type)
    assert registry.json()["message"] == f"The request body is not {what}."
    mor = assert_xml_error(post(client, "/billing/api/device_create", body, content_type))
    assert mor.findtext("error") == f"Request body is not {what}"
