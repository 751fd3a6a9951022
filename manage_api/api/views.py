"""The management API (SPEC section 9): read-only viewsets over the core's rows, as NetBox's dcim/api/views.py."""

from contextlib import contextmanager

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from devices.api.base import HTTP_METHODS_BUT_OPTIONS
from devices.api.parsers import SafeJSONParser
from devices.authentication import ApiKeyAuthentication, HasApiKeyScope
from devices.choices import ApiKeyScope
from devices.models import Account, Device, DeviceEvent
from devices.throttling import ApiKeyThrottle
from licensing.models import License
from manage_api.api import examples
from manage_api.api.pagination import ManageCursorPagination
from manage_api.api.serializers import (
    AccountSerializer,
    DeviceDetailSerializer,
    DeviceEventSerializer,
    DeviceSerializer,
    LicenseSerializer,
    ManageErrorSerializer,
    ManageFilterErrorSerializer,
    ManageValidationErrorSerializer,
    WebhookCreatedSerializer,
    WebhookSerializer,
)
from manage_api.errors import manage_exception_handler
from manage_api.filtersets import AccountFilterSet, DeviceEventFilterSet, DeviceFilterSet, LicenseFilterSet
from webhooks.models import Webhook
from webhooks.services import WebhookUrlRefused, webhook_create, webhook_delete, webhook_update

TAG = "Management API"
UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


def _error(description: str, *cases: tuple[str, dict], serializer=ManageErrorSerializer) -> OpenApiResponse:
    return OpenApiResponse(
        serializer, description=description, examples=[OpenApiExample(name, value=value) for name, value in cases]
    )


UNAUTHENTICATED = _error(
    "No API key, or a wrong, revoked or expired one.", ("Unauthenticated", examples.UNAUTHENTICATED)
)
FORBIDDEN = _error("The API key is valid but has no `manage` scope.", ("No manage scope", examples.FORBIDDEN))
NOT_FOUND = _error("No device has this uuid.", ("Not found", examples.NOT_FOUND))
BAD_QUERY = _error(
    "A query parameter is not valid (an unknown choice, a malformed MAC, uuid, date-time or boolean), or the "
    "cursor is not one this API gave.",
    ("Invalid filter", examples.INVALID_FILTER),
    ("Invalid cursor", examples.INVALID_CURSOR),
    serializer=ManageFilterErrorSerializer,
)
LIST_ERRORS = {400: BAD_QUERY, 401: UNAUTHENTICATED, 403: FORBIDDEN}


def _list_schema(
    name: str, summary: str, description: str, serializer_class, example: dict, *, errors: dict = LIST_ERRORS
):
    """A list operation: `manage_<name>_list`, cursor pages of `serializer_class`, its example a page of one."""
    return extend_schema(
        operation_id=f"manage_{name}_list",
        tags=[TAG],
        summary=summary,
        description=description,
        responses={200: serializer_class(many=True), **errors},
        # drf-spectacular makes the item a page of one (ManageCursorPagination's schema).
        examples=[OpenApiExample(name.split("_")[-1].capitalize(), value=example)],
    )


class ManageViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Base of the management API: a key with the `manage` scope, cursor pages, django-filter, one error table."""

    http_method_names = HTTP_METHODS_BUT_OPTIONS
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    api_key_scope = ApiKeyScope.MANAGE
    throttle_classes = [ApiKeyThrottle]
    filter_backends = [DjangoFilterBackend]
    pagination_class = ManageCursorPagination

    def get_exception_handler(self):
        return manage_exception_handler


@extend_schema_view(
    list=_list_schema(
        "devices",
        "List devices",
        "Every device, the newest first, in cursor pages. `mac` takes any spelling of a MAC address; "
        "`account` is the owner's login in any letter case.",
        DeviceSerializer,
        examples.DEVICE,
    ),
    retrieve=extend_schema(
        operation_id="manage_devices_retrieve",
        tags=[TAG],
        summary="One device, with its protocols' data",
        responses={
            200: OpenApiResponse(
                DeviceDetailSerializer,
                description="The device; `client_app`, `license_session` and `sip_line` are null where it has none.",
                examples=[OpenApiExample("Device", value=examples.DEVICE_DETAIL)],
            ),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    ),
)
class DeviceViewSet(mixins.RetrieveModelMixin, ManageViewSet):
    queryset = Device.objects.select_related("account")
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilterSet
    lookup_field = "uuid"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        if self.action == "retrieve":
            # One query: every one-to-one the page shows.
            return self.queryset.select_related("client_app", "license_session__license", "mor__group")
        return super().get_queryset()  # the events action's is its own (its decorator's queryset)

    def get_serializer_class(self):
        return DeviceDetailSerializer if self.action == "retrieve" else self.serializer_class

    @_list_schema(
        "devices_events",
        "A device's audit events",
        "The device's events, the newest first, in cursor pages.",
        DeviceEventSerializer,
        examples.EVENT,
        errors={**LIST_ERRORS, 404: NOT_FOUND},
    )
    @action(
        detail=True,
        url_path="events",
        queryset=DeviceEvent.objects.select_related("device"),
        serializer_class=DeviceEventSerializer,
        filterset_class=DeviceEventFilterSet,
    )
    def events(self, request, uuid=None):
        device_id = get_object_or_404(Device.objects.values_list("pk", flat=True), uuid=uuid)
        events = self.filter_queryset(self.get_queryset().filter(device_id=device_id))
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema_view(
    list=_list_schema(
        "events",
        "List audit events",
        "Every device's events, the newest first, in cursor pages; `since` and `until` bound their time.",
        DeviceEventSerializer,
        examples.EVENT,
    ),
)
class DeviceEventViewSet(ManageViewSet):
    queryset = DeviceEvent.objects.select_related("device")
    serializer_class = DeviceEventSerializer
    filterset_class = DeviceEventFilterSet


@extend_schema_view(
    list=_list_schema(
        "accounts",
        "List accounts",
        "Every account, the newest first, in cursor pages. Never a password, nor its hash.",
        AccountSerializer,
        examples.ACCOUNT,
    ),
)
class AccountViewSet(ManageViewSet):
    queryset = Account.objects.select_related("owner")
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet


@extend_schema_view(
    list=_list_schema(
        "licenses",
        "List license keys",
        "Every license key and device license, the newest first, in cursor pages.",
        LicenseSerializer,
        examples.LICENSE,
    ),
)
class LicenseViewSet(ManageViewSet):
    queryset = License.objects.select_related("account")
    serializer_class = LicenseSerializer
    filterset_class = LicenseFilterSet


WEBHOOK_NOT_FOUND = _error("No webhook has this id.", ("Not found", examples.NOT_FOUND))
INVALID_WEBHOOK = _error(
    "A field is not valid: the URL (not http(s), or not a public host), an unknown event type, no event type.",
    ("Invalid field", examples.INVALID_WEBHOOK),
    serializer=ManageValidationErrorSerializer,
)
WEBHOOK_LIMIT = _error(
    "There are as many webhooks as allowed (WEBHOOK_MAX_COUNT, 20 by default): delete one first.",
    ("Too many webhooks", examples.WEBHOOK_LIMIT),
)
BAD_CURSOR = _error(
    "The cursor is not one this API gave.",
    ("Invalid cursor", examples.INVALID_CURSOR),
    serializer=ManageFilterErrorSerializer,
)
WEBHOOK_ERRORS = {401: UNAUTHENTICATED, 403: FORBIDDEN, 404: WEBHOOK_NOT_FOUND}
WEBHOOK_ANSWER = OpenApiResponse(WebhookSerializer, examples=[OpenApiExample("Webhook", value=examples.WEBHOOK)])
WEBHOOK_BODY = [OpenApiExample("Subscribe", value=examples.WEBHOOK_CREATE, request_only=True)]


@extend_schema_view(
    list=_list_schema(
        "webhooks",
        "List webhooks",
        "Every webhook, the newest first, in cursor pages; never a secret.",
        WebhookSerializer,
        examples.WEBHOOK,
        errors={400: BAD_CURSOR, 401: UNAUTHENTICATED, 403: FORBIDDEN},
    ),
    create=extend_schema(
        operation_id="manage_webhooks_create",
        tags=[TAG],
        summary="Subscribe a webhook",
        description=(
            "From now on, every audit event of a type in `events` is POSTed to `url`, signed per Standard Webhooks "
            "(`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`) with the `secret` "
            'of this answer, which is never shown again. Body of a delivery: `{"type", "timestamp", '
            '"data": {"device", "event"}}` (the device as it is when delivered). At least once; a failure is '
            "retried with exponential backoff for a day; one device's events arrive in their order."
        ),
        request=WebhookSerializer,
        responses={
            201: OpenApiResponse(
                WebhookCreatedSerializer, examples=[OpenApiExample("Created", value=examples.WEBHOOK_CREATED)]
            ),
            400: INVALID_WEBHOOK,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            409: WEBHOOK_LIMIT,
        },
        examples=WEBHOOK_BODY,
    ),
    retrieve=extend_schema(
        operation_id="manage_webhooks_retrieve",
        tags=[TAG],
        summary="One webhook",
        responses={200: WEBHOOK_ANSWER, **WEBHOOK_ERRORS},
    ),
    update=extend_schema(
        operation_id="manage_webhooks_update",
        tags=[TAG],
        summary="Replace a webhook's URL, events and state",
        description="Its secret stays. Deliveries already made keep the URL they had; pending ones go to the new.",
        responses={200: WEBHOOK_ANSWER, 400: INVALID_WEBHOOK, **WEBHOOK_ERRORS},
        examples=WEBHOOK_BODY,
    ),
    partial_update=extend_schema(
        operation_id="manage_webhooks_partial_update",
        tags=[TAG],
        summary="Change some of a webhook's fields",
        description=(
            '`{"is_active": false}` pauses it: its pending deliveries wait, and events meanwhile are not delivered '
            "to it; `true` resumes it, and the waiting deliveries go at once."
        ),
        responses={200: WEBHOOK_ANSWER, 400: INVALID_WEBHOOK, **WEBHOOK_ERRORS},
        examples=[OpenApiExample("Pause", value={"is_active": False}, request_only=True)],
    ),
    destroy=extend_schema(
        operation_id="manage_webhooks_destroy",
        tags=[TAG],
        summary="Unsubscribe a webhook",
        description="It and its pending deliveries are removed: nothing more is sent to it.",
        responses={204: None, **WEBHOOK_ERRORS},
    ),
)
class WebhookViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ManageViewSet,
):
    queryset = Webhook.objects.all()
    serializer_class = WebhookSerializer
    parser_classes = [SafeJSONParser]
    filter_backends = []
    lookup_value_regex = r"[0-9]{1,18}"

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _url_refused_as_invalid():
            webhook = webhook_create(**serializer.validated_data, created_by=request.auth.name)
        return Response(WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        with _url_refused_as_invalid():
            webhook_update(webhook=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        webhook_delete(webhook=instance)


@contextmanager
def _url_refused_as_invalid():
    try:
        yield
    except WebhookUrlRefused as exc:
        raise ValidationError({"url": [exc.message]}) from exc
