"""The edge-device licensing API (seed 003): thin views over licensing.services."""

import json
import re
import uuid
from http import HTTPStatus

from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.api.base import HTTP_METHODS_BUT_OPTIONS
from devices.choices import EventSource
from devices.client_ip import client_ip
from devices.services import Actor
from devices.throttling import ClientIpThrottle, failures_limited, login_ident
from idempotency.schema import idempotency_parameters
from idempotency.views import IdempotentMixin
from licensing import services
from licensing.api.parsers import AnyContentTypeJSONParser
from licensing.api.schema import LicensingAutoSchema
from licensing.api.serializers import (
    ActivateResponseSerializer,
    DeviceLicenseInputSerializer,
    DeviceLicenseResponseSerializer,
    ErrorSerializer,
    LicenseActivateInputSerializer,
    LoginInputSerializer,
    LoginResponseSerializer,
    ValidateResponseSerializer,
)
from licensing.authentication import LicensingTokenAuthentication
from licensing.errors import (
    BadRequest,
    InvalidToken,
    LicenseNotFound,
    MissingAuthorization,
    NotVendor,
    Unauthorized,
    Unprocessable,
    WrongCredentials,
    error_body,
    make_exception_handler,
)
from licensing.models import DeviceLicenseStatus, LicenseSession
from licensing.tokens import token_issue

TAG = "Edge-device licensing"
SESSION_ID = re.compile(r"^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
SERIAL_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
EXAMPLE_SESSION = {"id": "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80", "timestamp": 1704378025}
# What a device license's integer status means, for the docs.
DEVICE_LICENSE_STATUSES = [
    (choice.value, choice.label, meaning)
    for choice, meaning in [
        (DeviceLicenseStatus.REGISTERED, "no device holds it: the serial number can activate one"),
        (DeviceLicenseStatus.ACTIVATED, "a device activated with it and its session has not ended"),
        (DeviceLicenseStatus.REVOKED, "revoked by an operator, or expired: it activates nothing"),
    ]
]


def _error(name: str, status_code: int, reason: str) -> OpenApiExample:
    return OpenApiExample(name, value=error_body(status_code, reason))


def _errors(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description, examples=list(examples))


SESSION_HEADER_OUT = OpenApiParameter(
    "X-Session-Id",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 204],
    description='The session as compact JSON, e.g. {"id":"…","timestamp":1704378025}, whenever one is known.',
)


def _first_problem(detail, path: str = "") -> tuple[str, str]:
    """The path and code of the first error in a (nested) DRF error detail."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            sub = (
                f"{path}.{key}" if path and key != "non_field_errors" else (key if key != "non_field_errors" else path)
            )
            return _first_problem(value, sub)
    if isinstance(detail, list) and detail:
        return _first_problem(detail[0], path)
    return path, getattr(detail, "code", "invalid")


class LicensingAPIView(APIView):
    """Base of the licensing views: the FLECS error body and the X-Session-Id response header."""

    http_method_names = HTTP_METHODS_BUT_OPTIONS
    # Every body is read as JSON whatever its Content-Type (the C++ runtime sends a form type or none).
    parser_classes = [AnyContentTypeJSONParser]
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "licensing"
    schema = LicensingAutoSchema()
    unexpected_reason = "Internal Server Error"
    # A field that fails the view's input serializer is a 400 naming it by its path (manufacturer.name).
    missing_field = "Missing field: {path}"
    invalid_field = "Invalid field: {path}"
    session: LicenseSession | None = None

    def get_exception_handler(self):
        return make_exception_handler(self.unexpected_reason)

    @property
    def session_headers(self) -> dict:
        if self.session is None:
            return {}
        value = json.dumps({"id": str(self.session.id), "timestamp": self.session.timestamp}, separators=(",", ":"))
        return {"X-Session-Id": value}

    def finalize_response(self, request, response, *args, **kwargs):
        for name, value in self.session_headers.items():
            response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)

    def perform_authentication(self, request):
        # Lazy: a view reads request.auth only when it needs the token (an activation by key never does).
        pass

    def body(self, serializer_class=None) -> dict:
        data = self.request.data
        # The literal JSON null, or no body at all: DRF gives an empty QueryDict for an empty body with a form
        # content type (as the C++ runtime posts the user-license activation), without asking a parser.
        if data is None or isinstance(data, QueryDict):
            data = {}
        if not isinstance(data, dict):
            raise BadRequest("Invalid request body: expected a JSON object")
        if serializer_class is None:
            return data
        serializer = serializer_class(data=data)
        if not serializer.is_valid():
            path, code = _first_problem(serializer.errors)
            template = self.missing_field if code in ("required", "null", "blank") else self.invalid_field
            raise BadRequest(template.format(path=path))
        return serializer.validated_data

    def session_id(self, *, required: bool) -> uuid.UUID | None:
        raw = self.request.headers.get("X-Session-Id")
        if raw is None or raw == "":
            if required:
                raise BadRequest("Missing Header: X-Session-Id")
            return None
        # fullmatch: `$` would let a trailing newline through to uuid.UUID.
        if not SESSION_ID.fullmatch(raw):
            raise BadRequest("Invalid Header: X-Session-Id")
        return uuid.UUID(raw)

    def ok(self, data, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(
            {"data": data, "statusCode": http_status, "statusText": HTTPStatus(http_status).phrase}, status=http_status
        )


class LoginView(LicensingAPIView):
    @extend_schema(
        operation_id="licensing_login",
        tags=[TAG],
        summary="Log in",
        description=(
            "Exchange an account's login and password for a signed, expiring bearer token. The token ends when the "
            "account's password is set again, and is refused while the account is blocked or deleted.\n\n"
            "Wrong passwords are limited per login and per client ip, apart from the requests: past either limit "
            "the answer is a 429 until its window ends (`Retry-After`), even for the right password."
        ),
        request=LoginInputSerializer,
        examples=[
            OpenApiExample(
                "Request",
                value={"username": "user@mail.com", "password": "password", "issueJWT": True},
                request_only=True,
            )
        ],
        responses={
            200: OpenApiResponse(
                LoginResponseSerializer,
                examples=[
                    OpenApiExample(
                        "Logged in",
                        value={
                            "data": {
                                "jwt": {"token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI...", "token_expires": 1704378025},
                                "user": {
                                    "ID": 6,
                                    "display_name": "user",
                                    "user_email": "user@mail.com",
                                    "user_login": "user@mail.com",
                                },
                                "feature_flags": {"isVendor": False, "isWhitelabeled": False},
                            },
                            "statusCode": 200,
                            "statusText": "OK",
                        },
                    )
                ],
            ),
            400: _errors(
                "A field is missing or has the wrong type.", _error("Missing field", 400, "Missing field: password")
            ),
            403: _errors("Wrong login or password.", _error("Wrong credentials", 403, WrongCredentials.reason)),
        },
    )
    def post(self, request):
        values = self.body(LoginInputSerializer)
        # Wrong passwords are limited per login and per ip, apart from the requests: each costs a hash.
        limits = [("login_failures", login_ident(values["username"])), ("login_failures_ip", client_ip(request))]
        with failures_limited(*limits, failure=WrongCredentials):
            account = services.account_authenticate(username=values["username"], password=values["password"])
            if account is None:
                raise WrongCredentials()
        jwt = None
        if values["issueJWT"]:
            token, expires = token_issue(account=account)
            jwt = {"token": token, "token_expires": expires}
        return self.ok(
            {
                "jwt": jwt,
                "user": {
                    "ID": account.pk,
                    "display_name": account.name or account.login,
                    "user_email": account.login if "@" in account.login else "",
                    "user_login": account.login,
                },
                "feature_flags": {"isVendor": account.is_vendor, "isWhitelabeled": False},
            }
        )


IDEMPOTENCY_INVALID = "Invalid Header: Idempotency-Key"
IDEMPOTENCY_REUSED = "Idempotency-Key already used with another request"


class ActivateView(IdempotentMixin, LicensingAPIView):
    authentication_classes = [LicensingTokenAuthentication]
    unexpected_reason = "Could not validate device activation"
    # The answer depends on the X-Session-Id sent (204 for an active session) and carries the session in its own.
    idempotency_hashed_headers = ("X-Session-Id",)
    idempotency_replayed_headers = ("Content-Type", "X-Session-Id")

    def idempotency_identity(self, request) -> str:
        # The bearer token's account when a valid token is sent, else the client ip. A bad token is not refused
        # here: an activation by key ignores the token, as without the header.
        if request.headers.get("Authorization"):
            try:
                account = request.auth
            except InvalidToken:
                account = None
            if account is not None:
                return f"account:{account.pk}"
        return f"ip:{client_ip(request)}"

    def idempotency_refusal(self, *, reused: bool) -> Exception:
        return BadRequest(IDEMPOTENCY_REUSED if reused else IDEMPOTENCY_INVALID)

    def idempotency_canonical_body(self, data):
        # No body, `null` and `{}` are the same request (self.body()).
        return {} if data is None or isinstance(data, QueryDict) else data

    @extend_schema(
        operation_id="licensing_activate",
        tags=[TAG],
        summary="Activate license",
        description=(
            "Activate device via user license or device serial number (the console's words): with a license key, "
            "or a registered device's serial number, as `licenseKey`; or with no key and the login's bearer token "
            "(security scheme `LicensingToken`), from the account's pool. A non-empty `licenseKey` is used even when "
            "a token is sent too.\n\n"
            "The body is read as JSON whatever the `Content-Type` says: the FLECS C++ runtime (3.x) posts "
            '`{"licenseKey":"…"}` with libcurl\'s default `application/x-www-form-urlencoded`, and no body at all '
            "for the user license; the Rust runtime posts `application/json`, and the literal `null` for the user "
            "license. No body, `{}` and `null` all mean no key. A body that is not JSON, or JSON that is not an "
            "object, is a 400.\n\n"
            "A `licenseKey` that is found nowhere counts against a low limit per client ip (serial numbers can be "
            "guessed): past it, every activation by key from that ip is a 429 until the window ends.\n\n"
            "Send the `X-Session-Id` you were given (the bare id) to learn that the device is already active (204). "
            'Every answer that knows a session carries it in the `X-Session-Id` header as `{"id":…,"timestamp":…}`.'
        ),
        parameters=[
            SESSION_HEADER_OUT,
            OpenApiParameter(
                "X-Session-Id",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="Leave out if no sessionId is known. The bare id of an earlier session, a lower-case UUID.",
                pattern=SESSION_ID.pattern,
            ),
            *idempotency_parameters(
                identity="bearer token's account (per client ip without a valid token)",
                refusal="a 400",
                replayed=[200, 204, 400, 403],
            ),
        ],
        request=LicenseActivateInputSerializer,
        examples=[
            OpenApiExample("With a license key", value={"licenseKey": "ABCDE-FGHIJ-KLMNO-PQRST"}, request_only=True),
            OpenApiExample(
                "With a registered device's serial number", value={"licenseKey": "SN123456789"}, request_only=True
            ),
            OpenApiExample(
                "User license",
                description="No key: send the login's bearer token. The Rust runtime sends `null`, the C++ runtime "
                "no body at all; `{}` is the same.",
                value={},
                request_only=True,
            ),
        ],
        responses={
            200: OpenApiResponse(
                ActivateResponseSerializer,
                description="Device successfully activated.",
                examples=[
                    OpenApiExample(
                        "Activated",
                        value={
                            "data": {"sessionId": EXAMPLE_SESSION, "licenseKey": "ABCDE-FGHIJ-KLMNO-PQRST"},
                            "statusCode": 200,
                            "statusText": "OK",
                        },
                    )
                ],
            ),
            204: OpenApiResponse(
                description="Device already active (the X-Session-Id sent is an active session of this license); "
                "the session is in the X-Session-Id header."
            ),
            400: _errors(
                "A malformed X-Session-Id or body.",
                _error("Bad header", 400, "Invalid Header: X-Session-Id"),
                _error("Not JSON", 400, "Invalid request body: not valid JSON"),
                _error("Not an object", 400, "Invalid request body: expected a JSON object"),
                _error("Idempotency-Key reused", 400, IDEMPOTENCY_REUSED),
            ),
            403: _errors(
                "Forbidden, e.g. no user license available.",
                _error("No key, no token", 403, "Missing Header: Authorization"),
                _error("Unknown key", 403, "License not found"),
                _error("Revoked or expired", 403, "License found but invalid"),
                _error("Used up", 403, "License found but maximum activations reached"),
                _error("Pool empty", 403, "No remaining activations"),
                _error("Bad token", 403, "Invalid token"),
            ),
            500: _errors("Anything unexpected.", _error("Unexpected", 500, "Could not validate device activation")),
        },
    )
    def post(self, request):
        session_id = self.session_id(required=False)
        key = self.body(LicenseActivateInputSerializer).get("licenseKey") or ""
        if key:
            # Serial numbers are keys too and can be guessed: unknown keys are limited per ip.
            with failures_limited(("license_lookup_failures", client_ip(request)), failure=LicenseNotFound):
                activation = services.license_activate_by_key(
                    key=key.strip(),
                    session_id=session_id,
                    actor=Actor(source=EventSource.LICENSING, name="license key"),
                )
        else:
            account = request.auth  # InvalidToken for a bad one
            if account is None:
                raise MissingAuthorization()
            activation = services.license_activate_from_pool(
                account=account, session_id=session_id, actor=Actor(source=EventSource.LICENSING, name=account.login)
            )
        self.session = activation.session
        if not activation.created:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self.ok(
            {
                "sessionId": {"id": str(self.session.id), "timestamp": self.session.timestamp},
                "licenseKey": self.session.license.key,
            }
        )


class ValidateView(LicensingAPIView):
    unexpected_reason = "Could not validate device activation"

    @extend_schema(
        operation_id="licensing_validate",
        tags=[TAG],
        summary="Validate license",
        description=(
            "Validate the device license based on the session id (the console's words): whether the session is "
            "valid now: not ended, its license neither revoked nor expired, its device active and not banned. An "
            "unknown session is simply not valid. Both FLECS runtimes post no body (the C++ runtime with a form "
            "`Content-Type`, the Rust runtime with none); a body, of any type, is ignored."
        ),
        parameters=[
            OpenApiParameter(
                "X-Session-Id",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="The bare session id (a lower-case UUID), as both runtimes send it.",
                pattern=SESSION_ID.pattern,
            ),
            OpenApiParameter(
                "X-Session-Id",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200],
                description='The session as compact JSON, e.g. {"id":"…","timestamp":1704378025}, when it exists.',
            ),
        ],
        request=None,
        responses={
            200: OpenApiResponse(
                ValidateResponseSerializer,
                examples=[
                    OpenApiExample("Valid", value={"data": {"isValid": True}, "statusCode": 200, "statusText": "OK"})
                ],
            ),
            400: _errors(
                "The X-Session-Id header is missing or malformed.",
                _error("Missing", 400, "Missing Header: X-Session-Id"),
                _error("Malformed", 400, "Invalid Header: X-Session-Id"),
            ),
            500: _errors("Anything unexpected.", _error("Unexpected", 500, "Could not validate device activation")),
        },
    )
    def post(self, request):
        session, valid = services.license_validate(session_id=self.session_id(required=True))
        self.session = session
        return self.ok({"isValid": valid})


REGISTRATION_EXAMPLE = {
    "manufacturer": {"name": "Example Manufacturer", "id": 791},
    "model": "IPC-xyz",
    "serial_number": "SN123456789",
    "manufacture_date": "2025-01-01",
}


class DeviceLicenseView(LicensingAPIView):
    authentication_classes = [LicensingTokenAuthentication]
    token_required = True  # the schema shows the token as required (LicensingAutoSchema)
    # The texts of the console's OpenAPI document (FLECS-Technologies/flecs-console-api, api/openapi.yaml).
    missing_field = "Invalid payload: missing required field '{path}'"
    invalid_field = "Invalid payload: invalid field '{path}'"
    unexpected_reason = "Could not register device license"

    @extend_schema(
        operation_id="licensing_device_license_register",
        tags=[TAG],
        summary="Register device license",
        description=(
            "Register a new device license with manufacturer and device details (the console's words). A vendor "
            "account's bearer token (security scheme `LicensingToken`) registers a license for one device's serial "
            "number; the device then activates by sending that serial number as `licenseKey`.\n\n"
            "`manufacturer.id` is an integer, as in the console's document (example 791); a string of decimal "
            'digits ("791") is read as that integer, any other string is a 400.\n\n'
            "`status` in the answer is an integer:\n\n"
            + "\n".join(f"- `{value}` {label}: {meaning}" for value, label, meaning in DEVICE_LICENSE_STATUSES)
            + "\n\nA new registration is always `0`; the admin shows the same codes for every device license."
        ),
        request=DeviceLicenseInputSerializer,
        examples=[OpenApiExample("Request", value=REGISTRATION_EXAMPLE, request_only=True)],
        responses={
            201: OpenApiResponse(
                DeviceLicenseResponseSerializer,
                description="Device license created successfully.",
                examples=[
                    OpenApiExample(
                        "Registered",
                        value={
                            "data": {
                                **REGISTRATION_EXAMPLE,
                                "created_at": "2025-07-28T10:30:00.000Z",
                                "status": DeviceLicenseStatus.REGISTERED,
                            },
                            "statusCode": 201,
                            "statusText": "Created",
                        },
                    )
                ],
            ),
            400: _errors(
                "Bad request - invalid payload: a field is missing or has the wrong type.",
                _error("Missing", 400, "Invalid payload: missing required field 'serial_number'"),
                _error("Wrong type", 400, "Invalid payload: invalid field 'manufacturer.id'"),
            ),
            401: _errors(
                "Unauthorized - invalid or missing bearer token.",
                _error("Bad token", 401, "Invalid or missing bearer token"),
            ),
            403: _errors("The account is not a vendor.", _error("Not a vendor", 403, NotVendor.reason)),
            422: _errors(
                "Unprocessable entity: the serial number is invalid or registered already.",
                _error("Invalid", 422, "Invalid serial number format"),
                _error("Duplicate", 422, "Serial number already registered"),
            ),
            500: _errors("Anything unexpected.", _error("Unexpected", 500, "Could not register device license")),
        },
    )
    def post(self, request):
        try:
            vendor = request.auth
        except InvalidToken as exc:
            raise Unauthorized() from exc
        if vendor is None:
            raise Unauthorized()
        if not vendor.is_vendor:
            raise NotVendor()
        values = self.body(DeviceLicenseInputSerializer)
        if not SERIAL_NUMBER.fullmatch(values["serial_number"]):
            raise Unprocessable("Invalid serial number format")
        manufacturer_id = values["manufacturer"]["id"]
        registered = services.device_license_register(
            vendor=vendor,
            manufacturer_name=values["manufacturer"]["name"],
            manufacturer_id=str(manufacturer_id),  # a text column: rows from before the integer type keep theirs
            model=values["model"],
            serial_number=values["serial_number"],
            manufacture_date=values["manufacture_date"],
        )
        created_at = registered.created_at
        return self.ok(
            {
                "serial_number": registered.serial_number,
                "manufacturer": {"name": registered.manufacturer_name, "id": manufacturer_id},
                "model": registered.model,
                "manufacture_date": registered.manufacture_date.isoformat(),
                # UTC with milliseconds, as the console's example: 2025-07-28T10:30:00.000Z
                "created_at": f"{created_at:%Y-%m-%dT%H:%M:%S}.{created_at.microsecond // 1000:03d}Z",
                "status": registered.status,
            },
            status.HTTP_201_CREATED,
        )
