from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, with what Python's parser takes but nothing can use reported as bad JSON, not a crash.

    Nesting too deep for Python's parser, and a lone surrogate: JSON may escape
    half of a UTF-16 pair ("\\ud800"), which Python parses into a string that
    can't be encoded, so can't be hashed, stored or answered (RFC 8259 section
    8.2 leaves such a text's meaning unpredictable).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
        if _has_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate")
        return data


def _has_lone_surrogate(data) -> bool:
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def unreadable_body(request) -> str:
    """What a body the parsers refused is not, for the protocols' messages: "valid JSON" or, for a multipart
    body (a broken boundary, say), "a valid multipart form"."""
    media = (request.content_type or "").split(";")[0].strip().lower()
    return "a valid multipart form" if media == "multipart/form-data" else "valid JSON"
