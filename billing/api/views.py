"""The VMS billing API (seeds 000, 001): thin views over the devices services."""

from contextlib import contextmanager

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import (
    ActivatedDeviceSerializer,
    ActivateInputSerializer,
    DeactivateInputSerializer,
    DeviceRefInputSerializer,
    DeviceSelectorInputSerializer,
    MessageSerializer,
    ReservedDeviceSerializer,
    StateErrorSerializer,
    ValidationErrorSerializer,
)
from billing.errors import billing_exception_handler
from billing.selectors import COUNTS, storages_of
from devices import services
from devices.api.base import HTTP_METHODS_BUT_OPTIONS
from devices.authentication import ApiKeyAuthentication, HasApiKeyScope
from devices.choices import ApiKeyScope, EventSource
from devices.errors import DeviceNotFound
from devices.selectors import DeviceRef
from devices.throttling import ApiKeyThrottle
from idempotency.schema import idempotency_parameters
from idempotency.views import HEADER as IDEMPOTENCY_HEADER
from idempotency.views import IdempotentMixin

TAG = "VMS billing"
SEED_TIME = "2000-01-01T00:00:00.000000Z"
SEED_REF = {"type": "mediaagent", "mac": "A1:B2:C3:D4:E5:F6", "serial_number": "sn"}
SEED_RESERVED = {
    "id": 25,
    "type": "mediaagent",
    "uuid": "7a593d26-8cfd-47e9-8647-1fb18a36fedb",
    "serial_number": "sn",
    "status": "reserve",
    "mac": "A1B2C3D4E5F6",
    "name": None,
    "version": "1.1.1.1",
    "created_at": None,
    "last_updated_at": None,
    "is_online": True,
}
SEED_ACTIVATED = {
    "id": 25,
    "serial_number": "sn",
    "mac": "A1B2C3D4E5F6",
    "name": "test",
    "version": "1.1.1.1",
    "created_at": SEED_TIME,
    "last_updated_at": None,
    "is_online": True,
    "user": {
        "id": 6,
        "login": "user@mail.com",
        "name": "user",
        "type": "special",
        "status": "active",
        "created_at": SEED_TIME,
        "updated_at": SEED_TIME,
        "deleted_at": None,
        "can_update_password": True,
        "billing_properties": [],
    },
    "storages": [{"id": 39, "path": "/storage1", "usage": 73.723, "capacity": 137}],
    "cameras_count": 0,
}

UNAUTHENTICATED = OpenApiResponse(
    MessageSerializer,
    description="No API key, or a wrong, revoked or expired one.",
    examples=[OpenApiExample("Unauthenticated", value={"message": "Unauthenticated."})],
)
FORBIDDEN = OpenApiResponse(
    MessageSerializer,
    description="The API key is valid but has no `billing` scope.",
    examples=[OpenApiExample("Forbidden", value={"message": "This action is unauthorized."})],
)


IDEMPOTENCY_INVALID = "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
IDEMPOTENCY_REUSED = "The Idempotency-Key has already been used with another request."


def _idempotency(success: int) -> list:
    return idempotency_parameters(identity="API key", refusal="a 422", replayed=[success, 400, 422])


def _validation(example_message: str, errors: dict, *, idempotent: bool = False) -> OpenApiResponse:
    examples = [OpenApiExample("Validation error", value={"message": example_message, "errors": errors})]
    if idempotent:
        examples.append(
            OpenApiExample(
                "Idempotency-Key used with another request",
                value={"message": IDEMPOTENCY_REUSED, "errors": {IDEMPOTENCY_HEADER: [IDEMPOTENCY_REUSED]}},
            )
        )
    return OpenApiResponse(
        ValidationErrorSerializer,
        description="The request is not valid (Laravel's validation error). Malformed JSON is a 422 too.",
        examples=examples,
    )


MAC_OR_SERIAL_ERRORS = (
    "The mac field is required when serial number is not present. (and 1 more error)",
    {
        "mac": ["The mac field is required when serial number is not present."],
        "serial_number": ["The serial number field is required when mac is not present."],
    },
)
MAC_OR_SERIAL_422 = _validation(*MAC_OR_SERIAL_ERRORS)
UUID_422 = _validation("The selected uuid is invalid.", {"uuid": ["The selected uuid is invalid."]}, idempotent=True)


def _state_errors(*examples: tuple[str, str, int]) -> OpenApiResponse:
    return OpenApiResponse(
        StateErrorSerializer,
        description=(
            "The device's state forbids it: 33600 not found (when a mac and a serial number are both given they "
            "must name the same device), 33599 reserved, 33601 banned, 33603 already activated, 33610 in "
            "deactivation, 33622 in initialization, 1000 any other reservation error."
        ),
        examples=[OpenApiExample(name, value={"message": message, "code": code}) for name, message, code in examples],
    )


@contextmanager
def unknown_uuid_is_invalid(ref: DeviceRef):
    """A uuid no device has is a validation error in this API (Laravel's `exists`), not a device-state one."""
    try:
        yield
    except DeviceNotFound as exc:
        if ref.uuid is None:
            raise
        raise exceptions.ValidationError({"uuid": ["The selected uuid is invalid."]}) from exc


EVERY_STATE_ERROR = (
    ("Not found", "Device not found.", 33600),
    ("Reserved", "Device reserved.", 33599),
    ("Already activated", "Device already activated.", 33603),
    ("Deactivating", "Device in the process of deactivation.", 33610),
    ("Initializing", "Device in initialization.", 33622),
    ("Banned", "Device banned.", 33601),
)


class BillingAPIView(APIView):
    """Base of the billing views: an API key, and the billing error table."""

    http_method_names = HTTP_METHODS_BUT_OPTIONS
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    api_key_scope = ApiKeyScope.BILLING
    throttle_classes = [ApiKeyThrottle]

    def get_exception_handler(self):
        return billing_exception_handler

    def actor(self) -> services.Actor:
        return services.Actor(source=EventSource.BILLING, name=self.request.auth.name)

    def validated(self, serializer_class) -> dict:
        """The valid input; invalid input raises its errors."""
        if not isinstance(self.request.data, dict):
            raise exceptions.ValidationError({"body": ["The request body must be a JSON object."]})
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def device_by_ref(self, data: dict) -> DeviceRef:
        # The service finds and locks the device in one query.
        return DeviceRef(
            type=data.get("type"), mac=data.get("mac"), serial_number=data.get("serial_number"), uuid=data.get("uuid")
        )


class IdempotentBillingAPIView(IdempotentMixin, BillingAPIView):
    """A billing state change: an `Idempotency-Key` is unique per API key; a refused key is a 422."""

    def idempotency_identity(self, request) -> str:
        return f"api_key:{request.auth.pk}"

    def idempotency_refusal(self, *, reused: bool) -> Exception:
        return exceptions.ValidationError({IDEMPOTENCY_HEADER: [IDEMPOTENCY_REUSED if reused else IDEMPOTENCY_INVALID]})


class CheckView(BillingAPIView):
    @extend_schema(
        operation_id="billing_check",
        tags=[TAG],
        summary="Can the device be activated now?",
        request=DeviceRefInputSerializer,
        examples=[OpenApiExample("Request", value=SEED_REF, request_only=True)],
        responses={
            204: OpenApiResponse(description="The device can be activated now."),
            400: _state_errors(
                ("Not found", "Device not found.", 33600),
                ("Reserved", "Device reserved.", 33599),
                ("Banned", "Device banned.", 33601),
            ),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            422: MAC_OR_SERIAL_422,
        },
    )
    def post(self, request):
        device = self.device_by_ref(self.validated(DeviceRefInputSerializer))
        services.device_check_activatable(device=device, actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReserveView(IdempotentBillingAPIView):
    @extend_schema(
        operation_id="billing_reserve",
        parameters=_idempotency(200),
        tags=[TAG],
        summary="Reserve a device",
        description=(
            "Reserve a device so that it becomes unavailable for adding. A reserved device can't be activated "
            "without `skip_reserve_check`."
        ),
        request=DeviceRefInputSerializer,
        examples=[OpenApiExample("Request", value=SEED_REF, request_only=True)],
        responses={
            200: OpenApiResponse(
                ReservedDeviceSerializer,
                description="Reserved.",
                examples=[OpenApiExample("Reserved device", value=SEED_RESERVED)],
            ),
            400: _state_errors(*EVERY_STATE_ERROR),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            422: _validation(*MAC_OR_SERIAL_ERRORS, idempotent=True),
        },
    )
    def post(self, request):
        device = self.device_by_ref(self.validated(DeviceRefInputSerializer))
        device = services.device_reserve(device=device, actor=self.actor())
        return Response(ReservedDeviceSerializer(device).data)


class UnreserveView(IdempotentBillingAPIView):
    @extend_schema(
        operation_id="billing_unreserve",
        parameters=_idempotency(204),
        tags=[TAG],
        summary="Release a reservation",
        description=(
            "Name the device by its `uuid`, or by its `type` with its `mac` and/or `serial_number` as reserve "
            "does; every part sent must match the device."
        ),
        request=DeviceSelectorInputSerializer,
        examples=[
            OpenApiExample("By uuid", value={"uuid": SEED_RESERVED["uuid"]}, request_only=True),
            OpenApiExample("By MAC", value={"type": "mediaagent", "mac": "A1:B2:C3:D4:E5:F6"}, request_only=True),
        ],
        responses={
            204: OpenApiResponse(description="The device is free again."),
            400: _state_errors(
                ("Not reserved", "Device is not reserved.", 1000),
                ("Already activated", "Device already activated.", 33603),
                ("Not found", "Device not found.", 33600),
            ),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            422: UUID_422,
        },
    )
    def post(self, request):
        ref = self.device_by_ref(self.validated(DeviceSelectorInputSerializer))
        with unknown_uuid_is_invalid(ref):
            services.device_unreserve(device=ref, actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ActivateView(IdempotentBillingAPIView):
    @extend_schema(
        operation_id="billing_activate",
        parameters=_idempotency(201),
        tags=[TAG],
        summary="Activate a device",
        description=(
            "Add a device to a user. Pass a MAC and/or a serial number (both must name the same device). "
            "A reserved device needs `skip_reserve_check: true`."
        ),
        request=ActivateInputSerializer,
        examples=[
            OpenApiExample(
                "Request",
                value={"login": "user@mail.com", "name": "test", **SEED_REF, "skip_reserve_check": False},
                request_only=True,
            )
        ],
        responses={
            201: OpenApiResponse(
                ActivatedDeviceSerializer,
                description="Activated.",
                examples=[OpenApiExample("Activated device", value=SEED_ACTIVATED)],
            ),
            400: _state_errors(*EVERY_STATE_ERROR),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            422: _validation(
                "The selected login is invalid.", {"login": ["The selected login is invalid."]}, idempotent=True
            ),
        },
    )
    def post(self, request):
        data = self.validated(ActivateInputSerializer)
        device = services.device_activate(
            device=self.device_by_ref(data),
            account=data["login"],
            name=data["name"],
            skip_reserve_check=data["skip_reserve_check"],
            actor=self.actor(),
            also=COUNTS,
        )
        device.storage_list = storages_of(device.pk, device.storages_count)
        return Response(ActivatedDeviceSerializer(device).data, status=status.HTTP_201_CREATED)


class DeactivateView(IdempotentBillingAPIView):
    @extend_schema(
        operation_id="billing_deactivate",
        parameters=_idempotency(204),
        tags=[TAG],
        summary="Deactivate a device",
        description=(
            "Start the deactivation: the device answers `deactivation` (33610) until it ends, then it is free, or "
            "reserved again with `leave_reserved`. Its storages and cameras are removed when it ends. Name the "
            "device by its `uuid`, or by its `type` with its `mac` and/or `serial_number` as activate does."
        ),
        request=DeactivateInputSerializer,
        examples=[
            OpenApiExample(
                "By uuid", value={"uuid": SEED_RESERVED["uuid"], "leave_reserved": False}, request_only=True
            ),
            OpenApiExample(
                "By MAC",
                value={"type": "mediaagent", "mac": "A1:B2:C3:D4:E5:F6", "leave_reserved": True},
                request_only=True,
            ),
        ],
        responses={
            204: OpenApiResponse(description="The deactivation has started."),
            400: _state_errors(
                ("Not activated", "Device is not activated.", 1000),
                ("Deactivating", "Device in the process of deactivation.", 33610),
                ("Not found", "Device not found.", 33600),
            ),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            422: UUID_422,
        },
    )
    def post(self, request):
        data = self.validated(DeactivateInputSerializer)
        ref = self.device_by_ref(data)
        with unknown_uuid_is_invalid(ref):
            services.device_deactivate(device=ref, leave_reserved=data["leave_reserved"], actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)
