"""The Idempotency-Key header on a protocol's state-changing view: one mixin, in front of the view's own code."""

import hashlib
import json
import re

from django.db import transaction
from django.http import HttpResponse

from idempotency.services import record_claim, record_store

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# 1 to 255 printable ASCII characters (a UUID is the usual choice).
KEY = re.compile(r"[\x20-\x7e]{1,255}")
# Besides every 5xx, answers a retry must not see again: the request may succeed next time. Everything else (a
# success, a domain refusal, a validation error) is stored and replayed.
NOT_STORED = (429,)


class IdempotentMixin:
    """Put before a protocol's base APIView: POST with an `Idempotency-Key` runs once per key.

    Without the header the view is exactly as before (no query, no transaction).
    With it, after authentication, permissions and throttles, the request runs
    in one transaction that first claims (identity, key): a retry of the same
    request gets the first answer again with `Idempotent-Replayed: true`, and
    a retry that arrives while the first still runs waits for it, then gets
    its answer. A 5xx or a 429 is rolled back and not stored: a retry runs
    again. The same key with another request is refused, as is a malformed key.
    The view's code and the services it calls are unchanged.
    """

    # Response headers replayed with the stored body.
    idempotency_replayed_headers: tuple[str, ...] = ("Content-Type",)
    # Request headers the answer depends on, hashed with the method, the path and the body.
    idempotency_hashed_headers: tuple[str, ...] = ()

    def idempotency_identity(self, request) -> str:
        """Whose key this is: a key is unique per identity."""
        raise NotImplementedError

    def idempotency_refusal(self, *, reused: bool) -> Exception:
        """The protocol's exception for a malformed key, or (reused) a key sent before with another request."""
        raise NotImplementedError

    def idempotency_canonical_body(self, data):
        """The parsed body as it is hashed; two bodies the view reads the same way should hash the same."""
        return data

    def dispatch(self, request, *args, **kwargs):
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if key is None or request.method != "POST":  # another method is refused as it is without the header
            return super().dispatch(request, *args, **kwargs)
        return self._dispatch_once(key, request, *args, **kwargs)

    def _dispatch_once(self, key: str, request, *args, **kwargs):
        # APIView.dispatch, with the key claimed between the checks (initial) and the handler.
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            if not KEY.fullmatch(key):
                raise self.idempotency_refusal(reused=False)
            request_hash = self._request_hash(request)
            identity = self.idempotency_identity(request)
        except Exception as exc:
            self.response = self.finalize_response(request, self.handle_exception(exc), *args, **kwargs)
            return self.response
        with transaction.atomic():
            record, mine = record_claim(identity=identity, key=key, request_hash=request_hash)
            if not mine:
                if record.request_hash != request_hash:
                    response = self.handle_exception(self.idempotency_refusal(reused=True))
                else:
                    response = _replay(record)
                self.response = self.finalize_response(request, response, *args, **kwargs)
                return self.response
            handler = getattr(self, request.method.lower(), self.http_method_not_allowed)
            try:
                response = handler(request, *args, **kwargs)
            except Exception as exc:
                response = self.handle_exception(exc)
            response = self.finalize_response(request, response, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
            connection = transaction.get_connection()
            if response.status_code >= 500 or response.status_code in NOT_STORED or connection.needs_rollback:
                transaction.set_rollback(True)
            else:
                headers = {name: response[name] for name in self.idempotency_replayed_headers if name in response}
                record_store(record=record, status=response.status_code, headers=headers, body=response.content)
        self.response = response
        return response

    def _request_hash(self, request) -> str:
        body = json.dumps(
            self.idempotency_canonical_body(request.data), sort_keys=True, separators=(",", ":"), default=str
        )
        parts = [request.method, request.path, body]
        parts += [f"{name}: {request.headers.get(name, '')}" for name in self.idempotency_hashed_headers]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _replay(record) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status)
    if "Content-Type" not in record.headers:
        del response["Content-Type"]  # a 204 has none
    for name, value in record.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response
