"""The MOR API's answers: XML under <page>, always HTTP 200."""

import re
from xml.etree import ElementTree

from django.http import HttpResponse
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
CONTENT_TYPE = "text/xml; charset=utf-8"
# Characters XML 1.0 can't carry at all (NUL and most control characters), even escaped.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Node = tuple[str, "str | int | list[Node] | None"]


def _text(value) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _build(parent: ElementTree.Element, nodes: list[Node]) -> None:
    for tag, value in nodes:
        child = ElementTree.SubElement(parent, tag)
        if isinstance(value, list):
            _build(child, value)
        else:
            child.text = _text(value)


def xml_page(nodes: list[Node]) -> HttpResponse:
    """`<page>` with the given children; text is escaped, characters XML can't hold become U+FFFD."""
    page = ElementTree.Element("page")
    _build(page, nodes)
    # <pin></pin>, not <pin />: the same XML, written as the wiki pages write it.
    body = DECLARATION + ElementTree.tostring(page, encoding="unicode", short_empty_elements=False)
    return HttpResponse(body.encode("utf-8"), content_type=CONTENT_TYPE, status=200)


def xml_error(text: str, messages: list[str] | None = None) -> HttpResponse:
    return xml_page([("error", text), *(("message", m) for m in messages or [])])


class XMLPageRenderer(BaseRenderer):
    """The MOR views' only renderer: what they answer is always this XML, whatever the client accepts."""

    media_type = "text/xml"
    format = "xml"
    charset = "utf-8"

    def render(self, data: list[Node] | None, accepted_media_type=None, renderer_context=None) -> bytes:
        # The views answer with xml_page() directly; a DRF Response of the same nodes renders the same page.
        return xml_page(data or []).content


class XMLNegotiation(BaseContentNegotiation):
    """The answer is the XML page for any Accept header (text/xml, application/xml, */*, none, even JSON):
    MOR clients send whatever their HTTP library sends, and none expects anything else. Parsers are chosen by
    DRF as usual."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
