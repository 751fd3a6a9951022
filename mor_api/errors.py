"""The MOR API's errors: the exact texts of the seed and of each call's wiki page, answered as <error>TEXT</error>."""

import logging

from rest_framework import exceptions

from devices.api.parsers import unreadable_body
from devices.errors import DomainError
from devices.failures import generic_failure
from mor_api.xml import xml_error

logger = logging.getLogger(__name__)

NOT_ALLOWED = "IP address not allowed"  # MOR_API_ALLOWED_IPS: this service's own, before every check
GET_DISABLED = "GET Requests are disabled"
INCORRECT_HASH = "Incorrect hash"
# Each call's page names its own refusal of a caller that may not use it.
DONT_BE_SO_SMART = "Dont be so smart"  # device_create (seed 004)
BAD_LOGIN = "Bad login"  # devices_get
ACCESS_DENIED = "Access Denied"  # device_details_get, device_update, device_delete
USER_NOT_FOUND = "User was not found"  # device_create
USER_NOT_FOUND_SHORT = "User not found"  # devices_get
USER_ID_EMPTY = "user_id is empty"  # devices_get
TYPE_INVALID = "Device type invalid"
GROUP_INVALID = "Device group invalid"
PIN_NOT_NUMERIC = "Pin must be numeric"
PIN_USED = "Pin is already used"
CALLERID_FORBIDDEN = "You are not authorized to manage callerid"
NOT_CREATED = "Device was not created"
NOT_UPDATED = "Device was not updated"
DEVICE_NOT_FOUND = "Device was not found"

CREATED = "Device created"
UPDATED = "Device successfully updated"
DELETED = "Device was deleted"


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
        return xml_error(f"Request body is not {unreadable_body(context['request'])}")
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
