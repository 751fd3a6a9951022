"""The client device registry (seed 002): every answer in the seed's envelope."""

import logging
import time

from constance import config
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.api.fields import validation_message
from devices.api.serializers import (
    ConfigsEnvelopeSerializer,
    DeviceEnvelopeSerializer,
    DeviceRegisterInputSerializer,
    ErrorEnvelopeSerializer,
)
from devices.choices import EventSource
from devices.client_ip import client_ip
from devices.errors import DomainError
from devices.failures import generic_failure
from devices.services import Actor, device_register_client
from devices.throttling import ClientIpThrottle

logger = logging.getLogger(__name__)


class RegistryAPIView(APIView):
    """Base of the registry's views: the envelope on every answer, errors included."""

    throttle_classes = [ClientIpThrottle]

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

    def get_exception_handler(self):
        return self.handle_registry_exception

    def handle_registry_exception(self, exc, context):
        if isinstance(exc, exceptions.ValidationError):
            detail = exc.detail if isinstance(exc.detail, dict) else {"body": exc.detail}
            message, errors = validation_message(detail)
            return self.envelope(status.HTTP_400_BAD_REQUEST, message, None, errors)
        if isinstance(exc, exceptions.ParseError):
            return self.envelope(
                status.HTTP_400_BAD_REQUEST, "The request body is not valid JSON.", None, {"body": [str(exc.detail)]}
            )
        if isinstance(exc, exceptions.Throttled):
            response = self.envelope(exc.status_code, "Too many requests.", None)
            if exc.wait:
                response["Retry-After"] = str(int(exc.wait))
            return response
        if isinstance(exc, exceptions.APIException):
            return self.envelope(exc.status_code, str(exc.detail), None)
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


class DeviceRegisterView(RegistryAPIView):
    @extend_schema(
        operation_id="registry_device_register",
        tags=["Client device registry"],
        summary="Add or update a device",
        description=(
            "Creates the device, or updates it when its MAC is known (any usual spelling; the answer "
            "gives the canonical one). JSON or form-encoded. A banned device gets 403 `device_banned` "
            "while `device_management` is 1; its report is still recorded."
        ),
        request=DeviceRegisterInputSerializer,
        examples=[OpenApiExample("Seed example", value=_SEED_REQUEST, request_only=True)],
        responses={
            200: OpenApiResponse(
                DeviceEnvelopeSerializer,
                description="Added or updated.",
                examples=[
                    OpenApiExample(
                        "Success",
                        value={
                            **_ENVELOPE,
                            "status": 200,
                            "message": "Success",
                            "data": {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 0},
                        },
                    )
                ],
            ),
            400: OpenApiResponse(
                ErrorEnvelopeSerializer,
                description="A field is missing, empty or invalid, or the body is not valid JSON.",
                examples=[
                    OpenApiExample(
                        "Missing field",
                        value={
                            **_ENVELOPE,
                            "status": 400,
                            "message": "The device_os field is required.",
                            "data": None,
                            "errors": {"device_os": ["The device_os field is required."]},
                        },
                    )
                ],
            ),
            403: OpenApiResponse(
                DeviceEnvelopeSerializer,
                description="The device is banned and `device_management` is 1.",
                examples=[
                    OpenApiExample(
                        "Banned",
                        value={
                            **_ENVELOPE,
                            "status": 403,
                            "message": "device_banned",
                            "data": {"mac_address": "A1B2C3D4E5F6", "status": 1, "ban_status": 1},
                        },
                    )
                ],
            ),
        },
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"body": ["The request body must be a JSON object."]})
        serializer = DeviceRegisterInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
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
        data = {"mac_address": device.mac, "status": 1, "ban_status": int(device.is_banned)}
        if device.is_banned and config.DEVICE_MANAGEMENT:
            return self.envelope(status.HTTP_403_FORBIDDEN, "device_banned", data)
        return self.envelope(status.HTTP_200_OK, "Success", data)
