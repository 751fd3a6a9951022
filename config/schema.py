"""OpenAPI post-processing: the failures every operation can answer, each in its protocol's format."""

# Status -> what it means; every operation documents these on top of its own answers.
GENERIC_FAILURES = {
    "413": "The request body is larger than the service accepts.",
    "415": "The body's content type is not one the operation reads.",
    "429": "Too many requests from this client; retry after the Retry-After header's seconds.",
    "503": "The database is unreachable; the request changed nothing and may be retried.",
}


def _error_content(path: str) -> dict | None:
    if path.startswith("/billing/api/"):
        return None  # the MOR API answers these with HTTP 200 and an <error>, like every other answer
    if path.startswith(("/api/v2/device/license", "/api/v2/auth")):
        return {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if path.startswith("/api/manage/"):
        return {"application/json": {"schema": {"$ref": "#/components/schemas/ManageError"}}}
    if path.startswith("/api/v1/billing/"):
        return {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}}
    if path.startswith(("/api/v2/device", "/api/base")):
        return {"application/json": {"schema": {"$ref": "#/components/schemas/RegistryErrorEnvelope"}}}
    return None


def _never_answered(path: str, operation: dict) -> set[str]:
    # The licensing API reads every body as JSON whatever its content type (licensing.api.parsers): never a 415.
    if path.startswith(("/api/v2/device/license", "/api/v2/auth")):
        return {"415"}
    # The management API parses a body only where an operation takes one (a webhook's).
    if path.startswith("/api/manage/") and "requestBody" not in operation:
        return {"415"}
    return set()


def document_generic_failures(result, generator, request, public):
    for path, operations in result.get("paths", {}).items():
        content = _error_content(path)
        if content is None:
            continue
        for operation in operations.values():
            skipped = _never_answered(path, operation)
            for status, description in GENERIC_FAILURES.items():
                if status not in skipped:
                    operation["responses"].setdefault(status, {"description": description, "content": content})
    return result
