"""The licensing API's errors and its one error table: `{"reason", "statusCode", "statusText"}`."""

import logging
from http import HTTPStatus

from rest_framework import exceptions
from rest_framework.response import Response

from devices.errors import DomainError
from devices.failures import generic_failure

logger = logging.getLogger(__name__)


class LicensingError(Exception):
    status = 403
    reason = "Forbidden"

    def __init__(self, reason: str | None = None):
        self.reason = reason or self.reason
        super().__init__(self.reason)


class MissingAuthorization(LicensingError):
    reason = "Missing Header: Authorization"


class InvalidToken(LicensingError):
    reason = "Invalid token"


class LicenseNotFound(LicensingError):
    reason = "License not found"


class LicenseInvalid(LicensingError):
    reason = "License found but invalid"


class LicenseExhausted(LicensingError):
    reason = "License found but maximum activations reached"


class NoRemainingActivations(LicensingError):
    reason = "No remaining activations"


class SessionDeviceBanned(LicensingError):
    reason = "Device banned"


class WrongCredentials(LicensingError):
    reason = "Sorry, the username or password you entered is incorrect."


class NotVendor(LicensingError):
    reason = "Only vendor accounts may register device licenses"


class BadRequest(LicensingError):
    status = 400


class Unauthorized(LicensingError):
    status = 401
    reason = "Invalid or missing bearer token"  # the console's text (device-license registration)


class Unprocessable(LicensingError):
    status = 422


def error_body(status: int, reason: str) -> dict:
    return {"reason": reason, "statusCode": status, "statusText": HTTPStatus(status).phrase}


def licensing_response(status: int, reason: str, headers: dict | None = None) -> Response:
    return Response(error_body(status, reason), status=status, headers=headers)


def make_exception_handler(unexpected_reason: str):
    """The licensing error table; `unexpected_reason` is what a 500 says on that endpoint."""

    def handler(exc, context) -> Response:
        headers = getattr(context.get("view"), "session_headers", None)
        if isinstance(exc, LicensingError):
            return licensing_response(exc.status, exc.reason, headers)
        if isinstance(exc, DomainError):
            return licensing_response(403, exc.message, headers)
        if isinstance(exc, exceptions.ParseError):
            return licensing_response(400, "Invalid request body: not valid JSON")
        if isinstance(exc, exceptions.Throttled):
            extra = {"Retry-After": str(int(exc.wait))} if exc.wait else {}
            return licensing_response(429, "Too many requests", extra)
        if isinstance(exc, exceptions.APIException):
            return licensing_response(exc.status_code, str(exc.detail))
        if generic := generic_failure(exc):
            return licensing_response(*generic)
        logger.exception("Unexpected error in the licensing API")
        return licensing_response(500, unexpected_reason)

    return handler
