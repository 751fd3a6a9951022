"""The VoIP softswitch (Kolmisoft MOR) API: signed form or JSON requests, XML answers (seed 004)."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.views import APIView

from devices.api.parsers import SafeJSONParser
from devices.choices import EventSource
from devices.services import Actor
from devices.throttling import ClientIpThrottle
from mor_api import services
from mor_api.api.serializers import (
    DeviceCreateSerializer,
    DeviceIdSerializer,
    DeviceRefSerializer,
    DeviceUpdateSerializer,
    UserIdSerializer,
)
from mor_api.auth import caller_for, check_hash, managed_user
from mor_api.errors import ACCESS_DENIED, GET_DISABLED, MorError, mor_exception_handler
from mor_api.models import MorDevice
from mor_api.xml import DECLARATION, xml_page

TAG = "VoIP softswitch (MOR)"
SCALARS = (str, int, float)


def _xml_example(name: str, body: str) -> OpenApiExample:
    return OpenApiExample(name, value=f"{DECLARATION}<page>{body}</page>", media_type="text/xml")


def _xml_responses(*examples: OpenApiExample) -> dict:
    return {
        (200, "text/xml"): OpenApiResponse(
            OpenApiTypes.STR,
            description="Always HTTP 200: `<status>` on success, `<error>` (and `<message>`s) otherwise.",
            examples=list(examples),
        )
    }


COMMON_ERRORS = [
    _xml_example("Incorrect hash", "<error>Incorrect hash</error>"),
    _xml_example("Access denied", "<error>Dont be so smart</error>"),
    _xml_example("GET disabled", "<error>GET Requests are disabled</error>"),
]


def _request_body(serializer) -> dict:
    return {"application/x-www-form-urlencoded": serializer, "application/json": serializer}


class MorAPIView(APIView):
    """Base of the MOR calls: parameters from the query string and the body, the hash, the caller."""

    call: str
    authentication_classes = []
    permission_classes = []
    parser_classes = [FormParser, MultiPartParser, SafeJSONParser]
    throttle_classes = [ClientIpThrottle]

    def get_exception_handler(self):
        return mor_exception_handler

    @extend_schema(exclude=True)  # disabled by default; the POST operation documents the parameters
    def get(self, request):
        if not settings.MOR_API_ALLOW_GET:
            raise MorError(GET_DISABLED)
        return self.respond(self._strings(request.query_params))

    def post(self, request):
        # The seed's own example POSTs its parameters in the query string: both count, the body wins.
        params = self._strings(request.query_params)
        body = request.data if request.data is not None else {}
        if not hasattr(body, "items"):
            raise MorError("Request body must be form fields or a JSON object")
        params.update(self._strings(body))
        return self.respond(params)

    @staticmethod
    def _strings(source) -> dict[str, str]:
        params = {}
        for key, value in source.items():
            if isinstance(value, bool):
                value = int(value)
            if value is None:
                value = ""
            if not isinstance(value, SCALARS):
                raise MorError(f"Parameter {str(key)[:40]} must be a single value")
            params[str(key)] = str(value)
        return params

    def authorize(self, params: dict[str, str]):
        check_hash(params, self.call)
        return caller_for(params)

    def required(self, params: dict[str, str], name: str) -> str:
        value = params.get(name) or ""
        if not value:
            raise MorError(ACCESS_DENIED)
        return value

    @staticmethod
    def device_input(params: dict[str, str]) -> services.DeviceInput:
        return services.DeviceInput(
            description=params.get("description"),
            pin=params.get("pin"),
            type=params.get("type"),
            devicegroup_id=params.get("devicegroup_id"),
            caller_id=params.get("caller_id"),
        )

    @staticmethod
    def actor(caller) -> Actor:
        return Actor(source=EventSource.MOR, name=caller.login)

    def respond(self, params: dict[str, str]):
        raise NotImplementedError


def device_nodes(mor: MorDevice, *, with_password: bool) -> list:
    nodes = [
        ("id", mor.device_id),
        ("type", mor.device.type),
        ("description", mor.description),
        ("pin", mor.pin or ""),
        ("caller_id", mor.caller_id),
        ("devicegroup_id", mor.group_id),
        ("username", mor.username),
    ]
    if with_password:
        nodes.append(("password", mor.secret))
    return nodes


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_device_create",
        tags=[TAG],
        summary="device_create",
        description=(
            "Create a SIP device for a user. POST form fields or JSON (or the query string, as the seed's example "
            "does); GET only when MOR_API_ALLOW_GET is set. `hash` = SHA1(user_id, description, pin, type, "
            "devicegroup_id, caller_id — each only when sent and not empty — then the secret key). The seed's "
            "test vector: `u=admin&user_id=2&description=desription1&pin=3` with secret `secret` is signed "
            "`6e79d4a82f68102f43be11d873177f47817f84df`. Errors, checked in this order: GET Requests are "
            "disabled, Incorrect hash, Dont be so smart, User was not found, Device type invalid, Device group "
            "invalid, Pin must be numeric, Pin is already used, You are not authorized to manage callerid, "
            "Device was not created (with a <message> per reason)."
        ),
        request=_request_body(DeviceCreateSerializer),
        examples=[
            OpenApiExample(
                "Seed example",
                value={
                    "u": "admin",
                    "user_id": "2",
                    "description": "desription1",
                    "pin": "3",
                    "hash": "6e79d4a82f68102f43be11d873177f47817f84df",
                },
                request_only=True,
                media_type="application/x-www-form-urlencoded",
            )
        ],
        responses=_xml_responses(
            _xml_example(
                "Device created",
                "<status>Device created</status><id>25</id><username>1000000025</username>"
                "<password>s3cr3t-pa55</password>",
            ),
            *COMMON_ERRORS,
            _xml_example("User was not found", "<error>User was not found</error>"),
            _xml_example("Pin is already used", "<error>Pin is already used</error>"),
            _xml_example(
                "Not created",
                "<error>Device was not created</error><message>Description is longer than 255 characters</message>",
            ),
        ),
    )
)
class DeviceCreateView(MorAPIView):
    call = "device_create"

    def respond(self, params):
        check_hash(params, self.call)
        values = self.device_input(params)
        # The common case in one statement; anything else is checked step by step, in the protocol's order.
        mor = services.mor_device_create_for_login(
            login=params.get("u") or "",
            raw_user_id=params.get("user_id") or "",
            values=values,
            actor_source=EventSource.MOR,
        )
        if mor is None:
            caller = caller_for(params)
            user = managed_user(caller, self.required(params, "user_id"))
            mor = services.mor_device_create(caller=caller, user=user, values=values, actor=self.actor(caller))
        return xml_page(
            [
                ("status", "Device created"),
                ("id", mor.device_id),
                ("username", mor.username),
                ("password", mor.secret),
            ]
        )


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_devices_get",
        tags=[TAG],
        summary="devices_get",
        description="List a user's SIP devices. `hash` = SHA1(user_id + secret key).",
        request=_request_body(UserIdSerializer),
        responses=_xml_responses(
            _xml_example(
                "Devices",
                "<devices><device><id>25</id><type>SIP</type><description>desription1</description><pin>3</pin>"
                "<caller_id></caller_id><devicegroup_id>4</devicegroup_id><username>1000000025</username>"
                "</device></devices>",
            ),
            *COMMON_ERRORS,
        ),
    )
)
class DevicesGetView(MorAPIView):
    call = "devices_get"

    def respond(self, params):
        caller = self.authorize(params)
        user = managed_user(caller, self.required(params, "user_id"))
        devices = services.mor_devices_of(user)
        return xml_page([("devices", [("device", device_nodes(m, with_password=False)) for m in devices])])


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_device_details_get",
        tags=[TAG],
        summary="device_details_get",
        description="One SIP device with its SIP login and secret. `hash` = SHA1(device_id + secret key).",
        request=_request_body(DeviceIdSerializer),
        responses=_xml_responses(
            _xml_example(
                "Device",
                "<device><id>25</id><type>SIP</type><description>desription1</description><pin>3</pin>"
                "<caller_id></caller_id><devicegroup_id>4</devicegroup_id><username>1000000025</username>"
                "<password>s3cr3t-pa55</password></device>",
            ),
            *COMMON_ERRORS,
            _xml_example("Not found", "<error>Device was not found</error>"),
        ),
    )
)
class DeviceDetailsGetView(MorAPIView):
    call = "device_details_get"

    def respond(self, params):
        caller = self.authorize(params)
        mor = services.mor_device_for(caller, self.required(params, "device_id"))
        return xml_page([("device", device_nodes(mor, with_password=True))])


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_device_update",
        tags=[TAG],
        summary="device_update",
        description=(
            "Change the fields sent of a SIP device, with the checks of device_create. `hash` = SHA1(device, "
            "description, pin, type, devicegroup_id, caller_id — each only when sent and not empty — then the "
            "secret key)."
        ),
        request=_request_body(DeviceUpdateSerializer),
        responses=_xml_responses(
            _xml_example("Device updated", "<status>Device updated</status><id>25</id>"),
            *COMMON_ERRORS,
            _xml_example("Not found", "<error>Device was not found</error>"),
        ),
    )
)
class DeviceUpdateView(MorAPIView):
    call = "device_update"

    def respond(self, params):
        caller = self.authorize(params)
        mor = services.mor_device_for(caller, self.required(params, "device"))
        mor = services.mor_device_update(
            caller=caller, mor=mor, values=self.device_input(params), actor=self.actor(caller)
        )
        return xml_page([("status", "Device updated"), ("id", mor.device_id)])


@extend_schema_view(
    post=extend_schema(
        operation_id="mor_device_delete",
        tags=[TAG],
        summary="device_delete",
        description=(
            "Remove a SIP device: its SIP data is deleted and the device leaves its user through the usual "
            "deactivation. `hash` = SHA1(device + secret key)."
        ),
        request=_request_body(DeviceRefSerializer),
        responses=_xml_responses(
            _xml_example("Device deleted", "<status>Device deleted</status><id>25</id>"),
            *COMMON_ERRORS,
            _xml_example("Not found", "<error>Device was not found</error>"),
        ),
    )
)
class DeviceDeleteView(MorAPIView):
    call = "device_delete"

    def respond(self, params):
        caller = self.authorize(params)
        mor = services.mor_device_for(caller, self.required(params, "device"))
        device_id = mor.device_id
        services.mor_device_delete(mor=mor, actor=self.actor(caller))
        return xml_page([("status", "Device deleted"), ("id", device_id)])
