"""devices.api.negotiation: the `*/*` shortcut chooses what DRF's negotiation chooses, and only then applies."""

import pytest
from django.test import RequestFactory
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer, TemplateHTMLRenderer
from rest_framework.request import Request

from devices.api.negotiation import ContentNegotiation

RENDERER_SETS = [
    [JSONRenderer],
    [TemplateHTMLRenderer, JSONRenderer],
    [BrowsableAPIRenderer, JSONRenderer],
]
ACCEPTS = [None, "*/*", "application/json", "text/html", "application/json; indent=4", "text/*, */*;q=0.1", "x/y"]
QUERIES = ["", "format=json", "format=html", "page=2"]


def _choice(negotiation, request, renderers, format_suffix):
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, format_suffix)
    except Exception as exc:  # NotAcceptable, or Http404 when the format names no renderer: compared by type
        return type(exc)
    return type(renderer), media_type


@pytest.mark.parametrize("renderer_classes", RENDERER_SETS)
@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("format_suffix", [None, "json"])
def test_it_chooses_what_drf_chooses(renderer_classes, accept, query, format_suffix):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    renderers = [renderer() for renderer in renderer_classes]

    def request():
        return Request(RequestFactory().get(f"/x?{query}" if query else "/x", **headers))

    expected = _choice(DefaultContentNegotiation(), request(), renderers, format_suffix)
    assert _choice(ContentNegotiation(), request(), renderers, format_suffix) == expected


def test_the_shortcut_applies_only_to_any_type_without_a_format(monkeypatch):
    calls = []
    monkeypatch.setattr(
        DefaultContentNegotiation, "select_renderer", lambda self, *args: calls.append(args) or ("drf", "x")
    )
    renderers = [JSONRenderer()]
    factory = RequestFactory()
    for plain in (factory.get("/x"), factory.get("/x", HTTP_ACCEPT="*/*")):
        assert ContentNegotiation().select_renderer(Request(plain), renderers) == (renderers[0], "application/json")
    assert calls == []
    ContentNegotiation().select_renderer(Request(factory.get("/x", HTTP_ACCEPT="application/json")), renderers)
    ContentNegotiation().select_renderer(Request(factory.get("/x?format=json")), renderers)
    ContentNegotiation().select_renderer(Request(factory.get("/x")), renderers, "json")
    assert len(calls) == 3


@pytest.mark.django_db
@pytest.mark.parametrize(("accept", "status"), [("*/*", 400), ("application/json", 400), ("text/html", 406)])
def test_an_api_answers_json_or_refuses_what_it_cannot_give(client, accept, status):
    response = client.post("/api/v2/device", {}, content_type="application/json", HTTP_ACCEPT=accept)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
