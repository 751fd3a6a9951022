"""The MOR API's errors: the exact texts of the seed, each answered as <error>TEXT</error>."""

import logging

from rest_framework import exceptions

from devices.errors import DomainError
from devices.failures import generic_failure
from mor_api.xml import xml_error

logger = logging.getLogger(__name__)

GET_DISABLED = "GET Requests are disabled"
INCORRECT_HASH = "Incorrect hash"
ACCESS_DENIED = "Dont be so smart"
USER_NOT_FOUND = "User was not found"
TYPE_INVALID = "Device type invalid"
GROUP_INVALID = "Device group invalid"
PIN_NOT_NUMERIC = "Pin must be numeric"
PIN_USED = "Pin is already used"
CALLERID_FORBIDDEN = "You are not authorized to manage callerid"
NOT_CREATED = "Device was not created"
NOT_UPDATED = "Device was not updated"
DEVICE_NOT_FOUND = "Device was not found"


class MorError(Exception):
    def __init__(self, text: str, messages: list[str] | None = None):
        self.text = text
        self.messages = messages or []
        super().__init__(text)


def mor_exception_handler(exc, context):
    if isinstance(exc, MorError):
        return xml_error(exc.text, exc.messages)
    if isinstance(exc, DomainError):
        return xml_error(exc.message)
    if isinstance(exc, exceptions.ParseError):
        return xml_error("Request body is not valid JSON")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return xml_error("Unsupported media type: send form fields or JSON")
    if isinstance(exc, exceptions.MethodNotAllowed):
        return xml_error("Method not allowed: use POST")
    if isinstance(exc, exceptions.Throttled):
        # Still HTTP 200, as every MOR answer; Retry-After says when to come back.
        response = xml_error("Too many requests")
        if exc.wait:
            response["Retry-After"] = str(int(exc.wait))
        return response
    if isinstance(exc, exceptions.APIException):
        return xml_error(str(exc.detail))
    if generic := generic_failure(exc):
        return xml_error(generic[1].rstrip("."))
    logger.exception("Unexpected error in the MOR API")
    return xml_error("Internal error")
