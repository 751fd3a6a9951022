"""The billing API's one error table: every failure in its own wire format."""

import logging

from rest_framework import exceptions, status
from rest_framework.response import Response

from devices.api.fields import validation_message
from devices.api.parsers import unreadable_body
from devices.authentication import ApiKeyScopeDenied
from devices.errors import (
    AccountNotUsable,
    DeviceAlreadyActive,
    DeviceBanned,
    DeviceDeactivating,
    DeviceInitializing,
    DeviceNotFound,
    DeviceReserved,
    DomainError,
)
from devices.failures import generic_failure

logger = logging.getLogger(__name__)

# The seeds' codes for the device states they name; every other refusal is the generic reservation error.
CODES = {
    DeviceNotFound.code: 33600,
    DeviceReserved.code: 33599,
    DeviceBanned.code: 33601,
    DeviceAlreadyActive.code: 33603,
    DeviceDeactivating.code: 33610,
    DeviceInitializing.code: 33622,
}
GENERIC_CODE = 1000


def billing_exception_handler(exc, context) -> Response:
    if isinstance(exc, AccountNotUsable):
        # The account was blocked between validation and activation: the same answer as validation's.
        message = "The selected login is invalid."
        return Response({"message": message, "errors": {"login": [message]}}, status=422)
    if isinstance(exc, DomainError):
        code = CODES.get(exc.code, GENERIC_CODE)
        return Response({"message": exc.message, "code": code}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"body": exc.detail}
        message, errors = validation_message(detail)
        return Response({"message": message, "errors": errors}, status=422)
    if isinstance(exc, exceptions.ParseError):
        message = f"The request body is not {unreadable_body(context['request'])}."
        return Response({"message": message, "errors": {"body": [message]}}, status=422)
    if isinstance(exc, ApiKeyScopeDenied):
        # Laravel's answer to an authenticated caller that may not do this.
        return Response({"message": "This action is unauthorized."}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed | exceptions.PermissionDenied):
        return Response(
            {"message": "Unauthenticated."},
            status=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if isinstance(exc, exceptions.Throttled):
        headers = {"Retry-After": str(int(exc.wait))} if exc.wait else {}
        return Response({"message": "Too Many Attempts."}, status=429, headers=headers)
    if isinstance(exc, exceptions.APIException):
        return Response({"message": str(exc.detail)}, status=exc.status_code)
    if generic := generic_failure(exc):
        return Response({"message": generic[1]}, status=generic[0])
    logger.exception("Unexpected error in the billing API")
    return Response({"message": "Server Error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
