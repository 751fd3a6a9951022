"""The MOR calls in /api/docs/ (Swagger UI) as a reader meets them: XML examples, the seed's request ready to send."""

import pytest

from devices.choices import AccountRole
from mor_api.models import MorDevice
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

MOR_OPERATIONS = ["device_create", "devices_get", "device_details_get", "device_update", "device_delete"]


def operation(page, name: str):
    # Swagger UI's ids carry the tag's escaped parentheses: match on the operation id's end.
    return page.locator(f"[id$='-mor_{name}'].opblock")


def test_the_mor_calls_show_xml_examples_and_device_create_sends_the_seeds_request(live_server, browser):
    # given: the seed's world (the MOR admin, user 2; the test settings sign with `secret`)
    AccountFactory(pk=1, login="admin", role=AccountRole.ADMIN)
    AccountFactory(pk=2, login="user2@example.com")
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto("/api/docs/")
    operation(page, "device_create").wait_for()

    # every MOR call's answer example is its XML page, never "XML example cannot be generated"
    for name in MOR_OPERATIONS:
        block = operation(page, name)
        block.locator(".opblock-summary").first.click()
        example = block.locator(".responses-wrapper .example, .responses-wrapper .microlight").first
        example.wait_for()
        assert example.inner_text().startswith('<?xml version="1.0" encoding="UTF-8"?><page>'), name
        assert "cannot be generated" not in block.inner_text()

    # device_create's form holds the seed's request, and "Try it out" sends it as it is
    create = operation(page, "device_create")
    create.locator(".try-out__btn").click()
    values = {
        name: create.locator(f"input[placeholder='{name}']").input_value()
        for name in ["u", "user_id", "description", "pin", "hash", "type", "devicegroup_id", "caller_id", "p"]
    }
    assert values == {
        "u": "admin",
        "user_id": "2",
        "description": "desription1",
        "pin": "3",
        "hash": "6e79d4a82f68102f43be11d873177f47817f84df",
        "type": "",
        "devicegroup_id": "",
        "caller_id": "",
        "p": "",
    }
    create.locator(".execute").click()
    answer = create.locator(".live-responses-table .response-col_description pre").first
    answer.wait_for()
    line = MorDevice.objects.get()
    assert "<status>Device created</status>" in answer.inner_text()
    assert f"<id>{line.device_id}</id>" in answer.inner_text()
    assert (line.pin, line.description, line.device.account_id) == ("3", "desription1", 2)
    context.close()
