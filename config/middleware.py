"""Refuse oversized bodies before any view reads them, in the format of the protocol the path belongs to."""

from django.conf import settings

from config.views import protocol_error


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
