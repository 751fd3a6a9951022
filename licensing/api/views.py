"""The edge-device licensing API (seed 003): thin views over licensing.services."""

import json
import re
import uuid
from http import HTTPStatus

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.api.parsers import SafeJSONParser
from devices.choices import EventSource
from devices.services import Actor
from devices.throttling import ClientIpThrottle
from licensing import services
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
from licensing.errors import (
    BadRequest,
    InvalidToken,
    MissingAuthorization,
    NotVendor,
    Unauthorized,
    Unprocessable,
    WrongCredentials,
    error_body,
    make_exception_handler,
)
from licensing.models import LicenseSession
from licensing.tokens import token_account, token_issue

TAG = "Edge-device licensing"
SESSION_ID = re.compile(r"^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
SERIAL_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
EXAMPLE_SESSION = {"id": "3f0f7a4e-6c1e-4b8e-9d4a-2f1d5c6b7a80", "timestamp": 1704378025}


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

    parser_classes = [SafeJSONParser]
    throttle_classes = [ClientIpThrottle]
    unexpected_reason = "Internal Server Error"
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

    def body(self, serializer_class=None) -> dict:
        data = self.request.data
        if data is None:  # the literal JSON null
            data = {}
        if not isinstance(data, dict):
            raise BadRequest("Invalid request body: expected a JSON object")
        if serializer_class is None:
            return data
        serializer = serializer_class(data=data)
        if not serializer.is_valid():
            path, code = _first_problem(serializer.errors)
            kind = "Missing field" if code in ("required", "null", "blank") else "Invalid field"
            raise BadRequest(f"{kind}: {path}")
        return serializer.validated_data

    def session_id(self, *, required: bool) -> uuid.UUID | None:
        raw = self.request.headers.get("X-Session-Id")
        if raw is None or raw == "":
            if required:
                raise BadRequest("Missing Header: X-Session-Id")
            return None
        if not SESSION_ID.match(raw):
            raise BadRequest("Invalid Header: X-Session-Id")
        return uuid.UUID(raw)

    def bearer_token(self) -> str | None:
        header = self.request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken()
        return token.strip()

    def ok(self, data, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(
            {"data": data, "statusCode": http_status, "statusText": HTTPStatus(http_status).phrase}, status=http_status
        )


class LoginView(LicensingAPIView):
    @extend_schema(
        operation_id="licensing_login",
        tags=[TAG],
        summary="Log in",
        description="Exchange an account's login and password for a signed, expiring bearer token.",
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


AUTH_PARAM = OpenApiParameter(
    "Authorization",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="`Bearer <token>` from the login: activation from the account's pool of license keys.",
)


class ActivateView(LicensingAPIView):
    unexpected_reason = "Could not validate device activation"

    @extend_schema(
        operation_id="licensing_activate",
        tags=[TAG],
        summary="Activate license",
        description=(
            "Activate a device with a license key (or a registered device's serial number), or with no key and a "
            "bearer token, from the account's pool. The body may be empty, `{}` or `null`. Send the `X-Session-Id` "
            "you were given to learn that the device is already active (204)."
        ),
        parameters=[
            SESSION_HEADER_OUT,
            AUTH_PARAM,
            OpenApiParameter(
                "X-Session-Id",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="A lower-case UUID: the session id of an earlier activation, if one is known.",
                pattern=SESSION_ID.pattern,
            ),
        ],
        request=LicenseActivateInputSerializer,
        examples=[OpenApiExample("With a key", value={"licenseKey": "ABCDE-FGHIJ-KLMNO-PQRST"}, request_only=True)],
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
            204: OpenApiResponse(description="Device already active (the X-Session-Id sent is an active session)."),
            400: _errors(
                "A malformed X-Session-Id or body.", _error("Bad header", 400, "Invalid Header: X-Session-Id")
            ),
            403: _errors(
                "The activation is refused.",
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
            activation = services.license_activate_by_key(
                key=key.strip(), session_id=session_id, actor=Actor(source=EventSource.LICENSING, name="license key")
            )
        else:
            token = self.bearer_token()
            if token is None:
                raise MissingAuthorization()
            account = token_account(token=token)
            if account is None:
                raise InvalidToken()
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
            "Whether the session is valid now: not ended, its license neither revoked nor expired, its device "
            "active and not banned. An unknown session is simply not valid."
        ),
        parameters=[
            OpenApiParameter(
                "X-Session-Id",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="The session id (a lower-case UUID).",
                pattern=SESSION_ID.pattern,
            )
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


class DeviceLicenseView(LicensingAPIView):
    @extend_schema(
        operation_id="licensing_device_license_register",
        tags=[TAG],
        summary="Register a device license",
        description=(
            "A vendor registers a license for one device's serial number; the device then activates by sending "
            "that serial number as `licenseKey`. Needs a vendor account's bearer token."
        ),
        parameters=[
            OpenApiParameter(
                "Authorization",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="`Bearer <token>` of a vendor account.",
            )
        ],
        request=DeviceLicenseInputSerializer,
        examples=[
            OpenApiExample(
                "Request",
                value={
                    "manufacturer": {"name": "ACME", "id": "acme"},
                    "model": "Edge 1000",
                    "serial_number": "SN-0001",
                    "manufacture_date": "2024-05-01",
                },
                request_only=True,
            )
        ],
        responses={
            201: OpenApiResponse(
                DeviceLicenseResponseSerializer,
                examples=[
                    OpenApiExample(
                        "Registered",
                        value={
                            "data": {
                                "serial_number": "SN-0001",
                                "manufacturer": {"name": "ACME", "id": "acme"},
                                "model": "Edge 1000",
                                "manufacture_date": "2024-05-01",
                                "created_at": "2024-05-02T10:00:00Z",
                                "status": "registered",
                            },
                            "statusCode": 201,
                            "statusText": "Created",
                        },
                    )
                ],
            ),
            400: _errors("A field is missing or has the wrong type.", _error("Missing", 400, "Missing field: model")),
            401: _errors("No token, or a bad or expired one.", _error("Bad token", 401, "Invalid token")),
            403: _errors("The account is not a vendor.", _error("Not a vendor", 403, NotVendor.reason)),
            422: _errors(
                "The serial number is invalid or registered already.",
                _error("Invalid", 422, "Invalid serial number"),
                _error("Duplicate", 422, "Serial number already registered"),
            ),
        },
    )
    def post(self, request):
        try:
            token = self.bearer_token()
        except InvalidToken as exc:
            raise Unauthorized() from exc
        vendor = token_account(token=token) if token else None
        if vendor is None:
            raise Unauthorized()
        if not vendor.is_vendor:
            raise NotVendor()
        values = self.body(DeviceLicenseInputSerializer)
        if not SERIAL_NUMBER.match(values["serial_number"]):
            raise Unprocessable("Invalid serial number")
        registered = services.device_license_register(
            vendor=vendor,
            manufacturer_name=values["manufacturer"]["name"],
            manufacturer_id=values["manufacturer"]["id"],
            model=values["model"],
            serial_number=values["serial_number"],
            manufacture_date=values["manufacture_date"],
        )
        return self.ok(
            {
                "serial_number": registered.serial_number,
                "manufacturer": {"name": registered.manufacturer_name, "id": registered.manufacturer_id},
                "model": registered.model,
                "manufacture_date": registered.manufacture_date.isoformat(),
                "created_at": registered.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "status": "registered",
            },
            status.HTTP_201_CREATED,
        )
