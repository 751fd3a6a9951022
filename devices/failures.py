"""Failures that are no protocol's business: every protocol reports them alike, in its own format."""

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)


def generic_failure(exc: Exception) -> tuple[int, str] | None:
    """(HTTP status, message) for an oversized or suspicious request or an unreachable database."""
    if isinstance(exc, RequestDataTooBig):
        return 413, "The request body is too large."
    if isinstance(exc, SuspiciousOperation):
        return 400, "The request was refused."
    if isinstance(exc, OperationalError | InterfaceError):
        # Retryable: the request changed nothing (its transaction, if any, was rolled back).
        logger.warning("Database unavailable: %s", exc)
        return 503, "Service temporarily unavailable."
    return None
