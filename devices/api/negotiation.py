from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, with the usual `Accept: */*` answered without parsing it.

    Most clients send `*/*` or no Accept header at all, and no `?format=`.
    Then DRF's answer is always the first renderer with its own media type;
    working that out by parsing and ranking media types cost about as much as
    the rest of DRF's per-request work. Any other request is negotiated by DRF.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        meta = request.META
        if renderers and not format_suffix and meta.get("HTTP_ACCEPT", "*/*") == "*/*" and not meta.get("QUERY_STRING"):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
