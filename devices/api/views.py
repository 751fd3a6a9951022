"""The client device registry (seed 002): every answer in the seed's envelope."""

import logging
import time

from constance import config
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.api.base import HTTP_METHODS_BUT_OPTIONS
from devices.api.fields import validation_message
from devices.api.parsers import unreadable_body
from devices.api.serializers import (
    ConfigsEnvelopeSerializer,
    DeviceActivityInputSerializer,
    DeviceEnvelopeSerializer,
    DeviceRegisterInputSerializer,
    ErrorEnvelopeSerializer,
    MacAddressInputSerializer,
)
from devices.choices import EventSource
from devices.client_ip import client_ip
from devices.errors import DeviceNotFound, DomainError
from devices.failures import generic_failure
from devices.selectors import device_by_mac
from devices.services import Actor, device_activity_record, device_register_client
from devices.throttling import ClientIpThrottle

logger = logging.getLogger(__name__)

# The family's error codes, in `message`: the app shows a black screen for the first, and adds the device
# (POST /api/v2/device) on the second.
BANNED = "device_banned"
NOT_FOUND = "device_not_found"


class RegistryAPIView(APIView):
    """Base of the registry's views: the envelope on every answer, errors included."""

    http_method_names = HTTP_METHODS_BUT_OPTIONS
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "registry"

    def initialize_request(self, request, *args, **kwargs):
        self.started_at = time.perf_counter()
        return super().initialize_request(request, *args, **kwargs)

    def envelope(self, http_status: int, message: str, data, errors: dict | None = None) -> Response:
        body = {
            "status": http_status,
            "timestamp": int(time.time()),
            "time": round(time.perf_counter() - getattr(self, "started_at", time.perf_counter()), 3),
            "ip": client_ip(self.request),
            "message": message,
            "data": data,
        }
        if errors is not None:
            body["errors"] = errors
        return Response(body, status=http_status)

    def validated(self, serializer_class) -> dict:
        if not isinstance(self.request.data, dict):
            raise exceptions.ValidationError({"body": ["The request body must be a JSON object."]})
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def device_answer(self, device) -> Response:
        """The device's data; while bans are enforced a banned device gets 400 device_banned (as every error)."""
        data = {"mac_address": device.mac, "status": 1, "ban_status": int(device.is_banned)}
        if device.is_banned and config.DEVICE_MANAGEMENT:
            return self.envelope(status.HTTP_400_BAD_REQUEST, BANNED, data)
        return self.envelope(status.HTTP_200_OK, "Success", data)

    def device_of(self, mac: str):
        device = device_by_mac(mac)
        if device is None:
            raise DeviceNotFound()
        return device

    def get_exception_handler(self):
        return self.handle_registry_exception

    def handle_registry_exception(self, exc, context):
        if isinstance(exc, exceptions.ValidationError):
            detail = exc.detail if isinstance(exc.detail, dict) else {"body": exc.detail}
            message, errors = validation_message(detail)
            return self.envelope(status.HTTP_400_BAD_REQUEST, message, None, errors)
        if isinstance(exc, exceptions.ParseError):
            message = f"The request body is not {unreadable_body(context['request'])}."
            return self.envelope(status.HTTP_400_BAD_REQUEST, message, None, {"body": [str(exc.detail)]})
        if isinstance(exc, exceptions.Throttled):
            response = self.envelope(exc.status_code, "Too many requests.", None)
            if exc.wait:
                response["Retry-After"] = str(int(exc.wait))
            return response
        if isinstance(exc, exceptions.APIException):
            return self.envelope(exc.status_code, str(exc.detail), None)
        if isinstance(exc, DeviceNotFound):
            return self.envelope(status.HTTP_400_BAD_REQUEST, NOT_FOUND, None)
        if isinstance(exc, DomainError):
            return self.envelope(status.HTTP_400_BAD_REQUEST, exc.message, None, {"mac_address": [exc.message]})
        if generic := generic_failure(exc):
            return self.envelope(generic[0], generic[1], None)
        logger.exception("Unexpected error in the client device registry")
        return self.envelope(status.HTTP_500_INTERNAL_SERVER_ERROR, "Server error.", None)


def _public_value(value):
    return int(value) if isinstance(value, bool) else value


_ENVELOPE = {"timestamp": 1684581841, "time": 0.004, "ip": "127.0.0.1"}


class ConfigsView(RegistryAPIView):
    @extend_schema(
        operation_id="registry_configs",
        tags=["Client device registry"],
        summary="Public client configuration",
        description="`device_management` is 1 while bans are enforced; clients read it at start-up.",
        responses={
            200: OpenApiResponse(
                ConfigsEnvelopeSerializer,
                examples=[
                    OpenApiExample(
                        "Enabled",
                        value={**_ENVELOPE, "status": 200, "message": "Success", "data": {"device_management": 1}},
                    )
                ],
            )
        },
    )
    def get(self, request):
        data = {wire: _public_value(getattr(config, key)) for wire, key in settings.PUBLIC_CLIENT_CONFIG.items()}
        return self.envelope(status.HTTP_200_OK, "Success", data)


_SEED_REQUEST = {
    "mac_address": "A1B2C3D4E5F6",
    "device_os": "iOS",
    "device_version": "14.5",
    "device_type": "Mobile",
    "app_version": "2.0",
    "app_name": "MyApp",
}


def _envelope_example(name: str, http_status: int, message: str, data, errors: dict | None = None) -> OpenApiExample:
    value = {**_ENVELOPE, "status": http_status, "message": message, "data": data}
    if errors is not None:
        value["errors"] = errors
    return OpenApiExample(name, value=value)


_DATA = {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 0}
_SUCCESS = _envelope_example("Success", 200, "Success", _DATA)
_BANNED = _envelope_example("Banned", 400, BANNED, {**_DATA, "ban_status": 1})
_NOT_FOUND = _envelope_example("Not found", 400, NOT_FOUND, None)


def _bad_field(name: str, message: str) -> OpenApiExample:
    return _envelope_example(f"Bad {name}", 400, message, None, {name: [message]})


def _errors(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    # device_banned carries the device's data; every other error has none and says why per field.
    return OpenApiResponse(ErrorEnvelopeSerializer, description=description, examples=list(examples))


class DeviceRegisterView(RegistryAPIView):
    @extend_schema(
        operation_id="registry_device_register",
        tags=["Client device registry"],
        summary="Add or update a device",
        description=(
            "Creates the device, or updates it when its MAC is known (any usual spelling; the answer "
            "gives the canonical one). JSON or form-encoded. A banned device gets 400 `device_banned` "
            "while `device_management` is 1 (every error of this family is a 400); its report is still recorded."
        ),
        request=DeviceRegisterInputSerializer,
        examples=[OpenApiExample("Seed example", value=_SEED_REQUEST, request_only=True)],
        responses={
            200: OpenApiResponse(DeviceEnvelopeSerializer, description="Added or updated.", examples=[_SUCCESS]),
            400: _errors(
                "A field is missing, empty or invalid, the body is not valid JSON, or the device is banned "
                "(`device_banned`, with the device's data) while `device_management` is 1.",
                _bad_field("device_os", "The device_os field is required."),
                _BANNED,
            ),
        },
    )
    def post(self, request):
        values = self.validated(DeviceRegisterInputSerializer)
        ip = client_ip(request)
        device, _created = device_register_client(
            mac=values["mac_address"],
            device_type=values["device_type"],
            device_os=values["device_os"],
            device_version=values["device_version"],
            app_name=values["app_name"],
            app_version=values["app_version"],
            ip=ip or None,
            actor=Actor(source=EventSource.REGISTRY, name=ip),
        )
        return self.device_answer(device)


class DeviceCheckView(RegistryAPIView):
    @extend_schema(
        operation_id="registry_device_check",
        tags=["Client device registry"],
        summary="Check a device",
        description=(
            "Apps call it every 5 minutes. `device_banned` (400, with the device's data): show a black screen; "
            "`device_not_found` (400): add the device with POST /api/v2/device. Changes nothing."
        ),
        request=MacAddressInputSerializer,
        examples=[OpenApiExample("Request", value={"mac_address": "A1B2C3D4E5F6"}, request_only=True)],
        responses={
            200: OpenApiResponse(DeviceEnvelopeSerializer, description="The device is known.", examples=[_SUCCESS]),
            400: _errors(
                "The device is banned while `device_management` is 1, unknown, or the MAC is missing or invalid.",
                _BANNED,
                _NOT_FOUND,
                _bad_field("mac_address", "The mac_address field must be a valid MAC address."),
            ),
        },
    )
    def post(self, request):
        values = self.validated(MacAddressInputSerializer)
        return self.device_answer(self.device_of(values["mac_address"]))


class DeviceActivityView(RegistryAPIView):
    @extend_schema(
        operation_id="registry_device_activity",
        tags=["Client device registry"],
        summary="Update device activity",
        description=(
            "Records what the app is doing, shown on the device's admin page (the latest report replaces the one "
            "before). `current_screen` is a lower-case identifier (`home`, `content_info`, ...); `content_id` and "
            "`content_type` are whole numbers, required on `content_info`. A banned device's report is recorded "
            "too, and answered `device_banned` while `device_management` is 1."
        ),
        request=DeviceActivityInputSerializer,
        examples=[
            OpenApiExample(
                "Content info",
                value={
                    "mac_address": "A1B2C3D4E5F6",
                    "current_screen": "content_info",
                    "content_id": 5207,
                    "content_type": 1,
                },
                request_only=True,
            ),
            OpenApiExample("Home", value={"mac_address": "A1B2C3D4E5F6", "current_screen": "home"}, request_only=True),
        ],
        responses={
            200: OpenApiResponse(DeviceEnvelopeSerializer, description="Recorded.", examples=[_SUCCESS]),
            400: _errors(
                "The device is banned while `device_management` is 1, unknown, or a field is missing or invalid.",
                _BANNED,
                _NOT_FOUND,
                _bad_field("content_id", "The content_id field is required when current_screen is content_info."),
            ),
        },
    )
    def post(self, request):
        values = self.validated(DeviceActivityInputSerializer)
        device = self.device_of(values["mac_address"])
        device_activity_record(
            device=device,
            current_screen=values["current_screen"],
            content_id=values.get("content_id"),
            content_type=values.get("content_type"),
        )
        return self.device_answer(device)
