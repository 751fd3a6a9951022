"""/api/docs/ for the licensing API: the bearer token as a security scheme, the console's examples and types."""

import json

import pytest

pytestmark = pytest.mark.django_db

LICENSING = ["/api/v2/auth/login", "/api/v2/device/license", "/api/v2/device/license/activate"]


@pytest.fixture
def schema(client) -> dict:
    return json.loads(client.get("/api/schema/?format=json").content)


def operation(schema: dict, path: str) -> dict:
    return schema["paths"][path]["post"]


def test_the_licensing_token_is_a_bearer_security_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["LicensingToken"]
    assert {k: scheme[k] for k in ("type", "scheme", "bearerFormat")} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert "/api/v2/auth/login" in scheme["description"]


def test_user_license_activation_may_send_the_token_and_registration_must(schema):
    assert operation(schema, "/api/v2/device/license/activate")["security"] == [{"LicensingToken": []}, {}]
    assert operation(schema, "/api/v2/device/license")["security"] == [{"LicensingToken": []}]
    assert operation(schema, "/api/v2/auth/login")["security"] == [{}]
    assert operation(schema, "/api/v2/device/license/validate")["security"] == [{}]
    # The header is the scheme's, not a parameter (OpenAPI ignores a header parameter named Authorization).
    for path in LICENSING:
        assert "Authorization" not in {p["name"] for p in operation(schema, path).get("parameters", [])}


def test_registration_documents_the_consoles_example_and_integer_types(schema):
    register = operation(schema, "/api/v2/device/license")
    example = {
        "manufacturer": {"name": "Example Manufacturer", "id": 791},
        "model": "IPC-xyz",
        "serial_number": "SN123456789",
        "manufacture_date": "2025-01-01",
    }
    content = register["requestBody"]["content"]
    assert list(content) == ["application/json"]
    assert content["application/json"]["examples"]["Request"]["value"] == example
    answer = register["responses"]["201"]["content"]["application/json"]["examples"]["Registered"]["value"]
    assert answer == {
        "data": {**example, "created_at": "2025-07-28T10:30:00.000Z", "status": 0},
        "statusCode": 201,
        "statusText": "Created",
    }
    components = schema["components"]["schemas"]
    assert components["Manufacturer"]["properties"]["id"]["type"] == "integer"
    assert components["ManufacturerRequest"]["properties"]["id"]["type"] == "integer"
    assert components["DeviceLicenseData"]["properties"]["status"]["type"] == "integer"


def test_registration_says_what_each_status_means(schema):
    description = operation(schema, "/api/v2/device/license")["description"]
    for line in ("- `0` registered:", "- `1` activated:", "- `2` revoked:"):
        assert line in description


def test_registration_documents_the_consoles_error_texts(schema):
    responses = operation(schema, "/api/v2/device/license")["responses"]

    def reasons(status: str) -> set[str]:
        return {e["value"]["reason"] for e in responses[status]["content"]["application/json"]["examples"].values()}

    assert "Invalid payload: missing required field 'serial_number'" in reasons("400")
    assert reasons("401") == {"Invalid or missing bearer token"}
    assert "Invalid serial number format" in reasons("422")
    assert reasons("500") == {"Could not register device license"}


def test_activation_documents_both_runtimes_bodies_and_no_415(schema):
    activate = operation(schema, "/api/v2/device/license/activate")
    assert "application/x-www-form-urlencoded" in activate["description"]
    assert "`null`" in activate["description"]
    examples = activate["requestBody"]["content"]["application/json"]["examples"]
    assert {e["value"].get("licenseKey") for e in examples.values()} == {
        "ABCDE-FGHIJ-KLMNO-PQRST",
        "SN123456789",
        None,
    }
    for path in [*LICENSING, "/api/v2/device/license/validate"]:
        assert "415" not in operation(schema, path)["responses"]
