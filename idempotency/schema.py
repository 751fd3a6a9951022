"""How /api/docs/ shows the Idempotency-Key header and the replay header on an operation."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter

from idempotency.views import HEADER, REPLAYED_HEADER

EXAMPLE_KEY = "4e1b3c7a-9f0d-4a59-b2a6-8f3e5d1c2b70"


def idempotency_parameters(*, identity: str, refusal: str, replayed: list[int]) -> list[OpenApiParameter]:
    """The request header (whose key it is, how a bad one is refused) and the response header on the answers
    that can be replayed (`replayed`: the operation's success and refusals, not 401, 403 or 429)."""
    return [
        OpenApiParameter(
            HEADER,
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            required=False,
            description=(
                "Optional: makes a retry safe. Send a new value (a UUID) with each operation and the same value "
                f"when you retry it; keys are per {identity}. The first answer (status, body, headers) is kept for "
                "24 hours: a retry with the same key and the same request gets that answer again, with "
                f"`{REPLAYED_HEADER}: true`, and changes nothing twice, even while the first request is still running "
                "(the retry waits for it). Server errors (5xx) and 429s are not kept: a retry runs again. "
                f"The same key with another body is {refusal}, as is a key that is not 1 to 255 printable ASCII "
                "characters."
            ),
            examples=[OpenApiExample("A new UUID per operation", value=EXAMPLE_KEY)],
        ),
        OpenApiParameter(
            REPLAYED_HEADER,
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            response=replayed,
            description=f"`true` when this is the stored answer to an earlier request with the same `{HEADER}`.",
            enum=["true"],
        ),
    ]
