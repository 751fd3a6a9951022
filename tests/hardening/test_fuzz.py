"""Property-based fuzzing of every JSON endpoint from our own OpenAPI schema (schemathesis).

Each operation gets a bounded number of generated requests, valid and invalid;
every answer must be no 5xx, carry a documented status and content type, and
match the documented schema.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devices.choices import ApiKeyScope
from devices.services import api_key_create

# What must hold of every answer. Not checked: that any schema-valid request is accepted (a valid-looking
# request for a device that doesn't exist is rightly refused) or that invalid ones are rejected (unknown
# fields are ignored on purpose: clients send more than the seeds list).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
# The MOR API answers XML, always with HTTP 200: its corpus is in test_hostile_input.py.
json_schema = schema.exclude(path_regex=r"^/billing/api/")


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_key(db) -> str:
    return api_key_create(name="fuzz", scopes=[ApiKeyScope.BILLING, ApiKeyScope.MANAGE])[1]


@json_schema.parametrize()
# Derandomized: the same examples every run, so CI never flakes on a new draw (raise max_examples to explore).
@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_every_json_endpoint_answers_within_its_schema(case, api_key):
    keyed = case.path.startswith(("/api/v1/billing/", "/api/manage/"))
    headers = {"Authorization": f"Bearer {api_key}"} if keyed else {}
    case.call_and_validate(headers=headers, checks=CHECKS)
