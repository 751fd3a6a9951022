"""The MOR calls in the OpenAPI schema: XML answers Swagger UI can show, and each page's own request as the example."""

import json
from xml.etree import ElementTree

import pytest

from mor_api.auth import SIGNED_PARAMS, expected_hash

CALLS = ["device_create", "devices_get", "device_details_get", "device_update", "device_delete"]
# The secret each call's example is signed with: the seed's (the demo's too), or the wiki pages'.
SECRETS = {"device_create": "secret"} | dict.fromkeys(CALLS[1:], "456789")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return json.loads(Client().get("/api/schema/?format=json").content)


@pytest.mark.parametrize("call", CALLS)
def test_each_answer_is_an_xml_page_with_examples_as_they_are_sent(schema, call):
    responses = schema["paths"][f"/billing/api/{call}"]["post"]["responses"]
    assert set(responses) == {"200"}  # every answer, error or not, is a 200
    content = responses["200"]["content"]
    assert set(content) == {"text/xml"}
    # an object named page: Swagger UI shows string examples of it as they are (a bare string has no root name)
    assert (content["text/xml"]["schema"]["type"], content["text/xml"]["schema"]["xml"]) == ("object", {"name": "page"})
    for example in content["text/xml"]["examples"].values():
        assert example["value"].startswith('<?xml version="1.0" encoding="UTF-8"?><page>')
        assert ElementTree.fromstring(example["value"].encode()).tag == "page"


@pytest.mark.parametrize("call", CALLS)
def test_each_request_is_the_pages_own_example_correctly_signed(schema, call):
    body = schema["paths"][f"/billing/api/{call}"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/x-www-form-urlencoded", "application/json"}
    form = body["application/x-www-form-urlencoded"]["schema"]
    # the form's values (Swagger UI fills its fields with them) are the JSON example's, empty for the rest
    example = next(iter(body["application/json"]["examples"].values()))["value"]
    assert {name: p["example"] for name, p in form["properties"].items() if p["example"]} == example
    assert expected_hash(example, SIGNED_PARAMS[call], SECRETS[call]) == example["hash"]


def test_device_creates_form_is_the_seeds_request(schema):
    form = schema["paths"]["/billing/api/device_create"]["post"]["requestBody"]["content"]
    values = {
        name: p["example"] for name, p in form["application/x-www-form-urlencoded"]["schema"]["properties"].items()
    }
    assert {name: value for name, value in values.items() if value} == {
        "u": "admin",
        "user_id": "2",
        "description": "desription1",
        "pin": "3",
        "hash": "6e79d4a82f68102f43be11d873177f47817f84df",
    }


def test_the_old_names_answer_but_are_documented_once_under_the_new(schema):
    paths = set(schema["paths"])
    assert {f"/billing/api/{call}" for call in CALLS} <= paths
    assert not {"/billing/api/device_list", "/billing/api/device_destroy"} & paths
    assert "device_list" in schema["paths"]["/billing/api/devices_get"]["post"]["summary"]
    assert "device_destroy" in schema["paths"]["/billing/api/device_delete"]["post"]["summary"]
