"""Cursor pagination: each page is one indexed range scan, as fast on the millionth row as on the first."""

from urllib import parse

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from manage_api.api.examples import NEXT
from manage_api.errors import InvalidCursor


def _an_id(position: str) -> bool:
    return position.isascii() and position.isdigit() and int(position) < 2**63


class ManageCursorPagination(CursorPagination):
    """`{"next", "previous", "results"}`; `limit` rows a page (50, at most 500).

    The ordering is a column with an index (the primary key, or an event's
    time), so a page reads only its rows: no OFFSET, no COUNT.
    """

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
    page_size_query_description = "Rows a page: 50 unless said, at most 500."
    cursor_query_description = "The `next` or `previous` link's cursor; none for the first page."
    # By id, events too: a cursor's position must be unique, and a bulk batch writes its thousands of events at
    # one time (DRF pages through equal positions with an OFFSET it caps at 1,000, so a long run of equal times
    # would repeat a page for ever). One device's events are served by event_device_id_idx.
    ordering = "-id"
    valid_position = staticmethod(_an_id)
    example_next = NEXT

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The next page; null on the last.", "example": self.example_next},
                "previous": {**link, "description": "The page before; null on the first.", "example": None},
                "results": schema,
            },
        }

    def decode_cursor(self, request):
        # DRF answers a cursor it can't read with a 404, and one whose position is not the column's type with
        # the database's error: either is the caller's mistake, a 400. DRF also reads past what it doesn't know
        # (characters base64 doesn't have, tokens no cursor has): a cursor must be encoded again as it was sent.
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise InvalidCursor() from exc
        if cursor is None:
            return None
        again = parse.parse_qs(parse.urlsplit(self.encode_cursor(cursor)).query).get(self.cursor_query_param, [""])
        if again[0] != request.query_params[self.cursor_query_param]:
            raise InvalidCursor()
        if cursor.position is not None and not self.valid_position(cursor.position):
            raise InvalidCursor()
        return cursor
