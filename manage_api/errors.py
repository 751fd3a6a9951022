"""The management API's one error table: every failure is `{"code", "message"}` with a stable code."""

import logging

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from devices.authentication import ApiKeyScopeDenied
from devices.errors import DomainError
from devices.failures import generic_failure
from webhooks.services import WebhookLimitReached

logger = logging.getLogger(__name__)


class InvalidCursor(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The cursor is not one this API gave: start again from the first page."
    default_code = "invalid_cursor"


# The stable code of each status answered without a more precise one: the failures every API answers alike
# (devices.failures), the paths no view serves (config.views.protocol_error) and nginx's own refusals
# (deploy/nginx/maps.conf, which can't import it: tests/serving checks it answers these).
STATUS_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    414: "too_large",
    431: "too_large",
    500: "server_error",
    501: "not_implemented",
    502: "unavailable",
    503: "unavailable",
    504: "unavailable",
    505: "not_implemented",
}


def _messages(messages) -> list[str]:
    # A list field's errors come per item ({index: [...]}): each said with its position.
    if isinstance(messages, dict):
        return [f"Item {index}: {m}" for index, items in messages.items() for m in _messages(items)]
    return [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]


def error(code: str, message: str, status_code: int, **extra) -> Response:
    return Response({"code": code, "message": message, **extra}, status=status_code)


def manage_exception_handler(exc, context) -> Response:
    if isinstance(exc, ApiKeyScopeDenied):
        return error("permission_denied", "This API key has no manage scope.", status.HTTP_403_FORBIDDEN)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed | exceptions.PermissionDenied):
        response = error(
            "not_authenticated",
            "A valid API key is required: Authorization: Bearer <key>.",
            status.HTTP_401_UNAUTHORIZED,
        )
        response["WWW-Authenticate"] = "Bearer"
        return response
    if isinstance(exc, exceptions.ValidationError):
        # A body's fields (a webhook's), or else django-filter's query parameters, each with its messages.
        in_body = context["request"].method in ("POST", "PUT", "PATCH")
        detail = exc.detail if isinstance(exc.detail, dict) else {"body" if in_body else "query": exc.detail}
        errors = {name: _messages(messages) for name, messages in detail.items()}
        names = ", ".join(errors)
        if in_body:
            return error("invalid", f"Invalid field: {names}.", status.HTTP_400_BAD_REQUEST, errors=errors)
        return error("invalid_filter", f"Invalid query parameter: {names}.", status.HTTP_400_BAD_REQUEST, errors=errors)
    if isinstance(exc, exceptions.ParseError):
        return error("invalid", "The body is not valid JSON.", exc.status_code, errors={"body": [str(exc.detail)]})
    if isinstance(exc, WebhookLimitReached):
        return error(exc.code, exc.message, status.HTTP_409_CONFLICT)
    if isinstance(exc, DomainError):
        return error(exc.code, exc.message, status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, InvalidCursor):
        return error("invalid_cursor", str(exc.detail), exc.status_code, errors={"cursor": [str(exc.detail)]})
    if isinstance(exc, Http404 | exceptions.NotFound):
        return error("not_found", "Not found.", status.HTTP_404_NOT_FOUND)
    if isinstance(exc, exceptions.MethodNotAllowed):
        allowed = ", ".join(m for m in context["view"].allowed_methods if m not in ("HEAD", "OPTIONS"))
        return error("method_not_allowed", f"Allowed here: {allowed}.", status.HTTP_405_METHOD_NOT_ALLOWED)
    if isinstance(exc, exceptions.Throttled):
        response = error("throttled", "Too many requests.", status.HTTP_429_TOO_MANY_REQUESTS)
        if exc.wait:
            response["Retry-After"] = str(int(exc.wait))
        return response
    if isinstance(exc, exceptions.APIException):
        return error(exc.default_code, str(exc.detail), exc.status_code)
    if generic := generic_failure(exc):
        return error(STATUS_CODES[generic[0]], generic[1], generic[0])
    logger.exception("Unexpected error in the management API")
    return error("server_error", "Server error.", status.HTTP_500_INTERNAL_SERVER_ERROR)
