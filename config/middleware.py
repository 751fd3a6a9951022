"""What is refused or set aside before any view runs, in the format of the protocol the path belongs to.

Oversized bodies; a request id from a client that is no trusted proxy; a Host outside ALLOWED_HOSTS (the
probes excepted).
"""

import logging
import re

from django.conf import settings
from django.core.exceptions import DisallowedHost

from config.views import healthz, protocol_error, readyz
from devices.client_ip import is_trusted_proxy

logger = logging.getLogger(__name__)


class BodySizeLimitMiddleware:
    """A declared body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 before anything parses it.

    Django enforces the limit itself only for form data it decodes; a JSON
    parser would read the whole body first, and the file parts of a multipart
    body (which any anonymous POST to /admin/login/ may carry) are spooled to
    disk. So it applies to every path, the admin's included.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return protocol_error(request, 400, "Invalid Content-Length header.")
        if limit is not None and declared > limit:
            return protocol_error(request, 413, f"The request body is larger than {limit} bytes.")
        return self.get_response(request)


class RequestIdFromTrustedProxiesMiddleware:
    """X-Request-ID is believed only from a trusted proxy, and only as a plain UUID; first in the chain.

    django-guid (next) keeps any request id a request carries, and writes it into the logs, the audit trail and
    the answer. From anyone but a proxy in TRUSTED_PROXIES (or nginx on gunicorn's unix socket, which sets its
    own: gunicorn.conf.py) the header is dropped here, so django-guid makes a new id.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_REQUEST_ID" in request.META and not request_id_believed(request.META):
            del request.META["HTTP_X_REQUEST_ID"]
            request.__dict__.pop("headers", None)  # in case something read the headers already
        return self.get_response(request)


# A UUID with or without its dashes: what nginx and gunicorn keep too (deploy/nginx/maps.conf, gunicorn.conf.py).
REQUEST_ID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
# Set by gunicorn.conf.py on a request from its unix socket, whose only peer is nginx.
FROM_NGINX = "devices.from_nginx"


def request_id_believed(meta: dict) -> bool:
    """Whether the request's X-Request-ID is a trusted proxy's plain UUID (WSGI environ or request.META)."""
    sent = meta.get("HTTP_X_REQUEST_ID", "")
    from_proxy = meta.get(FROM_NGINX) is True or is_trusted_proxy(meta.get("REMOTE_ADDR", ""))
    return from_proxy and REQUEST_ID.fullmatch(sent) is not None


class HostMiddleware:
    """The probes, then the Host check, each answered before any other middleware asks for the host.

    /healthz and /readyz answer whatever Host they are sent: a load balancer probes an app server by its
    address. Every other request with a Host outside ALLOWED_HOSTS gets a 400 in its path's protocol format
    (Django's own answer is an HTML page, from the first middleware that reads the host).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.probes = {"/healthz": healthz, "/readyz": readyz}

    def __call__(self, request):
        probe = self.probes.get(request.path_info)
        if probe is not None:
            return probe(request)
        try:
            request.get_host()
        except DisallowedHost:
            logger.warning("Refused a request for a Host outside ALLOWED_HOSTS: %r", request.META.get("HTTP_HOST"))
            return protocol_error(request, 400, "Invalid Host header.")
        return self.get_response(request)
