"""How the licensing API reads a request body: as JSON, whatever the Content-Type says."""

from devices.api.parsers import SafeJSONParser


class AnyContentTypeJSONParser(SafeJSONParser):
    """Reads every body as JSON, so DRF never answers 415.

    The FLECS C++ runtime (3.x, libcurl through cpr) posts its JSON with
    libcurl's default `application/x-www-form-urlencoded`; other clients send
    `text/plain` or no type at all. A body that is not JSON is still a 400.
    """

    media_type = "*/*"
